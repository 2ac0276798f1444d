// The MySQL/MariaDB version history: the same versions as sqlite_migrations.cpp, table for table and
// column for column, so `parleyctl migrate` can copy between engines at one version.
//
// Types: INTEGER → BIGINT (TINYINT for flags), BLOB → BLOB, TEXT → VARCHAR where the column is part
// of a key and MEDIUMTEXT (16 MiB) otherwise: TEXT's 64 KiB would be too small for a stanza (256 KiB
// by default), a vCard or a roster's pending subscription request.
// Keys: InnoDB limits an index key to 3072 bytes and utf8mb4 takes 4 bytes per character, so keyed
// text columns are sized to fit: domain and username 255 characters, JIDs 255, user_data keys 225. A
// longer value is an error (strict mode), never silently truncated.
// Collation: keyed columns use utf8mb4_nopad_bin (MariaDB ≥ 10.2), which compares bytes like SQLite
// does: no case folding and no PAD SPACE ("alice" and "alice " are different users). MEDIUMTEXT
// columns are never compared or keyed; they use utf8mb4_bin because Connector/C++ 1.1 cannot read a
// TEXT column whose collation is missing from its built-in table (46 is in it, 1070 is not).
// Every statement is idempotent (IF NOT EXISTS, indexes inside CREATE TABLE): MySQL DDL is not
// transactional, so a migration interrupted halfway is simply run again.
// Indexes: as on SQLite (InnoDB appends the primary key to every secondary index).
#include <array>

#include "storage/schema/schema.h"

