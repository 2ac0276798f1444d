#include "storage/roster_store.h"

#include <fmt/format.h>

namespace parley::storage {
namespace {

Value text(std::string_view s) {
  return std::string(s);
}

// Groups are stored as one text column, each group followed by '\n'. Terminating (rather than
// separating) keeps "no groups" ("") apart from "one empty group" ("\n"). A group name is peer
// input and may itself hold '\n' or '\\', so those two are escaped: "\\n" and "\\\\".
std::string encodeGroups(const std::vector<std::string>& groups) {
  std::string out;
  for (const auto& group : groups) {
    for (char ch : group) {
      if (ch == '\\') {
        out += "\\\\";
      } else if (ch == '\n') {
        out += "\\n";
      } else {
        out += ch;
      }
    }
    out += '\n';
  }
  return out;
}

std::vector<std::string> decodeGroups(std::string_view encoded) {
  std::vector<std::string> groups;
  std::string current;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    char ch = encoded[i];
    if (ch == '\n') {
      groups.push_back(std::move(current));
      current.clear();
    } else if (ch == '\\' && i + 1 < encoded.size()) {
      current += encoded[++i] == 'n' ? '\n' : encoded[i];
    } else {
      current += ch;
    }
  }
  if (!current.empty()) groups.push_back(std::move(current));  // tolerate a missing final '\n'
  return groups;
}

Subscription parseSubscription(std::string_view s) {
  if (s == "none") return Subscription::None;
  if (s == "to") return Subscription::To;
  if (s == "from") return Subscription::From;
  if (s == "both") return Subscription::Both;
  throw StorageError(fmt::format("roster: unknown subscription \"{}\" in the database", s));
}

constexpr std::string_view kItemColumns =
    "contact, name, group_names, subscription, ask_out, pending_in, pending_in_stanza, approved, visible";

RosterItem readItem(const Row& r) {
  RosterItem item;
  item.contact = r.getText(0);
  item.name = r.getText(1);
  item.groups = decodeGroups(r.getText(2));
  item.subscription = parseSubscription(r.getText(3));
  item.askOut = r.getInt(4) != 0;
  item.pendingIn = r.getInt(5) != 0;
  item.pendingInStanza = r.getText(6);
  item.approved = r.getInt(7) != 0;
  item.visible = r.getInt(8) != 0;
  return item;
}

std::uint64_t readVersion(Connection& c, std::string_view domain, std::string_view user) {
  auto rows = c.query("SELECT version FROM roster_versions WHERE domain = ? AND username = ?",
                      {text(domain), text(user)});
  return rows.empty() ? 0 : static_cast<std::uint64_t>(rows[0].getInt(0));
}

// Called inside the transaction that changed the roster (XEP-0237: the version names the roster's state).
std::uint64_t bumpVersion(Connection& c, std::string_view domain, std::string_view user) {
  // UPDATE-then-INSERT instead of an upsert: Dialect::upsert only copies the new value, and this is
  // "old + 1". Inside the transaction no other writer can slip in between.
  if (c.execute("UPDATE roster_versions SET version = version + 1 WHERE domain = ? AND username = ?",
                {text(domain), text(user)}) == 0) {
    c.execute("INSERT INTO roster_versions (domain, username, version) VALUES (?, ?, 1)",
              {text(domain), text(user)});
  }
  return readVersion(c, domain, user);
}

}  // namespace

std::string_view subscriptionName(Subscription s) {
  switch (s) {
    case Subscription::None:
      return "none";
    case Subscription::To:
      return "to";
    case Subscription::From:
      return "from";
    case Subscription::Both:
      return "both";
  }
  return "none";
}

std::vector<RosterItem> RosterStore::load(std::string_view domain, std::string_view user) {
  auto rows = db_.connection().query(
      fmt::format("SELECT {} FROM roster_items WHERE domain = ? AND username = ? ORDER BY contact",
                  kItemColumns),
      {text(domain), text(user)});
  std::vector<RosterItem> items;
  items.reserve(rows.size());
  for (const Row& r : rows) items.push_back(readItem(r));
  return items;
}

std::optional<RosterItem> RosterStore::get(std::string_view domain, std::string_view user,
                                           std::string_view contact) {
  auto rows = db_.connection().query(
      fmt::format("SELECT {} FROM roster_items WHERE domain = ? AND username = ? AND contact = ?",
                  kItemColumns),
      {text(domain), text(user), text(contact)});
  if (rows.empty()) return std::nullopt;
  return readItem(rows[0]);
}

std::uint64_t RosterStore::put(std::string_view domain, std::string_view user, const RosterItem& item) {
  // Built per call: a few hundred nanoseconds next to the write, and the dialect is the database's.
  const std::string sql =
      db_.dialect().upsert("roster_items",
                           {"domain", "username", "contact", "name", "group_names", "subscription", "ask_out",
                            "pending_in", "pending_in_stanza", "approved", "visible"},
                           {"domain", "username", "contact"},
                           {"name", "group_names", "subscription", "ask_out", "pending_in",
                            "pending_in_stanza", "approved", "visible"});
  return db_.transaction([&](Connection& c) {
    c.execute(sql, {text(domain), text(user), item.contact, item.name, encodeGroups(item.groups),
                    text(subscriptionName(item.subscription)), std::int64_t{item.askOut},
                    std::int64_t{item.pendingIn}, item.pendingInStanza, std::int64_t{item.approved},
                    std::int64_t{item.visible}});
    return bumpVersion(c, domain, user);
  });
}

std::uint64_t RosterStore::remove(std::string_view domain, std::string_view user, std::string_view contact) {
  return db_.transaction([&](Connection& c) {
    if (c.execute("DELETE FROM roster_items WHERE domain = ? AND username = ? AND contact = ?",
                  {text(domain), text(user), text(contact)}) == 0) {
      return readVersion(c, domain, user);
    }
    return bumpVersion(c, domain, user);
  });
}

std::uint64_t RosterStore::version(std::string_view domain, std::string_view user) {
  return readVersion(db_.connection(), domain, user);
}

}  // namespace parley::storage
