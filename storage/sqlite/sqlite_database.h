// DESIGN: the SQLite backend of storage::Database.
//
// Threads: blocking pool only (every entry point asserts PARLEY_ASSERT_MAY_BLOCK). Each calling thread
// gets its own sqlite3 connection, opened on first use with SQLITE_OPEN_NOMUTEX: a connection is never
// shared, so SQLite's per-connection mutex would only cost time (storage/per_thread_connections.h).
//
// Lifetime: the destructor closes every connection. It must run after the pools that use the database
// have drained (ARCHITECTURE "Ordered lifecycle": pools drained → storage closed); using a database
// while it is being destroyed is a bug. Connections of threads that exited stay open until then (the
// blocking pool's threads live as long as the server, so this is a handful of connections).
//
// Concurrency between connections: WAL mode, so readers never block the writer or each other. Writes
// take the write lock up front (BEGIN IMMEDIATE): a deferred transaction that reads and then writes can
// fail with SQLITE_BUSY without waiting, because upgrading could deadlock. Lock waits are bounded by
// StorageConfig::busyTimeoutMs.
//
// Durability: journal_mode=WAL with synchronous=NORMAL. A committed transaction survives a crash of
// parleyd; on power loss or an OS crash the last transactions before the crash may be lost (the
// database stays consistent). synchronous=FULL would close that window at one fsync per commit; it
// should become a config option (TODO) for deployments that need XEP-0198 acks to survive power loss.
//
// Files: the database file is created with mode 0600 (SQLite gives its -wal and -shm files the same
// mode), and missing parent directories are created with mode 0700.
//
// Statements: each connection prepares a statement once per SQL text and keeps it; after each use it is
// reset and its bindings cleared, so parameters never leak between calls and no read stays open.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/database.h"
#include "storage/per_thread_connections.h"

namespace parley::storage {

class SqliteConnection;

class SqliteDatabase final : public Database {
 public:
  // Opens (creating if needed) the database file and this thread's connection; throws StorageError.
  explicit SqliteDatabase(const StorageConfig& config);
  ~SqliteDatabase() override;
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  Engine engine() const override { return Engine::Sqlite; }
  Connection& connection() override;
  void migrate() override;
  int schemaVersion() override;

  const std::string& path() const { return path_; }
  // Open connections, one per thread that has used this database (for tests and metrics).
  std::size_t connectionCount() const;

 private:
  const std::string path_;
  const int busyTimeoutMs_;
  const std::string synchronous_;
  PerThreadConnections connections_;  // last: closed first
};

}  // namespace parley::storage
