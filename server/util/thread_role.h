// Which kind of thread the caller is on. Network threads must never block; blocking code asserts
// (in debug builds) that it is not running on one.
#pragma once

#include <string_view>

namespace parley::util {

enum class ThreadRole { Other, Network, Blocking };

void setThreadRole(ThreadRole role);
ThreadRole threadRole();
// The name `top -H`, `ps -L`, perf and gdb show for the calling thread (Linux keeps 15 characters).
void nameThread(std::string_view name);
inline bool onNetworkThread() {
  return threadRole() == ThreadRole::Network;
}

}  // namespace parley::util

// Use at the top of every function that may block (storage, PBKDF2, file I/O).
#ifdef NDEBUG
#define PARLEY_ASSERT_MAY_BLOCK() ((void)0)
#else
#include <cassert>
#define PARLEY_ASSERT_MAY_BLOCK() \
  assert(!::parley::util::onNetworkThread() && "blocking call on a network thread")
#endif
