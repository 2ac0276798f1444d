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

// Column names as one query part sees them: bare on a single table, qualified where the user
// archive's index (alias i) is joined to its rows (alias m).
struct Columns {
  std::string domain, owner, with, withResource, id, stamp;
};

Columns plainColumns(const ArchiveTable& t) {
  return {"domain", std::string(t.owner), std::string(t.with), std::string(t.withResource), "id", "stamp"};
}

// XEP-0313 §4.1.2: 'start'/'end' are stamp bounds. A message's stamp is the time its id stands for
// (ArchiveClock: ids are increasing microseconds), so both bounds are id bounds and every query stays a
// range on an id index; no index on stamps is kept (schema 9 dropped it: one B-tree less to update for
// every archived message). Rows written before schema 9 may carry a stamp a little below their id (ids
// ran ahead of the clock during bursts): the stamp condition keeps 'start' exact for them, and 'end'
// may leave out such a row stamped within microseconds before it.
// `rowColumns` is set when a condition reads a column only the rows have (not the user archive's index).
Filter buildFilter(const ArchiveTable& t, const ArchiveQuery& q, const Columns& col,
                   bool* rowColumns = nullptr) {
  Filter f;
  f.sql = col.domain + " = ? AND " + col.owner + " = ?";
  f.params = {text(q.domain), text(q.user)};
  bool row = false;
  if (q.with) {
    f.add(col.with + " = ?", *q.with);
    if (q.withResource) {
      if (t.withResource.empty()) {
        f.empty = true;
        return f;
      }
      f.add(col.withResource + " = ?", *q.withResource);
      row = true;
    }
  }
  if (q.start) {
    f.add(col.id + " >= ?", *q.start);
    f.add(col.stamp + " >= ?", *q.start);
    row = true;
  }
  if (q.end) {
    f.add(col.id + " <= ?", *q.end);
    f.add(col.stamp + " <= ?", *q.end);
    row = true;
  }
  if (q.afterId) f.add(col.id + " > ?", *q.afterId);
  if (q.beforeId) f.add(col.id + " < ?", *q.beforeId);
  if (!q.ids.empty()) {
    // One placeholder per id: the statement text depends only on how many (bounded by the caller).
    f.sql += " AND " + col.id + " IN (";
    for (std::size_t i = 0; i < q.ids.size(); ++i) {
      f.sql += i ? ", ?" : "?";
      f.params.emplace_back(std::in_place_type<std::int64_t>, q.ids[i]);
    }
    f.sql += ")";
  }
  if (rowColumns) *rowColumns = row;
  return f;
}

ArchivedMessage messageFrom(const Row& r) {
  return ArchivedMessage{r.getInt(0),  r.getInt(1),  r.getInt(2) != 0,
                         r.getText(3), r.getText(4), r.getText(5)};
}

std::string columns(const ArchiveTable& t, std::string_view alias = "") {
  const std::string a(alias);
  return "SELECT " + a + "id, " + a + "stamp, " + a + std::string(t.outgoing) + ", " + a +
         std::string(t.with) + ", " +
         (t.withResource.empty() ? std::string("''") : a + std::string(t.withResource)) + ", " + a +
         "xml FROM " + std::string(t.name) + " ";
}

// One source of an archive's messages: a FROM clause and the filter on it.
struct Source {
  std::string select;  // "SELECT <the six columns> FROM …"
  std::string count;   // "SELECT COUNT(*) FROM …"
  std::string id;      // the id column as the filter names it
  Filter filter;
};

// Paging and ordering (XEP-0059) of one source: the first `limit` rows past the page bounds, in the
// paging direction.
std::vector<Row> pageOf(Connection& c, const Source& s, const ArchiveQuery& q, std::int64_t limit) {
  std::string sql = s.select + " WHERE " + s.filter.sql;
  auto params = s.filter.params;
  if (q.pageAfter) {
    sql += " AND " + s.id + " > ?";
    params.emplace_back(std::in_place_type<std::int64_t>, *q.pageAfter);
  }
  if (q.pageBefore) {
    sql += " AND " + s.id + " < ?";
    params.emplace_back(std::in_place_type<std::int64_t>, *q.pageBefore);
  }
  sql += " ORDER BY " + s.id + (q.fromEnd ? " DESC LIMIT ?" : " LIMIT ?");
  params.emplace_back(std::in_place_type<std::int64_t>, limit);
  return c.query(sql, params);
}

