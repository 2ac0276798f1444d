// XEP-0357 push notifications on the user's server, and push for group chats.
//
// DESIGN
// - Registrations (app server JID, node, publish-options) are kept in memory per account (loaded at
//   start, before listeners open) under one mutex, and written through to push_registrations on the
//   blocking pool (keyed by the account, so an account's writes apply in order); enable/disable answer
//   once the write is durable. One registration per (JID, node); the same pair again replaces the
//   publish-options (§5); several per account (one per device), at most `max_registrations`.
// - "The device": a registration is bound to the session that enabled it (the binding follows an
//   XEP-0198 resumption and ends with the session). A notification goes to a registration when a
//   message arrives and its device is away: no session bound (the app is closed, or the server
//   restarted: the binding is only in memory), or the bound session is hibernated by XEP-0198 (its TCP
//   connection was lost: SessionInterrupted) or inactive by XEP-0352 (<inactive/> seen here, before
//   the CSI module takes it). Another device of the account being active does not stop it: each
//   device decides for itself.
// - What triggers: a chat/normal message (MessageToAccount, once per message and account) with a body,
//   or with a payload in `urgent_namespaces` (encrypted messages, call invitations…). A XEP-0353
//   <propose/> is a call: sent at once, marked <kind>call</kind> (urn:parley:push:0) so the app server
//   sends a VoIP push. Delivery itself is untouched: the message still goes to the sessions, the
//   hibernated session's queue or offline storage; push only adds a wake-up.
// - Group chats: the MUC tells (GroupchatBroadcast) which affiliated members a room message went to
//   and with which devices they are joined; a member none of whose joined devices is active (or who
//   has none) gets a push according to the account's rule for the room (always / mentions / never;
//   the default is `groupchat_default`), set with the urn:parley:push:rules:0 IQ (docs/push.md). A
//   mention is the member's nick in the room (or the nick given in the rule), the bare JID, or a
//   XEP-0372 mention reference to it.
// - Bursts: per registration at most one publish per `min_interval_ms`; messages meanwhile are
//   counted and one publish at the end of the interval carries the count and the last sender (calls
//   are never delayed). message-count is the number of messages since the device was last active.
// - The publish (§7) is an IQ from the account's bare JID to the app server; its answer comes back
//   through the IqResponse hook. An error of type wait is transient (the registration is kept until
//   `max_transient_errors` in a row); any other error disables the registration (§7: "SHOULD consider
//   the JID and node combination to be disabled"). No answer within `publish_timeout` counts as
//   transient. last-message-body is included only when `include_body` (off by default: §9, the body
//   would go through third parties; a server setting, not in-band, as §9 recommends).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/module/module.h"
#include "server/util/time.h"
#include "server/xml/namespaces.h"
#include "server/xml/parse_fragment.h"
#include "server/xml/writer.h"
#include "xep/push/push_store.h"

