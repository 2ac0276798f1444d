// DESIGN: failed-login limits (issue 9 §5). Three tallies of failures within a window:
//  - per (address, account): too many blocks only that pair, so nobody elsewhere is locked out;
//  - per address (any account): reaching failures_per_ip refuses the address for ip_block_time;
//  - per account (any address): reaching failures_per_account *protects* the account — addresses it
//    never logged in from get <temporary-auth-failure/> except one attempt per backoff period, and the
//    backoff doubles with every failure from such an address (account_backoff .. account_backoff_max).
// Addresses an account logged in from successfully (at most known_addresses per account, in memory)
// are exempt from the account protection and from an address block, though not from their own
// (address, account) limit: the owner, at home or behind the same NAT as an attacker, still logs in.
// Addresses are counted by addressKey() (an IPv6 host owns its whole /64).
// Every attempt is *reserved* before any credential is touched and counts as a failure until it is
// settled, so concurrent attempts (100 connections at once) cannot race past a limit: the number of
// password verifications an address gets is at most its limit. Each failure is also answered after a
// delay doubling per pair, which costs a guesser time and the server nothing (a timer).
// Thread-safe (one mutex; every call is a few map look-ups). Memory is bounded: expired entries go
// first, then the least recently touched, past `maxEntries` per table.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/core/config.h"

namespace parley::metrics {
class Counter;
}

namespace parley::c2s {

class LoginLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Verdict {
    Allowed,           // reserved: settle it with failed(…, true), released() or succeeded()
    PairLimited,       // too many failures for this account from this address
    AddressBlocked,    // too many failures from this address
    AccountProtected,  // the account is under attack and this address is not one it used before
  };
  explicit LoginLimiter(const core::AuthConfig& config, std::size_t maxEntries = 100000);

  // Asked before a credential is looked up or checked. Allowed reserves one attempt.
  Verdict reserve(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  // A failed login. `reserved`: it settles reserve()'s reservation (wrong password, or an exchange
  // given up after the credential was looked up); otherwise it is a failure found before any
  // reservation (an unusable user name) and counts for the address (and the account, if named).
  void failed(std::string_view ip, std::string_view account, bool reserved,
              Clock::time_point now = Clock::now());
  // The reservation ended without a verdict on the credentials (storage error, disabled account).
  void released(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  // The reservation succeeded: it is not a failure, the pair's failures are forgotten and the address
  // becomes one the account is known to log in from.
  void succeeded(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  // How long to wait before answering the last failure of this pair (doubling, capped at 8 s).
  std::chrono::milliseconds delayFor(std::string_view ip, std::string_view account,
                                     Clock::time_point now = Clock::now());
  bool knows(std::string_view ip, std::string_view account);  // for tests and logs
  // A password or SCRAM proof is about to be checked (reserved or not): counted for /metrics.
  void verifying();

  // For /metrics (Server::start registers them); counted from then on.
  struct Counters {
    metrics::Counter* successes = nullptr;      // parley_auth_total{result="success"}
    metrics::Counter* failures = nullptr;       // parley_auth_total{result="failure"}
    metrics::Counter* verifications = nullptr;  // parley_auth_verifications_total
    metrics::Counter* refusedPair = nullptr;    // parley_auth_refused_total{limit=…}
    metrics::Counter* refusedAddress = nullptr;
    metrics::Counter* refusedAccount = nullptr;
  };
  void countInto(Counters counters) { counters_ = counters; }

 private:
  struct Tally {
    int failures = 0;
    int pending = 0;                   // reservations not settled yet; they count as failures meanwhile
    Clock::time_point since;           // the window started
    Clock::time_point touched;         // last change (eviction order)
    Clock::time_point blockedUntil{};  // addresses: refused until then
    // Accounts: once protected, the next attempt from an unknown address is allowed at nextUnknown.
    bool protectedAccount = false;
    Clock::time_point nextUnknown{};
    std::chrono::seconds backoff{0};
    int slots = 0;  // attempts from unknown addresses let through a backoff slot, not settled yet
    int total() const { return failures + pending; }
  };
  struct Known {
    std::vector<std::string> addresses;  // most recent first, at most config_.knownAddresses
    Clock::time_point touched;
  };
  using Table = std::unordered_map<std::string, Tally>;

  Tally& tally(Table& table, const std::string& key, Clock::time_point now);
  Tally* find(Table& table, const std::string& key, Clock::time_point now);
  void expire(Tally& t, Clock::time_point now) const;
  template <class Map>
  void evict(Map& table, Clock::time_point now);
  bool isKnown(const std::string& account, const std::string& addr) const;
  // Ends one reservation on the three tallies (whatever its outcome).
  // Returns the account's tally (nullptr if it was evicted meanwhile).
  Tally* settle(const std::string& addr, const std::string& pairKey, const std::string& account,
                Clock::time_point now);
  void protect(Tally& t, const std::string& account, Clock::time_point now);

  core::AuthConfig config_;
  std::size_t maxEntries_;
  std::mutex mu_;
  Table addresses_, pairs_, accounts_;
  std::unordered_map<std::string, Known> known_;
  Counters counters_;
};

}  // namespace parley::c2s
