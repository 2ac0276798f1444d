// Issue 9 §8, graceful restart: SIGTERM while 500 authenticated sessions are live and messages are in
// flight between them. Every session must get <system-shutdown/> within 10 s of the signal, parleyd
// must exit 0, and after a restart every message the server acknowledged must be found: read live
// before the shutdown, delivered from offline storage, or in the recipient's archive (XEP-0313). As
// acknowledgements wait for storage, many messages in flight are not acknowledged yet at the signal: so
// also every message the server archived (it took it) must have reached its recipient, live or from
// offline storage, and none twice.
//
// The sessions (RawClient over STARTTLS, SCRAM-SHA-256, one event loop in the test): 100 senders with
// XEP-0198 (an <r/> after every message, so "accepted" means acknowledged), 100 available receivers
// without it (what was still queued for them must reach offline storage, not vanish), 300 bystanders
// (half with XEP-0198), and 50 accounts that stay offline. Each sender writes to a random receiver or
// offline account every 100 ms (about 1,000 messages a second in all) and goes on writing after the
// signal until its stream is closed.
//
// PARLEY_SHUTDOWN_SESSIONS (default 500), PARLEY_SHUTDOWN_LOAD_MS (default 1500) and
// PARLEY_SHUTDOWN_INTERVAL_MS (default 100, per sender) scale it.
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/resource.h>

#include "integration/load_helpers.h"
#include "support/raw_client.h"
#include "support/test_server.h"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kPassword = "shutdown-secret";
constexpr const char* kShutdown = "<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>";

double msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

TestServerOptions shutdownOptions() {
  TestServerOptions o;
  o.logLevel = "info";
  o.extra =
      "[limits]\nconnections_per_ip = 5000\nunauthenticated_per_ip = 5000\nstanza_rate = 10000\nstanza_burst "
      "= 10000\n";
  return o;
}

struct Client {
  std::string user;
  std::unique_ptr<RawClient> c;
  bool sender = false, receiver = false, sm = false;
  std::size_t scanned = 0;  // how far received() was searched for <system-shutdown/>
  double shutdownAt = -1;   // ms after SIGTERM
  bool writable = true;     // senders: stop once the server closed the stream
  int sent = 0;
};

// Logs every client in, `threads` at a time (a login is a TLS handshake and SCRAM on both sides).
void loginAll(std::vector<Client>& clients, std::uint16_t port, unsigned threads) {
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (std::size_t i = t; i < clients.size(); i += threads) {
        auto& cl = clients[i];
        cl.c = std::make_unique<RawClient>(port);
        if (!cl.c->login(cl.user, kPassword)) continue;
        if (cl.sm) {
          cl.c->consume();
          cl.c->send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
          cl.c->waitFor("<enabled");
        }
        if (cl.receiver) {
          cl.c->send("<presence/>");
          cl.c->waitFor("<presence");
        }
        cl.c->consume();
      }
    });
  for (auto& w : workers) w.join();
}

// Every session is a socket in this process and one in parleyd (which inherits the limit): raises the
// soft limit on open files as far as needed, if the hard limit allows.
bool enoughFiles(rlim_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= needed) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) return false;
  limit.rlim_cur = needed;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