namespace parley::xep::push {

namespace {

using xmpp::Jid;
using xmpp::StanzaError;
using xmpp::StanzaPtr;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kNs = "urn:xmpp:push:0";
constexpr std::string_view kRulesNs = "urn:parley:push:rules:0";
constexpr std::string_view kParleyNs = "urn:parley:push:0";
constexpr std::string_view kPubsubNs = "http://jabber.org/protocol/pubsub";
constexpr std::string_view kPubsubEventNs = "http://jabber.org/protocol/pubsub#event";
constexpr std::string_view kDataNs = "jabber:x:data";
constexpr std::string_view kPublishOptions = "http://jabber.org/protocol/pubsub#publish-options";
constexpr std::string_view kJingleMessageNs = "urn:xmpp:jingle-message:0";
constexpr std::string_view kReferenceNs = "urn:xmpp:reference:0";
constexpr std::size_t kMaxNode = 1023;
constexpr std::size_t kMaxOptions = 4096;

enum class Rule { Always, Mentions, Never };
std::optional<Rule> parseRule(std::string_view s) {
  if (s == "always") return Rule::Always;
  if (s == "mentions") return Rule::Mentions;
  if (s == "never") return Rule::Never;
  return std::nullopt;
}
std::string_view ruleName(Rule r) {
  return r == Rule::Always ? "always" : r == Rule::Mentions ? "mentions" : "never";
}

struct Registration {
  std::string regId;  // PushStore::regId(service, node)
  Jid service;
  std::string node;
  xml::ElementPtr options;  // publish-options <x/>, or null
  std::uint64_t boundSession = 0;
  // Burst handling and the summary.
  std::int64_t count = 0;  // messages since the device was last active
  std::string lastSender, lastBody;
  Clock::time_point lastSent{};
  bool deferred = false;
  int transientErrors = 0;
};

struct RoomRule {
  Rule mode = Rule::Mentions;
  std::string nick;
};

struct Account {
  std::vector<Registration> regs;
  std::map<std::string, RoomRule, std::less<>> rules;  // by room bare JID
};

struct SessionInfo {
  std::string bare;
  std::string full;
  bool lost = false;      // XEP-0198 hibernated (connection lost, kept for resumption)
  bool inactive = false;  // XEP-0352 <inactive/>
  bool away() const { return lost || inactive; }
};

// One publish to send, built under the lock and routed after it is released (the app server may be a
// local component that answers synchronously).
struct Outgoing {
  StanzaPtr iq;
};

struct Settings {
  bool includeBody = false;
  bool includeSender = true;
  std::int64_t maxRegistrations = 20;
  std::chrono::milliseconds minInterval{2000};
  int maxTransientErrors = 5;
  std::chrono::seconds publishTimeout{60};
  std::set<std::string, std::less<>> urgentNamespaces;
  Rule groupchatDefault = Rule::Mentions;
  std::int64_t maxRoomRules = 1000;
};

bool isMention(std::string_view body, std::string_view name) {
  if (name.empty() || body.size() < name.size()) return false;
  auto lower = [](unsigned char c) { return static_cast<char>(std::tolower(c)); };
  auto word = [](unsigned char c) { return std::isalnum(c) || c == '_'; };
  for (std::size_t i = 0; i + name.size() <= body.size(); ++i) {
    bool eq = true;
    for (std::size_t k = 0; k < name.size() && eq; ++k) eq = lower(body[i + k]) == lower(name[k]);
    if (!eq) continue;
    const bool startOk = i == 0 || !word(static_cast<unsigned char>(body[i - 1]));
    const bool endOk =
        i + name.size() == body.size() || !word(static_cast<unsigned char>(body[i + name.size()]));
    if (startOk && endOk) return true;
  }
  return false;
}

class State : public std::enable_shared_from_this<State> {
 public:
  State(core::Server& server, Settings settings) : server_(server), settings_(std::move(settings)) {
    auto& m = server.metrics();
    published_ =
        &m.counter("parley_push_notifications_total", "XEP-0357: notifications published to app servers.");
    coalesced_ = &m.counter("parley_push_coalesced_total",
                            "XEP-0357: messages folded into a later notification (burst rate limit).");
    disabled_ = &m.counter("parley_push_registrations_disabled_total",
                           "XEP-0357: registrations disabled after an app server error.");
    publishErrors_ =
        &m.counter("parley_push_publish_errors_total", "XEP-0357: publishes answered with an error.");
  }

  void load() {
    auto [regs, rules] = runtime::runAtStart(server_.pool(), "push", [&db = server_.db()] {
      PushStore store(db);
      return std::pair{store.loadAll(), store.loadRoomRules()};
    });
    std::lock_guard lock(mu_);
    for (auto& r : regs) {
      auto service = Jid::parse(r.serviceJid);
      if (!service) continue;
      Registration reg;
      reg.regId = PushStore::regId(r.serviceJid, r.node);
      reg.service = *service;
      reg.node = r.node;
      if (!r.options.empty()) reg.options = xml::parseElement(r.options);
      accounts_[r.username + "@" + r.domain].regs.push_back(std::move(reg));
      ++registrationCount_;
    }
    for (auto& r : rules)
      if (auto mode = parseRule(r.mode))
        accounts_[r.username + "@" + r.domain].rules[r.room] = {*mode, r.nick};
    if (registrationCount_) log::info("push.loaded", "registrations={}", registrationCount_);
  }

  void startTimers() {
    server_.metrics().gaugeFunction("parley_push_registrations", "XEP-0357: registrations held in memory.",
                                    [w = weak_from_this()] {
                                      auto self = w.lock();
                                      if (!self) return 0.0;
                                      std::lock_guard lock(self->mu_);
                                      return static_cast<double>(self->registrationCount_);
                                    });
    exec_ = server_.io().executor(0);
    exec_.post([self = shared_from_this()] { self->armSweep(); });
  }

  void stop() {
    stopped_ = true;
    exec_.post([self = shared_from_this()] {
      self->sweep_.reset();
      self->timers_.clear();
    });
  }

