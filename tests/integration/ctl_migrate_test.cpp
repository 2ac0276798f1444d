// `parleyctl migrate --from A --to B` through the real binary: SQLite → MySQL → SQLite, then parleyd on
// the final copy delivers what was stored in the first. Needs the MariaDB of contrib/with-mariadb.sh.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "storage/account_store.h"
#include "storage/database.h"
#include "storage/user_data_store.h"
#include "support/test_server.h"
#include "support/xmpp_client.h"
#include "xep/offline/offline_store.h"

namespace parley::test {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A fresh database on the test server, dropped at the end.
class ScratchDatabase {
 public:
  explicit ScratchDatabase(storage::StorageConfig admin) : admin_(std::move(admin)) {
    config_ = admin_;
    config_.mysqlDatabase = "parley_ctl_" + std::to_string(getpid());
    storage::openDatabase(admin_)->connection().executeScript(
        "DROP DATABASE IF EXISTS " + config_.mysqlDatabase + "; CREATE DATABASE " + config_.mysqlDatabase);
  }
  ~ScratchDatabase() {
    try {
      storage::openDatabase(admin_)->connection().executeScript("DROP DATABASE " + config_.mysqlDatabase);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  const storage::StorageConfig& config() const { return config_; }

 private:
  storage::StorageConfig admin_, config_;
};

TEST(CtlMigrateTest, SqliteToMysqlToSqliteKeepsAccountsAndOfflineMessages) {
  const char* socket = std::getenv("PARLEY_TEST_MYSQL");
  if (socket == nullptr || *socket == '\0')
    GTEST_SKIP()
        << "PARLEY_TEST_MYSQL is not set: migrate test SKIPPED (run through contrib/with-mariadb.sh)";
  storage::StorageConfig admin;
  admin.backend = "mysql";
  admin.mysqlSocket = socket;
  admin.mysqlUser = "root";
  admin.mysqlDatabase = "mysql";
  ScratchDatabase scratch(admin);

  // A and C: SQLite files in one scratch directory; B: a MySQL database.
  TestServerOptions firstOptions;
  firstOptions.storage = storage::StorageConfig{};
  TestServer scratchDir(firstOptions);  // only for its directory
  storage::StorageConfig firstStorage;
  firstStorage.sqlitePath = scratchDir.dir() + "/first.db";
  TestServerOptions aOptions;
  aOptions.storage = firstStorage;
  TestServer a(aOptions);
  a.addUser("alice", "a");
  a.addUser("bob", "b");
  {
    auto db = storage::openDatabase(firstStorage);
    ASSERT_TRUE(xep::offline::OfflineStore(*db).push(
        "localhost", "bob", 1700000000,
        "<message xmlns='jabber:client' from='alice@localhost/x' to='bob@localhost' type='chat'><body>kept "
        "🦜</body></message>",
        100));
    storage::UserDataStore(*db).set("localhost", "bob", "vcard", "", "<vCard xmlns='vcard-temp'/>");
  }

  TestServerOptions mysqlOptions;
  mysqlOptions.storage = scratch.config();
  TestServer b(mysqlOptions);
  storage::StorageConfig lastStorage;
  lastStorage.sqlitePath = scratchDir.dir() + "/last.db";
  TestServerOptions lastOptions;
  lastOptions.storage = lastStorage;
  TestServer c(lastOptions);

  auto [s1, out1] = runProgram({PARLEYCTL_PATH, "migrate", "--from", a.configPath(), "--to", b.configPath()});
  ASSERT_EQ(s1, 0) << out1;
  EXPECT_TRUE(contains(out1, "accounts: 2 rows")) << out1;
  EXPECT_TRUE(contains(out1, "offline_messages: 1 rows")) << out1;
  EXPECT_TRUE(contains(out1, "(sqlite) to ")) << out1;
  EXPECT_TRUE(contains(out1, "(mysql)")) << out1;
  auto [s2, out2] = runProgram({PARLEYCTL_PATH, "migrate", "--from", b.configPath(), "--to", c.configPath()});
  ASSERT_EQ(s2, 0) << out2;
  EXPECT_TRUE(contains(out2, "accounts: 2 rows")) << out2;

  // Copying again into the now non-empty target is refused, and changes nothing.
  auto [s3, out3] = runProgram({PARLEYCTL_PATH, "migrate", "--from", a.configPath(), "--to", c.configPath()});
  EXPECT_EQ(s3, 1);
  EXPECT_TRUE(contains(out3, "not empty")) << out3;

  // parleyd on the final copy: bob's password (SCRAM keys) and offline message made the trip.
  c.start();
  XmppClient bob(c.jid("bob"), "b", c.c2sPort());
  ASSERT_TRUE(bob.connect()) << bob.error();
  bob.becomeAvailable();
  auto m = bob.expect(isMessage().from("alice@localhost/x").body("kept 🦜"));
  ASSERT_TRUE(m);
  XmppClient alice(c.jid("alice"), "a", c.c2sPort());
  EXPECT_TRUE(alice.connect()) << alice.error();
}

}  // namespace
}  // namespace parley::test
