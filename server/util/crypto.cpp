#include "server/util/crypto.h"

#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "server/util/thread_role.h"

namespace parley::util {
namespace {

// A failing libcrypto call for hashing or the CSPRNG is not something a peer can cause, and carrying
// on without it would be unsafe (predictable nonces, wrong keys): stop the process.
[[noreturn]] void cryptoFailure(const char* what) {
  std::fprintf(stderr, "parley: fatal libcrypto failure in %s\n", what);
  std::abort();
}

// Digests fetched once. OpenSSL 3 looks up the implementation of EVP_sha256() and friends, and HMAC()
// also its MAC, by name on every call (EVP_Q_mac: a lock, string copies, a dozen allocations, ≈ 1.5 µs);
// an explicitly fetched digest is bound to its provider. Kept for the life of the process.
const EVP_MD* evpMd(HashAlg alg) {
  static const auto fetch = [](const char* name) {
    EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
    if (!md) cryptoFailure("EVP_MD_fetch");
    return md;
  };
  switch (alg) {
    case HashAlg::Sha1: {
      static const EVP_MD* const md = fetch("SHA1");
      return md;
    }
    case HashAlg::Sha256:
      break;
    case HashAlg::Sha384: {
      static const EVP_MD* const md = fetch("SHA384");
      return md;
    }
    case HashAlg::Sha512: {
      static const EVP_MD* const md = fetch("SHA512");
      return md;
    }
  }
  static const EVP_MD* const md = fetch("SHA256");
  return md;
}

std::size_t blockSize(HashAlg alg) {
  return alg == HashAlg::Sha384 || alg == HashAlg::Sha512 ? 128 : 64;
}

// One digest context per thread for the HMAC computations (initialising a context allocates).
struct ThreadDigest {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~ThreadDigest() { EVP_MD_CTX_free(ctx); }
  EVP_MD_CTX* get() {
    if (!ctx) cryptoFailure("EVP_MD_CTX_new");
    return ctx;
  }
};
thread_local ThreadDigest tDigest;

void finalInto(EVP_MD_CTX* ctx, unsigned char* out, std::size_t size) {
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != size) cryptoFailure("EVP_DigestFinal_ex");
}

// OpenSSL wants non-null pointers even for empty inputs.
const unsigned char* bytes(std::string_view s) {
  static const unsigned char kEmpty = 0;
  return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

constexpr std::string_view kB64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr unsigned char kNotB64 = 0xFF;
constexpr std::array<unsigned char, 256> makeB64Table() {
  std::array<unsigned char, 256> t{};
  for (auto& v : t) v = kNotB64;
  for (std::size_t i = 0; i < kB64Alphabet.size(); ++i) {
    t[static_cast<unsigned char>(kB64Alphabet[i])] = static_cast<unsigned char>(i);
  }
  return t;
}
constexpr auto kB64Table = makeB64Table();

}  // namespace

std::string_view hashName(HashAlg alg) {
  switch (alg) {
    case HashAlg::Sha1:
      return "SHA-1";
    case HashAlg::Sha256:
      return "SHA-256";
    case HashAlg::Sha384:
      return "SHA-384";
    case HashAlg::Sha512:
      return "SHA-512";
  }
  return "SHA-256";
}

std::optional<HashAlg> hashFromName(std::string_view name) {
  for (HashAlg alg : {HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512}) {  // no SCRAM-SHA-384
    // Exact match: SASL mechanism names are upper case (RFC 4422 §3.1), and callers build them from these.
    if (name == hashName(alg)) return alg;
  }
  return std::nullopt;
}

std::size_t hashSize(HashAlg alg) {
  switch (alg) {
    case HashAlg::Sha1:
      return 20;
    case HashAlg::Sha256:
      return 32;
    case HashAlg::Sha384:
      return 48;
    case HashAlg::Sha512:
      return 64;
  }
  return 32;
}

std::string hash(HashAlg alg, std::string_view data) {
  std::string out(hashSize(alg), '\0');
  unsigned int len = 0;
  if (EVP_Digest(bytes(data), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, evpMd(alg),
                 nullptr) != 1 ||
      len != out.size()) {
    cryptoFailure("EVP_Digest");
  }
  return out;
}

// RFC 2104: H((K ^ opad) || H((K ^ ipad) || data)), K the key padded to the block (hashed first when
// longer). The two padded-key blocks are absorbed once, so a MAC is two hash finalisations.
HmacKey::HmacKey(HashAlg alg, std::string_view key) : alg_(alg) {
  const std::size_t block = blockSize(alg);
  std::string k = key.size() > block ? hash(alg, key) : std::string(key);
  k.resize(block, '\0');
  std::string pad(block, '\0');
  const auto absorb = [&](EVP_MD_CTX*& ctx, unsigned char x) {
    for (std::size_t i = 0; i < block; ++i) pad[i] = static_cast<char>(static_cast<unsigned char>(k[i]) ^ x);
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, evpMd(alg), nullptr) != 1 ||
        EVP_DigestUpdate(ctx, pad.data(), block) != 1)
      cryptoFailure("HMAC key");
  };
  absorb(inner_, 0x36);
  absorb(outer_, 0x5c);
  OPENSSL_cleanse(k.data(), k.size());
  OPENSSL_cleanse(pad.data(), pad.size());
}

HmacKey::~HmacKey() {
  EVP_MD_CTX_free(inner_);  // frees (and wipes) the keyed states
  EVP_MD_CTX_free(outer_);
}

