// A measurement, not a check (DISABLED_ unless asked for): what parleyd pays to fan a PEP publication
// out to N subscribed contacts (XEP-0163 §4.3). N accounts share presence with Alice (roster rows
// written straight into the database), each logs in with a raw TLS client and sends presence with the
// same XEP-0115 caps (+notify for the node; the first answers the server's disco#info, the others hit
// the cache); Alice publishes K items; every client must receive all K notifications. parleyd's CPU time
// (utime+stime from /proc) is compared with K publications to a whitelist node (same storage work, no
// fan-out).
//
//   PEP_BENCH_SUBSCRIBERS=200 PEP_BENCH_ITEMS=50 ./tests/parley_integration_tests
//     --gtest_also_run_disabled_tests --gtest_filter='PepFanoutBench.*'
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "server/util/crypto.h"
#include "storage/roster_store.h"
#include "support/raw_client.h"
#include "support/test_server.h"

namespace parley::test {
namespace {

int envInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : def;
}

// utime + stime of a process, in seconds.
double cpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

TEST(PepFanoutBench, DISABLED_NotificationFanOut) {
  const int n = envInt("PEP_BENCH_SUBSCRIBERS", 200);
  const int k = envInt("PEP_BENCH_ITEMS", 50);
  const std::string node = "urn:xmpp:bench";
  TestServerOptions o;
  o.logLevel = "info";
  o.extra =
      "[limits]\nconnections_per_ip = 100000\nunauthenticated_per_ip = 100000\nstanza_rate = 100000\n"
      "stanza_burst = 100000\n[auth]\nfailures_per_account_and_ip = 1000000\nfailures_per_ip = 1000000\n";
  TestServer server(o);
  server.addUser("alice", "pw");
  for (int i = 0; i < n; ++i) server.addUser("u" + std::to_string(i), "pw");
  {
    auto db = storage::openDatabase(server.storageConfig());
    storage::RosterStore roster(*db);
    for (int i = 0; i < n; ++i) {
      const std::string u = "u" + std::to_string(i);
      storage::RosterItem theirs;
      theirs.contact = u + "@localhost";
      theirs.subscription = storage::Subscription::From;
      roster.put("localhost", "alice", theirs);
      storage::RosterItem ours;
      ours.contact = "alice@localhost";
      ours.subscription = storage::Subscription::To;
      roster.put("localhost", u, ours);
    }
  }
  server.start();

  // One capability set for every subscriber (XEP-0115 §5.1).
  const std::string features[] = {"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
                                  node + "+notify"};
  std::string s = "client/phone//bench<";
  std::string info = "<identity category='client' type='phone' name='bench'/>";
  for (const auto& f : features) {
    s += f + "<";
    info += "<feature var='" + f + "'/>";
  }
  const std::string ver = util::base64Encode(util::hash(util::HashAlg::Sha1, s));
  const std::string presence = "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='bench' ver='" +
                               ver + "'/></presence>";

  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<RawClient>(server.c2sPort());
    ASSERT_TRUE(c->login("u" + std::to_string(i), "pw")) << i;
    c->consume();
    c->send(presence);
    if (i == 0) {
      // The server asks the first one what the ver means.
      ASSERT_TRUE(c->waitFor("pep-caps-"));
      std::string r = c->received();
      auto pos = r.find("pep-caps-");
      std::string id = r.substr(pos, r.find_first_of("'\"", pos) - pos);
      c->send("<iq type='result' to='localhost' id='" + id +
              "'><query xmlns='http://jabber.org/protocol/disco#info' node='bench#" + ver + "'>" + info +
              "</query></iq>");
    }
    clients.push_back(std::move(c));
  }
  RawClient alice(server.c2sPort());
  ASSERT_TRUE(alice.login("alice", "pw"));
  alice.send("<presence/>");
  ASSERT_TRUE(alice.waitFor("<presence"));
  for (auto& c : clients) c->waitFor("<presence from='alice@", std::chrono::milliseconds(200));
  for (auto& c : clients) c->consume();

  auto publishAll = [&](const std::string& toNode, const std::string& tag, const std::string& options) {
    alice.consume();
    for (int i = 0; i < k; ++i)
      alice.send("<iq type='set' id='" + tag + std::to_string(i) + "'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                 "<publish node='" + toNode + "'><item id='" + tag + std::to_string(i) +
                 "x'><entry xmlns='urn:x:bench'>" + std::string(200, 'b') + "</entry></item></publish>" + options +
                 "</pubsub></iq>");
    return alice.waitFor(tag + std::to_string(k - 1) + "'", std::chrono::seconds(120)) ||
           alice.waitFor(tag + std::to_string(k - 1) + "\"", std::chrono::seconds(1));
  };

  // Baseline: the same publications to a node nobody may see (whitelist: no fan-out).
  double cpu0 = cpuSeconds(server.pid());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(publishAll("urn:xmpp:private-bench", "w",
                         "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
                         "type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
                         "<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>"));
  double baseCpu = cpuSeconds(server.pid()) - cpu0;
  double baseWall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  cpu0 = cpuSeconds(server.pid());
  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(publishAll(node, "f", ""));
  const std::string last = "f" + std::to_string(k - 1) + "x";
  int complete = 0;
  for (auto& c : clients)
    if (c->waitFor(last, std::chrono::seconds(120))) ++complete;
  double fanCpu = cpuSeconds(server.pid()) - cpu0;
  double fanWall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::size_t received = 0;
  for (auto& c : clients) received += c->count("<message");
  EXPECT_EQ(complete, n);
  EXPECT_EQ(received, static_cast<std::size_t>(n) * static_cast<std::size_t>(k));

  const double notifications = static_cast<double>(n) * k;
  std::printf(
      "pep fan-out: %d subscribers x %d items = %.0f notifications\n"
      "  baseline (whitelist, no fan-out): %.3f s CPU, %.3f s wall for %d publishes (%.0f us CPU each)\n"
      "  fan-out: %.3f s CPU, %.3f s wall (%.1f us CPU per notification beyond the baseline, %.0f "
      "notifications/s)\n",
      n, k, notifications, baseCpu, baseWall, k, baseCpu * 1e6 / k, fanCpu, fanWall,
      (fanCpu - baseCpu) * 1e6 / notifications, notifications / fanWall);
}

}  // namespace
}  // namespace parley::test
