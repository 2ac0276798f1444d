// The storage conformance suite: every test written against StorageConformance runs once per backend
// (backends() in conformance_backends.cpp). A backend supplies a fresh, empty store per test and a
// factory `open()` returning a new Database on it; SQLite uses a file in a mkdtemp directory, MySQL a
// scratch database (created and dropped per test) on the MariaDB server named by the environment
// variable PARLEY_TEST_MYSQL (a Unix socket, user root without password: contrib/with-mariadb.sh
// starts such a server, and contrib/test.sh runs the tests through it). Without the variable the
// MySQL cases are skipped with a message. Backend-specific checks (file modes, pragmas) live in
// <backend>_database_test.cpp instead.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/database.h"

namespace parley::storage::testing {

// One fresh store for one test; destroyed (and cleaned up) at the end of the test.
class TestBackend {
 public:
  virtual ~TestBackend() = default;
  // A new Database on this store (not migrated); may be called again to reopen.
  virtual std::unique_ptr<Database> open() = 0;
};

struct BackendParam {
  std::string name;
  std::function<std::unique_ptr<TestBackend>()> make;
};
// Names the backend in test output (gtest would otherwise dump the struct's bytes).
inline void PrintTo(const BackendParam& param, std::ostream* os) {
  *os << param.name;
}

// make() returns nullptr when the backend is not available here (the test is then skipped).
std::vector<BackendParam> backends();

// The MariaDB test server from PARLEY_TEST_MYSQL (database "mysql", user root), if set.
std::optional<StorageConfig> mysqlTestServer();

// A new, empty database on the test server, dropped by the destructor.
class ScratchMysqlDatabase {
 public:
  explicit ScratchMysqlDatabase(const StorageConfig& server);
  ~ScratchMysqlDatabase();
  ScratchMysqlDatabase(const ScratchMysqlDatabase&) = delete;
  ScratchMysqlDatabase& operator=(const ScratchMysqlDatabase&) = delete;
  const StorageConfig& config() const { return config_; }

 private:
  StorageConfig server_;
  StorageConfig config_;
};

inline constexpr const char* kMysqlSkipped =
    "MySQL conformance SKIPPED: PARLEY_TEST_MYSQL is not set. Run the tests through "
    "contrib/with-mariadb.sh (contrib/test.sh does) to run them against a private MariaDB server.";

// A private directory from mkdtemp, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class StorageConformance : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP() << kMysqlSkipped;
    db_ = backend_->open();
    db_->migrate();
  }
  void TearDown() override {
    db_.reset();
    backend_.reset();
  }
  Database& db() { return *db_; }
  // An empty, unmigrated store of the same backend, separate from db().
  std::unique_ptr<TestBackend> freshBackend() { return GetParam().make(); }

  std::unique_ptr<TestBackend> backend_;
  std::unique_ptr<Database> db_;
};

}  // namespace parley::storage::testing
