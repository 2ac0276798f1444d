#include "server/c2s/login_limiter.h"

#include <gtest/gtest.h>

#include "server/net/listener.h"

namespace parley::c2s {
namespace {

using namespace std::chrono_literals;
using Verdict = LoginLimiter::Verdict;

core::AuthConfig config() {
  core::AuthConfig c;
  c.failuresPerAccountAndIp = 3;
  c.failuresPerIp = 5;
  c.ipBlockTime = 30;
  c.failuresPerAccount = 4;
  c.accountBackoff = 2;
  c.accountBackoffMax = 16;
  c.knownAddresses = 2;
  c.failureWindow = 60;
  c.failureDelayMs = 100;
  return c;
}

// One whole failed attempt: reserved, then failed. False if the limiter refused it.
bool failOnce(LoginLimiter& l, std::string_view ip, std::string_view account,
              LoginLimiter::Clock::time_point now) {
  if (l.reserve(ip, account, now) != Verdict::Allowed) return false;
  l.failed(ip, account, true, now);
  return true;
}

TEST(LoginLimiterTest, BlocksOnlyTheAddressAccountPair) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(failOnce(l, "10.0.0.1", "alice@x", now));
  EXPECT_EQ(l.reserve("10.0.0.1", "alice@x", now), Verdict::PairLimited);
  EXPECT_EQ(l.reserve("10.0.0.2", "alice@x", now), Verdict::Allowed) << "the real user elsewhere";
  EXPECT_EQ(l.reserve("10.0.0.1", "bob@x", now), Verdict::Allowed);
}

TEST(LoginLimiterTest, AnAddressTryingManyAccountsIsBlockedForTheBlockTime) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(failOnce(l, "10.0.0.1", "user" + std::to_string(i) + "@x", now));
  EXPECT_EQ(l.reserve("10.0.0.1", "fresh@x", now), Verdict::AddressBlocked);
  EXPECT_EQ(l.reserve("10.0.0.9", "fresh@x", now), Verdict::Allowed);
  // Past the failure window but inside the block time: still refused; after it, allowed again.
  EXPECT_EQ(l.reserve("10.0.0.1", "fresh@x", now + 29s), Verdict::AddressBlocked);
  EXPECT_EQ(l.reserve("10.0.0.1", "fresh@x", now + 31s), Verdict::Allowed);
}

TEST(LoginLimiterTest, ConcurrentReservationsCannotRacePastTheAddressLimit) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  // 100 attempts arrive before any is settled: only failures_per_ip are let through.
  int allowed = 0;
  for (int i = 0; i < 100; ++i)
    if (l.reserve("10.0.0.1", "user" + std::to_string(i) + "@x", now) == Verdict::Allowed) ++allowed;
  EXPECT_EQ(allowed, 5);
}

TEST(LoginLimiterTest, SuccessOrReleaseFreesTheReservation) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(l.reserve("10.0.0.1", "u" + std::to_string(i) + "@x", now), Verdict::Allowed);
  EXPECT_EQ(l.reserve("10.0.0.1", "other@x", now), Verdict::AddressBlocked);
  l.succeeded("10.0.0.1", "u0@x", now);
  l.released("10.0.0.1", "u1@x", now);
  EXPECT_EQ(l.reserve("10.0.0.1", "other@x", now), Verdict::Allowed);
  EXPECT_EQ(l.reserve("10.0.0.1", "other2@x", now), Verdict::Allowed);
  EXPECT_EQ(l.reserve("10.0.0.1", "other3@x", now), Verdict::AddressBlocked);
}

TEST(LoginLimiterTest, WindowExpiresAndSuccessClearsThePair) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) failOnce(l, "10.0.0.1", "alice@x", now);
  EXPECT_EQ(l.reserve("10.0.0.1", "alice@x", now + 61s), Verdict::Allowed);
  failOnce(l, "10.0.0.3", "carol@x", now);
  failOnce(l, "10.0.0.3", "carol@x", now);
  ASSERT_EQ(l.reserve("10.0.0.3", "carol@x", now), Verdict::Allowed);
  l.succeeded("10.0.0.3", "carol@x", now);
  failOnce(l, "10.0.0.3", "carol@x", now);
  EXPECT_EQ(l.reserve("10.0.0.3", "carol@x", now), Verdict::Allowed);
}

