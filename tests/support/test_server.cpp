#include "support/test_server.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/core/accounts.h"
#include "server/xmpp/jid.h"
#include "storage/database.h"

extern char** environ;

namespace parley::test {

void writeSelfSignedCertificate(const std::string& domain, const std::string& certPath,
                                const std::string& keyPath) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(domain.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::string san = "DNS:" + domain + ",DNS:*." + domain;
  if (X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str())) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  FILE* f = std::fopen(certPath.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(keyPath.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

std::pair<int, std::string> runProgram(const std::vector<std::string>& argv,
                                       std::chrono::milliseconds timeout) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return {-1, "pipe failed"};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  posix_spawn_file_actions_addclose(&actions, pipefd[0]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    return {-1, "spawn failed"};
  }
  std::string out;
  char buf[4096];
  bool timedOut = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{pipefd[0], POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) == 0) {
      timedOut = true;
      kill(pid, SIGKILL);
      out += "\n[runProgram: killed after the timeout]\n";
      break;
    }
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timedOut) return {-1, out};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool testStorageIsMysql() {
  const char* v = std::getenv("PARLEY_TEST_STORAGE");
  return v != nullptr && std::string_view(v) == "mysql";
}

namespace {

// The MariaDB server of contrib/with-mariadb.sh, as an administrator.
storage::StorageConfig mysqlTestServerConfig() {
  const char* socket = std::getenv("PARLEY_TEST_MYSQL");
  if (socket == nullptr || *socket == '\0') {
    throw std::runtime_error(
        "PARLEY_TEST_STORAGE=mysql needs PARLEY_TEST_MYSQL (run through contrib/with-mariadb.sh)");
  }
  storage::StorageConfig sc;
  sc.backend = "mysql";
  sc.mysqlSocket = socket;
  sc.mysqlUser = "root";
  sc.mysqlDatabase = "mysql";
  return sc;
}

// With PARLEY_TEST_STORAGE=mysql but no server, every test is skipped loudly instead of failing.
class MysqlStorageEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!testStorageIsMysql()) return;
    const char* socket = std::getenv("PARLEY_TEST_MYSQL");
    if (socket == nullptr || *socket == '\0')
      GTEST_SKIP() << "PARLEY_TEST_STORAGE=mysql but PARLEY_TEST_MYSQL is not set: MySQL integration tests "
                      "SKIPPED (run them through contrib/with-mariadb.sh, as contrib/test.sh does)";
  }
};
[[maybe_unused]] ::testing::Environment* const kMysqlEnvironment =
    ::testing::AddGlobalTestEnvironment(new MysqlStorageEnvironment);

}  // namespace

TestServer::TestServer(TestServerOptions options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/parley-test-XXXXXX";
  char* d = mkdtemp(tmpl);
  if (!d) throw std::runtime_error("mkdtemp failed");
  dir_ = d;
  if (options_.storage) {
    storage_ = *options_.storage;
  } else if (testStorageIsMysql()) {
    static std::atomic<int> counter{0};
    storage::StorageConfig admin = mysqlTestServerConfig();
    scratchDatabase_ = "parley_it_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    storage::openDatabase(admin)->connection().executeScript("CREATE DATABASE " + scratchDatabase_ +
                                                             " CHARACTER SET utf8mb4");
    storage_ = admin;
    storage_.mysqlDatabase = scratchDatabase_;
  } else {
    storage_.sqlitePath = databasePath();
  }
  writeSelfSignedCertificate(options_.domain, dir_ + "/cert.pem", dir_ + "/key.pem");
  writeConfig();
}

