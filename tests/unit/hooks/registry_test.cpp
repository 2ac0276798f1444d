#include "server/hooks/registry.h"

#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace parley::hooks {
namespace {

struct TestHook {
  static constexpr std::string_view kName = "test_hook";
  struct Context {
    std::vector<std::string> calls;
  };
};

TEST(HookRegistryTest, RunsByPriorityThenRegistrationOrder) {
  HookRegistry r;
  auto a = r.add<TestHook>([](auto& c) {
    c.calls.push_back("normal-1");
    return Action::Continue;
  });
  auto b = r.add<TestHook>(
      [](auto& c) {
        c.calls.push_back("first");
        return Action::Continue;
      },
      priority::kFirst);
  auto d = r.add<TestHook>([](auto& c) {
    c.calls.push_back("normal-2");
    return Action::Continue;
  });
  auto e = r.add<TestHook>(
      [](auto& c) {
        c.calls.push_back("last");
        return Action::Continue;
      },
      priority::kLast);
  TestHook::Context ctx;
  EXPECT_EQ(r.run<TestHook>(ctx), Action::Continue);
  EXPECT_EQ(ctx.calls, (std::vector<std::string>{"first", "normal-1", "normal-2", "last"}));
}

TEST(HookRegistryTest, StopEndsTheChain) {
  HookRegistry r;
  auto a = r.add<TestHook>([](auto& c) {
    c.calls.push_back("a");
    return Action::Stop;
  });
  auto b = r.add<TestHook>([](auto& c) {
    c.calls.push_back("b");
    return Action::Continue;
  });
  TestHook::Context ctx;
  EXPECT_EQ(r.run<TestHook>(ctx), Action::Stop);
  EXPECT_EQ(ctx.calls, std::vector<std::string>{"a"});
}

TEST(HookRegistryTest, AThrowingHandlerIsCountedAndTheChainGoesOn) {
  HookRegistry r;
  const auto before = handlerFailures();
  auto a = r.add<TestHook>([](auto&) -> Action { throw std::runtime_error("boom"); });
  auto b = r.add<TestHook>([](auto& c) {
    c.calls.push_back("b");
    return Action::Continue;
  });
  TestHook::Context ctx;
  EXPECT_EQ(r.run<TestHook>(ctx), Action::Continue);
  EXPECT_EQ(ctx.calls, std::vector<std::string>{"b"});
  EXPECT_EQ(handlerFailures(), before + 1);
}

TEST(HookRegistryTest, DroppingTheHandleUnregisters) {
  HookRegistry r;
  {
    auto a = r.add<TestHook>([](auto& c) {
      c.calls.push_back("a");
      return Action::Continue;
    });
    EXPECT_EQ(r.count<TestHook>(), 1u);
  }
  EXPECT_EQ(r.count<TestHook>(), 0u);
  TestHook::Context ctx;
  r.run<TestHook>(ctx);
  EXPECT_TRUE(ctx.calls.empty());
}

}  // namespace
}  // namespace parley::hooks
