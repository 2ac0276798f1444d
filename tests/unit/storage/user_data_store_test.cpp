#include "storage/user_data_store.h"

#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

using Items = std::vector<std::pair<std::string, std::string>>;

TEST_P(StorageConformance, UserDataSetGetOverwrite) {
  UserDataStore data(db());
  EXPECT_EQ(data.get("example.org", "alice", "private", "storage:bookmarks"), std::nullopt);
  data.set("example.org", "alice", "private", "storage:bookmarks", "<storage xmlns='storage:bookmarks'/>");
  EXPECT_EQ(data.get("example.org", "alice", "private", "storage:bookmarks"),
            "<storage xmlns='storage:bookmarks'/>");
  data.set("example.org", "alice", "private", "storage:bookmarks", "<v2/>");
  EXPECT_EQ(data.get("example.org", "alice", "private", "storage:bookmarks"), "<v2/>");
  EXPECT_EQ(data.list("example.org", "alice", "private").size(), 1u);
}

TEST_P(StorageConformance, UserDataEmptyKeyAndValueAreValues) {
  UserDataStore data(db());
  data.set("example.org", "alice", "vcard", "", "");
  EXPECT_EQ(data.get("example.org", "alice", "vcard", ""), std::optional<std::string>(""));
  EXPECT_EQ(data.list("example.org", "alice", "vcard"), (Items{{"", ""}}));
  EXPECT_TRUE(data.remove("example.org", "alice", "vcard", ""));
  EXPECT_EQ(data.get("example.org", "alice", "vcard", ""), std::nullopt);
}

TEST_P(StorageConformance, UserDataUnicodeAndLargeValues) {
  UserDataStore data(db());
  const std::string big(1 << 20, 'x');  // a vCard with a photo is this order of size
  const std::string unicode = "<nick>Ålice 🦜 用户</nick>";
  data.set("exämple.org", "ålice", "vcard", "", big);
  data.set("exämple.org", "ålice", "private", "ns:ünï", unicode);
  EXPECT_EQ(data.get("exämple.org", "ålice", "vcard", ""), big);
  EXPECT_EQ(data.get("exämple.org", "ålice", "private", "ns:ünï"), unicode);
  EXPECT_EQ(data.get("exämple.org", "alice", "private", "ns:ünï"), std::nullopt);
}

TEST_P(StorageConformance, UserDataRemove) {
  UserDataStore data(db());
  data.set("example.org", "alice", "blocklist", "eve@example.com", "");
  EXPECT_FALSE(data.remove("example.org", "alice", "blocklist", "mallory@example.com"));
  EXPECT_FALSE(data.remove("example.org", "bob", "blocklist", "eve@example.com"));
  EXPECT_TRUE(data.remove("example.org", "alice", "blocklist", "eve@example.com"));
  EXPECT_FALSE(data.remove("example.org", "alice", "blocklist", "eve@example.com"));
}

TEST_P(StorageConformance, UserDataListIsOrderedAndScoped) {
  UserDataStore data(db());
  data.set("example.org", "alice", "blocklist", "zed@example.com", "1");
  data.set("example.org", "alice", "blocklist", "amy@example.com", "2");
  data.set("example.org", "alice", "blocklist", "émile@example.com", "3");
  data.set("example.org", "alice", "private", "ns", "other store");
  data.set("example.org", "bob", "blocklist", "x@example.com", "other user");
  data.set("other.example", "alice", "blocklist", "y@example.com", "other domain");
  EXPECT_EQ(data.list("example.org", "alice", "blocklist"),
            (Items{{"amy@example.com", "2"}, {"zed@example.com", "1"}, {"émile@example.com", "3"}}));
  EXPECT_TRUE(data.list("example.org", "alice", "nothing").empty());
}

TEST_P(StorageConformance, UserDataClearOnlyThatStore) {
  UserDataStore data(db());
  data.set("example.org", "alice", "blocklist", "a", "1");
  data.set("example.org", "alice", "blocklist", "b", "2");
  data.set("example.org", "alice", "private", "ns", "kept");
  data.set("example.org", "bob", "blocklist", "a", "kept");
  data.clear("example.org", "alice", "blocklist");
  EXPECT_TRUE(data.list("example.org", "alice", "blocklist").empty());
  EXPECT_EQ(data.get("example.org", "alice", "private", "ns"), "kept");
  EXPECT_EQ(data.get("example.org", "bob", "blocklist", "a"), "kept");
  data.clear("example.org", "nobody", "blocklist");  // nothing to clear is fine
}

}  // namespace
}  // namespace parley::storage::testing
