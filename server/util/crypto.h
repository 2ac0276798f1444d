// Small wrappers over OpenSSL's libcrypto for the primitives the server uses: hashes, HMAC, PBKDF2,
// random bytes, base64 and a constant-time comparison. Byte strings are std::string (raw bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace parley::util {

enum class HashAlg { Sha1, Sha256, Sha384, Sha512 };  // SHA-384: TLS 1.3 key schedule only

std::string_view hashName(HashAlg alg);  // "SHA-1", "SHA-256", "SHA-384", "SHA-512"
// The SCRAM hashes by IANA name (SHA-1, SHA-256, SHA-512); nullopt for any other.
std::optional<HashAlg> hashFromName(std::string_view name);
std::size_t hashSize(HashAlg alg);

std::string hash(HashAlg alg, std::string_view data);
std::string hmac(HashAlg alg, std::string_view key, std::string_view data);

// HMAC under a key fixed for the object's life (ids and tokens derived from a server secret): the
// padded key is hashed once, so each mac() is two hash finalisations. mac() is thread-safe.
class HmacKey {
 public:
  HmacKey(HashAlg alg, std::string_view key);
  ~HmacKey();
  HmacKey(const HmacKey&) = delete;
  HmacKey& operator=(const HmacKey&) = delete;
  std::string mac(std::string_view data) const;

 private:
  HashAlg alg_;
  evp_md_ctx_st* inner_ = nullptr;  // EVP_MD_CTX after (K ^ ipad)
  evp_md_ctx_st* outer_ = nullptr;  // after (K ^ opad)
};
// Blocking CPU work: call on the blocking pool only (it is slow on purpose).
std::string pbkdf2(HashAlg alg, std::string_view password, std::string_view salt, std::uint32_t iterations);

std::string randomBytes(std::size_t n);  // OpenSSL's CSPRNG (small requests: a per-thread block of it)
std::string randomToken(std::size_t n);  // n characters of [A-Za-z0-9], for ids and resources

bool constantTimeEqual(std::string_view a, std::string_view b);

std::string base64Encode(std::string_view data);
// Strict RFC 4648 decoding (padding required, no whitespace); nullopt on any error.
std::optional<std::string> base64Decode(std::string_view text);
std::string hexEncode(std::string_view data);

}  // namespace parley::util
