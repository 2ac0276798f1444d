#include "server/util/stringprep.h"

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace parley::util {
namespace {

// The ASCII short path must give exactly what ICU gives, for every profile: every ASCII character alone
// and between letters, and random ASCII strings.
TEST(StringPrepTest, AsciiShortPathAgreesWithIcu) {
  for (PrepProfile p :
       {PrepProfile::NodePrep, PrepProfile::ResourcePrep, PrepProfile::NamePrep, PrepProfile::SaslPrep}) {
    for (int c = 0; c < 0x80; ++c) {
      const std::string one(1, static_cast<char>(c));
      const std::string inside = "aB" + one + "Cd";
      EXPECT_EQ(stringPrep(p, one), detail::stringPrepIcu(p, one)) << "char " << c;
      EXPECT_EQ(stringPrep(p, inside), detail::stringPrepIcu(p, inside)) << "char " << c;
    }
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> ch(0, 0x7f), len(0, 24);
    for (int i = 0; i < 2000; ++i) {
      std::string s;
      for (int n = len(rng); n > 0; --n) s.push_back(static_cast<char>(ch(rng)));
      EXPECT_EQ(stringPrep(p, s), detail::stringPrepIcu(p, s)) << "input " << s;
    }
  }
}

TEST(StringPrepTest, KnownMappings) {
  EXPECT_EQ(stringPrep(PrepProfile::NodePrep, "Juliet"), "juliet");
  EXPECT_EQ(stringPrep(PrepProfile::ResourcePrep, "Balcony Phone"), "Balcony Phone");
  EXPECT_FALSE(stringPrep(PrepProfile::NodePrep, "ro meo"));
  EXPECT_FALSE(stringPrep(PrepProfile::ResourcePrep, std::string("a\x01", 2)));
  EXPECT_EQ(stringPrep(PrepProfile::NodePrep, "\xC3\x84rger"), "\xC3\xA4rger");  // non-ASCII: ICU
}

}  // namespace
}  // namespace parley::util
