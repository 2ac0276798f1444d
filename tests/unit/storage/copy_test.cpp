// storage::copyDatabase (`parleyctl migrate`): SQLite → MySQL → SQLite gives back exactly the rows it
// started with, in every table; a non-empty target is refused; schema::kTables lists every table.
#include "storage/copy.h"

#include <set>

#include "storage/account_store.h"
#include "storage/roster_store.h"
#include "storage/schema/schema.h"
#include "storage/user_data_store.h"
#include "storage_conformance.h"
#include "xep/mam/archive_store.h"
#include "xep/muc/muc_archive_store.h"
#include "xep/muc/muc_store.h"
#include "xep/offline/offline_store.h"
#include "xep/pep/pep_store.h"

namespace parley::storage::testing {
namespace {

std::unique_ptr<Database> openSqlite(const TempDir& dir, const std::string& name) {
  StorageConfig config;
  config.sqlitePath = (dir.path() / name).string();
  return openDatabase(config);
}

// Something in every table, with the awkward values: NUL and high bytes in blobs, emoji, NULLs.
void fill(Database& db) {
  db.migrate();
  AccountStore accounts(db);
  util::ScramCredential cred;
  cred.alg = util::HashAlg::Sha256;
  cred.salt = std::string("\0\xff salt", 7);
  cred.iterations = 4096;
  cred.storedKey = std::string(32, '\0');
  cred.serverKey = std::string(32, '\x80');
  xep::mam::ArchiveStore archive(db);
  std::int64_t id = 1;
  for (std::string user : {"alice", "bob", "🦜"}) {
    ASSERT_TRUE(accounts.create("example.org", user, {cred}));
    accounts.setLastLogout("example.org", user, {1700000000, "away 😴"});
    RosterItem item;
    item.contact = "friend@example.net";
    item.groups = {"Friends", "🌍"};
    item.pendingInStanza = "<presence type='subscribe'/>";
    RosterStore(db).put("example.org", user, item);
    UserDataStore(db).set("example.org", user, "vcard", "", "<vCard><FN>" + user + "</FN></vCard>");
    xep::pep::PepStore pep(db);
    pep.createNode("example.org", user, "urn:xmpp:omemo:2:devices", "access_model=open\n", 1700000000);
    pep.publish("example.org", user, "urn:xmpp:omemo:2:devices",
                {"current", "", 1700000000000001, "<devices xmlns='urn:xmpp:omemo:2' label='📱'/>"}, 1);
    for (int i = 0; i < 3; ++i)
      xep::offline::OfflineStore(db).push("example.org", user, 1700000000 + i,
                                          "<message>" + user + "</message>", 10);
    std::vector<xep::mam::ArchiveRow> rows;
    for (int i = 0; i < 2500; ++i) {  // several batches of the copy
      xep::mam::ArchiveRow r;
      r.id = id++;
      r.domain = "example.org";
      r.user = user;
      r.with = "friend@example.net";
      r.withResource = i % 2 ? "phone" : "";
      r.stamp = r.id * 1000;
      r.outgoing = i % 2;
      r.xml = "<message><body>" + std::to_string(i) + "</body></message>";
      rows.push_back(std::move(r));
    }
    archive.append(rows);
    archive.setPrefs("example.org", user, {xep::mam::ArchiveMode::Roster, {"a@b"}, {"c@d", "e@f"}});
  }
  archive.index(id - 100);                                    // the last 100 rows stay above the watermark
  accounts.setLastLogin("example.org", "alice", 1700000001);  // others stay NULL
  // xep/admin and xep/register tables.
  auto& c = db.connection();
  c.execute("INSERT INTO motd (domain, version, subject, body, updated_at) VALUES (?, ?, ?, ?, ?)",
            {std::string("example.org"), std::int64_t{1700000000000}, std::string(""),
             std::string("Welcome 👋\nline 2"), std::int64_t{1700000000}});
  c.execute("INSERT INTO motd_seen (domain, username, version) VALUES (?, ?, ?)",
            {std::string("example.org"), std::string("🦜"), std::int64_t{1700000000000}});
  c.execute(
      "INSERT INTO invite_tokens (domain, token, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
      {std::string("example.org"), std::string("tok3n"), std::string("admin@example.org"),
       std::int64_t{1700000000}, std::int64_t{1700086400}});
  c.execute("INSERT INTO account_removals (domain, username, removed_at) VALUES (?, ?, ?)",
            {std::string("example.org"), std::string("gone"), std::int64_t{1700000000}});
  // xep/push and push/ tables.
  c.execute(
      "INSERT INTO push_registrations (domain, username, reg_id, service_jid, node, options, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)",
      {std::string("example.org"), std::string("alice"), std::string("0f1e"), std::string("push.example.org"),
       std::string("n0de"), std::string("<x xmlns='jabber:x:data'/>"), std::int64_t{1700000000}});
  c.execute("INSERT INTO push_room_rules (domain, username, room, mode, nick) VALUES (?, ?, ?, ?, ?)",
            {std::string("example.org"), std::string("🦜"), std::string("lobby@muc.example.org"),
             std::string("mentions"), std::string("Polly")});
  c.execute(
      "INSERT INTO push_devices (domain, node, secret, owner, device_id, provider, token, voip_token, topic, "
      "sandbox, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {std::string("push.example.org"), std::string("n0de"), std::string("s3cret"),
       std::string("alice@example.org"), std::string("phone-1"), std::string("apns"), std::string("ab01"),
       std::string(""), std::string("org.example.app"), std::int64_t{1}, std::int64_t{1700000000}});
  // xep/upload.
  c.execute(
      "INSERT INTO upload_files (domain, username, id, filename, size, content_type, created_at, "
      "completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {std::string("example.org"), std::string("🦜"), std::string("0123456789abcdef0123456789abcdef"),
       std::string("photo 🌅.jpg"), std::int64_t{1048576}, std::string("image/jpeg"), std::int64_t{1700000000},
       std::int64_t{1700000005}});
  xep::muc::StoredRoom room;
  room.domain = "muc.example.org";
  room.room = "lobby";
  room.subject = "🎉";
  room.affiliations = {{"alice@example.org", "owner"}};
  xep::muc::MucStore(db).save(room);
  xep::muc::MucArchiveStore roomArchive(db);
  std::vector<xep::muc::RoomArchiveWrite> writes;
  for (int i = 0; i < 3; ++i) {
    xep::muc::RoomArchiveWrite w;
    w.row = {id++,
             "muc.example.org",
             "lobby",
             "Polly 🦜",
             i ? "alice@example.org" : "",
             i ? "phone" : "",
             1700000000000000 + i,
             "<message type='groupchat'><body>" + std::to_string(i) + "</body></message>"};
    writes.push_back(std::move(w));
  }
  roomArchive.apply(writes);
  roomArchive.setVcard("muc.example.org", "lobby", "<vCard xmlns='vcard-temp'><DESC>🎉</DESC></vCard>");
}

