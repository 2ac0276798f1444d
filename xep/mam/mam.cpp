// XEP-0313 Message Archive Management for user accounts (urn:xmpp:mam:2 and #extended), with XEP-0359
// stanza ids, XEP-0441 preferences and XEP-0059 paging.
//
// DESIGN
// - What is archived: one-to-one messages of type chat or normal that carry content (a body, or a
//   payload such as an OMEMO message; not chat states, receipts or markers alone), unless XEP-0334
//   hints say otherwise; never errors, headlines or groupchat. Each message is archived once per
//   account: for the recipient in MessageToAccount (once per message and account, whatever the number
//   of resources it goes to, and also when it goes to offline storage), for the sender in
//   StanzaFromClient (a message to one's own account only on the recipient side).
// - Ids: ArchiveClock hands out increasing ids (archive_id.h); the recipient's copy is stamped with
//   <stanza-id by='account' id='…'/> before anyone receives it, after removing any stanza-id claiming
//   to be by that account that the server did not issue (XEP-0359 §7). A message that already carries
//   our stanza-id for the account (re-routed by stream management after its session ended) is neither
//   archived nor stamped again.
// - Writes never block a network thread. Archives are spread over shards (one on SQLite, which has a
//   single writer anyway: parallel writers would only wait on its lock and invalidate each other's page
//   cache; as many as the blocking pool has threads on MySQL); each shard has a pending list and at most
//   one drain job queued on the pool under the shard's key. The id is taken under the shard's lock, so a
//   shard's list is in id order, and a drain writes everything pending in one transaction (group
//   commit, across users). A query runs under the same key, so it sees every message archived before it
//   was asked. The drain job is queued from the hook itself, so Server::afterQueuedWork (XEP-0198 acks)
//   covers the write.
// - Group commit under load: a transaction's cost is mostly fixed (the commit, and the index pages it
//   dirties, which many rows share), so one row per transaction is the most expensive way to write.
//   When drains follow each other closely (the last one ended less than kBusyGap ago), a drain first
//   waits up to kLinger for kBatchRows rows to gather. A message is delivered before it is written, so
//   only XEP-0198 acks and archive queries (behind the drain on the same worker) wait that long; a quiet
//   server writes each message at once.
// - Bulk indexing (archive_store.h): a drain appends rows to mam_messages only, and remembers their ids
//   by owner (the tail). Once index_rows rows are in the tail (or its oldest is index_seconds old), the
//   drain indexes every row that no shard is still to write (below the first id pending or being
//   written anywhere), in one sorted insert, and forgets them. A query, under the archive's pool key, takes
//   the owner's tail ids with the watermark, so it sees every row written before it. At start the rows a
//   stopped server left unindexed are indexed.
// - Preferences of the accounts that set any are kept in memory (loaded at start, written through), so
//   the decision is made on the network thread; 'roster' uses the cached roster of an online account,
//   and for an offline account the drain job checks the stored roster.
// - Retention: a timer on one network thread queues a sweep that deletes, in chunks, messages older
//   than retention_days (an id range, since ids never run behind their stamps).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"
#include "server/xml/parse_fragment.h"
#include "storage/roster_store.h"
#include "xep/mam/archive_id.h"
#include "xep/mam/archive_store.h"
#include "xep/mam/mam_query.h"

