#include "xep/offline/offline_store.h"

namespace parley::xep::offline {
namespace {

using storage::Connection;
using storage::Row;
using storage::Value;

Value text(std::string_view s) {
  return std::string(s);
}

std::int64_t countIn(Connection& c, std::string_view domain, std::string_view user) {
  return c
      .query("SELECT COUNT(*) FROM offline_messages WHERE domain = ? AND username = ?",
             {text(domain), text(user)})[0]
      .getInt(0);
}

}  // namespace

bool OfflineStore::push(std::string_view domain, std::string_view user, std::int64_t stamp,
                        std::string_view xml, std::int64_t maxPerUser) {
  // Count and insert in one transaction, so concurrent pushes cannot overshoot the cap.
  return db_.transaction([&](Connection& c) {
    if (countIn(c, domain, user) >= maxPerUser) return false;
    c.execute("INSERT INTO offline_messages (domain, username, stamp, xml) VALUES (?, ?, ?, ?)",
              {text(domain), text(user), stamp, text(xml)});
    return true;
  });
}

std::vector<StoredMessage> OfflineStore::fetch(std::string_view domain, std::string_view user,
                                               std::int64_t limit) {
  if (limit <= 0) return {};  // SQLite reads a negative LIMIT as "no limit"; MySQL refuses it
  auto rows = db_.connection().query(
      "SELECT id, stamp, xml FROM offline_messages WHERE domain = ? AND username = ? ORDER BY id LIMIT ?",
      {text(domain), text(user), limit});
  std::vector<StoredMessage> messages;
  messages.reserve(rows.size());
  for (const Row& r : rows) messages.push_back({r.getInt(0), r.getInt(1), r.getText(2)});
  return messages;
}

void OfflineStore::remove(std::string_view domain, std::string_view user,
                          const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return;
  // One cached statement per id rather than an IN list whose text changes with its length; the
  // domain/username condition keeps one user from deleting another's messages by id.
  db_.transaction([&](Connection& c) {
    for (std::int64_t id : ids) {
      c.execute("DELETE FROM offline_messages WHERE id = ? AND domain = ? AND username = ?",
                {id, text(domain), text(user)});
    }
  });
}

std::int64_t OfflineStore::count(std::string_view domain, std::string_view user) {
  return countIn(db_.connection(), domain, user);
}

std::vector<std::string> OfflineStore::accountsWithMessages() {
  std::vector<std::string> out;
  for (const Row& r : db_.connection().query("SELECT DISTINCT domain, username FROM offline_messages", {}))
    out.push_back(r.getText(1) + "@" + r.getText(0));
  return out;
}

}  // namespace parley::xep::offline
