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
// - Writes never block a network thread. Archives are spread over as many shards as the blocking pool
//   has threads; each shard has a pending list and at most one drain job queued on the pool under the
//   shard's key. The id is taken under the shard's lock, so a shard's list is in id order, and a drain
//   writes everything pending in one transaction (group commit, across users). A query runs under the
//   same key, so it sees every message archived before it was asked. The drain job is queued from the
//   hook itself, so Server::afterQueuedWork (XEP-0198 acks) covers the write.
// - Preferences of the accounts that set any are kept in memory (loaded at start, written through), so
//   the decision is made on the network thread; 'roster' uses the cached roster of an online account,
//   and for an offline account the drain job checks the stored roster.
// - Retention: a timer on one network thread queues a sweep that deletes, in chunks, messages older
//   than retention_days (an id range, since ids never run behind their stamps).
#include <algorithm>
#include <atomic>
#include <chrono>
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

namespace parley::xep::mam {

namespace {

using router::IqRequest;
using xmpp::Jid;
using xmpp::StanzaError;
using xmpp::StanzaPtr;

constexpr std::string_view kMam = xml::ns::kMam;
constexpr std::string_view kExtended = "urn:xmpp:mam:2#extended";
constexpr std::string_view kSid = xml::ns::kStanzaId;
constexpr std::string_view kForms = xml::ns::kDataForms;
constexpr std::string_view kRsm = xml::ns::kRsm;
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

class ArchiveWriter : public std::enable_shared_from_this<ArchiveWriter> {
 public:
  ArchiveWriter(core::Server& server, ArchiveClock& clock, std::size_t shards)
      : server_(server), clock_(clock), shards_(std::max<std::size_t>(shards, 1)) {
    for (std::size_t i = 0; i < shards_.size(); ++i) shards_[i].key = "mam-archive-" + std::to_string(i);
  }

  // The pool key under which `bare`'s archive is written and queried.
  const std::string& keyFor(const std::string& bare) { return shardFor(bare).key; }

  // Takes an id, lets `stamp(id)` build the stanza to store (the one delivered, for the recipient),
  // and queues the write. Returns the id.
  template <class Stamp>
  std::int64_t append(ArchiveRow row, bool rosterCheck, Stamp&& stamp) {
    Shard& s = shardFor(row.user + "@" + row.domain);
    std::lock_guard lock(s.mu);
    row.id = clock_.next(row.stamp);
    StanzaPtr stanza = stamp(row.id);
    s.pending.push_back(Pending{std::move(row), std::move(stanza), rosterCheck});
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
    std::vector<Pending> pending;
    bool scheduled = false;
    std::string key;
  };

  Shard& shardFor(const std::string& bare) {
    return shards_[std::hash<std::string>{}(bare) % shards_.size()];
  }

  // Pool thread.
  void drain(Shard& s) {
    std::vector<Pending> batch;
    {
      std::lock_guard lock(s.mu);
      batch.swap(s.pending);
      s.scheduled = false;
    }
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
    } catch (const std::exception& e) {
      log::error("mam.write.failed", "messages={} error=\"{}\"", batch.size(), e.what());
    }
  }

