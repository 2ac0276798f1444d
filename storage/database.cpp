#include "storage/database.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "storage/mysql/mysql_database.h"
#include "storage/sqlite/sqlite_database.h"

namespace parley::storage {
namespace {

// "a,b,c" with each item passed through format.
template <class Format>
std::string join(const std::vector<std::string>& items, Format format) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += format(items[i]);
  }
  return out;
}

std::string plain(const std::string& column) {
  return column;
}

}  // namespace

std::int64_t Row::getInt(std::size_t i) const {
  const Value& v = values_.at(i);
  if (std::holds_alternative<std::nullptr_t>(v)) return 0;
  if (const auto* n = std::get_if<std::int64_t>(&v)) return *n;
  throw StorageError(fmt::format("column {} is not an integer", i));
}

const std::string& Row::getText(std::size_t i) const {
  static const std::string kEmpty;
  const Value& v = values_.at(i);
  if (std::holds_alternative<std::nullptr_t>(v)) return kEmpty;
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* b = std::get_if<Blob>(&v)) return b->bytes;
  throw StorageError(fmt::format("column {} is an integer, not text", i));
}

std::optional<std::string> Row::getOptText(std::size_t i) const {
  if (isNull(i)) return std::nullopt;
  return getText(i);
}

std::optional<std::int64_t> Row::getOptInt(std::size_t i) const {
  if (isNull(i)) return std::nullopt;
  return getInt(i);
}

std::string Dialect::upsert(std::string_view table, const std::vector<std::string>& columns,
                            const std::vector<std::string>& keyColumns,
                            const std::vector<std::string>& updateColumns) const {
  if (columns.empty() || keyColumns.empty()) throw StorageError("upsert needs columns and key columns");
  std::string sql = fmt::format("INSERT INTO {}({}) VALUES({})", table, join(columns, plain),
                                join(columns, [](const std::string&) { return std::string("?"); }));
  switch (engine) {
    case Engine::Sqlite:
      sql += fmt::format(" ON CONFLICT({}) ", join(keyColumns, plain));
      if (updateColumns.empty()) return sql + "DO NOTHING";
      return sql + "DO UPDATE SET " +
             join(updateColumns, [](const std::string& c) { return c + "=excluded." + c; });
    case Engine::Mysql:
      // MySQL has no conflict target: the key is whichever unique index the row hits. "k=k" is the
      // no-op update (INSERT IGNORE would also swallow unrelated errors).
      if (updateColumns.empty())
        return sql + " ON DUPLICATE KEY UPDATE " + keyColumns[0] + "=" + keyColumns[0];
      return sql + " ON DUPLICATE KEY UPDATE " +
             join(updateColumns, [](const std::string& c) { return c + "=VALUES(" + c + ")"; });
  }
  throw StorageError("unknown engine");
}

void Database::backoffBeforeRetry(int attempt) {
  thread_local std::minstd_rand random(std::random_device{}());
  const int ceilingMs = 1 << std::min(attempt, 6);
  std::this_thread::sleep_for(std::chrono::microseconds(random() % (ceilingMs * 1000)));
}

std::unique_ptr<Database> openDatabase(const StorageConfig& config) {
  if (config.backend == "sqlite") return std::make_unique<SqliteDatabase>(config);
  if (config.backend == "mysql") return std::make_unique<MysqlDatabase>(config);
  throw StorageError(
      fmt::format("unknown storage backend \"{}\" (expected \"sqlite\" or \"mysql\")", config.backend));
}

}  // namespace parley::storage
