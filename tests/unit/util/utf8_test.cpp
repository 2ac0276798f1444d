#include "server/util/utf8.h"

#include <gtest/gtest.h>

namespace parley::util {
namespace {

TEST(Utf8Test, WellFormed) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("plain ascii"));
  EXPECT_TRUE(isValidUtf8(std::string_view("nul\0inside", 10)));
  EXPECT_TRUE(isValidUtf8("\xC3\xA9"));          // é
  EXPECT_TRUE(isValidUtf8("\xE2\x82\xAC"));      // €
  EXPECT_TRUE(isValidUtf8("\xF0\x9F\x98\x80"));  // 😀
  EXPECT_TRUE(isValidUtf8("\xED\x9F\xBF"));      // U+D7FF
  EXPECT_TRUE(isValidUtf8("\xEE\x80\x80"));      // U+E000
  EXPECT_TRUE(isValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8Test, IllFormed) {
  EXPECT_FALSE(isValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(isValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(isValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xC1\xBF"));          // overlong
  EXPECT_FALSE(isValidUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(isValidUtf8("\xF0\x80\x80\xAF"));  // overlong
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(isValidUtf8("\xED\xBF\xBF"));      // surrogate U+DFFF
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(isValidUtf8("\xFF"));
  EXPECT_FALSE(isValidUtf8("\xE2\x82"));       // truncated
  EXPECT_FALSE(isValidUtf8("\xE2\x28\xA1"));   // bad continuation
  EXPECT_FALSE(isValidUtf8("a\xF0\x9F\x98"));  // truncated at end
}

}  // namespace
}  // namespace parley::util