TestServer::~TestServer() {
  if (pid_ > 0) {
    // Every test doubles as a check of the shutdown path: exit 0, no sanitizer report, no leak.
    int rc = stop(std::chrono::seconds(15));
    EXPECT_EQ(rc, 0) << "parleyd did not exit cleanly; its log:\n"
                     << logs().substr(logs().size() > 6000 ? logs().size() - 6000 : 0);
  }
  if (!scratchDatabase_.empty()) {
    try {
      storage::openDatabase(mysqlTestServerConfig())
          ->connection()
          .executeScript("DROP DATABASE " + scratchDatabase_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop " << scratchDatabase_ << ": " << e.what();
    }
  }
  if (std::getenv("PARLEY_KEEP_TEST_DIRS")) {
    std::fprintf(stderr, "test server directory kept: %s\n", dir_.c_str());
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void TestServer::writeConfig() {
  std::ofstream f(configPath());
  f << "[server]\nlog_level = \"" << options_.logLevel
    << "\"\ndata_dir = \".\"\nnetwork_threads = " << options_.networkThreads << "\n"
    << options_.serverSection << "\n"
    << "[[hosts]]\ndomain = \"" << options_.domain << "\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\n"
    << "[[listeners]]\ntype = \"c2s\"\naddress = \"127.0.0.1\"\nport = 0\n\n"
    << "[[listeners]]\ntype = \"c2s_tls\"\naddress = \"127.0.0.1\"\nport = 0\n\n"
    << storageSection() << "\n"
    << options_.extra << "\n";
}

std::string TestServer::storageSection() const {
  if (storage_.backend != "mysql") return "[storage]\npath = \"" + storage_.sqlitePath + "\"\n";
  return "[storage]\nbackend = \"mysql\"\nsocket = \"" + storage_.mysqlSocket + "\"\nhost = \"" +
         storage_.mysqlHost + "\"\nport = " + std::to_string(storage_.mysqlPort) + "\nuser = \"" +
         storage_.mysqlUser + "\"\npassword = \"" + storage_.mysqlPassword + "\"\ndatabase = \"" +
         storage_.mysqlDatabase + "\"\n";
}

void TestServer::addUser(const std::string& local, const std::string& password) {
  auto db = storage::openDatabase(storage_);
  db->migrate();
  auto account = xmpp::Jid::parse(jid(local));
  ASSERT_TRUE(account.has_value());
  ASSERT_EQ(core::createAccount(*db, *account, password, 4096), core::AccountResult::Ok);
}

void TestServer::addUsers(const std::vector<std::string>& locals, const std::string& password) {
  auto db = storage::openDatabase(storage_);
  db->migrate();
  db->transaction([&](storage::Connection&) {  // one commit (one fsync) for all of them
    for (const auto& local : locals) {
      auto account = xmpp::Jid::parse(jid(local));
      ASSERT_TRUE(account.has_value()) << local;
      ASSERT_EQ(core::createAccount(*db, *account, password, 4096), core::AccountResult::Ok) << local;
    }
  });
}

void TestServer::start() {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  posix_spawn_file_actions_addclose(&actions, pipefd[0]);
  std::string cfg = configPath();
  // PARLEY_TEST_PARLEYD runs another parleyd binary (measurements with a release build).
  const char* env = std::getenv("PARLEY_TEST_PARLEYD");
  std::string bin = env && *env ? env : PARLEYD_PATH;
  std::vector<char*> args = {bin.data(), const_cast<char*>("--config"), cfg.data(), nullptr};
  int rc = posix_spawn(&pid_, bin.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipefd[1]);
  ASSERT_EQ(rc, 0) << "cannot start " << bin;
  {
    std::lock_guard lock(mu_);
    eof_ = false;
  }
  reader_ = std::thread([this, fd = pipefd[0]] { readLoop(fd); });

  std::unique_lock lock(mu_);
  const std::size_t from = log_.size();
  bool ok = cv_.wait_for(lock, std::chrono::seconds(30), [&] {
    // "listener.ready type=c2s address=127.0.0.1 port=41641"
    c2sPort_ = tlsPort_ = httpPort_ = 0;
    const std::string_view marker = "listener.ready type=";
    for (auto pos = log_.find(marker, from); pos != std::string::npos; pos = log_.find(marker, pos + 1)) {
      const auto eol = log_.find('\n', pos);
      const std::string line = log_.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
      const auto portAt = line.find(" port=");
      if (portAt == std::string::npos) continue;
      auto port = static_cast<std::uint16_t>(std::stoi(line.substr(portAt + 6)));
      if (line.rfind("listener.ready type=c2s_tls ", 0) == 0)
        tlsPort_ = port;
      else if (line.rfind("listener.ready type=https ", 0) == 0 ||
               line.rfind("listener.ready type=http ", 0) == 0)
        httpPort_ = port;
      else if (line.rfind("listener.ready type=c2s ", 0) == 0)
        c2sPort_ = port;
    }
    // "server.started" comes after every listener (the HTTP ones open last).
    return (c2sPort_ && tlsPort_ && log_.find("server.started", from) != std::string::npos) || eof_;
  });
  ASSERT_TRUE(ok && c2sPort_ && tlsPort_) << "parleyd did not start:\n" << log_;
}

void TestServer::readLoop(int fd) {
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    std::lock_guard lock(mu_);
    log_.append(buf, static_cast<std::size_t>(n));
    cv_.notify_all();
  }
  close(fd);
  std::lock_guard lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

int TestServer::stop(std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  sendSigterm();
  return waitForExit(timeout);
}

void TestServer::sendSigterm() {
  if (pid_ > 0) kill(pid_, SIGTERM);
}

int TestServer::waitForExit(std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pid_t r = 0;
  while ((r = waitpid(pid_, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int result;
  if (r == 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    result = -1;
  } else {
    result = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  {
    std::lock_guard lock(mu_);
    std::ofstream(dir_ + "/parleyd.log", std::ios::app) << log_;
  }
  return result;
}

void TestServer::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
}

std::string TestServer::logs() const {
  std::lock_guard lock(mu_);
  return log_;
}

bool TestServer::waitForLog(const std::string& needle, std::chrono::milliseconds timeout,
                            std::size_t from) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return log_.find(needle, from) != std::string::npos; });
}

}  // namespace parley::test
