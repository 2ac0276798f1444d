// XEP-0313 user archives and XEP-0441 archiving preferences: the storage contract of the mam module.
// Blocking: blocking pool only.
//
// Rows are identified by a 64-bit archive id chosen by the caller (increasing, never reused, unique
// across all archives: the mam module derives it from a microsecond clock). Ids order an archive
// (XEP-0313 §3.2 "chronological order"). A row's stamp is the time its id stands for (equal to the id
// for rows the clock stamps), so the 'start'/'end' filters are id bounds too.
//
// User archives are written in two steps (archive_store.cpp): append() adds rows to mam_messages, whose
// only key is the id, so a row costs one append at the end of one B-tree; index() later adds every row
// above a watermark to mam_index, the (domain, username[, with_jid], id) index, in bulk and sorted, so
// each index page is written once for many rows rather than once per row. Queries read the index up to
// the watermark and the rows above it (the tail); a page costs the same on an archive of millions as
// long as the tail is short. The mam module keeps it short (it indexes every index_rows rows, or when
// the oldest is index_seconds old) and hands queries the tail's ids, which it keeps in memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/database.h"

namespace parley::xep::mam {

struct ArchiveRow {
  std::int64_t id = 0;
  std::string domain, user;  // the archive: the account's domain and local part
  std::string with;          // the contact's bare JID
  std::string withResource;  // the contact's resource, "" when the address had none
  std::int64_t stamp = 0;    // unix microseconds
  bool outgoing = false;     // sent by the account (else received)
  std::string xml;           // the message as serialised XML (jabber:client default namespace)
};

struct ArchivedMessage {
  std::int64_t id = 0;
  std::int64_t stamp = 0;
  bool outgoing = false;
  std::string with;
  std::string withResource;
  std::string xml;
};

// One query (XEP-0313 §4.1 form fields and XEP-0059 paging), already validated and decoded.
struct ArchiveQuery {
  std::string domain, user;                 // the archive: its domain and owner (account or room localpart)
  std::optional<std::string> with;          // bare JID
  std::optional<std::string> withResource;  // with a resource: only exactly that full JID matches
  std::optional<std::int64_t> start, end;   // inclusive, unix microseconds
  std::optional<std::int64_t> afterId;      // exclusive: the 'after-id' field (part of the result set)
  std::optional<std::int64_t> beforeId;     // exclusive: the 'before-id' field
  std::vector<std::int64_t> ids;            // 'ids': only these (empty: no such filter)
  // XEP-0059 paging within the result set: RSM <after/> pages forwards from an id, RSM <before/> pages
  // backwards (from an id, or with an empty <before/> from the end).
  std::optional<std::int64_t> pageAfter;
  std::optional<std::int64_t> pageBefore;
  bool fromEnd = false;   // page backwards: the last `max` messages (before pageBefore, if set)
  std::int64_t max = 50;  // page size; 0 only counts
  bool count = true;      // compute `count` and `firstIndex`
};

struct ArchivePage {
  std::vector<ArchivedMessage> messages;  // in archive order
  // No more matching messages beyond this page in the paging direction (XEP-0313 §4.3.2 'complete').
  bool complete = true;
  std::int64_t count = -1;       // messages matching the filters, paging aside (-1: not computed)
  std::int64_t firstIndex = -1;  // position of messages.front() among them (XEP-0059 <first index>)
};

// The shape of an archive table, so that one implementation of the filters and the paging serves the
// user archives (mam_messages) and the room archives of xep/muc (muc_archive). Identifiers only, from
// code (never from clients).
struct ArchiveTable {
  std::string_view name;          // the table
  std::string_view owner;         // the column naming the archive within its domain
  std::string_view with;          // the column the 'with' filter matches (a bare JID, or a nick)
  std::string_view withResource;  // the column matched when 'with' has a resource ("": never)
  std::string_view outgoing;      // expression for ArchivedMessage::outgoing ("0" where meaningless)
};
inline constexpr ArchiveTable kUserArchive{"mam_messages", "username", "with_jid", "with_resource",
                                           "outgoing"};

// Blocking. The page of `q` in `table` (the filters of XEP-0313 §4.1, the paging of XEP-0059).
ArchivePage queryArchive(storage::Connection& c, const ArchiveTable& table, const ArchiveQuery& q);
// The id belongs to that archive.
bool archiveContains(storage::Connection& c, const ArchiveTable& table, std::string_view domain,
                     std::string_view owner, std::int64_t id);
// The oldest and the newest message of an archive (XEP-0313 §5 metadata).
std::optional<std::pair<ArchivedMessage, ArchivedMessage>> archiveBounds(storage::Connection& c,
                                                                         const ArchiveTable& table,
                                                                         std::string_view domain,
                                                                         std::string_view owner);

// The rows of one user archive above the watermark (indexed_to), which mam_index does not list yet.
// Every id of the archive above indexedTo must be in `ids` (ascending); ids of rows that do not exist
// (deleted since) may be.
struct ArchiveTail {
  std::int64_t indexedTo = 0;
  std::vector<std::int64_t> ids;
};

enum class ArchiveMode { Always, Never, Roster };
std::string_view archiveModeName(ArchiveMode m);  // "always", "never", "roster"
std::optional<ArchiveMode> archiveModeFromName(std::string_view name);

// XEP-0441 preferences. JIDs as the user gave them (normalised), bare or full.
struct ArchivePrefs {
  ArchiveMode mode = ArchiveMode::Always;
  std::vector<std::string> always, never;
  friend bool operator==(const ArchivePrefs&, const ArchivePrefs&) = default;
};

struct UserPrefs {
  std::string domain, user;
  ArchivePrefs prefs;
};

class ArchiveStore {
 public:
  explicit ArchiveStore(storage::Database& db) : db_(db) {}

