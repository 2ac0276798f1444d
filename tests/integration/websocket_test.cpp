// RFC 7395 XMPP over WebSocket through a real parleyd: a Beast WebSocket client (tests/support/ws_client.h)
// on /xmpp-websocket of the HTTP listener, talking to libstrophe clients on the TCP listener. The
// session core is the TCP one (SASL, bind, XEP-0198 resumption across transports), so these tests
// check the framing and the transport, and that everything really runs over it.
#include <fstream>
#include <sstream>
#include <string>

#include <curl/curl.h>
#include <gtest/gtest.h>

#include "tests/support/raw_client.h"
#include "tests/support/test_server.h"
#include "tests/support/ws_client.h"
#include "tests/support/xmpp_client.h"

namespace parley::test {
namespace {

constexpr std::string_view kFraming = "urn:ietf:params:xml:ns:xmpp-framing";

// Plain HTTP on loopback (allowed by the HTTP server there); the operator declares it secure so SASL is
// offered without TLS, as behind a TLS-terminating proxy.
std::string wsConfig(std::string extraWs = {}) {
  return "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n\n"
         "[modules.websocket]\nplain_is_secure = true\n" +
         extraWs + "\n";
}

TestServerOptions withExtra(std::string extra) {
  TestServerOptions o;
  o.extra = std::move(extra);
  return o;
}

class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.addUser("alice", "wonderland");
    server_.addUser("bob", "builder");
    server_.start();
    ASSERT_NE(server_.httpPort(), 0) << "no HTTP listener";
  }
  std::uint16_t port() const { return server_.httpPort(); }
  TestServer server_{withExtra(wsConfig())};
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET over plain HTTP with libcurl; returns {status, body, content-type}.
struct HttpResult {
  long status = 0;
  std::string body;
  std::string contentType;
};
HttpResult httpGet(std::uint16_t port, const std::string& path) {
  HttpResult r;
  CURL* c = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  if (curl_easy_perform(c) == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char* ct = nullptr;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) r.contentType = ct;
  }
  curl_easy_cleanup(c);
  return r;
}

// RFC 7395 §3.1: the handshake answers with the xmpp subprotocol; §3.4 the <open/> answer carries the
// stream attributes; features declare their namespaces (§3.3.3).
TEST_F(WebSocketTest, HandshakeOpenAndFeatures) {
  WsClient ws(port());
  ASSERT_TRUE(ws.ok()) << "status " << ws.status();
  EXPECT_EQ(ws.status(), 101);
  EXPECT_EQ(ws.protocol(), "xmpp");
  std::string features = ws.open();
  ASSERT_GE(ws.messages().size(), 2u) << features;
  const std::string& open = ws.messages()[0];
  EXPECT_EQ(open.rfind("<open ", 0), 0u) << open;
  EXPECT_NE(open.find(kFraming), std::string::npos) << open;
  EXPECT_NE(open.find("from='localhost'"), std::string::npos) << open;
  EXPECT_NE(open.find("version='1.0'"), std::string::npos) << open;
  EXPECT_NE(open.find(" id='"), std::string::npos) << open;
  const std::string& f = ws.messages()[1];
  EXPECT_EQ(f.rfind("<stream:features xmlns:stream='http://etherx.jabber.org/streams'>", 0), 0u) << f;
  EXPECT_NE(f.find("SCRAM-SHA-256"), std::string::npos) << f;
  EXPECT_EQ(f.find("starttls"), std::string::npos) << "no STARTTLS over WebSocket: " << f;
}

// RFC 7395 §3.1: without the xmpp subprotocol there is no XMPP session.
TEST_F(WebSocketTest, UpgradeWithoutXmppSubprotocolIsRefused) {
  WsClient none(port(), "/xmpp-websocket", "");
  EXPECT_FALSE(none.ok());
  EXPECT_EQ(none.status(), 400);
  WsClient other(port(), "/xmpp-websocket", "mqtt, chat");
  EXPECT_FALSE(other.ok());
  EXPECT_EQ(other.status(), 400);
  EXPECT_NE(other.refusalBody().find("xmpp"), std::string::npos) << other.refusalBody();
  // Offered among others, it is chosen.
  WsClient mixed(port(), "/xmpp-websocket", "chat, xmpp");
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed.protocol(), "xmpp");
}