using Dump = std::vector<std::vector<Value>>;

Dump dump(Database& db, const schema::TableInfo& table) {
  Dump out;
  for (const Row& r : db.connection().query("SELECT * FROM " + std::string(table.name) + " ORDER BY " +
                                            std::string(table.key))) {
    std::vector<Value> values;
    for (std::size_t i = 0; i < r.size(); ++i) values.push_back(r.value(i));
    out.push_back(std::move(values));
  }
  return out;
}

void expectSameData(Database& a, Database& b) {
  for (const auto& table : schema::kTables) {
    Dump da = dump(a, table), db = dump(b, table);
    EXPECT_FALSE(da.empty()) << table.name << ": the test must fill every table";
    EXPECT_EQ(da.size(), db.size()) << table.name;
    EXPECT_TRUE(da == db) << table.name << " differs";
  }
}

TEST(CopyDatabase, SqliteToSqliteCopiesEveryRow) {
  TempDir dir;
  auto source = openSqlite(dir, "a.db");
  fill(*source);
  auto target = openSqlite(dir, "b.db");
  std::vector<std::string> order;
  auto copied = copyDatabase(*source, *target, 1000, [&](const TableCopied& t) { order.push_back(t.table); });
  ASSERT_EQ(copied.size(), schema::kTables.size());
  EXPECT_EQ(order.front(), "accounts");
  expectSameData(*source, *target);
  // Offline ids go on after the copied ones.
  xep::offline::OfflineStore(*target).push("example.org", "alice", 1, "<new/>", 100);
  EXPECT_EQ(xep::offline::OfflineStore(*target).fetch("example.org", "alice", 100).back().id, 10);
}

TEST(CopyDatabase, RefusesANonEmptyTarget) {
  TempDir dir;
  auto source = openSqlite(dir, "a.db");
  fill(*source);
  auto target = openSqlite(dir, "b.db");
  target->migrate();
  ASSERT_TRUE(AccountStore(*target).create("example.org", "zed", {}));
  try {
    copyDatabase(*source, *target);
    FAIL() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("not empty (accounts has 1 rows)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(AccountStore(*target).count("example.org"), 1);
}

TEST(CopyDatabase, SqliteToMysqlToSqliteRoundTrips) {
  auto server = mysqlTestServer();
  if (!server) GTEST_SKIP() << kMysqlSkipped;
  TempDir dir;
  auto source = openSqlite(dir, "a.db");
  fill(*source);
  ScratchMysqlDatabase scratch(*server);
  auto mysql = openDatabase(scratch.config());
  copyDatabase(*source, *mysql, 1000);
  expectSameData(*source, *mysql);
  auto back = openSqlite(dir, "c.db");
  copyDatabase(*mysql, *back, 700);
  expectSameData(*source, *back);
}

// Every table of a migrated database is in schema::kTables (so migrate copies it) with a real key.
TEST_P(StorageConformance, TableListIsComplete) {
  std::vector<Row> rows =
      db().engine() == Engine::Sqlite
          ? db().connection().query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY "
                "name")
          : db().connection().query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY "
                "table_name");
  std::set<std::string> listed;
  for (const auto& t : schema::kTables) {
    listed.insert(std::string(t.name));
    EXPECT_NO_THROW(db().connection().query("SELECT " + std::string(t.key) + " FROM " + std::string(t.name)))
        << t.name;
  }
  for (const Row& r : rows) {
    if (r.getText(0) == "schema_version") continue;
    EXPECT_TRUE(listed.count(r.getText(0))) << r.getText(0) << " is missing from schema::kTables";
  }
  EXPECT_EQ(rows.size(), schema::kTables.size() + 1);
}

}  // namespace
}  // namespace parley::storage::testing
