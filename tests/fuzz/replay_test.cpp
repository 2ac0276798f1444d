// Replays the committed fuzz corpus (tests/fuzz/corpus/<target>/*) through every fuzz target's entry
// function in the normal build (gcc, ASan+UBSan in contrib/test.sh), so the main test command runs
// every seed and every regression input a fuzzer ever found. libFuzzer itself runs from
// tests/fuzz/run.sh (clang build).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fuzz/fuzz_target.h"

namespace parley::fuzz {

namespace {
std::map<std::string, Entry, std::less<>>& registry() {
  static std::map<std::string, Entry, std::less<>> r;
  return r;
}
}  // namespace

bool registerTarget(const char* name, Entry entry) {
  registry()[name] = entry;
  return true;
}

Entry findTarget(std::string_view name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second;
}

namespace {

class FuzzCorpusReplay : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzCorpusReplay, EveryCorpusFileRunsCleanly) {
  const std::string name = GetParam();
  Entry entry = findTarget(name);
  ASSERT_NE(entry, nullptr) << "no fuzz target " << name;
  const std::filesystem::path dir = std::filesystem::path(PARLEY_FUZZ_CORPUS) / name;
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(dir))
    if (f.is_regular_file()) files.push_back(f.path());
  std::sort(files.begin(), files.end());
  // The generator (tests/fuzz/make_corpus.py) writes dozens per target: an empty directory means the
  // corpus is missing, not that there is nothing to test.
  ASSERT_GE(files.size(), 20u) << dir;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "%s\n", path.filename().c_str());  // shown by ctest only when something fails
    EXPECT_EQ(entry(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0) << path;
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpusReplay,
                         ::testing::Values("xml_stream", "c2s_stream", "jid", "scram", "forms",
                                           "http_request", "tls_records"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace parley::fuzz