  // ---- enable / disable (XEP-0357 §5, §6) -------------------------------------------------------
  void enable(const router::IqRequest& req) {
    if (!req.fromSelf()) return req.error(StanzaError::Forbidden);
    const auto& e = req.payload();
    auto service = Jid::parse(e.attr("jid"));
    if (!service) return req.error(StanzaError::BadRequest, "enable needs a valid 'jid'");
    const std::string node(e.attr("node"));
    if (node.size() > kMaxNode) return req.error(StanzaError::NotAcceptable, "node too long");
    xml::ElementPtr options;
    if (const auto* x = e.child("x", kDataNs)) {
      std::string formType;
      for (const auto& f : x->childrenNamed("field", kDataNs))
        if (f->attr("var") == "FORM_TYPE") formType = f->childText("value", kDataNs);
      if (formType != kPublishOptions)
        return req.error(StanzaError::BadRequest, "the form must be pubsub#publish-options");
      auto clean = x->clone();
      clean->setAttr("type", "submit");
      options = clean;
      if (xml::toString(*options).size() > kMaxOptions)
        return req.error(StanzaError::NotAcceptable, "publish-options too large");
    }
    const Jid account = req.stanza->from().bare();
    const std::string bare = account.bareStr();
    const std::string regId = PushStore::regId(service->str(), node);
    {
      std::lock_guard lock(mu_);
      auto& acct = accounts_[bare];
      const bool exists =
          std::any_of(acct.regs.begin(), acct.regs.end(), [&](const auto& r) { return r.regId == regId; });
      if (!exists && static_cast<std::int64_t>(acct.regs.size()) >= settings_.maxRegistrations)
        return req.error(StanzaError::ResourceConstraint, "too many push registrations");
    }
    StoredRegistration stored{account.domain(),
                              account.local(),
                              service->str(),
                              node,
                              options ? xml::toString(*options) : std::string(),
                              util::unixNow()};
    const std::uint64_t sessionId = req.session ? req.session->id() : 0;
    const std::string full = req.session ? req.session->jid().str() : std::string();
    auto& db = server_.db();
    runtime::offload(
        server_.pool(), runtime::Executor::current(), bare, [&db, stored] { PushStore(db).upsert(stored); },
        [self = shared_from_this(), req, stored, service = *service, options, regId, sessionId, bare,
         full](runtime::Outcome<bool> out) {
          if (!out.ok()) {
            log::error("push.enable.failed", "user={} error=\"{}\"", bare, out.error);
            return req.error(StanzaError::InternalServerError);
          }
          {
            std::lock_guard lock(self->mu_);
            auto& acct = self->accounts_[bare];
            auto it = std::find_if(acct.regs.begin(), acct.regs.end(),
                                   [&](const auto& r) { return r.regId == regId; });
            if (it == acct.regs.end()) {
              acct.regs.push_back({});
              it = std::prev(acct.regs.end());
              ++self->registrationCount_;
            }
            it->regId = regId;
            it->service = service;
            it->node = stored.node;
            it->options = options;
            it->boundSession = sessionId;
            it->count = 0;
            it->transientErrors = 0;
            if (sessionId) {
              auto& si = self->sessions_[sessionId];
              si.bare = bare;
              si.full = full;
              self->byFull_[full] = sessionId;
            }
          }
          log::info("push.enabled", "user={} service={} sid={}", bare, service.str(), sessionId);
          req.result();
        });
  }

  void disable(const router::IqRequest& req) {
    if (!req.fromSelf()) return req.error(StanzaError::Forbidden);
    const auto& e = req.payload();
    auto service = Jid::parse(e.attr("jid"));
    if (!service) return req.error(StanzaError::BadRequest, "disable needs a valid 'jid'");
    std::optional<std::string> node;
    if (e.hasAttr("node")) node = std::string(e.attr("node"));
    const Jid account = req.stanza->from().bare();
    forget(account, *service, node);
    auto& db = server_.db();
    const std::string serviceStr = service->str();
    runtime::offload(
        server_.pool(), runtime::Executor::current(), account.bareStr(),
        [&db, account, serviceStr, node] {
          PushStore(db).remove(account.domain(), account.local(), serviceStr, node ? &*node : nullptr);
        },
        [req, bare = account.bareStr()](runtime::Outcome<bool> out) {
          if (!out.ok()) {
            log::error("push.disable.failed", "user={} error=\"{}\"", bare, out.error);
            return req.error(StanzaError::InternalServerError);
          }
          req.result();
        });
  }