TEST(ShutdownTest, FiveHundredSessionsGetSystemShutdownAndNothingAcknowledgedIsLost) {
  const int sessions = envInt("PARLEY_SHUTDOWN_SESSIONS", 500);
  ASSERT_TRUE(enoughFiles(static_cast<rlim_t>(sessions) + 256))
      << "ulimit -n is below " << sessions + 256 << " and its hard limit does not allow raising it";
  const int senders = sessions / 5, receivers = sessions / 5, offlineUsers = sessions / 10;
  const auto loadTime = std::chrono::milliseconds(envInt("PARLEY_SHUTDOWN_LOAD_MS", 1500));
  const auto interval = std::chrono::milliseconds(envInt("PARLEY_SHUTDOWN_INTERVAL_MS", 100));
  TestServer server(shutdownOptions());
  std::vector<Client> clients;
  std::vector<std::string> users, targets;  // targets: receivers and offline accounts
  for (int i = 0; i < sessions; ++i) {
    Client cl;
    if (i < senders) {
      cl.user = "s" + std::to_string(i);
      cl.sender = cl.sm = true;
    } else if (i < senders + receivers) {
      cl.user = "r" + std::to_string(i - senders);
      cl.receiver = true;
      targets.push_back(cl.user);
    } else {
      cl.user = "b" + std::to_string(i - senders - receivers);
      cl.sm = i % 2 == 0;
    }
    users.push_back(cl.user);
    clients.push_back(std::move(cl));
  }
  for (int i = 0; i < offlineUsers; ++i) {
    users.push_back("o" + std::to_string(i));
    targets.push_back(users.back());
  }
  auto t = Clock::now();
  server.addUsers(users, kPassword);
  const double addMs = msBetween(t, Clock::now());
  server.start();
  t = Clock::now();
  loginAll(clients, server.c2sPort(), 4);
  const double loginMs = msBetween(t, Clock::now());
  std::vector<RawClient*> all;
  for (auto& cl : clients) {
    ASSERT_TRUE(cl.c && cl.c->ok() && !cl.c->closed()) << cl.user << " did not log in";
    all.push_back(cl.c.get());
  }
  std::printf("[ measure ] %zu accounts created in %.0f ms; %d sessions logged in in %.0f ms\n", users.size(),
              addMs, sessions, loginMs);

  // Load, then SIGTERM in the middle of it; senders go on until their stream is closed.
  std::mt19937 rng(std::random_device{}());
  std::vector<std::vector<std::string>> sentTo(clients.size());  // per sender: body → target, in order
  auto nextRound = Clock::now();
  const auto loadEnd = Clock::now() + loadTime;
  Clock::time_point signalled{};
  bool signalSent = false;
  const auto scanShutdown = [&](Client& cl) {
    if (cl.shutdownAt >= 0) return;
    const auto& got = cl.c->received();
    if (got.find(kShutdown, cl.scanned > 80 ? cl.scanned - 80 : 0) != std::string::npos)
      cl.shutdownAt = msBetween(signalled, Clock::now());
    cl.scanned = got.size();
  };
  for (;;) {
    const auto now = Clock::now();
    if (!signalSent && now >= loadEnd) {
      server.sendSigterm();
      signalled = Clock::now();
      signalSent = true;
      std::size_t sent = 0, acked = 0;
      for (std::size_t i = 0; i < clients.size(); ++i) {
        if (!clients[i].sender) continue;
        sent += sentTo[i].size();
        acked += lastAck(clients[i].c->received());
      }
      std::printf("[ measure ] at the signal: %zu messages sent, %zu acknowledged\n", sent, acked);
    }
    if (now >= nextRound) {
      nextRound += interval;
      for (std::size_t i = 0; i < clients.size(); ++i) {
        auto& cl = clients[i];
        if (!cl.sender || !cl.writable || cl.c->closed() || cl.shutdownAt >= 0) continue;
        const std::string& to = targets[rng() % targets.size()];
        const std::string body = "sd-" + cl.user + "-" + std::to_string(++cl.sent) + "-" + to;
        sentTo[i].push_back(body);
        cl.writable = cl.c->send("<message to='" + to + "@localhost' type='chat' id='" + body + "'><body>" +
                                 body + "</body></message><r xmlns='urn:xmpp:sm:3'/>");
      }
    }
    RawClient::pumpAll(all, 5ms);
    if (signalSent) {
      bool done = true;
      for (auto& cl : clients) {
        scanShutdown(cl);
        if (!cl.c->closed()) done = false;
      }
      if (done || Clock::now() - signalled > 20s) break;
    }
  }
  const int status = server.waitForExit(30s);
  const double exitMs = msBetween(signalled, Clock::now());

  // Every session got <system-shutdown/>, within 10 s.
  std::vector<double> times;
  int missing = 0;
  for (auto& cl : clients) {
    scanShutdown(cl);
    if (cl.shutdownAt < 0)
      ++missing;
    else
      times.push_back(cl.shutdownAt);
  }
  EXPECT_EQ(status, 0) << "parleyd did not exit cleanly";
  EXPECT_EQ(missing, 0) << missing << " sessions got no <system-shutdown/>";
  EXPECT_LT(percentile(times, 100), 10000.0);
  std::printf(
      "[ measure ] SIGTERM with %d sessions: <system-shutdown/> received by %zu, p50 %.0f ms, p99 %.0f ms, "
      "last %.0f ms after the signal; parleyd exited %d after %.0f ms\n",
      sessions, times.size(), percentile(times, 50), percentile(times, 99), percentile(times, 100), status,
      exitMs);

  // What was acknowledged, and what the receivers read before the end.
  std::set<std::string> acknowledged, live;
  std::size_t sentTotal = 0;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    auto& cl = clients[i];
    if (cl.sender) {
      const std::uint32_t h = lastAck(cl.c->received());
      ASSERT_LE(h, sentTo[i].size()) << cl.user;
      for (std::uint32_t k = 0; k < h; ++k) acknowledged.insert(sentTo[i][k]);
      sentTotal += sentTo[i].size();
    }
    if (cl.receiver)
      for (auto& b : messageBodies(cl.c->received(), "sd-")) live.insert(std::move(b));
  }
  clients.clear();  // the first 500 connections are closed before the next 150 open
  all.clear();
  ASSERT_GT(acknowledged.size(), 0u);

  // Restart: every target logs in (offline messages follow the initial presence), then pages its archive.
  server.start();
  std::vector<Client> readers;
  for (const auto& u : targets) {
    readers.emplace_back();
    readers.back().user = u;
  }
  loginAll(readers, server.c2sPort(), 4);
  std::vector<RawClient*> rs;
  for (auto& r : readers) {
    ASSERT_TRUE(r.c && r.c->ok()) << r.user;
    r.c->send("<presence/>");
    rs.push_back(r.c.get());
  }
  // Offline messages: until nothing more comes for a second.
  std::size_t seenBytes = 0;
  auto quietSince = Clock::now();
  const auto offlineDeadline = Clock::now() + 30s;
  while (Clock::now() - quietSince < 1s && Clock::now() < offlineDeadline) {
    RawClient::pumpAll(rs, 50ms);
    std::size_t bytes = 0;
    for (auto* r : rs) bytes += r->received().size();
    if (bytes != seenBytes) {
      seenBytes = bytes;
      quietSince = Clock::now();
    }
  }
  std::set<std::string> offline, archived;
  for (auto* r : rs) {
    for (auto& b : messageBodies(r->received(), "sd-")) offline.insert(std::move(b));
    r->consume();
  }
  // The archive, one page of up to 500 each (paged further when incomplete).
  std::vector<std::string> after(readers.size());
  std::vector<bool> complete(readers.size(), false);
  for (int page = 0; page < 20; ++page) {
    bool pending = false;
    for (std::size_t i = 0; i < readers.size(); ++i) {
      if (complete[i]) continue;
      pending = true;
      rs[i]->consume();
      rs[i]->send(
          "<iq type='set' id='mam" + std::to_string(page) +
          "'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>500</max>" +
          (after[i].empty() ? std::string() : "<after>" + after[i] + "</after>") + "</set></query></iq>");
    }
    if (!pending) break;
    const auto deadline = Clock::now() + 30s;
    for (;;) {
      bool waiting = false;
      for (std::size_t i = 0; i < readers.size(); ++i)
        if (!complete[i] && rs[i]->received().find("</fin>") == std::string::npos) waiting = true;
      if (!waiting || Clock::now() > deadline) break;
      RawClient::pumpAll(rs, 50ms);
    }
    for (std::size_t i = 0; i < readers.size(); ++i) {
      if (complete[i]) continue;
      const std::string& got = rs[i]->received();
      ASSERT_NE(got.find("</fin>"), std::string::npos) << readers[i].user << ": no archive answer";
      for (auto& b : messageBodies(got, "sd-")) archived.insert(std::move(b));
      if (got.find("complete='true'") != std::string::npos)
        complete[i] = true;
      else
        after[i] = elementText(got, "last");
    }
  }

  // 0 lost: each acknowledged message was read live, came from offline storage, or is archived. And
  // the stronger form: the recipient got it (live or from offline storage) without consulting the
  // archive; for an account that was offline all along, from offline storage.
  std::size_t lost = 0, notDelivered = 0, offlineMissing = 0, toOffline = 0;
  std::string firstLost;
  for (const auto& body : acknowledged) {
    const bool inLive = live.count(body) > 0, inOffline = offline.count(body) > 0;
    if (!inLive && !inOffline && !archived.count(body)) {
      if (firstLost.empty()) firstLost = body;
      ++lost;
    }
    if (!inLive && !inOffline) ++notDelivered;
    if (body.substr(body.rfind('-') + 1, 1) == "o") {
      ++toOffline;
      if (!inOffline) ++offlineMissing;
    }
  }
  // Beyond what was acknowledged: every message the server took (it is in the recipient's archive,
  // written when the server accepted it) reached the recipient, live or from offline storage; and none
  // came twice (live before the shutdown and again from offline storage).
  std::size_t archivedUndelivered = 0, twice = 0;
  std::string firstUndelivered;
  for (const auto& body : archived)
    if (!live.count(body) && !offline.count(body)) {
      if (firstUndelivered.empty()) firstUndelivered = body;
      ++archivedUndelivered;
    }
  for (const auto& body : live) twice += offline.count(body);
  std::printf(
      "[ measure ] %zu messages sent, %zu acknowledged (%zu to offline accounts); found: %zu read live "
      "before the shutdown, %zu from offline storage after the restart, %zu in archives; acknowledged "
      "lost %zu; archived but not delivered %zu; delivered twice %zu\n",
      sentTotal, acknowledged.size(), toOffline, live.size(), offline.size(), archived.size(), lost,
      archivedUndelivered, twice);
  EXPECT_EQ(lost, 0u) << "first: " << firstLost;
  EXPECT_EQ(notDelivered, 0u) << "acknowledged messages found only in the archive";
  EXPECT_EQ(offlineMissing, 0u) << "acknowledged messages to offline accounts missing from offline storage";
  EXPECT_EQ(archivedUndelivered, 0u) << "accepted (archived) but never delivered, first: "
                                     << firstUndelivered;
  EXPECT_EQ(twice, 0u) << "delivered live and again from offline storage";
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace parley::test
