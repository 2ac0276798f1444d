#include "xep/pep/pep_store.h"

#include <algorithm>

namespace parley::xep::pep {
namespace {

using storage::Connection;
using storage::Row;
using storage::Value;

Value text(std::string_view s) {
  return std::string(s);
}

StoredItem itemFrom(const Row& r) {
  return StoredItem{r.getText(0), r.getText(1), r.getInt(2), r.getText(3)};
}

std::vector<std::string> trimIn(Connection& c, std::string_view domain, std::string_view user, std::string_view node,
                                std::int64_t maxItems) {
  std::vector<std::string> removed;
  auto rows = c.query(
      "SELECT item_id FROM pep_items WHERE domain = ? AND username = ? AND node = ? ORDER BY seq DESC",
      {text(domain), text(user), text(node)});
  for (std::size_t i = static_cast<std::size_t>(std::max<std::int64_t>(maxItems, 0)); i < rows.size(); ++i) {
    removed.push_back(rows[i].getText(0));
    c.execute("DELETE FROM pep_items WHERE domain = ? AND username = ? AND node = ? AND item_id = ?",
              {text(domain), text(user), text(node), text(removed.back())});
  }
  return removed;
}

}  // namespace

std::optional<std::string> PepStore::nodeConfig(std::string_view domain, std::string_view user,
                                                std::string_view node) {
  auto rows = db_.connection().query("SELECT config FROM pep_nodes WHERE domain = ? AND username = ? AND node = ?",
                                     {text(domain), text(user), text(node)});
  if (rows.empty()) return std::nullopt;
  return rows[0].getText(0);
}

std::vector<StoredNode> PepStore::nodes(std::string_view domain, std::string_view user) {
  auto rows = db_.connection().query(
      "SELECT node, config FROM pep_nodes WHERE domain = ? AND username = ? ORDER BY node", {text(domain), text(user)});
  std::vector<StoredNode> out;
  out.reserve(rows.size());
  for (const Row& r : rows) out.push_back({r.getText(0), r.getText(1)});
  return out;
}

std::int64_t PepStore::nodeCount(std::string_view domain, std::string_view user) {
  return db_.connection()
      .query("SELECT COUNT(*) FROM pep_nodes WHERE domain = ? AND username = ?", {text(domain), text(user)})[0]
      .getInt(0);
}

bool PepStore::createNode(std::string_view domain, std::string_view user, std::string_view node,
                          std::string_view config, std::int64_t now) {
  try {
    db_.connection().execute(
        "INSERT INTO pep_nodes (domain, username, node, config, created_at) VALUES (?, ?, ?, ?, ?)",
        {text(domain), text(user), text(node), text(config), now});
    return true;
  } catch (const storage::DuplicateKey&) {
    return false;
  }
}

void PepStore::setConfig(std::string_view domain, std::string_view user, std::string_view node,
                         std::string_view config) {
  db_.connection().execute("UPDATE pep_nodes SET config = ? WHERE domain = ? AND username = ? AND node = ?",
                           {text(config), text(domain), text(user), text(node)});
}

bool PepStore::deleteNode(std::string_view domain, std::string_view user, std::string_view node) {
  return db_.transaction([&](Connection& c) {
    c.execute("DELETE FROM pep_items WHERE domain = ? AND username = ? AND node = ?",
              {text(domain), text(user), text(node)});
    return c.execute("DELETE FROM pep_nodes WHERE domain = ? AND username = ? AND node = ?",
                     {text(domain), text(user), text(node)}) > 0;
  });
}

std::int64_t PepStore::purge(std::string_view domain, std::string_view user, std::string_view node) {
  return db_.connection().execute("DELETE FROM pep_items WHERE domain = ? AND username = ? AND node = ?",
                                  {text(domain), text(user), text(node)});
}

std::vector<std::string> PepStore::publish(std::string_view domain, std::string_view user, std::string_view node,
                                           const StoredItem& item, std::int64_t maxItems) {
  return db_.transaction([&](Connection& c) {
    // seq orders the node's items by publication; a republished id moves to the front.
    std::int64_t seq = c.query("SELECT COALESCE(MAX(seq), 0) + 1 FROM pep_items WHERE domain = ? AND username = ? "
                               "AND node = ?",
                               {text(domain), text(user), text(node)})[0]
                           .getInt(0);
    c.execute(db_.dialect().upsert("pep_items",
                                   {"domain", "username", "node", "item_id", "seq", "publisher", "published_at",
                                    "payload"},
                                   {"domain", "username", "node", "item_id"},
                                   {"seq", "publisher", "published_at", "payload"}),
              {text(domain), text(user), text(node), text(item.id), seq, text(item.publisher), item.publishedAt,
               text(item.payload)});
    return trimIn(c, domain, user, node, maxItems);
  });
}

std::vector<std::string> PepStore::trim(std::string_view domain, std::string_view user, std::string_view node,
                                        std::int64_t maxItems) {
  return db_.transaction([&](Connection& c) { return trimIn(c, domain, user, node, maxItems); });
}

bool PepStore::retract(std::string_view domain, std::string_view user, std::string_view node, std::string_view id) {
  return db_.connection().execute(
             "DELETE FROM pep_items WHERE domain = ? AND username = ? AND node = ? AND item_id = ?",
             {text(domain), text(user), text(node), text(id)}) > 0;
}

std::vector<StoredItem> PepStore::items(std::string_view domain, std::string_view user, std::string_view node,
                                        std::int64_t max) {
  std::vector<Row> rows;
  if (max > 0)
    rows = db_.connection().query(
        "SELECT item_id, publisher, published_at, payload FROM pep_items WHERE domain = ? AND username = ? AND "
        "node = ? ORDER BY seq DESC LIMIT ?",
        {text(domain), text(user), text(node), max});
  else
    rows = db_.connection().query(
        "SELECT item_id, publisher, published_at, payload FROM pep_items WHERE domain = ? AND username = ? AND "
        "node = ? ORDER BY seq DESC",
        {text(domain), text(user), text(node)});
  std::vector<StoredItem> out;
  out.reserve(rows.size());
  for (const Row& r : rows) out.push_back(itemFrom(r));
  return out;
}

std::optional<StoredItem> PepStore::item(std::string_view domain, std::string_view user, std::string_view node,
                                         std::string_view id) {
  auto rows = db_.connection().query(
      "SELECT item_id, publisher, published_at, payload FROM pep_items WHERE domain = ? AND username = ? AND "
      "node = ? AND item_id = ?",
      {text(domain), text(user), text(node), text(id)});
  if (rows.empty()) return std::nullopt;
  return itemFrom(rows[0]);
}

}  // namespace parley::xep::pep
