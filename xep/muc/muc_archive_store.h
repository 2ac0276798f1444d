// XEP-0313 room archives (the muc_archive table) and room vCards (muc_vcards): the storage contract of
// the muc module's archive. Filters and paging are xep/mam's (mam::queryArchive on kRoomArchive), so a
// room's archive pages exactly like a user's. Blocking: blocking pool only (and once at start).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"
#include "xep/mam/archive_store.h"

namespace parley::xep::muc {

// The room archive as mam's paging sees it: 'with' a real JID matches the sender's (bare, or full).
inline constexpr mam::ArchiveTable kRoomArchive{"muc_archive", "room", "sender_jid", "sender_resource", "0"};
// 'with' an occupant JID (room@service/nick) matches the nick the message was sent under.
inline constexpr mam::ArchiveTable kRoomArchiveByNick{"muc_archive", "room", "nick", "", "0"};

struct RoomArchiveRow {
  std::int64_t id = 0;
  std::string domain, room;  // the MUC service and the room's localpart
  std::string nick;          // the sender's nick, "" for the room itself
  std::string senderJid;     // the sender's real bare JID, "" for the room itself
  std::string senderResource;
  std::int64_t stamp = 0;  // unix microseconds
  std::string xml;         // the message as broadcast, without 'to'
};

// One write, in the order the room made them: a new message, or a tombstone replacing one (XEP-0425).
struct RoomArchiveWrite {
  bool replace = false;  // true: set `row.xml` on the row `row.id` of the room
  RoomArchiveRow row;
};

class MucArchiveStore {
 public:
  explicit MucArchiveStore(storage::Database& db) : db_(db) {}

  // Applies the writes in one transaction (group commit), in order.
  void apply(const std::vector<RoomArchiveWrite>& writes);
  // The largest id of any room archive (0 when empty): ids handed out after a restart start above it.
  std::int64_t maxId();
  std::optional<mam::ArchivedMessage> get(std::string_view domain, std::string_view room, std::int64_t id);
  // The newest `n` messages of a room, oldest first (history for newcomers after a restart).
  std::vector<mam::ArchivedMessage> latest(std::string_view domain, std::string_view room, std::int64_t n);
  std::int64_t count(std::string_view domain, std::string_view room);
  bool contains(std::string_view domain, std::string_view room, std::int64_t id);
  // A page of a query (XEP-0313 filters, XEP-0059 paging) on kRoomArchive or kRoomArchiveByNick.
  mam::ArchivePage query(const mam::ArchiveTable& table, const mam::ArchiveQuery& q);
  std::optional<std::pair<mam::ArchivedMessage, mam::ArchivedMessage>> bounds(std::string_view domain,
                                                                              std::string_view room);
  // The room is gone: its archive and its vCard go too.
  void removeRoom(std::string_view domain, std::string_view room);

  std::optional<std::string> vcard(std::string_view domain, std::string_view room);
  // An empty `xml` removes the vCard.
  void setVcard(std::string_view domain, std::string_view room, const std::string& xml);

 private:
  storage::Database& db_;
};

}  // namespace parley::xep::muc
