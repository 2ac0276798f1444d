#include "xep/muc/muc_store.h"

#include <map>

namespace parley::xep::muc {
namespace {

using storage::Connection;
using storage::Row;
using storage::Value;

Value text(std::string_view s) {
  return std::string(s);
}

Value flag(bool b) {
  return std::int64_t{b ? 1 : 0};
}

}  // namespace

void MucStore::save(const StoredRoom& r) {
  const std::string sql = db_.dialect().upsert(
      "muc_rooms",
      {"domain", "room", "name", "description", "public_room", "members_only", "moderated", "password",
       "max_occupants", "whois", "history_length", "allow_invites", "allow_pm", "change_subject", "subject",
       "subject_nick", "created_at", "archiving", "avatar_hash"},
      {"domain", "room"},
      {"name", "description", "public_room", "members_only", "moderated", "password", "max_occupants",
       "whois", "history_length", "allow_invites", "allow_pm", "change_subject", "subject", "subject_nick",
       "archiving", "avatar_hash"});
  db_.transaction([&](Connection& c) {
    c.execute(sql,
              {text(r.domain), text(r.room), text(r.name), text(r.description), flag(r.isPublic),
               flag(r.membersOnly), flag(r.moderated), text(r.password), r.maxOccupants, text(r.whois),
               r.historyLength, flag(r.allowInvites), text(r.allowPm), flag(r.changeSubject), text(r.subject),
               text(r.subjectNick), r.createdAt, flag(r.archiving), text(r.avatarHash)});
    c.execute("DELETE FROM muc_affiliations WHERE domain = ? AND room = ?", {text(r.domain), text(r.room)});
    for (const auto& a : r.affiliations) {
      c.execute("INSERT INTO muc_affiliations (domain, room, jid, affiliation) VALUES (?, ?, ?, ?)",
                {text(r.domain), text(r.room), text(a.jid), text(a.affiliation)});
    }
  });
}

void MucStore::remove(std::string_view domain, std::string_view room) {
  db_.transaction([&](Connection& c) {
    c.execute("DELETE FROM muc_affiliations WHERE domain = ? AND room = ?", {text(domain), text(room)});
    c.execute("DELETE FROM muc_rooms WHERE domain = ? AND room = ?", {text(domain), text(room)});
  });
}

std::vector<StoredRoom> MucStore::loadAll(std::string_view domain) {
  auto& c = db_.connection();
  auto rows = c.query(
      "SELECT room, name, description, public_room, members_only, moderated, password, max_occupants, whois, "
      "history_length, allow_invites, allow_pm, change_subject, subject, subject_nick, created_at, "
      "archiving, "
      "avatar_hash "
      "FROM muc_rooms WHERE domain = ? ORDER BY room",
      {text(domain)});
  std::vector<StoredRoom> rooms;
  std::map<std::string, std::size_t> index;
  for (const Row& row : rows) {
    StoredRoom r;
    r.domain = std::string(domain);
    r.room = row.getText(0);
    r.name = row.getText(1);
    r.description = row.getText(2);
    r.isPublic = row.getInt(3) != 0;
    r.membersOnly = row.getInt(4) != 0;
    r.moderated = row.getInt(5) != 0;
    r.password = row.getText(6);
    r.maxOccupants = row.getInt(7);
    r.whois = row.getText(8);
    r.historyLength = row.getInt(9);
    r.allowInvites = row.getInt(10) != 0;
    r.allowPm = row.getText(11);
    r.changeSubject = row.getInt(12) != 0;
    r.subject = row.getText(13);
    r.subjectNick = row.getText(14);
    r.createdAt = row.getInt(15);
    r.archiving = row.getInt(16) != 0;
    r.avatarHash = row.getText(17);
    index[r.room] = rooms.size();
    rooms.push_back(std::move(r));
  }
  auto affs =
      c.query("SELECT room, jid, affiliation FROM muc_affiliations WHERE domain = ? ORDER BY room, jid",
              {text(domain)});
  for (const Row& row : affs) {
    auto it = index.find(row.getText(0));
    if (it == index.end()) continue;
    rooms[it->second].affiliations.push_back({row.getText(1), row.getText(2)});
  }
  return rooms;
}

}  // namespace parley::xep::muc
