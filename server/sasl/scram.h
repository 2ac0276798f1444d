// DESIGN: the SCRAM SASL mechanism family (RFC 5802, RFC 7677, SHA-512 per the IANA registry) with
// channel binding (-PLUS: RFC 5929 tls-server-end-point, RFC 9266 tls-exporter). ScramServer is a
// pure state machine: no I/O, no storage. The session gives it the client's messages and the stored
// credential it looked up (on the blocking pool) and sends back what it returns. ScramClient is the
// other side, used by tests, the benchmark and parleyctl's console.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "server/util/scram_credential.h"

namespace parley::sasl {

// RFC 6120 §6.5 SASL error conditions the mechanism can produce.
enum class SaslError { None, MalformedRequest, NotAuthorized, InvalidAuthzid, EncryptionRequired, Aborted };
std::string_view saslErrorName(SaslError e);  // "malformed-request", …

// What the TLS layer of the connection offers for channel binding. Empty strings: not available.
struct ChannelBindings {
  std::string tlsExporter;        // RFC 9266 (TLS 1.3 only)
  std::string tlsServerEndPoint;  // RFC 5929 §4 (hash of the server certificate)
  bool anyAvailable() const { return !tlsExporter.empty() || !tlsServerEndPoint.empty(); }
  // The binding data for a type name ("tls-exporter", "tls-server-end-point"), or nullopt.
  std::optional<std::string_view> get(std::string_view type) const;
};

class ScramServer {
 public:
  // `plus`: this is the -PLUS variant. `plusAdvertised`: the server offered -PLUS variants on this
  // stream (used for the downgrade check of RFC 5802 §6: a client saying 'y' while the server
  // advertised -PLUS is an attack).
  ScramServer(util::HashAlg alg, bool plus, bool plusAdvertised, ChannelBindings bindings);

  struct FirstResult {
    SaslError error = SaslError::None;
    std::string username;  // as sent by the client, =2C/=3D decoded (the caller applies nodeprep)
    std::string authzid;   // decoded "a=" value, empty when absent
  };
  // Parses client-first-message (the SASL <auth/> payload).
  FirstResult clientFirst(std::string_view message);

  // After the credential lookup: the server-first-message (r=, s=, i=). Empty if called out of order
  // (the exchange is then over). A credential for another hash, or a damaged one, gives a normal
  // looking server-first and then NotAuthorized.
  std::string serverFirst(const util::ScramCredential& credential);

  struct FinalResult {
    SaslError error = SaslError::None;
    std::string serverFinal;  // "v=…" on success
  };
  // Verifies client-final-message: channel binding, nonce, proof. One attempt per object. Syntax
  // errors give MalformedRequest; a wrong binding, nonce or proof gives NotAuthorized.
  FinalResult clientFinal(std::string_view message);

  // For a user that does not exist: a server-first made from a fake credential derived from `secret`
  // and the username, so the exchange looks the same as for a real account (no user enumeration).
  // The salt is HMAC(secret, username): stable across attempts. Pass the nodeprep'd username as
  // `normalizedUsername` so that "Juliet" and "juliet" get the same salt, as they would for a real
  // account; empty means the username as sent. `iterations` 0 means 4096. clientFinal then always
  // fails with NotAuthorized.
  std::string serverFirstForUnknownUser(std::string_view secret, std::uint32_t iterations,
                                        std::string_view normalizedUsername = {});

  // Test hook: fixes the server's part of the nonce (RFC test vectors). Call before serverFirst.
  void setServerNonceForTesting(std::string nonce) { testServerNonce_ = std::move(nonce); }

 private:
  enum class State { Start, GotClientFirst, SentServerFirst, Done };

  std::string makeServerFirst(const util::ScramCredential& credential, bool fake);

  util::HashAlg alg_;
  bool plus_;
  bool plusAdvertised_;
  ChannelBindings bindings_;
  std::string gs2Header_;
  std::string cbName_;
  std::string clientFirstBare_;
  std::string clientNonce_;
  std::string serverFirst_;
  std::string nonce_;  // client nonce + server nonce
  std::optional<util::ScramCredential> credential_;
  bool fake_ = false;
  State state_ = State::Start;
  std::string username_;
  std::string testServerNonce_;
};

class ScramClient {
 public:
  // The most PBKDF2 rounds the client accepts from a server-first (250 times the 4096 RFC 7677
  // recommends); a server asking for more gets no client-final (found by fuzzing: i=99999998 kept a
  // client busy for minutes).
  static constexpr std::uint32_t kMaxClientIterations = 1'000'000;
  // cbType empty: no channel binding ('n' flag, or 'y' after setChannelBindingSupported(true)).
  // Otherwise "tls-exporter" or "tls-server-end-point" with `cbData` (the -PLUS variant).
  ScramClient(util::HashAlg alg, std::string username, std::string password, std::string cbType = {},
              std::string cbData = {}, std::string authzid = {});
  // RFC 5802 §6: the client could bind but the server offered no -PLUS: send 'y' instead of 'n'.
  void setChannelBindingSupported(bool supported) { bindingSupported_ = supported; }
  std::string clientFirst();
  // Returns client-final, or nullopt if the server-first is malformed, the nonce does not match or the
  // iteration count is above kMaxClientIterations.
  std::optional<std::string> clientFinal(std::string_view serverFirst);
  bool verifyServerFinal(std::string_view serverFinal) const;
  // Test hook: fixes the client nonce (RFC test vectors).
  void setNonceForTesting(std::string nonce) { clientNonce_ = std::move(nonce); }

 private:
  util::HashAlg alg_;
  std::string username_, password_, cbType_, cbData_, authzid_;
  std::string clientNonce_, clientFirstBare_, gs2Header_, authMessage_, saltedPassword_;
  bool bindingSupported_ = false;
};

}  // namespace parley::sasl
