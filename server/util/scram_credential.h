// SCRAM credentials (RFC 5802 §3): what the server stores instead of a password. Only StoredKey and
// ServerKey are kept; neither lets anyone log in elsewhere or recover the password.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/util/crypto.h"

namespace parley::util {

// Salt length for new credentials (RFC 5802 leaves it open; 128 bits as NIST SP 800-132 advises). The
// fake credentials for unknown users use the same length so they look like real ones.
inline constexpr std::size_t kScramSaltSize = 16;

struct ScramCredential {
  HashAlg alg = HashAlg::Sha256;
  std::string salt;  // raw bytes
  std::uint32_t iterations = 0;
  std::string storedKey;  // raw bytes: H(ClientKey)
  std::string serverKey;  // raw bytes: HMAC(SaltedPassword, "Server Key")
};

// SASLprep (RFC 4013) of a password; nullopt when the password contains prohibited characters.
std::optional<std::string> saslPrep(std::string_view password);

// Derives the credential for a password. Blocking CPU work (PBKDF2): blocking pool only.
// `password` is the raw password; SASLprep is applied here. nullopt if SASLprep rejects it.
std::optional<ScramCredential> deriveScramCredential(HashAlg alg, std::string_view password,
                                                     std::string_view salt, std::uint32_t iterations);

// Checks a plaintext password (SASL PLAIN over TLS) against a stored credential. Blocking CPU work.
bool verifyPassword(const ScramCredential& credential, std::string_view password);

}  // namespace parley::util
