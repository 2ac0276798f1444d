#include "storage/sqlite/sqlite_database.h"

#include <cerrno>
#include <filesystem>
#include <functional>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/util/thread_role.h"
#include "storage/schema/schema.h"

// STRICT tables (schema/sqlite_migrations.cpp) and sqlite3_changes64 need SQLite 3.37 (Debian 12 has 3.40).
static_assert(SQLITE_VERSION_NUMBER >= 3037000, "parley needs SQLite 3.37 or newer");

namespace parley::storage {
namespace {

constexpr int kMinSqliteVersion = 3037000;

// SQL is compiled into the code, so the cache is small; a runaway caller building SQL text from data
// must not grow it without bound.
constexpr std::size_t kMaxCachedStatements = 256;
constexpr std::size_t kSqlInErrors = 80;
constexpr int kWalCheckpointPages = 8192;

std::string sqlExcerpt(std::string_view sql) {
  if (sql.size() <= kSqlInErrors) return std::string(sql);
  return std::string(sql.substr(0, kSqlInErrors)) + "…";
}

// Throws the error the connection just reported; call before anything else touches the connection.
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view sql) {
  std::string message =
      fmt::format("sqlite: {} (code {}) in \"{}\"", sqlite3_errmsg(db), rc, sqlExcerpt(sql));
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) throw DuplicateKey(message);
  throw StorageError(message);
}

struct TransparentHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Resets a statement and clears its bindings however the call ends: the next user starts clean and
// no read transaction stays open behind a half-stepped SELECT.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StatementUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// Creates the missing parent directories of `path`, outermost first, private to the server user.
void createParentDirectories(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path dir = fs::path(path).parent_path(); !dir.empty(); dir = dir.parent_path()) {
    if (fs::exists(dir, ec)) break;
    missing.push_back(dir);
    if (dir == dir.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      throw StorageError(fmt::format("cannot create directory \"{}\" for the sqlite database: {}",
                                     it->string(),
                                     std::error_code(errno, std::generic_category()).message()));
    }
  }
}

// SQLite would create the file with 0644 (minus umask); the database holds credentials and messages,
// so create it ourselves, owner-only. An existing file keeps the mode the administrator gave it.
void createDatabaseFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  if (errno == EEXIST) return;
  throw StorageError(fmt::format("cannot create sqlite database \"{}\": {}", path,
                                 std::error_code(errno, std::generic_category()).message()));
}

}  // namespace