namespace parley::xep::mam {

namespace {

using router::IqRequest;
using xmpp::Jid;
using xmpp::StanzaError;
using xmpp::StanzaPtr;

constexpr std::string_view kMam = xml::ns::kMam;
constexpr std::string_view kExtended = "urn:xmpp:mam:2#extended";
constexpr std::string_view kSid = xml::ns::kStanzaId;
constexpr std::int64_t kRetentionChunk = 5000;

// --- What is worth archiving ----------------------------------------------------------------------

// Payloads that describe a conversation's state rather than say anything: alone, they are not archived.
bool isNoise(const xml::Element& child) {
  const auto& ns = child.xmlns();
  return ns == xml::ns::kChatStates || ns == xml::ns::kReceipts || ns == "urn:xmpp:chat-markers:0" ||
         ns == xml::ns::kHints || ns == kSid || ns == xml::ns::kDelay || ns == "urn:xmpp:eme:0" ||
         ns == "http://jabber.org/protocol/address" || (ns == xml::ns::kClient && child.name() == "thread");
}

// XEP-0313 §6.1.1 (user archives) and XEP-0334.
bool archivable(const xml::Element& m) {
  const auto type = m.attr("type");
  if (!(type.empty() || type == "chat" || type == "normal")) return false;  // error, groupchat, headline
  // Copies and wrappers of messages archived elsewhere: carbons (XEP-0280), MAM results, pubsub events.
  for (const auto& c : m.children()) {
    const auto& ns = c->xmlns();
    if (ns == xml::ns::kCarbons && (c->name() == "sent" || c->name() == "received")) return false;
    if (ns == kMam && c->name() == "result") return false;
    if (ns == xml::ns::kPubsubEvent) return false;
  }
  if (m.child("no-store", xml::ns::kHints) || m.child("no-permanent-store", xml::ns::kHints)) return false;
  if (m.child("store", xml::ns::kHints)) return true;
  if (m.child("body", xml::ns::kClient)) return true;
  for (const auto& c : m.children()) {
    if (isNoise(*c)) continue;
    // OMEMO (XEP-0384): a message with a payload is content; a bare key exchange is not.
    if (c->name() == "encrypted" && c->xmlns().starts_with("eu.siacs.conversations.axolotl"))
      return c->child("payload", c->xmlns()) != nullptr;
    if (c->is("encrypted", "urn:xmpp:omemo:2")) return c->child("payload", "urn:xmpp:omemo:2") != nullptr;
    return true;  // anything else (subject, oob, invitations, other encryption) is content
  }
  return false;
}

// XEP-0441 §4.1: a listed bare JID matches the target with any resource.
bool listed(const std::vector<std::string>& jids, const Jid& target) {
  const std::string bare = target.bareStr(), full = target.str();
  for (const auto& j : jids)
    if (j == bare || j == full) return true;
  return false;
}

// --- Preferences cache ------------------------------------------------------------------------------

class PrefsCache {
 public:
  using Ptr = std::shared_ptr<const ArchivePrefs>;
  Ptr get(const std::string& bare) const {
    std::shared_lock lock(mu_);
    auto it = map_.find(bare);
    return it == map_.end() ? nullptr : it->second;
  }
  void set(const std::string& bare, ArchivePrefs p) {
    auto ptr = std::make_shared<const ArchivePrefs>(std::move(p));
    std::unique_lock lock(mu_);
    map_[bare] = std::move(ptr);
  }
  void erase(const std::string& bare) {
    std::unique_lock lock(mu_);
    map_.erase(bare);
  }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Ptr> map_;
};

// --- Group-committing writer --------------------------------------------------------------------------

struct Pending {
  ArchiveRow row;            // xml filled in by the drain job
  StanzaPtr stanza;          // serialised on the pool thread (and shared with delivery when it is the same)
  bool rosterCheck = false;  // default 'roster' for an account that was offline: check the stored roster
};

// Group-commit tuning (see DESIGN).
constexpr auto kBusyGap = std::chrono::milliseconds(5);
constexpr auto kLinger = std::chrono::milliseconds(10);
constexpr std::size_t kBatchRows = 512;

class ArchiveWriter : public std::enable_shared_from_this<ArchiveWriter> {
 public:
  // Every row at or below `indexedTo` is in the archive's index. Rows written above it (the tail) are
  // indexed (ArchiveStore::index) once there are `indexRows` of them: bulk indexing writes each index page
  // once for the tail's rows on it, so the longer the tail, the cheaper a row; queries read the tail's rows
  // by id (its ids are kept here), which costs a little per tail row of the queried archive.
  // A quieter server indexes what it has once the oldest row of the tail is `indexAge` old, so that
  // the tail a query reads by id stays short.
  ArchiveWriter(core::Server& server, ArchiveClock& clock, std::size_t shards, std::int64_t indexedTo,
                std::size_t indexRows, std::chrono::seconds indexAge)
      : server_(server),
        clock_(clock),
        shards_(std::max<std::size_t>(shards, 1)),
        indexRows_(indexRows),
        indexAge_(indexAge),
        indexedTo_(indexedTo) {
    for (std::size_t i = 0; i < shards_.size(); ++i) shards_[i].key = "mam-archive-" + std::to_string(i);
  }
  // No more lingering: shutdown writes what is pending at once.
  void stop() {
    stopping_ = true;
    for (auto& s : shards_) {
      std::lock_guard lock(s.mu);
      s.more.notify_all();
    }
  }

