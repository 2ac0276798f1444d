// xep/mam/archive_store.cpp builds into parley_storage, so its conformance tests live here: XEP-0313
// paging in both directions without gaps, the query-form filters, retention, preferences, deletion
// with the account, and (SQLite) that page queries are index ranges, not scans or sorts.
#include "xep/mam/archive_store.h"

#include <set>

#include "storage/account_store.h"
#include "storage_conformance.h"

namespace parley::storage::testing {
namespace {

using xep::mam::ArchiveMode;
using xep::mam::ArchivePage;
using xep::mam::ArchivePrefs;
using xep::mam::ArchiveQuery;
using xep::mam::ArchiveRow;
using xep::mam::ArchiveStore;

constexpr std::int64_t kT0 = 1'700'000'000'000'000;  // unix microseconds

class ArchiveStoreTest : public StorageConformance {
 protected:
  void SetUp() override {
    StorageConformance::SetUp();
    if (IsSkipped()) return;
    AccountStore accounts(db());
    for (const char* u : {"alice", "bob"}) ASSERT_TRUE(accounts.create("example.org", u, {}));
    ASSERT_TRUE(accounts.create("other.example", "alice", {}));
  }

  static ArchiveRow row(std::int64_t id, std::string user, std::string with, std::int64_t stamp,
                        std::string resource = "r", std::string domain = "example.org") {
    ArchiveRow r;
    r.id = id;
    r.domain = std::move(domain);
    r.user = std::move(user);
    r.with = std::move(with);
    r.withResource = std::move(resource);
    r.stamp = stamp;
    r.outgoing = id % 2 == 0;
    r.xml = "<message xmlns='jabber:client' type='chat'><body>" + std::to_string(id) + "</body></message>";
    return r;
  }

  ArchiveQuery query(std::int64_t max) {
    ArchiveQuery q;
    q.domain = "example.org";
    q.user = "alice";
    q.max = max;
    return q;
  }

  static std::vector<std::int64_t> ids(const ArchivePage& p) {
    std::vector<std::int64_t> out;
    for (const auto& m : p.messages) out.push_back(m.id);
    return out;
  }

