#include <fmt/format.h>

#include "server/util/thread_role.h"
#include "storage/schema/schema.h"

namespace parley::storage::schema {

std::span<const Migration> sqliteMigrations();  // sqlite_migrations.cpp
std::span<const Migration> mysqlMigrations();   // mysql_migrations.cpp

namespace {

constexpr std::string_view kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY)";

bool versionTableExists(Database& db) {
  std::string_view sql;
  switch (db.engine()) {
    case Engine::Sqlite:
      sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'";
      break;
    case Engine::Mysql:
      sql =
          "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND "
          "table_name = 'schema_version'";
      break;
  }
  return db.connection().query(sql)[0].getInt(0) > 0;
}

int readVersion(Connection& c) {
  return static_cast<int>(c.query("SELECT MAX(version) FROM schema_version")[0].getInt(0));
}

[[noreturn]] void throwNewer(int version, int latest) {
  throw StorageError(fmt::format(
      "database schema version {} is newer than this parleyd ({}); upgrade parleyd", version, latest));
}

// MySQL DDL is not transactional (CREATE TABLE commits at once), so the per-version transaction
// below cannot keep two processes from migrating at the same time there; a named server lock does.
// SQLite needs none: each version's transaction holds the write lock.
class MigrationLock {
 public:
  explicit MigrationLock(Database& db) : db_(db) {
    if (db_.engine() != Engine::Mysql) return;
    auto rows = db_.connection().query("SELECT GET_LOCK(CONCAT('parley_migrate:', LEFT(DATABASE(), 40)), ?)",
                                       {std::int64_t{kWaitSeconds}});
    if (rows.empty() || rows[0].getInt(0) != 1) {
      throw StorageError(fmt::format(
          "another process has been migrating this database for {} s; try again later", kWaitSeconds));
    }
    held_ = true;
  }
  ~MigrationLock() {
    if (!held_) return;
    try {
      db_.connection().query("SELECT RELEASE_LOCK(CONCAT('parley_migrate:', LEFT(DATABASE(), 40)))");
    } catch (...) {
      // The server frees it with the connection anyway.
    }
  }
  MigrationLock(const MigrationLock&) = delete;
  MigrationLock& operator=(const MigrationLock&) = delete;

 private:
  static constexpr int kWaitSeconds = 120;
  Database& db_;
  bool held_ = false;
};

}  // namespace

std::span<const Migration> migrations(Engine engine) {
  switch (engine) {
    case Engine::Sqlite:
      return sqliteMigrations();
    case Engine::Mysql:
      return mysqlMigrations();
  }
  throw StorageError("no schema migrations for this storage engine");
}

int latestVersion(Engine engine) {
  auto history = migrations(engine);
  return history.empty() ? 0 : history.back().version;
}

int currentVersion(Database& db) {
  PARLEY_ASSERT_MAY_BLOCK();
  // Reading must not create anything: `parleyctl` may inspect a database it is not meant to change.
  if (!versionTableExists(db)) return 0;
  return readVersion(db.connection());
}

void migrate(Database& db) {
  PARLEY_ASSERT_MAY_BLOCK();
  auto history = migrations(db.engine());
  for (std::size_t i = 0; i < history.size(); ++i) {
    if (history[i].version != static_cast<int>(i) + 1) {
      throw StorageError("schema migrations are not numbered 1..N (a bug in this build)");
    }
  }
  const int latest = latestVersion(db.engine());
  MigrationLock lock(db);
  db.connection().executeScript(kCreateVersionTable);
  const int current = readVersion(db.connection());
  if (current > latest) throwNewer(current, latest);
  for (const Migration& m : history) {
    if (m.version <= current) continue;
    db.transaction([&](Connection& c) {
      // Another process may have applied it (or newer ones) since we looked.
      int now = readVersion(c);
      if (now > latest) throwNewer(now, latest);
      if (now >= m.version) return;
      c.executeScript(m.sql);
      c.execute("INSERT INTO schema_version (version) VALUES (?)", {std::int64_t{m.version}});
    });
  }
}

}  // namespace parley::storage::schema
