// The process's heap, whichever allocator serves it: glibc's malloc, or jemalloc when parleyd is linked
// with it (the PARLEY_JEMALLOC build option, on by default; the sanitizers bring their own). Housekeeping
// uses this to hand free memory back to the kernel without knowing which one it is.
#pragma once

#include <cstddef>
#include <string_view>

namespace parley::util {

struct HeapUse {
  std::size_t inUse = 0;       // bytes the program holds
  std::size_t releasable = 0;  // bytes free in the heap that releaseFreeHeap() could give back
};

// "jemalloc" or "glibc".
std::string_view heapAllocator();
// May walk the heap (glibc takes its arena locks): not on a network thread.
HeapUse heapUse();
void releaseFreeHeap();

}  // namespace parley::util
