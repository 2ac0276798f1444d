// Edge cases every backend must get right: 4-byte UTF-8 (emoji) in keys and values, names that differ
// only by trailing spaces or case, large archives paged end to end, and several threads appending to
// archives at once.
#include <atomic>
#include <set>
#include <thread>

#include "server/util/thread_role.h"
#include "storage/account_store.h"
#include "storage/roster_store.h"
#include "storage/user_data_store.h"
#include "storage_conformance.h"
#include "xep/mam/archive_store.h"
#include "xep/offline/offline_store.h"

namespace parley::storage::testing {
namespace {

using xep::mam::ArchiveQuery;
using xep::mam::ArchiveRow;
using xep::mam::ArchiveStore;

const std::string kEmojiUser = "🦜parrot😀";         // 4-byte UTF-8 sequences
const std::string kEmojiContact = "𝄞music@example.org";  // U+1D11E, outside the BMP

TEST_P(StorageConformance, FourByteUtf8InKeysAndValues) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", kEmojiUser, {}));
  EXPECT_TRUE(accounts.exists("example.org", kEmojiUser));
  EXPECT_FALSE(accounts.exists("example.org", "🦜parrot😁"));  // differs in the last code point only
  EXPECT_EQ(accounts.list("example.org"), std::vector<std::string>{kEmojiUser});

  RosterItem item;
  item.contact = kEmojiContact;
  item.name = "🎵 Music 🎶";
  item.groups = {"Ünïcode 🌍", "𝓕𝓪𝓷𝓬𝔂"};
  RosterStore(db()).put("example.org", kEmojiUser, item);
  auto loaded = RosterStore(db()).get("example.org", kEmojiUser, kEmojiContact);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->name, item.name);
  EXPECT_EQ(loaded->groups, item.groups);

  UserDataStore(db()).set("example.org", kEmojiUser, "private", "urn:🦜", "<x>🦜</x>");
  EXPECT_EQ(UserDataStore(db()).get("example.org", kEmojiUser, "private", "urn:🦜"), "<x>🦜</x>");

  ASSERT_TRUE(xep::offline::OfflineStore(db()).push("example.org", kEmojiUser, 1, "<body>😀</body>", 10));
  EXPECT_EQ(xep::offline::OfflineStore(db()).fetch("example.org", kEmojiUser, 10).at(0).xml,
            "<body>😀</body>");

  ArchiveStore archive(db());
  ArchiveRow row;
  row.id = 1;
  row.domain = "example.org";
  row.user = kEmojiUser;
  row.with = kEmojiContact;
  row.withResource = "📱 phone";
  row.stamp = 5;
  row.xml = "<body>🦜🦜🦜</body>";
  ASSERT_EQ(archive.append({row}), 1u);
  ArchiveQuery q;
  q.domain = "example.org";
  q.user = kEmojiUser;
  q.with = kEmojiContact;
  q.withResource = "📱 phone";
  auto page = archive.query(q);
  ASSERT_EQ(page.messages.size(), 1u);
  EXPECT_EQ(page.messages[0].xml, row.xml);
  EXPECT_EQ(page.messages[0].with, kEmojiContact);
}

TEST_P(StorageConformance, KeysDifferingByTrailingSpaceOrCaseAreDistinct) {
  UserDataStore data(db());
  data.set("example.org", "alice", "blocklist", "bob@example.org/r", "1");
  data.set("example.org", "alice", "blocklist", "bob@example.org/r ", "2");
  data.set("example.org", "alice", "blocklist", "Bob@example.org/r", "3");
  EXPECT_EQ(data.get("example.org", "alice", "blocklist", "bob@example.org/r"), "1");
  EXPECT_EQ(data.get("example.org", "alice", "blocklist", "bob@example.org/r "), "2");
  EXPECT_EQ(data.get("example.org", "alice", "blocklist", "Bob@example.org/r"), "3");
  EXPECT_EQ(data.list("example.org", "alice", "blocklist").size(), 3u);
}