  core::Server& server_;
  ArchiveClock& clock_;
  std::vector<Shard> shards_;
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

struct QueryError {
  StanzaError condition;
  std::string text;
};

struct ParsedQuery {
  ArchiveQuery query;
  std::vector<std::int64_t> mustExist;  // ids the client named: item-not-found unless in the archive
  std::string queryId;
  bool flip = false;
};

struct QueryOutcome {
  bool notFound = false;
  ArchivePage page;
};

std::vector<std::string> fieldValues(const xml::Element& field) {
  std::vector<std::string> out;
  for (const auto& v : field.childrenNamed("value", kForms)) out.push_back(v->text());
  return out;
}

class MamModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    auto mode = section.getString("default", "always");
    auto parsed = archiveModeFromName(mode);
    if (!parsed) section.fail("default", "expected \"always\", \"roster\" or \"never\"");
    defaultMode_ = *parsed;
    maxPageSize_ = section.getInt("max_page_size", 250, 1, 10000);
    defaultPageSize_ = section.getInt("default_page_size", 50, 1, 10000);
    if (defaultPageSize_ > maxPageSize_) section.fail("default_page_size", "must not exceed max_page_size");
    retentionDays_ = section.getInt("retention_days", 0, 0, 365 * 100);
    cleanupInterval_ = section.getInt("cleanup_interval", 3600, 1, 7 * 24 * 3600);
    maxPrefsJids_ = section.getInt("max_prefs_jids", 1000, 0, 100000);
    const auto count = section.getString("rsm_count", "first_page");
    if (count == "always")
      rsmCount_ = RsmCount::Always;
    else if (count == "first_page")
      rsmCount_ = RsmCount::FirstPage;
    else if (count == "never")
      rsmCount_ = RsmCount::Never;
    else
      section.fail("rsm_count", "expected \"always\", \"first_page\" or \"never\"");
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    auto& server = *server_;
    codec_ = std::make_unique<ArchiveIdCodec>(server.fakeSaltSecret());
    // Start-up, before any listener: the ids to continue from and the preferences (only the accounts
    // that set some have a row).
    {
      ArchiveStore store(server.db());
      clock_.raiseFloor(store.maxId());
      for (auto& u : store.allPrefs()) prefs_.set(u.user + "@" + u.domain, std::move(u.prefs));
    }
    writer_ = std::make_shared<ArchiveWriter>(server, clock_, server.pool().size());
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
      stanza = xmpp::Stanza::make(std::move(e), c.stanza->from(), c.stanza->to());
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
      stamped = xmpp::Stanza::make(std::move(e), stanza->from(), stanza->to());
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

  std::optional<std::int64_t> decodeId(const IqRequest& req, std::string_view text) const {
    return codec_->decode(text, req.target.bareStr());
  }

