#include "storage/user_data_store.h"

namespace parley::storage {
namespace {

Value text(std::string_view s) {
  return std::string(s);
}

}  // namespace

std::optional<std::string> UserDataStore::get(std::string_view domain, std::string_view user,
                                              std::string_view store, std::string_view key) {
  auto rows = db_.connection().query(
      "SELECT value FROM user_data WHERE domain = ? AND username = ? AND store = ? AND item_key = ?",
      {text(domain), text(user), text(store), text(key)});
  if (rows.empty()) return std::nullopt;
  return rows[0].getText(0);
}

void UserDataStore::set(std::string_view domain, std::string_view user, std::string_view store,
                        std::string_view key, std::string_view value) {
  db_.connection().execute(
      db_.dialect().upsert("user_data", {"domain", "username", "store", "item_key", "value"},
                           {"domain", "username", "store", "item_key"}, {"value"}),
      {text(domain), text(user), text(store), text(key), text(value)});
}

bool UserDataStore::remove(std::string_view domain, std::string_view user, std::string_view store,
                           std::string_view key) {
  return db_.connection().execute(
             "DELETE FROM user_data WHERE domain = ? AND username = ? AND store = ? AND item_key = ?",
             {text(domain), text(user), text(store), text(key)}) > 0;
}

std::vector<std::pair<std::string, std::string>> UserDataStore::list(std::string_view domain,
                                                                     std::string_view user,
                                                                     std::string_view store) {
  auto rows = db_.connection().query(
      "SELECT item_key, value FROM user_data WHERE domain = ? AND username = ? AND store = ? ORDER BY "
      "item_key",
      {text(domain), text(user), text(store)});
  std::vector<std::pair<std::string, std::string>> items;
  items.reserve(rows.size());
  for (const Row& r : rows) items.emplace_back(r.getText(0), r.getText(1));
  return items;
}

void UserDataStore::clear(std::string_view domain, std::string_view user, std::string_view store) {
  db_.connection().execute("DELETE FROM user_data WHERE domain = ? AND username = ? AND store = ?",
                           {text(domain), text(user), text(store)});
}

}  // namespace parley::storage