// The set's size, and how many of it come before `first` (when given).
std::pair<std::int64_t, std::int64_t> countOf(Connection& c, const Source& s,
                                              std::optional<std::int64_t> first) {
  if (!first) return {c.query(s.count + " WHERE " + s.filter.sql, s.filter.params)[0].getInt(0), 0};
  // The set's size and the page's position in it, in one pass over the matching index range.
  std::vector<Value> params;
  params.reserve(s.filter.params.size() + 1);
  params.emplace_back(std::in_place_type<std::int64_t>, *first);
  params.insert(params.end(), s.filter.params.begin(), s.filter.params.end());
  auto r = c.query("SELECT COUNT(*), COUNT(CASE WHEN " + s.id + " < ? THEN 1 END) " +
                       s.count.substr(std::string_view("SELECT COUNT(*) ").size()) + " WHERE " + s.filter.sql,
                   params);
  return {r[0].getInt(0), r[0].getInt(1)};
}

// A query over sources whose id ranges follow each other (every id of sources[k] below every id of
// sources[k+1]): a page takes rows from the first source in the paging direction, then the next.
ArchivePage queryParts(Connection& c, const std::vector<Source>& sources, const ArchiveQuery& q) {
  ArchivePage page;
  if (q.max > 0) {
    std::vector<Row> rows;
    const std::int64_t want = q.max + 1;  // one row more tells whether the page ends the set
    for (std::size_t k = 0; k < sources.size() && static_cast<std::int64_t>(rows.size()) < want; ++k) {
      const Source& s = sources[q.fromEnd ? sources.size() - 1 - k : k];
      if (s.filter.empty) continue;
      auto part = pageOf(c, s, q, want - static_cast<std::int64_t>(rows.size()));
      for (auto& r : part) rows.push_back(std::move(r));
    }
    page.complete = rows.size() <= static_cast<std::size_t>(q.max);
    if (!page.complete) rows.pop_back();
    page.messages.reserve(rows.size());
    for (const Row& r : rows) page.messages.push_back(messageFrom(r));
    if (q.fromEnd) std::reverse(page.messages.begin(), page.messages.end());
  }
  if (q.count) {
    page.count = 0;
    std::optional<std::int64_t> first;
    if (!page.messages.empty()) {
      first = page.messages.front().id;
      page.firstIndex = 0;
    }
    for (const Source& s : sources) {
      if (s.filter.empty) continue;
      auto [n, before] = countOf(c, s, first);
      page.count += n;
      if (first) page.firstIndex += before;
    }
  }
  if (q.max <= 0) page.complete = page.count == 0;
  return page;
}

// --- The user archive: rows appended, owners indexed in bulk ---------------------------------------
//
// mam_messages has no index but its primary key (the id), so an archived message costs one append at
// the end of one B-tree. mam_index maps (domain, username[, with_jid]) to ids; ArchiveStore::index adds
// the rows above mam_index_state.indexed_to to it in bulk, sorted, so each index page is written once
// for many rows rather than once per row. A query reads the index up to indexed_to and the rows above
// it (the tail) by id: from the list the mam module keeps in memory, or by scanning the tail. A
// database without a mam_index_state row has indexed nothing yet (the watermark is 0).

constexpr std::size_t kMaxTailIds = 8192;  // padded to 8,192: within SQLite's 32,766 parameters

const Columns kIndexColumns{"i.domain", "i.username", "i.with_jid", "m.with_resource", "i.id", "m.stamp"};

