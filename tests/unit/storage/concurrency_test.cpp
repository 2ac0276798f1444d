// Several pool threads using one Database at once: each gets its own connection and no write is lost.
#include <atomic>
#include <set>
#include <thread>

#include "server/util/thread_role.h"
#include "storage/user_data_store.h"
#include "storage_conformance.h"
#include "xep/offline/offline_store.h"

namespace parley::storage::testing {
namespace {

constexpr int kThreads = 4;

// Runs fn(threadIndex) on kThreads threads marked as blocking-pool threads; rethrows the first failure.
template <class F>
void onThreads(F fn) {
  std::vector<std::exception_ptr> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      util::setThreadRole(util::ThreadRole::Blocking);
      try {
        fn(t);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

TEST_P(StorageConformance, EachThreadHasItsOwnConnection) {
  std::vector<Connection*> seen(kThreads);
  onThreads([&](int t) {
    seen[t] = &db().connection();
    EXPECT_EQ(seen[t], &db().connection());
  });
  std::set<Connection*> distinct(seen.begin(), seen.end());
  distinct.insert(&db().connection());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kThreads) + 1);
}

TEST_P(StorageConformance, ConcurrentWritersLoseNothing) {
  constexpr int kRows = 500;
  onThreads([&](int t) {
    UserDataStore data(db());
    xep::offline::OfflineStore offline(db());
    const std::string user = "user" + std::to_string(t);
    for (int i = 0; i < kRows; ++i) {
      data.set("example.org", "shared", "store", std::to_string(t) + ":" + std::to_string(i),
               std::to_string(i));
      ASSERT_TRUE(offline.push("example.org", user, i, "<m n='" + std::to_string(i) + "'/>", kRows));
      ASSERT_TRUE(offline.push("example.org", "shared", i, "<m/>", kThreads * kRows));
    }
  });
  UserDataStore data(db());
  xep::offline::OfflineStore offline(db());
  EXPECT_EQ(data.list("example.org", "shared", "store").size(), static_cast<std::size_t>(kThreads * kRows));
  EXPECT_EQ(offline.count("example.org", "shared"), kThreads * kRows);
  for (int t = 0; t < kThreads; ++t) {
    auto messages = offline.fetch("example.org", "user" + std::to_string(t), kRows + 1);
    ASSERT_EQ(messages.size(), static_cast<std::size_t>(kRows));
    for (int i = 0; i < kRows; ++i)
      EXPECT_EQ(messages[i].xml, "<m n='" + std::to_string(i) + "'/>");  // per-thread order kept
    EXPECT_EQ(data.get("example.org", "shared", "store", std::to_string(t) + ":499"), "499");
  }
}

TEST_P(StorageConformance, ConcurrentPushesNeverOvershootTheCap) {
  constexpr int kCap = 250;
  std::atomic<int> accepted{0};
  onThreads([&](int) {
    xep::offline::OfflineStore offline(db());
    for (int i = 0; i < 100; ++i) {
      if (offline.push("example.org", "bob", i, "<m/>", kCap)) ++accepted;
    }
  });
  EXPECT_EQ(accepted.load(), kCap);
  EXPECT_EQ(xep::offline::OfflineStore(db()).count("example.org", "bob"), kCap);
}

}  // namespace
}  // namespace parley::storage::testing
