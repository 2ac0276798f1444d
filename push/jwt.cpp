#include "push/jwt.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>

#include "server/util/crypto.h"

namespace parley::push {

std::string base64Url(std::string_view bytes) {
  std::string s = util::base64Encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return s;
}

std::optional<std::string> base64UrlDecode(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  while (s.size() % 4) s.push_back('=');
  return util::base64Decode(s);
}

std::shared_ptr<SigningKey> SigningKey::fromPem(std::string_view pem, Alg alg, std::string* error) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!pkey) {
    ERR_clear_error();
    if (error) *error = "not a PEM private key";
    return nullptr;
  }
  const int id = EVP_PKEY_get_base_id(pkey);
  if (alg == Alg::RS256 && id != EVP_PKEY_RSA) {
    EVP_PKEY_free(pkey);
    if (error) *error = "RS256 needs an RSA key";
    return nullptr;
  }
  if (alg == Alg::ES256 && (id != EVP_PKEY_EC || EVP_PKEY_get_bits(pkey) != 256)) {
    EVP_PKEY_free(pkey);
    if (error) *error = "ES256 needs an EC P-256 key";
    return nullptr;
  }
  auto key = std::shared_ptr<SigningKey>(new SigningKey);
  key->alg_ = alg;
  key->key_ = pkey;
  return key;
}

SigningKey::~SigningKey() {
  EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
}

std::string SigningKey::sign(std::string_view headerJson, std::string_view claimsJson) const {
  const std::string input = base64Url(headerJson) + "." + base64Url(claimsJson);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig;
  size_t len = 0;
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(key_)) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    ERR_clear_error();
    throw std::runtime_error("JWT signing failed");
  }
  if (alg_ == Alg::ES256) {
    // OpenSSL gives a DER ECDSA-Sig-Value; JWS wants the two 32-byte integers side by side.
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    if (!es) throw std::runtime_error("JWT signing failed (ECDSA signature)");
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(es, &r, &s);
    std::string raw(64, '\0');
    BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    sig = std::move(raw);
  }
  return input + "." + base64Url(sig);
}

}  // namespace parley::push
