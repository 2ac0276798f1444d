#include <system_error>

#include <stdlib.h>

#include "storage/sqlite/sqlite_database.h"
#include "storage_conformance.h"

namespace parley::storage::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "parley-storage-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

class SqliteTestBackend final : public TestBackend {
 public:
  std::unique_ptr<Database> open() override {
    StorageConfig config;
    config.backend = "sqlite";
    config.sqlitePath = (dir_.path() / "parley.db").string();
    return openDatabase(config);
  }

 private:
  TempDir dir_;
};

}  // namespace

// A MySQL backend joins here when it exists (guarded by an environment variable naming a scratch
// server, so the suite still runs without one).
std::vector<BackendParam> backends() {
  return {{"Sqlite", [] { return std::make_unique<SqliteTestBackend>(); }}};
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageConformance, ::testing::ValuesIn(backends()),
                         [](const ::testing::TestParamInfo<BackendParam>& info) { return info.param.name; });

}  // namespace parley::storage::testing
