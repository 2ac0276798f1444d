// Issue 9 §6, flooding, against a real parleyd:
//  - a client sending far faster than [limits] stanza_rate is slowed down (the server stops reading
//    from it), never allowed to starve the clients that share its network thread, and loses nothing;
//  - a client that stops reading is disconnected once its output queue passes [limits]
//    write_queue_max, and nothing it was sent is lost: with XEP-0198 everything it did not
//    acknowledge goes to offline storage; without it, what never reached its socket does (the rest
//    it can still read); while it is hibernated, [modules.sm] max_queue bounds its queue the same way.
// Senders use XEP-0198 with an <r/> after their messages, so "accepted" means acknowledged (<a h/>).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integration/load_helpers.h"
#include "support/raw_client.h"
#include "support/test_server.h"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - t0).count();
}

std::string message(const std::string& to, const std::string& body) {
  return "<message to='" + to + "' type='chat' id='" + body + "'><body>" + body + "</body></message>";
}

// --- §6a: a flooder beside chatting clients on one network thread ----------------------------------

// Bytes the kernel holds for parleyd on its end of the connection from `clientPort` to `serverPort`
// (127.0.0.1), not yet read by it (what `ss` shows as Recv-Q): one sock_diag lookup of that socket.
// It grows only while parleyd does not read. Returns -1 if the lookup fails.
long serverReceiveQueue(std::uint16_t serverPort, std::uint16_t clientPort) {
  const int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -1;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } msg{};
  msg.header.nlmsg_len = sizeof msg;
  msg.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.header.nlmsg_flags = NLM_F_REQUEST;  // one socket, no dump
  msg.request.sdiag_family = AF_INET;
  msg.request.sdiag_protocol = IPPROTO_TCP;
  msg.request.idiag_states = ~0u;
  msg.request.id.idiag_sport = htons(serverPort);
  msg.request.id.idiag_dport = htons(clientPort);
  msg.request.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
  msg.request.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
  msg.request.id.idiag_cookie[0] = msg.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  long queue = -1;
  alignas(nlmsghdr) char reply[8192];
  if (::send(fd, &msg, sizeof msg, 0) == static_cast<ssize_t>(sizeof msg)) {
    const ssize_t n = recv(fd, reply, sizeof reply, 0);
    const auto* h = reinterpret_cast<const nlmsghdr*>(reply);
    if (n > 0 && NLMSG_OK(h, static_cast<std::size_t>(n)) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
      queue = static_cast<const inet_diag_msg*>(NLMSG_DATA(h))->idiag_rqueue;
  }
  close(fd);
  return queue;
}

constexpr int kRate = 200;   // [limits] stanza_rate
constexpr int kBurst = 100;  // [limits] stanza_burst
constexpr int kChatters = 4;

TestServerOptions floodOptions() {
  TestServerOptions o;
  o.logLevel = "info";
  o.networkThreads = 1;  // the flooder and everyone else share one network thread
  o.extra = "[limits]\nstanza_rate = " + std::to_string(kRate) +
            "\nstanza_burst = " + std::to_string(kBurst) + "\n";
  return o;
}

// The send time (ms since t0) carried in a chat body "chat-<from>-<seq>-<ms>".
double sentAt(const std::string& body) {
  return std::strtod(body.c_str() + body.rfind('-') + 1, nullptr);
}

