// The SQLite version history. Tables are STRICT (SQLite ≥ 3.37) so a value bound with the wrong type
// (text into an INTEGER column, a Blob into a TEXT column) is an error instead of silently stored.
// Small rows keyed by text are WITHOUT ROWID: the primary key is the table, no second b-tree.
#include <array>

#include "storage/schema/schema.h"

namespace parley::storage::schema {

namespace {

constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE accounts (
  domain      TEXT    NOT NULL,
  username    TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,                  -- unix seconds
  disabled    INTEGER NOT NULL DEFAULT 0,
  last_login  INTEGER,                           -- unix seconds, NULL: never
  last_logout INTEGER,                           -- unix seconds, NULL: never
  last_status TEXT,                              -- status of the last unavailable presence
  PRIMARY KEY (domain, username)
) STRICT, WITHOUT ROWID;

-- RFC 5802 §3: only StoredKey and ServerKey, one row per hash the account supports.
CREATE TABLE scram_credentials (
  domain     TEXT    NOT NULL,
  username   TEXT    NOT NULL,
  hash       TEXT    NOT NULL CHECK (hash IN ('SHA-1', 'SHA-256', 'SHA-512')),
  salt       BLOB    NOT NULL,
  iterations INTEGER NOT NULL,
  stored_key BLOB    NOT NULL,
  server_key BLOB    NOT NULL,
  PRIMARY KEY (domain, username, hash)
) STRICT, WITHOUT ROWID;

-- RFC 6121 §2 items with their subscription state (Appendix A). group_names: each group followed by
-- '\n' (see roster_store.cpp).
CREATE TABLE roster_items (
  domain            TEXT    NOT NULL,
  username          TEXT    NOT NULL,
  contact           TEXT    NOT NULL,
  name              TEXT    NOT NULL DEFAULT '',
  group_names       TEXT    NOT NULL DEFAULT '',
  subscription      TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
  ask_out           INTEGER NOT NULL DEFAULT 0,
  pending_in        INTEGER NOT NULL DEFAULT 0,
  pending_in_stanza TEXT    NOT NULL DEFAULT '',
  approved          INTEGER NOT NULL DEFAULT 0,
  visible           INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (domain, username, contact)
) STRICT;

-- XEP-0237: bumped in the same transaction as every roster change.
CREATE TABLE roster_versions (
  domain   TEXT    NOT NULL,
  username TEXT    NOT NULL,
  version  INTEGER NOT NULL,
  PRIMARY KEY (domain, username)
) STRICT, WITHOUT ROWID;

-- Small per-user documents (private XML storage, vCard, block list…). Values can be large (vCard
-- photos), so this one keeps its rowid.
CREATE TABLE user_data (
  domain   TEXT NOT NULL,
  username TEXT NOT NULL,
  store    TEXT NOT NULL,
  item_key TEXT NOT NULL,
  value    TEXT NOT NULL,
  PRIMARY KEY (domain, username, store, item_key)
) STRICT;

-- XEP-0160. AUTOINCREMENT: ids are never reused, so id order is arrival order.
CREATE TABLE offline_messages (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  domain   TEXT    NOT NULL,
  username TEXT    NOT NULL,
  stamp    INTEGER NOT NULL,                     -- unix seconds
  xml      TEXT    NOT NULL
) STRICT;
CREATE INDEX offline_messages_user ON offline_messages (domain, username, id);
)sql";

// XEP-0313 user archives (xep/mam/archive_store.cpp). `id` is the archive id the server hands out (an
// increasing 64-bit number, never reused; clients see it encoded as the XEP-0359 stanza-id), so it is
// also the rowid: retention deletes an id range, and each index below ends with it. with_jid is the
// contact's bare JID, with_resource its resource ('' when none), for XEP-0313 §4.1.1 'with' matching.
// mam_prefs holds XEP-0441 preferences of the users who set any (each JID list: JIDs each followed by
// '\n').
constexpr std::string_view kVersion2 = R"sql(
CREATE TABLE mam_messages (
  id            INTEGER PRIMARY KEY,
  domain        TEXT    NOT NULL,
  username      TEXT    NOT NULL,
  with_jid      TEXT    NOT NULL,
  with_resource TEXT    NOT NULL DEFAULT '',
  stamp         INTEGER NOT NULL,                -- unix microseconds, when the server took it
  outgoing      INTEGER NOT NULL,                -- 1: sent by the user, 0: received
  xml           TEXT    NOT NULL
) STRICT;
CREATE INDEX mam_messages_user ON mam_messages (domain, username, id);
CREATE INDEX mam_messages_with ON mam_messages (domain, username, with_jid, id);
CREATE INDEX mam_messages_stamp ON mam_messages (domain, username, stamp);

CREATE TABLE mam_prefs (
  domain       TEXT NOT NULL,
  username     TEXT NOT NULL,
  default_mode TEXT NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
  always_jids  TEXT NOT NULL DEFAULT '',
  never_jids   TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (domain, username)
) STRICT, WITHOUT ROWID;
)sql";