TEST_P(StorageConformance, LargeArchivePagesEndToEnd) {
  constexpr int kMessages = 20'000;
  constexpr int kBatch = 500;
  ASSERT_TRUE(AccountStore(db()).create("example.org", "alice", {}));
  ArchiveStore archive(db());
  const std::string body(300, 'x');
  for (int first = 1; first <= kMessages; first += kBatch) {
    std::vector<ArchiveRow> rows;
    for (int id = first; id < first + kBatch; ++id) {
      ArchiveRow r;
      r.id = id;
      r.domain = "example.org";
      r.user = "alice";
      r.with = id % 3 ? "bob@example.org" : "carol@example.org";
      r.stamp = id;  // the time the id stands for, as ArchiveClock issues them (schema 9)
      r.outgoing = id % 2;
      r.xml = "<message><body>" + std::to_string(id) + body + "</body></message>";
      rows.push_back(std::move(r));
    }
    ASSERT_EQ(archive.append(rows), static_cast<std::size_t>(kBatch));
  }
  EXPECT_EQ(archive.count("example.org", "alice"), kMessages);
  EXPECT_EQ(archive.maxId(), kMessages);

  // Forward through everything with carol, 250 at a time: no gap, no duplicate, right count/index.
  ArchiveQuery q;
  q.domain = "example.org";
  q.user = "alice";
  q.with = "carol@example.org";
  q.max = 250;
  std::int64_t expectedId = 3, seen = 0;
  for (;;) {
    auto page = archive.query(q);
    EXPECT_EQ(page.count, kMessages / 3);
    if (!page.messages.empty()) {
      EXPECT_EQ(page.firstIndex, seen);
    }
    for (const auto& m : page.messages) {
      ASSERT_EQ(m.id, expectedId);
      expectedId += 3;
    }
    seen += static_cast<std::int64_t>(page.messages.size());
    if (page.complete) break;
    q.pageAfter = page.messages.back().id;
  }
  EXPECT_EQ(seen, kMessages / 3);

  // The last page from the end, and a time window in the middle.
  ArchiveQuery last;
  last.domain = "example.org";
  last.user = "alice";
  last.fromEnd = true;
  last.max = 10;
  auto tail = archive.query(last);
  ASSERT_EQ(tail.messages.size(), 10u);
  EXPECT_EQ(tail.messages.back().id, kMessages);
  EXPECT_EQ(tail.firstIndex, kMessages - 10);
  ArchiveQuery window;
  window.domain = "example.org";
  window.user = "alice";
  window.start = 10'000;
  window.end = 10'099;
  window.max = 1000;
  EXPECT_EQ(archive.query(window).messages.size(), 100u);

  // Retention in chunks removes exactly the oldest.
  EXPECT_EQ(archive.removeBelow(5'001, 2'000), 2'000);
  EXPECT_EQ(archive.removeBelow(5'001, 10'000), 3'000);
  EXPECT_EQ(archive.count("example.org", "alice"), kMessages - 5'000);
  EXPECT_EQ(archive.bounds("example.org", "alice")->first.id, 5'001);
}

TEST_P(StorageConformance, ConcurrentArchiveAppendsFromSeveralThreads) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 50;
  constexpr int kPerBatch = 20;
  for (int t = 0; t < kThreads; ++t)
    ASSERT_TRUE(AccountStore(db()).create("example.org", "user" + std::to_string(t), {}));
  ASSERT_TRUE(AccountStore(db()).create("example.org", "shared", {}));
  std::atomic<std::int64_t> nextId{1};
  std::vector<std::exception_ptr> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      util::setThreadRole(util::ThreadRole::Blocking);
      try {
        ArchiveStore archive(db());
        for (int b = 0; b < kBatches; ++b) {
          std::vector<ArchiveRow> rows;
          for (int i = 0; i < kPerBatch; ++i) {
            ArchiveRow r;
            r.id = nextId++;
            r.domain = "example.org";
            // Each message in the sender's own archive and in the shared one, as MAM does for a chat.
            r.user = i % 2 ? "shared" : "user" + std::to_string(t);
            r.with = "peer@example.org";
            r.stamp = r.id;
            r.xml = "<m/>";
            rows.push_back(std::move(r));
          }
          if (archive.append(rows) != static_cast<std::size_t>(kPerBatch))
            throw std::runtime_error("short append");
        }
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  ArchiveStore archive(db());
  EXPECT_EQ(archive.count("example.org", "shared"), kThreads * kBatches * kPerBatch / 2);
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(archive.count("example.org", "user" + std::to_string(t)), kBatches * kPerBatch / 2);
  // Pages of the shared archive come back in id order whatever order the threads committed in.
  ArchiveQuery q;
  q.domain = "example.org";
  q.user = "shared";
  q.max = 100'000;
  auto page = archive.query(q);
  ASSERT_EQ(page.messages.size(), static_cast<std::size_t>(kThreads * kBatches * kPerBatch / 2));
  for (std::size_t i = 1; i < page.messages.size(); ++i)
    ASSERT_LT(page.messages[i - 1].id, page.messages[i].id);
}

}  // namespace
}  // namespace parley::storage::testing
