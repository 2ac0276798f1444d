// Per-account key/value data for modules whose data is "a few documents per user": private XML
// storage (XEP-0049: store "private", key = namespace), vCard-temp (store "vcard", key ""), the
// block list (store "blocklist", key = JID), and so on. Values are opaque strings (usually XML).
// Blocking: blocking pool only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/database.h"

namespace parley::storage {

class UserDataStore {
 public:
  explicit UserDataStore(Database& db) : db_(db) {}

  std::optional<std::string> get(std::string_view domain, std::string_view user, std::string_view store,
                                 std::string_view key);
  void set(std::string_view domain, std::string_view user, std::string_view store, std::string_view key,
           std::string_view value);
  // Returns true if a row was deleted.
  bool remove(std::string_view domain, std::string_view user, std::string_view store, std::string_view key);
  // Every (key, value) of one store for one user, ordered by key.
  std::vector<std::pair<std::string, std::string>> list(std::string_view domain, std::string_view user,
                                                        std::string_view store);
  void clear(std::string_view domain, std::string_view user, std::string_view store);

 private:
  Database& db_;
};

}  // namespace parley::storage
