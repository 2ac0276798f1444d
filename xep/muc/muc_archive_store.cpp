#include "xep/muc/muc_archive_store.h"

namespace parley::xep::muc {
namespace {

using storage::Connection;
using storage::Value;

Value text(std::string_view s) {
  return std::string(s);
}

}  // namespace

void MucArchiveStore::apply(const std::vector<RoomArchiveWrite>& writes) {
  if (writes.empty()) return;
  db_.transaction([&](Connection& c) {
    for (const auto& w : writes) {
      const auto& r = w.row;
      if (w.replace) {
        c.execute("UPDATE muc_archive SET xml = ? WHERE id = ? AND domain = ? AND room = ?",
                  {text(r.xml), r.id, text(r.domain), text(r.room)});
        continue;
      }
      c.execute(
          "INSERT INTO muc_archive (id, domain, room, nick, sender_jid, sender_resource, stamp, xml) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          {r.id, text(r.domain), text(r.room), text(r.nick), text(r.senderJid), text(r.senderResource),
           r.stamp, text(r.xml)});
    }
  });
}

std::int64_t MucArchiveStore::maxId() {
  return db_.connection().query("SELECT MAX(id) FROM muc_archive")[0].getInt(0);
}

std::optional<mam::ArchivedMessage> MucArchiveStore::get(std::string_view domain, std::string_view room,
                                                         std::int64_t id) {
  mam::ArchiveQuery q;
  q.domain = std::string(domain);
  q.user = std::string(room);
  q.ids = {id};
  q.max = 1;
  q.count = false;
  auto page = mam::queryArchive(db_.connection(), kRoomArchive, q);
  if (page.messages.empty()) return std::nullopt;
  return std::move(page.messages.front());
}

std::vector<mam::ArchivedMessage> MucArchiveStore::latest(std::string_view domain, std::string_view room,
                                                          std::int64_t n) {
  if (n <= 0) return {};
  mam::ArchiveQuery q;
  q.domain = std::string(domain);
  q.user = std::string(room);
  q.fromEnd = true;
  q.max = n;
  q.count = false;
  return mam::queryArchive(db_.connection(), kRoomArchive, q).messages;
}

std::int64_t MucArchiveStore::count(std::string_view domain, std::string_view room) {
  return db_.connection()
      .query("SELECT COUNT(*) FROM muc_archive WHERE domain = ? AND room = ?", {text(domain), text(room)})[0]
      .getInt(0);
}

bool MucArchiveStore::contains(std::string_view domain, std::string_view room, std::int64_t id) {
  return mam::archiveContains(db_.connection(), kRoomArchive, domain, room, id);
}

mam::ArchivePage MucArchiveStore::query(const mam::ArchiveTable& table, const mam::ArchiveQuery& q) {
  return mam::queryArchive(db_.connection(), table, q);
}

std::optional<std::pair<mam::ArchivedMessage, mam::ArchivedMessage>> MucArchiveStore::bounds(
    std::string_view domain, std::string_view room) {
  return mam::archiveBounds(db_.connection(), kRoomArchive, domain, room);
}

void MucArchiveStore::removeRoom(std::string_view domain, std::string_view room) {
  db_.transaction([&](Connection& c) {
    c.execute("DELETE FROM muc_archive WHERE domain = ? AND room = ?", {text(domain), text(room)});
    c.execute("DELETE FROM muc_vcards WHERE domain = ? AND room = ?", {text(domain), text(room)});
  });
}

std::optional<std::string> MucArchiveStore::vcard(std::string_view domain, std::string_view room) {
  auto rows = db_.connection().query("SELECT vcard FROM muc_vcards WHERE domain = ? AND room = ?",
                                     {text(domain), text(room)});
  if (rows.empty()) return std::nullopt;
  return rows[0].getText(0);
}

void MucArchiveStore::setVcard(std::string_view domain, std::string_view room, const std::string& xml) {
  if (xml.empty()) {
    db_.connection().execute("DELETE FROM muc_vcards WHERE domain = ? AND room = ?",
                             {text(domain), text(room)});
    return;
  }
  db_.connection().execute(
      db_.dialect().upsert("muc_vcards", {"domain", "room", "vcard"}, {"domain", "room"}, {"vcard"}),
      {text(domain), text(room), text(xml)});
}

}  // namespace parley::xep::muc
