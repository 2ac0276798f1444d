// Row, Dialect and openDatabase: no database needed.
#include "storage/database.h"

#include <gtest/gtest.h>

namespace parley::storage {
namespace {

TEST(Row, NullReadsAsZeroEmptyAndNullopt) {
  Row row({nullptr});
  EXPECT_TRUE(row.isNull(0));
  EXPECT_EQ(row.getInt(0), 0);
  EXPECT_EQ(row.getText(0), "");
  EXPECT_EQ(row.getOptText(0), std::nullopt);
  EXPECT_EQ(row.getOptInt(0), std::nullopt);
}

TEST(Row, ReadsEachType) {
  Row row({std::int64_t{-7}, std::string("héllo"), Blob{std::string("\0\xff", 2)}});
  EXPECT_EQ(row.size(), 3u);
  EXPECT_EQ(row.getInt(0), -7);
  EXPECT_EQ(row.getOptInt(0), -7);
  EXPECT_EQ(row.getText(1), "héllo");
  EXPECT_EQ(row.getOptText(1), "héllo");
  EXPECT_EQ(row.getText(2), std::string("\0\xff", 2));  // blobs read as bytes
  EXPECT_FALSE(row.isNull(1));
}

TEST(Row, WrongTypeThrows) {
  Row row({std::int64_t{1}, std::string("1")});
  EXPECT_THROW(row.getText(0), StorageError);
  EXPECT_THROW(row.getInt(1), StorageError);
  EXPECT_THROW(row.getInt(5), std::out_of_range);
}

TEST(Dialect, SqliteUpsert) {
  Dialect d{Engine::Sqlite};
  EXPECT_EQ(d.upsert("t", {"a", "b", "v"}, {"a", "b"}, {"v"}),
            "INSERT INTO t(a,b,v) VALUES(?,?,?) ON CONFLICT(a,b) DO UPDATE SET v=excluded.v");
  EXPECT_EQ(d.upsert("t", {"a", "v", "w"}, {"a"}, {"v", "w"}),
            "INSERT INTO t(a,v,w) VALUES(?,?,?) ON CONFLICT(a) DO UPDATE SET v=excluded.v,w=excluded.w");
  EXPECT_EQ(d.upsert("t", {"a", "b"}, {"a"}, {}), "INSERT INTO t(a,b) VALUES(?,?) ON CONFLICT(a) DO NOTHING");
}

TEST(Dialect, MysqlUpsert) {
  Dialect d{Engine::Mysql};
  EXPECT_EQ(d.upsert("t", {"a", "b", "v"}, {"a", "b"}, {"v"}),
            "INSERT INTO t(a,b,v) VALUES(?,?,?) ON DUPLICATE KEY UPDATE v=VALUES(v)");
  EXPECT_EQ(d.upsert("t", {"a", "b"}, {"a"}, {}),
            "INSERT INTO t(a,b) VALUES(?,?) ON DUPLICATE KEY UPDATE a=a");
}

TEST(Dialect, UpsertWithoutColumnsThrows) {
  EXPECT_THROW(Dialect{Engine::Sqlite}.upsert("t", {}, {}, {}), StorageError);
}

TEST(OpenDatabase, UnreachableMysqlNamesTheServer) {
  StorageConfig config;
  config.backend = "mysql";
  config.mysqlSocket = "/nonexistent/parley-test.sock";
  config.mysqlConnectTimeoutS = 2;
  try {
    openDatabase(config);
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "mysql: cannot connect to parley@unix:/nonexistent/parley-test.sock/parley"),
              std::string::npos)
        << e.what();
  }
}

TEST(OpenDatabase, UnknownBackendNamesIt) {
  StorageConfig config;
  config.backend = "postgres";
  try {
    openDatabase(config);
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("\"postgres\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace parley::storage
