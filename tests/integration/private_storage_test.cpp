// XEP-0049 private XML storage: only the account reads and writes its fragments, one per namespace.
#include "integration/module_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kNs = "jabber:iq:private";

class PrivateStorageTest : public ModuleTest {
 protected:
  PrivateStorageTest() : ModuleTest("[modules.private_storage]\nmax_bytes = 1024\n") {}
};

TEST_F(PrivateStorageTest, SetThenGetSurvivesReconnect) {
  {
    auto alice = client("alice", "a");
    EXPECT_TRUE(serverHasFeature(*alice, kNs));
    auto set = alice->request(
        "<iq type='set' id='s1'><query xmlns='jabber:iq:private'>"
        "<storage xmlns='storage:bookmarks'><conference jid='room@muc.localhost' name='Room'/></storage>"
        "</query></iq>",
        "s1");
    ASSERT_TRUE(isResult(set));
  }
  auto alice = client("alice", "b");
  auto get = alice->request(
      "<iq type='get' id='g1'><query xmlns='jabber:iq:private'><storage "
      "xmlns='storage:bookmarks'/></query></iq>",
      "g1");
  ASSERT_TRUE(isResult(get));
  const auto* storage = get->child("query", kNs)->child("storage", "storage:bookmarks");
  ASSERT_TRUE(storage);
  const auto* conf = storage->child("conference", "storage:bookmarks");
  ASSERT_TRUE(conf);
  EXPECT_EQ(conf->attr("jid"), "room@muc.localhost");
  EXPECT_EQ(conf->attr("name"), "Room");

  // A namespace with nothing stored comes back empty (§2.1).
  auto empty = alice->request(
      "<iq type='get' id='g2'><query xmlns='jabber:iq:private'><prefs "
      "xmlns='urn:example:prefs'/></query></iq>",
      "g2");
  ASSERT_TRUE(isResult(empty));
  const auto* prefs = empty->child("query", kNs)->child("prefs", "urn:example:prefs");
  ASSERT_TRUE(prefs);
  EXPECT_EQ(prefs->childCount(), 0u);

  // Replacing the document for a namespace.
  ASSERT_TRUE(
      isResult(alice->request("<iq type='set' id='s2'><query xmlns='jabber:iq:private'><storage "
                              "xmlns='storage:bookmarks'/></query></iq>",
                              "s2")));
  auto again = alice->request(
      "<iq type='get' id='g3'><query xmlns='jabber:iq:private'><storage "
      "xmlns='storage:bookmarks'/></query></iq>",
      "g3");
  ASSERT_TRUE(isResult(again));
  EXPECT_EQ(again->child("query", kNs)->child("storage", "storage:bookmarks")->childCount(), 0u);
}

TEST_F(PrivateStorageTest, Errors) {
  auto alice = client("alice", "a");
  auto bob = client("bob", "b");
  // Someone else's private data (§3).
  EXPECT_TRUE(
      isError(bob->request("<iq type='get' id='e1' to='alice@localhost'><query xmlns='jabber:iq:private'>"
                           "<storage xmlns='storage:bookmarks'/></query></iq>",
                           "e1"),
              "forbidden"));
  // Reserved namespaces (§3).
  EXPECT_TRUE(isError(alice->request("<iq type='set' id='e2'><query xmlns='jabber:iq:private'>"
                                     "<query xmlns='jabber:iq:roster'/></query></iq>",
                                     "e2"),
                      "not-acceptable"));
  // A get without a child, and one with two namespaces.
  EXPECT_TRUE(isError(alice->request("<iq type='get' id='e3'><query xmlns='jabber:iq:private'/></iq>", "e3"),
                      "bad-request"));
  EXPECT_TRUE(isError(alice->request("<iq type='get' id='e4'><query xmlns='jabber:iq:private'>"
                                     "<a xmlns='urn:example:a'/><b xmlns='urn:example:b'/></query></iq>",
                                     "e4"),
                      "bad-request"));
  // Over max_bytes (1024 in this test).
  EXPECT_TRUE(isError(alice->request("<iq type='set' id='e5'><query xmlns='jabber:iq:private'>"
                                     "<big xmlns='urn:example:big'>" +
                                         std::string(2000, 'x') + "</big></query></iq>",
                                     "e5"),
                      "not-acceptable"));
}

}  // namespace
}  // namespace parley::test