  // ---- per-room rules (urn:parley:push:rules:0) ------------------------------------------------
  void rulesGet(const router::IqRequest& req) {
    if (!req.fromSelf()) return req.error(StanzaError::Forbidden);
    auto out = xml::make("rules", std::string(kRulesNs));
    out->setAttr("default", ruleName(settings_.groupchatDefault));
    {
      std::lock_guard lock(mu_);
      if (auto it = accounts_.find(req.stanza->from().bareStr()); it != accounts_.end())
        for (const auto& [room, r] : it->second.rules) {
          auto e = xml::make("room", std::string(kRulesNs));
          e->setAttr("jid", room);
          e->setAttr("mode", ruleName(r.mode));
          if (!r.nick.empty()) e->setAttr("nick", r.nick);
          out->addChild(e);
        }
    }
    req.result(out);
  }

  void rulesSet(const router::IqRequest& req) {
    if (!req.fromSelf()) return req.error(StanzaError::Forbidden);
    const Jid account = req.stanza->from().bare();
    std::vector<StoredRoomRule> changes;
    for (const auto& r : req.payload().childrenNamed("room", kRulesNs)) {
      auto room = Jid::parse(r->attr("jid"));
      if (!room || room->local().empty() || !room->resource().empty())
        return req.error(StanzaError::JidMalformed, "room must be a room's bare JID");
      const std::string_view mode = r->attr("mode");
      if (mode != "default" && !parseRule(mode))
        return req.error(StanzaError::BadRequest, "mode must be always, mentions, never or default");
      if (r->attr("nick").size() > 1023) return req.error(StanzaError::NotAcceptable, "nick too long");
      changes.push_back({account.domain(), account.local(), room->bareStr(),
                         mode == "default" ? "" : std::string(mode), std::string(r->attr("nick"))});
    }
    if (changes.empty() || changes.size() > 100)
      return req.error(StanzaError::BadRequest, "1 to 100 <room/> expected");
    {
      std::lock_guard lock(mu_);
      auto& rules = accounts_[account.bareStr()].rules;
      std::size_t added = 0;
      for (const auto& c : changes)
        if (!c.mode.empty() && !rules.count(c.room)) ++added;
      if (static_cast<std::int64_t>(rules.size() + added) > settings_.maxRoomRules)
        return req.error(StanzaError::ResourceConstraint, "too many room rules");
    }
    auto& db = server_.db();
    runtime::offload(
        server_.pool(), runtime::Executor::current(), account.bareStr(),
        [&db, changes] {
          PushStore store(db);
          for (const auto& c : changes) store.setRoomRule(c);
        },
        [self = shared_from_this(), req, changes, bare = account.bareStr()](runtime::Outcome<bool> out) {
          if (!out.ok()) return req.error(StanzaError::InternalServerError);
          {
            std::lock_guard lock(self->mu_);
            auto& rules = self->accounts_[bare].rules;
            for (const auto& c : changes) {
              if (c.mode.empty())
                rules.erase(c.room);
              else
                rules[c.room] = {*parseRule(c.mode), c.nick};
            }
          }
          req.result();
        });
  }

  // ---- session state -----------------------------------------------------------------------------
  void interrupted(session::Session& s) {
    std::lock_guard lock(mu_);
    auto& si = sessions_[s.id()];
    si.bare = s.jid().bareStr();
    si.full = s.jid().str();
    si.lost = true;
    byFull_[si.full] = s.id();
  }
  void csi(session::Session& s, bool inactive) {
    std::lock_guard lock(mu_);
    if (!inactive && !sessions_.count(s.id())) return;
    auto& si = sessions_[s.id()];
    si.bare = s.jid().bareStr();
    si.full = s.jid().str();
    si.inactive = inactive;
    byFull_[si.full] = s.id();
    if (!inactive) deviceActive(s.id(), si.bare);
  }
  void resumed(session::Session& s, std::uint64_t previous) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(previous);
    if (it == sessions_.end()) return;
    SessionInfo si = std::move(it->second);
    sessions_.erase(it);
    si.lost = false;
    si.inactive = false;  // XEP-0352 §5.2: a resumed stream starts active
    si.full = s.jid().str();
    byFull_[si.full] = s.id();
    sessions_[s.id()] = si;
    if (auto a = accounts_.find(si.bare); a != accounts_.end())
      for (auto& r : a->second.regs)
        if (r.boundSession == previous) r.boundSession = s.id();
    deviceActive(s.id(), si.bare);
  }
  void closed(session::Session& s) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(s.id());
    if (it == sessions_.end()) return;
    if (auto f = byFull_.find(it->second.full); f != byFull_.end() && f->second == s.id()) byFull_.erase(f);
    if (auto a = accounts_.find(it->second.bare); a != accounts_.end())
      for (auto& r : a->second.regs)
        if (r.boundSession == s.id()) r.boundSession = 0;  // the device is offline now
    sessions_.erase(it);
  }
  void accountRemoved(const Jid& user) {
    std::lock_guard lock(mu_);
    if (auto it = accounts_.find(user.bareStr()); it != accounts_.end()) {
      registrationCount_ -= it->second.regs.size();
      accounts_.erase(it);
    }
  }