  // The pool key under which `bare`'s archive is written and queried.
  const std::string& keyFor(const std::string& bare) { return shardFor(bare).key; }

  // The rows of `bare`'s archive that are written but not indexed yet. On the pool, under keyFor(bare):
  // every row archived before is written by then.
  ArchiveTail tailFor(const std::string& bare) {
    std::lock_guard lock(tailMu_);
    ArchiveTail t{indexedTo_, {}};
    if (auto it = tail_.find(bare); it != tail_.end()) t.ids = it->second;
    return t;
  }

  // Takes an id, lets `stamp(id)` build the stanza to store (the one delivered, for the recipient),
  // and queues the write. Returns the id.
  template <class Stamp>
  std::int64_t append(ArchiveRow row, bool rosterCheck, Stamp&& stamp) {
    Shard& s = shardFor(row.user + "@" + row.domain);
    std::lock_guard lock(s.mu);
    row.id = clock_.next(row.stamp);
    StanzaPtr stanza = stamp(row.id);
    s.pending.push_back(Pending{std::move(row), std::move(stanza), rosterCheck});
    if (s.lingering && s.pending.size() >= kBatchRows) s.more.notify_one();
    if (!s.scheduled) {
      // Queued right here (not after another hop), so an XEP-0198 ack that waits for the pool covers it.
      s.scheduled = server_.pool().submit(s.key, [self = shared_from_this(), &s] { self->drain(s); });
      if (!s.scheduled)
        log::warn("mam.queue_full", "pending={} (written with the next message of this shard)",
                  s.pending.size());
    }
    return s.pending.back().row.id;
  }

 private:
  struct Shard {
    std::mutex mu;
    std::condition_variable more;  // a lingering drain waits here for kBatchRows
    std::vector<Pending> pending;
    // The previous batch's vector, emptied, so `pending` keeps its capacity from drain to drain: growing
    // it anew is a large allocation per batch on the network thread (and glibc consolidates its fast
    // bins for each).
    std::vector<Pending> recycled;
    std::int64_t writingFrom = 0;  // the first id of the batch being written (0: none)
    bool scheduled = false;
    bool lingering = false;
    std::chrono::steady_clock::time_point lastDrainEnd;  // pool thread of the shard's key only
    std::string key;
  };

  Shard& shardFor(const std::string& bare) {
    return shards_[std::hash<std::string>{}(bare) % shards_.size()];
  }

  // Pool thread.
  void drain(Shard& s) {
    std::vector<Pending> batch;
    {
      std::unique_lock lock(s.mu);
      const auto now = std::chrono::steady_clock::now();
      if (now - s.lastDrainEnd < kBusyGap && s.pending.size() < kBatchRows && !stopping_) {
        s.lingering = true;
        s.more.wait_until(lock, now + kLinger,
                          [&] { return s.pending.size() >= kBatchRows || stopping_.load(); });
        s.lingering = false;
      }
      batch.swap(s.pending);
      s.pending.swap(s.recycled);
      s.scheduled = false;
      if (!batch.empty()) s.writingFrom = batch.front().row.id;
    }
    struct StampEnd {
      Shard& s;
      std::vector<Pending>& batch;
      ~StampEnd() {
        s.lastDrainEnd = std::chrono::steady_clock::now();
        batch.clear();  // the stanzas are released here, outside the lock
        std::lock_guard lock(s.mu);
        if (s.recycled.capacity() < batch.capacity()) s.recycled.swap(batch);
        s.writingFrom = 0;
      }
    } stampEnd{s, batch};
    if (batch.empty()) return;
    std::vector<ArchiveRow> rows;
    rows.reserve(batch.size());
    try {
      for (auto& p : batch) {
        if (p.rosterCheck) {
          auto item = storage::RosterStore(server_.db()).get(p.row.domain, p.row.user, p.row.with);
          if (!item || !item->visible) continue;
        }
        p.row.xml = p.stanza->serialized();
        rows.push_back(std::move(p.row));
      }
      ArchiveStore(server_.db()).append(rows);
      log::debug("mam.write", "rows={}", rows.size());
    } catch (const std::exception& e) {
      log::error("mam.write.failed", "messages={} error=\"{}\"", batch.size(), e.what());
      return;
    }
    bool indexNow = false;
    {
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard lock(tailMu_);
      if (tailRows_ == 0) tailSince_ = now;
      for (const ArchiveRow& r : rows) tail_[r.user + "@" + r.domain].push_back(r.id);
      tailRows_ += rows.size();
      indexNow = tailRows_ >= indexRows_ || (tailRows_ > 0 && now - tailSince_ >= indexAge_);
    }
    if (indexNow) {
      {
        std::lock_guard lock(s.mu);
        s.writingFrom = 0;  // written: no longer holds the watermark back
      }
      index();
    }
  }