std::string HmacKey::mac(std::string_view data) const {
  const std::size_t size = hashSize(alg_);
  std::string out(size, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  EVP_MD_CTX* ctx = tDigest.get();
  if (EVP_MD_CTX_copy_ex(ctx, inner_) != 1 || EVP_DigestUpdate(ctx, bytes(data), data.size()) != 1)
    cryptoFailure("HMAC inner");
  finalInto(ctx, o, size);
  if (EVP_MD_CTX_copy_ex(ctx, outer_) != 1 || EVP_DigestUpdate(ctx, o, size) != 1)
    cryptoFailure("HMAC outer");
  finalInto(ctx, o, size);
  return out;
}

std::string hmac(HashAlg alg, std::string_view key, std::string_view data) {
  return HmacKey(alg, key).mac(data);
}

std::string pbkdf2(HashAlg alg, std::string_view password, std::string_view salt, std::uint32_t iterations) {
  PARLEY_ASSERT_MAY_BLOCK();
  // Callers validate the count; 0 and counts beyond int give no key rather than a weak one.
  if (iterations == 0 || iterations > static_cast<std::uint32_t>(INT_MAX) || password.size() > INT_MAX ||
      salt.size() > INT_MAX) {
    return {};
  }
  std::string out(hashSize(alg), '\0');
  if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(bytes(password)), static_cast<int>(password.size()),
                        bytes(salt), static_cast<int>(salt.size()), static_cast<int>(iterations), evpMd(alg),
                        static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data())) != 1) {
    return {};
  }
  return out;
}

namespace {
// Every RAND_bytes call asks the kernel for the process id (OpenSSL's fork check) and takes the DRBG's
// lock: a login's stream ids, parser salts and SCRAM nonce cost a dozen system calls that way. Small
// requests are served from a per-thread block of the same DRBG's output instead, each byte handed out
// once and wiped as it goes. parleyd never forks, so no two processes share a block.
constexpr std::size_t kRandomBlock = 512;
struct RandomBlock {
  std::array<unsigned char, kRandomBlock> bytes;
  std::size_t used = kRandomBlock;
  ~RandomBlock() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};
thread_local RandomBlock tRandom;

void fillRandom(unsigned char* out, std::size_t n) {
  if (n > INT_MAX || RAND_bytes(out, static_cast<int>(n)) != 1) cryptoFailure("RAND_bytes");
}
}  // namespace

std::string randomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (n == 0) return out;
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (n > kRandomBlock / 4) {
    fillRandom(dst, n);
    return out;
  }
  RandomBlock& b = tRandom;
  if (b.bytes.size() - b.used < n) {
    fillRandom(b.bytes.data(), b.bytes.size());
    b.used = 0;
  }
  std::memcpy(dst, b.bytes.data() + b.used, n);
  OPENSSL_cleanse(b.bytes.data() + b.used, n);
  b.used += n;
  return out;
}

std::string randomToken(std::size_t n) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // Rejection sampling: 248 = 4 * 62, so bytes below it map to the alphabet without bias.
  constexpr unsigned kLimit = 248;
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    const std::string pool = randomBytes(n - out.size() + 8);
    for (unsigned char c : pool) {
      if (c >= kLimit) continue;
      out.push_back(kAlphabet[c % kAlphabet.size()]);
      if (out.size() == n) break;
    }
  }
  return out;
}

bool constantTimeEqual(std::string_view a, std::string_view b) {
  // The length is not secret (all our secrets have a fixed size); only the contents are.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
    out.push_back(kB64Alphabet[(v >> 6) & 63]);
    out.push_back(kB64Alphabet[v & 63]);
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{p[i]} << 16;
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
    out.push_back(kB64Alphabet[(v >> 18) & 63]);
    out.push_back(kB64Alphabet[(v >> 12) & 63]);
    out.push_back(kB64Alphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

// Our own decoder rather than EVP_DecodeBlock, which skips whitespace and cannot tell the caller how
// much padding it saw. Strict per RFC 4648 §3: length a multiple of 4, '=' only as the last one or two
// characters, no whitespace, and (§3.5) the unused bits before the padding must be zero, so every
// byte string has exactly one accepted encoding.
std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=') {
        // Only in the last quantum, only in positions 3 and 4, and nothing but '=' after it.
        if (!last || k < 2) return std::nullopt;
        ++pad;
        v[k] = 0;
        continue;
      }
      if (pad > 0) return std::nullopt;
      const unsigned char d = kB64Table[static_cast<unsigned char>(c)];
      if (d == kNotB64) return std::nullopt;
      v[k] = d;
    }
    const std::uint32_t bits = (std::uint32_t(v[0]) << 18) | (std::uint32_t(v[1]) << 12) |
                               (std::uint32_t(v[2]) << 6) | std::uint32_t(v[3]);
    out.push_back(static_cast<char>((bits >> 16) & 0xFF));
    if (pad == 2) {
      if ((bits & 0xFFFF) != 0) return std::nullopt;  // non-zero pad bits
      break;
    }
    out.push_back(static_cast<char>((bits >> 8) & 0xFF));
    if (pad == 1) {
      if ((bits & 0xFF) != 0) return std::nullopt;
      break;
    }
    out.push_back(static_cast<char>(bits & 0xFF));
  }
  return out;
}

std::string hexEncode(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace parley::util