  // ---- triggers ------------------------------------------------------------------------------------
  void message(const hooks::MessageToAccount::Context& c) {
    const auto& m = c.stanza->element();
    const auto type = c.stanza->type();
    if (type == "groupchat" || type == "error" || type == "headline") return;
    const std::string bare = c.user.bareStr();
    // XEP-0357 §8 (affiliation change): the app server no longer accepts our publishes for a node.
    if (const auto* ev = m.child("event", kPubsubEventNs)) {
      if (const auto* affs = ev->child("affiliations", kPubsubEventNs))
        affiliationChange(c.user, c.stanza->from(), *affs);
      return;
    }
    bool call = false;
    const bool body = !m.childText("body", xml::ns::kClient).empty();
    bool urgent = body;
    for (const auto& ch : m.children()) {
      if (ch->xmlns() == kJingleMessageNs && ch->name() == "propose")
        call = urgent = true;
      else if (settings_.urgentNamespaces.count(ch->xmlns()))
        urgent = true;
    }
    if (!urgent) return;
    std::vector<Outgoing> out;
    {
      std::lock_guard lock(mu_);
      auto it = accounts_.find(bare);
      if (it == accounts_.end() || it->second.regs.empty()) return;
      for (auto& r : it->second.regs) {
        if (!deviceAway(r)) continue;
        if (c.stanza->from().bare() == r.service.bare())
          continue;  // never push about the app server's own stanzas
        note(c.user, r, c.stanza->from().str(), m.childText("body", xml::ns::kClient), call, out);
      }
    }
    send(out);
  }

  void groupchat(const hooks::GroupchatBroadcast::Context& c) {
    const auto& m = c.stanza->element();
    const std::string body = m.childText("body", xml::ns::kClient);
    if (body.empty()) return;
    const std::string senderNick(c.stanza->from().resource());
    const std::string roomKey = c.room.bareStr();
    std::vector<Outgoing> out;
    {
      std::lock_guard lock(mu_);
      for (const auto& member : c.members) {
        if (!member.nick.empty() && member.nick == senderNick) continue;  // the author's own message
        if (!server_.router().isLocalDomain(member.bare.domain())) continue;
        auto it = accounts_.find(member.bare.bareStr());
        if (it == accounts_.end() || it->second.regs.empty()) continue;
        // Pushed only if none of the member's joined devices is active (a device without tracked state
        // is connected and active).
        bool active = false;
        for (const auto& d : member.devices) {
          auto f = byFull_.find(d.str());
          if (f == byFull_.end()) {
            active = true;
            break;
          }
          auto s = sessions_.find(f->second);
          if (s == sessions_.end() || !s->second.away()) {
            active = true;
            break;
          }
        }
        if (active) continue;
        RoomRule rule{settings_.groupchatDefault, {}};
        if (auto r = it->second.rules.find(roomKey); r != it->second.rules.end()) rule = r->second;
        if (rule.mode == Rule::Never) continue;
        if (rule.mode == Rule::Mentions && !mentioned(m, body, member, rule)) continue;
        for (auto& r : it->second.regs) {
          if (!deviceAway(r)) continue;
          note(member.bare, r, c.stanza->from().str(), body, false, out);
        }
      }
    }
    send(out);
  }

