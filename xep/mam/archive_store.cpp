#include "xep/mam/archive_store.h"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>

namespace parley::xep::mam {
namespace {

using storage::Connection;
using storage::Row;
using storage::Value;

Value text(std::string_view s) {
  return std::string(s);
}

std::string joinLines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    out += i;
    out += '\n';
  }
  return out;
}

std::vector<std::string> splitLines(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto nl = s.find('\n');
    if (nl == std::string_view::npos) {
      out.emplace_back(s);
      break;
    }
    out.emplace_back(s.substr(0, nl));
    s.remove_prefix(nl + 1);
  }
  return out;
}

// The conditions that define the result set (the query form), as SQL and parameters.
struct Filter {
  std::string sql;
  std::vector<Value> params;
  bool empty = false;  // known to match nothing

  // Values are constructed in place: copying a temporary Value into the vector makes g++ 12 -O2 warn
  // (a false -Wmaybe-uninitialized about the std::string alternative).
  void add(std::string_view cond, std::int64_t v) {
    sql += " AND ";
    sql += cond;
    params.emplace_back(std::in_place_type<std::int64_t>, v);
  }
  void add(std::string_view cond, const std::string& v) {
    sql += " AND ";
    sql += cond;
    params.emplace_back(std::in_place_type<std::string>, v);
  }
};

std::string ownerWhere(const ArchiveTable& t) {
  return "domain = ? AND " + std::string(t.owner) + " = ?";
}

// XEP-0313 §4.1.2: 'start'/'end' are stamp bounds. A message's stamp is the time its id stands for
// (ArchiveClock: ids are increasing microseconds), so both bounds are id bounds and every query stays a
// range on an id index; no index on stamps is kept (schema 9 dropped it: one B-tree less to update for
// every archived message). Rows written before schema 9 may carry a stamp a little below their id (ids
// ran ahead of the clock during bursts): the stamp condition keeps 'start' exact for them, and 'end'
// may leave out such a row stamped within microseconds before it.
Filter buildFilter(const ArchiveTable& t, const ArchiveQuery& q) {
  Filter f;
  f.sql = ownerWhere(t);
  f.params = {text(q.domain), text(q.user)};
  if (q.with) {
    f.add(std::string(t.with) + " = ?", *q.with);
    if (q.withResource) {
      if (t.withResource.empty()) {
        f.empty = true;
        return f;
      }
      f.add(std::string(t.withResource) + " = ?", *q.withResource);
    }
  }
  if (q.start) {
    f.add("id >= ?", *q.start);
    f.add("stamp >= ?", *q.start);
  }
  if (q.end) {
    f.add("id <= ?", *q.end);
    f.add("stamp <= ?", *q.end);
  }
  if (q.afterId) f.add("id > ?", *q.afterId);
  if (q.beforeId) f.add("id < ?", *q.beforeId);
  if (!q.ids.empty()) {
    // One placeholder per id: the statement text depends only on how many (bounded by the caller).
    f.sql += " AND id IN (";
    for (std::size_t i = 0; i < q.ids.size(); ++i) {
      f.sql += i ? ", ?" : "?";
      f.params.emplace_back(std::in_place_type<std::int64_t>, q.ids[i]);
    }
    f.sql += ")";
  }
  return f;
}

std::int64_t countWhere(Connection& c, const ArchiveTable& t, const std::string& where,
                        const std::vector<Value>& params) {
  return c.query("SELECT COUNT(*) FROM " + std::string(t.name) + " WHERE " + where, params)[0].getInt(0);
}

ArchivedMessage messageFrom(const Row& r) {
  return ArchivedMessage{r.getInt(0),  r.getInt(1),  r.getInt(2) != 0,
                         r.getText(3), r.getText(4), r.getText(5)};
}

std::string columns(const ArchiveTable& t) {
  return "SELECT id, stamp, " + std::string(t.outgoing) + ", " + std::string(t.with) + ", " +
         (t.withResource.empty() ? std::string("''") : std::string(t.withResource)) + ", xml FROM " +
         std::string(t.name) + " WHERE ";
}

}  // namespace