  // Pool thread. Indexes every row that no shard is still to write, then forgets them from the tail.
  void index() {
    if (indexing_.exchange(true)) return;  // another shard's drain is at it
    struct Done {
      std::atomic<bool>& flag;
      ~Done() { flag = false; }
    } done{indexing_};
    // Ids are handed out (under a shard's lock) before they are queued: every id up to `last` is in a
    // shard's pending list, in a batch being written, or written.
    std::int64_t upTo = clock_.last();
    for (auto& sh : shards_) {
      std::lock_guard lock(sh.mu);
      if (!sh.pending.empty()) upTo = std::min(upTo, sh.pending.front().row.id - 1);
      if (sh.writingFrom != 0) upTo = std::min(upTo, sh.writingFrom - 1);
    }
    {
      std::lock_guard lock(tailMu_);
      if (upTo <= indexedTo_) return;
    }
    try {
      const auto rows = ArchiveStore(server_.db()).index(upTo);
      log::debug("mam.index", "rows={} up_to={}", rows, upTo);
    } catch (const std::exception& e) {
      log::error("mam.index.failed", "error=\"{}\"", e.what());
      return;
    }
    std::lock_guard lock(tailMu_);
    indexedTo_ = upTo;
    tailRows_ = 0;
    tailSince_ = std::chrono::steady_clock::now();  // the rows left (other shards') count from now
    for (auto it = tail_.begin(); it != tail_.end();) {
      auto& ids = it->second;
      ids.erase(ids.begin(), std::upper_bound(ids.begin(), ids.end(), upTo));
      tailRows_ += ids.size();
      it = ids.empty() ? tail_.erase(it) : std::next(it);
    }
  }

  core::Server& server_;
  ArchiveClock& clock_;
  std::vector<Shard> shards_;
  std::atomic<bool> stopping_{false};
  const std::size_t indexRows_;
  const std::chrono::seconds indexAge_;

  // The tail: ids of rows written above the index's watermark, by owner (bare JID), ascending.
  std::mutex tailMu_;
  std::int64_t indexedTo_;
  std::unordered_map<std::string, std::vector<std::int64_t>> tail_;
  std::size_t tailRows_ = 0;
  std::chrono::steady_clock::time_point tailSince_;  // when the oldest row of the tail was added
  std::atomic<bool> indexing_{false};
};

// --- Retention ------------------------------------------------------------------------------------

class Sweeper : public std::enable_shared_from_this<Sweeper> {
 public:
  Sweeper(core::Server& server, runtime::Executor exec, std::int64_t retentionDays,
          std::chrono::seconds period)
      : server_(server), exec_(exec), retention_(retentionDays), period_(period) {}

  // On exec_.
  void arm(std::chrono::seconds after) {
    if (stopped_) return;
    std::weak_ptr<Sweeper> weak = weak_from_this();
    timer_ = std::make_unique<runtime::Timer>(exec_, after, [weak] {
      if (auto self = weak.lock()) self->tick();
    });
  }
  void stop() {
    stopped_ = true;
    exec_.post([self = shared_from_this()] { self->timer_.reset(); });
  }

 private:
  void tick() {
    if (stopped_ || server_.stopping()) return;
    const std::int64_t below = unixMicros() - retention_ * 86400 * 1'000'000;
    sweep(below, 0);
    arm(period_);
  }

  // Pool thread (after the first call): one chunk per job, so a large sweep never holds a worker long.
  void sweep(std::int64_t below, std::int64_t total) {
    server_.pool().submit([self = shared_from_this(), below, total] {
      try {
        const std::int64_t n = ArchiveStore(self->server_.db()).removeBelow(below, kRetentionChunk);
        if (n == kRetentionChunk && !self->stopped_) {
          self->sweep(below, total + n);
        } else if (total + n > 0) {
          log::info("mam.retention", "removed={}", total + n);
        }
      } catch (const std::exception& e) {
        log::error("mam.retention.failed", "error=\"{}\"", e.what());
      }
    });
  }

