#include "storage/account_store.h"

#include <chrono>

#include <fmt/format.h>

#include "storage/schema/schema.h"

namespace parley::storage {
namespace {

std::int64_t nowSeconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

Value text(std::string_view s) {
  return std::string(s);
}

bool accountExists(Connection& c, std::string_view domain, std::string_view user) {
  return !c.query("SELECT 1 FROM accounts WHERE domain = ? AND username = ?", {text(domain), text(user)})
              .empty();
}

void insertCredentials(Connection& c, std::string_view domain, std::string_view user,
                       const std::vector<util::ScramCredential>& credentials) {
  // A repeated hash would hit the primary key and read as "account exists"; it is a caller bug.
  for (std::size_t i = 0; i < credentials.size(); ++i) {
    for (std::size_t j = i + 1; j < credentials.size(); ++j) {
      if (credentials[i].alg == credentials[j].alg) {
        throw StorageError(fmt::format("two credentials for {}", util::hashName(credentials[i].alg)));
      }
    }
  }
  for (const auto& cred : credentials) {
    c.execute(
        "INSERT INTO scram_credentials (domain, username, hash, salt, iterations, stored_key, server_key) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        {text(domain), text(user), text(util::hashName(cred.alg)), Blob{cred.salt},
         std::int64_t{cred.iterations}, Blob{cred.storedKey}, Blob{cred.serverKey}});
  }
}

}  // namespace

bool AccountStore::create(std::string_view domain, std::string_view user,
                          const std::vector<util::ScramCredential>& credentials) {
  return db_.transaction([&](Connection& c) {
    try {
      c.execute("INSERT INTO accounts (domain, username, created_at) VALUES (?, ?, ?)",
                {text(domain), text(user), nowSeconds()});
    } catch (const DuplicateKey&) {
      return false;  // nothing written yet; committing the empty transaction is harmless
    }
    insertCredentials(c, domain, user, credentials);
    return true;
  });
}

bool AccountStore::remove(std::string_view domain, std::string_view user) {
  return db_.transaction([&](Connection& c) {
    if (!accountExists(c, domain, user)) return false;
    for (std::string_view table : schema::kUserTables) deleteUserRows(db_, c, table, domain, user);
    return true;
  });
}

bool AccountStore::setCredentials(std::string_view domain, std::string_view user,
                                  const std::vector<util::ScramCredential>& credentials) {
  return db_.transaction([&](Connection& c) {
    if (!accountExists(c, domain, user)) return false;
    c.execute("DELETE FROM scram_credentials WHERE domain = ? AND username = ?", {text(domain), text(user)});
    insertCredentials(c, domain, user, credentials);
    return true;
  });
}

std::optional<util::ScramCredential> AccountStore::credential(std::string_view domain, std::string_view user,
                                                              util::HashAlg alg) {
  auto c = loginCredential(domain, user, alg);
  if (!c) return std::nullopt;
  return std::move(c->credential);
}

std::optional<AccountStore::LoginCredential> AccountStore::loginCredential(std::string_view domain,
                                                                           std::string_view user,
                                                                           util::HashAlg alg) {
  auto rows = db_.connection().query(
      "SELECT c.salt, c.iterations, c.stored_key, c.server_key, a.disabled FROM scram_credentials c "
      "JOIN accounts a ON a.domain = c.domain AND a.username = c.username "
      "WHERE c.domain = ? AND c.username = ? AND c.hash = ?",
      {text(domain), text(user), text(util::hashName(alg))});
  if (rows.empty()) return std::nullopt;
  const Row& r = rows[0];
  LoginCredential out;
  out.credential.alg = alg;
  out.credential.salt = r.getText(0);
  out.credential.iterations = static_cast<std::uint32_t>(r.getInt(1));
  out.credential.storedKey = r.getText(2);
  out.credential.serverKey = r.getText(3);
  out.disabled = r.getInt(4) != 0;
  return out;
}

