// Account creation and password changes, shared by parleyctl, ad-hoc commands and registration.
// Blocking (PBKDF2 and storage): blocking pool or command-line tools only.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "server/util/scram_credential.h"
#include "server/xmpp/jid.h"
#include "storage/database.h"

namespace parley::core {

enum class AccountResult { Ok, Exists, NotFound, BadPassword };

// One SCRAM credential per supported hash (SHA-1, SHA-256, SHA-512) with a fresh salt each.
std::optional<std::vector<util::ScramCredential>> deriveCredentials(std::string_view password,
                                                                    std::uint32_t iterations);
AccountResult createAccount(storage::Database& db, const xmpp::Jid& jid, std::string_view password,
                            std::uint32_t iterations);
AccountResult setPassword(storage::Database& db, const xmpp::Jid& jid, std::string_view password,
                          std::uint32_t iterations);

}  // namespace parley::core