// Ids for an IN list, padded with 0 (never an archive id) to 8 times a power of 4 (8 … 8,192), so
// that few statement texts are prepared whatever the tail's length: each filter combination multiplies
// them, and the connections' statement caches are bounded.
std::string idList(const std::vector<std::int64_t>& ids, std::vector<Value>& params) {
  std::size_t n = 8;
  while (n < ids.size()) n *= 4;
  std::string sql = "(";
  for (std::size_t i = 0; i < n; ++i) {
    sql += i ? ", ?" : "?";
    params.emplace_back(std::in_place_type<std::int64_t>, i < ids.size() ? ids[i] : 0);
  }
  return sql + ")";
}

// The tail's ids that can be in the result set of `q` (the filters on ids alone; not the paging, since
// counts are over the whole set).
std::vector<std::int64_t> tailCandidates(const ArchiveTail& tail, const ArchiveQuery& q) {
  std::vector<std::int64_t> out;
  for (std::int64_t id : tail.ids) {
    if (id <= tail.indexedTo) continue;
    if ((q.start && id < *q.start) || (q.end && id > *q.end)) continue;
    if ((q.afterId && id <= *q.afterId) || (q.beforeId && id >= *q.beforeId)) continue;
    if (!q.ids.empty() && std::find(q.ids.begin(), q.ids.end(), id) == q.ids.end()) continue;
    out.push_back(id);
  }
  return out;
}

// The two sources of a user archive query: the indexed part (ids up to the watermark) and the tail.
std::vector<Source> userSources(Connection& c, const ArchiveQuery& q, const ArchiveTail* tail) {
  const std::int64_t indexedTo =
      tail ? tail->indexedTo
           : c.query("SELECT COALESCE(MAX(indexed_to), 0) FROM mam_index_state")[0].getInt(0);
  std::vector<Source> sources(2);

  Source& indexed = sources[0];
  bool rowColumns = false;
  indexed.filter = buildFilter(kUserArchive, q, kIndexColumns, &rowColumns);
  indexed.filter.add("i.id <= ?", indexedTo);
  indexed.select = columns(kUserArchive, "m.") + "m JOIN mam_index i ON m.id = i.id";
  // A count reads the index alone unless a condition needs the rows.
  indexed.count = rowColumns ? "SELECT COUNT(*) FROM mam_messages m JOIN mam_index i ON m.id = i.id"
                             : "SELECT COUNT(*) FROM mam_index i";
  indexed.id = "i.id";

  Source& rest = sources[1];
  rest.filter = buildFilter(kUserArchive, q, plainColumns(kUserArchive));
  rest.select = columns(kUserArchive);
  rest.count = "SELECT COUNT(*) FROM mam_messages";
  rest.id = "id";
  if (!rest.filter.empty) {
    std::vector<std::int64_t> ids;
    if (tail) ids = tailCandidates(*tail, q);
    // A tail longer than an IN list should be (one account wrote most of the tail, or the writer could
    // not index for a while) is scanned.
    if (tail && ids.size() <= kMaxTailIds) {
      if (ids.empty()) {
        rest.filter.empty = true;
      } else {
        std::vector<Value> params;
        rest.filter.sql = "id IN " + idList(ids, params) + " AND " + rest.filter.sql;
        params.insert(params.end(), rest.filter.params.begin(), rest.filter.params.end());
        rest.filter.params = std::move(params);
      }
    } else {
      rest.filter.add("id > ?", indexedTo);
    }
  }
  return sources;
}

}  // namespace

ArchivePage queryArchive(Connection& c, const ArchiveTable& t, const ArchiveQuery& q) {
  Source s;
  s.filter = buildFilter(t, q, plainColumns(t));
  if (s.filter.empty) {
    ArchivePage page;
    if (q.count) page.count = 0;
    return page;
  }
  s.select = columns(t);
  s.count = "SELECT COUNT(*) FROM " + std::string(t.name);
  s.id = "id";
  return queryParts(c, {s}, q);
}

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

std::optional<std::pair<ArchivedMessage, ArchivedMessage>> archiveBounds(Connection& c, const ArchiveTable& t,
                                                                         std::string_view domain,
                                                                         std::string_view owner) {
  auto first =
      c.query(columns(t) + "WHERE " + ownerWhere(t) + " ORDER BY id LIMIT 1", {text(domain), text(owner)});
  if (first.empty()) return std::nullopt;
  auto last = c.query(columns(t) + "WHERE " + ownerWhere(t) + " ORDER BY id DESC LIMIT 1",
                      {text(domain), text(owner)});
  if (last.empty()) return std::nullopt;  // deleted in between
  return std::make_pair(messageFrom(first[0]), messageFrom(last[0]));
}