bool AccountStore::exists(std::string_view domain, std::string_view user) {
  return accountExists(db_.connection(), domain, user);
}

std::vector<std::string> AccountStore::list(std::string_view domain) {
  // Binary order of UTF-8 is code point order, the same as sorting the std::strings.
  auto rows = db_.connection().query("SELECT username FROM accounts WHERE domain = ? ORDER BY username",
                                     {text(domain)});
  std::vector<std::string> users;
  users.reserve(rows.size());
  for (const Row& r : rows) users.push_back(r.getText(0));
  return users;
}

std::int64_t AccountStore::count(std::string_view domain) {
  return db_.connection().query("SELECT COUNT(*) FROM accounts WHERE domain = ?", {text(domain)})[0].getInt(
      0);
}

bool AccountStore::setDisabled(std::string_view domain, std::string_view user, bool disabled) {
  return db_.connection().execute("UPDATE accounts SET disabled = ? WHERE domain = ? AND username = ?",
                                  {std::int64_t{disabled}, text(domain), text(user)}) > 0;
}

bool AccountStore::isDisabled(std::string_view domain, std::string_view user) {
  auto rows = db_.connection().query("SELECT disabled FROM accounts WHERE domain = ? AND username = ?",
                                     {text(domain), text(user)});
  return !rows.empty() && rows[0].getInt(0) != 0;
}

void AccountStore::setLastLogin(std::string_view domain, std::string_view user, std::int64_t when) {
  db_.connection().execute("UPDATE accounts SET last_login = ? WHERE domain = ? AND username = ?",
                           {when, text(domain), text(user)});
}

std::optional<std::int64_t> AccountStore::lastLogin(std::string_view domain, std::string_view user) {
  auto rows = db_.connection().query("SELECT last_login FROM accounts WHERE domain = ? AND username = ?",
                                     {text(domain), text(user)});
  if (rows.empty()) return std::nullopt;
  return rows[0].getOptInt(0);
}

void AccountStore::setLastLogout(std::string_view domain, std::string_view user, const LastActivity& last) {
  db_.connection().execute(
      "UPDATE accounts SET last_logout = ?, last_status = ? WHERE domain = ? AND username = ?",
      {last.when, last.status, text(domain), text(user)});
}

std::optional<LastActivity> AccountStore::lastLogout(std::string_view domain, std::string_view user) {
  auto rows = db_.connection().query(
      "SELECT last_logout, last_status FROM accounts WHERE domain = ? AND username = ?",
      {text(domain), text(user)});
  if (rows.empty() || rows[0].isNull(0)) return std::nullopt;
  return LastActivity{rows[0].getInt(0), rows[0].getText(1)};
}

void deleteUserRows(Database& db, Connection& c, std::string_view table, std::string_view domain,
                    std::string_view user) {
  if (table == "mam_messages") {
    const std::int64_t indexedTo =
        c.query("SELECT COALESCE(MAX(indexed_to), 0) FROM mam_index_state")[0].getInt(0);
    c.execute("DELETE FROM mam_messages WHERE id > ? AND domain = ? AND username = ?",
              {indexedTo, text(domain), text(user)});
    // MariaDB 10.11 runs a single-table DELETE's IN subquery once per row of the table: the
    // multiple-table form joins instead.
    c.execute(db.engine() == Engine::Mysql ? "DELETE m FROM mam_messages m JOIN mam_index i ON m.id = i.id "
                                             "WHERE i.domain = ? AND i.username = ?"
                                           : "DELETE FROM mam_messages WHERE id IN (SELECT id FROM mam_index "
                                             "WHERE domain = ? AND username = ?)",
              {text(domain), text(user)});
    return;
  }
  c.execute(fmt::format("DELETE FROM {} WHERE domain = ? AND username = ?", table),
            {text(domain), text(user)});
}

}  // namespace parley::storage
