#include "server/hooks/registry.h"

#include "server/log/log.h"

namespace parley::hooks {

namespace {
std::atomic<std::size_t> gNextHookId{0};
std::atomic<std::uint64_t> gFailures{0};
}  // namespace

namespace detail {
std::size_t nextHookId() {
  return gNextHookId.fetch_add(1);
}
}  // namespace detail

void reportHandlerFailure(std::string_view hook, std::string_view what) {
  gFailures.fetch_add(1, std::memory_order_relaxed);
  log::error("hook.handler.failed", "hook={} error=\"{}\"", hook, what);
}

std::uint64_t handlerFailures() {
  return gFailures.load(std::memory_order_relaxed);
}

}  // namespace parley::hooks
