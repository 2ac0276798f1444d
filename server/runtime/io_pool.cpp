#include "server/runtime/io_pool.h"

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "server/runtime/asio.h"
#include "server/util/thread_role.h"

namespace parley::runtime {

struct IoPool::Ctx {
  asio::io_context io{1};  // concurrency hint 1: exactly one thread runs it, so Asio can skip locking
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
};

IoPool::IoPool(std::size_t threads) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<Ctx>());
    contexts_.back()->guard.emplace(contexts_.back()->io.get_executor());
  }
}

IoPool::~IoPool() {
  stopAndJoin();
}

void IoPool::start() {
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([ctx = contexts_[i].get(), i] {
      util::setThreadRole(util::ThreadRole::Network);
      util::nameThread("parley-net-" + std::to_string(i));
      Executor::setCurrent(Executor(&ctx->io));
      ctx->io.run();
    });
  }
}

void IoPool::stopAndJoin() {
  if (threads_.empty()) return;
  for (auto& c : contexts_) c->guard.reset();
  // Loops end by themselves once their work is done; anything still waiting after a grace period
  // (a socket that never closed) is abandoned.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& c : contexts_)
    while (!c->io.stopped() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto& c : contexts_) c->io.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

Executor IoPool::executor(std::size_t i) const {
  return Executor(&contexts_.at(i)->io);
}

Executor IoPool::next() {
  return executor(next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size());
}

}  // namespace parley::runtime
