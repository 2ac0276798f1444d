// XEP-0012 last activity: server uptime, and an account's last logout for those allowed to see it.
#include <memory>
#include <utility>

#include "integration/module_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kNs = "jabber:iq:last";

std::string lastQuery(const std::string& id, const std::string& to) {
  return "<iq type='get' id='" + id + "'" + (to.empty() ? "" : " to='" + to + "'") +
         "><query xmlns='jabber:iq:last'/></iq>";
}

class LastTest : public ModuleTest {
 protected:
  // Alice and Bob online, and Bob allowed to see Alice's presence (so he may ask for her last activity).
  std::pair<std::unique_ptr<XmppClient>, std::unique_ptr<XmppClient>> aliceVisibleToBob() {
    auto alice = client("alice", "a");
    auto bob = client("bob", "b");
    alice->becomeAvailable();
    bob->becomeAvailable();
    approveSubscription(*bob, *alice, "alice@localhost", "bob@localhost");
    return {std::move(alice), std::move(bob)};
  }
};

TEST_F(LastTest, ServerUptime) {
  auto alice = client("alice", "a");
  EXPECT_TRUE(serverHasFeature(*alice, kNs));
  auto reply = alice->request(lastQuery("l1", "localhost"), "l1");
  ASSERT_TRUE(isResult(reply));
  const auto* q = reply->child("query", kNs);
  ASSERT_TRUE(q);
  int seconds = std::stoi(std::string(q->attr("seconds")));
  EXPECT_GE(seconds, 0);
  EXPECT_LT(seconds, 120);
}

TEST_F(LastTest, OnlineAccountIsZeroSecondsForItselfAndApprovedContacts) {
  auto alice = client("alice", "a");
  auto bob = client("bob", "b");
  alice->becomeAvailable();
  bob->becomeAvailable();
  // Alice asks about herself.
  auto self = alice->request(lastQuery("l1", "alice@localhost"), "l1");
  ASSERT_TRUE(isResult(self));
  EXPECT_EQ(self->child("query", kNs)->attr("seconds"), "0");
  // Bob has no subscription yet (§4: forbidden).
  EXPECT_TRUE(isError(bob->request(lastQuery("l2", "alice@localhost"), "l2"), "forbidden"));
  // Once Alice approved his subscription, he may ask.
  approveSubscription(*bob, *alice, "alice@localhost", "bob@localhost");
  auto allowed = bob->request(lastQuery("l3", "alice@localhost"), "l3");
  ASSERT_TRUE(isResult(allowed));
  EXPECT_EQ(allowed->child("query", kNs)->attr("seconds"), "0");
}

TEST_F(LastTest, OfflineAccountReportsTimeSinceLogoutWithStatus) {
  {
    auto [alice, bob] = aliceVisibleToBob();
    alice->send("<presence><status>gone fishing</status></presence>");
    alice->pump(200ms);
    alice->disconnect();
    ASSERT_TRUE(server.waitForLog("c2s.closed"));
  }
  auto bob = client("bob", "b2");
  // The logout is written on the blocking pool; ask until it is there.
  xml::ElementPtr reply;
  for (int i = 0; i < 20; ++i) {
    reply = bob->request(lastQuery("l" + std::to_string(i), "alice@localhost"), "l" + std::to_string(i));
    if (isResult(reply)) break;
    bob->pump(100ms);
  }
  ASSERT_TRUE(isResult(reply));
  const auto* q = reply->child("query", kNs);
  ASSERT_TRUE(q);
  int seconds = std::stoi(std::string(q->attr("seconds")));
  EXPECT_GE(seconds, 0);
  EXPECT_LT(seconds, 60);
  EXPECT_EQ(q->text(), "gone fishing");

  // Carol, offline and never approved by Alice: forbidden (read from the stored roster).
  auto carol = client("carol", "c");
  EXPECT_TRUE(isError(carol->request(lastQuery("c1", "alice@localhost"), "c1"), "forbidden"));
  // An account that does not exist.
  EXPECT_TRUE(isError(carol->request(lastQuery("c2", "nobody@localhost"), "c2"), "service-unavailable"));
}

// Logins and logouts are written behind, in batches (ActivityWriter): the sessions a shutdown ends are
// logouts too, and they are in storage before it closes.
TEST_F(LastTest, LogoutsAtShutdownAreWritten) {
  {
    auto clients = aliceVisibleToBob();
    ASSERT_EQ(server.stop(), 0);
  }
  server.start();
  auto bob = client("bob", "b2");
  auto reply = bob->request(lastQuery("r1", "alice@localhost"), "r1");
  ASSERT_TRUE(isResult(reply)) << "item-not-found: the logout was not written";
  EXPECT_LT(std::stoi(std::string(reply->child("query", kNs)->attr("seconds"))), 60);
}

}  // namespace

}  // namespace parley::test
