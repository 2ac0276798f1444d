// JWT signing for the push providers, verified with OpenSSL and the public half of a fresh key (RFC 7515
// §A.2 RS256 and §A.3 ES256 shapes), and Retry-After parsing (RFC 9110 §10.2.3).
#include "push/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <ctime>

#include "push/provider.h"

namespace parley::push {
namespace {

struct Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
  std::string pem() const {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return s;
  }
};

Key generate(bool ec) {
  Key k;
  k.pkey = ec ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
              : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  return k;
}

bool verify(EVP_PKEY* pkey, const std::string& jwt, bool ec) {
  const auto dot = jwt.rfind('.');
  const std::string input = jwt.substr(0, dot);
  auto sig = base64UrlDecode(jwt.substr(dot + 1));
  if (!sig) return false;
  std::string der = *sig;
  if (ec) {
    if (sig->size() != 64) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()) + 32, 32, nullptr));
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(es, &out);
    der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    ECDSA_SIG_free(es);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

TEST(JwtTest, Base64UrlRoundTripWithoutPadding) {
  EXPECT_EQ(base64Url("\xfb\xff"), "-_8");
  EXPECT_EQ(*base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_EQ(base64Url(R"({"alg":"ES256"})"), "eyJhbGciOiJFUzI1NiJ9");
}

TEST(JwtTest, Rs256VerifiesWithThePublicKey) {
  auto k = generate(false);
  std::string error;
  auto key = SigningKey::fromPem(k.pem(), SigningKey::Alg::RS256, &error);
  ASSERT_TRUE(key) << error;
  const std::string jwt = key->sign(R"({"alg":"RS256","typ":"JWT"})", R"({"iss":"a@b"})");
  EXPECT_TRUE(verify(k.pkey, jwt, false));
  EXPECT_EQ(*base64UrlDecode(jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1)), R"({"iss":"a@b"})");
  std::string tampered = jwt;
  tampered[jwt.find('.') + 2] ^= 1;
  EXPECT_FALSE(verify(k.pkey, tampered, false));
}

TEST(JwtTest, Es256IsRawRAndSAndVerifies) {
  auto k = generate(true);
  std::string error;
  auto key = SigningKey::fromPem(k.pem(), SigningKey::Alg::ES256, &error);
  ASSERT_TRUE(key) << error;
  for (int i = 0; i < 20; ++i) {  // R or S with leading zero bytes must still be 32 bytes each
    const std::string jwt = key->sign(R"({"alg":"ES256","kid":"K"})", R"({"iss":"T","iat":1})");
    EXPECT_EQ(base64UrlDecode(jwt.substr(jwt.rfind('.') + 1))->size(), 64u);
    EXPECT_TRUE(verify(k.pkey, jwt, true));
  }
}

TEST(JwtTest, WrongKeyTypesAreRefused) {
  auto rsa = generate(false);
  auto ec = generate(true);
  std::string error;
  EXPECT_FALSE(SigningKey::fromPem(rsa.pem(), SigningKey::Alg::ES256, &error));
  EXPECT_FALSE(SigningKey::fromPem(ec.pem(), SigningKey::Alg::RS256, &error));
  EXPECT_FALSE(SigningKey::fromPem("not a key", SigningKey::Alg::ES256, &error));
}

TEST(RetryAfterTest, SecondsAndHttpDates) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parseRetryAfter("120"), milliseconds(120000));
  EXPECT_EQ(parseRetryAfter(" 0"), milliseconds(0));
  EXPECT_EQ(parseRetryAfter(""), milliseconds(-1));
  EXPECT_EQ(parseRetryAfter("soon"), milliseconds(-1));
  EXPECT_EQ(parseRetryAfter("-5"), milliseconds(-1));
  EXPECT_EQ(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT"), milliseconds(0));  // in the past
  char future[64];
  const std::time_t t = std::time(nullptr) + 100;
  std::strftime(future, sizeof future, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&t));
  const auto d = parseRetryAfter(future);
  EXPECT_GE(d.count(), 98000);
  EXPECT_LE(d.count(), 100000);
}

}  // namespace
}  // namespace parley::push
