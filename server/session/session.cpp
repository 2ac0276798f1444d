#include "server/session/session.h"

#include <atomic>

namespace parley::session {

std::uint64_t nextSessionId() {
  static std::atomic<std::uint64_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace parley::session