TEST(LoginLimiterTest, AccountAttackedFromManyAddressesIsProtectedWithGrowingBackoff) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  // The owner logged in from 192.0.2.1 before.
  ASSERT_EQ(l.reserve("192.0.2.1", "alice@x", now), Verdict::Allowed);
  l.succeeded("192.0.2.1", "alice@x", now);
  // Four failures from four addresses: the account is protected.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(failOnce(l, "10.0.0." + std::to_string(i), "alice@x", now));
  EXPECT_EQ(l.reserve("10.0.1.1", "alice@x", now), Verdict::AccountProtected);
  // The owner, from the address it used before, is not affected.
  EXPECT_EQ(l.reserve("192.0.2.1", "alice@x", now), Verdict::Allowed);
  l.succeeded("192.0.2.1", "alice@x", now);
  // Unknown addresses get one attempt per backoff, which doubles with each failure: 2, 4, 8, 16, 16 s.
  auto t = now;
  for (int backoff : {2, 4, 8, 16, 16}) {
    const std::string ip = "10.0.2." + std::to_string(backoff);  // a new address each time
    EXPECT_EQ(l.reserve(ip, "alice@x", t + std::chrono::seconds(backoff) - 1s), Verdict::AccountProtected);
    t += std::chrono::seconds(backoff);
    ASSERT_EQ(l.reserve(ip, "alice@x", t), Verdict::Allowed) << "backoff " << backoff;
    // Only one attempt per slot, also while it is in flight.
    EXPECT_EQ(l.reserve("10.0.9.9", "alice@x", t), Verdict::AccountProtected);
    l.failed(ip, "alice@x", true, t);
  }
  // A slot's attempt from the owner's new network succeeds: that address is known from then on.
  t += 16s;
  ASSERT_EQ(l.reserve("198.51.100.7", "alice@x", t), Verdict::Allowed);
  l.succeeded("198.51.100.7", "alice@x", t);
  EXPECT_TRUE(l.knows("198.51.100.7", "alice@x"));
  EXPECT_EQ(l.reserve("198.51.100.7", "alice@x", t), Verdict::Allowed);
  // Other accounts are not affected.
  EXPECT_EQ(l.reserve("10.0.3.1", "bob@x", t), Verdict::Allowed);
  // After a quiet failure window the protection ends.
  EXPECT_EQ(l.reserve("10.0.4.1", "alice@x", t + 61s), Verdict::Allowed);
}

TEST(LoginLimiterTest, ABurstFromManyAddressesCannotRacePastTheAccountThreshold) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  int allowed = 0;
  for (int i = 0; i < 100; ++i)
    if (l.reserve("10.1.0." + std::to_string(i), "alice@x", now) == Verdict::Allowed) ++allowed;
  EXPECT_EQ(allowed, 4);
}

TEST(LoginLimiterTest, AKnownAddressLogsInDespiteAnAddressBlockButKeepsItsPairLimit) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  ASSERT_EQ(l.reserve("10.0.0.1", "alice@x", now), Verdict::Allowed);
  l.succeeded("10.0.0.1", "alice@x", now);
  // Someone behind the same address tries five other accounts: the address is blocked…
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(failOnce(l, "10.0.0.1", "user" + std::to_string(i) + "@x", now));
  EXPECT_EQ(l.reserve("10.0.0.1", "bob@x", now), Verdict::AddressBlocked);
  // …but alice, who logs in from there, still may, up to her own pair limit.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(failOnce(l, "10.0.0.1", "alice@x", now));
  EXPECT_EQ(l.reserve("10.0.0.1", "alice@x", now), Verdict::PairLimited);
}

