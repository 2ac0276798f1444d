// DESIGN: failed-login limits. Failures are counted per (address, account) and per address within a
// window. Too many for one account from one address blocks only that pair, so an attacker elsewhere
// cannot lock a real user out; too many from one address blocks that address. Each failure is also
// answered more slowly (doubling delay), which costs a guesser time and the server nothing (a timer).
// Thread-safe; memory is bounded (old entries are pruned; past a cap the oldest go first).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/core/config.h"
#include "server/metrics/metrics.h"

namespace parley::c2s {

class LoginLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LoginLimiter(const core::AuthConfig& config, std::size_t maxEntries = 100000);

  bool mayAttempt(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  void failed(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  void succeeded(std::string_view ip, std::string_view account);
  std::chrono::milliseconds delayFor(std::string_view ip, std::string_view account);
  // Authentication outcomes for /metrics (parley_auth_total{result}); counted from then on.
  void countInto(metrics::Counter* successes, metrics::Counter* failures) {
    successes_ = successes;
    failures_ = failures;
  }

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point first;
  };
  int count(const std::string& key, Clock::time_point now);
  void bump(const std::string& key, Clock::time_point now);
  void prune(Clock::time_point now);

  core::AuthConfig config_;
  std::size_t maxEntries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  metrics::Counter* successes_ = nullptr;
  metrics::Counter* failures_ = nullptr;
};

}  // namespace parley::c2s
