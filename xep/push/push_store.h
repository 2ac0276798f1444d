// Storage of XEP-0357 registrations (the app servers an account enabled) and of the account's group chat
// push rules. Blocking: blocking pool only (and once at start, to fill the module's memory).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"

namespace parley::xep::push {

struct StoredRegistration {
  std::string domain, username;
  std::string serviceJid, node;
  std::string options;  // publish-options form as XML, "" for none
  std::int64_t createdAt = 0;
};

struct StoredRoomRule {
  std::string domain, username;
  std::string room;  // bare JID
  std::string mode;  // always | mentions | never
  std::string nick;  // extra name that counts as a mention
};

class PushStore {
 public:
  explicit PushStore(storage::Database& db) : db_(db) {}

  // XEP-0357 §5: the same (service, node) again replaces the publish options.
  void upsert(const StoredRegistration& r);
  // Removes one (service, node), or with `node` unset every node of that service. Returns rows removed.
  std::int64_t remove(std::string_view domain, std::string_view username, std::string_view serviceJid,
                      const std::string* node);
  std::vector<StoredRegistration> loadAll();

  void setRoomRule(const StoredRoomRule& r);  // mode "" removes the rule
  std::vector<StoredRoomRule> loadRoomRules();

  // The key column: hex SHA-256 of service JID, NUL, node.
  static std::string regId(std::string_view serviceJid, std::string_view node);

 private:
  storage::Database& db_;
};

}  // namespace parley::xep::push
