// DESIGN: an Executor is a cheap handle to one network thread's event loop. Every session lives on
// exactly one executor and touches its state only there, so session code needs no locks; other threads
// reach a session by post()ing to its executor. Keeping this handle free of Asio types keeps Boost.Asio
// out of most translation units.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace parley::runtime {

class Executor {
 public:
  Executor() = default;
  explicit Executor(boost::asio::io_context* ctx) : ctx_(ctx) {}

  // Runs fn later on this executor's thread. Safe from any thread.
  void post(std::function<void()> fn) const;
  // True when called from this executor's thread.
  bool runningInThisThread() const;
  boost::asio::io_context& context() const { return *ctx_; }
  explicit operator bool() const { return ctx_ != nullptr; }
  // The executor of the calling network thread (empty on other threads).
  static Executor current();
  static void setCurrent(Executor e);
  friend bool operator==(const Executor&, const Executor&) = default;

 private:
  boost::asio::io_context* ctx_ = nullptr;
};

// A one-shot timer on an executor. Destroying or cancelling it prevents the callback from running
// (if it has not started). Create and cancel it on its executor's thread.
class Timer {
 public:
  Timer(Executor exec, std::chrono::steady_clock::duration after, std::function<void()> fn);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void cancel();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};
using TimerPtr = std::unique_ptr<Timer>;

}  // namespace parley::runtime
