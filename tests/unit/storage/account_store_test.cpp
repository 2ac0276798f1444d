#include "storage/account_store.h"

#include "storage/roster_store.h"
#include "storage/schema/schema.h"
#include "storage/user_data_store.h"
#include "storage_conformance.h"
#include "xep/mam/archive_store.h"
#include "xep/offline/offline_store.h"
#include "xep/pep/pep_store.h"

namespace parley::storage::testing {
namespace {

using util::HashAlg;
using util::ScramCredential;

// Raw bytes as stored: NULs and high bytes included on purpose.
ScramCredential credential(HashAlg alg, char seed) {
  ScramCredential c;
  c.alg = alg;
  c.salt = std::string("\0salt\xff", 6) + seed;
  c.iterations = 4096;
  c.storedKey = std::string(util::hashSize(alg), seed);
  c.storedKey[0] = '\0';
  c.serverKey = std::string(util::hashSize(alg), static_cast<char>(seed ^ 0x80));
  return c;
}

void expectSame(const ScramCredential& a, const ScramCredential& b) {
  EXPECT_EQ(a.alg, b.alg);
  EXPECT_EQ(a.salt, b.salt);
  EXPECT_EQ(a.iterations, b.iterations);
  EXPECT_EQ(a.storedKey, b.storedKey);
  EXPECT_EQ(a.serverKey, b.serverKey);
}

TEST_P(StorageConformance, AccountCreateAndCredentials) {
  AccountStore accounts(db());
  std::vector<ScramCredential> creds = {credential(HashAlg::Sha1, 'a'), credential(HashAlg::Sha256, 'b'),
                                        credential(HashAlg::Sha512, 'c')};
  creds[2].iterations = 0xFFFFFFFFu;  // the full uint32 range survives
  EXPECT_FALSE(accounts.exists("example.org", "alice"));
  ASSERT_TRUE(accounts.create("example.org", "alice", creds));
  EXPECT_TRUE(accounts.exists("example.org", "alice"));
  for (const auto& c : creds) {
    auto stored = accounts.credential("example.org", "alice", c.alg);
    ASSERT_TRUE(stored.has_value());
    expectSame(*stored, c);
  }
  EXPECT_FALSE(accounts.isDisabled("example.org", "alice"));
}

TEST_P(StorageConformance, AccountDuplicateCreateKeepsTheOriginal) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", "alice", {credential(HashAlg::Sha256, 'a')}));
  EXPECT_FALSE(accounts.create("example.org", "alice", {credential(HashAlg::Sha256, 'z')}));
  expectSame(*accounts.credential("example.org", "alice", HashAlg::Sha256), credential(HashAlg::Sha256, 'a'));
  EXPECT_EQ(accounts.count("example.org"), 1);
}

TEST_P(StorageConformance, AccountRepeatedHashIsRejected) {
  AccountStore accounts(db());
  EXPECT_THROW(accounts.create("example.org", "alice",
                               {credential(HashAlg::Sha256, 'a'), credential(HashAlg::Sha256, 'b')}),
               StorageError);
  EXPECT_FALSE(accounts.exists("example.org", "alice"));  // rolled back as a whole
}

TEST_P(StorageConformance, AccountMissingRows) {
  AccountStore accounts(db());
  EXPECT_FALSE(accounts.exists("example.org", "nobody"));
  EXPECT_EQ(accounts.credential("example.org", "nobody", HashAlg::Sha256), std::nullopt);
  EXPECT_FALSE(accounts.remove("example.org", "nobody"));
  EXPECT_FALSE(accounts.setCredentials("example.org", "nobody", {credential(HashAlg::Sha256, 'a')}));
  EXPECT_FALSE(accounts.exists("example.org", "nobody"));
  EXPECT_FALSE(accounts.setDisabled("example.org", "nobody", true));
  EXPECT_FALSE(accounts.isDisabled("example.org", "nobody"));
  accounts.setLastLogin("example.org", "nobody", 5);
  accounts.setLastLogout("example.org", "nobody", {6, "bye"});
  EXPECT_EQ(accounts.lastLogin("example.org", "nobody"), std::nullopt);
  EXPECT_EQ(accounts.lastLogout("example.org", "nobody"), std::nullopt);
  EXPECT_FALSE(accounts.exists("example.org", "nobody"));
  EXPECT_TRUE(accounts.list("example.org").empty());
  EXPECT_EQ(accounts.count("example.org"), 0);
}

TEST_P(StorageConformance, AccountWithoutCredentialOfAHash) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", "alice", {credential(HashAlg::Sha256, 'a')}));
  EXPECT_EQ(accounts.credential("example.org", "alice", HashAlg::Sha1), std::nullopt);
  ASSERT_TRUE(accounts.create("example.org", "nocreds", {}));
  EXPECT_TRUE(accounts.exists("example.org", "nocreds"));
  EXPECT_EQ(accounts.credential("example.org", "nocreds", HashAlg::Sha256), std::nullopt);
}

