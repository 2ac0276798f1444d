// RFC 6120 at the byte level, against a real parleyd: stream headers, restricted XML, stanza size
// limits, STARTTLS (and plaintext injection), SASL (every mechanism, failures, the login limiter),
// resource binding, stanza validation, whitespace keepalives, and the per-address and per-session
// limits. Each refusal is checked down to the exact element the server sends; after a stream error the
// server must also close the stream and the connection (RFC 6120 §4.9.1.1). A SASL failure leaves the
// stream open for another attempt (§6.4.5), and the tests check that too.
#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "server/sasl/scram.h"
#include "server/util/crypto.h"
#include "server/xml/parse_fragment.h"
#include "server/xml/stream_parser.h"
#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/xmpp_client.h"

namespace parley::test {
namespace {

constexpr std::string_view kStreamNs = "http://etherx.jabber.org/streams";
constexpr std::string_view kStreamErrorNs = "urn:ietf:params:xml:ns:xmpp-streams";
constexpr std::string_view kStanzaErrorNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
constexpr std::string_view kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";
constexpr std::string_view kTlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
constexpr std::string_view kBindNs = "urn:ietf:params:xml:ns:xmpp-bind";
constexpr std::string_view kChannelBindingNs = "urn:xmpp:sasl-cb:0";

// The attributes of a correct client stream header.
constexpr std::string_view kHeaderAttributes =
    "to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'";

std::string streamHeader(std::string_view attributes) {
  return "<?xml version='1.0'?><stream:stream " + std::string(attributes) + ">";
}

// A defined stream error condition exactly as it must appear on the wire (RFC 6120 §4.9.2).
std::string streamErrorXml(std::string_view condition) {
  return "<stream:error><" + std::string(condition) + " xmlns='" + std::string(kStreamErrorNs) + "'/>";
}

// A SASL failure with this condition (RFC 6120 §6.5).
std::string saslFailureXml(std::string_view condition) {
  return "<failure xmlns='" + std::string(kSaslNs) + "'><" + std::string(condition) + "/>";
}

// The server answered with this stream error, closed the stream and then the TCP connection.
testing::AssertionResult closedWithStreamError(RawClient& c, std::string_view condition,
                                               std::chrono::milliseconds timeout = 5s) {
  if (!c.waitFor(streamErrorXml(condition), timeout))
    return testing::AssertionFailure() << "expected the <" << condition << "/> stream error; received:\n"
                                       << c.received();
  if (!c.waitFor("</stream:stream>"))
    return testing::AssertionFailure() << "the stream was not closed after the error; received:\n"
                                       << c.received();
  if (!c.waitClosed())
    return testing::AssertionFailure() << "the connection stayed open after the stream error";
  return testing::AssertionSuccess();
}

// A SASL <failure/> with this condition arrived, and the stream is still open for another try.
testing::AssertionResult saslFailed(RawClient& c, std::string_view condition) {
  if (!c.waitFor("</failure>", 10s))
    return testing::AssertionFailure() << "no SASL <failure/>; received:\n" << c.received();
  if (c.received().find(saslFailureXml(condition)) == std::string::npos)
    return testing::AssertionFailure() << "expected " << saslFailureXml(condition) << "; received:\n"
                                       << c.received();
  if (c.received().find("<stream:error>") != std::string::npos || c.closed())
    return testing::AssertionFailure() << "the stream ended after the SASL failure:\n" << c.received();
  return testing::AssertionSuccess();
}

// The <failure>…</failure> element in what a client received.
std::string failureElement(const std::string& received) {
  auto begin = received.find("<failure");
  auto end = received.find("</failure>");
  if (begin == std::string::npos || end == std::string::npos) return {};
  return received.substr(begin, end + 10 - begin);
}

// <stream:features> from what a client received, parsed.
xml::ElementPtr features(const std::string& received) {
  auto begin = received.find("<stream:features>");
  auto end = received.find("</stream:features>");
  if (begin == std::string::npos || end == std::string::npos) return nullptr;
  std::string text = "<stream:features xmlns:stream='" + std::string(kStreamNs) + "'>" +
                     received.substr(begin + 17, end - begin - 17) + "</stream:features>";
  return xml::parseElement(text);
}

std::vector<std::string> mechanismsOf(const xml::Element& features) {
  std::vector<std::string> out;
  if (const auto* mechs = features.child("mechanisms", kSaslNs))
    for (const auto& m : mechs->childrenNamed("mechanism", kSaslNs)) out.push_back(m->text());
  return out;
}

bool isStanzaError(const xml::ElementPtr& stanza, std::string_view condition) {
  if (!stanza || stanza->attr("type") != "error") return false;
  const auto* error = stanza->child("error", "jabber:client");
  return error && error->child(condition, kStanzaErrorNs);
}

// The stanzas a RawClient receives from now on (on an established stream), parsed with the server's
// own stream parser, so a test can wait for one reply (with the matchers of xmpp_client.h) instead of
// searching bytes. It reads the client's buffer without consuming it.
class Inbox : private xml::StreamParserHandler {
 public:
  explicit Inbox(RawClient& client)
      : client_(client),
        parser_(*this, xml::ParserLimits{4 << 20, 100, 100000, 1000}),
        fed_(client.received().size()) {
    parser_.feed("<stream:stream xmlns='jabber:client' xmlns:stream='" + std::string(kStreamNs) + "'>");
  }

