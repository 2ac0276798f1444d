#include "contrib/bench/pool.h"

namespace parley::bench {

Pool::Pool(unsigned threads) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) {
    // Concurrency hint 1: exactly one thread runs each context (other threads only post to it).
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
  for (auto& io : contexts_) threads_.emplace_back([ctx = io.get()] { ctx->run(); });
}

Pool::~Pool() {
  stop();
}

void Pool::stop() {
  guards_.clear();
  for (auto& io : contexts_) io->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Countdown::reset(std::size_t expected) {
  std::lock_guard lock(mu_);
  remaining_ = expected;
}

void Countdown::arrive() {
  std::lock_guard lock(mu_);
  if (remaining_ > 0 && --remaining_ == 0) cv_.notify_all();
}

bool Countdown::waitFor(std::chrono::steady_clock::duration timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return remaining_ == 0; });
}

std::size_t Countdown::remaining() const {
  std::lock_guard lock(mu_);
  return remaining_;
}

}  // namespace parley::bench