  core::Server& server_;
  runtime::Executor exec_;
  std::int64_t retention_;
  std::chrono::seconds period_;
  std::atomic<bool> stopped_{false};
  runtime::TimerPtr timer_;  // on exec_ only
};

class SweeperGuard {
 public:
  explicit SweeperGuard(std::shared_ptr<Sweeper> s) : s_(std::move(s)) {}
  SweeperGuard(const SweeperGuard&) = delete;
  SweeperGuard& operator=(const SweeperGuard&) = delete;
  ~SweeperGuard() { s_->stop(); }

 private:
  std::shared_ptr<Sweeper> s_;
};

// --- Queries --------------------------------------------------------------------------------------

struct QueryOutcome {
  bool notFound = false;
  ArchivePage page;
};

class MamModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    auto mode = section.getString("default", "always");
    auto parsed = archiveModeFromName(mode);
    if (!parsed) section.fail("default", "expected \"always\", \"roster\" or \"never\"");
    defaultMode_ = *parsed;
    limits_.maxPageSize = section.getInt("max_page_size", 250, 1, 10000);
    limits_.defaultPageSize = section.getInt("default_page_size", 50, 1, 10000);
    if (limits_.defaultPageSize > limits_.maxPageSize)
      section.fail("default_page_size", "must not exceed max_page_size");
    retentionDays_ = section.getInt("retention_days", 0, 0, 365 * 100);
    cleanupInterval_ = section.getInt("cleanup_interval", 3600, 1, 7 * 24 * 3600);
    indexRows_ = static_cast<std::size_t>(section.getInt("index_rows", 16384, 1, 65536));
    indexSeconds_ = section.getInt("index_seconds", 60, 1, 24 * 3600);
    maxPrefsJids_ = section.getInt("max_prefs_jids", 1000, 0, 100000);
    const auto count = section.getString("rsm_count", "first_page");
    if (count == "always")
      limits_.count = RsmCount::Always;
    else if (count == "first_page")
      limits_.count = RsmCount::FirstPage;
    else if (count == "never")
      limits_.count = RsmCount::Never;
    else
      section.fail("rsm_count", "expected \"always\", \"first_page\" or \"never\"");
  }

  void stop() override {
    if (writer_) writer_->stop();
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    auto& server = *server_;
    codec_ = std::make_unique<ArchiveIdCodec>(server.fakeSaltSecret());
    // Start-up, before any listener: the ids to continue from and the preferences (only the accounts
    // that set some have a row).
    // Rows written but not indexed when the server last stopped are indexed now (the tail lives in
    // memory).
    std::int64_t indexedTo = 0;
    {
      ArchiveStore store(server.db());
      const std::int64_t maxId = store.maxId();
      if (store.indexedTo() < maxId) store.index(maxId);
      indexedTo = store.indexedTo();
      // New ids go above the watermark too (it stays where it was when the newest rows were deleted).
      clock_.raiseFloor(std::max(maxId, indexedTo));
      for (auto& u : store.allPrefs()) prefs_.set(u.user + "@" + u.domain, std::move(u.prefs));
    }
    const std::size_t shards = server.db().engine() == storage::Engine::Sqlite ? 1 : server.pool().size();
    writer_ = std::make_shared<ArchiveWriter>(server, clock_, shards, indexedTo, indexRows_,
                                              std::chrono::seconds(indexSeconds_));
    ctx.keep(writer_);

    for (std::string_view f : {kMam, kExtended, kSid})
      ctx.feature(module::DiscoScope::Account, std::string(f));
    ctx.iq(router::IqScope::Account, "set", kMam, "query", [this](const IqRequest& r) { query(r); });
    ctx.iq(router::IqScope::Account, "get", kMam, "query", [this](const IqRequest& r) { form(r); });
    ctx.iq(router::IqScope::Account, "get", kMam, "metadata", [this](const IqRequest& r) { metadata(r); });
    ctx.iq(router::IqScope::Account, "get", kMam, "prefs", [this](const IqRequest& r) { getPrefs(r); });
    ctx.iq(router::IqScope::Account, "set", kMam, "prefs", [this](const IqRequest& r) { setPrefs(r); });
    ctx.hook<hooks::MessageToAccount>([this](auto& c) { return inbound(c); }, hooks::priority::kEarly);
    ctx.hook<hooks::StanzaFromClient>([this](auto& c) { return outbound(c); }, hooks::priority::kEarly);
    ctx.hook<hooks::AccountRemoved>([this](hooks::AccountRemoved::Context& c) {
      prefs_.erase(c.user.bareStr());  // the rows went with the account (storage/schema kUserTables)
      return hooks::Action::Continue;
    });

    if (retentionDays_ > 0) {
      auto exec = server.io().executor(0);
      auto sweeper =
          std::make_shared<Sweeper>(server, exec, retentionDays_, std::chrono::seconds(cleanupInterval_));
      const auto first = std::chrono::seconds(std::min<std::int64_t>(cleanupInterval_, 10));
      exec.post([sweeper, first] { sweeper->arm(first); });
      ctx.keep(std::make_shared<SweeperGuard>(sweeper));
    }
  }