  // The first stanza (received now or within `timeout`) that matches; it is removed from the inbox.
  xml::ElementPtr expect(const Match& match, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      feedReceived();
      for (auto it = stanzas_.begin(); it != stanzas_.end(); ++it) {
        if (match(**it)) {
          auto e = *it;
          stanzas_.erase(it);
          return e;
        }
      }
      if (std::chrono::steady_clock::now() >= deadline || client_.closed()) return nullptr;
      client_.waitFor("\x01", 20ms);  // U+0001 cannot occur in XML: this just reads for a moment
    }
  }
  bool expectNothing(const Match& match, std::chrono::milliseconds window = 500ms) {
    return expect(match, window) == nullptr;
  }

 private:
  void feedReceived() {
    const std::string& bytes = client_.received();
    if (bytes.size() < fed_) fed_ = 0;  // the test consumed the client's buffer
    if (bytes.size() == fed_) return;
    parser_.feed(std::string_view(bytes).substr(fed_));
    fed_ = bytes.size();
  }
  void onStreamOpen(xml::StreamHeader) override {}
  void onElement(xml::ElementPtr element) override { stanzas_.push_back(std::move(element)); }
  void onStreamClose() override {}
  void onParseError(xml::ParseError, std::string_view detail) override {
    ADD_FAILURE() << "the server sent XML the client cannot parse: " << detail;
  }

  RawClient& client_;
  xml::XmlStreamParser parser_;
  std::size_t fed_;
  std::deque<xml::ElementPtr> stanzas_;
};

constexpr std::size_t kMegabyte = 1024 * 1024;

// A message of exactly `size` bytes (the body is padded with 'x').
std::string messageOfSize(std::size_t size, const std::string& to, const std::string& id) {
  const std::string head = "<message to='" + to + "' type='chat' id='" + id + "'><body>";
  const std::string tail = "</body></message>";
  return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

// A SCRAM exchange by hand, for what RawClient::authenticate cannot do (wrong channel-binding data):
// <auth/> with the client-first message, then <response/> with the client-final message for the
// server's challenge (returned in `serverFirst` when given). False if no challenge came; the outcome
// is left in received().
bool scramByHand(RawClient& c, sasl::ScramClient& scram, const std::string& mechanism,
                 std::string* serverFirstOut = nullptr) {
  c.consume();
  c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + mechanism + "'>" +
         util::base64Encode(scram.clientFirst()) + "</auth>");
  if (!c.waitFor("</challenge>")) return false;
  auto serverFirst = util::base64Decode(elementText(c.received(), "challenge"));
  if (!serverFirst) return false;
  if (serverFirstOut) *serverFirstOut = *serverFirst;
  auto final = scram.clientFinal(*serverFirst);
  if (!final) return false;
  c.consume();
  c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + util::base64Encode(*final) + "</response>");
  return true;
}

// One attribute ("s", "i", …) of a SCRAM message like "r=…,s=…,i=4096" (RFC 5802 §5.1).
std::string scramAttribute(const std::string& message, char name) {
  for (std::size_t begin = 0; begin < message.size();) {
    std::size_t end = std::min(message.find(',', begin), message.size());
    if (end - begin >= 2 && message[begin] == name && message[begin + 1] == '=')
      return message.substr(begin + 2, end - begin - 2);
    begin = end + 1;
  }
  return {};
}

class StreamTest : public ::testing::Test {
 protected:
  // Starts parleyd serving localhost with the accounts alice and bob, plus `extra` config tables.
  void serve(std::string extra = {}) {
    TestServerOptions options;
    options.extra = std::move(extra);
    server = std::make_unique<TestServer>(options);
    server->addUser("alice", "alice-secret");
    server->addUser("bob", "bob-secret");
    server->start();
  }
  // A plaintext TCP connection to the STARTTLS port; nothing sent yet.
  std::unique_ptr<RawClient> connect() {
    auto c = std::make_unique<RawClient>(server->c2sPort());
    EXPECT_TRUE(c->ok()) << "cannot connect to parleyd";
    return c;
  }
  // A stream after STARTTLS and the restart: the new features (SASL) are in received().
  std::unique_ptr<RawClient> encrypted() {
    auto c = connect();
    c->openStream();
    EXPECT_TRUE(c->startTls()) << c->received();
    c->openStream();
    return c;
  }
  // Authenticated with SCRAM-SHA-256 and bound to `resource`.
  std::unique_ptr<RawClient> loggedIn(const std::string& user, const std::string& resource) {
    auto c = encrypted();
    EXPECT_TRUE(c->authenticate(user, user + "-secret", "SCRAM-SHA-256")) << c->received();
    EXPECT_TRUE(c->bind(resource)) << c->received();
    return c;
  }
  // The client's stream still works: the server answers a ping (XEP-0199).
  static bool answersPing(RawClient& c, const std::string& id = "alive") {
    Inbox inbox(c);
    c.send("<iq type='get' to='localhost' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>");
    return inbox.expect(isIq().id(id).type("result")) != nullptr;
  }

