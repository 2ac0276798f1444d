#include "server/util/scram_credential.h"

#include "server/util/stringprep.h"

namespace parley::util {

std::optional<std::string> saslPrep(std::string_view password) {
  return stringPrep(PrepProfile::SaslPrep, password);
}

std::optional<ScramCredential> deriveScramCredential(HashAlg alg, std::string_view password,
                                                     std::string_view salt, std::uint32_t iterations) {
  if (iterations == 0) return std::nullopt;
  auto prepared = saslPrep(password);
  if (!prepared) return std::nullopt;
  // RFC 5802 §3.
  const std::string saltedPassword = pbkdf2(alg, *prepared, salt, iterations);
  if (saltedPassword.empty()) return std::nullopt;
  const std::string clientKey = hmac(alg, saltedPassword, "Client Key");
  ScramCredential c;
  c.alg = alg;
  c.salt = std::string(salt);
  c.iterations = iterations;
  c.storedKey = hash(alg, clientKey);
  c.serverKey = hmac(alg, saltedPassword, "Server Key");
  return c;
}

bool verifyPassword(const ScramCredential& credential, std::string_view password) {
  if (credential.storedKey.size() != hashSize(credential.alg)) return false;
  auto derived = deriveScramCredential(credential.alg, password, credential.salt, credential.iterations);
  if (!derived) return false;
  return constantTimeEqual(derived->storedKey, credential.storedKey);
}

}  // namespace parley::util
