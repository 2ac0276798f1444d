#include "server/c2s/login_limiter.h"

#include <algorithm>
#include <type_traits>

#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/net/listener.h"

namespace parley::c2s {

namespace {
std::string pairKeyOf(const std::string& addr, std::string_view account) {
  std::string k(addr);
  k += '|';
  k += account;
  return k;
}
}  // namespace

LoginLimiter::LoginLimiter(const core::AuthConfig& config, std::size_t maxEntries)
    : config_(config), maxEntries_(std::max<std::size_t>(maxEntries, 10)) {}

void LoginLimiter::expire(Tally& t, Clock::time_point now) const {
  const auto window = std::chrono::seconds(config_.failureWindow);
  if (t.blockedUntil != Clock::time_point{}) {
    if (now < t.blockedUntil) return;  // blocked: the failures stay until the block ends
    t.blockedUntil = {};
    t.failures = 0;
    t.since = now;
  }
  if (t.protectedAccount) {
    // Protection lasts while the account keeps being tried: it ends after a quiet window.
    if (now - t.touched > window && t.pending == 0) t = Tally{0, 0, now, now};
    return;
  }
  if (now - t.since > window) {
    t.failures = 0;
    t.since = now;
  }
}

LoginLimiter::Tally* LoginLimiter::find(Table& table, const std::string& key, Clock::time_point now) {
  auto it = table.find(key);
  if (it == table.end()) return nullptr;
  expire(it->second, now);
  return &it->second;
}

LoginLimiter::Tally& LoginLimiter::tally(Table& table, const std::string& key, Clock::time_point now) {
  if (Tally* t = find(table, key, now)) return *t;
  if (table.size() >= maxEntries_) evict(table, now);
  return table.emplace(key, Tally{0, 0, now, now}).first->second;
}

template <class Map>
void LoginLimiter::evict(Map& table, Clock::time_point now) {
  const auto window = std::chrono::seconds(config_.failureWindow);
  std::erase_if(table, [&](const auto& kv) {
    if constexpr (std::is_same_v<Map, Table>) {
      const Tally& t = kv.second;
      return t.pending == 0 && now >= t.blockedUntil && now - t.touched > window;
    } else {
      return false;  // known addresses do not expire with the failure window
    }
  });
  if (table.size() < maxEntries_) return;
  // Still full: drop the least recently touched tenth at once (amortised O(1) per insertion, where one
  // eviction per insertion would scan the table every time).
  std::vector<Clock::time_point> touched;
  touched.reserve(table.size());
  for (const auto& kv : table) touched.push_back(kv.second.touched);
  const auto cut = touched.begin() + static_cast<std::ptrdiff_t>(touched.size() / 10);
  std::nth_element(touched.begin(), cut, touched.end());
  const Clock::time_point oldest = *cut;
  std::erase_if(table, [&](const auto& kv) { return kv.second.touched <= oldest; });
}

bool LoginLimiter::isKnown(const std::string& account, const std::string& addr) const {
  auto it = known_.find(account);
  if (it == known_.end()) return false;
  const auto& a = it->second.addresses;
  return std::find(a.begin(), a.end(), addr) != a.end();
}

bool LoginLimiter::knows(std::string_view ip, std::string_view account) {
  std::lock_guard lock(mu_);
  return isKnown(std::string(account), net::addressKey(ip));
}

void LoginLimiter::verifying() {
  if (counters_.verifications) counters_.verifications->inc();
}

namespace {
LoginLimiter::Verdict counted(LoginLimiter::Verdict v, metrics::Counter* c) {
  if (c) c->inc();
  return v;
}
}  // namespace

LoginLimiter::Verdict LoginLimiter::reserve(std::string_view ip, std::string_view account,
                                            Clock::time_point now) {
  const std::string addr = net::addressKey(ip);
  const std::string acc(account);
  const std::string pair = pairKeyOf(addr, account);
  std::lock_guard lock(mu_);
  const bool known = isKnown(acc, addr);
  Tally& a = tally(addresses_, addr, now);
  if (!known && (now < a.blockedUntil || a.total() >= config_.failuresPerIp))
    return counted(Verdict::AddressBlocked, counters_.refusedAddress);
  Tally& p = tally(pairs_, pair, now);
  if (p.total() >= config_.failuresPerAccountAndIp)
    return counted(Verdict::PairLimited, counters_.refusedPair);
  Tally& t = tally(accounts_, acc, now);
  t.touched = now;  // also a refused attempt keeps a protected account protected
  // Reservations in flight count: a burst from many addresses cannot get past the threshold.
  if (!t.protectedAccount && t.total() >= config_.failuresPerAccount) protect(t, acc, now);
  if (t.protectedAccount && !known) {
    if (now < t.nextUnknown) return counted(Verdict::AccountProtected, counters_.refusedAccount);
    t.nextUnknown = now + t.backoff;  // this attempt holds the slot; a failure pushes it further
    ++t.slots;
  }
  ++a.pending;
  ++p.pending;
  ++t.pending;
  a.touched = p.touched = now;
  return Verdict::Allowed;
}

void LoginLimiter::protect(Tally& t, const std::string& account, Clock::time_point now) {
  t.protectedAccount = true;
  t.backoff = std::chrono::seconds(config_.accountBackoff);
  t.nextUnknown = now + t.backoff;
  log::warn("auth.account_protected", "account={} failures={} backoff_s={}", account, t.total(),
            t.backoff.count());
}

LoginLimiter::Tally* LoginLimiter::settle(const std::string& addr, const std::string& pair,
                                          const std::string& account, Clock::time_point now) {
  Tally* t = nullptr;
  for (auto [table, key] :
       {std::pair{&addresses_, &addr}, std::pair{&pairs_, &pair}, std::pair{&accounts_, &account}}) {
    t = find(*table, *key, now);
    if (!t) continue;  // evicted meanwhile (only past maxEntries)
    if (t->pending > 0) --t->pending;
    t->touched = now;
  }
  return t;  // the account's
}

void LoginLimiter::failed(std::string_view ip, std::string_view account, bool reserved,
                          Clock::time_point now) {
  if (counters_.failures) counters_.failures->inc();
  const std::string addr = net::addressKey(ip);
  const std::string acc(account);
  const std::string pair = pairKeyOf(addr, account);
  std::lock_guard lock(mu_);
  bool slot = false;  // the attempt came through a backoff slot of a protected account
  if (reserved) {
    Tally* t = settle(addr, pair, acc, now);
    if (t && t->slots > 0 && !isKnown(acc, addr)) {
      --t->slots;
      slot = true;
    }
  }
  Tally& a = tally(addresses_, addr, now);
  ++a.failures;
  a.touched = now;
  if (a.failures >= config_.failuresPerIp && now >= a.blockedUntil) {
    a.blockedUntil = now + std::chrono::seconds(config_.ipBlockTime);
    log::warn("auth.address_blocked", "peer={} failures={} block_s={}", addr, a.failures,
              config_.ipBlockTime);
  }
  if (account.empty()) return;
  Tally& p = tally(pairs_, pair, now);
  ++p.failures;
  p.touched = now;
  Tally& t = tally(accounts_, acc, now);
  ++t.failures;
  t.touched = now;
  if (t.protectedAccount) {
    if (slot) {
      // A backoff slot's attempt failed: the next one from an unknown address waits twice as long. (The
      // attempts reserved before the protection started fail without doubling it.)
      t.backoff = std::min(t.backoff * 2, std::chrono::seconds(config_.accountBackoffMax));
      t.nextUnknown = now + t.backoff;
      log::info("auth.account_backoff", "account={} backoff_s={}", acc, t.backoff.count());
    }
  } else if (t.total() >= config_.failuresPerAccount) {
    protect(t, acc, now);
  }
}

void LoginLimiter::released(std::string_view ip, std::string_view account, Clock::time_point now) {
  const std::string addr = net::addressKey(ip);
  const std::string acc(account);
  const std::string pair = pairKeyOf(addr, account);
  std::lock_guard lock(mu_);
  if (Tally* t = settle(addr, pair, acc, now); t && t->slots > 0 && !isKnown(acc, addr)) --t->slots;
}

void LoginLimiter::succeeded(std::string_view ip, std::string_view account, Clock::time_point now) {
  if (counters_.successes) counters_.successes->inc();
  const std::string addr = net::addressKey(ip);
  const std::string acc(account);
  const std::string pair = pairKeyOf(addr, account);
  std::lock_guard lock(mu_);
  if (Tally* t = settle(addr, pair, acc, now); t && t->slots > 0 && !isKnown(acc, addr)) --t->slots;
  pairs_.erase(pair);
  if (config_.knownAddresses <= 0) return;
  auto it = known_.find(acc);
  if (it == known_.end()) {
    if (known_.size() >= maxEntries_) evict(known_, now);
    it = known_.emplace(acc, Known{}).first;
  }
  auto& list = it->second.addresses;
  list.erase(std::remove(list.begin(), list.end(), addr), list.end());
  list.insert(list.begin(), addr);  // most recent first; the oldest falls off
  if (list.size() > static_cast<std::size_t>(config_.knownAddresses)) list.resize(config_.knownAddresses);
  it->second.touched = now;
}

std::chrono::milliseconds LoginLimiter::delayFor(std::string_view ip, std::string_view account,
                                                 Clock::time_point now) {
  const std::string pair = pairKeyOf(net::addressKey(ip), account);
  std::lock_guard lock(mu_);
  const Tally* p = find(pairs_, pair, now);
  const int n = std::max(p ? p->failures : 0, 1);
  const long long ms = static_cast<long long>(config_.failureDelayMs) << std::min(n - 1, 10);
  return std::chrono::milliseconds(std::min(ms, 8000LL));
}

}  // namespace parley::c2s