  std::unique_ptr<TestServer> server;
};

// --- Stream headers (RFC 6120 §4.7, §4.9.3) -------------------------------------------------------

TEST_F(StreamTest, HeaderToAnotherDomainGetsHostUnknown) {
  serve();
  auto c = connect();
  c->send(
      streamHeader("to='example.org' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                   "version='1.0'"));
  EXPECT_TRUE(closedWithStreamError(*c, "host-unknown"));
  // §4.9.1.2: an error before the response header is sent inside a response header.
  EXPECT_LT(c->received().find("<stream:stream"), c->received().find("<stream:error>"));
}

TEST_F(StreamTest, WrongStreamNamespaceGetsInvalidNamespace) {
  serve();
  auto c = connect();
  c->send(
      streamHeader("to='localhost' xmlns='jabber:client' xmlns:stream='http://example.org/streams' "
                   "version='1.0'"));
  EXPECT_TRUE(closedWithStreamError(*c, "invalid-namespace"));
}

TEST_F(StreamTest, ServerContentNamespaceOnClientPortGetsInvalidNamespace) {
  serve();
  auto c = connect();
  c->send(
      streamHeader("to='localhost' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
                   "version='1.0'"));
  EXPECT_TRUE(closedWithStreamError(*c, "invalid-namespace"));
}

TEST_F(StreamTest, HeaderWithoutVersionGetsUnsupportedVersion) {
  serve();
  auto c = connect();
  // §4.7.5: no version means 0.0.
  c->send(
      streamHeader("to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"));
  EXPECT_TRUE(closedWithStreamError(*c, "unsupported-version"));
}

TEST_F(StreamTest, Version09GetsUnsupportedVersion) {
  serve();
  auto c = connect();
  c->send(
      streamHeader("to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                   "version='0.9'"));
  EXPECT_TRUE(closedWithStreamError(*c, "unsupported-version"));
}

// --- XML (RFC 6120 §11) ---------------------------------------------------------------------------

TEST_F(StreamTest, MismatchedTagsGetNotWellFormed) {
  serve();
  auto c = connect();
  c->openStream();
  c->send("<message><body></message>");
  EXPECT_TRUE(closedWithStreamError(*c, "not-well-formed"));
}

TEST_F(StreamTest, CommentGetsRestrictedXml) {
  serve();
  auto c = connect();
  c->openStream();
  c->send("<!-- a comment -->");  // §11.1
  EXPECT_TRUE(closedWithStreamError(*c, "restricted-xml"));
}

TEST_F(StreamTest, ProcessingInstructionGetsRestrictedXml) {
  serve();
  auto c = connect();
  c->openStream();
  c->send("<?evil instruction?>");  // §11.1
  EXPECT_TRUE(closedWithStreamError(*c, "restricted-xml"));
}

TEST_F(StreamTest, BillionLaughsDoctypeGetsRestrictedXml) {
  serve();
  auto c = connect();
  // §11.1: no DTD at all, so entity expansion never starts.
  std::string doctype = "<!DOCTYPE stream:stream [<!ENTITY lol 'lol'>";
  std::string previous = "lol";
  for (int i = 1; i <= 9; ++i) {
    std::string name = "lol" + std::to_string(i);
    doctype += "<!ENTITY " + name + " '";
    for (int k = 0; k < 10; ++k) doctype += "&" + previous + ";";
    doctype += "'>";
    previous = name;
  }
  doctype += "]>";
  c->send("<?xml version='1.0'?>" + doctype + "<stream:stream " + std::string(kHeaderAttributes) +
          "><message to='bob@localhost'><body>&" + previous + ";</body></message>");
  EXPECT_TRUE(closedWithStreamError(*c, "restricted-xml"));
  // And the server is fine: the next client gets its features.
  auto next = connect();
  EXPECT_NE(next->openStream().find("</stream:features>"), std::string::npos);
}

TEST_F(StreamTest, UndeclaredEntityReferenceEndsTheStream) {
  serve();
  auto c = connect();
  c->openStream();
  c->send("<message to='bob@localhost'><body>&xxe;</body></message>");
  // Without a DTD an undeclared entity is a well-formedness error (XML 1.0 §4.1 WFC: Entity Declared);
  // either condition is right (§11.1).
  ASSERT_TRUE(c->waitFor("<stream:error>")) << c->received();
  const bool notWellFormed = c->received().find(streamErrorXml("not-well-formed")) != std::string::npos;
  EXPECT_TRUE(closedWithStreamError(*c, notWellFormed ? "not-well-formed" : "restricted-xml"));
}

// --- Stanza size limits ([limits] stanza_size_preauth / stanza_size) --------------------------------

TEST_F(StreamTest, OversizeElementBeforeAuthenticationGetsPolicyViolation) {
  serve();  // stanza_size_preauth = 10000
  auto c = connect();
  c->openStream();
  c->send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + std::string(12000, 'A') +
          "</auth>");
  EXPECT_TRUE(closedWithStreamError(*c, "policy-violation"));
}

TEST_F(StreamTest, StanzaOfExactlyStanzaSizeIsDelivered) {
  serve();  // stanza_size = 262144
  auto alice = loggedIn("alice", "a");
  auto bob = loggedIn("bob", "b");
  Inbox bobInbox(*bob);
  const std::string big = messageOfSize(262144, "bob@localhost/b", "big");
  ASSERT_EQ(big.size(), 262144u);
  ASSERT_TRUE(alice->send(big));
  auto m = bobInbox.expect(isMessage().id("big").from("alice@localhost/a"), 10s);
  ASSERT_TRUE(m) << "the 256 KiB message did not arrive";
  const auto bodyStart = big.find("<body>") + 6;
  EXPECT_EQ(m->childText("body", "jabber:client"), big.substr(bodyStart, big.rfind("</body>") - bodyStart));
  EXPECT_TRUE(answersPing(*alice)) << "alice's stream must stay open";
}

TEST_F(StreamTest, StanzaOneByteOverStanzaSizeGetsPolicyViolation) {
  serve();
  auto alice = loggedIn("alice", "a");
  auto bob = loggedIn("bob", "b");
  Inbox bobInbox(*bob);
  alice->send(messageOfSize(262145, "bob@localhost/b", "big"));
  EXPECT_TRUE(closedWithStreamError(*alice, "policy-violation"));
  EXPECT_TRUE(bobInbox.expectNothing(isMessage().id("big"), 300ms));
}

// Sends `start`, then up to 1 MiB of 'x' in 16 KiB chunks, reading after each one; stops when the
// server refuses (or the connection fails). Returns the bytes of 'x' written.
std::size_t sendMegabyteUntilRefused(RawClient& c, const std::string& start) {
  constexpr std::size_t kChunk = 16 * 1024;
  const std::string chunk(kChunk, 'x');
  std::size_t sent = 0;
  if (!c.send(start)) return 0;
  while (sent < kMegabyte && c.send(chunk)) {
    sent += kChunk;
    // Gives the server time to read this chunk; stops as soon as the refusal is here.
    if (c.waitFor(streamErrorXml("policy-violation"), 50ms) || c.closed()) break;
  }
  return sent;
}

TEST_F(StreamTest, MegabyteStanzaIsRefusedBeforeItIsFullySent) {
  serve();
  auto alice = loggedIn("alice", "a");
  alice->consume();
  // The server must refuse once it has seen stanza_size bytes, not buffer the whole megabyte first.
  const std::size_t sent =
      sendMegabyteUntilRefused(*alice, "<message to='bob@localhost' type='chat' id='huge'><body>");
  EXPECT_LT(sent, kMegabyte) << "the client wrote the whole megabyte";
  // Refused within a few chunks of stanza_size (262144 bytes), not at the end.
  EXPECT_LE(sent, 262144u + 8 * 16 * 1024) << "sent " << sent << " bytes before the refusal";
  EXPECT_TRUE(closedWithStreamError(*alice, "policy-violation"));
}

TEST_F(StreamTest, MegabyteAttributeValueIsRefusedBeforeItIsFullySent) {
  serve();
  auto alice = loggedIn("alice", "a");
  alice->consume();
  // One start tag that never ends: a single XML token, so no parser event marks its progress.
  const std::size_t sent = sendMegabyteUntilRefused(*alice, "<message to='bob@localhost' id='");
  EXPECT_LE(sent, 262144u + 8 * 16 * 1024) << "sent " << sent << " bytes before the refusal";
  EXPECT_TRUE(closedWithStreamError(*alice, "policy-violation"));
}

TEST_F(StreamTest, WhitespaceBeforeAuthenticationDoesNotCountAsAStanza) {
  serve();  // stanza_size_preauth = 10000
  auto c = connect();
  c->openStream();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(c->send(std::string(1000, ' ')));
  EXPECT_TRUE(c->startTls()) << c->received();
  c->openStream();
  EXPECT_TRUE(c->authenticate("alice", "alice-secret", "SCRAM-SHA-256")) << c->received();
}

// --- Before authentication and binding ------------------------------------------------------------

TEST_F(StreamTest, StanzaBeforeAuthenticationGetsNotAuthorized) {
  serve();
  auto c = connect();
  c->openStream();
  c->send("<message to='bob@localhost' type='chat'><body>hi</body></message>");  // §4.9.3.12
  EXPECT_TRUE(closedWithStreamError(*c, "not-authorized"));
}

TEST_F(StreamTest, MessageBeforeBindingGetsNotAuthorized) {
  serve();
  auto c = encrypted();
  ASSERT_TRUE(c->authenticate("alice", "alice-secret", "SCRAM-SHA-256"));
  auto f = features(c->openStream());
  ASSERT_TRUE(f && f->child("bind", kBindNs)) << c->received();
  c->send("<message to='bob@localhost' type='chat'><body>hi</body></message>");  // §7.1
  EXPECT_TRUE(closedWithStreamError(*c, "not-authorized"));
}

TEST_F(StreamTest, IdleConnectionGetsConnectionTimeout) {
  serve("[limits]\npreauth_timeout = 1\n");
  const auto start = std::chrono::steady_clock::now();
  auto c = connect();  // and says nothing
  EXPECT_TRUE(closedWithStreamError(*c, "connection-timeout", 3s));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LE(elapsed, 3s);
}

// --- STARTTLS (RFC 6120 §5) -----------------------------------------------------------------------

TEST_F(StreamTest, StartTlsIsRequiredAndNoMechanismIsOfferedBeforeIt) {
  serve();
  auto c = connect();
  auto f = features(c->openStream());
  ASSERT_TRUE(f) << c->received();
  const auto* starttls = f->child("starttls", kTlsNs);
  ASSERT_TRUE(starttls);
  EXPECT_TRUE(starttls->child("required", kTlsNs)) << "§5.3.1: mandatory-to-negotiate";
  for (const auto& m : mechanismsOf(*f)) EXPECT_NE(m, "PLAIN") << "PLAIN offered in plaintext";
}

TEST_F(StreamTest, AuthBeforeStartTlsGetsEncryptionRequired) {
  serve();
  auto c = connect();
  c->openStream();
  c->consume();
  c->send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
          util::base64Encode(std::string("\0alice\0alice-secret", 19)) + "</auth>");
  EXPECT_TRUE(saslFailed(*c, "encryption-required"));  // §6.5.5
  // The stream goes on: STARTTLS, then the same login succeeds.
  ASSERT_TRUE(c->startTls());
  c->openStream();
  EXPECT_TRUE(c->authenticate("alice", "alice-secret", "PLAIN")) << c->received();
}

TEST_F(StreamTest, AfterStartTlsEveryMechanismAndChannelBindingTypeIsOffered) {
  serve();
  auto c = encrypted();
  auto f = features(c->received());
  ASSERT_TRUE(f) << c->received();
  EXPECT_FALSE(f->child("starttls", kTlsNs));
  EXPECT_EQ(mechanismsOf(*f),
            (std::vector<std::string>{"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
                                      "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}));
  // XEP-0440: the channel-binding types this connection supports.
  const auto* list = f->child("sasl-channel-binding", kChannelBindingNs);
  ASSERT_TRUE(list) << c->received();
  std::vector<std::string> types;
  for (const auto& t : list->childrenNamed("channel-binding", kChannelBindingNs))
    types.emplace_back(t->attr("type"));
  std::sort(types.begin(), types.end());
  EXPECT_EQ(types, (std::vector<std::string>{"tls-exporter", "tls-server-end-point"}));
}

TEST_F(StreamTest, PlaintextPipelinedAfterStartTlsIsIgnored) {
  serve();
  auto c = connect();
  c->openStream();
  // CVE-2011-0411 class: an attacker appends plaintext after <starttls/>; it must never be processed
  // as if it came through TLS (RFC 6120 §5.4.3.3: the stream is new after the handshake).
  ASSERT_TRUE(c->startTls("<iq type='get' id='injected' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"));
  auto f = features(c->openStream());
  ASSERT_TRUE(f) << "a fresh stream after TLS: " << c->received();
  EXPECT_EQ(c->received().find("<stream:error>"), std::string::npos);
  ASSERT_TRUE(c->authenticate("alice", "alice-secret", "SCRAM-SHA-256"));
  ASSERT_TRUE(c->bind("r"));
  Inbox inbox(*c);
  EXPECT_TRUE(answersPing(*c, "real"));
  EXPECT_TRUE(inbox.expectNothing(isIq().id("injected"), 300ms)) << "the injected IQ was answered";
  EXPECT_TRUE(server->waitForLog("c2s.starttls.injection_dropped"));
}

TEST_F(StreamTest, StartTlsOnAnEncryptedStreamFailsAndCloses) {
  serve();
  auto c = encrypted();
  c->consume();
  c->send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  // §5.4.2.2: <failure/>, then the stream and the connection are closed.
  EXPECT_TRUE(c->waitFor("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")) << c->received();
  EXPECT_TRUE(c->waitFor("</stream:stream>")) << c->received();
  EXPECT_TRUE(c->waitClosed());
}

// --- SASL (RFC 6120 §6) ---------------------------------------------------------------------------

class StreamSaslTest : public StreamTest {
 protected:
  // SASL with `mechanism`, then a bound resource proves the session is usable.
  void logsInWith(const std::string& mechanism, const std::string& cbType = {}) {
    serve();
    auto c = encrypted();
    ASSERT_TRUE(c->authenticate("alice", "alice-secret", mechanism, cbType)) << mechanism << ":\n"
                                                                             << c->received();
    EXPECT_TRUE(c->bind("r")) << c->received();
    EXPECT_TRUE(server->waitForLog("c2s.auth.success"));
    EXPECT_NE(server->logs().find("mechanism=" + mechanism + "\n"), std::string::npos) << server->logs();
  }
};

TEST_F(StreamSaslTest, ScramSha1) {
  logsInWith("SCRAM-SHA-1");
}
TEST_F(StreamSaslTest, ScramSha256) {
  logsInWith("SCRAM-SHA-256");
}
TEST_F(StreamSaslTest, ScramSha512) {
  logsInWith("SCRAM-SHA-512");
}
TEST_F(StreamSaslTest, ScramSha256PlusWithTlsExporter) {
  logsInWith("SCRAM-SHA-256-PLUS", "tls-exporter");
}
TEST_F(StreamSaslTest, ScramSha256PlusWithTlsServerEndPoint) {
  logsInWith("SCRAM-SHA-256-PLUS", "tls-server-end-point");
}
TEST_F(StreamSaslTest, PlainOverTls) {
  logsInWith("PLAIN");
}

TEST_F(StreamSaslTest, PlusWithWrongChannelBindingDataGetsNotAuthorized) {
  serve();
  auto c = encrypted();
  // A man in the middle would see its own TLS session: the client's binding data does not match.
  sasl::ScramClient scram(util::HashAlg::Sha256, "alice", "alice-secret", "tls-exporter",
                          std::string(32, 'M'));
  ASSERT_TRUE(scramByHand(*c, scram, "SCRAM-SHA-256-PLUS")) << c->received();
  EXPECT_TRUE(saslFailed(*c, "not-authorized"));
  EXPECT_EQ(c->received().find("<success"), std::string::npos);
}

TEST_F(StreamSaslTest, WrongPasswordGetsNotAuthorizedAndMayRetry) {
  serve();
  auto c = encrypted();
  EXPECT_FALSE(c->authenticate("alice", "wrong", "SCRAM-SHA-256"));
  EXPECT_TRUE(saslFailed(*c, "not-authorized"));
  // §6.4.5: the client may try again on the same stream.
  EXPECT_TRUE(c->authenticate("alice", "alice-secret", "SCRAM-SHA-256")) << c->received();
}

TEST_F(StreamSaslTest, UnknownUserGetsTheSameFailureAsWrongPassword) {
  serve();
  auto wrongPassword = encrypted();
  sasl::ScramClient alice(util::HashAlg::Sha256, "alice", "wrong");
  std::string aliceFirst;
  ASSERT_TRUE(scramByHand(*wrongPassword, alice, "SCRAM-SHA-256", &aliceFirst)) << wrongPassword->received();
  EXPECT_TRUE(saslFailed(*wrongPassword, "not-authorized"));
  // The exchange for an account that does not exist also gets a challenge and fails only at the
  // proof, with the same element: nothing tells the two apart (no account enumeration).
  auto unknownUser = encrypted();
  sasl::ScramClient nobody(util::HashAlg::Sha256, "nobody", "wrong");
  std::string nobodyFirst;
  ASSERT_TRUE(scramByHand(*unknownUser, nobody, "SCRAM-SHA-256", &nobodyFirst))
      << "no challenge for an unknown user:\n"
      << unknownUser->received();
  EXPECT_TRUE(saslFailed(*unknownUser, "not-authorized"));
  EXPECT_EQ(failureElement(unknownUser->received()), failureElement(wrongPassword->received()));
  // The challenge looks like a real account's: same iteration count, a salt of the same size, and
  // the same salt when asked again (a real account's salt does not change between attempts).
  EXPECT_EQ(scramAttribute(nobodyFirst, 'i'), scramAttribute(aliceFirst, 'i'));
  EXPECT_EQ(scramAttribute(nobodyFirst, 's').size(), scramAttribute(aliceFirst, 's').size());
  auto again = encrypted();
  sasl::ScramClient nobodyAgain(util::HashAlg::Sha256, "nobody", "wrong");
  std::string nobodyFirstAgain;
  ASSERT_TRUE(scramByHand(*again, nobodyAgain, "SCRAM-SHA-256", &nobodyFirstAgain));
  EXPECT_EQ(scramAttribute(nobodyFirstAgain, 's'), scramAttribute(nobodyFirst, 's'));
}

TEST_F(StreamSaslTest, UnknownMechanismGetsInvalidMechanism) {
  serve();
  auto c = encrypted();
  c->consume();
  c->send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>");
  EXPECT_TRUE(saslFailed(*c, "invalid-mechanism"));  // §6.5.4
}

TEST_F(StreamSaslTest, BadBase64GetsIncorrectEncoding) {
  serve();
  auto c = encrypted();
  c->consume();
  c->send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>not*base64!</auth>");
  EXPECT_TRUE(saslFailed(*c, "incorrect-encoding"));  // §6.5.2
}

TEST_F(StreamSaslTest, AbortGetsAborted) {
  serve();
  auto c = encrypted();
  sasl::ScramClient scram(util::HashAlg::Sha256, "alice", "alice-secret");
  c->consume();
  c->send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
          util::base64Encode(scram.clientFirst()) + "</auth>");
  ASSERT_TRUE(c->waitFor("</challenge>")) << c->received();
  c->consume();
  c->send("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");  // §6.4.4
  EXPECT_TRUE(saslFailed(*c, "aborted"));
}

TEST_F(StreamSaslTest, ThirdFailureOnOneStreamGetsPolicyViolation) {
  serve("[auth]\nfailure_delay_ms = 0\n");
  auto c = encrypted();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    EXPECT_FALSE(c->authenticate("alice", "wrong", "SCRAM-SHA-256"));
    EXPECT_TRUE(saslFailed(*c, "not-authorized")) << "attempt " << attempt;
  }
  // §6.4.5: a reasonable number of retries, then the stream ends.
  EXPECT_FALSE(c->authenticate("alice", "wrong", "SCRAM-SHA-256"));
  EXPECT_NE(c->received().find(saslFailureXml("not-authorized")), std::string::npos) << c->received();
  EXPECT_TRUE(closedWithStreamError(*c, "policy-violation"));
}

TEST_F(StreamSaslTest, LoginLimiterRefusesTheAccountFromThatAddressButNotOthers) {
  serve("[auth]\nfailures_per_account_and_ip = 2\nfailure_delay_ms = 0\n");
  for (int attempt = 1; attempt <= 2; ++attempt) {
    auto c = encrypted();
    EXPECT_FALSE(c->authenticate("alice", "wrong", "SCRAM-SHA-256"));
    EXPECT_TRUE(saslFailed(*c, "not-authorized")) << "attempt " << attempt;
  }
  // Now even the right password is refused for alice from 127.0.0.1…
  auto alice = encrypted();
  EXPECT_FALSE(alice->authenticate("alice", "alice-secret", "SCRAM-SHA-256"));
  EXPECT_TRUE(saslFailed(*alice, "temporary-auth-failure"));
  auto alicePlain = encrypted();
  EXPECT_FALSE(alicePlain->authenticate("alice", "alice-secret", "PLAIN"));
  EXPECT_TRUE(saslFailed(*alicePlain, "temporary-auth-failure"));
  // …while bob, from the same address, still logs in.
  auto bob = encrypted();
  EXPECT_TRUE(bob->authenticate("bob", "bob-secret", "SCRAM-SHA-256")) << bob->received();
}

TEST_F(StreamSaslTest, StreamRestartAndBindPipelinedAfterAuthAreProcessedInOrder) {
  serve();
  auto c = encrypted();
  c->consume();
  // The bytes after <auth/> belong to the restarted stream (§6.4.6): the new header and the bind
  // request arrive in the same write as the authentication.
  c->send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
          util::base64Encode(std::string("\0alice\0alice-secret", 19)) + "</auth>" +
          streamHeader(kHeaderAttributes) +
          "<iq type='set' id='pb'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>pipe</resource>"
          "</bind></iq>");
  EXPECT_TRUE(c->waitFor("<jid>alice@localhost/pipe</jid>")) << c->received();
  const std::string& r = c->received();
  EXPECT_LT(r.find("<success"), r.find("<stream:stream")) << r;
  EXPECT_LT(r.find("<stream:features>"), r.find("<jid>")) << r;
}

// --- Resource binding (RFC 6120 §7) ---------------------------------------------------------------

TEST_F(StreamTest, ClientChosenResourceIsHonoured) {
  serve();
  auto c = encrypted();
  ASSERT_TRUE(c->authenticate("alice", "alice-secret", "SCRAM-SHA-256"));
  ASSERT_TRUE(c->bind("laptop"));
  EXPECT_NE(c->received().find("<jid>alice@localhost/laptop</jid>"), std::string::npos) << c->received();
}

TEST_F(StreamTest, EmptyBindGetsAServerGeneratedResource) {
  serve();
  auto c = encrypted();
  ASSERT_TRUE(c->authenticate("alice", "alice-secret", "SCRAM-SHA-256"));
  c->openStream();
  Inbox inbox(*c);
  c->send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");  // §7.6.1
  auto result = inbox.expect(isIq().id("b1"));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->attr("type"), "result");
  const auto* bind = result->child("bind", kBindNs);
  ASSERT_TRUE(bind);
  const std::string jid = bind->childText("jid", kBindNs);
  ASSERT_TRUE(jid.starts_with("alice@localhost/")) << jid;
  EXPECT_GT(jid.size(), std::string("alice@localhost/").size());
}

TEST_F(StreamTest, SameResourceTwiceReplacesTheOldSessionWithConflict) {
  serve();  // resource_conflict = "kick_old"
  auto first = loggedIn("alice", "phone");
  auto second = loggedIn("alice", "phone");
  EXPECT_NE(second->received().find("<jid>alice@localhost/phone</jid>"), std::string::npos);
  EXPECT_TRUE(closedWithStreamError(*first, "conflict"));  // §7.7.2.2, policy "override"
  EXPECT_TRUE(answersPing(*second));
  // The old session's end must not take the new one's place with it: the full JID still reaches it.
  ASSERT_TRUE(server->waitForLog("c2s.closed"));
  auto bob = loggedIn("bob", "b");
  Inbox inbox(*second);
  bob->send("<message to='alice@localhost/phone' type='chat' id='after'><body>still there?</body></message>");
  EXPECT_TRUE(inbox.expect(isMessage().id("after").from("bob@localhost/b"))) << second->received();
}

TEST_F(StreamTest, SameResourceTwiceWithRefuseNewGetsConflictIqError) {
  serve("[c2s]\nresource_conflict = \"refuse_new\"\n");
  auto first = loggedIn("alice", "phone");
  auto second = encrypted();
  ASSERT_TRUE(second->authenticate("alice", "alice-secret", "SCRAM-SHA-256"));
  second->openStream();
  Inbox inbox(*second);
  second->send(
      "<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
      "<resource>phone</resource></bind></iq>");
  auto reply = inbox.expect(isIq().id("b2"));
  EXPECT_TRUE(isStanzaError(reply, "conflict")) << second->received();  // §7.7.2.2, policy "disallow"
  // The first session is untouched.
  EXPECT_TRUE(answersPing(*first));
  EXPECT_EQ(first->received().find("<stream:error>"), std::string::npos);
}

// --- Stanza validation (RFC 6120 §8) --------------------------------------------------------------

TEST_F(StreamTest, IqWithoutIdGetsBadRequest) {
  serve();
  auto c = loggedIn("alice", "a");
  Inbox inbox(*c);
  c->send("<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");  // §8.2.3
  auto reply = inbox.expect(isIq().type("error"));
  EXPECT_TRUE(isStanzaError(reply, "bad-request")) << c->received();
  EXPECT_TRUE(answersPing(*c));
}

TEST_F(StreamTest, IqGetWithTwoChildrenGetsBadRequest) {
  serve();
  auto c = loggedIn("alice", "a");
  Inbox inbox(*c);
  c->send(
      "<iq type='get' to='localhost' id='two'><ping xmlns='urn:xmpp:ping'/>"
      "<query xmlns='jabber:iq:version'/></iq>");  // §8.2.3: exactly one payload
  EXPECT_TRUE(isStanzaError(inbox.expect(isIq().id("two")), "bad-request")) << c->received();
}

TEST_F(StreamTest, ForgedFromGetsInvalidFrom) {
  serve();
  auto c = loggedIn("alice", "a");
  c->send("<message from='bob@localhost/b' to='alice@localhost' type='chat'><body>it's me</body></message>");
  EXPECT_TRUE(closedWithStreamError(*c, "invalid-from"));  // §8.1.2.1, §4.9.3.9
}

TEST_F(StreamTest, MalformedToGetsJidMalformed) {
  serve();
  auto c = loggedIn("alice", "a");
  Inbox inbox(*c);
  c->send("<message to='jul iet@localhost' type='chat' id='m1'><body>hi</body></message>");
  EXPECT_TRUE(isStanzaError(inbox.expect(isMessage().id("m1")), "jid-malformed")) << c->received();
  EXPECT_TRUE(answersPing(*c));
}

// --- Keepalives and limits ------------------------------------------------------------------------

TEST_F(StreamTest, WhitespaceKeepalivesKeepTheStreamOpen) {
  serve();
  auto c = loggedIn("alice", "a");
  // §4.6.1: whitespace between stanzas. Over 2.5 s, single-byte keepalives and larger runs, more
  // than both stanza_size_preauth and stanza_size in total: none of it counts as a stanza.
  std::size_t total = 0;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(c->send("\n"));
    ASSERT_TRUE(c->send(" "));
    ASSERT_TRUE(c->send(std::string(6000, i % 2 ? ' ' : '\n')));
    total += 6002;
    EXPECT_FALSE(c->waitFor("<stream:error>", 50ms)) << c->received();
  }
  EXPECT_GT(total, 262144u);
  EXPECT_TRUE(answersPing(*c));
  EXPECT_FALSE(c->closed());
}