TEST(FloodTest, FlooderIsHeldToItsRateLosesNothingAndOthersKeepChatting) {
  const int flood = envInt("PARLEY_FLOOD_MESSAGES", 1300);
  TestServer server(floodOptions());
  server.addUsers({"flooder", "sink", "c0", "c1", "c2", "c3"}, "secret");
  server.start();
  RawClient flooder(server.c2sPort()), sink(server.c2sPort());
  ASSERT_TRUE(flooder.login("flooder", "secret"));
  ASSERT_TRUE(sink.login("sink", "secret"));
  std::vector<std::unique_ptr<RawClient>> chatters;
  std::vector<RawClient*> readers{&sink};
  for (int i = 0; i < kChatters; ++i) {
    chatters.push_back(std::make_unique<RawClient>(server.c2sPort()));
    ASSERT_TRUE(chatters.back()->login("c" + std::to_string(i), "secret"));
    chatters.back()->consume();
    readers.push_back(chatters.back().get());
  }
  sink.consume();
  flooder.consume();

  // Chatters: each sends to the next one every 50 ms, the send time in the body; the receiver takes
  // the one-way latency (same clock: one process). First alone, then beside the flood.
  const auto t0 = Clock::now();
  std::vector<int> seq(kChatters, 0);
  std::vector<std::size_t> parsed(kChatters, 0);
  std::vector<double> quiet, loaded;  // latencies in ms
  std::vector<int> sinkOrder;         // flood message numbers in the order the sink got them
  std::vector<double> sinkArrivals;   // and when (ms since t0)
  std::size_t sinkParsed = 0;
  long unreadMax = -1;  // the most bytes from the flooder waiting in parleyd's socket
  const std::uint16_t flooderPort = flooder.localPort();
  auto nextChat = Clock::now();
  const auto pumpOnce = [&](std::vector<double>& latencies) {
    if (Clock::now() >= nextChat) {
      nextChat += 50ms;
      unreadMax = std::max(unreadMax, serverReceiveQueue(server.c2sPort(), flooderPort));
      for (int i = 0; i < kChatters; ++i)
        chatters[i]->send(message("c" + std::to_string((i + 1) % kChatters) + "@localhost/raw",
                                  "chat-" + std::to_string(i) + "-" + std::to_string(++seq[i]) + "-" +
                                      std::to_string(msSince(t0, Clock::now()))));
    }
    RawClient::pumpAll(readers, 2ms);
    const auto now = Clock::now();
    for (int i = 0; i < kChatters; ++i) {
      const auto bodies = messageBodies(chatters[i]->received(), "chat-");
      for (std::size_t k = parsed[i]; k < bodies.size(); ++k)
        latencies.push_back(msSince(t0, now) - sentAt(bodies[k]));
      parsed[i] = bodies.size();
    }
    const auto got = messageBodies(sink.received(), "flood-");
    for (std::size_t k = sinkParsed; k < got.size(); ++k) {
      const int n = std::atoi(got[k].c_str() + 6);
      sinkOrder.push_back(n);
      sinkArrivals.push_back(msSince(t0, now));
    }
    sinkParsed = got.size();
  };
  while (Clock::now() - t0 < 1s) pumpOnce(quiet);

  // The flooder writes everything at once, from its own thread (its writes block once the server stops
  // reading from it and the socket buffers are full).
  std::string all;
  for (int n = 1; n <= flood; ++n) all += message("sink@localhost/raw", "flood-" + std::to_string(n));
  const double floodStart = msSince(t0, Clock::now());
  bool written = false;
  std::thread writer([&] { written = flooder.send(all); });
  const auto deadline = Clock::now() + std::chrono::seconds(10 + flood / kRate * 2);
  while (static_cast<int>(sinkOrder.size()) < flood && Clock::now() < deadline) pumpOnce(loaded);
  writer.join();
  ASSERT_TRUE(written) << "the server stopped taking the flooder's bytes for 10 s";

  // Nothing dropped, in order, each once.
  ASSERT_EQ(static_cast<int>(sinkOrder.size()), flood) << "flood messages delivered";
  for (int n = 1; n <= flood; ++n) ASSERT_EQ(sinkOrder[n - 1], n) << "out of order at position " << n;
  // Held to the rate: after the burst the messages arrive kRate a second. Measured over the second
  // half, well past the burst.
  const double tHalf = sinkArrivals[flood / 2 - 1], tLast = sinkArrivals[flood - 1];
  const double rate = (flood - flood / 2) / ((tLast - tHalf) / 1000.0);
  const double total = (tLast - floodStart) / 1000.0;
  // The others: round trips through the same thread stay short.
  std::printf(
      "[ measure ] flooder: %d messages written at once, delivered in %.2f s; steady rate %.1f/s (limit "
      "%d/s, burst %d)\n",
      flood, total, rate, kRate, kBurst);
  std::printf("[ measure ] flooder: up to %ld of its %zu bytes left unread in parleyd's socket buffer\n",
              unreadMax, all.size());
  std::printf("[ measure ] chatters alone: %zu messages, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
              quiet.size(), percentile(quiet, 50), percentile(quiet, 99), percentile(quiet, 100));
  std::printf("[ measure ] chatters beside the flood: %zu messages, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
              loaded.size(), percentile(loaded, 50), percentile(loaded, 99), percentile(loaded, 100));
  EXPECT_GT(rate, kRate * 0.85);
  EXPECT_LT(rate, kRate * 1.10);
  EXPECT_GE(total, (flood - kBurst) / static_cast<double>(kRate) * 0.85);
  // Slowed down by not reading: what the flooder wrote waits in the kernel, not in parleyd's memory.
  EXPECT_GT(unreadMax, static_cast<long>(all.size() / 4))
      << "parleyd read the flood instead of pausing its reads";
  EXPECT_GT(loaded.size(), 100u);
  EXPECT_LT(percentile(loaded, 99), 200.0) << "the flooder starves the clients beside it";
  // The flooder was only slowed down: no stream error, still connected.
  flooder.send("<iq type='get' id='after' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT_TRUE(flooder.waitFor("id='after'", 10s)) << flooder.received();
  EXPECT_EQ(flooder.received().find("<stream:error"), std::string::npos);
}

// --- §6b: a client that stops reading ---------------------------------------------------------------

constexpr std::size_t kQueueMax = 32768;  // [limits] write_queue_max, small so the test is quick
constexpr int kSmallReceiveBuffer = 4096;
constexpr std::size_t kPadding = 4000;  // message bodies: the kernel's buffers fill after a few hundred

TestServerOptions slowReaderOptions(const std::string& more = {}, std::size_t queueMax = kQueueMax) {
  TestServerOptions o;
  o.logLevel = "info";
  o.extra =
      "[limits]\nstanza_rate = 100000\nstanza_burst = 100000\nwrite_queue_pause = 8192\nwrite_queue_max = " +
      std::to_string(queueMax) + "\n\n[modules.offline]\nmax_per_user = 100000\n" + more;
  return o;
}

// Alice: logged in with XEP-0198, sending chat messages of about 4 KB and asking for an ack after each
// batch. Everything she sends here is acknowledged before the test looks for it.
class Sender {
 public:
  explicit Sender(TestServer& server) : c_(server.c2sPort()) {
    EXPECT_TRUE(c_.login("alice", "secret"));
    c_.consume();
    c_.send("<enable xmlns='urn:xmpp:sm:3'/>");
    EXPECT_TRUE(c_.waitFor("<enabled"));
    c_.consume();
  }
  // Sends `n` more messages to `to` and waits for the server to acknowledge all of them.
  void send(const std::string& to, int n) {
    const std::string padding(kPadding, 'x');
    std::string batch;
    for (int i = 0; i < n; ++i) {
      const std::string id = "m-" + std::to_string(bodies_.size() + 1);
      bodies_.push_back(id + "-" + padding);
      batch += "<message to='" + to + "' type='chat' id='" + id + "'><body>" + bodies_.back() +
               "</body></message>";
    }
    ASSERT_TRUE(c_.send(batch + "<r xmlns='urn:xmpp:sm:3'/>"));
    const std::string want = "h='" + std::to_string(bodies_.size()) + "'";
    ASSERT_TRUE(c_.waitFor(want, 20s)) << "not acknowledged: " << c_.received().substr(0, 500);
    c_.consume();
  }
  const std::vector<std::string>& bodies() const { return bodies_; }

 private:
  RawClient c_;
  std::vector<std::string> bodies_;
};

std::string attrOf(const std::string& xml, std::string_view element, std::string_view name) {
  auto start = xml.find("<" + std::string(element));
  if (start == std::string::npos) return {};
  auto key = " " + std::string(name) + "='";
  auto pos = xml.find(key, start);
  if (pos == std::string::npos || pos > xml.find('>', start)) return {};
  pos += key.size();
  return xml.substr(pos, xml.find('\'', pos) - pos);
}

// "" when `got` is exactly `sent` (each once, in order); otherwise a short account of the difference,
// naming messages by their id ("m-17"), not their 4 KB bodies.
std::string differences(const std::vector<std::string>& got, const std::vector<std::string>& sent) {
  if (got == sent) return {};
  const auto id = [](const std::string& body) { return body.substr(0, body.find('-', 2)); };
  const std::set<std::string> gotSet(got.begin(), got.end()), sentSet(sent.begin(), sent.end());
  std::size_t missing = 0, extra = got.size() - gotSet.size();
  std::string firstMissing;
  for (const auto& b : sent)
    if (!gotSet.count(b) && missing++ == 0) firstMissing = id(b);
  for (const auto& b : gotSet) extra += sentSet.count(b) ? 0 : 1;
  std::size_t at = 0;
  while (at < got.size() && at < sent.size() && got[at] == sent[at]) ++at;
  return "got " + std::to_string(got.size()) + " of " + std::to_string(sent.size()) + " messages; " +
         std::to_string(missing) + " lost (first " + firstMissing + "), " + std::to_string(extra) +
         " duplicate or unexpected; first difference at position " + std::to_string(at);
}

// Bob logs in again: after his initial presence he gets his offline messages. Returns their bodies
// once `expected` came, or whatever came within the timeout.
std::vector<std::string> offlineMessages(TestServer& server, std::size_t expected) {
  RawClient bob(server.c2sPort());
  EXPECT_TRUE(bob.login("bob", "secret"));
  bob.consume();
  bob.send("<presence/>");
  const auto deadline = Clock::now() + 20s;
  while (messageBodies(bob.received(), "m-").size() < expected && Clock::now() < deadline) bob.pump(100ms);
  bob.waitFor("</never>", 300ms);  // anything more (a duplicate) would come now
  return messageBodies(bob.received(), "m-");
}

// Alice sends Bob batches until his session ends (or `maxMessages`); the server log says how it ended.
void sendUntilClosed(TestServer& server, Sender& alice, const std::string& closedMarker, int maxMessages) {
  while (static_cast<int>(alice.bodies().size()) < maxMessages && !server.waitForLog(closedMarker, 0ms)) {
    alice.send("bob@localhost", 25);
    if (::testing::Test::HasFatalFailure()) return;
  }
  ASSERT_TRUE(server.waitForLog(closedMarker, 5s))
      << "Bob's session did not end after " << alice.bodies().size() << " messages";
}

// The overflow as parleyd logged it: "net.output_overflow peer=… queued=N limit=M".
std::size_t overflowQueued(const std::string& logs) {
  const auto at = logs.find("net.output_overflow");
  if (at == std::string::npos) return 0;
  return std::strtoul(logs.c_str() + logs.find("queued=", at) + 7, nullptr, 10);
}

TEST(FloodTest, ReaderThatStopsIsDisconnectedAndWhatItDidNotAcknowledgeGoesOffline) {
  TestServer server(slowReaderOptions("\n[modules.sm]\nmax_queue = 100000\n"));
  server.addUsers({"alice", "bob"}, "secret");
  server.start();
  // Bob enables resumable stream management, becomes available, then never reads again.
  RawClient bob(server.c2sPort(), false, {}, kSmallReceiveBuffer);
  ASSERT_TRUE(bob.login("bob", "secret"));
  bob.consume();
  bob.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
  ASSERT_TRUE(bob.waitFor("<enabled"));
  const std::string smId = attrOf(bob.received(), "enabled", "id");
  bob.send("<presence/>");
  ASSERT_TRUE(bob.waitFor("<presence"));
  bob.consume();

  Sender alice(server);
  const auto start = Clock::now();
  sendUntilClosed(server, alice, "reason=\"output queue overflow (peer not reading)\"", 3000);
  ASSERT_FALSE(HasFatalFailure());
  const double closedAfter = msSince(start, Clock::now());
  const std::size_t beforeClose = alice.bodies().size();
  // XEP-0198 handed back what Bob had not acknowledged: then Alice goes on writing to him (offline).
  ASSERT_TRUE(server.waitForLog("sm.unacked_rerouted", 5s));
  alice.send("bob@localhost", 20);
  const std::string logs = server.logs();
  const std::size_t queued = overflowQueued(logs);
  EXPECT_GT(queued, kQueueMax);
  EXPECT_LT(queued, kQueueMax + kPadding + 200) << "the queue went past the limit by more than one message";
  EXPECT_EQ(logs.find("c2s.hibernated"), std::string::npos)
      << "a reader that stopped is not a lost connection";

  // What reached Bob's socket before the close he can still read; none of it was acknowledged.
  bob.waitClosed(10s);
  const auto live = messageBodies(bob.received(), "m-");
  // Resuming is refused (the session ended for good), with the h of what the session handled.
  RawClient again(server.c2sPort());
  again.openStream();
  ASSERT_TRUE(again.startTls());
  again.openStream();
  ASSERT_TRUE(again.authenticate("bob", "secret", "SCRAM-SHA-256"));
  again.openStream();
  again.consume();
  again.send("<resume xmlns='urn:xmpp:sm:3' previd='" + smId + "' h='0'/>");
  ASSERT_TRUE(again.waitFor("</failed>"));
  EXPECT_NE(again.received().find("<item-not-found"), std::string::npos) << again.received();

  // Logging in again, Bob gets every message from offline storage, each once and in order.
  const auto& sent = alice.bodies();
  const auto offline = offlineMessages(server, sent.size());
  std::printf(
      "[ measure ] stalled reader with XEP-0198: disconnected after %zu messages (%.0f ms) with %zu bytes "
      "queued (write_queue_max %zu); it had read 0 and could still read %zu from its socket (none "
      "acknowledged); %zu messages sent, %zu from offline storage\n",
      beforeClose, closedAfter, queued, kQueueMax, live.size(), sent.size(), offline.size());
  EXPECT_EQ(differences(offline, sent), "")
      << "offline storage must hold every unacknowledged message once, in order";
  std::set<std::string> found(offline.begin(), offline.end());
  std::size_t lost = 0;
  for (const auto& b : sent) lost += found.count(b) ? 0 : 1;
  EXPECT_EQ(lost, 0u);
}

TEST(FloodTest, ReaderWithoutStreamManagementGetsWhatNeverReachedItsSocketFromOfflineStorage) {
  TestServer server(slowReaderOptions());
  server.addUsers({"alice", "bob"}, "secret");
  server.start();
  RawClient bob(server.c2sPort(), false, {}, kSmallReceiveBuffer);
  ASSERT_TRUE(bob.login("bob", "secret"));
  bob.send("<presence/>");
  ASSERT_TRUE(bob.waitFor("<presence"));
  bob.consume();

  Sender alice(server);
  sendUntilClosed(server, alice, "reason=\"output queue overflow (peer not reading)\"", 3000);
  ASSERT_FALSE(HasFatalFailure());
  const std::size_t beforeClose = alice.bodies().size();
  ASSERT_TRUE(server.waitForLog("c2s.unsent_handed_back", 5s)) << "the unsent stanzas were dropped";
  alice.send("bob@localhost", 20);
  const std::size_t queued = overflowQueued(server.logs());
  EXPECT_GT(queued, kQueueMax);

  // Bob reads what the kernel still holds for him; it ends where the server stopped writing.
  ASSERT_TRUE(bob.waitClosed(10s));
  const auto live = messageBodies(bob.received(), "m-");
  const auto offline = offlineMessages(server, alice.bodies().size() - live.size());
  const auto& sent = alice.bodies();
  std::printf(
      "[ measure ] stalled reader without XEP-0198: disconnected after %zu messages with %zu bytes queued "
      "(write_queue_max %zu); %zu read later from its socket + %zu from offline storage = %zu of %zu sent\n",
      beforeClose, queued, kQueueMax, live.size(), offline.size(), live.size() + offline.size(), sent.size());
  // Exactly the sent messages: the first ones on the old socket, the rest from offline storage, none
  // twice (the server knows to the byte what it wrote), in order.
  std::vector<std::string> both = live;
  both.insert(both.end(), offline.begin(), offline.end());
  EXPECT_EQ(differences(both, sent), "");
  EXPECT_GT(offline.size(), 20u) << "nothing was queued when it overflowed?";
  EXPECT_GT(live.size(), 0u);
}

// A room's fan-out leaves in one batch of writes (net/batched_writes.h; through io_uring where the
// kernel has it). Carol sends 4 KB room messages; Alice reads everything; Bob (a 4 KB receive buffer)
// stops reading, so in the middle of a batch his socket takes part of a record, or nothing.
class StalledRoomOccupant {
 public:
  explicit StalledRoomOccupant(std::size_t queueMax) : server_(slowReaderOptions({}, queueMax)) {
    server_.addUsers({"alice", "bob", "carol"}, "secret");
    server_.start();
    carolClient_ = std::make_unique<RawClient>(server_.c2sPort());
    aliceClient_ = std::make_unique<RawClient>(server_.c2sPort());
    bobClient_ = std::make_unique<RawClient>(server_.c2sPort(), false, std::string(), kSmallReceiveBuffer);
    EXPECT_TRUE(carol().login("carol", "secret"));
    join(carol(), "carol");  // creates the room: an instant room (XEP-0045 §10.1.2)
    carol().send("<iq type='set' to='" + room_ +
                 "' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'>" +
                 "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
    EXPECT_TRUE(carol().waitFor("id='cfg'"));
    EXPECT_EQ(carol().received().find("type='error'"), std::string::npos) << carol().received();
    EXPECT_TRUE(bob().login("bob", "secret"));
    join(bob(), "bob");
    EXPECT_TRUE(alice().login("alice", "secret"));
    join(alice(), "alice");
    carol().consume();
  }
  // Carol sends room messages 5 at a time until `until()` or `max`; Alice and Carol read each batch
  // before the next, so only Bob's output grows.
  template <class Until>
  void send(std::size_t max, Until until) {
    const std::string padding(kPadding, 'x');
    while (sent.size() < max && !until()) {
      std::string batch;
      for (int i = 0; i < 5; ++i) {
        sent.push_back("m-" + std::to_string(sent.size() + 1) + "-" + padding);
        batch += "<message to='" + room_ + "' type='groupchat'><body>" + sent.back() + "</body></message>";
      }
      ASSERT_TRUE(carol().send(batch));
      const auto deadline = Clock::now() + 10s;
      while ((messageBodies(carol().received(), "m-").size() < sent.size() ||
              messageBodies(alice().received(), "m-").size() < sent.size()) &&
             Clock::now() < deadline)
        RawClient::pumpAll({&carol(), &alice()}, 50ms);
    }
  }
  // Every message reached both readers, once and in order.
  void expectReadersGotEverything() {
    EXPECT_EQ(differences(messageBodies(carol().received(), "m-"), sent), "") << "Carol (the sender)";
    EXPECT_EQ(differences(messageBodies(alice().received(), "m-"), sent), "") << "Alice";
  }

  TestServer& server() { return server_; }
  RawClient& carol() { return *carolClient_; }
  RawClient& alice() { return *aliceClient_; }
  RawClient& bob() { return *bobClient_; }
  std::vector<std::string> sent;

 private:
  TestServer server_;
  std::unique_ptr<RawClient> carolClient_, aliceClient_, bobClient_;

  void join(RawClient& c, const std::string& nick) {
    c.consume();
    c.send("<presence to='" + room_ + "/" + nick +
           "'><x xmlns='http://jabber.org/protocol/muc'/></presence>");
    EXPECT_TRUE(c.waitFor("status code='110'")) << nick << " did not enter: " << c.received();
    c.consume();
  }
  std::string room_ = "flood@muc.localhost";
};

// Bob falls 3 MB behind (more than the kernel's buffers hold, less than his queue's limit), then reads:
// he gets every message once and in order, so the record his socket took only part of went on from
// where it stopped (a record sent twice or cut short would break his TLS stream there).
TEST(FloodTest, RoomOccupantThatFallsBehindGetsEveryMessageOnceItReadsAgain) {
  StalledRoomOccupant r(8 << 20);
  r.send(750, [] { return false; });
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  r.expectReadersGotEverything();
  EXPECT_FALSE(r.server().waitForLog("net.output_overflow", 0ms));
  const auto deadline = Clock::now() + 20s;
  while (messageBodies(r.bob().received(), "m-").size() < r.sent.size() && Clock::now() < deadline)
    r.bob().pump(100ms);
  EXPECT_EQ(differences(messageBodies(r.bob().received(), "m-"), r.sent), "");
}

// Bob never reads again: he is dropped once his queue passes the limit, the others get every message,
// and what he can still read is an exact prefix.
TEST(FloodTest, RoomOccupantThatStopsReadingIsDroppedAndTheOthersGetEveryMessage) {
  StalledRoomOccupant r(kQueueMax);
  const std::string closed = "reason=\"output queue overflow (peer not reading)\"";
  r.send(1000, [&] { return r.server().waitForLog(closed, 0ms); });
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  ASSERT_TRUE(r.server().waitForLog(closed, 5s)) << "Bob stayed after " << r.sent.size() << " messages";
  r.expectReadersGotEverything();
  ASSERT_TRUE(r.bob().waitClosed(10s));
  const auto live = messageBodies(r.bob().received(), "m-");
  std::printf("[ measure ] stalled room occupant: dropped after %zu room messages; it could still read %zu\n",
              r.sent.size(), live.size());
  EXPECT_GT(live.size(), 0u);
  ASSERT_LE(live.size(), r.sent.size());
  EXPECT_EQ(differences(live, std::vector<std::string>(r.sent.begin(), r.sent.begin() + live.size())), "");
}

TEST(FloodTest, OverflowWhileHibernatedEndsTheSessionAndEverythingGoesOffline) {
  // A hibernated session has no connection, so no write queue: [modules.sm] max_queue bounds it.
  TestServer server(slowReaderOptions("\n[modules.sm]\nmax_queue = 20\n"));
  server.addUsers({"alice", "bob"}, "secret");
  server.start();
  RawClient bob(server.c2sPort());
  ASSERT_TRUE(bob.login("bob", "secret"));
  bob.consume();
  bob.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
  ASSERT_TRUE(bob.waitFor("<enabled"));
  const std::string smId = attrOf(bob.received(), "enabled", "id");
  bob.send("<presence/>");
  ASSERT_TRUE(bob.waitFor("<presence"));
  bob.drop();  // the phone loses its network
  ASSERT_TRUE(server.waitForLog("c2s.hibernated"));

  Sender alice(server);
  sendUntilClosed(server, alice, "reason=\"terminated while hibernated\"", 200);
  ASSERT_FALSE(HasFatalFailure());
  const std::size_t beforeClose = alice.bodies().size();
  ASSERT_TRUE(server.waitForLog("sm.unacked_rerouted", 5s));
  alice.send("bob@localhost", 20);
  EXPECT_NE(server.logs().find("sm.queue_full"), std::string::npos);

  auto c = std::make_unique<RawClient>(server.c2sPort());
  c->openStream();
  ASSERT_TRUE(c->startTls());
  c->openStream();
  ASSERT_TRUE(c->authenticate("bob", "secret", "SCRAM-SHA-256"));
  c->openStream();
  c->consume();
  c->send("<resume xmlns='urn:xmpp:sm:3' previd='" + smId + "' h='1'/>");
  ASSERT_TRUE(c->waitFor("</failed>"));
  EXPECT_NE(c->received().find("<item-not-found"), std::string::npos) << c->received();
  c.reset();

  const auto offline = offlineMessages(server, alice.bodies().size());
  std::printf(
      "[ measure ] hibernated session: ended when its queue passed max_queue 20 (after %zu messages); %zu "
      "sent, %zu from offline storage\n",
      beforeClose, alice.bodies().size(), offline.size());
  EXPECT_EQ(differences(offline, alice.bodies()), "");
  EXPECT_LE(beforeClose, 30u);
}

}  // namespace
}  // namespace parley::test
