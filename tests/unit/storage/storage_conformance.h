// The storage conformance suite: every test written against StorageConformance runs once per backend
// (backends() in conformance_backends.cpp). A backend supplies a fresh, empty store per test and a
// factory `open()` returning a new Database on it; SQLite uses a file in a mkdtemp directory, a MySQL
// backend will use a scratch database. Backend-specific checks (file modes, pragmas) live in
// <backend>_database_test.cpp instead.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
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

std::vector<BackendParam> backends();

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