// XEP-0045 persistent rooms (xep/muc/muc_store.cpp). `domain` is the MUC service (muc.example.org),
// `room` the room's localpart; temporary rooms are never stored. Affiliations are per bare JID.
constexpr std::string_view kVersion3 = R"sql(
CREATE TABLE muc_rooms (
  domain         TEXT    NOT NULL,
  room           TEXT    NOT NULL,
  name           TEXT    NOT NULL DEFAULT '',
  description    TEXT    NOT NULL DEFAULT '',
  public_room    INTEGER NOT NULL,
  members_only   INTEGER NOT NULL,
  moderated      INTEGER NOT NULL,
  password       TEXT    NOT NULL DEFAULT '',     -- '' : not password-protected
  max_occupants  INTEGER NOT NULL,
  whois          TEXT    NOT NULL CHECK (whois IN ('moderators', 'anyone')),
  history_length INTEGER NOT NULL,
  allow_invites  INTEGER NOT NULL,
  allow_pm       TEXT    NOT NULL CHECK (allow_pm IN ('anyone', 'participants', 'moderators', 'none')),
  change_subject INTEGER NOT NULL,
  subject        TEXT    NOT NULL DEFAULT '',
  subject_nick   TEXT    NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL,                -- unix seconds
  PRIMARY KEY (domain, room)
) STRICT, WITHOUT ROWID;

CREATE TABLE muc_affiliations (
  domain      TEXT NOT NULL,
  room        TEXT NOT NULL,
  jid         TEXT NOT NULL,
  affiliation TEXT NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
  PRIMARY KEY (domain, room, jid)
) STRICT, WITHOUT ROWID;
)sql";

// XEP-0163 PEP (xep/pep/pep_store.cpp): each account's nodes with their configuration (text written by
// xep/pep/node_config.cpp) and their items. `seq` orders a node's items by publication (larger is
// newer; a republished id takes a new one). Node names and item ids are limited in length by the
// module (96 and 160 bytes), which keeps the MySQL keys within InnoDB's limit.
constexpr std::string_view kVersion4 = R"sql(
CREATE TABLE pep_nodes (
  domain     TEXT    NOT NULL,
  username   TEXT    NOT NULL,
  node       TEXT    NOT NULL,
  config     TEXT    NOT NULL,
  created_at INTEGER NOT NULL,                   -- unix seconds
  PRIMARY KEY (domain, username, node)
) STRICT, WITHOUT ROWID;

CREATE TABLE pep_items (
  domain       TEXT    NOT NULL,
  username     TEXT    NOT NULL,
  node         TEXT    NOT NULL,
  item_id      TEXT    NOT NULL,
  seq          INTEGER NOT NULL,
  publisher    TEXT    NOT NULL DEFAULT '',      -- full JID of the publishing resource
  published_at INTEGER NOT NULL,                 -- unix microseconds
  payload      TEXT    NOT NULL,
  PRIMARY KEY (domain, username, node, item_id)
) STRICT;
CREATE INDEX pep_items_seq ON pep_items (domain, username, node, seq);
)sql";

// Account administration and registration (XEP-0133, XEP-0077, xep/admin and xep/register): the
// message of the day per domain and which version each user has seen (delivered once per MOTD), invite
// tokens (XEP-0401 spirit; consumed by a registration) and the journal of deletions made outside the
// server (parleyctl), which parleyd reads to fire AccountRemoved and close the account's sessions.
constexpr std::string_view kVersion5 = R"sql(
CREATE TABLE motd (
  domain     TEXT    NOT NULL PRIMARY KEY,
  version    INTEGER NOT NULL,                   -- bumped by every set/edit
  subject    TEXT    NOT NULL,
  body       TEXT    NOT NULL,
  updated_at INTEGER NOT NULL                    -- unix seconds
) STRICT, WITHOUT ROWID;

