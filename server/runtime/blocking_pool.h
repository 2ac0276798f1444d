// DESIGN: the blocking pool runs everything that may block (storage, PBKDF2, file I/O) off the
// network threads. Each worker has its own bounded FIFO queue. Jobs submitted with the same key always
// go to the same worker, so work for one user (roster changes, offline writes) runs in submission
// order without locks. A full queue refuses the job (the caller answers `resource-constraint` or
// `wait`) instead of growing without bound.
// Results come back to the caller's network thread through offload(): work runs on the pool, the
// continuation is posted to the given executor. A job that throws is caught at this boundary and
// reported as an error value.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "server/runtime/executor.h"

namespace parley::runtime {

class BlockingPool {
 public:
  BlockingPool(std::size_t threads, std::size_t maxQueuePerThread);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // False when the worker's queue is full or the pool is stopping.
  bool submit(std::string_view key, std::function<void()> job);
  bool submit(std::function<void()> job);  // any worker
  // Runs `done` (on a worker thread) once every job queued before this call has finished. Not bounded
  // by the queue limit. Used to answer XEP-0198 acks only once the work they cover is durable.
  void barrier(std::function<void()> done);
  // Runs every queued job, then stops the workers.
  void drainAndJoin();
  std::size_t size() const { return workers_.size(); }
  std::size_t queued() const;

 private:
  struct Worker {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
    std::thread thread;
  };
  bool push(Worker& w, std::function<void()> job);
  std::vector<std::unique_ptr<Worker>> workers_;
  std::size_t maxQueue_;
  std::atomic<std::size_t> rr_{0};
};

// The result of blocking work: a value, or the error it failed with.
template <class T>
struct Outcome {
  std::optional<T> value;
  std::string error;  // set when the work threw or could not be queued
  bool ok() const { return value.has_value(); }
};

// Runs `work` on the pool (serialised by `key` when not empty) and then `done(Outcome)` on `exec`.
// `done` always runs exactly once, also when the queue is full (with an error).
template <class Work, class Done>
void offload(BlockingPool& pool, Executor exec, std::string_view key, Work work, Done done) {
  using R = std::invoke_result_t<Work&>;
  using V = std::conditional_t<std::is_void_v<R>, bool, R>;
  auto shared = std::make_shared<std::pair<Work, Done>>(std::move(work), std::move(done));
  auto job = [shared, exec]() {
    Outcome<V> out;
    try {
      if constexpr (std::is_void_v<R>) {
        shared->first();
        out.value = true;
      } else {
        out.value = shared->first();
      }
    } catch (const std::exception& e) {
      out.error = e.what();
    } catch (...) {
      out.error = "unknown error";
    }
    exec.post([shared, out = std::move(out)]() mutable { shared->second(std::move(out)); });
  };
  bool queued = key.empty() ? pool.submit(std::move(job)) : pool.submit(key, std::move(job));
  if (!queued) {
    exec.post([shared]() mutable {
      Outcome<V> out;
      out.error = "blocking pool queue full";
      shared->second(std::move(out));
    });
  }
}

// Start-up only (modules loading their state before any client can connect, never a network thread):
// runs `work` on the pool and waits for its result. Rethrows what `work` threw; throws
// std::runtime_error naming `what` when the job cannot be queued.
template <class Work>
auto runAtStart(BlockingPool& pool, std::string_view what, Work work) -> std::invoke_result_t<Work&> {
  using R = std::invoke_result_t<Work&>;
  std::promise<R> promise;
  auto future = promise.get_future();
  if (!pool.submit([&work, &promise] {
        try {
          if constexpr (std::is_void_v<R>) {
            work();
            promise.set_value();
          } else {
            promise.set_value(work());
          }
        } catch (...) {
          promise.set_exception(std::current_exception());
        }
      }))
    throw std::runtime_error(std::string(what) + ": cannot queue start-up work on the blocking pool");
  return future.get();
}

}  // namespace parley::runtime
