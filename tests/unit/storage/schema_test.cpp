// Migrations: a fresh store reaches the latest version, re-running changes nothing, and a store newer
// than this build is refused.
#include "storage/schema/schema.h"

#include "storage_conformance.h"
#include "xep/mam/archive_store.h"

namespace parley::storage::testing {
namespace {

std::int64_t versionRows(Database& db) {
  return db.connection().query("SELECT COUNT(*) FROM schema_version")[0].getInt(0);
}

TEST_P(StorageConformance, FreshStoreMigratesToLatest) {
  auto backend = freshBackend();
  auto db = backend->open();
  EXPECT_EQ(db->schemaVersion(), 0);
  db->migrate();
  EXPECT_EQ(db->schemaVersion(), schema::latestVersion(db->engine()));
  EXPECT_GE(schema::latestVersion(db->engine()), 1);
  // Every version is recorded once.
  EXPECT_EQ(versionRows(*db), schema::latestVersion(db->engine()));
}

TEST_P(StorageConformance, SchemaVersionOfAnEmptyStoreCreatesNothing) {
  auto backend = freshBackend();
  auto db = backend->open();
  EXPECT_EQ(db->schemaVersion(), 0);
  EXPECT_EQ(db->schemaVersion(), 0);
  db->migrate();  // and the store still migrates normally afterwards
  EXPECT_EQ(db->schemaVersion(), schema::latestVersion(db->engine()));
}

TEST_P(StorageConformance, MigrateAgainIsANoOp) {
  const int latest = schema::latestVersion(db().engine());
  db().connection().execute("INSERT INTO accounts (domain, username, created_at) VALUES ('d', 'u', 1)");
  db().migrate();
  EXPECT_EQ(db().schemaVersion(), latest);
  EXPECT_EQ(versionRows(db()), latest);
  // Reopening (a restart) and migrating again keeps the data.
  db_.reset();
  db_ = backend_->open();
  db().migrate();
  EXPECT_EQ(db().schemaVersion(), latest);
  EXPECT_EQ(db().connection().query("SELECT COUNT(*) FROM accounts")[0].getInt(0), 1);
}

TEST_P(StorageConformance, NewerSchemaIsRefused) {
  const int latest = schema::latestVersion(db().engine());
  db().connection().execute("INSERT INTO schema_version (version) VALUES (?)", {std::int64_t{latest + 1}});
  EXPECT_EQ(db().schemaVersion(), latest + 1);
  try {
    db().migrate();
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_EQ(std::string(e.what()), "database schema version " + std::to_string(latest + 1) +
                                         " is newer than this parleyd (" + std::to_string(latest) +
                                         "); upgrade parleyd");
  }
  // Refusing changed nothing.
  EXPECT_EQ(db().schemaVersion(), latest + 1);
}

TEST_P(StorageConformance, MigrationHistoryIsNumberedFromOne) {
  auto history = schema::migrations(db().engine());
  ASSERT_FALSE(history.empty());
  for (std::size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].version, static_cast<int>(i) + 1);
    EXPECT_FALSE(history[i].description.empty());
  }
}

// Version 10 indexes the user archives in bulk (xep/mam/archive_store.h): a store upgraded from version
// 9 has every archived row in mam_index and its watermark at the newest row, so nothing is left in a
// tail that no running server remembers.
TEST_P(StorageConformance, Version10IndexesTheArchivesOfAVersion9Store) {
  auto backend = freshBackend();
  auto db = backend->open();
  auto& c = db->connection();
  c.executeScript("CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY)");
  for (const auto& m : schema::migrations(db->engine())) {
    if (m.version > 9) break;
    c.executeScript(m.sql);
    c.execute("INSERT INTO schema_version (version) VALUES (?)", {std::int64_t{m.version}});
  }
  ASSERT_EQ(db->schemaVersion(), 9);
  for (const char* u : {"alice", "bob"})
    c.execute("INSERT INTO accounts (domain, username, created_at) VALUES ('example.org', ?, 1)",
              {std::string(u)});
  for (std::int64_t id = 1; id <= 30; ++id) {
    c.execute(
        "INSERT INTO mam_messages (id, domain, username, with_jid, with_resource, stamp, outgoing, xml) "
        "VALUES (?, 'example.org', ?, 'carol@example.org', '', ?, 0, '<message/>')",
        {id, std::string(id % 3 ? "alice" : "bob"), id});
  }
  db->migrate();
  ASSERT_EQ(db->schemaVersion(), schema::latestVersion(db->engine()));
  xep::mam::ArchiveStore store(*db);
  EXPECT_EQ(store.indexedTo(), 30);
  EXPECT_EQ(c.query("SELECT COUNT(*) FROM mam_index")[0].getInt(0), 30);
  EXPECT_EQ(store.count("example.org", "alice", nullptr), 20);
  xep::mam::ArchiveTail empty{30, {}};
  EXPECT_EQ(store.count("example.org", "bob", &empty), 10);  // all of it from the index
}

TEST_P(StorageConformance, EveryUserTableExists) {
  for (std::string_view table : schema::kUserTables) {
    EXPECT_NO_THROW(db().connection().query("SELECT COUNT(*) FROM " + std::string(table) +
                                            " WHERE domain = 'd' AND username = 'u'"))
        << table;
  }
}

}  // namespace
}  // namespace parley::storage::testing