TEST_P(StorageConformance, AccountSetCredentialsReplacesAll) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", "alice",
                              {credential(HashAlg::Sha1, 'a'), credential(HashAlg::Sha256, 'a')}));
  ASSERT_TRUE(accounts.setCredentials("example.org", "alice",
                                      {credential(HashAlg::Sha256, 'n'), credential(HashAlg::Sha512, 'n')}));
  EXPECT_EQ(accounts.credential("example.org", "alice", HashAlg::Sha1), std::nullopt);
  expectSame(*accounts.credential("example.org", "alice", HashAlg::Sha256), credential(HashAlg::Sha256, 'n'));
  expectSame(*accounts.credential("example.org", "alice", HashAlg::Sha512), credential(HashAlg::Sha512, 'n'));
}

TEST_P(StorageConformance, AccountListIsSortedAndPerDomain) {
  AccountStore accounts(db());
  for (const char* user : {"zoe", "alice", "émile", "bob", "用户", "🦜"}) {
    ASSERT_TRUE(accounts.create("example.org", user, {credential(HashAlg::Sha256, 'a')}));
  }
  ASSERT_TRUE(accounts.create("other.example", "alice", {credential(HashAlg::Sha256, 'b')}));
  // Code point order (= byte order of UTF-8).
  std::vector<std::string> expected = {"alice", "bob", "zoe", "émile", "用户", "🦜"};
  EXPECT_EQ(accounts.list("example.org"), expected);
  EXPECT_EQ(accounts.count("example.org"), 6);
  EXPECT_EQ(accounts.list("other.example"), std::vector<std::string>{"alice"});
  EXPECT_EQ(accounts.count("other.example"), 1);
  EXPECT_EQ(accounts.count("nowhere.example"), 0);
  // The same username in another domain is another account.
  expectSame(*accounts.credential("other.example", "alice", HashAlg::Sha256),
             credential(HashAlg::Sha256, 'b'));
  expectSame(*accounts.credential("example.org", "alice", HashAlg::Sha256), credential(HashAlg::Sha256, 'a'));
}

TEST_P(StorageConformance, AccountNamesAreExact) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", "Alice", {}));
  // JIDs are normalised before they reach storage, so storage compares bytes: no case folding.
  EXPECT_FALSE(accounts.exists("example.org", "alice"));
  EXPECT_FALSE(accounts.exists("example.org", "Alice "));
  ASSERT_TRUE(accounts.create("example.org", "", {}));  // storage does not judge names
  EXPECT_TRUE(accounts.exists("example.org", ""));
}

TEST_P(StorageConformance, AccountDisabled) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", "alice", {}));
  EXPECT_TRUE(accounts.setDisabled("example.org", "alice", true));
  EXPECT_TRUE(accounts.isDisabled("example.org", "alice"));
  EXPECT_TRUE(accounts.setDisabled("example.org", "alice", true));  // already disabled: still "exists"
  EXPECT_TRUE(accounts.setDisabled("example.org", "alice", false));
  EXPECT_FALSE(accounts.isDisabled("example.org", "alice"));
}

// A login reads the credential and the disabled flag in one query.
TEST_P(StorageConformance, LoginCredentialCarriesTheDisabledFlag) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", "alice", {credential(HashAlg::Sha256, 'a')}));
  auto c = accounts.loginCredential("example.org", "alice", HashAlg::Sha256);
  ASSERT_TRUE(c.has_value());
  expectSame(c->credential, credential(HashAlg::Sha256, 'a'));
  EXPECT_FALSE(c->disabled);
  ASSERT_TRUE(accounts.setDisabled("example.org", "alice", true));
  c = accounts.loginCredential("example.org", "alice", HashAlg::Sha256);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->disabled);
  EXPECT_EQ(accounts.loginCredential("example.org", "alice", HashAlg::Sha1), std::nullopt);
  EXPECT_EQ(accounts.loginCredential("example.org", "nobody", HashAlg::Sha256), std::nullopt);
}

