// Accounts and their SCRAM credentials. Blocking: blocking pool only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/util/scram_credential.h"
#include "storage/database.h"

namespace parley::storage {

struct LastActivity {
  std::int64_t when = 0;  // unix seconds
  std::string status;     // the status text of the last unavailable presence
};

class AccountStore {
 public:
  explicit AccountStore(Database& db) : db_(db) {}

  // Creates the account with one credential per hash; false if it already exists. Two credentials
  // with the same hash throw StorageError.
  bool create(std::string_view domain, std::string_view user,
              const std::vector<util::ScramCredential>& credentials);
  // Deletes the account and every row of user data in every table (one transaction); false if absent.
  bool remove(std::string_view domain, std::string_view user);
  // Replaces all credentials; false if the account does not exist.
  bool setCredentials(std::string_view domain, std::string_view user,
                      const std::vector<util::ScramCredential>& credentials);
  std::optional<util::ScramCredential> credential(std::string_view domain, std::string_view user,
                                                  util::HashAlg alg);
  // What a login needs, in one query: the credential and whether the account is disabled.
  struct LoginCredential {
    util::ScramCredential credential;
    bool disabled = false;
  };
  std::optional<LoginCredential> loginCredential(std::string_view domain, std::string_view user,
                                                 util::HashAlg alg);
  bool exists(std::string_view domain, std::string_view user);
  std::vector<std::string> list(std::string_view domain);  // usernames, sorted
  std::int64_t count(std::string_view domain);

  // False if the account does not exist.
  bool setDisabled(std::string_view domain, std::string_view user, bool disabled);
  bool isDisabled(std::string_view domain, std::string_view user);  // false if absent

  // The setters do nothing for an absent account; the getters return nullopt if absent or never set.
  void setLastLogin(std::string_view domain, std::string_view user, std::int64_t when);
  std::optional<std::int64_t> lastLogin(std::string_view domain, std::string_view user);
  void setLastLogout(std::string_view domain, std::string_view user, const LastActivity& last);
  std::optional<LastActivity> lastLogout(std::string_view domain, std::string_view user);

 private:
  Database& db_;
};

// Deletes one user's rows from one of schema::kUserTables, inside the caller's transaction. Most are
// keyed by (domain, username); the message archive's rows are found through its index (mam_index) and,
// above the index's watermark, by id range (xep/mam/archive_store.h), so mam_messages goes before
// mam_index.
void deleteUserRows(Database& db, Connection& c, std::string_view table, std::string_view domain,
                    std::string_view user);

}  // namespace parley::storage
