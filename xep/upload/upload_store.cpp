#include "xep/upload/upload_store.h"

namespace parley::xep::upload {

namespace {
constexpr std::string_view kColumns =
    "domain, username, id, filename, size, content_type, created_at, completed_at";

UploadRecord fromRow(const storage::Row& row) {
  UploadRecord r;
  r.domain = row.getText(0);
  r.username = row.getText(1);
  r.id = row.getText(2);
  r.filename = row.getText(3);
  r.size = row.getInt(4);
  r.contentType = row.getText(5);
  r.createdAt = row.getInt(6);
  r.completedAt = row.getInt(7);
  return r;
}

std::int64_t used(storage::Connection& c, std::string_view domain, std::string_view user) {
  auto rows = c.query(
      "SELECT COALESCE(SUM(size), 0) FROM upload_files WHERE domain = ? AND username = ? AND completed_at <> 0",
      {std::string(domain), std::string(user)});
  return rows.empty() ? 0 : rows[0].getInt(0);
}
}  // namespace

std::int64_t UploadStore::usedBytes(std::string_view domain, std::string_view user) {
  return used(db_.connection(), domain, user);
}

bool UploadStore::createSlot(const UploadRecord& r, std::int64_t quota, std::int64_t* usedOut) {
  return db_.transaction([&](storage::Connection& c) {
    const std::int64_t u = used(c, r.domain, r.username);
    if (usedOut) *usedOut = u;
    if (quota > 0 && u + r.size > quota) return false;
    c.execute(
        "INSERT INTO upload_files (domain, username, id, filename, size, content_type, created_at, completed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
        {r.domain, r.username, r.id, r.filename, r.size, r.contentType, r.createdAt});
    return true;
  });
}

std::optional<UploadRecord> UploadStore::find(std::string_view id) {
  auto rows = db_.connection().query(
      std::string("SELECT ") + std::string(kColumns) + " FROM upload_files WHERE id = ?", {std::string(id)});
  if (rows.empty()) return std::nullopt;
  return fromRow(rows[0]);
}

CompleteResult UploadStore::complete(std::string_view id, std::int64_t now, std::int64_t quota) {
  return db_.transaction([&](storage::Connection& c) {
    auto rows = c.query(std::string("SELECT ") + std::string(kColumns) + " FROM upload_files WHERE id = ?",
                        {std::string(id)});
    if (rows.empty()) return CompleteResult::Gone;
    UploadRecord r = fromRow(rows[0]);
    if (r.completedAt != 0) return CompleteResult::Gone;
    if (quota > 0 && used(c, r.domain, r.username) + r.size > quota) return CompleteResult::OverQuota;
    c.execute("UPDATE upload_files SET completed_at = ? WHERE id = ?", {now, std::string(id)});
    return CompleteResult::Ok;
  });
}

void UploadStore::remove(std::string_view id) {
  db_.connection().execute("DELETE FROM upload_files WHERE id = ?", {std::string(id)});
}

std::vector<UploadRecord> UploadStore::expired(std::int64_t pendingBefore, std::int64_t completedBefore,
                                               std::int64_t limit) {
  auto rows = db_.connection().query(
      std::string("SELECT ") + std::string(kColumns) +
          " FROM upload_files WHERE (completed_at = 0 AND created_at < ?) OR (completed_at <> 0 AND completed_at < ?)"
          " ORDER BY created_at LIMIT ?",
      {pendingBefore, completedBefore, limit});
  std::vector<UploadRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(fromRow(row));
  return out;
}

}  // namespace parley::xep::upload
