// parleyd on its own MariaDB server (not the shared one of contrib/with-mariadb.sh: this test restarts
// it): messages for an offline user survive (1) MariaDB restarting under a running parleyd, whose
// pooled connections die and are replaced, and (2) parleyd and MariaDB both stopping and starting.
#include <filesystem>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/im_helpers.h"
#include "storage/database.h"
#include "xep/offline/offline_store.h"

extern char** environ;

namespace parley::test {
namespace {

std::string findProgram(std::initializer_list<const char*> candidates) {
  for (const char* c : candidates)
    if (::access(c, X_OK) == 0) return c;
  return {};
}

// A MariaDB server in a temporary directory, on a Unix socket only.
class PrivateMariaDb {
 public:
  PrivateMariaDb() {
    mariadbd_ = findProgram({"/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/bin/mariadbd"});
    installDb_ = findProgram({"/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"});
    if (!available()) return;
    char tmpl[] = "/tmp/parley-mariadb-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    user_ = getuid() == 0 ? "root" : std::string(getenv("USER") ? getenv("USER") : "");
    auto [rc, out] =
        runProgram({installDb_, "--no-defaults", "--user=" + user_, "--datadir=" + dir_ + "/data",
                    "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"},
                   std::chrono::seconds(120));
    if (rc != 0) throw std::runtime_error("mariadb-install-db failed: " + out);
  }
  ~PrivateMariaDb() {
    stop();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  PrivateMariaDb(const PrivateMariaDb&) = delete;
  PrivateMariaDb& operator=(const PrivateMariaDb&) = delete;

  bool available() const { return !mariadbd_.empty() && !installDb_.empty(); }

  void start() {
    std::vector<std::string> args = {mariadbd_,
                                     "--no-defaults",
                                     "--user=" + user_,
                                     "--datadir=" + dir_ + "/data",
                                     "--socket=" + socket(),
                                     "--pid-file=" + dir_ + "/mysqld.pid",
                                     "--skip-networking",
                                     "--log-error=" + dir_ + "/error.log",
                                     "--skip-log-bin",
                                     "--innodb-buffer-pool-size=32M",
                                     "--skip-name-resolve"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(posix_spawn(&pid_, mariadbd_.c_str(), nullptr, nullptr, argv.data(), environ), 0);
    storage::StorageConfig admin = config("mysql");
    admin.mysqlConnectTimeoutS = 1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      try {
        storage::openDatabase(admin);
        return;
      } catch (const storage::StorageError& e) {
        int status = 0;
        ASSERT_EQ(waitpid(pid_, &status, WNOHANG), 0) << "mariadbd exited at start";
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "mariadbd not ready: " << e.what();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  // A clean shutdown (SIGTERM), as a restart by the service manager would do.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 600 && waitpid(pid_, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

  std::string socket() const { return dir_ + "/mysqld.sock"; }
  storage::StorageConfig config(const std::string& database) const {
    storage::StorageConfig c;
    c.backend = "mysql";
    c.mysqlSocket = socket();
    c.mysqlUser = "root";
    c.mysqlDatabase = database;
    return c;
  }

 private:
  std::string mariadbd_, installDb_, dir_, user_;
  pid_t pid_ = -1;
};

bool waitForStored(const storage::StorageConfig& sc, const std::string& user, std::int64_t n) {
  auto db = storage::openDatabase(sc);
  xep::offline::OfflineStore store(*db);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (store.count("localhost", user) != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::unique_ptr<XmppClient> online(TestServer& server, const std::string& user, const std::string& password) {
  auto c = std::make_unique<XmppClient>(server.jid(user), password, server.c2sPort());
  EXPECT_TRUE(c->connect()) << c->error();
  c->becomeAvailable();
  return c;
}

TEST(MysqlRestartTest, OfflineMessagesSurviveRestartsOfMariadbAndParleyd) {
  PrivateMariaDb mariadb;
  if (!mariadb.available())
    GTEST_SKIP() << "mariadbd / mariadb-install-db not installed: restart test SKIPPED";
  ASSERT_NO_FATAL_FAILURE(mariadb.start());
  storage::openDatabase(mariadb.config("mysql"))->connection().executeScript("CREATE DATABASE parley");
  TestServerOptions options;
  options.storage = mariadb.config("parley");
  options.logLevel = "info";
  TestServer server(options);
  server.addUser("alice", "a");
  server.addUser("bob", "b");
  server.start();

  auto alice = online(server, "alice", "a");
  alice->send("<message to='bob@localhost' type='chat' id='m1'><body>one</body></message>");
  ASSERT_TRUE(waitForStored(options.storage.value(), "bob", 1));

  // (1) MariaDB restarts under parleyd: every pooled connection is dead; the next storage work
  // reconnects and goes on.
  mariadb.stop();
  ASSERT_NO_FATAL_FAILURE(mariadb.start());
  alice->send("<message to='bob@localhost' type='chat' id='m2'><body>two</body></message>");
  alice->send("<message to='bob@localhost' type='chat' id='m3'><body>three</body></message>");
  ASSERT_TRUE(waitForStored(options.storage.value(), "bob", 3)) << server.logs();
  const std::string aliceJid = alice->jid();
  alice->disconnect();
  alice.reset();

  // (2) Both stop and start again.
  ASSERT_EQ(server.stop(), 0);
  mariadb.stop();
  ASSERT_NO_FATAL_FAILURE(mariadb.start());
  server.start();

  auto bob = online(server, "bob", "b");
  for (const char* body : {"one", "two", "three"}) {
    auto m = bob->expect(isMessage().from(aliceJid).body(body), 10s);
    ASSERT_TRUE(m) << "missing: " << body;
    EXPECT_TRUE(m->child("delay", "urn:xmpp:delay"));
  }
  EXPECT_TRUE(waitForStored(options.storage.value(), "bob", 0));  // handed over, so removed
}

}  // namespace
}  // namespace parley::test
