// SQLite-specific behaviour: files, modes, pragmas, per-thread connections, error messages.
#include "storage/sqlite/sqlite_database.h"

#include <fstream>
#include <set>
#include <thread>

#include <sys/stat.h>

#include "server/util/thread_role.h"
#include "storage/schema/schema.h"
#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

namespace fs = std::filesystem;

StorageConfig configAt(const fs::path& path) {
  StorageConfig config;
  config.sqlitePath = path.string();
  return config;
}

unsigned modeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// Sets the process umask for one test (tests run one at a time, so nothing else creates files).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(SqliteDatabase, CreatesFileOwnerOnly) {
  ScopedUmask permissive(0);  // even a umask that allows everything
  TempDir dir;
  const fs::path path = dir.path() / "parley.db";
  SqliteDatabase db(configAt(path));
  db.migrate();
  EXPECT_EQ(modeOf(path), 0600u);
  EXPECT_TRUE(fs::exists(path.string() + "-wal"));
  EXPECT_EQ(modeOf(path.string() + "-wal"), 0600u);  // SQLite copies the database file's mode
}

TEST(SqliteDatabase, KeepsTheModeOfAnExistingFile) {
  TempDir dir;
  const fs::path path = dir.path() / "parley.db";
  { SqliteDatabase db(configAt(path)); }
  ::chmod(path.c_str(), 0640);
  SqliteDatabase db(configAt(path));
  EXPECT_EQ(modeOf(path), 0640u);
}

TEST(SqliteDatabase, CreatesMissingParentDirectoriesPrivately) {
  ScopedUmask permissive(0);
  TempDir dir;
  const fs::path path = dir.path() / "a" / "b" / "parley.db";
  SqliteDatabase db(configAt(path));
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(modeOf(dir.path() / "a"), 0700u);
  EXPECT_EQ(modeOf(dir.path() / "a" / "b"), 0700u);
  EXPECT_EQ(db.path(), path.string());
}

TEST(SqliteDatabase, RefusesInMemoryAndEmptyPaths) {
  EXPECT_THROW(SqliteDatabase(configAt(":memory:")), StorageError);
  EXPECT_THROW(SqliteDatabase(configAt("")), StorageError);
  StorageConfig negative = configAt("/tmp/never.db");
  negative.busyTimeoutMs = -1;
  EXPECT_THROW(SqliteDatabase{negative}, StorageError);
}

TEST(SqliteDatabase, UnopenablePathNamesTheFile) {
  TempDir dir;
  const fs::path file = dir.path() / "not-a-dir";
  { std::ofstream(file) << "x"; }
  const fs::path path = file / "parley.db";
  try {
    SqliteDatabase db(configAt(path));
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  // A directory where the file should be.
  try {
    SqliteDatabase db(configAt(dir.path()));
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path().string()), std::string::npos) << e.what();
  }
}

TEST(SqliteDatabase, NotADatabaseFails) {
  TempDir dir;
  const fs::path path = dir.path() / "garbage.db";
  { std::ofstream(path) << std::string(4096, 'g'); }
  EXPECT_THROW(SqliteDatabase(configAt(path)), StorageError);
}

TEST(SqliteDatabase, Pragmas) {
  TempDir dir;
  SqliteDatabase db(configAt(dir.path() / "parley.db"));
  Connection& c = db.connection();
  EXPECT_EQ(c.query("PRAGMA journal_mode")[0].getText(0), "wal");
  EXPECT_EQ(c.query("PRAGMA synchronous")[0].getInt(0), 1);  // NORMAL
  EXPECT_EQ(c.query("PRAGMA foreign_keys")[0].getInt(0), 1);
  EXPECT_EQ(c.query("PRAGMA busy_timeout")[0].getInt(0), 5000);
  std::thread([&] {  // every connection, not only the first
    Connection& other = db.connection();
    EXPECT_EQ(other.query("PRAGMA foreign_keys")[0].getInt(0), 1);
    EXPECT_EQ(other.query("PRAGMA synchronous")[0].getInt(0), 1);
  })
      .join();
}

