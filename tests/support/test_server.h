// A real parleyd for integration tests: a temporary directory with a self-signed certificate, a
// config listening on 127.0.0.1 with port 0 (free ports), a SQLite database, and the process itself.
// The ports are read from parleyd's "listener.ready" log lines. Everything is removed afterwards
// unless PARLEY_KEEP_TEST_DIRS is set (then the path is printed).
//
//   TestServer server;                       // or TestServer server({.extra = "[c2s]\n…"});
//   server.addUser("alice", "secret");       // straight into the database (parleyd may be running)
//   server.start();
//   XmppClient alice(server.jid("alice"), "secret", server.c2sPort());
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/database.h"

namespace parley::test {

struct TestServerOptions {
  std::string domain = "localhost";
  std::string serverSection;  // extra lines for [server] (e.g. admins = [...])
  std::string extra;          // extra tables ([c2s], [limits], [modules.x], …)
  std::string logLevel = "debug";
  int networkThreads = 2;  // [server] network_threads (1: every connection on one thread)
  // The storage parleyd uses. Unset: SQLite in the test directory, or, when PARLEY_TEST_STORAGE=mysql
  // (ctest runs part of the suite a second time so), a fresh database on the MariaDB server named by
  // PARLEY_TEST_MYSQL, dropped afterwards. Set: exactly this (the caller owns it).
  std::optional<storage::StorageConfig> storage;
};

// PARLEY_TEST_STORAGE=mysql: integration tests run on MySQL (see TestServerOptions::storage).
bool testStorageIsMysql();

class TestServer {
 public:
  explicit TestServer(TestServerOptions options = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  void addUser(const std::string& local, const std::string& password);
  // Many accounts with one password through one database connection (a load test's users).
  void addUsers(const std::vector<std::string>& locals, const std::string& password);
  // Starts parleyd and waits until both listeners are ready (fails the test otherwise).
  void start();
  // SIGTERM, then waits; returns the exit status, or -1 if it had to be killed.
  int stop(std::chrono::seconds timeout = std::chrono::seconds(15));
  // The two halves of stop(), for a test that works while parleyd shuts down: sends SIGTERM and
  // returns at once; then waits for the exit (status, or -1 after SIGKILL at the timeout).
  void sendSigterm();
  int waitForExit(std::chrono::seconds timeout = std::chrono::seconds(15));
  void kill9();
  bool running() const { return pid_ > 0; }

  std::uint16_t c2sPort() const { return c2sPort_; }
  std::uint16_t tlsPort() const { return tlsPort_; }
  // The first [[http.listeners]] port (0 without one); HTTP listeners open before "server.started".
  std::uint16_t httpPort() const { return httpPort_; }
  const std::string& domain() const { return options_.domain; }
  std::string jid(const std::string& local) const { return local + "@" + options_.domain; }
  const std::string& dir() const { return dir_; }
  std::string configPath() const { return dir_ + "/parley.toml"; }
  std::string databasePath() const { return dir_ + "/parley.db"; }  // SQLite only
  // The storage parleyd uses, for a test that opens it directly.
  const storage::StorageConfig& storageConfig() const { return storage_; }

  // Everything parleyd wrote to stderr so far.
  std::string logs() const;
  // Waits until the log contains `needle` (after `from`, an offset into logs()).
  bool waitForLog(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(5),
                  std::size_t from = 0) const;
  pid_t pid() const { return pid_; }

 private:
  void writeConfig();
  std::string storageSection() const;
  void readLoop(int fd);

  TestServerOptions options_;
  std::string dir_;
  storage::StorageConfig storage_;
  std::string scratchDatabase_;  // created here on the MySQL test server, dropped by the destructor
  pid_t pid_ = -1;
  std::uint16_t c2sPort_ = 0;
  std::uint16_t tlsPort_ = 0;
  std::uint16_t httpPort_ = 0;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string log_;
  bool eof_ = false;
};

// Writes a self-signed EC certificate for `domain` (and *.domain) to certPath/keyPath.
void writeSelfSignedCertificate(const std::string& domain, const std::string& certPath,
                                const std::string& keyPath);
// Runs a program, returns {exit status, stdout+stderr}. A program still running after `timeout` is
// killed (status -1), so a test that expected it to exit cannot hang.
std::pair<int, std::string> runProgram(const std::vector<std::string>& argv,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace parley::test
