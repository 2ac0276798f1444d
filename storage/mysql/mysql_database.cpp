#include "storage/mysql/mysql_database.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <sstream>
#include <vector>

#include <cppconn/connection.h>
#include <cppconn/datatype.h>
#include <cppconn/exception.h>
#include <cppconn/parameter_metadata.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/resultset_metadata.h>
#include <cppconn/statement.h>
#include <fmt/format.h>
#include <mysql_driver.h>

#include "server/util/thread_role.h"
#include "storage/schema/schema.h"

namespace parley::storage {
namespace {

// SQL is compiled into the code, so the cache is small; a runaway caller building SQL text from data
// must not grow it without bound.
constexpr std::size_t kMaxCachedStatements = 256;
constexpr std::size_t kSqlInErrors = 80;

// Server and client error numbers this backend acts on.
constexpr int kErDupEntry = 1062;             // ER_DUP_ENTRY
constexpr int kErDupEntryWithKeyName = 1586;  // ER_DUP_ENTRY_WITH_KEY_NAME
constexpr int kErLockDeadlock = 1213;         // ER_LOCK_DEADLOCK: InnoDB rolled the transaction back
constexpr int kErConnectionKilled = 1927;     // ER_CONNECTION_KILLED (MariaDB)
constexpr int kCrServerGone = 2006;           // CR_SERVER_GONE_ERROR
constexpr int kCrServerLost = 2013;           // CR_SERVER_LOST
constexpr int kCrServerLostExtended = 2055;   // CR_SERVER_LOST_EXTENDED

bool connectionLost(int code) {
  return code == kCrServerGone || code == kCrServerLost || code == kCrServerLostExtended ||
         code == kErConnectionKilled;
}

std::string sqlExcerpt(std::string_view sql) {
  if (sql.size() <= kSqlInErrors) return std::string(sql);
  return std::string(sql.substr(0, kSqlInErrors)) + "…";
}

std::string describeServer(const StorageConfig& c) {
  if (!c.mysqlSocket.empty())
    return fmt::format("{}@unix:{}/{}", c.mysqlUser, c.mysqlSocket, c.mysqlDatabase);
  return fmt::format("{}@{}:{}/{}", c.mysqlUser, c.mysqlHost, c.mysqlPort, c.mysqlDatabase);
}

// The driver is a process-wide singleton whose creation is not thread-safe in Connector/C++ 1.1.
sql::mysql::MySQL_Driver& driver() {
  static sql::mysql::MySQL_Driver* instance = sql::mysql::get_mysql_driver_instance();
  return *instance;
}

// Splits a migration script into statements at top-level ';' (outside quotes and comments).
std::vector<std::string> splitStatements(std::string_view script) {
  std::vector<std::string> out;
  std::string current;
  auto flush = [&] {
    auto first = current.find_first_not_of(" \t\r\n");
    if (first != std::string::npos) out.push_back(current.substr(first));
    current.clear();
  };
  for (std::size_t i = 0; i < script.size(); ++i) {
    char ch = script[i];
    if (ch == '-' && i + 1 < script.size() && script[i + 1] == '-') {
      i = script.find('\n', i);
      if (i == std::string_view::npos) break;
      current += '\n';
      continue;
    }
    if (ch == '/' && i + 1 < script.size() && script[i + 1] == '*') {
      i = script.find("*/", i + 2);
      if (i == std::string_view::npos) break;
      ++i;
      current += ' ';
      continue;
    }
    if (ch == '\'' || ch == '"' || ch == '`') {
      std::size_t end = i + 1;
      while (end < script.size() && script[end] != ch) end += script[end] == '\\' ? 2 : 1;
      end = std::min(end, script.size() - 1);
      current.append(script.substr(i, end - i + 1));
      i = end;
      continue;
    }
    if (ch == ';') {
      flush();
      continue;
    }
    current += ch;
  }
  flush();
  return out;
}

// A SELECT that does not lock already (the stores never write FOR UPDATE themselves; SQLite lacks it).
bool isPlainSelect(std::string_view sql) {
  auto first = sql.find_first_not_of(" \t\r\n(");
  if (first == std::string_view::npos || sql.size() - first < 6) return false;
  std::string upper(sql.substr(first));
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  // Without FROM (SELECT CONNECTION_ID(), GET_LOCK(…)) there is nothing to lock.
  return upper.starts_with("SELECT") && upper.find(" FROM ") != std::string::npos &&
         upper.find("FOR UPDATE") == std::string::npos &&
         upper.find("LOCK IN SHARE MODE") == std::string::npos;
}

enum class ColumnKind { Null, Integer, Text, Binary };

ColumnKind kindOf(int type, unsigned scale) {
  switch (type) {
    case sql::DataType::BIT:
    case sql::DataType::TINYINT:
    case sql::DataType::SMALLINT:
    case sql::DataType::MEDIUMINT:
    case sql::DataType::INTEGER:
    case sql::DataType::BIGINT:
    case sql::DataType::YEAR:
      return ColumnKind::Integer;
    case sql::DataType::DECIMAL:
    case sql::DataType::NUMERIC:
      return scale == 0 ? ColumnKind::Integer : ColumnKind::Text;  // SUM() of integers is DECIMAL
    case sql::DataType::BINARY:
    case sql::DataType::VARBINARY:
    case sql::DataType::LONGVARBINARY:
      return ColumnKind::Binary;
    case sql::DataType::SQLNULL:
      return ColumnKind::Null;
    default:
      return ColumnKind::Text;
  }
}

}  // namespace

// One thread's connection. Not thread-safe by design: only its own thread ever touches it.
class MysqlConnection final : public Connection {
 public:
  MysqlConnection(const StorageConfig& config, std::string description)
      : config_(config), description_(std::move(description)) {
    connect();
  }