  // ---- answers from the app servers (IqResponse) ------------------------------------------------------
  bool response(const StanzaPtr& s) {
    const std::string id(s->id());
    if (!id.starts_with("push-")) return false;
    std::lock_guard lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || !(s->from() == it->second.service)) return false;
    Pending p = std::move(it->second);
    pending_.erase(it);
    auto a = accounts_.find(p.bare);
    if (a == accounts_.end()) return true;
    auto r = std::find_if(a->second.regs.begin(), a->second.regs.end(),
                          [&](const auto& x) { return x.regId == p.regId; });
    if (r == a->second.regs.end()) return true;
    if (s->type() == "result") {
      r->transientErrors = 0;
      return true;
    }
    publishErrors_->inc();
    const auto* err = s->element().child("error", xml::ns::kClient);
    const std::string_view type = err ? err->attr("type") : std::string_view("cancel");
    if (type == "wait" && ++r->transientErrors < settings_.maxTransientErrors) {
      log::info("push.publish.transient_error", "user={} service={}", p.bare, r->service.str());
      return true;
    }
    log::info("push.registration.disabled", "user={} service={} error_type={}", p.bare, r->service.str(),
              type);
    dropLocked(p.bare, a->second, r);
    return true;
  }

 private:
  struct Pending {
    std::string bare, regId;
    Jid service;
    Clock::time_point sent;
  };

  bool deviceAway(const Registration& r) const {
    if (!r.boundSession) return true;
    auto s = sessions_.find(r.boundSession);
    return s == sessions_.end() || s->second.away();
  }

  bool mentioned(const xml::Element& m, const std::string& body,
                 const hooks::GroupchatBroadcast::Member& member, const RoomRule& rule) const {
    const std::string bare = member.bare.bareStr();
    if (isMention(body, member.nick) || isMention(body, rule.nick) || body.find(bare) != std::string::npos)
      return true;
    for (const auto& ref : m.childrenNamed("reference", kReferenceNs))  // XEP-0372
      if (ref->attr("type") == "mention" && ref->attr("uri") == "xmpp:" + bare) return true;
    return false;
  }

  // A message for a registration whose device is away: publish now, or fold it into the one that will
  // go at the end of the burst interval. Under mu_.
  void note(const Jid& user, Registration& r, const std::string& sender, const std::string& body, bool call,
            std::vector<Outgoing>& out) {
    ++r.count;
    r.lastSender = sender;
    r.lastBody = body;
    const auto now = Clock::now();
    if (call || now - r.lastSent >= settings_.minInterval) {
      r.lastSent = now;
      out.push_back({build(user, r, call)});
      return;
    }
    coalesced_->inc();
    if (r.deferred) return;
    r.deferred = true;
    const auto due = r.lastSent + settings_.minInterval - now;
    exec_.post([self = shared_from_this(), bare = user.bareStr(), regId = r.regId, due] {
      const std::uint64_t id = ++self->nextTimer_;
      self->timers_[id] = std::make_unique<runtime::Timer>(self->exec_, due, [self, bare, regId, id] {
        self->timers_.erase(id);
        self->deferredPublish(bare, regId);
      });
    });
  }

  void deferredPublish(const std::string& bare, const std::string& regId) {
    std::vector<Outgoing> out;
    {
      std::lock_guard lock(mu_);
      auto a = accounts_.find(bare);
      if (a == accounts_.end()) return;
      for (auto& r : a->second.regs)
        if (r.regId == regId && r.deferred) {
          r.deferred = false;
          if (!deviceAway(r) || r.count == 0) break;  // woke up meanwhile: nothing to say
          r.lastSent = Clock::now();
          if (auto user = Jid::parse(bare)) out.push_back({build(*user, r, false)});
        }
    }
    send(out);
  }

  // XEP-0357 §7 (Example 9/10): the publish with the summary form and the stored publish-options.
  StanzaPtr build(const Jid& user, const Registration& r, bool call) {
    auto form = xml::make("x", std::string(kDataNs));
    form->setAttr("type", "submit");
    auto field = [&](std::string_view var, std::string_view value) {
      auto f = xml::make("field", std::string(kDataNs));
      f->setAttr("var", var);
      f->addTextChild("value", kDataNs, value);
      form->addChild(f);
    };
    field("FORM_TYPE", "urn:xmpp:push:summary");
    field("message-count", std::to_string(r.count));
    if (settings_.includeSender && !r.lastSender.empty()) field("last-message-sender", r.lastSender);
    if (settings_.includeBody && !r.lastBody.empty()) field("last-message-body", r.lastBody.substr(0, 4096));
    auto notification = xml::make("notification", std::string(kNs));
    notification->addChild(form);
    notification->addTextChild("kind", kParleyNs, call ? "call" : "message");
    auto item = xml::make("item", std::string(kPubsubNs));
    item->addChild(notification);
    auto publish = xml::make("publish", std::string(kPubsubNs));
    publish->setAttr("node", r.node);
    publish->addChild(item);
    auto pubsub = xml::make("pubsub", std::string(kPubsubNs));
    pubsub->addChild(publish);
    if (r.options) {
      auto po = xml::make("publish-options", std::string(kPubsubNs));
      po->addChild(r.options);
      pubsub->addChild(po);
    }
    auto iq = xml::make("iq", std::string(xml::ns::kClient));
    iq->setAttr("type", "set");
    const std::string id = "push-" + std::to_string(++nextId_);
    iq->setAttr("id", id);
    iq->addChild(pubsub);
    if (pending_.size() < 100000) pending_[id] = {user.bareStr(), r.regId, r.service, Clock::now()};
    published_->inc();
    return xmpp::Stanza::make(iq, user.bare(), r.service);
  }

  void send(std::vector<Outgoing>& out) {
    for (auto& o : out) {
      log::debug("push.publish", "from={} to={}", o.iq->from().str(), o.iq->to().str());
      server_.router().route(std::move(o.iq));
    }
  }

  void affiliationChange(const Jid& user, const Jid& from, const xml::Element& affs) {
    const std::string node(affs.attr("node"));
    bool none = false;
    for (const auto& a : affs.childrenNamed("affiliation", kPubsubEventNs))
      if (a->attr("affiliation") == "none" && a->attr("jid") == user.bareStr()) none = true;
    if (!none) return;
    const std::string bare = user.bareStr();
    {
      std::lock_guard lock(mu_);
      auto a = accounts_.find(bare);
      if (a == accounts_.end()) return;
      auto r = std::find_if(a->second.regs.begin(), a->second.regs.end(),
                            [&](const auto& x) { return x.service == from && x.node == node; });
      if (r == a->second.regs.end()) return;
      log::info("push.registration.revoked", "user={} service={}", bare, from.str());
      dropLocked(bare, a->second, r);
    }
  }

  // Removes a registration from memory and storage (the app server refused it). Under mu_.
  void dropLocked(const std::string& bare, Account& acct, std::vector<Registration>::iterator r) {
    disabled_->inc();
    auto user = Jid::parse(bare);
    const std::string service = r->service.str();
    const std::string node = r->node;
    acct.regs.erase(r);
    --registrationCount_;
    if (!user) return;
    auto& db = server_.db();
    runtime::offload(
        server_.pool(), exec_, bare,
        [&db, u = *user, service, node] { PushStore(db).remove(u.domain(), u.local(), service, &node); },
        [bare](runtime::Outcome<bool> out) {
          if (!out.ok()) log::error("push.disable.failed", "user={} error=\"{}\"", bare, out.error);
        });
  }

  void forget(const Jid& account, const Jid& service, const std::optional<std::string>& node) {
    std::lock_guard lock(mu_);
    auto it = accounts_.find(account.bareStr());
    if (it == accounts_.end()) return;
    const auto before = it->second.regs.size();
    std::erase_if(it->second.regs,
                  [&](const Registration& r) { return r.service == service && (!node || r.node == *node); });
    registrationCount_ -= before - it->second.regs.size();
  }

  // The device of session `id` is active again: its count starts over. Under mu_.
  void deviceActive(std::uint64_t id, const std::string& bare) {
    if (auto a = accounts_.find(bare); a != accounts_.end())
      for (auto& r : a->second.regs)
        if (r.boundSession == id) r.count = 0;
  }

  void armSweep() {
    if (stopped_) return;
    sweep_ = std::make_unique<runtime::Timer>(exec_, std::chrono::seconds(10), [self = shared_from_this()] {
      const auto now = Clock::now();
      {
        std::lock_guard lock(self->mu_);
        // No answer in time: treated like a transient error.
        std::erase_if(self->pending_,
                      [&](const auto& kv) { return now - kv.second.sent > self->settings_.publishTimeout; });
      }
      self->armSweep();
    });
  }

  core::Server& server_;
  Settings settings_;
  runtime::Executor exec_;
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::unordered_map<std::string, Account> accounts_;        // by bare JID
  std::unordered_map<std::uint64_t, SessionInfo> sessions_;  // tracked sessions by id
  std::unordered_map<std::string, std::uint64_t> byFull_;    // full JID -> tracked session id
  std::unordered_map<std::string, Pending> pending_;         // publishes waiting for an answer, by id
  std::size_t registrationCount_ = 0;
  std::atomic<std::uint64_t> nextId_{0};
  // Deferred publishes and the sweep, on exec_ only.
  std::uint64_t nextTimer_ = 0;
  std::map<std::uint64_t, runtime::TimerPtr> timers_;
  runtime::TimerPtr sweep_;
  metrics::Counter *published_, *coalesced_, *disabled_, *publishErrors_;
};