  // XEP-0313 §4.1 form and XEP-0059 <set/>.
  std::variant<ParsedQuery, QueryError> parse(const IqRequest& req) const {
    const xml::Element& q = req.payload();
    ParsedQuery p;
    p.queryId = std::string(q.attr("queryid"));
    auto& aq = p.query;
    aq.domain = req.target.domain();
    aq.user = req.target.local();
    aq.max = defaultPageSize_;
    auto unknownId = QueryError{StanzaError::ItemNotFound, "no message with that id in this archive"};
    if (const auto* x = q.child("x", kForms)) {
      if (!x->attr("type").empty() && x->attr("type") != "submit")
        return QueryError{StanzaError::BadRequest, "the query form must be of type submit"};
      for (const auto& field : x->childrenNamed("field", kForms)) {
        const auto var = field->attr("var");
        auto values = fieldValues(*field);
        if (var == "ids") {
          if (values.size() > static_cast<std::size_t>(maxPageSize_))
            return QueryError{StanzaError::PolicyViolation, "too many ids"};
          for (const auto& v : values) {
            auto id = decodeId(req, v);
            if (!id) return unknownId;
            aq.ids.push_back(*id);
            p.mustExist.push_back(*id);
          }
          continue;
        }
        if (values.size() > 1)
          return QueryError{StanzaError::BadRequest, std::string(var) + " takes one value"};
        const std::string value = values.empty() ? std::string() : values[0];
        if (var == "FORM_TYPE") {
          if (value != kMam) return QueryError{StanzaError::BadRequest, "FORM_TYPE must be urn:xmpp:mam:2"};
        } else if (var == "with") {
          auto jid = Jid::parse(value);
          if (!jid) return QueryError{StanzaError::JidMalformed, "'with' is not a JID"};
          aq.with = jid->bareStr();
          if (jid->isFull()) aq.withResource = jid->resource();
        } else if (var == "start" || var == "end") {
          auto t = parseMicros(value);
          if (!t)
            return QueryError{StanzaError::BadRequest, std::string(var) + " is not a XEP-0082 DateTime"};
          (var == "start" ? aq.start : aq.end) = *t;
        } else if (var == "after-id" || var == "before-id") {
          auto id = decodeId(req, value);
          if (!id) return unknownId;
          p.mustExist.push_back(*id);
          auto& bound = var == "after-id" ? aq.afterId : aq.beforeId;
          bound = *id;
        } else {
          // XEP-0313 §4.1.5: fields the server does not know.
          return QueryError{StanzaError::FeatureNotImplemented, "unsupported field: " + std::string(var)};
        }
      }
    }
    if (const auto* set = q.child("set", kRsm)) {
      if (set->child("index", kRsm))
        return QueryError{StanzaError::FeatureNotImplemented, "RSM <index/> is not supported; page by id"};
      if (const auto* max = set->child("max", kRsm)) {
        const std::string t = max->text();
        if (t.empty() || t.size() > 9 ||
            !std::all_of(t.begin(), t.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
          return QueryError{StanzaError::BadRequest, "<max/> must be a non-negative integer"};
        aq.max = std::min<std::int64_t>(std::stoll(t), maxPageSize_);  // XEP-0313 §4.3.1: the server's limit
      }
      if (const auto* after = set->child("after", kRsm)) {
        auto id = decodeId(req, after->text());
        if (!id) return unknownId;  // XEP-0313 §4.3.2
        aq.pageAfter = *id;
        p.mustExist.push_back(*id);
      }
      if (const auto* before = set->child("before", kRsm)) {
        aq.fromEnd = true;  // XEP-0059 §2.5: paging backwards; empty: the last page (XEP-0313 §4.3.3)
        const std::string t = before->text();
        if (!t.empty()) {
          auto id = decodeId(req, t);
          if (!id) return unknownId;
          aq.pageBefore = *id;
          p.mustExist.push_back(*id);
        }
      }
    }
    p.flip = q.child("flip-page", kMam) != nullptr;
    // <count/> and <first index/> cost a pass over the matching messages: by default only for a query
    // that starts a scroll (no RSM <after/>, no <before>id</before>), which is where clients read them.
    aq.count = rsmCount_ == RsmCount::Always ||
               (rsmCount_ == RsmCount::FirstPage && !aq.pageAfter && !aq.pageBefore);
    return p;
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
    auto work = [&server, q = p.query, ids = p.mustExist] {
      ArchiveStore store(server.db());
      QueryOutcome out;
      for (auto id : ids)
        if (!store.contains(q.domain, q.user, id)) {
          out.notFound = true;
          return out;
        }
      out.page = store.query(q);
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
    std::vector<std::string> ids;
    ids.reserve(page.messages.size());
    for (const auto& m : page.messages) ids.push_back(codec_->encode(m.id, account));
    auto send = [&](std::size_t i) {
      const auto& m = page.messages[i];
      auto stored = xml::parseElement(m.xml);
      if (!stored) {
        log::warn("mam.corrupt", "user={} id={}", account, m.id);
        return;
      }
      auto result = xml::make("result", std::string(kMam));
      if (!p.queryId.empty()) result->setAttr("queryid", p.queryId);
      result->setAttr("id", ids[i]);
      auto fwd = xml::make("forwarded", std::string(xml::ns::kForward));
      auto delay = xml::make("delay", std::string(xml::ns::kDelay));
      delay->setAttr("stamp", formatMicros(m.stamp));
      fwd->addChild(std::move(delay));
      fwd->addChild(std::move(stored));
      result->addChild(std::move(fwd));
      auto msg = xml::make("message", std::string(xml::ns::kClient));
      msg->setAttr("id", "mam-" + std::to_string(resultSeq_.fetch_add(1)));
      msg->addChild(std::move(result));
      auto stanza = xmpp::Stanza::make(std::move(msg), req.target, to);
      if (req.session)
        req.session->deliver(std::move(stanza));
      else
        server_->router().route(std::move(stanza));
    };
    // XEP-0313 §4.3.4: a flipped page is the same page, sent newest first.
    if (p.flip) {
      for (std::size_t i = page.messages.size(); i-- > 0;) send(i);
    } else {
      for (std::size_t i = 0; i < page.messages.size(); ++i) send(i);
    }
    auto fin = xml::make("fin", std::string(kMam));
    if (page.complete) fin->setAttr("complete", "true");
    auto set = xml::make("set", std::string(kRsm));
    if (!ids.empty()) {
      auto first = xml::make("first", std::string(kRsm));
      if (page.firstIndex >= 0) first->setAttr("index", std::to_string(page.firstIndex));
      first->addText(ids.front());
      set->addChild(std::move(first));
      set->addTextChild("last", kRsm, ids.back());
    }
    if (page.count >= 0) set->addTextChild("count", kRsm, std::to_string(page.count));
    fin->addChild(std::move(set));
    req.result(std::move(fin));
  }

  // XEP-0313 §4.1.5: the fields a query may use.
  void form(const IqRequest& req) {
    if (!own(req)) return;
    auto x = xml::make("x", std::string(kForms));
    x->setAttr("type", "form");
    auto field = [&](std::string_view var, std::string_view type) {
      auto f = xml::make("field", std::string(kForms));
      f->setAttr("var", var);
      f->setAttr("type", type);
      return f;
    };
    auto formType = field("FORM_TYPE", "hidden");
    formType->addTextChild("value", kForms, kMam);
    x->addChild(std::move(formType));
    x->addChild(field("with", "jid-single"));
    x->addChild(field("start", "text-single"));
    x->addChild(field("end", "text-single"));
    x->addChild(field("before-id", "text-single"));
    x->addChild(field("after-id", "text-single"));
    auto ids = field("ids", "list-multi");
    auto validate = xml::make("validate", "http://jabber.org/protocol/xdata-validate");
    validate->setAttr("datatype", "xs:string");
    validate->addChild(xml::make("open", "http://jabber.org/protocol/xdata-validate"));
    ids->addChild(std::move(validate));
    x->addChild(std::move(ids));
    auto q = xml::make("query", std::string(kMam));
    q->addChild(std::move(x));
    req.result(std::move(q));
  }

  // XEP-0313 §5.
  void metadata(const IqRequest& req) {
    if (!own(req)) return;
    auto& server = *server_;
    const std::string account = req.target.bareStr();
    const auto user = req.target;
    runtime::offload(
        server.pool(), replyExecutor(req), writer_->keyFor(account),
        [&server, user] { return ArchiveStore(server.db()).bounds(user.domain(), user.local()); },
        [this, req,
         account](runtime::Outcome<std::optional<std::pair<ArchivedMessage, ArchivedMessage>>> out) {
          if (!out.ok()) {
            log::error("mam.metadata.failed", "user={} error=\"{}\"", account, out.error);
            req.error(StanzaError::InternalServerError);
            return;
          }
          auto md = xml::make("metadata", std::string(kMam));
          if (*out.value) {
            for (const auto& [name, m] :
                 {std::pair{"start", (*out.value)->first}, std::pair{"end", (*out.value)->second}}) {
              auto e = xml::make(name, std::string(kMam));
              e->setAttr("id", codec_->encode(m.id, account));
              e->setAttr("timestamp", formatMicros(m.stamp));
              md->addChild(std::move(e));
            }
          }
          req.result(std::move(md));
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
  std::int64_t maxPageSize_ = 250;
  std::int64_t defaultPageSize_ = 50;
  std::int64_t retentionDays_ = 0;
  std::int64_t cleanupInterval_ = 3600;
  std::int64_t maxPrefsJids_ = 1000;
  enum class RsmCount { Always, FirstPage, Never };
  RsmCount rsmCount_ = RsmCount::FirstPage;
  std::unique_ptr<ArchiveIdCodec> codec_;
  ArchiveClock clock_;
  PrefsCache prefs_;
  std::shared_ptr<ArchiveWriter> writer_;
  std::atomic<std::uint64_t> resultSeq_{0};
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "mam", "XEP-0313 message archive management for user accounts", {}, true, [] {
      return std::unique_ptr<module::Module>(new MamModule);
    }};

}  // namespace parley::xep::mam
