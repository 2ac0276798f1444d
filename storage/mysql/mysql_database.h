// DESIGN: the MySQL/MariaDB backend of storage::Database, over MySQL Connector/C++ 1.1 (the JDBC-style
// API: sql::mysql::MySQL_Driver, sql::Connection, sql::PreparedStatement, sql::ResultSet).
//
// Pool: one server connection per calling thread, opened on first use and kept for the life of the
// Database. Storage only runs on the blocking pool, so the pool of connections is the blocking pool:
// [server] blocking_threads connections (plus the thread that opened the database and ran the
// migrations). Size MariaDB's max_connections for blocking_threads + 1 per parleyd/parleyctl process.
// Connections are kept per thread exactly like the SQLite backend's (storage/per_thread_connections.h).
//
// Statements: each connection prepares a statement once per SQL text (server-side prepared
// statements, `?` placeholders) and keeps it; parameters are cleared after each use.
//
// Session settings at connect: CLIENT_FOUND_ROWS (an UPDATE counts the rows it matched, as SQLite
// does), character set utf8mb4 (4-byte UTF-8, emoji included), strict SQL mode (too-long or invalid
// values are errors, never silently truncated), READ COMMITTED, innodb_lock_wait_timeout from
// StorageConfig::busyTimeoutMs.
//
// Transactions: Database::transaction is for writes (on SQLite it takes the write lock at once). Here,
// every SELECT run inside a transaction gets FOR UPDATE appended: the rows a transaction read stay
// locked until it commits, so "count the user's messages, then insert under the cap" cannot overshoot
// (a second writer waits on the first row the first one read, then counts its insert too). READ
// COMMITTED because REPEATABLE READ's gap locks made writers of neighbouring users (adjacent index
// ranges) deadlock each other continuously under load; with record locks only, deadlocks are rare,
// and the ones InnoDB still finds (error 1213) abort one transaction, which Database::transaction runs
// again. Without gap locks, rows that do not exist yet are not locked: two transactions that both
// find nothing may both insert (for the offline cap: a user with no stored message can get one per
// concurrent writer past a cap of 1). Reads outside transactions are plain consistent reads.
//
// Failures: SQL errors throw StorageError("mysql: <server message> (error N) in \"<sql>\""), error 1062
// throws DuplicateKey, a deadlock (1213) TransactionAborted. A lost connection (2006, 2013, …) is
// replaced by a new one; outside a transaction the statement is run again once on it (every
// autocommit statement the stores issue outside transactions is idempotent: upserts, updates,
// deletes, reads); inside a transaction the server has rolled everything back, so the level throws
// TransactionAborted and Database::transaction runs the transaction again from its start. A
// connection lost during COMMIT leaves the outcome unknown and is reported as a plain StorageError.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/database.h"
#include "storage/per_thread_connections.h"

namespace parley::storage {

class MysqlConnection;

class MysqlDatabase final : public Database {
 public:
  // Connects this thread (so an unreachable server or bad credentials fail here, with a clear
  // message); throws StorageError.
  explicit MysqlDatabase(const StorageConfig& config);
  ~MysqlDatabase() override;
  MysqlDatabase(const MysqlDatabase&) = delete;
  MysqlDatabase& operator=(const MysqlDatabase&) = delete;

  Engine engine() const override { return Engine::Mysql; }
  Connection& connection() override;
  void migrate() override;
  int schemaVersion() override;

  // Open connections, one per thread that has used this database (for tests and metrics).
  std::size_t connectionCount() const;
  // "user@host:port/database" or "user@unix:socket/database", for messages (never the password).
  const std::string& describe() const { return description_; }

 private:
  const StorageConfig config_;
  const std::string description_;
  PerThreadConnections connections_;  // last: closed first (they refer to config_)
};

}  // namespace parley::storage
