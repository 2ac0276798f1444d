#include "storage/copy.h"

#include <algorithm>

#include <fmt/format.h>

#include "server/util/thread_role.h"
#include "storage/schema/schema.h"

namespace parley::storage {
namespace {

std::vector<std::string> splitKey(std::string_view key) {
  std::vector<std::string> out;
  while (!key.empty()) {
    auto comma = key.find(',');
    out.emplace_back(key.substr(0, comma));
    if (comma == std::string_view::npos) break;
    key.remove_prefix(comma + 1);
  }
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    out += items[i];
  }
  return out;
}

// The table's columns in declaration order.
std::vector<std::string> columnsOf(Database& db, std::string_view table) {
  std::vector<std::string> columns;
  if (db.engine() == Engine::Sqlite) {
    for (const Row& r : db.connection().query(fmt::format("PRAGMA table_info({})", table)))
      columns.push_back(r.getText(1));
  } else {
    for (const Row& r : db.connection().query(
             "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND "
             "table_name = ? ORDER BY ordinal_position",
             {std::string(table)}))
      columns.push_back(r.getText(0));
  }
  if (columns.empty()) throw StorageError(fmt::format("migrate: table {} does not exist", table));
  return columns;
}

std::int64_t countRows(Database& db, std::string_view table) {
  return db.connection().query(fmt::format("SELECT COUNT(*) FROM {}", table))[0].getInt(0);
}

}  // namespace

std::vector<TableCopied> copyDatabase(Database& from, Database& to, std::int64_t batchRows,
                                      const std::function<void(const TableCopied&)>& progress) {
  PARLEY_ASSERT_MAY_BLOCK();
  if (batchRows <= 0) throw StorageError("migrate: the batch size must be positive");
  from.migrate();
  to.migrate();
  if (from.schemaVersion() != to.schemaVersion()) {
    throw StorageError(fmt::format("migrate: schema versions differ after migrating ({} and {})",
                                   from.schemaVersion(), to.schemaVersion()));
  }
  for (const auto& table : schema::kTables) {
    if (std::int64_t n = countRows(to, table.name); n > 0) {
      throw StorageError(fmt::format(
          "migrate: the target database is not empty ({} has {} rows); copy only into an empty one",
          table.name, n));
    }
  }

  std::vector<TableCopied> copied;
  for (const auto& table : schema::kTables) {
    const std::vector<std::string> columns = columnsOf(from, table.name);
    if (columnsOf(to, table.name) != columns) {
      throw StorageError(
          fmt::format("migrate: table {} has different columns in the two databases", table.name));
    }
    const std::vector<std::string> key = splitKey(table.key);
    std::vector<std::size_t> keyIndex;
    for (const auto& k : key) {
      auto it = std::find(columns.begin(), columns.end(), k);
      if (it == columns.end()) throw StorageError(fmt::format("migrate: {} has no column {}", table.name, k));
      keyIndex.push_back(static_cast<std::size_t>(it - columns.begin()));
    }
    const std::string select = fmt::format("SELECT {} FROM {}", join(columns, ", "), table.name);
    const std::string order = fmt::format(" ORDER BY {} LIMIT ?", join(key, ", "));
    // Row values: "(a, b) > (?, ?)" is an index range on both engines (keyset paging).
    std::vector<std::string> marks(key.size(), "?");
    const std::string after = fmt::format(" WHERE ({}) > ({})", join(key, ", "), join(marks, ", "));
    std::vector<std::string> placeholders(columns.size(), "?");
    const std::string insert = fmt::format("INSERT INTO {} ({}) VALUES ({})", table.name, join(columns, ", "),
                                           join(placeholders, ", "));

    TableCopied done{std::string(table.name), 0};
    to.transaction([&](Connection& target) {
      done.rows = 0;  // the transaction may run again (TransactionAborted)
      std::vector<Value> last;
      for (;;) {
        std::vector<Value> params = last;
        params.emplace_back(batchRows);
        auto rows = from.connection().query(last.empty() ? select + order : select + after + order, params);
        for (const Row& r : rows) {
          std::vector<Value> values;
          values.reserve(r.size());
          for (std::size_t i = 0; i < r.size(); ++i) values.push_back(r.value(i));
          try {
            target.execute(insert, values);
          } catch (const StorageError& e) {
            throw StorageError(fmt::format("migrate: {}: {}", table.name, e.what()));
          }
        }
        done.rows += static_cast<std::int64_t>(rows.size());
        if (rows.size() < static_cast<std::size_t>(batchRows)) break;
        last.clear();
        for (std::size_t i : keyIndex) last.push_back(rows.back().value(i));
      }
    });
    if (std::int64_t n = countRows(to, table.name); n != done.rows) {
      throw StorageError(
          fmt::format("migrate: {}: copied {} rows but the target has {}", table.name, done.rows, n));
    }
    if (progress) progress(done);
    copied.push_back(std::move(done));
  }
  return copied;
}

}  // namespace parley::storage
