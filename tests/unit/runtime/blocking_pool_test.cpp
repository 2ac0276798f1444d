#include "server/runtime/blocking_pool.h"

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace parley::runtime