TEST(SqliteDatabase, OneConnectionPerThreadClosedWithTheDatabase) {
  TempDir dir;
  auto db = std::make_unique<SqliteDatabase>(configAt(dir.path() / "parley.db"));
  EXPECT_EQ(db->connectionCount(), 1u);  // the opening thread's
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([&] { db->connection().query("SELECT 1"); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(db->connectionCount(), 4u);
  db.reset();  // closes connections of threads that have exited
  // A new database on this thread gets a new connection, never the destroyed one's.
  SqliteDatabase again(configAt(dir.path() / "parley.db"));
  EXPECT_EQ(again.connection().query("SELECT 1")[0].getInt(0), 1);
}

TEST(SqliteDatabase, TwoDatabasesOnOneThreadKeepTheirOwnConnections) {
  TempDir dir;
  SqliteDatabase a(configAt(dir.path() / "a.db"));
  SqliteDatabase b(configAt(dir.path() / "b.db"));
  a.connection().executeScript("CREATE TABLE only_in_a (x INTEGER)");
  EXPECT_NO_THROW(a.connection().query("SELECT COUNT(*) FROM only_in_a"));
  EXPECT_THROW(b.connection().query("SELECT COUNT(*) FROM only_in_a"), StorageError);
  EXPECT_NE(&a.connection(), &b.connection());
}

TEST(SqliteDatabase, ErrorsQuoteAtMost80CharactersOfSql) {
  TempDir dir;
  SqliteDatabase db(configAt(dir.path() / "parley.db"));
  const std::string sql = "SELECT * FROM missing_table WHERE " + std::string(200, 'x') + " = 1";
  try {
    db.connection().query(sql);
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no such table: missing_table"), std::string::npos) << what;
    EXPECT_NE(what.find(sql.substr(0, 80)), std::string::npos) << what;
    EXPECT_EQ(what.find(sql.substr(0, 81)), std::string::npos) << what;
  }
}

TEST(SqliteDatabase, OneStatementPerQuery) {
  TempDir dir;
  SqliteDatabase db(configAt(dir.path() / "parley.db"));
  EXPECT_THROW(db.connection().query("SELECT 1; SELECT 2"), StorageError);
  EXPECT_THROW(db.connection().query("   "), StorageError);
  EXPECT_EQ(db.connection().query("SELECT 1;")[0].getInt(0), 1);  // a trailing ';' is fine
}

TEST(SqliteDatabase, StrictTablesRejectWrongTypes) {
  TempDir dir;
  SqliteDatabase db(configAt(dir.path() / "parley.db"));
  db.migrate();
  // A Blob into a TEXT column is a bug in a store, caught here rather than stored.
  EXPECT_THROW(db.connection().execute("INSERT INTO user_data (domain, username, store, item_key, value) "
                                       "VALUES ('d', 'u', 's', 'k', ?)",
                                       {Blob{"bytes"}}),
               StorageError);
}

// The central list of per-user tables must name every table that holds per-user rows, or
// AccountStore::remove would leave data behind.
TEST(SqliteDatabase, UserTablesListIsComplete) {
  TempDir dir;
  SqliteDatabase db(configAt(dir.path() / "parley.db"));
  db.migrate();
  Connection& c = db.connection();
  auto tables = c.query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
      "AND name != 'schema_version'");
  ASSERT_FALSE(tables.empty());
  std::set<std::string> listed(schema::kUserTables.begin(), schema::kUserTables.end());
  for (const Row& t : tables) {
    const std::string& table = t.getText(0);
    auto hasColumn = [&](const char* column) {
      return c.query("SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?",
                     {table, std::string(column)})[0]
                 .getInt(0) > 0;
    };
    // The archive's index watermark is one row for the whole database (xep/mam/archive_store.h).
    if (table != "mam_index_state") {
      EXPECT_TRUE(hasColumn("domain")) << table << " has no domain column";
    }
    if (hasColumn("username")) {
      EXPECT_TRUE(listed.count(table)) << table << " is missing from kUserTables";
    }
    listed.erase(table);
  }
  EXPECT_TRUE(listed.empty()) << "kUserTables names a table that does not exist: " << *listed.begin();
}

TEST(SqliteDatabase, ConcurrentMigrationsApplyEachVersionOnce) {
  TempDir dir;
  const auto config = configAt(dir.path() / "parley.db");
  SqliteDatabase a(config);
  SqliteDatabase b(config);  // another process, as far as SQLite can tell
  std::thread other([&] { b.migrate(); });
  a.migrate();
  other.join();
  EXPECT_EQ(a.schemaVersion(), schema::latestVersion(Engine::Sqlite));
  EXPECT_EQ(a.connection().query("SELECT COUNT(*) FROM schema_version")[0].getInt(0),
            schema::latestVersion(Engine::Sqlite));
}

#ifndef NDEBUG
TEST(SqliteDatabaseDeathTest, StorageOnANetworkThreadAsserts) {
  TempDir dir;
  SqliteDatabase db(configAt(dir.path() / "parley.db"));
  // "fast" forks this process: the child dies with the parent's temp dir, which the parent removes
  // ("threadsafe" would re-run the test in the child and leak a second directory).
  const auto style = GTEST_FLAG_GET(death_test_style);
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_DEATH(
      {
        util::setThreadRole(util::ThreadRole::Network);
        db.connection();
      },
      "blocking call on a network thread");
  GTEST_FLAG_SET(death_test_style, style);
}
#endif

}  // namespace
}  // namespace parley::storage::testing
