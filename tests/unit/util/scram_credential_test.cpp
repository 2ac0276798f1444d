#include "server/util/scram_credential.h"

#include <gtest/gtest.h>

#include "server/util/stringprep.h"

namespace parley::util {
namespace {

// RFC 4013 §3 examples.
TEST(ScramCredentialTest, SaslPrepRfcExamples) {
  EXPECT_EQ(saslPrep("I\xC2\xADX"), "IX");  // soft hyphen mapped to nothing
  EXPECT_EQ(saslPrep("user"), "user");
  EXPECT_EQ(saslPrep("USER"), "USER");        // no case folding
  EXPECT_EQ(saslPrep("\xC2\xAA"), "a");       // NFKC
  EXPECT_EQ(saslPrep("\xE2\x85\xA8"), "IX");  // U+2168 ROMAN NUMERAL NINE
  EXPECT_FALSE(saslPrep("\x07"));             // prohibited control character
  EXPECT_FALSE(
      saslPrep("\xD8\xA7"
               "1"));  // bidi: RandALCat first, not last
}

TEST(ScramCredentialTest, SaslPrepMore) {
  EXPECT_EQ(saslPrep(""), "");
  EXPECT_EQ(saslPrep("pass\xC2\xA0word"), "pass word");  // non-ASCII space becomes SPACE
  EXPECT_FALSE(saslPrep("\xC3"));                        // ill-formed UTF-8
  EXPECT_FALSE(saslPrep("\xED\xA0\x80"));                // encoded surrogate
  EXPECT_FALSE(saslPrep(std::string_view("a\0b", 3)));   // NUL is a control character
  EXPECT_EQ(saslPrep("p\xC3\xA4ssw\xC3\xB6rd \xF0\x9F\x98\x80"), "p\xC3\xA4ssw\xC3\xB6rd \xF0\x9F\x98\x80");
  // Expanding mappings must not overflow the buffer.
  std::string ligatures;
  for (int i = 0; i < 200; ++i) ligatures += "\xEF\xAC\x83";  // U+FB03 "ffi" -> 3 characters
  auto prepared = saslPrep(ligatures);
  ASSERT_TRUE(prepared);
  EXPECT_EQ(prepared->size(), 600u);
}

TEST(ScramCredentialTest, DeriveMatchesRfc5802) {
  // RFC 5802 §5: the SCRAM-SHA-1 example; the server signature proves ServerKey is right and the
  // exchange tests in tests/unit/sasl prove StoredKey.
  auto salt = base64Decode("QSXCR+Q6sek8bf92");
  ASSERT_TRUE(salt);
  auto c = deriveScramCredential(HashAlg::Sha1, "pencil", *salt, 4096);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->alg, HashAlg::Sha1);
  EXPECT_EQ(c->iterations, 4096u);
  EXPECT_EQ(c->salt, *salt);
  const std::string salted = pbkdf2(HashAlg::Sha1, "pencil", *salt, 4096);
  EXPECT_EQ(c->storedKey, hash(HashAlg::Sha1, hmac(HashAlg::Sha1, salted, "Client Key")));
  EXPECT_EQ(c->serverKey, hmac(HashAlg::Sha1, salted, "Server Key"));
  EXPECT_FALSE(deriveScramCredential(HashAlg::Sha1, "pencil", *salt, 0));
  EXPECT_FALSE(deriveScramCredential(HashAlg::Sha1, "\x07", *salt, 1));
}

TEST(ScramCredentialTest, VerifyPassword) {
  for (HashAlg alg : {HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512}) {
    auto c = deriveScramCredential(alg, "correct horse", "NaCl-NaCl-NaCl-!", 64);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->storedKey.size(), hashSize(alg));
    EXPECT_TRUE(verifyPassword(*c, "correct horse"));
    EXPECT_FALSE(verifyPassword(*c, "correct horse "));
    EXPECT_FALSE(verifyPassword(*c, "Correct horse"));
    EXPECT_FALSE(verifyPassword(*c, ""));
    EXPECT_FALSE(verifyPassword(*c, "\x07"));
  }
  // SASLprep applies on both sides: U+00A0 and SPACE are the same password.
  auto c = deriveScramCredential(HashAlg::Sha256, "a b", "salt", 16);
  ASSERT_TRUE(c);
  EXPECT_TRUE(verifyPassword(*c,
                             "a\xC2\xA0"
                             "b"));
  ScramCredential broken = *c;
  broken.storedKey.pop_back();
  EXPECT_FALSE(verifyPassword(broken, "a b"));
  broken = *c;
  broken.iterations = 0;
  EXPECT_FALSE(verifyPassword(broken, "a b"));
}

TEST(ScramCredentialTest, StringPrepProfiles) {
  EXPECT_EQ(stringPrep(PrepProfile::NodePrep, "Juliet"), "juliet");
  EXPECT_EQ(stringPrep(PrepProfile::NamePrep, "EXAMPLE.com"), "example.com");
  EXPECT_EQ(stringPrep(PrepProfile::ResourcePrep, "Balcony"), "Balcony");
  EXPECT_EQ(stringPrep(PrepProfile::SaslPrep, "Balcony"), "Balcony");
}

}  // namespace
}  // namespace parley::util
