// MySQL-specific behaviour (the shared contract is in the conformance suite): reconnecting after the
// server drops a connection, re-running a transaction it lost, utf8mb4 everywhere, page queries on
// indexes, clear errors for bad credentials. Skipped without PARLEY_TEST_MYSQL.
#include "storage/mysql/mysql_database.h"

#include <thread>

#include "server/util/thread_role.h"
#include "storage/schema/schema.h"
#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

class MysqlDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = mysqlTestServer();
    if (!server) GTEST_SKIP() << kMysqlSkipped;
    server_ = *server;
    scratch_ = std::make_unique<ScratchMysqlDatabase>(server_);
    db_ = std::make_unique<MysqlDatabase>(scratch_->config());
    db_->migrate();
  }

  std::int64_t connectionId(Database& db) {
    return db.connection().query("SELECT CONNECTION_ID()")[0].getInt(0);
  }

  // Drops the connection from the server side, as a server restart or an idle timeout would.
  void kill(std::int64_t id) {
    MysqlDatabase admin(server_);
    admin.connection().executeScript("KILL CONNECTION " + std::to_string(id));
  }

  StorageConfig server_;
  std::unique_ptr<ScratchMysqlDatabase> scratch_;
  std::unique_ptr<MysqlDatabase> db_;
};

TEST_F(MysqlDatabaseTest, ReconnectsAndRetriesOutsideATransaction) {
  Connection& c = db_->connection();
  c.execute("INSERT INTO accounts (domain, username, created_at) VALUES ('d', 'u', 1)");
  const std::int64_t before = connectionId(*db_);
  kill(before);
  // The statement cache of the dead connection is gone too; the cached SELECT is prepared again.
  EXPECT_EQ(c.query("SELECT COUNT(*) FROM accounts")[0].getInt(0), 1);
  EXPECT_NE(connectionId(*db_), before);
  EXPECT_EQ(&db_->connection(), &c);  // the same Connection object, with a new server connection
  kill(connectionId(*db_));
  EXPECT_EQ(c.execute("UPDATE accounts SET disabled = 1 WHERE username = 'u'"), 1);
}

TEST_F(MysqlDatabaseTest, ATransactionWhoseConnectionDiesRunsAgain) {
  int runs = 0;
  db_->transaction([&](Connection& c) {
    ++runs;
    c.execute("INSERT INTO offline_messages (domain, username, stamp, xml) VALUES ('d', 'u', 1, 'x')");
    if (runs == 1) kill(connectionId(*db_));
    c.execute("INSERT INTO offline_messages (domain, username, stamp, xml) VALUES ('d', 'u', 2, 'y')");
  });
  EXPECT_EQ(runs, 2);
  // The first run's insert died with its connection: exactly one copy of each row.
  auto rows = db_->connection().query("SELECT xml FROM offline_messages ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].getText(0), "x");
  EXPECT_EQ(rows[1].getText(0), "y");
  EXPECT_EQ(db_->connection().transactionDepth(), 0);
}

TEST_F(MysqlDatabaseTest, NestedLevelOfALostTransactionUnwindsAndTheOuterRetries) {
  int runs = 0;
  db_->transaction([&](Connection& c) {
    ++runs;
    c.execute("INSERT INTO roster_versions (domain, username, version) VALUES ('d', ?, 1)",
              {std::string("u") + std::to_string(runs)});
    db_->transaction([&](Connection& inner) {
      if (runs == 1) kill(connectionId(*db_));
      inner.execute("INSERT INTO roster_versions (domain, username, version) VALUES ('d', 'inner', 1)");
    });
  });
  EXPECT_EQ(runs, 2);
  auto rows = db_->connection().query("SELECT username FROM roster_versions ORDER BY username");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].getText(0), "inner");
  EXPECT_EQ(rows[1].getText(0), "u2");
}

TEST_F(MysqlDatabaseTest, EveryTableAndTextColumnIsUtf8mb4) {
  auto tables = db_->connection().query(
      "SELECT table_name, table_collation FROM information_schema.tables WHERE table_schema = DATABASE()");
  ASSERT_EQ(tables.size(), schema::kTables.size() + 1);
  for (const Row& r : tables) {
    if (r.getText(0) == "schema_version") continue;
    EXPECT_EQ(r.getText(1), "utf8mb4_nopad_bin") << r.getText(0);
  }
  auto columns = db_->connection().query(
      "SELECT table_name, column_name, character_set_name FROM information_schema.columns "
      "WHERE table_schema = DATABASE() AND character_set_name IS NOT NULL");
  ASSERT_FALSE(columns.empty());
  for (const Row& r : columns) EXPECT_EQ(r.getText(2), "utf8mb4") << r.getText(0) << "." << r.getText(1);
  auto session = db_->connection().query("SELECT @@character_set_client, @@character_set_results");
  EXPECT_EQ(session[0].getText(0), "utf8mb4");
  EXPECT_EQ(session[0].getText(1), "utf8mb4");
}