CREATE TABLE motd_seen (
  domain   TEXT    NOT NULL,
  username TEXT    NOT NULL,
  version  INTEGER NOT NULL,                     -- the motd version last delivered to this user
  PRIMARY KEY (domain, username)
) STRICT, WITHOUT ROWID;

CREATE TABLE invite_tokens (
  domain     TEXT    NOT NULL,
  token      TEXT    NOT NULL,
  created_by TEXT    NOT NULL,                   -- bare JID of the administrator
  created_at INTEGER NOT NULL,                   -- unix seconds
  expires_at INTEGER NOT NULL,                   -- unix seconds
  PRIMARY KEY (domain, token)
) STRICT, WITHOUT ROWID;

CREATE TABLE account_removals (
  domain     TEXT    NOT NULL,
  username   TEXT    NOT NULL,
  removed_at INTEGER NOT NULL,                   -- unix seconds
  PRIMARY KEY (domain, username)
) STRICT, WITHOUT ROWID;
)sql";

// HTTP file upload (XEP-0363, xep/upload): one row per upload slot; completed_at is set when its PUT
// finished. The file on disk is found from the id (never from client strings).
constexpr std::string_view kVersion6 = R"sql(
CREATE TABLE upload_files (
  domain       TEXT    NOT NULL,
  username     TEXT    NOT NULL,
  id           TEXT    NOT NULL,            -- 32 hex characters (128 random bits), the URL's capability
  filename     TEXT    NOT NULL,            -- sanitised, as in the URL
  size         INTEGER NOT NULL,            -- bytes the PUT must send
  content_type TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,            -- unix seconds, slot handed out
  completed_at INTEGER NOT NULL DEFAULT 0,  -- unix seconds, upload finished; 0: slot unused
  PRIMARY KEY (domain, username, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX upload_files_id ON upload_files (id);
CREATE INDEX upload_files_age ON upload_files (completed_at, created_at);
)sql";

// Push notifications (XEP-0357): the app servers each account enabled (publish-options kept as the XML of
// the form), the account's per-room group chat rules, and the built-in app server's device registrations.
constexpr std::string_view kVersion7 = R"sql(
CREATE TABLE push_registrations (
  domain      TEXT    NOT NULL,
  username    TEXT    NOT NULL,
  reg_id      TEXT    NOT NULL,            -- hex SHA-256 of service_jid NUL node (the key)
  service_jid TEXT    NOT NULL,            -- the XMPP Push Service
  node        TEXT    NOT NULL DEFAULT '',
  options     TEXT    NOT NULL DEFAULT '', -- publish-options data form (XML), '' : none
  created_at  INTEGER NOT NULL,            -- unix seconds
  PRIMARY KEY (domain, username, reg_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE push_room_rules (
  domain   TEXT NOT NULL,
  username TEXT NOT NULL,
  room     TEXT NOT NULL,                  -- bare JID of the room
  mode     TEXT NOT NULL CHECK (mode IN ('always', 'mentions', 'never')),
  nick     TEXT NOT NULL DEFAULT '',       -- extra name that counts as a mention
  PRIMARY KEY (domain, username, room)
) STRICT, WITHOUT ROWID;

CREATE TABLE push_devices (
  domain     TEXT    NOT NULL,             -- the app server component (push.example.org)
  node       TEXT    NOT NULL,
  secret     TEXT    NOT NULL,
  owner      TEXT    NOT NULL,             -- bare JID that registered the device
  device_id  TEXT    NOT NULL,
  provider   TEXT    NOT NULL CHECK (provider IN ('fcm', 'apns')),
  token      TEXT    NOT NULL,
  voip_token TEXT    NOT NULL DEFAULT '',  -- APNs PushKit token for calls, '' : none
  topic      TEXT    NOT NULL DEFAULT '',  -- APNs bundle id, '' : the configured one
  sandbox    INTEGER NOT NULL DEFAULT 0,   -- APNs development environment
  created_at INTEGER NOT NULL,             -- unix seconds
  PRIMARY KEY (domain, node)
) STRICT, WITHOUT ROWID;
CREATE INDEX push_devices_owner ON push_devices (domain, owner, device_id);
)sql";

// Multi-user chat archive and room data (XEP-0045, XEP-0313, xep/muc/muc_archive_store.cpp): the
// archive of each room's groupchat messages (one row per message, not per recipient), in the XML the
// room broadcast (from the sender's occupant JID, no 'to', with the room's <stanza-id/>), or the
// XEP-0425 tombstone that replaced it; the sender's real JID kept apart so that only those allowed to
// see it get it. Ids come from the module's archive clock (increasing, never reused), as in
// mam_messages. Each room's vCard-temp (XEP-0054/XEP-0486 room avatars), and two room settings:
// archiving (muc#roomconfig_enablearchiving) and the avatar hash shown in disco#info.
constexpr std::string_view kVersion8 = R"sql(
CREATE TABLE muc_archive (
  id              INTEGER PRIMARY KEY,
  domain          TEXT    NOT NULL,             -- the MUC service, e.g. muc.example.org
  room            TEXT    NOT NULL,             -- the room's localpart
  nick            TEXT    NOT NULL,             -- the sender's nick ('' : the room itself)
  sender_jid      TEXT    NOT NULL DEFAULT '',  -- the sender's real bare JID ('' : the room itself)
  sender_resource TEXT    NOT NULL DEFAULT '',
  stamp           INTEGER NOT NULL,             -- unix microseconds, when the room took it
  xml             TEXT    NOT NULL
) STRICT;
CREATE INDEX muc_archive_room ON muc_archive (domain, room, id);
CREATE INDEX muc_archive_sender ON muc_archive (domain, room, sender_jid, id);
CREATE INDEX muc_archive_stamp ON muc_archive (domain, room, stamp);

CREATE TABLE muc_vcards (
  domain TEXT NOT NULL,
  room   TEXT NOT NULL,
  vcard  TEXT NOT NULL,                         -- the <vCard xmlns='vcard-temp'/> as set by an owner
  PRIMARY KEY (domain, room)
) STRICT, WITHOUT ROWID;

ALTER TABLE muc_rooms ADD COLUMN archiving INTEGER NOT NULL DEFAULT 1;
ALTER TABLE muc_rooms ADD COLUMN avatar_hash TEXT NOT NULL DEFAULT '';  -- SHA-1 hex of each PHOTO, space-separated
)sql";

// Archive stamps are the time their ids stand for (xep/mam/archive_id.h), so 'start'/'end' filters are id
// ranges and the stamp indexes only cost every archived message one more B-tree to update.
constexpr std::string_view kVersion9 = R"sql(
DROP INDEX IF EXISTS mam_messages_stamp;
DROP INDEX IF EXISTS muc_archive_stamp;
)sql";

