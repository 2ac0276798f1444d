// DESIGN: the network threads. One io_context per thread (no strands needed: a session is pinned to one
// context and all its handlers run on that thread). New connections are spread round-robin.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "server/runtime/executor.h"

namespace parley::runtime {

class IoPool {
 public:
  explicit IoPool(std::size_t threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  void start();
  // Lets the loops finish their queued work and exit once idle, then joins the threads.
  void stopAndJoin();
  std::size_t size() const { return contexts_.size(); }
  Executor executor(std::size_t i) const;
  Executor next();  // round-robin

 private:
  struct Ctx;
  std::vector<std::unique_ptr<Ctx>> contexts_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace parley::runtime