std::string_view archiveModeName(ArchiveMode m) {
  switch (m) {
    case ArchiveMode::Always:
      return "always";
    case ArchiveMode::Never:
      return "never";
    case ArchiveMode::Roster:
      return "roster";
  }
  return "always";
}

std::optional<ArchiveMode> archiveModeFromName(std::string_view name) {
  if (name == "always") return ArchiveMode::Always;
  if (name == "never") return ArchiveMode::Never;
  if (name == "roster") return ArchiveMode::Roster;
  return std::nullopt;
}

std::size_t ArchiveStore::append(const std::vector<ArchiveRow>& rows) {
  if (rows.empty()) return 0;
  return db_.transaction([&](Connection& c) {
    // One statement per row, written only while the account exists (it may have been deleted since the
    // message was routed): the account's primary key makes the SELECT yield one row or none.
    std::size_t stored = 0;
    for (const ArchiveRow& r : rows) {
      stored += static_cast<std::size_t>(c.execute(
          "INSERT INTO mam_messages (id, domain, username, with_jid, with_resource, stamp, outgoing, xml) "
          "SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM accounts WHERE domain = ? AND username = ?",
          {r.id, text(r.domain), text(r.user), text(r.with), text(r.withResource), r.stamp,
           std::int64_t{r.outgoing}, text(r.xml), text(r.domain), text(r.user)}));
    }
    return stored;
  });
}

std::int64_t ArchiveStore::maxId() {
  return db_.connection().query("SELECT MAX(id) FROM mam_messages")[0].getInt(0);
}

bool archiveContains(Connection& c, const ArchiveTable& t, std::string_view domain, std::string_view owner,
                     std::int64_t id) {
  return !c.query("SELECT 1 FROM " + std::string(t.name) + " WHERE id = ? AND " + ownerWhere(t),
                  {id, text(domain), text(owner)})
              .empty();
}

ArchivePage queryArchive(Connection& c, const ArchiveTable& t, const ArchiveQuery& q) {
  ArchivePage page;
  Filter f = buildFilter(t, q);
  if (f.empty) {
    if (q.count) page.count = 0;
    return page;
  }
  if (q.max > 0) {
    std::string sql = columns(t);
    sql += f.sql;
    auto params = f.params;
    if (q.pageAfter) {
      sql += " AND id > ?";
      params.emplace_back(std::in_place_type<std::int64_t>, *q.pageAfter);
    }
    if (q.pageBefore) {
      sql += " AND id < ?";
      params.emplace_back(std::in_place_type<std::int64_t>, *q.pageBefore);
    }
    // One row more than the page tells whether the page ends the set in its direction.
    sql += q.fromEnd ? " ORDER BY id DESC LIMIT ?" : " ORDER BY id LIMIT ?";
    params.emplace_back(std::in_place_type<std::int64_t>, q.max + 1);
    auto rows = c.query(sql, params);
    page.complete = rows.size() <= static_cast<std::size_t>(q.max);
    if (!page.complete) rows.pop_back();
    page.messages.reserve(rows.size());
    for (const Row& r : rows) page.messages.push_back(messageFrom(r));
    if (q.fromEnd) std::reverse(page.messages.begin(), page.messages.end());
  }
  if (q.count) {
    if (page.messages.empty()) {
      page.count = countWhere(c, t, f.sql, f.params);
    } else {
      // The set's size and the page's position in it, in one pass over the matching index range.
      std::vector<Value> params;
      params.reserve(f.params.size() + 1);
      params.emplace_back(std::in_place_type<std::int64_t>, page.messages.front().id);
      params.insert(params.end(), f.params.begin(), f.params.end());
      auto r = c.query("SELECT COUNT(*), COUNT(CASE WHEN id < ? THEN 1 END) FROM " + std::string(t.name) +
                           " WHERE " + f.sql,
                       params);
      page.count = r[0].getInt(0);
      page.firstIndex = r[0].getInt(1);
    }
  }
  if (q.max <= 0) page.complete = page.count == 0;
  return page;
}

