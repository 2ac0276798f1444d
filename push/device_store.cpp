#include "push/device_store.h"

namespace parley::push {

namespace {
using storage::Connection;
using storage::Value;
Value text(std::string_view s) {
  return std::string(s);
}
}  // namespace

void DeviceStore::save(const StoredDevice& d) {
  const std::string sql = db_.dialect().upsert(
      "push_devices",
      {"domain", "node", "secret", "owner", "device_id", "provider", "token", "voip_token", "topic", "sandbox",
       "created_at"},
      {"domain", "node"},
      {"secret", "owner", "device_id", "provider", "token", "voip_token", "topic", "sandbox", "created_at"});
  db_.transaction([&](Connection& c) {
    c.execute(sql, {text(d.domain), text(d.node), text(d.secret), text(d.owner), text(d.deviceId),
                    text(d.provider), text(d.token), text(d.voipToken), text(d.topic),
                    std::int64_t{d.sandbox ? 1 : 0}, d.createdAt});
  });
}

void DeviceStore::remove(std::string_view domain, std::string_view node) {
  db_.transaction([&](Connection& c) {
    c.execute("DELETE FROM push_devices WHERE domain = ? AND node = ?", {text(domain), text(node)});
  });
}

std::vector<StoredDevice> DeviceStore::loadAll(std::string_view domain) {
  auto rows = db_.connection().query(
      "SELECT node, secret, owner, device_id, provider, token, voip_token, topic, sandbox, created_at "
      "FROM push_devices WHERE domain = ? ORDER BY node",
      {text(domain)});
  std::vector<StoredDevice> out;
  for (const auto& r : rows)
    out.push_back({std::string(domain), r.getText(0), r.getText(1), r.getText(2), r.getText(3), r.getText(4),
                   r.getText(5), r.getText(6), r.getText(7), r.getInt(8) != 0, r.getInt(9)});
  return out;
}

}  // namespace parley::push