TEST_F(MysqlDatabaseTest, PageQueriesUseTheirIndexes) {
  Connection& c = db_->connection();
  db_->transaction([&](Connection& t) {
    for (int i = 1; i <= 2000; ++i) {
      t.execute(
          "INSERT INTO mam_messages (id, domain, username, with_jid, stamp, outgoing, xml) VALUES (?, "
          "'example.org', "
          "?, ?, ?, 0, 'x')",
          {std::int64_t{i}, "user" + std::to_string(i % 20), "peer" + std::to_string(i % 7) + "@example.org",
           std::int64_t{i}});
    }
    t.execute(
        "INSERT INTO mam_index (domain, username, id, with_jid) SELECT domain, username, id, with_jid "
        "FROM mam_messages");
  });
  c.executeScript("ANALYZE TABLE mam_messages; ANALYZE TABLE mam_index");
  // The user archive's index part: mam_index by key, then the rows by id (archive_store.cpp).
  auto joinPlan = [&](const std::string& sql, std::vector<Value> params) {
    auto rows = c.query("EXPLAIN " + sql, params);
    EXPECT_EQ(rows.size(), 2u);
    std::string out;
    for (const Row& r : rows)
      out += r.getText(2) + ":" + r.getText(5) + ":" + r.getText(9) + "\n";  // table:key:Extra
    return out;
  };
  const std::string joined =
      "SELECT m.id, m.stamp, m.outgoing, m.with_jid, m.xml FROM mam_messages m JOIN mam_index i ON m.id = "
      "i.id "
      "WHERE i.domain = ? AND i.username = ? ";
  auto j1 = joinPlan(joined + "AND i.id <= ? AND i.id > ? ORDER BY i.id LIMIT ?",
                     {std::string("example.org"), std::string("user3"), std::int64_t{5000}, std::int64_t{5},
                      std::int64_t{51}});
  EXPECT_NE(j1.find("i:PRIMARY:"), std::string::npos) << j1;
  EXPECT_NE(j1.find("m:PRIMARY:"), std::string::npos) << j1;
  EXPECT_EQ(j1.find("filesort"), std::string::npos) << j1;
  auto j2 = joinPlan(joined + "AND i.with_jid = ? AND i.id <= ? AND i.id < ? ORDER BY i.id DESC LIMIT ?",
                     {std::string("example.org"), std::string("user3"), std::string("peer1@example.org"),
                      std::int64_t{5000}, std::int64_t{1500}, std::int64_t{51}});
  EXPECT_NE(j2.find("i:mam_index_with:"), std::string::npos) << j2;
  EXPECT_EQ(j2.find("filesort"), std::string::npos) << j2;
  auto plan = [&](const std::string& sql, std::vector<Value> params) {
    auto rows = c.query("EXPLAIN " + sql, params);
    EXPECT_EQ(rows.size(), 1u);
    return std::make_pair(rows.at(0).getText(5), rows.at(0).getText(9));  // key, Extra
  };
  auto [k3, e3] = plan(
      "SELECT id, stamp, xml FROM offline_messages WHERE domain = ? AND username = ? ORDER BY id LIMIT ?",
      {std::string("example.org"), std::string("u"), std::int64_t{100}});
  EXPECT_EQ(k3, "offline_messages_user");
  EXPECT_EQ(e3.find("filesort"), std::string::npos) << e3;
}

TEST_F(MysqlDatabaseTest, TooLongKeyIsAnErrorNotATruncation) {
  EXPECT_THROW(
      db_->connection().execute("INSERT INTO accounts (domain, username, created_at) VALUES ('d', ?, 1)",
                                {std::string(256, 'a')}),
      StorageError);
}

TEST_F(MysqlDatabaseTest, BadCredentialsAreAClearError) {
  StorageConfig wrong = scratch_->config();
  wrong.mysqlUser = "nobody";
  wrong.mysqlPassword = "wrong";
  try {
    MysqlDatabase db(wrong);
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("mysql: cannot connect to nobody@unix:"), std::string::npos) << what;
    EXPECT_NE(what.find("Access denied"), std::string::npos) << what;
    EXPECT_EQ(what.find("wrong"), std::string::npos) << "the password must not appear: " << what;
  }
}

TEST_F(MysqlDatabaseTest, OneConnectionPerThread) {
  EXPECT_EQ(db_->connectionCount(), 1u);
  std::thread([&] {
    util::setThreadRole(util::ThreadRole::Blocking);
    db_->connection().query("SELECT 1");
  }).join();
  EXPECT_EQ(db_->connectionCount(), 2u);
}

}  // namespace
}  // namespace parley::storage::testing