namespace parley::storage::schema {

namespace {

#define PARLEY_MYSQL_TABLE_OPTIONS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin"

constexpr std::string_view kVersion1 =
    R"sql(
CREATE TABLE IF NOT EXISTS accounts (
  domain      VARCHAR(255) NOT NULL,
  username    VARCHAR(255) NOT NULL,
  created_at  BIGINT       NOT NULL,             -- unix seconds
  disabled    TINYINT      NOT NULL DEFAULT 0,
  last_login  BIGINT,                            -- unix seconds, NULL: never
  last_logout BIGINT,                            -- unix seconds, NULL: never
  last_status MEDIUMTEXT COLLATE utf8mb4_bin,                        -- status of the last unavailable presence
  PRIMARY KEY (domain, username)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;

CREATE TABLE IF NOT EXISTS scram_credentials (
  domain     VARCHAR(255) NOT NULL,
  username   VARCHAR(255) NOT NULL,
  hash       VARCHAR(16)  NOT NULL CHECK (hash IN ('SHA-1', 'SHA-256', 'SHA-512')),
  salt       BLOB         NOT NULL,
  iterations BIGINT       NOT NULL,
  stored_key BLOB         NOT NULL,
  server_key BLOB         NOT NULL,
  PRIMARY KEY (domain, username, hash)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;

CREATE TABLE IF NOT EXISTS roster_items (
  domain            VARCHAR(255) NOT NULL,
  username          VARCHAR(255) NOT NULL,
  contact           VARCHAR(255) NOT NULL,
  name              MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  group_names       MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  subscription      VARCHAR(8)   NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
  ask_out           TINYINT      NOT NULL DEFAULT 0,
  pending_in        TINYINT      NOT NULL DEFAULT 0,
  pending_in_stanza MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  approved          TINYINT      NOT NULL DEFAULT 0,
  visible           TINYINT      NOT NULL DEFAULT 1,
  PRIMARY KEY (domain, username, contact)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;

CREATE TABLE IF NOT EXISTS roster_versions (
  domain   VARCHAR(255) NOT NULL,
  username VARCHAR(255) NOT NULL,
  version  BIGINT       NOT NULL,
  PRIMARY KEY (domain, username)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;

CREATE TABLE IF NOT EXISTS user_data (
  domain   VARCHAR(255) NOT NULL,
  username VARCHAR(255) NOT NULL,
  store    VARCHAR(32)  NOT NULL,
  item_key VARCHAR(225) NOT NULL,
  value    MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (domain, username, store, item_key)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;

-- AUTO_INCREMENT values are never reused (MariaDB ≥ 10.2.4 keeps the counter across restarts).
CREATE TABLE IF NOT EXISTS offline_messages (
  id       BIGINT       NOT NULL AUTO_INCREMENT,
  domain   VARCHAR(255) NOT NULL,
  username VARCHAR(255) NOT NULL,
  stamp    BIGINT       NOT NULL,                -- unix seconds
  xml      MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (id),
  INDEX offline_messages_user (domain, username, id)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;
)sql";

// The primary key is the archive id the server hands out (increasing), so appends go to the end of
// the clustered index.
constexpr std::string_view kVersion2 =
    R"sql(
CREATE TABLE IF NOT EXISTS mam_messages (
  id            BIGINT        NOT NULL,
  domain        VARCHAR(255)  NOT NULL,
  username      VARCHAR(255)  NOT NULL,
  with_jid      VARCHAR(255)  NOT NULL,
  with_resource VARCHAR(1023) NOT NULL DEFAULT '',
  stamp         BIGINT        NOT NULL,          -- unix microseconds, when the server took it
  outgoing      TINYINT       NOT NULL,          -- 1: sent by the user, 0: received
  xml           MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (id),
  INDEX mam_messages_user (domain, username, id),
  INDEX mam_messages_with (domain, username, with_jid, id),
  INDEX mam_messages_stamp (domain, username, stamp)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;

CREATE TABLE IF NOT EXISTS mam_prefs (
  domain       VARCHAR(255) NOT NULL,
  username     VARCHAR(255) NOT NULL,
  default_mode VARCHAR(8)   NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
  always_jids  MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  never_jids   MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  PRIMARY KEY (domain, username)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;
)sql";

constexpr std::string_view kVersion3 =
    R"sql(
CREATE TABLE IF NOT EXISTS muc_rooms (
  domain         VARCHAR(255) NOT NULL,
  room           VARCHAR(255) NOT NULL,
  name           MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  description    MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  public_room    TINYINT      NOT NULL,
  members_only   TINYINT      NOT NULL,
  moderated      TINYINT      NOT NULL,
  password       MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '', -- '' : not password-protected
  max_occupants  BIGINT       NOT NULL,
  whois          VARCHAR(16)  NOT NULL CHECK (whois IN ('moderators', 'anyone')),
  history_length BIGINT       NOT NULL,
  allow_invites  TINYINT      NOT NULL,
  allow_pm       VARCHAR(16)  NOT NULL CHECK (allow_pm IN ('anyone', 'participants', 'moderators', 'none')),
  change_subject TINYINT      NOT NULL,
  subject        MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  subject_nick   MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  created_at     BIGINT       NOT NULL,          -- unix seconds
  PRIMARY KEY (domain, room)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;

CREATE TABLE IF NOT EXISTS muc_affiliations (
  domain      VARCHAR(255) NOT NULL,
  room        VARCHAR(255) NOT NULL,
  jid         VARCHAR(255) NOT NULL,
  affiliation VARCHAR(8)   NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
  PRIMARY KEY (domain, room, jid)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;
)sql";

// XEP-0163 PEP: as on SQLite. node is limited to 96 characters and item_id to 160 (the module refuses
// longer ones), so the pep_items key (255 + 255 + 96 + 160 characters of 4 bytes) stays within 3072
// bytes.
constexpr std::string_view kVersion4 =
    R"sql(
CREATE TABLE IF NOT EXISTS pep_nodes (
  domain     VARCHAR(255) NOT NULL,
  username   VARCHAR(255) NOT NULL,
  node       VARCHAR(96)  NOT NULL,
  config     MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  created_at BIGINT       NOT NULL,              -- unix seconds
  PRIMARY KEY (domain, username, node)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;

CREATE TABLE IF NOT EXISTS pep_items (
  domain       VARCHAR(255) NOT NULL,
  username     VARCHAR(255) NOT NULL,
  node         VARCHAR(96)  NOT NULL,
  item_id      VARCHAR(160) NOT NULL,
  seq          BIGINT       NOT NULL,
  publisher    VARCHAR(1023) NOT NULL DEFAULT '', -- full JID of the publishing resource
  published_at BIGINT       NOT NULL,            -- unix microseconds
  payload      MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (domain, username, node, item_id),
  INDEX pep_items_seq (domain, username, node, seq)
))sql" PARLEY_MYSQL_TABLE_OPTIONS R"sql(;
)sql";

#undef PARLEY_MYSQL_TABLE_OPTIONS

// Account administration and registration: as on SQLite. Invite tokens are at most 64 characters.
constexpr std::string_view kVersion5 =
    R"sql(
CREATE TABLE IF NOT EXISTS motd (
  domain     VARCHAR(255) NOT NULL,
  version    BIGINT       NOT NULL,
  subject    MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  body       MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  updated_at BIGINT       NOT NULL,
  PRIMARY KEY (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS motd_seen (
  domain   VARCHAR(255) NOT NULL,
  username VARCHAR(255) NOT NULL,
  version  BIGINT       NOT NULL,
  PRIMARY KEY (domain, username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS invite_tokens (
  domain     VARCHAR(255) NOT NULL,
  token      VARCHAR(64)  NOT NULL,
  created_by VARCHAR(255) NOT NULL,
  created_at BIGINT       NOT NULL,
  expires_at BIGINT       NOT NULL,
  PRIMARY KEY (domain, token)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS account_removals (
  domain     VARCHAR(255) NOT NULL,
  username   VARCHAR(255) NOT NULL,
  removed_at BIGINT       NOT NULL,
  PRIMARY KEY (domain, username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
)sql";

// HTTP file upload (XEP-0363, xep/upload): as on SQLite (table options spelled out: the macro may be
// undefined above).
constexpr std::string_view kVersion6 =
    R"sql(
CREATE TABLE IF NOT EXISTS upload_files (
  domain       VARCHAR(255)  NOT NULL,
  username     VARCHAR(255)  NOT NULL,
  id           CHAR(32)      NOT NULL,
  filename     VARCHAR(1023) COLLATE utf8mb4_bin NOT NULL,
  size         BIGINT        NOT NULL,
  content_type VARCHAR(255)  NOT NULL,
  created_at   BIGINT        NOT NULL,
  completed_at BIGINT        NOT NULL DEFAULT 0,
  PRIMARY KEY (domain, username, id),
  UNIQUE INDEX upload_files_id (id),
  INDEX upload_files_age (completed_at, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
)sql";

// Push notifications (XEP-0357): as on SQLite. push_registrations is keyed by a hash of (service JID, node)
// so the key fits InnoDB's 3072 bytes; device nodes are generated (32 hex characters). Table options
// spelled out (PARLEY_MYSQL_TABLE_OPTIONS is undefined above).
constexpr std::string_view kVersion7 =
    R"sql(
CREATE TABLE IF NOT EXISTS push_registrations (
  domain      VARCHAR(255) NOT NULL,
  username    VARCHAR(255) NOT NULL,
  reg_id      VARCHAR(64)  NOT NULL,
  service_jid MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  node        MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  options     MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  created_at  BIGINT       NOT NULL,
  PRIMARY KEY (domain, username, reg_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS push_room_rules (
  domain   VARCHAR(255) NOT NULL,
  username VARCHAR(255) NOT NULL,
  room     VARCHAR(255) NOT NULL,
  mode     VARCHAR(8)   NOT NULL CHECK (mode IN ('always', 'mentions', 'never')),
  nick     MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  PRIMARY KEY (domain, username, room)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS push_devices (
  domain     VARCHAR(255) NOT NULL,
  node       VARCHAR(64)  NOT NULL,
  secret     MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  owner      VARCHAR(255) NOT NULL,
  device_id  VARCHAR(255) NOT NULL,
  provider   VARCHAR(8)   NOT NULL CHECK (provider IN ('fcm', 'apns')),
  token      MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  voip_token MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  topic      MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  sandbox    TINYINT      NOT NULL DEFAULT 0,
  created_at BIGINT       NOT NULL,
  PRIMARY KEY (domain, node),
  INDEX push_devices_owner (domain, owner, device_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
)sql";

// Multi-user chat archive and room data: as on SQLite. The sender index (255 + 255 + 255 characters of
// 4 bytes, and the id) fits InnoDB's 3072 bytes; nicks are not indexed. ADD COLUMN IF NOT EXISTS
// (MariaDB) keeps the migration idempotent.
constexpr std::string_view kVersion8 =
    R"sql(
CREATE TABLE IF NOT EXISTS muc_archive (
  id              BIGINT        NOT NULL,
  domain          VARCHAR(255)  NOT NULL,
  room            VARCHAR(255)  NOT NULL,
  nick            VARCHAR(1023) NOT NULL,
  sender_jid      VARCHAR(255)  NOT NULL DEFAULT '',
  sender_resource VARCHAR(1023) NOT NULL DEFAULT '',
  stamp           BIGINT        NOT NULL,          -- unix microseconds, when the room took it
  xml             MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (id),
  INDEX muc_archive_room (domain, room, id),
  INDEX muc_archive_sender (domain, room, sender_jid, id),
  INDEX muc_archive_stamp (domain, room, stamp)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS muc_vcards (
  domain VARCHAR(255) NOT NULL,
  room   VARCHAR(255) NOT NULL,
  vcard  MEDIUMTEXT COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (domain, room)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

ALTER TABLE muc_rooms ADD COLUMN IF NOT EXISTS archiving TINYINT NOT NULL DEFAULT 1;
ALTER TABLE muc_rooms ADD COLUMN IF NOT EXISTS avatar_hash VARCHAR(1023) NOT NULL DEFAULT '';
)sql";

// As SQLite's version 9: archive time filters are id ranges, the stamp indexes go (IF EXISTS keeps the
// step idempotent, like every statement here).
constexpr std::string_view kVersion9 = R"sql(
DROP INDEX IF EXISTS mam_messages_stamp ON mam_messages;
DROP INDEX IF EXISTS muc_archive_stamp ON muc_archive;
)sql";

// As SQLite's version 10: user archives indexed in bulk. Each statement is idempotent.
constexpr std::string_view kVersion10 = R"sql(
CREATE TABLE IF NOT EXISTS mam_index (
  domain   VARCHAR(255) NOT NULL,
  username VARCHAR(255) NOT NULL,
  id       BIGINT       NOT NULL,
  with_jid VARCHAR(255) NOT NULL,
  PRIMARY KEY (domain, username, id),
  INDEX mam_index_with (domain, username, with_jid, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE IF NOT EXISTS mam_index_state (
  one        TINYINT NOT NULL,
  indexed_to BIGINT  NOT NULL,
  PRIMARY KEY (one)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

INSERT IGNORE INTO mam_index (domain, username, id, with_jid)
  SELECT domain, username, id, with_jid FROM mam_messages;
INSERT IGNORE INTO mam_index_state (one, indexed_to) SELECT 1, id FROM mam_messages ORDER BY id DESC LIMIT 1;
DROP INDEX IF EXISTS mam_messages_user ON mam_messages;
DROP INDEX IF EXISTS mam_messages_with ON mam_messages;
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

std::span<const Migration> mysqlMigrations() {
  return kMigrations;
}

}  // namespace parley::storage::schema