std::optional<std::pair<ArchivedMessage, ArchivedMessage>> archiveBounds(Connection& c, const ArchiveTable& t,
                                                                         std::string_view domain,
                                                                         std::string_view owner) {
  auto first = c.query(columns(t) + ownerWhere(t) + " ORDER BY id LIMIT 1", {text(domain), text(owner)});
  if (first.empty()) return std::nullopt;
  auto last = c.query(columns(t) + ownerWhere(t) + " ORDER BY id DESC LIMIT 1", {text(domain), text(owner)});
  if (last.empty()) return std::nullopt;  // deleted in between
  return std::make_pair(messageFrom(first[0]), messageFrom(last[0]));
}

bool ArchiveStore::contains(std::string_view domain, std::string_view user, std::int64_t id) {
  return archiveContains(db_.connection(), kUserArchive, domain, user, id);
}

ArchivePage ArchiveStore::query(const ArchiveQuery& q) {
  return queryArchive(db_.connection(), kUserArchive, q);
}

std::optional<std::pair<ArchivedMessage, ArchivedMessage>> ArchiveStore::bounds(std::string_view domain,
                                                                                std::string_view user) {
  return archiveBounds(db_.connection(), kUserArchive, domain, user);
}

std::int64_t ArchiveStore::count(std::string_view domain, std::string_view user) {
  return countWhere(db_.connection(), kUserArchive, ownerWhere(kUserArchive), {text(domain), text(user)});
}

std::int64_t ArchiveStore::removeBelow(std::int64_t idBelow, std::int64_t limit) {
  if (limit <= 0) return 0;
  // The last id of the chunk first, then a range delete: MySQL/MariaDB refuse LIMIT in an IN subquery
  // (and a subquery on the table being deleted from).
  return db_.transaction([&](Connection& c) -> std::int64_t {
    auto last = c.query(
        "SELECT MAX(id) FROM (SELECT id FROM mam_messages WHERE id < ? ORDER BY id LIMIT ?) AS oldest",
        {idBelow, limit});
    if (last.empty() || last[0].isNull(0)) return 0;
    return c.execute("DELETE FROM mam_messages WHERE id <= ?", {last[0].getInt(0)});
  });
}

std::optional<ArchivePrefs> ArchiveStore::prefs(std::string_view domain, std::string_view user) {
  auto rows = db_.connection().query(
      "SELECT default_mode, always_jids, never_jids FROM mam_prefs WHERE domain = ? AND username = ?",
      {text(domain), text(user)});
  if (rows.empty()) return std::nullopt;
  ArchivePrefs p;
  p.mode = archiveModeFromName(rows[0].getText(0)).value_or(ArchiveMode::Always);
  p.always = splitLines(rows[0].getText(1));
  p.never = splitLines(rows[0].getText(2));
  return p;
}

void ArchiveStore::setPrefs(std::string_view domain, std::string_view user, const ArchivePrefs& prefs) {
  db_.connection().execute(
      db_.dialect().upsert("mam_prefs", {"domain", "username", "default_mode", "always_jids", "never_jids"},
                           {"domain", "username"}, {"default_mode", "always_jids", "never_jids"}),
      {text(domain), text(user), text(archiveModeName(prefs.mode)), joinLines(prefs.always),
       joinLines(prefs.never)});
}

std::vector<UserPrefs> ArchiveStore::allPrefs() {
  auto rows =
      db_.connection().query("SELECT domain, username, default_mode, always_jids, never_jids FROM mam_prefs");
  std::vector<UserPrefs> out;
  out.reserve(rows.size());
  for (const Row& r : rows) {
    UserPrefs u{r.getText(0), r.getText(1), {}};
    u.prefs.mode = archiveModeFromName(r.getText(2)).value_or(ArchiveMode::Always);
    u.prefs.always = splitLines(r.getText(3));
    u.prefs.never = splitLines(r.getText(4));
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace parley::xep::mam