TEST(LoginLimiterTest, KnownAddressesPerAccountAreBounded) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  for (const char* ip : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
    ASSERT_EQ(l.reserve(ip, "alice@x", now), Verdict::Allowed);
    l.succeeded(ip, "alice@x", now);
  }
  EXPECT_FALSE(l.knows("10.0.0.1", "alice@x")) << "the oldest of more than known_addresses is forgotten";
  EXPECT_TRUE(l.knows("10.0.0.2", "alice@x"));
  EXPECT_TRUE(l.knows("10.0.0.3", "alice@x"));
}

TEST(LoginLimiterTest, AnIpv6HostIsCountedByItsSlash64) {
  EXPECT_EQ(net::addressKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(net::addressKey("192.0.2.1"), "192.0.2.1");
  // An IPv4-mapped address is its IPv4 client, not the /64 "::/64" every IPv4 client would share.
  EXPECT_EQ(net::addressKey("::ffff:192.0.2.1"), "192.0.2.1");
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  // Five failures from five addresses of one /64 block the whole /64, not a neighbour's.
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(failOnce(l, "2001:db8:1:2::" + std::to_string(i + 1), "u" + std::to_string(i) + "@x", now));
  EXPECT_EQ(l.reserve("2001:db8:1:2:ffff::1", "fresh@x", now), Verdict::AddressBlocked);
  EXPECT_EQ(l.reserve("2001:db8:1:3::1", "fresh@x", now), Verdict::Allowed);
}

// The connection limits count by the same key (issue 9 §4: per-IP limits on unauthenticated
// connections hold also against an IPv6 host that uses many addresses of its /64).
TEST(AddressLimiterTest, UnauthenticatedConnectionsOfOneIpv6Slash64CountTogether) {
  net::AddressLimiter limiter(100, 2);
  EXPECT_TRUE(limiter.acquire("2001:db8:1:2::1"));
  EXPECT_TRUE(limiter.acquire("2001:db8:1:2::2"));
  EXPECT_FALSE(limiter.acquire("2001:db8:1:2:aaaa::3")) << "a third unauthenticated one from the /64";
  EXPECT_TRUE(limiter.acquire("2001:db8:1:3::1")) << "the next /64 is someone else";
  limiter.authenticated("2001:db8:1:2::1");  // one of them logs in: room for another
  EXPECT_TRUE(limiter.acquire("2001:db8:1:2::4"));
  limiter.release("2001:db8:1:2::2", false);
  EXPECT_TRUE(limiter.acquire("::ffff:192.0.2.1"));
  EXPECT_TRUE(limiter.acquire("192.0.2.1"));
  EXPECT_FALSE(limiter.acquire("::ffff:192.0.2.1")) << "a mapped address is its IPv4 client";
}

TEST(LoginLimiterTest, DelayDoublesAndIsCapped) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  l.failed("10.0.0.1", "alice@x", false, now);
  EXPECT_EQ(l.delayFor("10.0.0.1", "alice@x", now).count(), 100);
  l.failed("10.0.0.1", "alice@x", false, now);
  EXPECT_EQ(l.delayFor("10.0.0.1", "alice@x", now).count(), 200);
  for (int i = 0; i < 20; ++i) l.failed("10.0.0.1", "alice@x", false, now);
  EXPECT_LE(l.delayFor("10.0.0.1", "alice@x", now).count(), 8000);
}

TEST(LoginLimiterTest, MemoryIsBounded) {
  LoginLimiter l(config(), 100);
  auto now = LoginLimiter::Clock::now();
  for (int i = 0; i < 1000; ++i)
    l.failed("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250),
             "a" + std::to_string(i) + "@x", false, now);
  // Old entries were evicted: no crash, and a fresh address is not blocked.
  EXPECT_EQ(l.reserve("192.168.0.1", "b@x", now), Verdict::Allowed);
}

}  // namespace
}  // namespace parley::c2s
