#include "xep/push/push_store.h"

#include "server/util/crypto.h"

namespace parley::xep::push {

namespace {
using storage::Connection;
using storage::Value;
Value text(std::string_view s) {
  return std::string(s);
}
}  // namespace

std::string PushStore::regId(std::string_view serviceJid, std::string_view node) {
  std::string key(serviceJid);
  key.push_back('\0');
  key.append(node);
  return util::hexEncode(util::hash(util::HashAlg::Sha256, key));
}

void PushStore::upsert(const StoredRegistration& r) {
  const std::string sql =
      db_.dialect().upsert("push_registrations",
                           {"domain", "username", "reg_id", "service_jid", "node", "options", "created_at"},
                           {"domain", "username", "reg_id"}, {"options", "created_at"});
  db_.transaction([&](Connection& c) {
    c.execute(sql, {text(r.domain), text(r.username), text(regId(r.serviceJid, r.node)), text(r.serviceJid),
                    text(r.node), text(r.options), r.createdAt});
  });
}

std::int64_t PushStore::remove(std::string_view domain, std::string_view username, std::string_view serviceJid,
                               const std::string* node) {
  return db_.transaction([&](Connection& c) -> std::int64_t {
    if (node)
      return c.execute("DELETE FROM push_registrations WHERE domain = ? AND username = ? AND reg_id = ?",
                       {text(domain), text(username), text(regId(serviceJid, *node))});
    // service_jid is not part of the key (MEDIUMTEXT on MySQL): read the user's rows, delete by key.
    auto rows = c.query("SELECT reg_id, service_jid FROM push_registrations WHERE domain = ? AND username = ?",
                        {text(domain), text(username)});
    std::int64_t n = 0;
    for (const auto& row : rows)
      if (row.getText(1) == serviceJid)
        n += c.execute("DELETE FROM push_registrations WHERE domain = ? AND username = ? AND reg_id = ?",
                       {text(domain), text(username), text(row.getText(0))});
    return n;
  });
}

std::vector<StoredRegistration> PushStore::loadAll() {
  auto rows = db_.connection().query(
      "SELECT domain, username, service_jid, node, options, created_at FROM push_registrations "
      "ORDER BY domain, username, created_at");
  std::vector<StoredRegistration> out;
  out.reserve(rows.size());
  for (const auto& row : rows)
    out.push_back({row.getText(0), row.getText(1), row.getText(2), row.getText(3), row.getText(4),
                   row.getInt(5)});
  return out;
}

void PushStore::setRoomRule(const StoredRoomRule& r) {
  db_.transaction([&](Connection& c) {
    if (r.mode.empty()) {
      c.execute("DELETE FROM push_room_rules WHERE domain = ? AND username = ? AND room = ?",
                {text(r.domain), text(r.username), text(r.room)});
      return;
    }
    const std::string sql = db_.dialect().upsert("push_room_rules", {"domain", "username", "room", "mode", "nick"},
                                                 {"domain", "username", "room"}, {"mode", "nick"});
    c.execute(sql, {text(r.domain), text(r.username), text(r.room), text(r.mode), text(r.nick)});
  });
}

std::vector<StoredRoomRule> PushStore::loadRoomRules() {
  auto rows = db_.connection().query("SELECT domain, username, room, mode, nick FROM push_room_rules");
  std::vector<StoredRoomRule> out;
  for (const auto& row : rows)
    out.push_back({row.getText(0), row.getText(1), row.getText(2), row.getText(3), row.getText(4)});
  return out;
}

}  // namespace parley::xep::push
