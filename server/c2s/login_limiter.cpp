#include "server/c2s/login_limiter.h"

#include <algorithm>

namespace parley::c2s {

namespace {
std::string pairKey(std::string_view ip, std::string_view account) {
  std::string k(ip);
  k += '|';
  k += account;
  return k;
}
}  // namespace

LoginLimiter::LoginLimiter(const core::AuthConfig& config, std::size_t maxEntries)
    : config_(config), maxEntries_(maxEntries) {}

int LoginLimiter::count(const std::string& key, Clock::time_point now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  if (now - it->second.first > std::chrono::seconds(config_.failureWindow)) {
    entries_.erase(it);
    return 0;
  }
  return it->second.failures;
}

void LoginLimiter::bump(const std::string& key, Clock::time_point now) {
  if (count(key, now) == 0) {
    if (entries_.size() >= maxEntries_) prune(now);
    entries_[key] = Entry{1, now};
  } else {
    ++entries_[key].failures;
  }
}

void LoginLimiter::prune(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) {
    return now - kv.second.first > std::chrono::seconds(config_.failureWindow);
  });
  while (entries_.size() >= maxEntries_) {
    auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.first < b.second.first;
    });
    entries_.erase(oldest);
  }
}

bool LoginLimiter::mayAttempt(std::string_view ip, std::string_view account, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (count(std::string(ip), now) >= config_.failuresPerIp) return false;
  return count(pairKey(ip, account), now) < config_.failuresPerAccountAndIp;
}

void LoginLimiter::failed(std::string_view ip, std::string_view account, Clock::time_point now) {
  if (failures_) failures_->inc();
  std::lock_guard lock(mu_);
  bump(std::string(ip), now);
  if (!account.empty()) bump(pairKey(ip, account), now);
}

void LoginLimiter::succeeded(std::string_view ip, std::string_view account) {
  if (successes_) successes_->inc();
  std::lock_guard lock(mu_);
  entries_.erase(pairKey(ip, account));
}

std::chrono::milliseconds LoginLimiter::delayFor(std::string_view ip, std::string_view account) {
  std::lock_guard lock(mu_);
  int n = std::max(count(pairKey(ip, account), Clock::now()), 1);
  long long ms = static_cast<long long>(config_.failureDelayMs) << std::min(n - 1, 10);
  return std::chrono::milliseconds(std::min(ms, 8000LL));
}

}  // namespace parley::c2s
