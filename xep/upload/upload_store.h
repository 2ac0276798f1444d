// XEP-0363 upload records (schema v6, table upload_files): one row per slot handed out, completed when
// its PUT finished. The row is the only link between a URL's random id and the file on disk; the
// quota is the sum of a user's completed files. Blocking: blocking pool only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"

namespace parley::xep::upload {

struct UploadRecord {
  std::string domain;
  std::string username;
  std::string id;           // 32 lower-case hex characters (128 random bits)
  std::string filename;     // sanitised, as in the URL
  std::int64_t size = 0;    // bytes, exactly what the PUT must send
  std::string contentType;  // what the PUT must send and the GET answers with
  std::int64_t createdAt = 0;    // unix seconds
  std::int64_t completedAt = 0;  // unix seconds; 0 while the slot is unused
};

enum class CompleteResult { Ok, Gone, OverQuota };

class UploadStore {
 public:
  explicit UploadStore(storage::Database& db) : db_(db) {}

  // Bytes of the user's completed uploads.
  std::int64_t usedBytes(std::string_view domain, std::string_view user);
  // Inserts the slot unless the user's completed uploads plus r.size exceed `quota` (0: no quota);
  // returns false then (`used` gets the current usage either way).
  bool createSlot(const UploadRecord& r, std::int64_t quota, std::int64_t* used);
  std::optional<UploadRecord> find(std::string_view id);
  // Marks a pending slot completed, unless the quota would be exceeded (parallel uploads) or the slot
  // is gone (expired, account deleted).
  CompleteResult complete(std::string_view id, std::int64_t now, std::int64_t quota);
  void remove(std::string_view id);
  // Unused slots created before `pendingBefore`, and completed files from before `completedBefore`
  // (0: none), at most `limit`.
  std::vector<UploadRecord> expired(std::int64_t pendingBefore, std::int64_t completedBefore, std::int64_t limit);

 private:
  storage::Database& db_;
};

}  // namespace parley::xep::upload
