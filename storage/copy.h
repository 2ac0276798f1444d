// Copying every row of one database into another, possibly of another engine (`parleyctl migrate
// --from A --to B`). Blocking; run it while no parleyd uses either database.
//
// Both databases are migrated to this build's latest schema version first, so their tables match.
// The target must be empty (no rows in any table): copying never merges or overwrites. Tables go in
// dependency order (schema::kTables); each table is copied inside one transaction on the target, read
// from the source in batches in primary-key order (keyset paging, so each batch is an index range).
// Values keep their types (text, integers, blobs, NULL); ids keep their values (offline message ids,
// archive ids), and auto-increment counters continue after the largest copied id.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "storage/database.h"

namespace parley::storage {

struct TableCopied {
  std::string table;
  std::int64_t rows = 0;
};

// Throws StorageError (with the table's name) if the target is not empty or a row cannot be written.
// `progress` is called after each table.
std::vector<TableCopied> copyDatabase(Database& from, Database& to, std::int64_t batchRows = 1000,
                                      const std::function<void(const TableCopied&)>& progress = {});

}  // namespace parley::storage