// One thread's connection. Not thread-safe by design: only its own thread ever touches it.
class SqliteConnection final : public Connection {
 public:
  SqliteConnection(const std::string& path, int busyTimeoutMs, const std::string& synchronous) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw StorageError(fmt::format("cannot open sqlite database \"{}\": {}", path, message));
    }
    try {
      sqlite3_extended_result_codes(db_, 1);
      sqlite3_busy_timeout(db_, busyTimeoutMs);
      // journal_mode answers with the mode it ended up in; a file system without shared memory
      // support (some network mounts) silently stays in "delete" mode.
      auto mode = query("PRAGMA journal_mode=WAL", {});
      if (mode.size() != 1 || mode[0].getText(0) != "wal") {
        throw StorageError(fmt::format("sqlite database \"{}\": cannot enable WAL journal mode", path));
      }
      executeScript(synchronous == "full" ? "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                                          : "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
      // Checkpoint the WAL every kWalCheckpointPages pages rather than SQLite's 1,000: an archive
      // write dirties index pages all over the file, and the longer the interval, the more rewrites
      // of the same page one checkpoint copies (and syncs) once. The WAL file grows to about 32 MiB.
      query(fmt::format("PRAGMA wal_autocheckpoint={}", kWalCheckpointPages), {});
    } catch (...) {
      close();
      throw;
    }
  }

  ~SqliteConnection() override { close(); }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  std::vector<Row> query(std::string_view sql, const std::vector<Value>& params) override {
    PARLEY_ASSERT_MAY_BLOCK();
    sqlite3_stmt* stmt = prepare(sql);
    StatementUse use(stmt);
    bind(stmt, sql, params);
    std::vector<Row> rows;
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        rows.push_back(readRow(stmt, sql));
      } else if (rc == SQLITE_DONE) {
        return rows;
      } else {
        fail(db_, rc, sql);
      }
    }
  }

  std::int64_t execute(std::string_view sql, const std::vector<Value>& params) override {
    PARLEY_ASSERT_MAY_BLOCK();
    sqlite3_stmt* stmt = prepare(sql);
    StatementUse use(stmt);
    bind(stmt, sql, params);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) fail(db_, rc, sql);
    return sqlite3_changes64(db_);
  }

  std::int64_t lastInsertId() override {
    PARLEY_ASSERT_MAY_BLOCK();
    return sqlite3_last_insert_rowid(db_);
  }

  void executeScript(std::string_view sql) override {
    PARLEY_ASSERT_MAY_BLOCK();
    std::string text(sql);  // sqlite3_exec wants a NUL-terminated string
    char* error = nullptr;
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      std::string message = fmt::format("sqlite: {} (code {}) in \"{}\"", error ? error : sqlite3_errstr(rc),
                                        rc, sqlExcerpt(sql));
      sqlite3_free(error);
      throw StorageError(message);
    }
  }

  void begin() override {
    PARLEY_ASSERT_MAY_BLOCK();
    if (depth_ > 0 && sqlite3_get_autocommit(db_)) {
      // SQLite rolled the outer transaction back on its own (SQLITE_FULL, SQLITE_IOERR…); going on would
      // run this level outside it.
      throw StorageError("sqlite: the enclosing transaction was rolled back after an earlier error");
    }
    // IMMEDIATE takes the write lock now, waiting up to the busy timeout; a deferred transaction that
    // upgrades from read to write can fail at once with SQLITE_BUSY instead.
    execute(depth_ == 0 ? std::string("BEGIN IMMEDIATE") : "SAVEPOINT " + savepoint(depth_ + 1), {});
    ++depth_;
  }

  void commit() override {
    PARLEY_ASSERT_MAY_BLOCK();
    if (depth_ == 0) throw StorageError("sqlite: commit without begin");
    if (sqlite3_get_autocommit(db_)) {
      depth_ = 0;
      throw StorageError("sqlite: the transaction was rolled back after an earlier error");
    }
    // On failure (SQLITE_BUSY) the level stays open so the caller's rollback() ends it.
    execute(depth_ == 1 ? std::string("COMMIT") : "RELEASE " + savepoint(depth_), {});
    --depth_;
  }

  int transactionDepth() const override { return depth_; }

  void rollback() override {
    PARLEY_ASSERT_MAY_BLOCK();
    if (depth_ == 0) return;
    if (sqlite3_get_autocommit(db_)) {  // already rolled back by SQLite
      depth_ = 0;
      return;
    }
    int level = depth_--;
    if (level == 1) {
      execute("ROLLBACK", {});
    } else {
      // ROLLBACK TO keeps the savepoint open; RELEASE removes it so the level is gone.
      execute("ROLLBACK TO " + savepoint(level), {});
      execute("RELEASE " + savepoint(level), {});
    }
  }

 private:
  static std::string savepoint(int level) { return "parley_sp" + std::to_string(level); }

  void close() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    statements_.clear();
    if (db_) sqlite3_close_v2(db_);  // rolls back an open transaction
    db_ = nullptr;
  }

  sqlite3_stmt* prepare(std::string_view sql) {
    if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
    if (statements_.size() >= kMaxCachedStatements) {
      for (auto& [text, stmt] : statements_) sqlite3_finalize(stmt);
      statements_.clear();
    }
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                &stmt, &tail);
    if (rc != SQLITE_OK) fail(db_, rc, sql);
    if (stmt == nullptr) throw StorageError(fmt::format("sqlite: empty statement \"{}\"", sqlExcerpt(sql)));
    std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
      sqlite3_finalize(stmt);
      throw StorageError(
          fmt::format("sqlite: more than one statement (use executeScript) in \"{}\"", sqlExcerpt(sql)));
    }
    statements_.emplace(std::string(sql), stmt);
    return stmt;
  }

  void bind(sqlite3_stmt* stmt, std::string_view sql, const std::vector<Value>& params) {
    int expected = sqlite3_bind_parameter_count(stmt);
    if (static_cast<std::size_t>(expected) != params.size()) {
      throw StorageError(fmt::format("sqlite: statement takes {} parameters, got {}, in \"{}\"", expected,
                                     params.size(), sqlExcerpt(sql)));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      int index = static_cast<int>(i) + 1;
      // SQLITE_STATIC: the values outlive the statement's use, which ends with clear_bindings.
      int rc = std::visit(
          [&](const auto& v) -> int {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
              return sqlite3_bind_null(stmt, index);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
              return sqlite3_bind_int64(stmt, index, v);
            } else if constexpr (std::is_same_v<T, std::string>) {
              return sqlite3_bind_text64(stmt, index, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
            } else {
              // data() of an empty string is non-null, so an empty Blob binds as x'' and not NULL.
              return sqlite3_bind_blob64(stmt, index, v.bytes.data(), v.bytes.size(), SQLITE_STATIC);
            }
          },
          params[i]);
      if (rc != SQLITE_OK) fail(db_, rc, sql);
    }
  }

  Row readRow(sqlite3_stmt* stmt, std::string_view sql) {
    int columns = sqlite3_column_count(stmt);
    std::vector<Value> values;
    values.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_NULL:
          values.emplace_back(nullptr);
          break;
        case SQLITE_TEXT: {
          // Pointer first, then size, as the SQLite docs require.
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
          if (p == nullptr) fail(db_, SQLITE_NOMEM, sql);
          values.emplace_back(std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, c))));
          break;
        }
        case SQLITE_BLOB: {
          const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, c));
          auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt, c));
          values.emplace_back(Blob{p ? std::string(p, size) : std::string()});
          break;
        }
        default:  // INTEGER; no schema uses REAL, and it would read truncated
          values.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c)));
          break;
      }
    }
    return Row(std::move(values));
  }

  sqlite3* db_ = nullptr;
  int depth_ = 0;  // transaction nesting: 1 = BEGIN, deeper levels are savepoints
  std::unordered_map<std::string, sqlite3_stmt*, TransparentHash, std::equal_to<>> statements_;
};

