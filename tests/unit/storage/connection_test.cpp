// The Connection contract every backend must keep: value round trips, transactions, errors.
#include <limits>

#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

// A scratch table with one column per type, in DDL every engine accepts.
void createScratch(Connection& c) {
  c.executeScript(
      "CREATE TABLE scratch (domain VARCHAR(64) NOT NULL, k VARCHAR(64) NOT NULL PRIMARY KEY, t TEXT, "
      "i BIGINT, b BLOB)");
}

TEST_P(StorageConformance, ValuesRoundTrip) {
  Connection& c = db().connection();
  createScratch(c);
  const std::string unicode = "Ünïcødé ✓ 用户 🦜";
  const std::string withNul("a\0b", 3);
  const std::string binary("\0\x01\xff\xfe\x80\0", 6);
  c.execute(
      "INSERT INTO scratch (domain, k, t, i, b) VALUES (?, ?, ?, ?, ?)",
      {std::string("d"), std::string("1"), unicode, std::numeric_limits<std::int64_t>::max(), Blob{binary}});
  c.execute("INSERT INTO scratch (domain, k, t, i, b) VALUES (?, ?, ?, ?, ?)",
            {std::string("d"), std::string("2"), withNul, std::numeric_limits<std::int64_t>::min(), Blob{}});
  c.execute("INSERT INTO scratch (domain, k, t, i, b) VALUES (?, ?, ?, ?, ?)",
            {std::string("d"), std::string("3"), std::string(), nullptr, nullptr});

  auto rows = c.query("SELECT t, i, b FROM scratch ORDER BY k");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].getText(0), unicode);
  EXPECT_EQ(rows[0].getInt(1), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(rows[0].value(2), Value(Blob{binary}));
  EXPECT_EQ(rows[1].getText(0), withNul);
  EXPECT_EQ(rows[1].getInt(1), std::numeric_limits<std::int64_t>::min());
  // An empty blob and an empty string are values, not NULL.
  EXPECT_FALSE(rows[1].isNull(2));
  EXPECT_EQ(rows[1].value(2), Value(Blob{}));
  EXPECT_FALSE(rows[2].isNull(0));
  EXPECT_EQ(rows[2].getText(0), "");
  EXPECT_TRUE(rows[2].isNull(1));
  EXPECT_TRUE(rows[2].isNull(2));
}

TEST_P(StorageConformance, CachedStatementsTakeFreshParameters) {
  Connection& c = db().connection();
  createScratch(c);
  for (int i = 0; i < 5; ++i) {
    c.execute("INSERT INTO scratch (domain, k, i) VALUES (?, ?, ?)",
              {std::string("d"), std::to_string(i), std::int64_t{i}});
  }
  for (int i = 0; i < 5; ++i) {
    auto rows = c.query("SELECT i FROM scratch WHERE k = ?", {std::to_string(i)});
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].getInt(0), i);
  }
  EXPECT_TRUE(c.query("SELECT i FROM scratch WHERE k = ?", {std::string("nope")}).empty());
}

TEST_P(StorageConformance, ExecuteCountsChangedRows) {
  Connection& c = db().connection();
  createScratch(c);
  EXPECT_EQ(c.execute("INSERT INTO scratch (domain, k, i) VALUES ('d', 'a', 1), ('d', 'b', 1)"), 2);
  EXPECT_EQ(c.execute("UPDATE scratch SET i = 1 WHERE domain = 'd'"), 2);  // matched, even if unchanged
  EXPECT_EQ(c.execute("DELETE FROM scratch WHERE k = 'zzz'"), 0);
}

TEST_P(StorageConformance, LastInsertId) {
  Connection& c = db().connection();
  const char* insert =
      "INSERT INTO offline_messages (domain, username, stamp, xml) VALUES ('d', 'u', 1, 'x')";
  c.execute(insert);
  std::int64_t first = c.lastInsertId();
  c.execute(insert);
  EXPECT_GT(c.lastInsertId(), first);  // Galera steps by the cluster size
}

TEST_P(StorageConformance, TransactionCommitsAndRollsBackOnThrow) {
  createScratch(db().connection());
  db().transaction([](Connection& c) { c.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'kept')"); });
  EXPECT_THROW(db().transaction([](Connection& c) {
    c.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'dropped')");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  auto rows = db().connection().query("SELECT k FROM scratch ORDER BY k");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].getText(0), "kept");
  // The connection is usable afterwards.
  EXPECT_EQ(
      db().transaction([](Connection& c) { return c.query("SELECT COUNT(*) FROM scratch")[0].getInt(0); }),
      1);
}

TEST_P(StorageConformance, NestedTransactionRollsBackOnlyTheInnerLevel) {
  createScratch(db().connection());
  db().transaction([&](Connection& c) {
    c.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'outer')");
    EXPECT_THROW(db().transaction([](Connection& inner) {
      inner.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'inner')");
      throw std::runtime_error("inner fails");
    }),
                 std::runtime_error);
    db().transaction(
        [](Connection& inner) { inner.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'inner2')"); });
  });
  auto rows = db().connection().query("SELECT k FROM scratch ORDER BY k");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].getText(0), "inner2");
  EXPECT_EQ(rows[1].getText(0), "outer");
}

TEST_P(StorageConformance, OuterRollbackUndoesCommittedInnerLevel) {
  createScratch(db().connection());
  EXPECT_THROW(db().transaction([&](Connection&) {
    db().transaction([](Connection& c) { c.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'x')"); });
    throw std::runtime_error("outer fails");
  }),
               std::runtime_error);
  EXPECT_TRUE(db().connection().query("SELECT k FROM scratch").empty());
}

TEST_P(StorageConformance, RollbackWithoutTransactionIsHarmless) {
  EXPECT_NO_THROW(db().connection().rollback());
  EXPECT_THROW(db().connection().commit(), StorageError);
}

TEST_P(StorageConformance, DuplicateKeyIsTypedAndLeavesTheTransactionUsable) {
  createScratch(db().connection());
  db().transaction([](Connection& c) {
    c.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'a')");
    EXPECT_THROW(c.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'a')"), DuplicateKey);
    c.execute("INSERT INTO scratch (domain, k) VALUES ('d', 'b')");
  });
  EXPECT_EQ(db().connection().query("SELECT COUNT(*) FROM scratch")[0].getInt(0), 2);
}

TEST_P(StorageConformance, ErrorsNameTheStatement) {
  Connection& c = db().connection();
  try {
    c.query("SELECT nothing FROM no_such_table");
    FAIL() << "expected StorageError";
  } catch (const DuplicateKey&) {
    FAIL() << "not a duplicate key";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_table"), std::string::npos) << e.what();
  }
}

TEST_P(StorageConformance, WrongParameterCountThrows) {
  createScratch(db().connection());
  EXPECT_THROW(db().connection().execute("INSERT INTO scratch (domain, k) VALUES (?, ?)", {std::string("d")}),
               StorageError);
  // The statement stays usable with the right parameters.
  EXPECT_EQ(db().connection().execute("INSERT INTO scratch (domain, k) VALUES (?, ?)",
                                      {std::string("d"), std::string("k")}),
            1);
}

TEST_P(StorageConformance, SameThreadSameConnection) {
  EXPECT_EQ(&db().connection(), &db().connection());
}

}  // namespace
}  // namespace parley::storage::testing