TEST_P(StorageConformance, AccountLastActivity) {
  AccountStore accounts(db());
  ASSERT_TRUE(accounts.create("example.org", "alice", {}));
  EXPECT_EQ(accounts.lastLogin("example.org", "alice"), std::nullopt);
  EXPECT_EQ(accounts.lastLogout("example.org", "alice"), std::nullopt);
  accounts.setLastLogin("example.org", "alice", 1700000000);
  EXPECT_EQ(accounts.lastLogin("example.org", "alice"), 1700000000);
  accounts.setLastLogout("example.org", "alice", {1700000100, "Gone fishing 🎣"});
  auto last = accounts.lastLogout("example.org", "alice");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->when, 1700000100);
  EXPECT_EQ(last->status, "Gone fishing 🎣");
  accounts.setLastLogout("example.org", "alice", {1700000200, ""});
  EXPECT_EQ(accounts.lastLogout("example.org", "alice")->status, "");
  EXPECT_EQ(accounts.lastLogin("example.org", "alice"), 1700000000);  // untouched
}

// Fills every per-user table for one user.
void fillUser(Database& db, std::string_view domain, std::string_view user) {
  AccountStore(db).create(domain, user, {credential(HashAlg::Sha256, 'x')});
  RosterItem item;
  item.contact = "friend@example.net";
  RosterStore(db).put(domain, user, item);
  UserDataStore(db).set(domain, user, "vcard", "", "<vCard/>");
  // xep/admin: the MOTD version seen, a pending parleyctl deletion journal row.
  db.connection().execute("INSERT INTO motd_seen (domain, username, version) VALUES (?, ?, 1)",
                          {std::string(domain), std::string(user)});
  db.connection().execute("INSERT INTO account_removals (domain, username, removed_at) VALUES (?, ?, 1)",
                          {std::string(domain), std::string(user)});
  // xep/push: a registration and a room rule; xep/pep: a node with an item.
  db.connection().execute(
      "INSERT INTO push_registrations (domain, username, reg_id, service_jid, created_at) VALUES (?, ?, 'r', "
      "'p', 1)",
      {std::string(domain), std::string(user)});
  db.connection().execute(
      "INSERT INTO push_room_rules (domain, username, room, mode) VALUES (?, ?, 'r@muc', 'never')",
      {std::string(domain), std::string(user)});
  db.connection().execute(
      "INSERT INTO upload_files (domain, username, id, filename, size, content_type, created_at) "
      "VALUES (?, ?, ?, 'f.jpg', 1, 'image/jpeg', 1)",
      {std::string(domain), std::string(user), std::string(domain) + "/" + std::string(user)});
  xep::pep::PepStore pep(db);
  pep.createNode(domain, user, "urn:xmpp:avatar:metadata", "", 1);
  pep.publish(domain, user, "urn:xmpp:avatar:metadata", {"current", "", 1, "<metadata/>"}, 1);
  xep::offline::OfflineStore(db).push(domain, user, 1, "<message/>", 10);
  xep::mam::ArchiveStore archive(db);
  xep::mam::ArchiveRow row;
  row.id = archive.maxId() + 1;
  row.domain = domain;
  row.user = user;
  row.with = "friend@example.net";
  row.xml = "<message/>";
  archive.append({row});
  archive.index(row.id);  // into mam_index too
  archive.setPrefs(domain, user, xep::mam::ArchivePrefs{});
}

std::int64_t rowsOf(Database& db, std::string_view table, std::string_view domain, std::string_view user) {
  return db.connection()
      .query("SELECT COUNT(*) FROM " + std::string(table) + " WHERE domain = ? AND username = ?",
             {std::string(domain), std::string(user)})[0]
      .getInt(0);
}

TEST_P(StorageConformance, AccountRemoveDeletesEveryUserTableButOnlyForThatUser) {
  fillUser(db(), "example.org", "alice");
  fillUser(db(), "example.org", "bob");
  fillUser(db(), "other.example", "alice");
  for (std::string_view table : schema::kUserTables) {
    ASSERT_EQ(rowsOf(db(), table, "example.org", "alice"), 1) << table << ": fillUser must fill every table";
  }
  AccountStore accounts(db());
  EXPECT_TRUE(accounts.remove("example.org", "alice"));
  for (std::string_view table : schema::kUserTables) {
    EXPECT_EQ(rowsOf(db(), table, "example.org", "alice"), 0) << table;
    EXPECT_EQ(rowsOf(db(), table, "example.org", "bob"), 1) << table;
    EXPECT_EQ(rowsOf(db(), table, "other.example", "alice"), 1) << table;
  }
  EXPECT_FALSE(accounts.remove("example.org", "alice"));
  // The name can be registered again, starting empty.
  EXPECT_TRUE(accounts.create("example.org", "alice", {}));
  EXPECT_TRUE(RosterStore(db()).load("example.org", "alice").empty());
}

}  // namespace
}  // namespace parley::storage::testing