// The whole path over the transport: SCRAM-SHA-256, the restart with a new <open/> (RFC 7395 §3.5),
// bind, a message to a libstrophe client on TCP and its answer back.
TEST_F(WebSocketTest, ScramBindAndChatWithTcpClient) {
  XmppClient bob(server_.jid("bob"), "builder", server_.c2sPort());
  ASSERT_TRUE(bob.connect()) << bob.error();
  bob.becomeAvailable();

  WsClient alice(port());
  ASSERT_TRUE(alice.ok());
  alice.open();
  ASSERT_TRUE(alice.authenticate("alice", "wonderland", "SCRAM-SHA-256"));
  // After <success/>, the restart's answer is a fresh <open/> with the post-authentication features.
  ASSERT_TRUE(alice.waitFor("urn:ietf:params:xml:ns:xmpp-bind")) << alice.joined();
  ASSERT_TRUE(alice.bind("web"));
  EXPECT_NE(alice.joined().find("alice@localhost/web"), std::string::npos) << alice.joined();
  // Each stanza is its own message and declares jabber:client.
  EXPECT_NE(alice.messages().back().find("<iq xmlns='jabber:client'"), std::string::npos) << alice.joined();

  alice.send(
      "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m1'><body>over the "
      "web</body></message>");
  auto got = bob.expect(isMessage().from("alice@localhost/web").body("over the web"), 10s);
  ASSERT_TRUE(got) << "bob did not get the WebSocket client's message";

  alice.consume();
  bob.send("<message to='alice@localhost/web' type='chat' id='m2'><body>back over TCP</body></message>");
  ASSERT_TRUE(alice.waitFor("back over TCP", 10s)) << alice.joined();
  bool found = false;
  for (const auto& m : alice.messages())
    if (m.find("back over TCP") != std::string::npos) {
      found = true;
      EXPECT_EQ(m.rfind("<message xmlns='jabber:client'", 0), 0u) << m;
    }
  EXPECT_TRUE(found);

  // A roster request runs through the same session code.
  alice.consume();
  alice.send("<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
  EXPECT_TRUE(alice.waitFor("jabber:iq:roster")) << alice.joined();

  // RFC 7395 §3.6: <close/> is answered with <close/>, then the server closes the WebSocket.
  alice.consume();
  alice.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
  ASSERT_TRUE(alice.waitClosed());
  bool closeSeen = false;
  for (const auto& m : alice.messages())
    closeSeen |= m.rfind("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'", 0) == 0;
  EXPECT_TRUE(closeSeen) << alice.joined();
  EXPECT_EQ(alice.closeCode(), 1000);
}

TEST_F(WebSocketTest, WrongPasswordFailsLikeOverTcp) {
  WsClient ws(port());
  ws.open();
  EXPECT_FALSE(ws.authenticate("alice", "not-the-password"));
  EXPECT_TRUE(ws.waitFor("<not-authorized/>", 10s)) << ws.joined();
}

// RFC 7395 §3.6.3 / RFC 6120 §4.9: malformed XML is a stream error, then <close/>, then the close.
TEST_F(WebSocketTest, MalformedXmlGivesStreamErrorAndClose) {
  WsClient ws(port());
  ws.open();
  ws.consume();
  ws.send("<message to='bob@localhost'><body>unclosed</bod></message>");
  ASSERT_TRUE(ws.waitClosed()) << ws.joined();
  const auto& msgs = ws.messages();
  ASSERT_GE(msgs.size(), 2u) << ws.joined();
  EXPECT_EQ(msgs[msgs.size() - 2].rfind("<stream:error xmlns:stream='http://etherx.jabber.org/streams'>", 0),
            0u)
      << ws.joined();
  EXPECT_NE(msgs[msgs.size() - 2].find("<not-well-formed"), std::string::npos) << ws.joined();
  EXPECT_EQ(msgs.back().rfind("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'", 0), 0u) << ws.joined();
}

// RFC 7395 §3.3.3: a message holds complete elements; half of one is not well-formed.
TEST_F(WebSocketTest, FragmentOfAnElementIsRefused) {
  WsClient ws(port());
  ws.open();
  ws.consume();
  ws.send("<message to='bob@localhost'><body>half");
  ASSERT_TRUE(ws.waitClosed()) << ws.joined();
  EXPECT_NE(ws.joined().find("<not-well-formed"), std::string::npos) << ws.joined();
}

// The stream starts with <open/>; anything else first is an error.
TEST_F(WebSocketTest, ElementBeforeOpenIsAStreamError) {
  WsClient ws(port());
  ws.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHdvbmRlcmxhbmQ=</auth>");
  ASSERT_TRUE(ws.waitClosed()) << ws.joined();
  EXPECT_NE(ws.joined().find("<stream:error"), std::string::npos) << ws.joined();
  EXPECT_EQ(ws.joined().find("<success"), std::string::npos) << ws.joined();
}

// The message size limit is the stanza limit (before authentication the small one).
TEST_F(WebSocketTest, OversizeElementIsPolicyViolation) {
  WsClient ws(port());
  ws.open();
  ws.consume();
  ws.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + std::string(20000, 'A') +
          "</auth>");
  ASSERT_TRUE(ws.waitClosed()) << ws.joined();
  EXPECT_NE(ws.joined().find("<policy-violation"), std::string::npos) << ws.joined();
}

