// The benchmark's threads: one io_context per thread (--threads), each running on its own std::thread,
// so a connection and everything it does stay on one thread without locks. The main thread only
// orchestrates: it hands work to a thread with post() and waits for results with runOn() or a Countdown.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/runtime/asio.h"

namespace parley::bench {

class Pool {
 public:
  explicit Pool(unsigned threads);
  ~Pool();  // stop(), then the io_contexts are destroyed (with any handler still pending)
  // Stops every io_context and joins the threads. Afterwards nothing runs concurrently with the caller.
  void stop();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  std::size_t size() const { return contexts_.size(); }
  asio::io_context& io(std::size_t i) { return *contexts_[i % contexts_.size()]; }

  // Runs fn on thread i and waits for its result.
  template <class F>
  auto runOn(std::size_t i, F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    asio::post(io(i), [&task] { task(); });
    return result.get();
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

// Counts events from any thread; the main thread waits until `expected` of them arrived.
class Countdown {
 public:
  explicit Countdown(std::size_t expected = 0) : remaining_(expected) {}
  void reset(std::size_t expected);
  void arrive();
  // True when everything arrived before the timeout.
  bool waitFor(std::chrono::steady_clock::duration timeout);
  std::size_t remaining() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::size_t remaining_;
};

}  // namespace parley::bench
