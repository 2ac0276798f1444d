// One header for every fuzz target (tests/fuzz/targets/*.cpp). A target is written once with
// PARLEY_FUZZ_TARGET(name) { … } and built two ways:
//  - with clang and -fsanitize=fuzzer (CMake -DPARLEY_FUZZ=ON, PARLEY_LIBFUZZER defined): the body is
//    LLVMFuzzerTestOneInput, one executable per target (fuzz_<name>);
//  - in the normal build: the body is a function registered under `name`, and parley_fuzz_replay_tests
//    (tests/fuzz/replay_test.cpp) runs it on every file of tests/fuzz/corpus/<name>/.
// A target returns 0; it calls parley::fuzz::fail() when an invariant it checks does not hold (a crash
// for libFuzzer, a test failure for the replay).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace parley::fuzz {

using Entry = int (*)(const std::uint8_t*, std::size_t);
bool registerTarget(const char* name, Entry entry);
Entry findTarget(std::string_view name);

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}
#define PARLEY_FUZZ_CHECK(cond)               \
  do {                                        \
    if (!(cond)) ::parley::fuzz::fail(#cond); \
  } while (0)

// Splits an input into chunks at points taken from the input itself: the first byte chooses the
// pattern (0: one chunk; otherwise chunk lengths follow a sequence seeded by it, 1..max bytes), so the
// fuzzer explores how a peer's bytes can be cut by the network.
class Splitter {
 public:
  Splitter(std::string_view data, std::size_t maxChunk = 64) : maxChunk_(maxChunk) {
    if (!data.empty()) {
      seed_ = static_cast<std::uint8_t>(data[0]);
      data.remove_prefix(1);
    }
    rest_ = data;
    state_ = seed_ * 2654435761u + 1;
  }
  bool done() const { return rest_.empty(); }
  std::string_view next() {
    std::size_t n = rest_.size();
    if (seed_ != 0) {
      state_ = state_ * 1103515245u + 12345u;
      n = 1 + (state_ >> 16) % maxChunk_;
      if (n > rest_.size()) n = rest_.size();
    }
    std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }

 private:
  std::string_view rest_;
  std::size_t maxChunk_;
  std::uint8_t seed_ = 0;
  std::uint32_t state_ = 1;
};

}  // namespace parley::fuzz

#ifdef PARLEY_LIBFUZZER
#define PARLEY_FUZZ_TARGET(name) \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#else
#define PARLEY_FUZZ_TARGET(name)                                            \
  static int parleyFuzz_##name(const std::uint8_t* data, std::size_t size); \
  [[maybe_unused]] static const bool parleyFuzzRegistered_##name =          \
      ::parley::fuzz::registerTarget(#name, parleyFuzz_##name);             \
  static int parleyFuzz_##name(const std::uint8_t* data, std::size_t size)
#endif