  // Appends rows in one transaction (group commit). Rows for accounts that do not exist (deleted, or
  // never were) are skipped. Returns how many were stored. They are not indexed yet: see index().
  std::size_t append(const std::vector<ArchiveRow>& rows);
  // Indexes every row with an id above the watermark and at most `upTo`, in one transaction, and moves
  // the watermark to `upTo`; the caller guarantees that no row at or below `upTo` is still to be
  // appended. Returns how many rows were indexed.
  std::int64_t index(std::int64_t upTo);
  // The watermark: every row at or below it is indexed.
  std::int64_t indexedTo();
  // The largest id in any archive (0 when empty): ids handed out after a restart start above it.
  std::int64_t maxId();
  // The id belongs to this user's archive.
  bool contains(std::string_view domain, std::string_view user, std::int64_t id);
  // Queries, bounds and counts read the archive's tail from `tail` when given (the ids the writer knows),
  // else by scanning every row above the watermark (cost: the tail's length).
  ArchivePage query(const ArchiveQuery& q, const ArchiveTail* tail = nullptr);
  // The oldest and the newest message of an archive (XEP-0313 §5 metadata).
  std::optional<std::pair<ArchivedMessage, ArchivedMessage>> bounds(std::string_view domain,
                                                                    std::string_view user,
                                                                    const ArchiveTail* tail = nullptr);
  std::int64_t count(std::string_view domain, std::string_view user, const ArchiveTail* tail = nullptr);
  // Retention: deletes at most `limit` messages with an id below `idBelow` (ids never run behind their
  // stamps, so these are all older than the stamp `idBelow` stands for). Returns how many were deleted.
  std::int64_t removeBelow(std::int64_t idBelow, std::int64_t limit);

  std::optional<ArchivePrefs> prefs(std::string_view domain, std::string_view user);
  void setPrefs(std::string_view domain, std::string_view user, const ArchivePrefs& prefs);
  // Every user who set preferences (the module keeps them in memory).
  std::vector<UserPrefs> allPrefs();

 private:
  storage::Database& db_;
};

}  // namespace parley::xep::mam
