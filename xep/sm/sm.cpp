// XEP-0198 stream management: acks in both directions and session resumption.
// - The client's stanzas are counted by the core (Session::stanzasReceived()); our <a h/> is sent only
//   after Server::afterQueuedWork(), so what it covers is delivered or durably stored
//   (ARCHITECTURE.md, durability rule).
// - Every stanza written to the client (StanzaSent) is kept until the client acknowledges it. We ask
//   for an ack (<r/>) once per burst, when none is outstanding.
// - A connection lost without </stream:stream> keeps the session hibernated for `resume_timeout`; it
//   keeps receiving into the queue. <resume/> on a new connection takes the session over (the core
//   moves JID, presence and every module's per-session state) and replays what was not acknowledged.
// - When a session ends for good, unacknowledged messages go back through routing (another resource,
//   else offline storage); requests get an error; presence is dropped (it is stale by then).
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/module/module.h"
#include "server/util/crypto.h"

namespace parley::xep::sm {

namespace {

constexpr std::string_view kNs = "urn:xmpp:sm:3";
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";

// Per-session state, kept in the session's extension slot so it moves with a resumption.
struct SmState {
  bool enabled = false;
  bool resumable = false;
  std::string id;                  // SM-ID of a resumable session
  std::uint32_t receivedBase = 0;  // Session::stanzasReceived() when enabled
  std::uint32_t sent = 0;          // stanzas sent since enabled (what the client's h counts)
  std::uint32_t acked = 0;         // the client's last h
  std::deque<xmpp::StanzaPtr> unacked;
  bool requestOutstanding = false;
  bool requestScheduled = false;
  std::chrono::seconds timeout{0};  // how long a hibernated session is kept
};

std::optional<std::uint32_t> parseH(std::string_view v) {
  if (v.empty() || v.size() > 10) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > 0xffffffffULL) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

xml::MutableElementPtr failed(std::string_view condition, std::optional<std::uint32_t> h = std::nullopt) {
  auto f = xml::make("failed", std::string(kNs));
  if (h) f->setAttr("h", std::to_string(*h));
  f->addChild(xml::make(std::string(condition), std::string(kStanzasNs)));
  return f;
}

class SmModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    allowResume_ = section.getBool("resume", true);
    resumeTimeout_ = std::chrono::seconds(section.getInt("resume_timeout", 600, 1, 7 * 24 * 3600));
    maxQueue_ = static_cast<std::size_t>(section.getInt("max_queue", 1000, 10, 1000000));
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    auto& m = ctx.server().metrics();
    enabled_ = &m.counter("parley_sm_enabled_total", "Streams that enabled XEP-0198 stream management");
    hibernated_ =
        &m.counter("parley_sm_hibernated_total", "Sessions kept for resumption after a lost connection");
    resumed_ = &m.counter("parley_sm_resumed_total", "Sessions resumed on a new connection");
    resumeFailed_ =
        &m.counter("parley_sm_resume_failed_total", "Resumption attempts refused (unknown or expired)");
    replayed_ = &m.counter("parley_sm_replayed_stanzas_total", "Stanzas replayed after a resumption");
    rerouted_ = &m.counter("parley_sm_rerouted_stanzas_total",
                           "Unacknowledged messages re-routed when a session ended");
    ctx.hook<hooks::StreamFeatures>([](hooks::StreamFeatures::Context& c) {
      if (c.authenticated) c.features.addChild(xml::make("sm", std::string(kNs)));
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::NonzaFromClient>([this](hooks::NonzaFromClient::Context& c) {
      if (c.element->xmlns() != kNs) return hooks::Action::Continue;
      onNonza(c.session, *c.element, c.bound);
      return hooks::Action::Stop;
    });
    // Last, after every module that may replace or hold the stanza.
    ctx.hook<hooks::StanzaSent>(
        [this](hooks::StanzaSent::Context& c) {
          sent(c.session, c.stanza);
          return hooks::Action::Continue;
        },
        hooks::priority::kLast);
    ctx.hook<hooks::SessionInterrupted>([this](hooks::SessionInterrupted::Context& c) {
      auto* st = c.session.findExtension<SmState>();
      if (!st || !st->enabled || !st->resumable) return hooks::Action::Continue;
      st->requestOutstanding = st->requestScheduled = false;
      c.keepFor = st->timeout;
      hibernated_->inc();
      return hooks::Action::Stop;
    });
    // After modules that flush what they held into the queue (CSI runs early).
    ctx.hook<hooks::SessionClosed>(
        [this](hooks::SessionClosed::Context& c) {
          if (ended(c.session)) c.unacknowledgedHandedBack = true;
          return hooks::Action::Continue;
        },
        hooks::priority::kLate);
  }

 private:
  void onNonza(session::Session& s, const xml::Element& e, bool bound) {
    const auto name = e.name();
    if (name == "enable") return enable(s, e, bound);
    if (name == "resume") return resume(s, e, bound);
    if (name == "r") return request(s);
    if (name == "a") return ack(s, e);
    s.close(xmpp::StreamError::UnsupportedStanzaType, "unknown stream management element");
  }

  void enable(session::Session& s, const xml::Element& e, bool bound) {
    auto& st = s.extension<SmState>();
    // XEP-0198 §3: only after binding, only once.
    if (!bound || st.enabled) {
      s.writeElement(*failed("unexpected-request"));
      return;
    }
    st.enabled = true;
    st.receivedBase = s.stanzasReceived();
    auto reply = xml::make("enabled", std::string(kNs));
    const auto resumeAttr = e.attr("resume");
    if (allowResume_ && (resumeAttr == "true" || resumeAttr == "1")) {
      st.resumable = true;
      st.id = util::randomToken(24);
      {
        std::lock_guard lock(mu_);
        resumable_[st.id] = Entry{s.weak_from_this(), s.jid().bareStr()};
      }
      st.timeout = resumeTimeout_;
      if (auto wanted = parseH(e.attr("max")); wanted && *wanted > 0)
        st.timeout = std::min(st.timeout, std::chrono::seconds(*wanted));  // the client may ask for less
      reply->setAttr("id", st.id);
      reply->setAttr("resume", "true");
      reply->setAttr("max", std::to_string(st.timeout.count()));
    }
    s.writeElement(*reply);
    enabled_->inc();
    log::debug("sm.enabled", "sid={} resumable={}", s.id(), st.resumable);
  }

  void request(session::Session& s) {
    auto* st = s.findExtension<SmState>();
    if (!st || !st->enabled) {
      s.writeElement(*failed("unexpected-request"));
      return;
    }
    const std::uint32_t h = s.stanzasReceived() - st->receivedBase;
    // Answer only once what the acked stanzas caused is delivered or stored.
    auto weak = s.weak_from_this();
    server_->afterQueuedWork(s.executor(), [weak, h] {
      auto self = weak.lock();
      if (!self) return;
      auto a = xml::make("a", std::string(kNs));
      a->setAttr("h", std::to_string(h));
      self->writeElement(*a);
    });
  }

  void ack(session::Session& s, const xml::Element& e) {
    auto* st = s.findExtension<SmState>();
    if (!st || !st->enabled) return;  // XEP-0198 §4: ignore acks on a stream without SM
    auto h = parseH(e.attr("h"));
    if (!h) {
      s.close(xmpp::StreamError::InvalidXml, "the h attribute must be a 32-bit unsigned integer");
      return;
    }
    if (!applyAck(*st, *h)) {
      // XEP-0198 §4: the client acknowledged more than was sent.
      s.close(xmpp::StreamError::UndefinedCondition,
              fmt::format("handled count too high: h={} but only {} stanzas were sent", *h, st->sent));
      return;
    }
    st->requestOutstanding = false;
    if (!st->unacked.empty()) scheduleRequest(s, *st);
  }

  // Drops what `h` acknowledges; false if h is ahead of what was sent.
  static bool applyAck(SmState& st, std::uint32_t h) {
    const std::uint32_t newly = h - st.acked;  // modulo 2^32 (XEP-0198 §4: counters wrap)
    if (newly > st.unacked.size()) return false;
    for (std::uint32_t i = 0; i < newly; ++i) st.unacked.pop_front();
    st.acked = h;
    return true;
  }

  void sent(session::Session& s, const xmpp::StanzaPtr& stanza) {
    auto* st = s.findExtension<SmState>();
    if (!st || !st->enabled) return;
    st->unacked.push_back(stanza);
    ++st->sent;
    if (st->unacked.size() > maxQueue_) {
      log::warn("sm.queue_full", "sid={} jid={} unacked={}", s.id(), s.jid().str(), st->unacked.size());
      if (s.hibernated())
        s.terminate();  // its queue goes back to routing (offline storage)
      else
        s.close(xmpp::StreamError::ResourceConstraint, "too many unacknowledged stanzas");
      return;
    }
    if (!s.hibernated()) scheduleRequest(s, *st);
  }

  // One <r/> after a burst of stanzas (posted, so a burst ends first), none while one is outstanding.
  void scheduleRequest(session::Session& s, SmState& st) {
    if (st.requestOutstanding || st.requestScheduled) return;
    st.requestScheduled = true;
    auto weak = s.weak_from_this();
    s.executor().post([weak] {
      auto self = weak.lock();
      if (!self) return;
      auto* st = self->findExtension<SmState>();
      if (!st || !st->requestScheduled) return;
      st->requestScheduled = false;
      if (st->unacked.empty() || self->hibernated()) return;
      st->requestOutstanding = true;
      self->writeElement(*xml::make("r", std::string(kNs)));
    });
  }

  void resume(session::Session& s, const xml::Element& e, bool bound) {
    if (bound || s.findExtension<SmState>()) {
      s.writeElement(*failed("unexpected-request"));
      return;
    }
    const std::string previd(e.attr("previd"));
    auto h = parseH(e.attr("h"));
    if (!h || previd.empty()) {
      s.writeElement(*failed("bad-request"));
      return;
    }
    session::SessionPtr old;
    std::optional<std::uint32_t> expiredH;
    {
      std::lock_guard lock(mu_);
      const auto account = s.authenticatedAccount();
      // Only the account that owns the session may resume it (no hijacking by another user).
      if (auto it = resumable_.find(previd); it != resumable_.end() && it->second.account == account)
        old = it->second.session.lock();
      else if (auto ex = expired_.find(previd); ex != expired_.end() && ex->second.account == account)
        expiredH = ex->second.h;
    }
    if (!old) {
      log::debug("sm.resume.unknown", "sid={} account={} expired={}", s.id(), s.authenticatedAccount(),
                 expiredH.has_value());
      resumeFailed_->inc();
      // XEP-0198 §5: with h, the client knows which of its stanzas the ended session handled.
      s.writeElement(*failed("item-not-found", expiredH));
      return;
    }
    auto weak = s.weak_from_this();
    s.resumeFrom(old, [this, weak, previd, h = *h](bool ok) {
      auto self = weak.lock();
      if (!self) return;
      auto* st = self->findExtension<SmState>();
      if (!ok || !st || !st->enabled) {
        resumeFailed_->inc();
        self->writeElement(*failed("item-not-found"));
        return;
      }
      {
        std::lock_guard lock(mu_);
        if (auto it = resumable_.find(previd); it != resumable_.end()) it->second.session = weak;
      }
      if (!applyAck(*st, h)) {
        log::warn("sm.resume.h_too_high", "sid={} h={} sent={}", self->id(), h, st->sent);
        applyAck(*st, st->sent);  // treat everything as received rather than resend garbage
      }
      auto resumed = xml::make("resumed", std::string(kNs));
      resumed->setAttr("previd", previd);
      resumed->setAttr("h", std::to_string(self->stanzasReceived() - st->receivedBase));
      self->writeElement(*resumed);
      // Replay: written again, so StanzaSent queues and counts them anew from the acked point.
      auto replay = std::move(st->unacked);
      st->unacked.clear();
      st->sent = st->acked;
      st->requestOutstanding = st->requestScheduled = false;
      log::info("sm.resumed", "sid={} jid={} replayed={}", self->id(), self->jid().str(), replay.size());
      resumed_->inc();
      replayed_->inc(replay.size());
      for (auto& stanza : replay) self->write(std::move(stanza));
    });
  }

  // True if stream management was on: everything unacknowledged went back to routing.
  bool ended(session::Session& s) {
    auto* st = s.findExtension<SmState>();
    if (!st || !st->enabled) return false;
    if (st->resumable) {
      std::lock_guard lock(mu_);
      if (auto it = resumable_.find(st->id); it != resumable_.end() && it->second.session.lock().get() == &s)
        resumable_.erase(it);
      rememberExpired(st->id, s.jid().bareStr(), s.stanzasReceived() - st->receivedBase);
    }
    auto unacked = std::move(st->unacked);
    st->unacked.clear();
    st->enabled = false;  // what routing brings back here now is not queued again
    std::size_t rerouted = 0;
    const auto bare = s.jid().bare();
    // The session is no longer registered: another resource, else offline storage.
    for (auto& stanza : unacked)
      if (server_->router().handBack(stanza, bare)) ++rerouted;
    rerouted_->inc(rerouted);
    if (!unacked.empty())
      log::info("sm.unacked_rerouted", "sid={} jid={} unacked={} rerouted={}", s.id(), s.jid().str(),
                unacked.size(), rerouted);
    return true;
  }

  // Under mu_. Kept for one resumption timeout, at most kMaxExpired of them.
  void rememberExpired(const std::string& id, std::string account, std::uint32_t h) {
    constexpr std::size_t kMaxExpired = 10000;
    const auto now = std::chrono::steady_clock::now();
    while (!expiredOrder_.empty() && (expiredOrder_.size() >= kMaxExpired ||
                                      now - expired_[expiredOrder_.front()].at > resumeTimeout_)) {
      expired_.erase(expiredOrder_.front());
      expiredOrder_.pop_front();
    }
    expired_[id] = Expired{std::move(account), h, now};
    expiredOrder_.push_back(id);
  }

  struct Expired {
    std::string account;
    std::uint32_t h = 0;
    std::chrono::steady_clock::time_point at;
  };

  struct Entry {
    session::WeakSessionPtr session;
    std::string account;  // bare JID
  };

  core::Server* server_ = nullptr;
  metrics::Counter* enabled_ = nullptr;
  metrics::Counter* hibernated_ = nullptr;
  metrics::Counter* resumed_ = nullptr;
  metrics::Counter* resumeFailed_ = nullptr;
  metrics::Counter* replayed_ = nullptr;
  metrics::Counter* rerouted_ = nullptr;
  bool allowResume_ = true;
  std::chrono::seconds resumeTimeout_{600};
  std::size_t maxQueue_ = 1000;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> resumable_;
  std::unordered_map<std::string, Expired> expired_;  // ended sessions: h for <failed/>
  std::deque<std::string> expiredOrder_;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"sm", "XEP-0198 stream management", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new SmModule);
                                 }};

}  // namespace parley::xep::sm
