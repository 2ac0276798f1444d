#include "server/c2s/login_limiter.h"

#include <gtest/gtest.h>

namespace parley::c2s {
namespace {

core::AuthConfig config() {
  core::AuthConfig c;
  c.failuresPerAccountAndIp = 3;
  c.failuresPerIp = 5;
  c.failureWindow = 60;
  c.failureDelayMs = 100;
  return c;
}

TEST(LoginLimiterTest, BlocksOnlyTheAddressAccountPair) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) l.failed("10.0.0.1", "alice@x", now);
  EXPECT_FALSE(l.mayAttempt("10.0.0.1", "alice@x", now));
  EXPECT_TRUE(l.mayAttempt("10.0.0.2", "alice@x", now)) << "the real user elsewhere is not locked out";
  EXPECT_TRUE(l.mayAttempt("10.0.0.1", "bob@x", now));
}

TEST(LoginLimiterTest, BlocksAnAddressTryingManyAccounts) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  for (int i = 0; i < 5; ++i) l.failed("10.0.0.1", "user" + std::to_string(i) + "@x", now);
  EXPECT_FALSE(l.mayAttempt("10.0.0.1", "fresh@x", now));
  EXPECT_TRUE(l.mayAttempt("10.0.0.9", "fresh@x", now));
}

TEST(LoginLimiterTest, WindowExpiresAndSuccessClearsThePair) {
  LoginLimiter l(config());
  auto now = LoginLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) l.failed("10.0.0.1", "alice@x", now);
  EXPECT_TRUE(l.mayAttempt("10.0.0.1", "alice@x", now + std::chrono::seconds(61)));
  l.failed("10.0.0.3", "carol@x", now);
  l.failed("10.0.0.3", "carol@x", now);
  l.succeeded("10.0.0.3", "carol@x");
  l.failed("10.0.0.3", "carol@x", now);
  EXPECT_TRUE(l.mayAttempt("10.0.0.3", "carol@x", now));
}

TEST(LoginLimiterTest, DelayDoublesAndIsCapped) {
  LoginLimiter l(config());
  l.failed("10.0.0.1", "alice@x");
  EXPECT_EQ(l.delayFor("10.0.0.1", "alice@x").count(), 100);
  l.failed("10.0.0.1", "alice@x");
  EXPECT_EQ(l.delayFor("10.0.0.1", "alice@x").count(), 200);
  for (int i = 0; i < 20; ++i) l.failed("10.0.0.1", "alice@x");
  EXPECT_LE(l.delayFor("10.0.0.1", "alice@x").count(), 8000);
}

TEST(LoginLimiterTest, MemoryIsBounded) {
  LoginLimiter l(config(), 100);
  for (int i = 0; i < 1000; ++i)
    l.failed("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250), "a@x");
  // Old entries were evicted: no crash, and a fresh address is not blocked.
  EXPECT_TRUE(l.mayAttempt("192.168.0.1", "a@x"));
}

}  // namespace
}  // namespace parley::c2s
