// The PEP store: each account's nodes (with their configuration, as text from node_config.h) and their
// items, in publication order. Tables pep_nodes and pep_items (schema v4), per-user rows removed with
// the account. Blocking: blocking pool only, keyed by the owner's bare JID so one account's
// publications are applied one at a time, in order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/database.h"

namespace parley::xep::pep {

struct StoredItem {
  std::string id;
  std::string publisher;       // full JID of the publishing resource ("" when the server published)
  std::int64_t publishedAt{};  // unix microseconds
  std::string payload;         // the item's payload element as XML ("" for a notification-only item)
};

struct StoredNode {
  std::string node;
  std::string config;
};

class PepStore {
 public:
  explicit PepStore(storage::Database& db) : db_(db) {}

  std::optional<std::string> nodeConfig(std::string_view domain, std::string_view user, std::string_view node);
  std::vector<StoredNode> nodes(std::string_view domain, std::string_view user);
  std::int64_t nodeCount(std::string_view domain, std::string_view user);
  // False when the node exists already.
  bool createNode(std::string_view domain, std::string_view user, std::string_view node, std::string_view config,
                  std::int64_t now);
  void setConfig(std::string_view domain, std::string_view user, std::string_view node, std::string_view config);
  // Removes the node and its items; false when there was no such node.
  bool deleteNode(std::string_view domain, std::string_view user, std::string_view node);
  // Removes every item of the node; returns how many.
  std::int64_t purge(std::string_view domain, std::string_view user, std::string_view node);

  // Stores the item as the newest of the node (replacing one with the same id), then keeps only the
  // newest `maxItems`. Returns the ids removed to make room.
  std::vector<std::string> publish(std::string_view domain, std::string_view user, std::string_view node,
                                   const StoredItem& item, std::int64_t maxItems);
  // Keeps only the newest `maxItems` (after max_items was lowered). Returns the ids removed.
  std::vector<std::string> trim(std::string_view domain, std::string_view user, std::string_view node,
                                std::int64_t maxItems);
  // False when there was no such item.
  bool retract(std::string_view domain, std::string_view user, std::string_view node, std::string_view id);
  // Newest first, at most `max` (all when max <= 0).
  std::vector<StoredItem> items(std::string_view domain, std::string_view user, std::string_view node,
                                std::int64_t max = 0);
  std::optional<StoredItem> item(std::string_view domain, std::string_view user, std::string_view node,
                                 std::string_view id);

 private:
  storage::Database& db_;
};

}  // namespace parley::xep::pep
