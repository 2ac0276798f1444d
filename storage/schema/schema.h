// DESIGN: versioned schema migrations, one version history per engine. Version N means the same tables
// on every engine (SQLite now, MySQL later with its own DDL for the same versions), so a deployment can
// move between engines at a given version. Applied versions are rows of `schema_version`; the schema's
// version is the largest. Each migration runs in its own transaction (on SQLite DDL is transactional, so
// a failed migration leaves the previous version intact) and re-checks the version inside it, so two
// processes migrating at once (parleyd and parleyctl) apply each step once.
//
// Rules for new migrations: append, never edit a released one; every table has a `domain` column (but
// mam_index_state, one row for the whole archive); a
// table holding per-user rows is keyed by (domain, username, …) and is added to kUserTables.
// Identifiers avoid MySQL reserved words (hence `group_names`, `item_key`).
#pragma once

#include <array>
#include <span>
#include <string_view>

#include "storage/database.h"

namespace parley::storage::schema {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;  // one or more statements
};

// Every table holding per-user rows, keyed by (domain, username). AccountStore::remove deletes a user
// from each of them in one transaction (storage::deleteUserRows), in this order; the account row goes
// last. A test checks that every table
// with a `username` column is listed here.
inline constexpr auto kUserTables = std::to_array<std::string_view>({
    "scram_credentials",
    "roster_items",
    "roster_versions",
    "user_data",
    "offline_messages",
    "mam_messages",
    "mam_index",
    "mam_prefs",
    "pep_items",
    "pep_nodes",
    "push_registrations",
    "push_room_rules",
    "motd_seen",
    "account_removals",
    "upload_files",
    "accounts",
});

// Every table of the latest version (schema_version aside) in dependency order (a table after the ones
// its rows refer to), with its primary key: `parleyctl migrate` copies them in this order, in key
// order. A test checks that every table of a migrated database is listed here.
struct TableInfo {
  std::string_view name;
  std::string_view key;  // primary key columns, comma-separated
};
inline constexpr auto kTables = std::to_array<TableInfo>({
    {"accounts", "domain,username"},
    {"scram_credentials", "domain,username,hash"},
    {"roster_items", "domain,username,contact"},
    {"roster_versions", "domain,username"},
    {"user_data", "domain,username,store,item_key"},
    {"offline_messages", "id"},
    {"mam_messages", "id"},
    {"mam_index", "domain,username,id"},
    {"mam_index_state", "one"},
    {"mam_prefs", "domain,username"},
    {"muc_rooms", "domain,room"},
    {"muc_affiliations", "domain,room,jid"},
    {"muc_archive", "id"},
    {"muc_vcards", "domain,room"},
    {"motd", "domain"},
    {"motd_seen", "domain,username"},
    {"invite_tokens", "domain,token"},
    {"account_removals", "domain,username"},
    {"pep_nodes", "domain,username,node"},
    {"pep_items", "domain,username,node,item_id"},
    {"push_registrations", "domain,username,reg_id"},
    {"push_room_rules", "domain,username,room"},
    {"push_devices", "domain,node"},
    {"upload_files", "domain,username,id"},
});

// The version history of one engine: versions 1..N, oldest first. Throws for an engine without one.
std::span<const Migration> migrations(Engine engine);
int latestVersion(Engine engine);

// The schema version of the database (0 for an empty database). Blocking.
int currentVersion(Database& db);
// Applies pending migrations. Throws StorageError if the database is newer than this build. Blocking.
void migrate(Database& db);

}  // namespace parley::storage::schema
