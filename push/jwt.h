// JSON Web Tokens (RFC 7519) signed with OpenSSL, for the push providers' authentication:
//   RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3): the OAuth2 assertion of a Google service
//         account (FCM HTTP v1);
//   ES256 (ECDSA P-256 with SHA-256, RFC 7518 §3.4: the signature is R||S, 64 bytes): APNs provider
//         tokens from a .p8 key.
// Signing is a fraction of a millisecond and happens once per token lifetime (tens of minutes).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace parley::push {

std::string base64Url(std::string_view bytes);  // RFC 4648 §5, no padding
std::optional<std::string> base64UrlDecode(std::string_view text);

class SigningKey {
 public:
  enum class Alg { RS256, ES256 };
  // PEM private key (PKCS#8 "BEGIN PRIVATE KEY", or traditional RSA/EC). nullopt with `error` set when
  // it cannot be read or does not suit the algorithm (RS256 needs RSA, ES256 needs EC P-256).
  static std::shared_ptr<SigningKey> fromPem(std::string_view pem, Alg alg, std::string* error);
  ~SigningKey();
  Alg alg() const { return alg_; }
  // header and claims are JSON objects (serialised); returns header.claims.signature.
  std::string sign(std::string_view headerJson, std::string_view claimsJson) const;

 private:
  SigningKey() = default;
  Alg alg_ = Alg::RS256;
  void* key_ = nullptr;  // EVP_PKEY*
};

}  // namespace parley::push
