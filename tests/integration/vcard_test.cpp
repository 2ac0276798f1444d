// XEP-0054 vcard-temp: an account publishes its vCard, anyone reads it, only the account changes it.
#include "integration/module_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kNs = "vcard-temp";

class VcardTest : public ModuleTest {
 protected:
  VcardTest() : ModuleTest("[modules.vcard]\nmax_bytes = 2048\n") {}
};

TEST_F(VcardTest, SetByAliceReadByBob) {
  auto alice = client("alice", "a");
  auto bob = client("bob", "b");
  EXPECT_TRUE(serverHasFeature(*alice, kNs));
  ASSERT_TRUE(
      isResult(alice->request("<iq type='set' id='v1'><vCard xmlns='vcard-temp'><FN>Alice "
                              "Liddell</FN><NICKNAME>al</NICKNAME></vCard></iq>",
                              "v1")));
  auto card =
      bob->request("<iq type='get' id='v2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>", "v2");
  ASSERT_TRUE(isResult(card));
  const auto* v = card->child("vCard", kNs);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->childText("FN", kNs), "Alice Liddell");
  EXPECT_EQ(v->childText("NICKNAME", kNs), "al");
  // Her own, without 'to'.
  auto own = alice->request("<iq type='get' id='v3'><vCard xmlns='vcard-temp'/></iq>", "v3");
  ASSERT_TRUE(isResult(own));
  EXPECT_EQ(own->child("vCard", kNs)->childText("FN", kNs), "Alice Liddell");
}

TEST_F(VcardTest, EmptyUnknownForbiddenAndTooLarge) {
  auto bob = client("bob", "b");
  // Carol (offline) never set one: an empty vCard.
  auto empty =
      bob->request("<iq type='get' id='v1' to='carol@localhost'><vCard xmlns='vcard-temp'/></iq>", "v1");
  ASSERT_TRUE(isResult(empty));
  ASSERT_TRUE(empty->child("vCard", kNs));
  EXPECT_EQ(empty->child("vCard", kNs)->childCount(), 0u);
  // No such account.
  EXPECT_TRUE(isError(
      bob->request("<iq type='get' id='v2' to='nobody@localhost'><vCard xmlns='vcard-temp'/></iq>", "v2"),
      "service-unavailable"));
  // Only Alice changes Alice's vCard.
  EXPECT_TRUE(isError(bob->request("<iq type='set' id='v3' to='alice@localhost'><vCard xmlns='vcard-temp'>"
                                   "<FN>Not Alice</FN></vCard></iq>",
                                   "v3"),
                      "forbidden"));
  // Over max_bytes (2048 in this test).
  EXPECT_TRUE(isError(bob->request("<iq type='set' id='v4'><vCard xmlns='vcard-temp'><DESC>" +
                                       std::string(3000, 'x') + "</DESC></vCard></iq>",
                                   "v4"),
                      "not-acceptable"));
}

}  // namespace
}  // namespace parley::test