// No STARTTLS over WebSocket (TLS belongs to the HTTP layer).
TEST_F(WebSocketTest, StartTlsIsRefused) {
  WsClient ws(port());
  ws.open();
  ws.consume();
  ws.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  ASSERT_TRUE(ws.waitClosed()) << ws.joined();
  EXPECT_NE(ws.joined().find("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), std::string::npos)
      << ws.joined();
}

// XEP-0198 over WebSocket: the connection is cut, a message arrives meanwhile, a new WebSocket resumes
// and gets it replayed; a TCP connection can resume a WebSocket session too (the session moves between
// transports).
TEST_F(WebSocketTest, StreamManagementResumesAfterACut) {
  XmppClient bob(server_.jid("bob"), "builder", server_.c2sPort());
  ASSERT_TRUE(bob.connect()) << bob.error();
  bob.becomeAvailable();  // messages to bob's bare JID reach this resource

  std::string previd;
  {
    WsClient ws(port());
    ASSERT_TRUE(ws.login("alice", "wonderland", "phone"));
    ws.consume();
    ws.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    ASSERT_TRUE(ws.waitFor("<enabled")) << ws.joined();
    std::string enabled = ws.joined();
    auto pos = enabled.find("id='");
    ASSERT_NE(pos, std::string::npos) << enabled;
    previd = enabled.substr(pos + 4, enabled.find('\'', pos + 4) - pos - 4);
    ws.send("<presence xmlns='jabber:client'/>");
    ws.drop();  // no <close/>, no close frame
  }
  ASSERT_TRUE(server_.waitForLog("c2s.hibernated", 10s));
  bob.send(
      "<message to='alice@localhost/phone' type='chat' id='w1'><body>while you were away</body></message>");

  WsClient again(port());
  again.open();
  ASSERT_TRUE(again.authenticate("alice", "wonderland"));
  again.consume();
  again.send("<resume xmlns='urn:xmpp:sm:3' h='0' previd='" + previd + "'/>");
  ASSERT_TRUE(again.waitFor("<resumed", 10s)) << again.joined();
  EXPECT_TRUE(again.waitFor("while you were away", 10s)) << again.joined();

  // The resumed session works both ways.
  again.consume();
  again.send(
      "<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>I am back</body></message>");
  EXPECT_TRUE(bob.expect(isMessage().from("alice@localhost/phone").body("I am back"), 10s));

  // Cut again, and resume this time over TCP (RawClient with STARTTLS).
  again.send("<r xmlns='urn:xmpp:sm:3'/>");
  ASSERT_TRUE(again.waitFor("<a xmlns='urn:xmpp:sm:3'", 10s)) << again.joined();
  again.drop();
  ASSERT_TRUE(server_.waitForLog("c2s.hibernated", 10s, server_.logs().rfind("c2s.resumed") + 1));
  RawClient tcp(server_.c2sPort());
  tcp.openStream();
  ASSERT_TRUE(tcp.startTls());
  tcp.openStream();
  ASSERT_TRUE(tcp.authenticate("alice", "wonderland", "SCRAM-SHA-256"));
  tcp.openStream();
  tcp.consume();
  tcp.send("<resume xmlns='urn:xmpp:sm:3' h='0' previd='" + previd + "'/>");
  ASSERT_TRUE(tcp.waitFor("<resumed", 10s)) << tcp.received();
  tcp.consume();
  bob.send("<message to='alice@localhost/phone' type='chat'><body>now on TCP</body></message>");
  EXPECT_TRUE(tcp.waitFor("now on TCP", 10s)) << tcp.received();
}

// XEP-0156 §3: host-meta (XRD) and host-meta.json advertise the WebSocket endpoint.
TEST_F(WebSocketTest, HostMetaAdvertisesWebSocket) {
  auto xrd = httpGet(port(), "/.well-known/host-meta");
  EXPECT_EQ(xrd.status, 200);
  EXPECT_NE(xrd.contentType.find("application/xrd+xml"), std::string::npos) << xrd.contentType;
  EXPECT_NE(xrd.body.find("<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>"), std::string::npos)
      << xrd.body;
  EXPECT_NE(xrd.body.find("rel='urn:xmpp:alt-connections:websocket'"), std::string::npos) << xrd.body;
  EXPECT_NE(xrd.body.find("/xmpp-websocket'"), std::string::npos) << xrd.body;

  auto json = httpGet(port(), "/.well-known/host-meta.json");
  EXPECT_EQ(json.status, 200);
  EXPECT_NE(json.contentType.find("application/json"), std::string::npos) << json.contentType;
  EXPECT_NE(json.body.find("\"rel\":\"urn:xmpp:alt-connections:websocket\""), std::string::npos) << json.body;
}

TEST(WebSocketUrlTest, ConfiguredPublicUrlIsAdvertised) {
  TestServer server(withExtra(wsConfig("url = \"wss://chat.example.org/xmpp-websocket\"\n")));
  server.start();
  auto json = httpGet(server.httpPort(), "/.well-known/host-meta.json");
  EXPECT_NE(json.body.find("\"href\":\"wss://chat.example.org/xmpp-websocket\""), std::string::npos)
      << json.body;
  auto xrd = httpGet(server.httpPort(), "/.well-known/host-meta");
  EXPECT_NE(xrd.body.find("href='wss://chat.example.org/xmpp-websocket'"), std::string::npos) << xrd.body;
}

// Plain ws:// not declared secure: no SASL mechanism is offered (requireTls), nothing can log in.
TEST(WebSocketPlainTest, PlainHttpIsNotSecureUnlessConfigured) {
  TestServer server(withExtra("[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n"));
  server.addUser("alice", "wonderland");
  server.start();
  WsClient ws(server.httpPort());
  ASSERT_TRUE(ws.ok());
  std::string features = ws.open();
  EXPECT_EQ(features.find("<mechanism>"), std::string::npos) << features;
  EXPECT_EQ(features.find("starttls"), std::string::npos) << features;
  ws.consume();
  ws.send(
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
      "mechanism='SCRAM-SHA-256'>biwsbj1hbGljZSxyPWFiYw==</auth>");
  EXPECT_TRUE(ws.waitFor("<encryption-required/>")) << ws.joined();
}

// wss:// on a TLS HTTP listener (the production setup without a proxy): the listener's TLS counts as
// a secure channel, so SCRAM is offered without any plain_is_secure, and the session chats with TCP.
TEST(WebSocketTlsTest, SecureWebSocketOnTheTlsListener) {
  TestServer server(withExtra("[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = true\n"));
  server.addUser("alice", "wonderland");
  server.addUser("bob", "builder");
  server.start();
  ASSERT_NE(server.httpPort(), 0);
  XmppClient bob(server.jid("bob"), "builder", server.c2sPort());
  ASSERT_TRUE(bob.connect()) << bob.error();
  bob.becomeAvailable();

  WsClient alice(server.httpPort(), "/xmpp-websocket", "xmpp", "localhost", /*tls=*/true);
  ASSERT_TRUE(alice.tlsEstablished());
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice.protocol(), "xmpp");
  std::string features = alice.open();
  EXPECT_NE(features.find("<mechanism>SCRAM-SHA-256</mechanism>"), std::string::npos) << features;
  ASSERT_TRUE(alice.authenticate("alice", "wonderland"));
  ASSERT_TRUE(alice.bind("secure-web"));
  alice.send("<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>over wss</body></message>");
  EXPECT_TRUE(bob.expect(isMessage().from("alice@localhost/secure-web").body("over wss"), 10s));

  // A plain WebSocket handshake on the TLS port gets nowhere.
  WsClient plain(server.httpPort());
  EXPECT_FALSE(plain.ok());
}

// Connections and sessions are counted per transport.
TEST_F(WebSocketTest, MetricsByTransport) {
  XmppClient bob(server_.jid("bob"), "builder", server_.c2sPort());
  ASSERT_TRUE(bob.connect()) << bob.error();
  WsClient ws(port());
  ASSERT_TRUE(ws.login("alice", "wonderland"));
  auto m = httpGet(port(), "/metrics");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_NE(m.body.find("parley_c2s_sessions{transport=\"websocket\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("parley_c2s_sessions{transport=\"tcp\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("parley_c2s_connections{transport=\"websocket\"} 1"), std::string::npos) << m.body;
}

}  // namespace
}  // namespace parley::test
