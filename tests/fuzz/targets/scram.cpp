// SASL message parsing: the SCRAM server state machine (server/sasl/scram.h, RFC 5802/7677 with
// channel binding) given a client-first and a client-final message from the input, the SCRAM client's
// parsing of a server-first (used by parleyctl and the benchmark), SASL PLAIN (RFC 4616) and SASLprep.
// Input: byte 0 picks the hash, -PLUS, whether -PLUS was advertised and whether the user exists; the
// rest is client-first NUL client-final NUL server-first (missing parts are skipped).
// Invariants: a syntax error never counts as success; an unknown user never authenticates.
#include "server/sasl/scram.h"

#include <array>
#include <string>

#include "server/sasl/plain.h"
#include "server/util/scram_credential.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using namespace parley;

const util::ScramCredential& credential(util::HashAlg alg) {
  // One PBKDF2 iteration: the fuzzer explores parsing, not key stretching.
  static const std::array<util::ScramCredential, 3> creds = {
      *util::deriveScramCredential(util::HashAlg::Sha1, "pencil", "0123456789abcdef", 1),
      *util::deriveScramCredential(util::HashAlg::Sha256, "pencil", "0123456789abcdef", 1),
      *util::deriveScramCredential(util::HashAlg::Sha512, "pencil", "0123456789abcdef", 1)};
  return creds[alg == util::HashAlg::Sha1 ? 0 : alg == util::HashAlg::Sha256 ? 1 : 2];
}

std::string_view nextPart(std::string_view& rest) {
  const auto nul = rest.find('\0');
  std::string_view part = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return part;
}

}  // namespace

PARLEY_FUZZ_TARGET(scram) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const util::HashAlg alg = (mode & 3) == 0   ? util::HashAlg::Sha1
                            : (mode & 3) == 1 ? util::HashAlg::Sha256
                                              : util::HashAlg::Sha512;
  const bool plus = mode & 4, plusAdvertised = mode & 8, unknownUser = mode & 16;
  sasl::ChannelBindings cb;
  if (mode & 32) cb.tlsExporter = std::string(32, 'E');
  if (mode & 64) cb.tlsServerEndPoint = std::string(32, 'S');
  (void)cb.get(rest.substr(0, 24));

  // PLAIN and SASLprep see the whole input.
  auto plain = sasl::parsePlain(rest);
  if (plain.ok) (void)util::saslPrep(plain.password);

  const std::string_view first = nextPart(rest);
  const std::string_view final = nextPart(rest);
  const std::string_view serverFirst = rest;

  sasl::ScramServer server(alg, plus, plusAdvertised, cb);
  server.setServerNonceForTesting("3rfcNHYJY1ZVvWVs7j");
  auto r1 = server.clientFirst(first);
  if (r1.error == sasl::SaslError::None) {
    const std::string sf = unknownUser ? server.serverFirstForUnknownUser("secret", 1, r1.username)
                                       : server.serverFirst(credential(alg));
    PARLEY_FUZZ_CHECK(!sf.empty());
    auto r2 = server.clientFinal(final);
    if (unknownUser) PARLEY_FUZZ_CHECK(r2.error != sasl::SaslError::None);
    if (r2.error == sasl::SaslError::None) PARLEY_FUZZ_CHECK(r2.serverFinal.rfind("v=", 0) == 0);
    // A second final message is refused: one attempt per exchange.
    PARLEY_FUZZ_CHECK(server.clientFinal(final).error != sasl::SaslError::None);
  }

  sasl::ScramClient client(alg, "user", "pencil", plus ? "tls-exporter" : "",
                           plus ? std::string(32, 'E') : "");
  client.setNonceForTesting("fyko+d2lbbFgONRv9qkxdawL");
  (void)client.clientFirst();
  if (auto cf = client.clientFinal(serverFirst)) (void)client.verifyServerFinal(final);
  return 0;
}
