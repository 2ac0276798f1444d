// Stanza size limits end to end (issue 9, item 3), against a real parleyd with the default
// [limits] stanza_size = 262144 (256 KiB) after authentication:
//  - over TCP with STARTTLS (RawClient: real TLS, exact bytes): a stanza of exactly 256 KiB is
//    accepted and delivered; one byte more gets <policy-violation/> and the stream is closed
//    (RFC 6120 §4.9.3.14); a 1 MiB stanza is refused once the limit is passed — the client could not
//    write much more than 256 KiB of it — and parleyd's resident memory grows by less than 5 MB;
//  - the same over WebSocket (RFC 7395: one element per message; WsClient on the HTTP listener).
// Memory is read from /proc/<pid>/status of parleyd (VmRSS, and VmHWM, the peak since it started).
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/raw_client.h"
#include "tests/support/test_server.h"
#include "tests/support/ws_client.h"

namespace parley::test {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kLimit = 262144;  // the default [limits] stanza_size (conf/parley.toml)
constexpr std::size_t kMegabyte = 1024 * 1024;
constexpr long kMaxGrowthKb = 5 * 1024;
constexpr std::string_view kPolicyViolation =
    "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>";

// A message of exactly `size` bytes (body padded with 'x'); `ns` adds xmlns='jabber:client' (WebSocket).
std::string messageOfSize(std::size_t size, const std::string& to, const std::string& id, bool ns = false) {
  const std::string head = std::string("<message") + (ns ? " xmlns='jabber:client'" : "") + " to='" + to +
                           "' type='chat' id='" + id + "'><body>";
  const std::string tail = "</body></message>";
  return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

// kB of a /proc/<pid>/status field ("VmRSS", "VmHWM"); -1 if unreadable.
long procStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

struct Memory {
  long rss, peak;
};
Memory memoryOf(pid_t pid) {
  return {procStatusKb(pid, "VmRSS"), procStatusKb(pid, "VmHWM")};
}

class SizeLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestServerOptions o;
    // The WebSocket endpoint on a plain loopback HTTP listener, declared secure as behind a TLS proxy
    // (WsClient speaks plain ws://); TCP clients use STARTTLS.
    o.extra =
        "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n\n"
        "[modules.websocket]\nplain_is_secure = true\n";
    server_ = std::make_unique<TestServer>(o);
    server_->addUser("alice", "wonderland");
    server_->start();
  }
  std::unique_ptr<RawClient> tcpLogin(const std::string& resource) {
    auto c = std::make_unique<RawClient>(server_->c2sPort());
    EXPECT_TRUE(c->ok());
    c->openStream();
    EXPECT_TRUE(c->startTls()) << c->received();
    c->openStream();  // RFC 6120 §5.4.3.3: a new stream over TLS
    EXPECT_TRUE(c->authenticate("alice", "wonderland", "SCRAM-SHA-256")) << c->received();
    EXPECT_TRUE(c->bind(resource)) << c->received();
    c->consume();
    return c;
  }
  std::unique_ptr<WsClient> wsLogin(const std::string& resource) {
    auto ws = std::make_unique<WsClient>(server_->httpPort());
    EXPECT_TRUE(ws->ok());
    EXPECT_TRUE(ws->login("alice", "wonderland", resource)) << ws->joined();
    ws->consume();
    return ws;
  }
  std::unique_ptr<TestServer> server_;
};

TEST_F(SizeLimitsTest, TcpStanzaOfExactly256KiBIsAcceptedOneByteMoreIsPolicyViolation) {
  auto alice = tcpLogin("tls");
  const std::string ok = messageOfSize(kLimit, "alice@localhost/tls", "exact");
  ASSERT_EQ(ok.size(), kLimit);
  ASSERT_TRUE(alice->send(ok));
  // Delivered back to the sender's own full JID: it went through the whole session.
  ASSERT_TRUE(alice->waitFor("id='exact'", 10s)) << "the 256 KiB stanza was not delivered";
  ASSERT_TRUE(alice->waitFor("</message>", 10s));
  EXPECT_EQ(alice->received().find("<stream:error>"), std::string::npos);

  alice->consume();
  alice->send(messageOfSize(kLimit + 1, "alice@localhost/tls", "over"));
  ASSERT_TRUE(alice->waitFor(kPolicyViolation, 10s)) << alice->received().substr(0, 500);
  EXPECT_TRUE(alice->waitFor("</stream:stream>"));
  EXPECT_TRUE(alice->waitClosed()) << "the connection stayed open after <policy-violation/>";
  EXPECT_EQ(alice->received().find("id='over'"), std::string::npos) << "the oversize stanza was delivered";
}

