// Storage of the built-in app server's device registrations (push_devices). Blocking: blocking pool only
// (and once at start).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"

namespace parley::push {

struct StoredDevice {
  std::string domain;  // the app server component
  std::string node, secret, owner, deviceId;
  std::string provider;  // fcm | apns
  std::string token, voipToken, topic;
  bool sandbox = false;
  std::int64_t createdAt = 0;
};

class DeviceStore {
 public:
  explicit DeviceStore(storage::Database& db) : db_(db) {}
  void save(const StoredDevice& d);  // insert or replace by (domain, node)
  void remove(std::string_view domain, std::string_view node);
  std::vector<StoredDevice> loadAll(std::string_view domain);

 private:
  storage::Database& db_;
};

}  // namespace parley::push
