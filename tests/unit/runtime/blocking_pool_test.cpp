#include "server/runtime/blocking_pool.h"

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>
#include <pthread.h>

#include "server/runtime/io_pool.h"

namespace parley::runtime {
namespace {

TEST(BlockingPoolTest, JobsWithTheSameKeyRunInOrder) {
  BlockingPool pool(4, 10000);
  std::mutex mu;
  std::vector<int> seen;
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(pool.submit("alice@example.org", [&, i] {
      std::lock_guard lock(mu);
      seen.push_back(i);
    }));
  pool.drainAndJoin();
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], i);
}

TEST(BlockingPoolTest, AFullQueueRefusesWork) {
  BlockingPool pool(1, 2);
  std::promise<void> release;
  auto gate = release.get_future().share();
  ASSERT_TRUE(pool.submit([gate] { gate.wait(); }));
  // The worker may or may not have taken the first job yet: fill until refused.
  int accepted = 0;
  while (pool.submit([] {}) && accepted < 10) ++accepted;
  EXPECT_LE(accepted, 2);
  release.set_value();
  pool.drainAndJoin();
}

TEST(BlockingPoolTest, OffloadReturnsValuesAndErrorsOnTheExecutor) {
  IoPool io(1);
  io.start();
  BlockingPool pool(2, 100);
  std::promise<std::pair<int, bool>> got;
  offload(
      pool, io.executor(0), "k", [] { return 42; },
      [&](Outcome<int> out) {
        got.set_value({*out.value, io.executor(0).runningInThisThread()});
      });
  auto [value, onExecutor] = got.get_future().get();
  EXPECT_EQ(value, 42);
  EXPECT_TRUE(onExecutor);

  std::promise<std::string> failed;
  offload(
      pool, io.executor(0), {}, []() -> int { throw std::runtime_error("disk on fire"); },
      [&](Outcome<int> out) { failed.set_value(out.ok() ? "" : out.error); });
  EXPECT_EQ(failed.get_future().get(), "disk on fire");
  pool.drainAndJoin();
  io.stopAndJoin();
}

std::string currentThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// top -H, perf and gdb tell the threads apart by these names.
TEST(ThreadNamesTest, PoolAndNetworkThreadsAreNamedByRoleAndIndex) {
  BlockingPool pool(2, 100);
  std::promise<std::string> first, second;
  // Jobs without a key go round the workers, from the first.
  ASSERT_TRUE(pool.submit([&] { first.set_value(currentThreadName()); }));
  ASSERT_TRUE(pool.submit([&] { second.set_value(currentThreadName()); }));
  EXPECT_EQ(first.get_future().get(), "parley-pool-0");
  EXPECT_EQ(second.get_future().get(), "parley-pool-1");
  pool.drainAndJoin();

  IoPool io(2);
  io.start();
  std::promise<std::string> net;
  io.executor(1).post([&] { net.set_value(currentThreadName()); });
  EXPECT_EQ(net.get_future().get(), "parley-net-1");
  io.stopAndJoin();
}

}  // namespace
}  // namespace parley::runtime
