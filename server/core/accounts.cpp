#include "server/core/accounts.h"

#include "server/util/crypto.h"
#include "storage/account_store.h"

namespace parley::core {

std::optional<std::vector<util::ScramCredential>> deriveCredentials(std::string_view password,
                                                                    std::uint32_t iterations) {
  if (password.empty()) return std::nullopt;
  std::vector<util::ScramCredential> out;
  for (auto alg : {util::HashAlg::Sha1, util::HashAlg::Sha256, util::HashAlg::Sha512}) {
    auto c = util::deriveScramCredential(alg, password, util::randomBytes(16), iterations);
    if (!c) return std::nullopt;
    out.push_back(std::move(*c));
  }
  return out;
}

AccountResult createAccount(storage::Database& db, const xmpp::Jid& jid, std::string_view password,
                            std::uint32_t iterations) {
  auto creds = deriveCredentials(password, iterations);
  if (!creds) return AccountResult::BadPassword;
  return storage::AccountStore(db).create(jid.domain(), jid.local(), *creds) ? AccountResult::Ok
                                                                             : AccountResult::Exists;
}

AccountResult setPassword(storage::Database& db, const xmpp::Jid& jid, std::string_view password,
                          std::uint32_t iterations) {
  auto creds = deriveCredentials(password, iterations);
  if (!creds) return AccountResult::BadPassword;
  return storage::AccountStore(db).setCredentials(jid.domain(), jid.local(), *creds)
             ? AccountResult::Ok
             : AccountResult::NotFound;
}

}  // namespace parley::core