  ~MysqlConnection() override { disconnect(); }
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;

  std::vector<Row> query(std::string_view text, const std::vector<Value>& params) override {
    PARLEY_ASSERT_MAY_BLOCK();
    // Inside a transaction every read locks what it read for writing (see the DESIGN note).
    std::string locking;
    if (depth_ > 0 && isPlainSelect(text)) locking = std::string(text) + " FOR UPDATE";
    const std::string_view sql = locking.empty() ? text : std::string_view(locking);
    return run(sql, [&] {
      Prepared& p = prepare(sql);
      std::vector<std::unique_ptr<std::istringstream>> blobs;
      bind(p, sql, params, blobs);
      std::unique_ptr<sql::ResultSet> rs(p.statement->executeQuery());
      p.statement->clearParameters();
      return readAll(p, *rs);
    });
  }

  std::int64_t execute(std::string_view sql, const std::vector<Value>& params) override {
    PARLEY_ASSERT_MAY_BLOCK();
    return run(sql, [&] {
      Prepared& p = prepare(sql);
      std::vector<std::unique_ptr<std::istringstream>> blobs;
      bind(p, sql, params, blobs);
      std::int64_t changed = p.statement->executeUpdate();
      p.statement->clearParameters();
      return changed;
    });
  }

  std::int64_t lastInsertId() override {
    PARLEY_ASSERT_MAY_BLOCK();
    // Per connection on the server, so it is this thread's last insert.
    return plain("SELECT LAST_INSERT_ID()", true);
  }

  void executeScript(std::string_view sql) override {
    PARLEY_ASSERT_MAY_BLOCK();
    for (const std::string& statement : splitStatements(sql)) plain(statement, false);
  }

  void begin() override {
    PARLEY_ASSERT_MAY_BLOCK();
    if (aborted_) throw TransactionAborted("mysql: the enclosing transaction was rolled back by the server");
    if (depth_ == 0) {
      // Nothing is open yet, so a connection lost here is replaced and the statement re-run.
      plain("START TRANSACTION", false);
    } else {
      plain("SAVEPOINT " + savepoint(depth_ + 1), false);
    }
    ++depth_;
  }

  void commit() override {
    PARLEY_ASSERT_MAY_BLOCK();
    if (depth_ == 0) throw StorageError("mysql: commit without begin");
    if (aborted_) throw TransactionAborted("mysql: the transaction was rolled back by the server");
    if (depth_ > 1) {
      plain("RELEASE SAVEPOINT " + savepoint(depth_), false);
      --depth_;
      return;
    }
    try {
      plain("COMMIT", false);
    } catch (const TransactionAborted&) {
      // The connection went away while COMMIT was in flight: it may or may not have been applied, so
      // this must not be retried as if nothing had been written.
      depth_ = 0;
      aborted_ = false;
      throw StorageError(
          fmt::format("mysql: connection to {} lost during COMMIT; the outcome is unknown", description_));
    }
    depth_ = 0;
  }

  void rollback() override {
    PARLEY_ASSERT_MAY_BLOCK();
    if (depth_ == 0) return;
    const int level = depth_--;
    if (aborted_) {
      // The server already rolled everything back (or the connection was replaced); unwind quietly.
      if (depth_ == 0) aborted_ = false;
      return;
    }
    if (level == 1) {
      plain("ROLLBACK", false);
    } else {
      // ROLLBACK TO keeps the savepoint; RELEASE removes it so the level is gone.
      plain("ROLLBACK TO SAVEPOINT " + savepoint(level), false);
      plain("RELEASE SAVEPOINT " + savepoint(level), false);
    }
  }

  int transactionDepth() const override { return depth_; }