// User archives are indexed in bulk (xep/mam/archive_store.h): mam_messages keeps only its id key, and
// mam_index maps owners (and contacts) to ids for every row up to mam_index_state.indexed_to. One
// index page written per row was most of what archiving a message cost.
constexpr std::string_view kVersion10 = R"sql(
CREATE TABLE mam_index (
  domain   TEXT    NOT NULL,
  username TEXT    NOT NULL,
  id       INTEGER NOT NULL,
  with_jid TEXT    NOT NULL,
  PRIMARY KEY (domain, username, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX mam_index_with ON mam_index (domain, username, with_jid, id);
CREATE TABLE mam_index_state (
  one        INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
  indexed_to INTEGER NOT NULL
) STRICT;
INSERT INTO mam_index (domain, username, id, with_jid)
  SELECT domain, username, id, with_jid FROM mam_messages ORDER BY domain, username, id;
INSERT INTO mam_index_state (one, indexed_to) SELECT 1, id FROM mam_messages ORDER BY id DESC LIMIT 1;
DROP INDEX IF EXISTS mam_messages_user;
DROP INDEX IF EXISTS mam_messages_with;
)sql";

constexpr std::array<Migration, 10> kMigrations = {{
    {1, "accounts, credentials, rosters, user data, offline messages", kVersion1},
    {2, "message archive (XEP-0313) and archiving preferences", kVersion2},
    {3, "multi-user chat rooms and affiliations (XEP-0045)", kVersion3},
    {4, "PEP and pubsub (XEP-0163, XEP-0060)", kVersion4},
    {5, "account administration and registration (XEP-0133, XEP-0077)", kVersion5},
    {6, "HTTP file upload (XEP-0363)", kVersion6},
    {7, "push notifications (XEP-0357) and the push app server", kVersion7},
    {8, "multi-user chat archive and room data (XEP-0045, XEP-0313)", kVersion8},
    {9, "archives: no stamp indexes (time filters are id ranges)", kVersion9},
    {10, "user archives indexed in bulk (mam_index)", kVersion10},
}};

}  // namespace

std::span<const Migration> sqliteMigrations() {
  return kMigrations;
}

}  // namespace parley::storage::schema