class StateGuard {
 public:
  explicit StateGuard(std::shared_ptr<State> s) : s_(std::move(s)) {}
  StateGuard(const StateGuard&) = delete;
  StateGuard& operator=(const StateGuard&) = delete;
  ~StateGuard() { s_->stop(); }

 private:
  std::shared_ptr<State> s_;
};

class PushModule final : public module::Module {
 public:
  void configure(core::ConfigSection& c) override {
    auto& s = settings_;
    s.includeBody = c.getBool("include_body", false);
    s.includeSender = c.getBool("include_sender", true);
    s.maxRegistrations = c.getInt("max_registrations", 20, 1, 1000);
    s.minInterval = std::chrono::milliseconds(c.getInt("min_interval_ms", 2000, 0, 3600000));
    s.maxTransientErrors = static_cast<int>(c.getInt("max_transient_errors", 5, 1, 1000));
    s.publishTimeout = std::chrono::seconds(c.getInt("publish_timeout", 60, 1, 3600));
    for (auto& ns : c.getStringList("urgent_namespaces",
                                    {"urn:xmpp:jingle-message:0", "eu.siacs.conversations.axolotl",
                                     "urn:xmpp:omemo:2", "urn:xmpp:openpgp:0", "jabber:x:conference"}))
      s.urgentNamespaces.insert(ns);
    auto rule = parseRule(c.getString("groupchat_default", "mentions"));
    if (!rule) c.fail("groupchat_default", "must be \"always\", \"mentions\" or \"never\"");
    s.groupchatDefault = *rule;
    s.maxRoomRules = c.getInt("max_room_rules", 1000, 1, 100000);
  }

