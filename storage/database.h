// DESIGN: the blocking SQL layer. Everything here blocks and must run on the blocking pool
// (PARLEY_ASSERT_MAY_BLOCK). A Database hands each calling thread its own Connection (SQLite: one
// connection per pool thread in WAL mode; MySQL later: a pooled connection), so stores never share a
// connection across threads. Stores are written once in portable SQL with `?` placeholders; the few
// differences between engines (upsert syntax, types in DDL) go through Dialect.
// Failures throw StorageError; the blocking pool catches it at the job boundary and turns it into an
// error value for the network thread that asked.
// Transactions nest: an inner begin() opens a savepoint, so a store method that uses transaction() can
// run inside a caller's transaction. A server engine may abort a whole transaction on its own (MySQL:
// deadlock victim, connection lost mid-transaction); it then throws TransactionAborted and
// Database::transaction runs the outermost level again, so a transaction's function may run more than
// once and must keep its effects inside the connection (locals declared in the lambda are fine).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace parley::storage {

class StorageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A statement broke a PRIMARY KEY or UNIQUE constraint (a row with that key exists). Thrown by every
// engine, so stores can treat "already exists" portably; the transaction is still usable.
class DuplicateKey : public StorageError {
 public:
  using StorageError::StorageError;
};

// The engine rolled back the whole transaction by itself (deadlock victim, connection lost before
// COMMIT); nothing of it was written. Database::transaction retries the outermost level a few times
// before letting it escape.
class TransactionAborted : public StorageError {
 public:
  using StorageError::StorageError;
};

enum class Engine { Sqlite, Mysql };

// Raw bytes for a BLOB column (SCRAM salts and keys). std::string binds as TEXT, which engines compare
// and collate as characters, so binary data says so explicitly. Reading a BLOB column yields a Blob.
struct Blob {
  std::string bytes;
  friend bool operator==(const Blob&, const Blob&) = default;
};

// A bound parameter or a column value.
using Value = std::variant<std::nullptr_t, std::int64_t, std::string, Blob>;

class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  std::size_t size() const { return values_.size(); }
  bool isNull(std::size_t i) const { return std::holds_alternative<std::nullptr_t>(values_.at(i)); }
  // Reading a column as the wrong type (text as integer, integer as text) throws StorageError.
  std::int64_t getInt(std::size_t i) const;         // NULL reads as 0
  const std::string& getText(std::size_t i) const;  // NULL reads as ""; blobs are bytes
  std::optional<std::string> getOptText(std::size_t i) const;
  std::optional<std::int64_t> getOptInt(std::size_t i) const;
  const Value& value(std::size_t i) const { return values_.at(i); }

 private:
  std::vector<Value> values_;
};

class Connection {
 public:
  virtual ~Connection() = default;
  // Runs a statement and returns every row (statements are prepared once per connection and cached).
  virtual std::vector<Row> query(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  // Runs a statement; returns the number of rows changed (an UPDATE counts every row it matched, even
  // if the value was already the same: MySQL must connect with CLIENT_FOUND_ROWS to agree).
  virtual std::int64_t execute(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  virtual std::int64_t lastInsertId() = 0;
  // Runs several statements without parameters (migrations).
  virtual void executeScript(std::string_view sql) = 0;
  // begin() inside a transaction opens a savepoint; commit()/rollback() end the innermost level.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;  // never throws for "no transaction active"
  // Open levels: 0 outside a transaction, 1 in one, more inside savepoints.
  virtual int transactionDepth() const = 0;
};

// Engine differences the shared SQL needs.
struct Dialect {
  Engine engine;
  // "INSERT … ON CONFLICT(cols) DO UPDATE SET" vs "INSERT … ON DUPLICATE KEY UPDATE": the stores
  // build upserts through this helper: upsert("t", {"a","b","v"}, {"a","b"}, {"v"}). With no update
  // columns an existing row is left as it is.
  std::string upsert(std::string_view table, const std::vector<std::string>& columns,
                     const std::vector<std::string>& keyColumns,
                     const std::vector<std::string>& updateColumns) const;
};

class Database {
 public:
  virtual ~Database() = default;
  virtual Engine engine() const = 0;
  const Dialect& dialect() const { return dialect_; }
  // This thread's connection (opened on first use). Blocking.
  virtual Connection& connection() = 0;
  // Applies pending schema migrations; throws StorageError when the schema is newer than this build.
  virtual void migrate() = 0;
  virtual int schemaVersion() = 0;

  // Runs fn inside a transaction on this thread's connection; rolls back if fn throws. On SQLite this
  // takes the write lock at once (BEGIN IMMEDIATE), so use it for writes, not for plain reads.
  // TransactionAborted from the outermost level runs fn again (at most kTransactionAttempts times).
  template <class F>
  auto transaction(F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    Connection& c = connection();
    const bool outermost = c.transactionDepth() == 0;
    for (int attempt = 1;; ++attempt) {
      c.begin();
      try {
        if constexpr (std::is_void_v<decltype(fn(c))>) {
          fn(c);
          c.commit();
          return;
        } else {
          auto result = fn(c);
          c.commit();
          return result;
        }
      } catch (const TransactionAborted&) {
        rollbackQuietly(c);
        if (!outermost || attempt >= kTransactionAttempts) throw;
        backoffBeforeRetry(attempt);
      } catch (...) {
        rollbackQuietly(c);
        throw;
      }
    }
  }

  static constexpr int kTransactionAttempts = 8;

 protected:
  explicit Database(Dialect d) : dialect_(std::move(d)) {}

 private:
  // The original error is the one worth reporting; a failed rollback leaves nothing to add.
  static void rollbackQuietly(Connection& c) noexcept {
    try {
      c.rollback();
    } catch (...) {
    }
  }
  // Sleeps a random 0..2^attempt ms (capped), so two deadlocked writers do not collide again.
  static void backoffBeforeRetry(int attempt);

 private:
  Dialect dialect_;
};

struct StorageConfig {
  std::string backend = "sqlite";
  std::string sqlitePath = "data/parley.db";
  int busyTimeoutMs = 5000;
  // SQLite durability: "normal" (a commit survives a crash of the process; the last ones may be lost on
  // power loss) or "full" (fsync at every commit: survives power loss, slower writes).
  std::string sqliteSynchronous = "normal";

  // MySQL/MariaDB ([storage] backend = "mysql"). A non-empty socket is used instead of host and port.
  // Each blocking-pool thread holds one connection (so at most [server] blocking_threads, plus one
  // while starting); busyTimeoutMs also bounds InnoDB row-lock waits (innodb_lock_wait_timeout).
  std::string mysqlHost = "127.0.0.1";
  int mysqlPort = 3306;
  std::string mysqlSocket;
  std::string mysqlUser = "parley";
  std::string mysqlPassword;
  std::string mysqlDatabase = "parley";
  int mysqlConnectTimeoutS = 10;
};

// Opens the configured backend (does not migrate). Throws StorageError with a clear message.
std::unique_ptr<Database> openDatabase(const StorageConfig& config);

}  // namespace parley::storage
