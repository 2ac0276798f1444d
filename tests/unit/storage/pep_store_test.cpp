// xep/pep/pep_store.cpp builds into parley_storage, so its conformance tests live here (SQLite and,
// when configured, MariaDB).
#include "xep/pep/pep_store.h"

#include "storage/account_store.h"
#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

using xep::pep::PepStore;
using xep::pep::StoredItem;

StoredItem item(const std::string& id, const std::string& payload = "<p xmlns='urn:x'/>") {
  return StoredItem{id, "alice@example.org/phone", 1700000000000000, payload};
}

std::vector<std::string> ids(const std::vector<StoredItem>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.id);
  return out;
}

TEST_P(StorageConformance, PepNodesAndItemsInPublicationOrder) {
  PepStore pep(db());
  EXPECT_FALSE(pep.nodeConfig("example.org", "alice", "urn:n"));
  ASSERT_TRUE(pep.createNode("example.org", "alice", "urn:n", "access_model=open\n", 1));
  EXPECT_FALSE(pep.createNode("example.org", "alice", "urn:n", "x", 1));  // exists
  EXPECT_EQ(*pep.nodeConfig("example.org", "alice", "urn:n"), "access_model=open\n");
  pep.setConfig("example.org", "alice", "urn:n", "access_model=presence\n");
  EXPECT_EQ(*pep.nodeConfig("example.org", "alice", "urn:n"), "access_model=presence\n");
  EXPECT_EQ(pep.nodeCount("example.org", "alice"), 1);

  for (const char* id : {"a", "b", "c"}) EXPECT_TRUE(pep.publish("example.org", "alice", "urn:n", item(id), 10).empty());
  EXPECT_EQ(ids(pep.items("example.org", "alice", "urn:n")), (std::vector<std::string>{"c", "b", "a"}));
  // Republishing moves the item to the front, with its new payload.
  pep.publish("example.org", "alice", "urn:n", item("a", "<q xmlns='urn:x'>é</q>"), 10);
  EXPECT_EQ(ids(pep.items("example.org", "alice", "urn:n", 2)), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(pep.item("example.org", "alice", "urn:n", "a")->payload, "<q xmlns='urn:x'>é</q>");
  // max_items: the oldest go.
  EXPECT_EQ(pep.publish("example.org", "alice", "urn:n", item("d"), 2), (std::vector<std::string>{"c", "b"}));
  EXPECT_EQ(ids(pep.items("example.org", "alice", "urn:n")), (std::vector<std::string>{"d", "a"}));
  EXPECT_TRUE(pep.retract("example.org", "alice", "urn:n", "a"));
  EXPECT_FALSE(pep.retract("example.org", "alice", "urn:n", "a"));
  EXPECT_EQ(pep.purge("example.org", "alice", "urn:n"), 1);
  EXPECT_TRUE(pep.items("example.org", "alice", "urn:n").empty());
  EXPECT_TRUE(pep.deleteNode("example.org", "alice", "urn:n"));
  EXPECT_FALSE(pep.deleteNode("example.org", "alice", "urn:n"));
}

TEST_P(StorageConformance, PepRowsGoWithTheAccount) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", "alice", {}));
  ASSERT_TRUE(accounts.create("example.org", "bob", {}));
  PepStore pep(db());
  for (const char* user : {"alice", "bob"}) {
    ASSERT_TRUE(pep.createNode("example.org", user, "urn:n", "", 1));
    pep.publish("example.org", user, "urn:n", item("x"), 1);
  }
  ASSERT_TRUE(accounts.remove("example.org", "alice"));
  EXPECT_EQ(pep.nodeCount("example.org", "alice"), 0);
  EXPECT_TRUE(pep.items("example.org", "alice", "urn:n").empty());
  EXPECT_EQ(pep.nodeCount("example.org", "bob"), 1);
  EXPECT_EQ(ids(pep.items("example.org", "bob", "urn:n")), std::vector<std::string>{"x"});
}

}  // namespace
}  // namespace parley::storage::testing