  // alice: ids 1..n, with bob for odd ids and carol for even ones, stamps one second apart.
  void fill(ArchiveStore& store, int n) {
    std::vector<ArchiveRow> rows;
    for (int i = 1; i <= n; ++i)
      rows.push_back(row(i, "alice", i % 2 ? "bob@example.org" : "carol@example.org", kT0 + i * 1'000'000));
    ASSERT_EQ(store.append(rows), static_cast<std::size_t>(n));
  }
};

TEST_P(ArchiveStoreTest, AppendKeepsEveryColumn) {
  ArchiveStore store(db());
  auto r = row(42, "alice", "bob@example.org", kT0 + 7, "phone");
  r.outgoing = true;
  ASSERT_EQ(store.append({r}), 1u);
  auto page = store.query(query(10));
  ASSERT_EQ(page.messages.size(), 1u);
  const auto& m = page.messages[0];
  EXPECT_EQ(m.id, 42);
  EXPECT_EQ(m.stamp, kT0 + 7);
  EXPECT_TRUE(m.outgoing);
  EXPECT_EQ(m.with, "bob@example.org");
  EXPECT_EQ(m.xml, r.xml);
  EXPECT_TRUE(page.complete);
  EXPECT_EQ(page.count, 1);
  EXPECT_EQ(page.firstIndex, 0);
  EXPECT_EQ(store.maxId(), 42);
  EXPECT_TRUE(store.contains("example.org", "alice", 42));
  EXPECT_FALSE(store.contains("example.org", "bob", 42));  // another user's id is not in this archive
  EXPECT_FALSE(store.contains("example.org", "alice", 43));
}

TEST_P(ArchiveStoreTest, RowsForMissingAccountsAreSkipped) {
  ArchiveStore store(db());
  EXPECT_EQ(
      store.append({row(1, "alice", "x@y", kT0), row(2, "nobody", "x@y", kT0), row(3, "bob", "x@y", kT0)}),
      2u);
  EXPECT_EQ(store.count("example.org", "nobody"), 0);
  EXPECT_EQ(store.count("example.org", "alice"), 1);
  EXPECT_EQ(store.append({}), 0u);
}

// XEP-0313 §4.3 and XEP-0059 §2.2: paging forwards with <after/> visits every message once, in order;
// 'complete' only on the page that reaches the end.
TEST_P(ArchiveStoreTest, ForwardPagingHasNoGapsOrDuplicates) {
  ArchiveStore store(db());
  fill(store, 95);
  store.append({row(1000, "bob", "alice@example.org", kT0)});  // other archives do not leak in
  std::vector<std::int64_t> seen;
  auto q = query(10);
  int pages = 0;
  for (;;) {
    auto page = store.query(q);
    ++pages;
    EXPECT_EQ(page.count, 95);
    ASSERT_FALSE(page.messages.empty());
    EXPECT_EQ(page.firstIndex, static_cast<std::int64_t>(seen.size()));
    for (auto id : ids(page)) seen.push_back(id);
    if (page.complete) break;
    q.pageAfter = page.messages.back().id;
    ASSERT_LT(pages, 20);
  }
  EXPECT_EQ(pages, 10);
  ASSERT_EQ(seen.size(), 95u);
  for (int i = 0; i < 95; ++i) EXPECT_EQ(seen[i], i + 1);
}

// XEP-0313 §4.3.3: an empty <before/> is the last page; paging back with <before>id</before>; each page
// is still in chronological order.
TEST_P(ArchiveStoreTest, BackwardPagingFromTheEnd) {
  ArchiveStore store(db());
  fill(store, 25);
  auto q = query(10);
  q.fromEnd = true;
  auto last = store.query(q);
  EXPECT_EQ(ids(last), (std::vector<std::int64_t>{16, 17, 18, 19, 20, 21, 22, 23, 24, 25}));
  EXPECT_FALSE(last.complete);
  EXPECT_EQ(last.firstIndex, 15);
  q.pageBefore = 16;
  auto middle = store.query(q);
  EXPECT_EQ(ids(middle), (std::vector<std::int64_t>{6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
  EXPECT_FALSE(middle.complete);
  q.pageBefore = 6;
  auto first = store.query(q);
  EXPECT_EQ(ids(first), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(first.complete);
  EXPECT_EQ(first.firstIndex, 0);
}

TEST_P(ArchiveStoreTest, FilterByContact) {
  ArchiveStore store(db());
  fill(store, 20);
  store.append({row(21, "alice", "bob@example.org", kT0 + 21'000'000, "laptop")});
  auto q = query(100);
  q.with = "bob@example.org";
  auto page = store.query(q);
  EXPECT_EQ(page.count, 11);
  for (const auto& m : page.messages) EXPECT_EQ(m.with, "bob@example.org");
  // §4.1.1: a full JID matches only that resource.
  q.withResource = "laptop";
  EXPECT_EQ(ids(store.query(q)), std::vector<std::int64_t>{21});
  q.with = "nobody@example.org";
  q.withResource.reset();
  auto none = store.query(q);
  EXPECT_TRUE(none.messages.empty());
  EXPECT_TRUE(none.complete);
  EXPECT_EQ(none.count, 0);
}

// XEP-0313 §4.1.2: 'start' and 'end' are inclusive. The stamp of a row the server writes is the time
// its id stands for (ArchiveClock), so the rows here have id == stamp, one second apart.
TEST_P(ArchiveStoreTest, FilterByTime) {
  ArchiveStore store(db());
  auto at = [](int i) { return kT0 + std::int64_t{i} * 1'000'000; };
  std::vector<ArchiveRow> rows;
  for (int i = 1; i <= 30; ++i)
    rows.push_back(row(at(i), "alice", i % 2 ? "bob@example.org" : "carol@example.org", at(i)));
  ASSERT_EQ(store.append(rows), 30u);
  auto q = query(100);
  q.start = at(10);
  q.end = at(19);
  auto page = store.query(q);
  std::vector<std::int64_t> expected;
  for (int i = 10; i <= 19; ++i) expected.push_back(at(i));
  EXPECT_EQ(ids(page), expected);
  EXPECT_EQ(page.count, 10);
  q.start = at(10) + 1;  // just after message 10
  q.end.reset();
  q.with = "carol@example.org";
  EXPECT_EQ(ids(store.query(q)).front(), at(12));
  q.start = at(31);  // after everything
  EXPECT_TRUE(store.query(q).messages.empty());
  q.start.reset();
  q.with.reset();
  q.end = kT0;  // before everything
  EXPECT_TRUE(store.query(q).messages.empty());
}

// Rows from before schema 9 may have a stamp below their id (the clock stamped the time, the id ran
// ahead in a burst): 'start' still compares stamps.
TEST_P(ArchiveStoreTest, StartComparesStampsOfRowsWhoseIdRanAhead) {
  ArchiveStore store(db());
  ASSERT_EQ(store.append({row(kT0 + 10, "alice", "bob@example.org", kT0 + 5),
                          row(kT0 + 11, "alice", "bob@example.org", kT0 + 11)}),
            2u);
  auto q = query(10);
  q.start = kT0 + 8;
  EXPECT_EQ(ids(store.query(q)), std::vector<std::int64_t>{kT0 + 11});
}

// XEP-0313 §4.1.3: after-id/before-id bound the result set itself (count and index follow), ids picks.
TEST_P(ArchiveStoreTest, FilterByIds) {
  ArchiveStore store(db());
  fill(store, 30);
  auto q = query(5);
  q.afterId = 10;
  q.beforeId = 21;
  auto page = store.query(q);
  EXPECT_EQ(ids(page), (std::vector<std::int64_t>{11, 12, 13, 14, 15}));
  EXPECT_EQ(page.count, 10);
  EXPECT_EQ(page.firstIndex, 0);
  EXPECT_FALSE(page.complete);
  q.pageAfter = 15;
  page = store.query(q);
  EXPECT_EQ(ids(page), (std::vector<std::int64_t>{16, 17, 18, 19, 20}));
  EXPECT_TRUE(page.complete);
  EXPECT_EQ(page.firstIndex, 5);

  auto picks = query(50);
  picks.ids = {3, 29, 7};
  EXPECT_EQ(ids(store.query(picks)), (std::vector<std::int64_t>{3, 7, 29}));
}

TEST_P(ArchiveStoreTest, MaxZeroOnlyCounts) {
  ArchiveStore store(db());
  fill(store, 12);
  auto page = store.query(query(0));
  EXPECT_TRUE(page.messages.empty());
  EXPECT_EQ(page.count, 12);
  EXPECT_FALSE(page.complete);
  auto q = query(3);
  q.count = false;
  page = store.query(q);
  EXPECT_EQ(page.messages.size(), 3u);
  EXPECT_EQ(page.count, -1);
  EXPECT_EQ(page.firstIndex, -1);
}

TEST_P(ArchiveStoreTest, ArchivesAreSeparatedByDomainAndUser) {
  ArchiveStore store(db());
  store.append({row(1, "alice", "x@y", kT0), row(2, "alice", "x@y", kT0, "r", "other.example"),
                row(3, "bob", "x@y", kT0)});
  EXPECT_EQ(ids(store.query(query(10))), std::vector<std::int64_t>{1});
  auto q = query(10);
  q.domain = "other.example";
  EXPECT_EQ(ids(store.query(q)), std::vector<std::int64_t>{2});
}

TEST_P(ArchiveStoreTest, Bounds) {
  ArchiveStore store(db());
  EXPECT_FALSE(store.bounds("example.org", "alice"));
  fill(store, 7);
  auto b = store.bounds("example.org", "alice");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first.id, 1);
  EXPECT_EQ(b->second.id, 7);
  EXPECT_EQ(b->second.stamp, kT0 + 7'000'000);
}

// XEP-0313 §3.3: retention removes the oldest messages only, and their ids are not handed out again
// (the module starts above maxId()).
TEST_P(ArchiveStoreTest, RetentionRemovesOldestInChunks) {
  ArchiveStore store(db());
  fill(store, 30);
  store.append({row(31, "bob", "x@y", kT0)});
  EXPECT_EQ(store.removeBelow(11, 4), 4);
  EXPECT_EQ(store.removeBelow(11, 100), 6);
  EXPECT_EQ(store.removeBelow(11, 100), 0);
  EXPECT_EQ(store.count("example.org", "alice"), 20);
  EXPECT_EQ(store.query(query(1)).messages.front().id, 11);
  EXPECT_EQ(store.maxId(), 31);
}

TEST_P(ArchiveStoreTest, Preferences) {
  ArchiveStore store(db());
  EXPECT_FALSE(store.prefs("example.org", "alice"));
  ArchivePrefs p;
  p.mode = ArchiveMode::Roster;
  p.always = {"romeo@montague.lit", "juliet@capulet.lit/balcony"};
  p.never = {"montague@montague.lit"};
  store.setPrefs("example.org", "alice", p);
  EXPECT_EQ(store.prefs("example.org", "alice"), p);
  p.mode = ArchiveMode::Never;
  p.always.clear();
  store.setPrefs("example.org", "alice", p);  // replaces
  EXPECT_EQ(store.prefs("example.org", "alice"), p);
  store.setPrefs("other.example", "alice", ArchivePrefs{});
  auto all = store.allPrefs();
  ASSERT_EQ(all.size(), 2u);
  std::set<std::string> who;
  for (const auto& u : all) who.insert(u.user + "@" + u.domain);
  EXPECT_EQ(who, (std::set<std::string>{"alice@example.org", "alice@other.example"}));
}

TEST_P(ArchiveStoreTest, AccountRemovalDeletesArchiveAndPrefs) {
  ArchiveStore store(db());
  fill(store, 5);
  store.append({row(100, "bob", "alice@example.org", kT0)});
  store.setPrefs("example.org", "alice", ArchivePrefs{});
  ASSERT_TRUE(AccountStore(db()).remove("example.org", "alice"));
  EXPECT_EQ(store.count("example.org", "alice"), 0);
  EXPECT_FALSE(store.prefs("example.org", "alice"));
  EXPECT_EQ(store.count("example.org", "bob"), 1);
  // A write still queued for the deleted account is dropped, not resurrected.
  EXPECT_EQ(store.append({row(200, "alice", "x@y", kT0)}), 0u);
}

// The archive is read from two parts (archive_store.h): the index up to the watermark and the tail
// above it, the tail either scanned or named by the ids the writer keeps. Every query must give the same
// page whichever way the rows are split: the answers with nothing indexed (which the tests above check)
// are compared with the answers at several watermarks, both ways of reading the tail.
TEST_P(ArchiveStoreTest, PagesDoNotDependOnHowMuchIsIndexed) {
  ArchiveStore store(db());
  std::vector<ArchiveRow> rows;
  std::vector<std::int64_t> aliceIds;
  for (int i = 1; i <= 60; ++i) {
    const bool alice = i % 5 != 0;  // every fifth row is bob's
    const char* with = i % 3 == 0 ? "carol@example.org" : "bob@example.org";
    auto r = row(i, alice ? "alice" : "bob", alice ? with : "alice@example.org", kT0 + i * 1'000'000,
                 i % 4 == 0 ? "phone" : "r");
    if (alice) aliceIds.push_back(i);
    rows.push_back(r);
  }
  ASSERT_EQ(store.append(rows), rows.size());

  std::vector<ArchiveQuery> queries;
  for (std::int64_t max : {0, 1, 7, 50, 100}) {
    auto q = query(max);
    queries.push_back(q);
    q.fromEnd = true;
    queries.push_back(q);
    q.pageBefore = 31;
    queries.push_back(q);
    q.fromEnd = false;
    q.pageBefore.reset();
    q.pageAfter = 29;
    queries.push_back(q);
    q.with = "carol@example.org";
    queries.push_back(q);
    q.withResource = "phone";
    queries.push_back(q);
    q.fromEnd = true;
    q.pageAfter.reset();
    queries.push_back(q);
  }
  {
    auto q = query(10);
    q.start = kT0 + 12'000'000;
    q.end = kT0 + 44'000'000;
    queries.push_back(q);
    q.fromEnd = true;
    queries.push_back(q);
    q = query(10);
    q.afterId = 8;
    q.beforeId = 52;
    queries.push_back(q);
    q.ids = {3, 4, 5, 33, 34, 58, 59, 999};
    queries.push_back(q);
  }

  auto same = [](const ArchivePage& a, const ArchivePage& b) {
    std::vector<std::string> xa, xb;
    for (const auto& m : a.messages) xa.push_back(m.xml + m.with + m.withResource);
    for (const auto& m : b.messages) xb.push_back(m.xml + m.with + m.withResource);
    return xa == xb && a.complete == b.complete && a.count == b.count && a.firstIndex == b.firstIndex;
  };
  std::vector<ArchivePage> expected;
  for (const auto& q : queries) expected.push_back(store.query(q));
  ASSERT_EQ(ids(expected[8]), std::vector<std::int64_t>({59}));  // max 1, from the end

  for (std::int64_t watermark : {1, 17, 30, 31, 59, 60}) {
    SCOPED_TRACE("indexed up to " + std::to_string(watermark));
    store.index(watermark);
    ASSERT_EQ(store.indexedTo(), watermark);
    xep::mam::ArchiveTail tail{watermark, {}};
    for (auto id : aliceIds)
      if (id > watermark) tail.ids.push_back(id);
    tail.ids.push_back(1000);  // a row that does not exist (deleted since) is harmless
    for (std::size_t k = 0; k < queries.size(); ++k) {
      SCOPED_TRACE("query " + std::to_string(k));
      EXPECT_TRUE(same(store.query(queries[k]), expected[k]));
      EXPECT_TRUE(same(store.query(queries[k], &tail), expected[k]));
    }
    EXPECT_EQ(store.count("example.org", "alice", &tail), 48);
    EXPECT_EQ(store.count("example.org", "bob"), 12);
    auto b = store.bounds("example.org", "alice", &tail);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->first.id, 1);
    EXPECT_EQ(b->second.id, 59);
  }
  EXPECT_EQ(store.index(60), 0);  // nothing above the watermark
}

// A row the writer has not reported yet is not in the tail it hands over: the query does not see it
// (the module hands over the tail under the archive's pool key, after every earlier write).
TEST_P(ArchiveStoreTest, AMemoryTailNamesTheRowsAboveTheWatermark) {
  ArchiveStore store(db());
  fill(store, 10);
  store.index(6);
  xep::mam::ArchiveTail tail{6, {7, 8}};
  EXPECT_EQ(ids(store.query(query(50), &tail)), std::vector<std::int64_t>({1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(ids(store.query(query(50))).size(), 10u);  // the scan finds all of them
}

// Retention and account removal reach rows on both sides of the watermark, and their index entries.
TEST_P(ArchiveStoreTest, RemovalsReachIndexedRowsAndTheTail) {
  ArchiveStore store(db());
  fill(store, 30);
  store.append({row(31, "bob", "x@y", kT0), row(32, "bob", "x@y", kT0)});
  store.index(20);
  auto indexEntries = [&](const char* user) {
    return db()
        .connection()
        .query("SELECT COUNT(*) FROM mam_index WHERE domain = 'example.org' AND username = ?",
               {std::string(user)})[0]
        .getInt(0);
  };
  ASSERT_EQ(indexEntries("alice"), 20);
  EXPECT_EQ(store.removeBelow(26, 100), 25);  // 20 indexed, 5 in the tail
  EXPECT_EQ(indexEntries("alice"), 0);
  EXPECT_EQ(ids(store.query(query(50))), std::vector<std::int64_t>({26, 27, 28, 29, 30}));
  store.index(28);
  ASSERT_EQ(indexEntries("alice"), 3);
  ASSERT_TRUE(AccountStore(db()).remove("example.org", "alice"));
  EXPECT_EQ(indexEntries("alice"), 0);
  EXPECT_EQ(
      db().connection()
          .query("SELECT COUNT(*) FROM mam_messages WHERE domain = 'example.org' AND username = 'alice'")[0]
          .getInt(0),
      0);
  EXPECT_EQ(store.count("example.org", "bob"), 2);
}

// The page queries are index ranges: no table scan and no sort, whatever the archive size. The indexed
// part walks mam_index and fetches rows by id; the tail is fetched by id.
TEST_P(ArchiveStoreTest, SqlitePageQueriesUseIndexes) {
  if (db().engine() != Engine::Sqlite) GTEST_SKIP();
  auto plan = [&](const std::string& sql, std::vector<Value> params) {
    std::string text;
    for (const auto& r : db().connection().query("EXPLAIN QUERY PLAN " + sql, params))
      text += r.getText(3) + "\n";
    return text;
  };
  const std::string cols =
      "SELECT m.id, m.stamp, m.outgoing, m.with_jid, m.with_resource, m.xml FROM mam_messages m JOIN "
      "mam_index i "
      "ON m.id = i.id WHERE ";
  const std::string who = "i.domain = ? AND i.username = ? ";
  auto p1 = plan(cols + who + "AND i.id <= ? AND i.id > ? ORDER BY i.id LIMIT ?",
                 {std::string("example.org"), std::string("alice"), std::int64_t{100}, std::int64_t{5},
                  std::int64_t{11}});
  EXPECT_NE(p1.find("SEARCH i USING PRIMARY KEY"), std::string::npos) << p1;
  EXPECT_NE(p1.find("SEARCH m USING INTEGER PRIMARY KEY"), std::string::npos) << p1;
  EXPECT_EQ(p1.find("TEMP B-TREE"), std::string::npos) << p1;
  auto p2 = plan(cols + who + "AND i.with_jid = ? AND i.id <= ? AND i.id < ? ORDER BY i.id DESC LIMIT ?",
                 {std::string("example.org"), std::string("alice"), std::string("bob@example.org"),
                  std::int64_t{100}, std::int64_t{5}, std::int64_t{11}});
  EXPECT_NE(p2.find("mam_index_with"), std::string::npos) << p2;
  EXPECT_EQ(p2.find("TEMP B-TREE"), std::string::npos) << p2;
  // 'start'/'end' are id ranges on the same index (schema 9 has no stamp index).
  auto p3 = plan(cols + who +
                     "AND i.id >= ? AND m.stamp >= ? AND i.id <= ? AND m.stamp <= ? AND i.id <= ? "
                     "ORDER BY i.id LIMIT ?",
                 {std::string("example.org"), std::string("alice"), kT0, kT0, kT0 + 5, kT0 + 5,
                  std::int64_t{100}, std::int64_t{11}});
  EXPECT_NE(p3.find("SEARCH i USING PRIMARY KEY"), std::string::npos) << p3;
  EXPECT_EQ(p3.find("TEMP B-TREE"), std::string::npos) << p3;
  // The tail, by id.
  auto p4 = plan(
      "SELECT id, stamp, outgoing, with_jid, with_resource, xml FROM mam_messages WHERE id IN (?, ?) AND "
      "domain = ? AND username = ? ORDER BY id DESC LIMIT ?",
      {std::int64_t{7}, std::int64_t{8}, std::string("example.org"), std::string("alice"), std::int64_t{11}});
  EXPECT_NE(p4.find("SEARCH mam_messages USING INTEGER PRIMARY KEY (rowid=?)"), std::string::npos) << p4;
  // Account removal and retention find index entries by key.
  auto p5 = plan(
      "DELETE FROM mam_messages WHERE id IN (SELECT id FROM mam_index WHERE domain = ? AND username = ?)",
      {std::string("example.org"), std::string("alice")});
  EXPECT_EQ(p5.find("SCAN"), std::string::npos) << p5;
  auto p6 = plan(
      "DELETE FROM mam_index WHERE (domain, username, id) IN "
      "(SELECT domain, username, id FROM mam_messages WHERE id <= ?)",
      {std::int64_t{5}});
  EXPECT_EQ(p6.find("SCAN mam_index"), std::string::npos) << p6;
}

INSTANTIATE_TEST_SUITE_P(Backends, ArchiveStoreTest, ::testing::ValuesIn(backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace parley::storage::testing