 private:
  enum class Decision { Archive, Skip, CheckStoredRoster };

  // XEP-0441 for `account`'s archive and a message to/from `contact`.
  Decision decide(const Jid& account, const std::string& accountBare, const Jid& contact) const {
    ArchiveMode mode = defaultMode_;
    if (auto p = prefs_.get(accountBare)) {
      if (listed(p->never, contact)) return Decision::Skip;
      if (listed(p->always, contact)) return Decision::Archive;
      mode = p->mode;
    }
    switch (mode) {
      case ArchiveMode::Always:
        return Decision::Archive;
      case ArchiveMode::Never:
        return Decision::Skip;
      case ArchiveMode::Roster:
        break;
    }
    if (contact.bare() == account) return Decision::Archive;  // notes to self
    if (auto roster = server_->sessions().roster(account)) {
      const auto* item = roster->find(contact.bareStr());
      return item && item->visible ? Decision::Archive : Decision::Skip;
    }
    return Decision::CheckStoredRoster;
  }

  static ArchiveRow rowFor(const Jid& account, const Jid& contact, bool outgoing) {
    ArchiveRow row;
    row.domain = account.domain();
    row.user = account.local();
    row.with = contact.bareStr();
    row.withResource = contact.resource();
    row.outgoing = outgoing;
    return row;
  }

  // The recipient's copy: routing thread, once per message and account.
  hooks::Action inbound(hooks::MessageToAccount::Context& c) {
    const xml::Element& m = c.stanza->element();
    const std::string account = c.user.bareStr();
    bool forged = false;
    for (const auto& sid : m.childrenNamed("stanza-id", kSid)) {
      if (sid->attr("by") != account) continue;
      if (codec_->decode(sid->attr("id"), account)) return hooks::Action::Continue;  // ours: archived already
      forged = true;
    }
    StanzaPtr stanza = c.stanza;
    if (forged) {
      // XEP-0359 §7: only the account's server may claim to have archived a message for it.
      auto e = m.clone();
      e->clearNodes();
      for (const auto& node : m.nodes()) {
        if (const auto* child = std::get_if<xml::ElementPtr>(&node)) {
          if ((*child)->is("stanza-id", kSid) && (*child)->attr("by") == account) continue;
        }
        std::visit(
            [&](const auto& n) {
              if constexpr (std::is_same_v<std::decay_t<decltype(n)>, xml::ElementPtr>)
                e->addChild(n);
              else
                e->addText(n);
            },
            node);
      }
      stanza = xmpp::Stanza::adopt(std::move(e), c.stanza->from(), c.stanza->to());
      c.stanza = stanza;
    }
    if (!archivable(m)) return hooks::Action::Continue;
    const Jid& contact = stanza->from();
    const Decision d = decide(c.user, account, contact);
    if (d == Decision::Skip) return hooks::Action::Continue;
    StanzaPtr stamped;
    writer_->append(rowFor(c.user, contact, false), d == Decision::CheckStoredRoster, [&](std::int64_t id) {
      auto e = stanza->element().clone();
      auto sid = xml::make("stanza-id", std::string(kSid));
      sid->setAttr("id", codec_->encode(id, account));
      sid->setAttr("by", account);
      e->addChild(std::move(sid));
      stamped = xmpp::Stanza::adopt(std::move(e), stanza->from(), stanza->to());  // no second copy
      return stamped;
    });
    c.stanza = std::move(stamped);
    return hooks::Action::Continue;
  }