TEST_F(StreamTest, FourthConnectionFromOneAddressIsClosedAtOnce) {
  serve("[limits]\nconnections_per_ip = 3\n");
  std::vector<std::unique_ptr<RawClient>> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(connect());
    // The features prove the server accepted (and counted) this connection.
    EXPECT_NE(open.back()->openStream().find("</stream:features>"), std::string::npos) << "connection " << i;
  }
  auto fourth = connect();
  EXPECT_TRUE(fourth->waitClosed(2s)) << "the fourth connection stayed open";
  EXPECT_EQ(fourth->received(), "") << "closed before anything is sent";
  EXPECT_TRUE(server->waitForLog("net.connection.refused"));
}

TEST_F(StreamTest, FastClientIsSlowedDownButNothingIsDropped) {
  serve("[limits]\nstanza_rate = 5\nstanza_burst = 5\n");
  auto c = loggedIn("alice", "a");
  Inbox inbox(*c);
  std::string pings;
  for (int i = 0; i < 30; ++i)
    pings +=
        "<iq type='get' to='localhost' id='p" + std::to_string(i) + "'><ping xmlns='urn:xmpp:ping'/></iq>";
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->send(pings));
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(inbox.expect(isIq().id("p" + std::to_string(i)).type("result"), 12s)) << "ping " << i;
  // A burst of 5, then 5 a second: the other 25 take about 5 s.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 4s);
  EXPECT_EQ(c->received().find("<stream:error>"), std::string::npos);
}

}  // namespace
}  // namespace parley::test
