#include "server/runtime/blocking_pool.h"

#include <atomic>
#include <chrono>
#include <string>

#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/runtime/pool_metrics.h"
#include "server/util/thread_role.h"

namespace parley::runtime {

namespace {
std::atomic<metrics::Histogram*> gJobHistogram{nullptr};
}

void setBlockingJobHistogram(metrics::Histogram* histogram) {
  gJobHistogram.store(histogram);
}

BlockingPool::BlockingPool(std::size_t threads, std::size_t maxQueuePerThread)
    : maxQueue_(maxQueuePerThread) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Worker* w = workers_[i].get();
    w->thread = std::thread([w, i] {
      util::setThreadRole(util::ThreadRole::Blocking);
      util::nameThread("parley-pool-" + std::to_string(i));
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock lock(w->mu);
          w->cv.wait(lock, [w] { return w->stopping || !w->queue.empty(); });
          if (w->queue.empty()) return;  // stopping and drained
          job = std::move(w->queue.front());
          w->queue.pop_front();
        }
        metrics::Histogram* hist = gJobHistogram.load(std::memory_order_relaxed);
        const auto started =
            hist ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        try {
          job();
          if (hist)
            hist->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        } catch (const std::exception& e) {
          log::error("pool.job.failed", "error=\"{}\"", e.what());
        } catch (...) {
          log::error("pool.job.failed", "error=unknown");
        }
      }
    });
  }
}

BlockingPool::~BlockingPool() {
  drainAndJoin();
}

bool BlockingPool::push(Worker& w, std::function<void()> job) {
  {
    std::lock_guard lock(w.mu);
    if (w.stopping || w.queue.size() >= maxQueue_) return false;
    w.queue.push_back(std::move(job));
  }
  w.cv.notify_one();
  return true;
}

bool BlockingPool::submit(std::string_view key, std::function<void()> job) {
  std::size_t i = std::hash<std::string_view>{}(key) % workers_.size();
  return push(*workers_[i], std::move(job));
}

bool BlockingPool::submit(std::function<void()> job) {
  std::size_t i = rr_.fetch_add(1, std::memory_order_relaxed) % workers_.size();
  return push(*workers_[i], std::move(job));
}

void BlockingPool::barrier(std::function<void()> done) {
  struct Pending {
    std::atomic<std::size_t> left;
    std::function<void()> done;
  };
  auto p = std::make_shared<Pending>();
  p->left = workers_.size();
  p->done = std::move(done);
  auto arrive = [p] {
    if (p->left.fetch_sub(1) == 1) p->done();
  };
  for (auto& w : workers_) {
    bool queued = false;
    {
      std::lock_guard lock(w->mu);
      if (!w->stopping) {
        w->queue.push_back(arrive);
        queued = true;
      }
    }
    if (queued)
      w->cv.notify_one();
    else
      arrive();  // a stopping worker drains its queue anyway
  }
}

void BlockingPool::drainAndJoin() {
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      w->stopping = true;
    }
    w->cv.notify_all();
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

std::size_t BlockingPool::queued() const {
  std::size_t n = 0;
  for (auto& w : workers_) {
    std::lock_guard lock(w->mu);
    n += w->queue.size();
  }
  return n;
}

}  // namespace parley::runtime
