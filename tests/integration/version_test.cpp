// XEP-0092 software version of the server.
#include "integration/module_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kNs = "jabber:iq:version";

class VersionTest : public ModuleTest {};

TEST_F(VersionTest, ServerTellsNameVersionAndOs) {
  auto alice = client("alice", "a");
  EXPECT_TRUE(serverHasFeature(*alice, kNs));
  auto reply =
      alice->request("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>", "v1");
  ASSERT_TRUE(isResult(reply));
  const auto* q = reply->child("query", kNs);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->childText("name", kNs), "Parley");
  EXPECT_EQ(q->childText("version", kNs), "0.1.0");
  EXPECT_FALSE(q->childText("os", kNs).empty());
}

class HiddenOsTest : public ModuleTest {
 protected:
  HiddenOsTest() : ModuleTest("[modules.version]\nhide_os = true\n") {}
};

TEST_F(HiddenOsTest, OsCanBeHidden) {
  auto alice = client("alice", "a");
  auto reply =
      alice->request("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>", "v1");
  ASSERT_TRUE(isResult(reply));
  const auto* q = reply->child("query", kNs);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->childText("name", kNs), "Parley");
  EXPECT_EQ(q->child("os", kNs), nullptr);
}

}  // namespace
}  // namespace parley::test