SqliteDatabase::SqliteDatabase(const StorageConfig& config)
    : Database(Dialect{Engine::Sqlite}),
      path_(config.sqlitePath),
      busyTimeoutMs_(config.busyTimeoutMs),
      synchronous_(config.sqliteSynchronous) {
  PARLEY_ASSERT_MAY_BLOCK();
  // Every thread would get its own private in-memory database.
  if (path_.empty() || path_ == ":memory:") {
    throw StorageError("sqlite: storage needs a database file path (in-memory databases are per connection)");
  }
  if (busyTimeoutMs_ < 0) throw StorageError("sqlite: busy timeout must not be negative");
  if (sqlite3_libversion_number() < kMinSqliteVersion) {
    throw StorageError(
        fmt::format("sqlite: the SQLite library is {}, parley needs 3.37 or newer", sqlite3_libversion()));
  }
  // Connections on different threads are only safe if the library was built thread-safe.
  if (sqlite3_threadsafe() == 0)
    throw StorageError("sqlite: the SQLite library was built without thread support");
  createParentDirectories(path_);
  createDatabaseFile(path_);
  connection();  // fail now, with a clear message, if the file cannot be opened
}

SqliteDatabase::~SqliteDatabase() = default;

Connection& SqliteDatabase::connection() {
  PARLEY_ASSERT_MAY_BLOCK();
  return connections_.get(
      [&] { return std::make_unique<SqliteConnection>(path_, busyTimeoutMs_, synchronous_); });
}

std::size_t SqliteDatabase::connectionCount() const {
  return connections_.size();
}

void SqliteDatabase::migrate() {
  PARLEY_ASSERT_MAY_BLOCK();
  schema::migrate(*this);
}

int SqliteDatabase::schemaVersion() {
  PARLEY_ASSERT_MAY_BLOCK();
  return schema::currentVersion(*this);
}

}  // namespace parley::storage
