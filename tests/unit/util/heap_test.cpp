#include "server/util/heap.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

// This file runs twice: in parley_base_tests on glibc's malloc, and as parley_heap_jemalloc_tests linked
// with jemalloc like parleyd (tests/CMakeLists.txt), so both of housekeeping's release paths are run.
#ifndef PARLEY_EXPECT_ALLOCATOR
#define PARLEY_EXPECT_ALLOCATOR "glibc"
#endif

namespace parley::util {
namespace {

std::size_t residentBytes() {
  std::size_t pages = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

TEST(HeapTest, FreedMemoryIsCountedAndGoesBackToTheKernel) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the sanitizers bring their own allocator";
#endif
  EXPECT_EQ(heapAllocator(), PARLEY_EXPECT_ALLOCATOR);
  constexpr std::size_t kMiB = 1024 * 1024;
  constexpr std::size_t kBlock = 4096;  // small enough to come from the heap, not from mmap
  constexpr std::size_t kBlocks = 64 * kMiB / kBlock;
  std::vector<void*> blocks;
  blocks.reserve(kBlocks);
  for (std::size_t i = 0; i < kBlocks; ++i) {
    void* p = std::malloc(kBlock);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0x5a, kBlock);  // resident
    asm volatile("" : : "r"(p) : "memory");
    blocks.push_back(p);
  }
  const std::size_t inUse = heapUse().inUse;
  EXPECT_GE(inUse, 60 * kMiB);
  // Every 16th block stays: the free memory is in holes between live blocks, as a server's is after
  // its sessions end, so neither allocator can give it back by just shrinking the heap's end.
  std::vector<void*> kept;
  for (std::size_t i = 0; i < blocks.size(); ++i)
    (i % 16 == 15 ? kept.push_back(blocks[i]) : std::free(blocks[i]));
  const std::size_t full = residentBytes();
  const HeapUse freed = heapUse();
  EXPECT_LE(freed.inUse + 32 * kMiB, inUse);
  EXPECT_GE(freed.releasable, 32 * kMiB) << "what housekeeping decides on";
  releaseFreeHeap();
  EXPECT_LE(residentBytes() + 32 * kMiB, full) << "the freed pages left the process";
  for (void* p : kept) std::free(p);
}

}  // namespace
}  // namespace parley::util