bool ArchiveStore::contains(std::string_view domain, std::string_view user, std::int64_t id) {
  return archiveContains(db_.connection(), kUserArchive, domain, user, id);
}

// No transaction needed: every row at or below the watermark a query uses was indexed before the
// watermark was published (the writer's memory, or mam_index_state), and the index part reads no
// entry above it, so an indexing that commits meanwhile changes neither part. (A transaction would take
// SQLite's write lock, Database::transaction.)
ArchivePage ArchiveStore::query(const ArchiveQuery& q, const ArchiveTail* tail) {
  Connection& c = db_.connection();
  return queryParts(c, userSources(c, q, tail), q);
}

std::optional<std::pair<ArchivedMessage, ArchivedMessage>> ArchiveStore::bounds(std::string_view domain,
                                                                                std::string_view user,
                                                                                const ArchiveTail* tail) {
  ArchiveQuery q;
  q.domain = std::string(domain);
  q.user = std::string(user);
  q.max = 1;
  q.count = false;
  Connection& c = db_.connection();
  const auto sources = userSources(c, q, tail);
  auto first = queryParts(c, sources, q);
  if (first.messages.empty()) return std::nullopt;
  q.fromEnd = true;
  auto last = queryParts(c, sources, q);
  if (last.messages.empty()) return std::nullopt;  // deleted in between
  return std::make_pair(std::move(first.messages.front()), std::move(last.messages.front()));
}

std::int64_t ArchiveStore::count(std::string_view domain, std::string_view user, const ArchiveTail* tail) {
  ArchiveQuery q;
  q.domain = std::string(domain);
  q.user = std::string(user);
  q.max = 0;
  return query(q, tail).count;
}

std::int64_t ArchiveStore::indexedTo() {
  return db_.connection().query("SELECT COALESCE(MAX(indexed_to), 0) FROM mam_index_state")[0].getInt(0);
}

std::int64_t ArchiveStore::index(std::int64_t upTo) {
  return db_.transaction([&](Connection& c) -> std::int64_t {
    const std::int64_t from =
        c.query("SELECT COALESCE(MAX(indexed_to), 0) FROM mam_index_state")[0].getInt(0);
    if (upTo <= from) return 0;
    // Sorted by the index's key, so that consecutive inserts land on the same index pages.
    const std::int64_t n = c.execute(
        "INSERT INTO mam_index (domain, username, id, with_jid) SELECT domain, username, id, with_jid "
        "FROM mam_messages WHERE id > ? AND id <= ? ORDER BY domain, username, id",
        {from, upTo});
    c.execute(db_.dialect().upsert("mam_index_state", {"one", "indexed_to"}, {"one"}, {"indexed_to"}),
              {std::int64_t{1}, upTo});
    return n;
  });
}

std::int64_t ArchiveStore::removeBelow(std::int64_t idBelow, std::int64_t limit) {
  if (limit <= 0) return 0;
  // The last id of the chunk first, then a range delete: MySQL/MariaDB refuse LIMIT in an IN subquery
  // (and a subquery on the table being deleted from). The chunk's index entries go first, found by
  // their rows' keys.
  return db_.transaction([&](Connection& c) -> std::int64_t {
    auto last = c.query(
        "SELECT MAX(id) FROM (SELECT id FROM mam_messages WHERE id < ? ORDER BY id LIMIT ?) AS oldest",
        {idBelow, limit});
    if (last.empty() || last[0].isNull(0)) return 0;
    const std::int64_t upTo = last[0].getInt(0);
    c.execute(
        "DELETE FROM mam_index WHERE (domain, username, id) IN "
        "(SELECT domain, username, id FROM mam_messages WHERE id <= ?)",
        {upTo});
    return c.execute("DELETE FROM mam_messages WHERE id <= ?", {upTo});
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
