// Offline message storage (XEP-0160): messages for an account with no available resource, kept in
// arrival order until delivered. Blocking: blocking pool only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"

namespace parley::xep::offline {

struct StoredMessage {
  std::int64_t id = 0;
  std::int64_t stamp = 0;  // unix seconds when stored (for XEP-0203 <delay/>)
  std::string xml;         // the message stanza as serialised XML (jabber:client default namespace)
};

class OfflineStore {
 public:
  explicit OfflineStore(storage::Database& db) : db_(db) {}

  // Appends a message unless the user already has `maxPerUser` stored; returns false when full.
  bool push(std::string_view domain, std::string_view user, std::int64_t stamp, std::string_view xml,
            std::int64_t maxPerUser);
  // Oldest first, at most `limit`.
  std::vector<StoredMessage> fetch(std::string_view domain, std::string_view user, std::int64_t limit);
  // Deletes delivered messages by id.
  void remove(std::string_view domain, std::string_view user, const std::vector<std::int64_t>& ids);
  std::int64_t count(std::string_view domain, std::string_view user);
  // Every account with at least one stored message, as "user@domain".
  std::vector<std::string> accountsWithMessages();

 private:
  storage::Database& db_;
};

}  // namespace parley::xep::offline
