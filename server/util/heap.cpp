#include "server/util/heap.h"

#include <cstdint>

#include <malloc.h>
#include <unistd.h>

// jemalloc's control interface. Weak, so that it is null unless jemalloc is linked in: parleyd links it,
// the test binaries and the sanitizer builds do not.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp, std::size_t newlen)
    __attribute__((weak));

namespace parley::util {

namespace {

// jemalloc's name for "every arena" in arena.<i>.* and stats.arenas.<i>.* (MALLCTL_ARENAS_ALL).
#define PARLEY_JE_ALL_ARENAS "4096"

template <class T>
T jemallocRead(const char* name) {
  T value{};
  std::size_t len = sizeof value;
  return mallctl(name, &value, &len, nullptr, 0) == 0 ? value : T{};
}

}  // namespace

std::string_view heapAllocator() {
  return mallctl ? "jemalloc" : "glibc";
}

HeapUse heapUse() {
  if (mallctl) {
    // Statistics are snapshots, refreshed by writing the epoch.
    std::uint64_t epoch = 1;
    mallctl("epoch", nullptr, nullptr, &epoch, sizeof epoch);
    const auto dirtyPages = jemallocRead<std::size_t>("stats.arenas." PARLEY_JE_ALL_ARENAS ".pdirty");
    return {jemallocRead<std::size_t>("stats.allocated"),
            dirtyPages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE))};
  }
  const struct mallinfo2 mi = mallinfo2();
  return {mi.uordblks, mi.fordblks};
}

void releaseFreeHeap() {
  if (mallctl) {
    // Dirty pages of every arena go back now rather than when jemalloc's decay next runs, which is
    // only at some later allocation: an idle server would keep them.
    mallctl("arena." PARLEY_JE_ALL_ARENAS ".purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  malloc_trim(0);
}

}  // namespace parley::util
