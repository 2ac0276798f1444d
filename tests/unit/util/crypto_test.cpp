#include "server/util/crypto.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace parley::util {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(CryptoTest, HashNames) {
  EXPECT_EQ(hashName(HashAlg::Sha1), "SHA-1");
  EXPECT_EQ(hashName(HashAlg::Sha256), "SHA-256");
  EXPECT_EQ(hashName(HashAlg::Sha512), "SHA-512");
  EXPECT_EQ(hashFromName("SHA-256"), HashAlg::Sha256);
  EXPECT_EQ(hashFromName("SHA-512"), HashAlg::Sha512);
  EXPECT_FALSE(hashFromName("sha-512"));
  EXPECT_FALSE(hashFromName("SHA-384")) << "not a SCRAM hash";
  EXPECT_EQ(hashFromName("SHA-1"), HashAlg::Sha1);
  EXPECT_FALSE(hashFromName("SHA256"));
  EXPECT_FALSE(hashFromName(""));
  EXPECT_EQ(hashSize(HashAlg::Sha1), 20u);
  EXPECT_EQ(hashSize(HashAlg::Sha256), 32u);
  EXPECT_EQ(hashSize(HashAlg::Sha512), 64u);
}

// FIPS 180-2 Appendix examples.
TEST(CryptoTest, HashKnownAnswers) {
  EXPECT_EQ(hexEncode(hash(HashAlg::Sha1, "abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hexEncode(hash(HashAlg::Sha256, "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hexEncode(hash(HashAlg::Sha512, "abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(hexEncode(hash(HashAlg::Sha256, "")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// RFC 4231 §4.3 (test case 2) and RFC 2202 §3 (test case 2).
TEST(CryptoTest, HmacKnownAnswers) {
  const std::string key = "Jefe", data = "what do ya want for nothing?";
  EXPECT_EQ(hexEncode(hmac(HashAlg::Sha256, key, data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hexEncode(hmac(HashAlg::Sha512, key, data)),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
  EXPECT_EQ(hexEncode(hmac(HashAlg::Sha1, key, data)), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(hexEncode(hmac(HashAlg::Sha384, key, data)),  // the TLS 1.3 key schedule's other hash
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
            "8e2240ca5e69e2c78b3239ecfab21649");
  // RFC 4231 §4.2 (test case 1): a binary key.
  EXPECT_EQ(hexEncode(hmac(HashAlg::Sha256, std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Empty key and data are valid inputs.
  EXPECT_EQ(hmac(HashAlg::Sha256, "", "").size(), 32u);
  // RFC 4231 §4.7 (test case 6): a key longer than the block is hashed first.
  const std::string longKey(131, '\xaa');
  const std::string longData = "Test Using Larger Than Block-Size Key - Hash Key First";
  EXPECT_EQ(hexEncode(hmac(HashAlg::Sha256, longKey, longData)),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hexEncode(hmac(HashAlg::Sha512, longKey, longData)),
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
            "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598");
}

// A fixed key serves any number of MACs, from several threads at once, each equal to a fresh HMAC.
TEST(CryptoTest, HmacKeyIsReusableAcrossCallsAndThreads) {
  const HmacKey key(HashAlg::Sha256, "Jefe");
  EXPECT_EQ(hexEncode(key.mac("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const HmacKey sha1(HashAlg::Sha1, std::string(20, '\x0b'));
  EXPECT_EQ(hexEncode(sha1.mac("Hi There")), "b617318655057264e28bc0b6fb378c8ef146be00");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string data = std::to_string(t);  // (no operator+ chain: GCC 12 -Wrestrict false alarm)
        data += ':';
        data += std::to_string(i);
        if (key.mac(data) != hmac(HashAlg::Sha256, "Jefe", data)) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// RFC 6070 §2 (PBKDF2-HMAC-SHA1), and the widely published SHA-256 counterparts.
TEST(CryptoTest, Pbkdf2KnownAnswers) {
  EXPECT_EQ(hexEncode(pbkdf2(HashAlg::Sha1, "password", "salt", 1)),
            "0c60c80f961f0e71f3a9b524af6012062fe037a6");
  EXPECT_EQ(hexEncode(pbkdf2(HashAlg::Sha1, "password", "salt", 2)),
            "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
  EXPECT_EQ(hexEncode(pbkdf2(HashAlg::Sha1, "password", "salt", 4096)),
            "4b007901b765489abead49d926f721d065a429c1");
  EXPECT_EQ(hexEncode(pbkdf2(HashAlg::Sha256, "password", "salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  EXPECT_EQ(hexEncode(pbkdf2(HashAlg::Sha256, "password", "salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  // RFC 6070: embedded NUL in password and salt (first 16 bytes of the 16-byte vector).
  EXPECT_EQ(hexEncode(pbkdf2(HashAlg::Sha1, std::string("pass\0word", 9), std::string("sa\0lt", 5), 4096))
                .substr(0, 32),
            "56fa6aa75548099dcc37d7f03425e0c3");
  EXPECT_EQ(pbkdf2(HashAlg::Sha256, "password", "salt", 0), "");
}

TEST(CryptoTest, RandomBytesAndTokens) {
  EXPECT_EQ(randomBytes(0).size(), 0u);
  EXPECT_EQ(randomBytes(33).size(), 33u);
  EXPECT_NE(randomBytes(16), randomBytes(16));
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string t = randomToken(12);
    ASSERT_EQ(t.size(), 12u);
    for (char c : t) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) << t;
    }
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(randomToken(0), "");
  EXPECT_EQ(randomToken(1000).size(), 1000u);
}

// Small requests come from a per-thread block of DRBG output: across its refills and between threads,
// no bytes are handed out twice.
TEST(CryptoTest, RandomBytesAreNeverReused) {
  std::set<std::string> seen;
  auto draw = [](std::vector<std::string>& out) {
    for (int i = 0; i < 300; ++i) out.push_back(randomBytes(i % 2 ? 16 : 24));
  };
  std::vector<std::string> here, there;
  std::thread other([&] { draw(there); });
  draw(here);
  other.join();
  for (const auto* v : {&here, &there})
    for (const auto& r : *v) EXPECT_TRUE(seen.insert(r.substr(0, 16)).second);
  EXPECT_EQ(seen.size(), 600u);
}

TEST(CryptoTest, ConstantTimeEqual) {
  EXPECT_TRUE(constantTimeEqual("", ""));
  EXPECT_TRUE(constantTimeEqual("abc", "abc"));
  EXPECT_FALSE(constantTimeEqual("abc", "abd"));
  EXPECT_FALSE(constantTimeEqual("abc", "abcd"));
  EXPECT_FALSE(constantTimeEqual("", "a"));
  EXPECT_TRUE(constantTimeEqual(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constantTimeEqual(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(CryptoTest, Hex) {
  EXPECT_EQ(hexEncode(""), "");
  EXPECT_EQ(hexEncode(std::string("\x00\x0f\xf0\xff", 4)), "000ff0ff");
}

// RFC 4648 §10.
TEST(CryptoBase64Test, RfcVectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64Encode(plain), encoded);
    auto decoded = base64Decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(CryptoBase64Test, BinaryRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 17) {
    const std::string part = all.substr(0, n);
    EXPECT_EQ(base64Decode(base64Encode(part)), part);
  }
  EXPECT_EQ(base64Decode("+/+/"), unhex("fbffbf"));
}

TEST(CryptoBase64Test, Strict) {
  const char* bad[] = {
      "Zg",        // missing padding
      "Zg=",       // short padding
      "Z===",      // too much padding
      "====",      // nothing but padding
      "Zg==Zg==",  // padding in the middle
      "Zm9v=",     // length not a multiple of 4
      "Zm9v====",  // a whole quantum of padding
      "=Zm9",      // leading padding
      "Zg=a",      // data after padding
      "Zm9v\n",    // whitespace
      "Zm 9v",     // inner space
      " Zm9v",     // leading space
      "Zm-v",      // base64url alphabet
      "Zm_v",      // base64url alphabet
      "Zh==",      // non-zero pad bits (RFC 4648 §3.5)
      "Zm9=",      // non-zero pad bits
  };
  for (const char* s : bad) EXPECT_FALSE(base64Decode(s)) << s;
  EXPECT_FALSE(base64Decode(std::string_view("Zm9v\0\0\0\0", 8)));
  EXPECT_FALSE(base64Decode(std::string_view("Zg=\0", 4)));
  EXPECT_FALSE(base64Decode("\xff\xff\xff\xff"));
}

}  // namespace
}  // namespace parley::util
