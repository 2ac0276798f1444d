// XEP-0202 entity time of the server.
#include "server/util/time.h"

#include <cstdlib>

#include "integration/module_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kNs = "urn:xmpp:time";

class TimeTest : public ModuleTest {};

TEST_F(TimeTest, ServerTellsUtcTime) {
  auto alice = client("alice", "a");
  EXPECT_TRUE(serverHasFeature(*alice, kNs));
  auto reply =
      alice->request("<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>", "t1");
  ASSERT_TRUE(isResult(reply));
  const auto* t = reply->child("time", kNs);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->childText("tzo", kNs), "+00:00");
  auto utc = util::parseIso8601(t->childText("utc", kNs));
  ASSERT_TRUE(utc) << t->childText("utc", kNs);
  EXPECT_LE(std::llabs(*utc - util::unixNow()), 5);
}

}  // namespace
}  // namespace parley::test
