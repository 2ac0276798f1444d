#include "storage/roster_store.h"

#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

RosterItem fullItem(std::string contact) {
  RosterItem item;
  item.contact = std::move(contact);
  item.name = "Jüliet 🌹";
  item.groups = {"Friends", "Familie", "友達"};
  item.subscription = Subscription::Both;
  item.askOut = true;
  item.pendingIn = true;
  item.pendingInStanza = "<presence xmlns='jabber:client' type='subscribe' from='juliet@example.com'/>";
  item.approved = true;
  item.visible = false;
  return item;
}

TEST_P(StorageConformance, RosterPutGetRoundTrip) {
  RosterStore roster(db());
  RosterItem item = fullItem("juliet@example.com");
  roster.put("example.org", "romeo", item);
  EXPECT_EQ(roster.get("example.org", "romeo", "juliet@example.com"), item);
  RosterItem plain;
  plain.contact = "nurse@example.com";
  roster.put("example.org", "romeo", plain);
  EXPECT_EQ(roster.get("example.org", "romeo", "nurse@example.com"), plain);
}

TEST_P(StorageConformance, RosterEachSubscriptionRoundTrips) {
  RosterStore roster(db());
  for (Subscription s : {Subscription::None, Subscription::To, Subscription::From, Subscription::Both}) {
    RosterItem item;
    item.contact = "c@example.com";
    item.subscription = s;
    roster.put("example.org", "u", item);
    EXPECT_EQ(roster.get("example.org", "u", "c@example.com")->subscription, s) << subscriptionName(s);
  }
}

TEST_P(StorageConformance, RosterGroupsSurviveAwkwardNames) {
  RosterStore roster(db());
  const std::vector<std::vector<std::string>> cases = {
      {},
      {""},
      {"", ""},
      {"a", "", "b"},
      {"line\nbreak", "back\\slash", "\\n literally", "trailing\\"},
      {"\n", "\\", "\\\\n"},
  };
  for (const auto& groups : cases) {
    RosterItem item;
    item.contact = "c@example.com";
    item.groups = groups;
    roster.put("example.org", "u", item);
    EXPECT_EQ(roster.get("example.org", "u", "c@example.com")->groups, groups);
  }
}

TEST_P(StorageConformance, RosterPutReplaces) {
  RosterStore roster(db());
  roster.put("example.org", "romeo", fullItem("juliet@example.com"));
  RosterItem changed;
  changed.contact = "juliet@example.com";
  changed.name = "J";
  changed.subscription = Subscription::To;
  roster.put("example.org", "romeo", changed);
  EXPECT_EQ(roster.get("example.org", "romeo", "juliet@example.com"), changed);
  EXPECT_EQ(roster.load("example.org", "romeo").size(), 1u);
}

TEST_P(StorageConformance, RosterLoadIsSortedAndPerUser) {
  RosterStore roster(db());
  for (const char* c : {"zed@example.com", "amy@example.com", "ümit@example.com"}) {
    roster.put("example.org", "romeo", fullItem(c));
  }
  roster.put("example.org", "juliet", fullItem("romeo@example.org"));
  roster.put("other.example", "romeo", fullItem("x@example.com"));
  auto items = roster.load("example.org", "romeo");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].contact, "amy@example.com");
  EXPECT_EQ(items[1].contact, "zed@example.com");
  EXPECT_EQ(items[2].contact, "ümit@example.com");
  EXPECT_EQ(roster.load("other.example", "romeo").size(), 1u);
  EXPECT_TRUE(roster.load("example.org", "nobody").empty());
  EXPECT_EQ(roster.get("example.org", "romeo", "nobody@example.com"), std::nullopt);
}

TEST_P(StorageConformance, RosterVersionIsMonotonic) {
  RosterStore roster(db());
  EXPECT_EQ(roster.version("example.org", "romeo"), 0u);
  std::uint64_t v1 = roster.put("example.org", "romeo", fullItem("a@example.com"));
  EXPECT_GT(v1, 0u);
  EXPECT_EQ(roster.version("example.org", "romeo"), v1);
  std::uint64_t v2 = roster.put("example.org", "romeo", fullItem("a@example.com"));  // same item again
  EXPECT_GT(v2, v1);
  std::uint64_t v3 = roster.put("example.org", "romeo", fullItem("b@example.com"));
  EXPECT_GT(v3, v2);
  std::uint64_t v4 = roster.remove("example.org", "romeo", "a@example.com");
  EXPECT_GT(v4, v3);
  EXPECT_EQ(roster.get("example.org", "romeo", "a@example.com"), std::nullopt);
  // Removing what is not there changes nothing.
  EXPECT_EQ(roster.remove("example.org", "romeo", "a@example.com"), v4);
  EXPECT_EQ(roster.remove("example.org", "nobody", "a@example.com"), 0u);
  EXPECT_EQ(roster.version("example.org", "romeo"), v4);
  // Versions are per user.
  EXPECT_EQ(roster.version("example.org", "juliet"), 0u);
  EXPECT_EQ(roster.version("other.example", "romeo"), 0u);
  std::uint64_t previous = v4;
  for (int i = 0; i < 50; ++i) {
    std::uint64_t v = roster.put("example.org", "romeo", fullItem("c" + std::to_string(i) + "@example.com"));
    EXPECT_GT(v, previous);
    previous = v;
  }
}

TEST_P(StorageConformance, RosterPutInsideFailedTransactionLeavesVersion) {
  RosterStore roster(db());
  std::uint64_t v = roster.put("example.org", "romeo", fullItem("a@example.com"));
  EXPECT_THROW(db().transaction([&](Connection&) {
    roster.put("example.org", "romeo", fullItem("b@example.com"));
    throw std::runtime_error("abandon");
  }),
               std::runtime_error);
  EXPECT_EQ(roster.version("example.org", "romeo"), v);
  EXPECT_EQ(roster.get("example.org", "romeo", "b@example.com"), std::nullopt);
}

TEST(Subscription, Names) {
  EXPECT_EQ(subscriptionName(Subscription::None), "none");
  EXPECT_EQ(subscriptionName(Subscription::To), "to");
  EXPECT_EQ(subscriptionName(Subscription::From), "from");
  EXPECT_EQ(subscriptionName(Subscription::Both), "both");
}

}  // namespace
}  // namespace parley::storage::testing