  // The sender's copy: the sender's executor, before routing.
  hooks::Action outbound(hooks::StanzaFromClient::Context& c) {
    if (!c.stanza->isMessage()) return hooks::Action::Continue;
    const Jid& to = c.stanza->to();
    const Jid account = c.session.jid().bare();
    // No 'to' is the account itself: archived once, on the recipient side.
    if (to.empty() || account.empty() || to.bare() == account) return hooks::Action::Continue;
    if (!archivable(c.stanza->element())) return hooks::Action::Continue;
    const Decision d = decide(account, account.bareStr(), to);
    if (d == Decision::Skip) return hooks::Action::Continue;
    StanzaPtr stanza = c.stanza;
    writer_->append(rowFor(account, to, true), d == Decision::CheckStoredRoster,
                    [&](std::int64_t) { return stanza; });
    return hooks::Action::Continue;
  }

  // --- IQ handlers --------------------------------------------------------------------------------

  static bool own(const IqRequest& req) {
    if (req.fromSelf()) return true;
    req.error(StanzaError::Forbidden, "an archive is only readable by its account");  // XEP-0313 §8
    return false;
  }

  // XEP-0313 §4.1 form and XEP-0059 <set/> (mam_query.h), on this account's archive.
  std::variant<ParsedQuery, QueryError> parse(const IqRequest& req) const {
    const std::string account = req.target.bareStr();
    auto parsed = parseQuery(req.payload(), limits_,
                             [&](std::string_view text) { return codec_->decode(text, account); });
    if (auto* p = std::get_if<ParsedQuery>(&parsed)) {
      p->query.domain = req.target.domain();
      p->query.user = req.target.local();
      if (p->with) {
        p->query.with = p->with->bareStr();
        if (p->with->isFull()) p->query.withResource = p->with->resource();
      }
    }
    return parsed;
  }

  runtime::Executor replyExecutor(const IqRequest& req) const {
    if (req.session) return req.session->executor();
    return runtime::Executor::current();
  }

  void query(const IqRequest& req) {
    if (!own(req)) return;
    auto parsed = parse(req);
    if (auto* err = std::get_if<QueryError>(&parsed)) {
      req.error(err->condition, err->text);
      return;
    }
    auto p = std::get<ParsedQuery>(std::move(parsed));
    auto& server = *server_;
    const std::string account = req.target.bareStr();
    auto work = [&server, writer = writer_, account, q = p.query, ids = p.mustExist] {
      ArchiveStore store(server.db());
      QueryOutcome out;
      for (auto id : ids)
        if (!store.contains(q.domain, q.user, id)) {
          out.notFound = true;
          return out;
        }
      const ArchiveTail tail = writer->tailFor(account);
      out.page = store.query(q, &tail);
      return out;
    };
    runtime::offload(
        server.pool(), replyExecutor(req), writer_->keyFor(account), std::move(work),
        [this, req, p = std::move(p)](runtime::Outcome<QueryOutcome> out) { answer(req, p, out); });
  }

  void answer(const IqRequest& req, const ParsedQuery& p, runtime::Outcome<QueryOutcome>& out) {
    if (!out.ok()) {
      log::error("mam.query.failed", "user={} error=\"{}\"", req.target.bareStr(), out.error);
      req.error(StanzaError::InternalServerError);
      return;
    }
    if (out.value->notFound) {
      req.error(StanzaError::ItemNotFound, "no message with that id in this archive");
      return;
    }
    const auto& page = out.value->page;
    const std::string account = req.target.bareStr();
    const Jid to = req.stanza->from();
    auto answer = buildAnswer(
        p, page, [&](std::int64_t id) { return codec_->encode(id, account); },
        [&](const ArchivedMessage& m) -> xml::ElementPtr {
          auto stored = xml::parseElement(m.xml);
          if (!stored) log::warn("mam.corrupt", "user={} id={}", account, m.id);
          return stored;
        });
    for (auto& result : answer.results) {
      auto stanza = xmpp::Stanza::make(std::move(result), req.target, to);
      if (req.session)
        req.session->deliver(std::move(stanza));
      else
        server_->router().route(std::move(stanza));
    }
    req.result(std::move(answer.fin));
  }