 private:
  struct Prepared {
    std::unique_ptr<sql::PreparedStatement> statement;
    std::size_t parameters = 0;
    bool kindsKnown = false;
    std::vector<ColumnKind> kinds;
  };

  struct TransparentHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  static std::string savepoint(int level) { return "parley_sp" + std::to_string(level); }

  void connect() {
    sql::ConnectOptionsMap options;
    if (!config_.mysqlSocket.empty()) {
      options["hostName"] = sql::SQLString("localhost");
      options["socket"] = sql::SQLString(config_.mysqlSocket);
    } else {
      options["hostName"] = sql::SQLString("tcp://" + config_.mysqlHost);
      options["port"] = config_.mysqlPort;
    }
    options["userName"] = sql::SQLString(config_.mysqlUser);
    options["password"] = sql::SQLString(config_.mysqlPassword);
    options["schema"] = sql::SQLString(config_.mysqlDatabase);
    options["CLIENT_FOUND_ROWS"] = true;  // see Connection::execute
    options["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    options["characterSetResults"] = sql::SQLString("utf8mb4");
    options["OPT_RECONNECT"] = false;  // reconnecting is ours: a silent one would lose a transaction
    options["OPT_CONNECT_TIMEOUT"] = config_.mysqlConnectTimeoutS;
    try {
      conn_.reset(driver().connect(options));
      std::unique_ptr<sql::Statement> s(conn_->createStatement());
      // utf8mb4_bin: Connector/C++ 1.1 knows it (not utf8mb4_nopad_bin); columns set their own.
      s->execute("SET NAMES utf8mb4 COLLATE utf8mb4_bin");
      s->execute(
          "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
          "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'");
      s->execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
      s->execute(fmt::format("SET SESSION innodb_lock_wait_timeout = {}",
                             std::max(1, (config_.busyTimeoutMs + 999) / 1000)));
    } catch (const sql::SQLException& e) {
      conn_.reset();
      throw StorageError(fmt::format("mysql: cannot connect to {}: {} (error {})", description_, e.what(),
                                     e.getErrorCode()));
    }
  }

  void disconnect() noexcept {
    statements_.clear();  // statements before their connection
    if (conn_) {
      try {
        conn_->close();  // rolls back an open transaction
      } catch (...) {
      }
      conn_.reset();
    }
  }

  // Runs op on a live connection. A lost connection is replaced: outside a transaction op runs again
  // once; inside one the transaction is gone, so the level throws TransactionAborted.
  template <class Op>
  auto run(std::string_view sql, Op op) -> decltype(op()) {
    if (aborted_ && depth_ > 0) {
      throw TransactionAborted("mysql: the enclosing transaction was rolled back by the server");
    }
    for (int attempt = 1;; ++attempt) {
      try {
        if (!conn_) connect();
        return op();
      } catch (const sql::SQLException& e) {
        const int code = e.getErrorCode();
        std::string message = fmt::format("mysql: {} (error {}) in \"{}\"", e.what(), code, sqlExcerpt(sql));
        if (connectionLost(code)) {
          disconnect();
          if (depth_ == 0 && attempt == 1) continue;
          if (depth_ > 0) {
            aborted_ = true;
            throw TransactionAborted(message + "; connection lost, transaction rolled back");
          }
          throw StorageError(message);
        }
        if (code == kErLockDeadlock) {
          // InnoDB rolled back the whole transaction (or this one autocommit statement).
          if (depth_ > 0) aborted_ = true;
          if (depth_ == 0 && attempt < Database::kTransactionAttempts) continue;
          throw TransactionAborted(message);
        }
        if (code == kErDupEntry || code == kErDupEntryWithKeyName) throw DuplicateKey(message);
        throw StorageError(message);
      }
    }
  }

  // A statement without parameters through the text protocol (transaction control, DDL, settings).
  // Returns the first column of the first row when `wantValue`.
  std::int64_t plain(const std::string& sql, bool wantValue) {
    return run(sql, [&]() -> std::int64_t {
      std::unique_ptr<sql::Statement> s(conn_->createStatement());
      if (!wantValue) {
        s->execute(sql);
        // A statement that returned rows (never in migrations) leaves nothing pending.
        std::unique_ptr<sql::ResultSet> ignored(s->getResultSet());
        return 0;
      }
      std::unique_ptr<sql::ResultSet> rs(s->executeQuery(sql));
      return rs->next() ? static_cast<std::int64_t>(rs->getInt64(1)) : 0;
    });
  }

  Prepared& prepare(std::string_view sql) {
    if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
    if (statements_.size() >= kMaxCachedStatements) statements_.clear();
    Prepared p;
    p.statement.reset(conn_->prepareStatement(sql::SQLString(sql.data(), sql.size())));
    // The metadata object belongs to the statement.
    p.parameters = static_cast<std::size_t>(p.statement->getParameterMetaData()->getParameterCount());
    return statements_.emplace(std::string(sql), std::move(p)).first->second;
  }

  // `blobs` keeps each Blob's stream alive until the statement has run (the driver reads it then).
  void bind(Prepared& p, std::string_view sql, const std::vector<Value>& params,
            std::vector<std::unique_ptr<std::istringstream>>& blobs) {
    if (params.size() != p.parameters) {
      throw StorageError(fmt::format("mysql: statement takes {} parameters, got {}, in \"{}\"", p.parameters,
                                     params.size(), sqlExcerpt(sql)));
    }
    sql::PreparedStatement& s = *p.statement;
    s.clearParameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto index = static_cast<unsigned>(i + 1);
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
              s.setNull(index, sql::DataType::SQLNULL);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
              s.setInt64(index, v);
            } else if constexpr (std::is_same_v<T, std::string>) {
              s.setString(index, sql::SQLString(v.data(), v.size()));
            } else {
              blobs.push_back(std::make_unique<std::istringstream>(v.bytes));
              s.setBlob(index, blobs.back().get());
            }
          },
          params[i]);
    }
  }

  // Column kinds are worked out once per prepared statement (its result columns never change).
  static std::vector<Row> readAll(Prepared& p, sql::ResultSet& rs) {
    if (!p.kindsKnown) {
      p.kinds = columnKinds(rs);
      p.kindsKnown = true;
    }
    const std::vector<ColumnKind>& kinds = p.kinds;
    const auto columns = static_cast<unsigned>(kinds.size());
    std::vector<Row> rows;
    rows.reserve(rs.rowsCount());
    while (rs.next()) {
      std::vector<Value> values;
      values.reserve(columns);
      for (unsigned c = 1; c <= columns; ++c) {
        const ColumnKind kind = kinds[c - 1];
        if (kind == ColumnKind::Null || rs.isNull(c)) {
          values.emplace_back(nullptr);
        } else if (kind == ColumnKind::Integer) {
          values.emplace_back(static_cast<std::int64_t>(rs.getInt64(c)));
        } else if (kind == ColumnKind::Binary) {
          values.emplace_back(Blob{rs.getString(c).asStdString()});
        } else {
          values.emplace_back(rs.getString(c).asStdString());
        }
      }
      rows.emplace_back(std::move(values));
    }
    return rows;
  }

  static std::vector<ColumnKind> columnKinds(sql::ResultSet& rs) {
    sql::ResultSetMetaData* meta = rs.getMetaData();  // owned by the result set
    const unsigned columns = meta->getColumnCount();
    std::vector<ColumnKind> kinds;
    kinds.reserve(columns);
    for (unsigned c = 1; c <= columns; ++c) {
      try {
        kinds.push_back(kindOf(meta->getColumnType(c), meta->getScale(c)));
      } catch (const sql::SQLException&) {
        // Connector/C++ 1.1 has a fixed table of collations and throws "Unknown charsetnr" for newer
        // ones, utf8mb4_nopad_bin (1070) among them. The binary character set is in its table, so a
        // column it cannot place is text.
        kinds.push_back(ColumnKind::Text);
      }
    }
    return kinds;
  }

  const StorageConfig& config_;
  const std::string description_;
  std::unique_ptr<sql::Connection> conn_;
  int depth_ = 0;         // transaction nesting: 1 = START TRANSACTION, deeper levels are savepoints
  bool aborted_ = false;  // the server rolled the open transaction back; unwinding until depth 0
  std::unordered_map<std::string, Prepared, TransparentHash, std::equal_to<>> statements_;
};

MysqlDatabase::MysqlDatabase(const StorageConfig& config)
    : Database(Dialect{Engine::Mysql}),
      config_(config),
      description_(describeServer(config)) {
  PARLEY_ASSERT_MAY_BLOCK();
  if (config_.mysqlDatabase.empty()) throw StorageError("mysql: [storage] database must name a database");
  if (config_.mysqlUser.empty()) throw StorageError("mysql: [storage] user must not be empty");
  connection();  // fail now, with a clear message, if the server cannot be reached
}

MysqlDatabase::~MysqlDatabase() = default;

Connection& MysqlDatabase::connection() {
  PARLEY_ASSERT_MAY_BLOCK();
  return connections_.get([&] { return std::make_unique<MysqlConnection>(config_, description_); });
}

std::size_t MysqlDatabase::connectionCount() const {
  return connections_.size();
}

void MysqlDatabase::migrate() {
  PARLEY_ASSERT_MAY_BLOCK();
  schema::migrate(*this);
}

int MysqlDatabase::schemaVersion() {
  PARLEY_ASSERT_MAY_BLOCK();
  return schema::currentVersion(*this);
}

}  // namespace parley::storage
