#include <atomic>
#include <cstdlib>
#include <system_error>

#include <stdlib.h>
#include <unistd.h>

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

std::optional<StorageConfig> mysqlTestServer() {
  const char* socket = std::getenv("PARLEY_TEST_MYSQL");
  if (socket == nullptr || *socket == '\0') return std::nullopt;
  StorageConfig config;
  config.backend = "mysql";
  config.mysqlSocket = socket;
  config.mysqlUser = "root";
  config.mysqlDatabase = "mysql";
  config.busyTimeoutMs = 10000;
  return config;
}

ScratchMysqlDatabase::ScratchMysqlDatabase(const StorageConfig& server) : config_(server) {
  static std::atomic<int> counter{0};
  config_.mysqlDatabase = "parley_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  auto admin = openDatabase(server);
  admin->connection().executeScript("DROP DATABASE IF EXISTS " + config_.mysqlDatabase +
                                    "; CREATE DATABASE " + config_.mysqlDatabase +
                                    " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
  server_ = server;
}

ScratchMysqlDatabase::~ScratchMysqlDatabase() {
  try {
    openDatabase(server_)->connection().executeScript("DROP DATABASE IF EXISTS " + config_.mysqlDatabase);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop the scratch database " << config_.mysqlDatabase << ": " << e.what();
  }
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

// A fresh database on the MariaDB server named by PARLEY_TEST_MYSQL (contrib/with-mariadb.sh starts
// one), dropped after the test.
class MysqlTestBackend final : public TestBackend {
 public:
  explicit MysqlTestBackend(const StorageConfig& server) : scratch_(server) {}
  std::unique_ptr<Database> open() override { return openDatabase(scratch_.config()); }

 private:
  ScratchMysqlDatabase scratch_;
};

}  // namespace

std::vector<BackendParam> backends() {
  return {
      {"Sqlite", [] { return std::make_unique<SqliteTestBackend>(); }},
      {"Mysql",
       []() -> std::unique_ptr<TestBackend> {
         auto server = mysqlTestServer();
         if (!server) return nullptr;
         return std::make_unique<MysqlTestBackend>(*server);
       }},
  };
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageConformance, ::testing::ValuesIn(backends()),
                         [](const ::testing::TestParamInfo<BackendParam>& info) { return info.param.name; });

}  // namespace parley::storage::testing
