#include "server/sasl/plain.h"

#include <gtest/gtest.h>

namespace parley::sasl {
namespace {

using namespace std::string_literals;

TEST(PlainTest, ParsesRfc4616Messages) {
  // RFC 4616 §4 examples.
  auto a = parsePlain("\0tim\0tanstaaftanstaaf"s);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.authzid, "");
  EXPECT_EQ(a.authcid, "tim");
  EXPECT_EQ(a.password, "tanstaaftanstaaf");

  auto b = parsePlain("Ursel\0Kurt\0xipj3plmq"s);
  ASSERT_TRUE(b.ok);
  EXPECT_EQ(b.authzid, "Ursel");
  EXPECT_EQ(b.authcid, "Kurt");
  EXPECT_EQ(b.password, "xipj3plmq");

  auto c = parsePlain("\0j\xC3\xBCliet\0p\xC3\xA4ss w\xC3\xB6rd \xF0\x9F\x98\x80"s);
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.authcid, "j\xC3\xBCliet");
  EXPECT_EQ(c.password, "p\xC3\xA4ss w\xC3\xB6rd \xF0\x9F\x98\x80");
}

TEST(PlainTest, RejectsMalformed) {
  const std::string cases[] = {
      ""s,
      "tim"s,
      "\0tim"s,
      "\0tim\0"s,     // empty password
      "\0\0secret"s,  // empty authcid
      "\0\0"s,
      "\0tim\0pass\0word"s,  // a third NUL
      "a\0b\0c\0"s,
      "\0tim\0pa\xffss"s,          // ill-formed UTF-8 password
      "\0t\xC3\0pass"s,            // truncated UTF-8 authcid
      "\xED\xA0\x80\0tim\0pass"s,  // surrogate in authzid
  };
  for (const auto& m : cases) {
    auto r = parsePlain(m);
    EXPECT_FALSE(r.ok) << testing::PrintToString(m);
    EXPECT_EQ(r.authcid, "");
    EXPECT_EQ(r.password, "");
  }
}

}  // namespace
}  // namespace parley::sasl
