// xep/offline/offline_store.cpp builds into parley_storage, so its conformance tests live here.
#include "xep/offline/offline_store.h"

#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

using xep::offline::OfflineStore;
using xep::offline::StoredMessage;

std::string message(int i) {
  return "<message xmlns='jabber:client'><body>" + std::to_string(i) + " ✉</body></message>";
}

TEST_P(StorageConformance, OfflinePushFetchInOrder) {
  OfflineStore offline(db());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(offline.push("example.org", "bob", 1700000000 + i, message(i), 100));
  auto all = offline.fetch("example.org", "bob", 100);
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(all[i].xml, message(i));
    EXPECT_EQ(all[i].stamp, 1700000000 + i);
    if (i > 0) {
      EXPECT_GT(all[i].id, all[i - 1].id);
    }
  }
  auto first2 = offline.fetch("example.org", "bob", 2);
  ASSERT_EQ(first2.size(), 2u);
  EXPECT_EQ(first2[0].id, all[0].id);
  EXPECT_EQ(first2[1].id, all[1].id);
  EXPECT_TRUE(offline.fetch("example.org", "bob", 0).empty());
  EXPECT_TRUE(offline.fetch("example.org", "bob", -1).empty());
  EXPECT_EQ(offline.count("example.org", "bob"), 5);
}

TEST_P(StorageConformance, OfflineOrderFollowsArrivalNotStamp) {
  OfflineStore offline(db());
  ASSERT_TRUE(offline.push("example.org", "bob", 300, "<late-stamp/>", 10));
  ASSERT_TRUE(offline.push("example.org", "bob", 100, "<early-stamp/>", 10));
  auto all = offline.fetch("example.org", "bob", 10);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].xml, "<late-stamp/>");
  EXPECT_EQ(all[1].xml, "<early-stamp/>");
}

TEST_P(StorageConformance, OfflineCapPerUser) {
  OfflineStore offline(db());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(offline.push("example.org", "bob", 1, message(i), 3));
  EXPECT_FALSE(offline.push("example.org", "bob", 1, message(3), 3));
  EXPECT_EQ(offline.count("example.org", "bob"), 3);
  // Other users and domains have their own cap.
  EXPECT_TRUE(offline.push("example.org", "carol", 1, message(0), 3));
  EXPECT_TRUE(offline.push("other.example", "bob", 1, message(0), 3));
  // Delivering frees room.
  offline.remove("example.org", "bob", {offline.fetch("example.org", "bob", 1)[0].id});
  EXPECT_TRUE(offline.push("example.org", "bob", 1, message(4), 3));
  EXPECT_FALSE(offline.push("example.org", "dave", 1, message(0), 0));  // a zero cap stores nothing
  EXPECT_EQ(offline.count("example.org", "dave"), 0);
}

TEST_P(StorageConformance, OfflineRemoveById) {
  OfflineStore offline(db());
  for (int i = 0; i < 4; ++i) offline.push("example.org", "bob", 1, message(i), 10);
  offline.push("example.org", "carol", 1, "<carol/>", 10);
  auto bob = offline.fetch("example.org", "bob", 10);
  auto carol = offline.fetch("example.org", "carol", 10);
  offline.remove("example.org", "bob", {bob[0].id, bob[2].id, 999999});
  auto left = offline.fetch("example.org", "bob", 10);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].id, bob[1].id);
  EXPECT_EQ(left[1].id, bob[3].id);
  // One user's ids do not delete another user's messages.
  offline.remove("example.org", "bob", {carol[0].id});
  EXPECT_EQ(offline.count("example.org", "carol"), 1);
  offline.remove("example.org", "bob", {});
  EXPECT_EQ(offline.count("example.org", "bob"), 2);
}

TEST_P(StorageConformance, OfflineMissingUser) {
  OfflineStore offline(db());
  EXPECT_TRUE(offline.fetch("example.org", "nobody", 10).empty());
  EXPECT_EQ(offline.count("example.org", "nobody"), 0);
  EXPECT_NO_THROW(offline.remove("example.org", "nobody", {1, 2, 3}));
}

TEST_P(StorageConformance, OfflineIdsAreNotReused) {
  OfflineStore offline(db());
  offline.push("example.org", "bob", 1, "<a/>", 10);
  auto first = offline.fetch("example.org", "bob", 1)[0].id;
  offline.remove("example.org", "bob", {first});
  offline.push("example.org", "bob", 1, "<b/>", 10);
  EXPECT_GT(offline.fetch("example.org", "bob", 1)[0].id, first);
}

}  // namespace
}  // namespace parley::storage::testing