  void start(module::ModuleContext& ctx) override {
    auto state = std::make_shared<State>(ctx.server(), settings_);
    state->load();
    state->startTimers();
    ctx.keep(std::make_shared<StateGuard>(state));
    ctx.feature(module::DiscoScope::Account, std::string(kNs));  // §4: on the account's bare JID
    ctx.feature(module::DiscoScope::Account, std::string(kRulesNs));
    ctx.iq(router::IqScope::Account, "set", kNs, "enable",
           [state](const router::IqRequest& r) { state->enable(r); });
    ctx.iq(router::IqScope::Account, "set", kNs, "disable",
           [state](const router::IqRequest& r) { state->disable(r); });
    ctx.iq(router::IqScope::Account, "get", kRulesNs, "rules",
           [state](const router::IqRequest& r) { state->rulesGet(r); });
    ctx.iq(router::IqScope::Account, "set", kRulesNs, "rules",
           [state](const router::IqRequest& r) { state->rulesSet(r); });
    ctx.hook<hooks::MessageToAccount>(
        [state](hooks::MessageToAccount::Context& c) {
          state->message(c);
          return hooks::Action::Continue;
        },
        hooks::priority::kLate);
    ctx.hook<hooks::GroupchatBroadcast>([state](hooks::GroupchatBroadcast::Context& c) {
      state->groupchat(c);
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::IqResponse>([state](hooks::IqResponse::Context& c) {
      return state->response(c.stanza) ? hooks::Action::Stop : hooks::Action::Continue;
    });
    // Early, so the state is known before stream management / CSI act (they stop these chains).
    ctx.hook<hooks::SessionInterrupted>(
        [state](hooks::SessionInterrupted::Context& c) {
          state->interrupted(c.session);
          return hooks::Action::Continue;
        },
        hooks::priority::kFirst);
    ctx.hook<hooks::NonzaFromClient>(
        [state](hooks::NonzaFromClient::Context& c) {
          const auto& e = *c.element;
          if (c.bound && e.xmlns() == xml::ns::kCsi && (e.name() == "inactive" || e.name() == "active"))
            state->csi(c.session, e.name() == "inactive");
          return hooks::Action::Continue;
        },
        hooks::priority::kFirst);
    ctx.hook<hooks::SessionResumed>([state](hooks::SessionResumed::Context& c) {
      state->resumed(c.session, c.previousId);
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionClosed>([state](hooks::SessionClosed::Context& c) {
      state->closed(c.session);
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::AccountRemoved>([state](hooks::AccountRemoved::Context& c) {
      state->accountRemoved(c.user);
      return hooks::Action::Continue;
    });
  }

 private:
  Settings settings_;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "push", "XEP-0357 push notifications (to app servers), group chat push rules", {}, true, [] {
      return std::unique_ptr<module::Module>(new PushModule);
    }};

}  // namespace parley::xep::push