TEST_F(SizeLimitsTest, TcpMegabyteStanzaIsRefusedBeforeItIsBuffered) {
  auto alice = tcpLogin("tls");
  std::this_thread::sleep_for(200ms);  // let the login's allocations settle before the baseline
  const Memory before = memoryOf(server_->pid());
  ASSERT_GT(before.rss, 0);

  // 1 MiB of body in 16 KiB writes, reading after each; the server must refuse at 256 KiB.
  constexpr std::size_t kChunk = 16 * 1024;
  const std::string chunk(kChunk, 'x');
  std::size_t sent = 0;
  bool refused = false;
  ASSERT_TRUE(alice->send("<message to='alice@localhost/tls' type='chat' id='huge'><body>"));
  while (sent < kMegabyte && alice->send(chunk)) {
    sent += kChunk;
    if (alice->waitFor(kPolicyViolation, 20ms) || alice->closed()) {
      refused = true;
      break;
    }
  }
  EXPECT_TRUE(refused || alice->waitFor(kPolicyViolation, 5s)) << "no <policy-violation/>";
  EXPECT_TRUE(alice->waitClosed());
  // Refused within a few writes of the limit (socket buffers hold some in flight), not at the end.
  EXPECT_LE(sent, kLimit + 16 * kChunk) << "wrote " << sent << " bytes before the refusal";

  const Memory after = memoryOf(server_->pid());
  EXPECT_LT(after.rss - before.rss, kMaxGrowthKb) << "VmRSS " << before.rss << " -> " << after.rss << " kB";
  EXPECT_LT(after.peak - before.peak, kMaxGrowthKb)
      << "VmHWM " << before.peak << " -> " << after.peak << " kB";
  std::printf(
      "[ measure  ] TCP 1 MiB stanza: refused after %zu bytes; parleyd VmRSS %+ld kB, VmHWM %+ld kB\n", sent,
      after.rss - before.rss, after.peak - before.peak);
}

TEST_F(SizeLimitsTest, WebSocketStanzaOfExactly256KiBIsAcceptedOneByteMoreIsPolicyViolation) {
  auto alice = wsLogin("web");
  const std::string ok = messageOfSize(kLimit, "alice@localhost/web", "exact", true);
  ASSERT_EQ(ok.size(), kLimit);
  ASSERT_TRUE(alice->send(ok));
  ASSERT_TRUE(alice->waitFor("id='exact'", 10s)) << "the 256 KiB stanza was not delivered";
  EXPECT_EQ(alice->joined().find("stream:error"), std::string::npos);

  alice->consume();
  alice->send(messageOfSize(kLimit + 1, "alice@localhost/web", "over", true));
  ASSERT_TRUE(alice->waitClosed(10s));
  // RFC 7395 §3.6: the stream error, then <close/>, then the WebSocket close.
  EXPECT_NE(alice->joined().find(kPolicyViolation), std::string::npos) << alice->joined().substr(0, 500);
  EXPECT_NE(alice->joined().find("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'"), std::string::npos)
      << alice->joined().substr(0, 500);
  EXPECT_EQ(alice->joined().find("id='over'"), std::string::npos) << "the oversize stanza was delivered";
}

TEST_F(SizeLimitsTest, WebSocketMegabyteStanzaIsRefusedBeforeItIsBuffered) {
  auto alice = wsLogin("web");
  std::this_thread::sleep_for(200ms);
  const Memory before = memoryOf(server_->pid());
  ASSERT_GT(before.rss, 0);

  alice->send(messageOfSize(kMegabyte, "alice@localhost/web", "huge", true));
  ASSERT_TRUE(alice->waitClosed(10s));
  EXPECT_NE(alice->joined().find(kPolicyViolation), std::string::npos) << alice->joined().substr(0, 500);
  EXPECT_EQ(alice->joined().find("id='huge'"), std::string::npos);

  const Memory after = memoryOf(server_->pid());
  EXPECT_LT(after.rss - before.rss, kMaxGrowthKb) << "VmRSS " << before.rss << " -> " << after.rss << " kB";
  EXPECT_LT(after.peak - before.peak, kMaxGrowthKb)
      << "VmHWM " << before.peak << " -> " << after.peak << " kB";
  std::printf("[ measure  ] WebSocket 1 MiB message: parleyd VmRSS %+ld kB, VmHWM %+ld kB\n",
              after.rss - before.rss, after.peak - before.peak);
}

}  // namespace
}  // namespace parley::test