  // XEP-0313 §4.1.5: the fields a query may use.
  void form(const IqRequest& req) {
    if (!own(req)) return;
    req.result(queryForm());
  }

  // XEP-0313 §5.
  void metadata(const IqRequest& req) {
    if (!own(req)) return;
    auto& server = *server_;
    const std::string account = req.target.bareStr();
    const auto user = req.target;
    runtime::offload(
        server.pool(), replyExecutor(req), writer_->keyFor(account),
        [&server, writer = writer_, user, account] {
          const ArchiveTail tail = writer->tailFor(account);
          return ArchiveStore(server.db()).bounds(user.domain(), user.local(), &tail);
        },
        [this, req,
         account](runtime::Outcome<std::optional<std::pair<ArchivedMessage, ArchivedMessage>>> out) {
          if (!out.ok()) {
            log::error("mam.metadata.failed", "user={} error=\"{}\"", account, out.error);
            req.error(StanzaError::InternalServerError);
            return;
          }
          req.result(
              metadataElement(*out.value, [&](std::int64_t id) { return codec_->encode(id, account); }));
        });
  }

  static xml::ElementPtr prefsElement(const ArchivePrefs& p) {
    auto e = xml::make("prefs", std::string(kMam));
    e->setAttr("default", archiveModeName(p.mode));
    for (const auto& [name, list] : {std::pair{"always", &p.always}, std::pair{"never", &p.never}}) {
      auto l = xml::make(name, std::string(kMam));
      for (const auto& j : *list) l->addTextChild("jid", kMam, j);
      e->addChild(std::move(l));
    }
    return e;
  }

  // XEP-0441 §2.1.
  void getPrefs(const IqRequest& req) {
    if (!own(req)) return;
    auto p = prefs_.get(req.target.bareStr());
    req.result(prefsElement(p ? *p : ArchivePrefs{defaultMode_, {}, {}}));
  }

  void setPrefs(const IqRequest& req) {
    if (!own(req)) return;
    const xml::Element& e = req.payload();
    auto mode = archiveModeFromName(e.attr("default"));
    if (!mode) {
      req.error(StanzaError::BadRequest, "default must be always, never or roster");
      return;
    }
    ArchivePrefs p;
    p.mode = *mode;
    for (const auto& [name, list] : {std::pair{"always", &p.always}, std::pair{"never", &p.never}}) {
      const auto* l = e.child(name, kMam);
      if (!l) continue;
      for (const auto& j : l->childrenNamed("jid", kMam)) {
        auto jid = Jid::parse(j->text());
        if (!jid) {
          req.error(StanzaError::JidMalformed, "not a JID: " + j->text());
          return;
        }
        if (std::find(list->begin(), list->end(), jid->str()) == list->end()) list->push_back(jid->str());
      }
    }
    if (p.always.size() + p.never.size() > static_cast<std::size_t>(maxPrefsJids_)) {
      req.error(StanzaError::NotAcceptable, "too many JIDs in the preferences");
      return;
    }
    auto& server = *server_;
    const auto user = req.target;
    runtime::offload(
        server.pool(), replyExecutor(req), user.bareStr(),
        [&server, user, p] { ArchiveStore(server.db()).setPrefs(user.domain(), user.local(), p); },
        [this, req, user, p](runtime::Outcome<bool> out) {
          if (!out.ok()) {
            log::error("mam.prefs.failed", "user={} error=\"{}\"", user.bareStr(), out.error);
            req.error(StanzaError::InternalServerError);
            return;
          }
          prefs_.set(user.bareStr(), p);
          req.result(prefsElement(p));
        });
  }

  core::Server* server_ = nullptr;
  ArchiveMode defaultMode_ = ArchiveMode::Always;
  QueryLimits limits_;
  std::int64_t retentionDays_ = 0;
  std::int64_t cleanupInterval_ = 3600;
  std::size_t indexRows_ = 16384;
  std::int64_t indexSeconds_ = 60;
  std::int64_t maxPrefsJids_ = 1000;
  std::unique_ptr<ArchiveIdCodec> codec_;
  ArchiveClock clock_;
  PrefsCache prefs_;
  std::shared_ptr<ArchiveWriter> writer_;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "mam", "XEP-0313 message archive management for user accounts", {}, true, [] {
      return std::unique_ptr<module::Module>(new MamModule);
    }};

}  // namespace parley::xep::mam
