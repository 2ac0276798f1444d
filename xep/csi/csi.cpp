// XEP-0352 Client State Indication: a phone in the background says <inactive/>; until it says
// <active/>, stanzas it need not see now are held instead of waking it (urgency.h says which).
//
// DESIGN: the state lives in the session's extension slot (CsiState), touched only on the session's
// executor; it moves with the session when XEP-0198 resumes it.
//   NonzaFromClient  <inactive/> starts holding; <active/> writes everything held, in order, before the
//                    next element of the stream is processed (§5.1, in-order processing).
//   StanzaToClient   (late, after filters) while inactive: an urgent stanza first flushes what is held,
//                    then goes out; anything else is held (Stop). Presence keeps only the latest per
//                    sender full JID: the earlier one is dropped and the new one queued at the end, so
//                    what the client gets is always in arrival order. A full queue (max_held) is
//                    flushed.
//   SessionResumed   §5.2: a resumed stream starts active: what is held is written after the XEP-0198
//                    replay (posted: the hook runs before <resumed/>).
//   SessionClosed    (early, before XEP-0198 hands unacknowledged stanzas back to routing): held
//                    messages are written, so they end exactly like stanzas written just before the
//                    stream ended (stream management re-routes them); held presence is dropped.
// Flushing uses Session::write(), which does not run StanzaToClient again.
// Metrics: stanzas held, presence superseded (never sent) and its bytes, flushes by reason, and
// wake-ups saved: one per stanza that never went out, plus for each flush of n stanzas n - 1 (the
// flush itself counts as a wake-up, even when an urgent stanza would have woken the client anyway).
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"
#include "xep/csi/urgency.h"

namespace parley::xep::csi {

namespace {

using xmpp::StanzaPtr;

const std::string kNs(xml::ns::kCsi);

struct CsiState {
  struct Held {
    StanzaPtr stanza;
    std::string key;  // sender full JID for superseding presence, else empty
  };
  bool inactive = false;
  std::list<Held> queue;
  std::unordered_map<std::string, std::list<Held>::iterator> presence;  // key -> its place in `queue`
};

enum class Reason { Urgent, Active, Overflow, Resumed, Closed };
constexpr int kReasons = 5;
constexpr const char* kReasonNames[kReasons] = {"urgent", "active", "overflow", "resumed", "closed"};

class CsiModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    maxHeld_ = static_cast<std::size_t>(section.getInt("max_held", 256, 1, 100000));
    classifier_ = Classifier(section.getStringList("urgent_namespaces", {}),
                             section.getStringList("urgent_pep_nodes", {}));
  }

  void start(module::ModuleContext& ctx) override {
    auto& m = ctx.server().metrics();
    held_ = &m.counter("parley_csi_held_total", "XEP-0352: stanzas held back from inactive clients.");
    dropped_ = &m.counter("parley_csi_dropped_total",
                          "XEP-0352: held presence superseded by a newer one and never sent.");
    bytesSaved_ = &m.counter("parley_csi_bytes_saved_total", "XEP-0352: bytes of held stanzas never sent.");
    wakeupsSaved_ = &m.counter("parley_csi_wakeups_saved_total",
                               "XEP-0352: writes to inactive clients avoided (held stanzas minus flushes).");
    for (int r = 0; r < kReasons; ++r)
      flushes_[r] =
          &m.counter("parley_csi_flushes_total", "XEP-0352: times held stanzas were written out, by cause.",
                     {{"reason", kReasonNames[r]}});
    inactiveSessions_ = &m.gauge("parley_csi_inactive_sessions", "XEP-0352: sessions in the inactive state.");
    queued_ = &m.gauge("parley_csi_queued_stanzas", "XEP-0352: stanzas held right now.");

    ctx.hook<hooks::StreamFeatures>([](hooks::StreamFeatures::Context& c) {
      if (c.authenticated) c.features.addChild(xml::make("csi", kNs));  // §4.1
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::NonzaFromClient>([this](hooks::NonzaFromClient::Context& c) { return nonza(c); });
    ctx.hook<hooks::StanzaToClient>([this](hooks::StanzaToClient::Context& c) { return outgoing(c); },
                                    hooks::priority::kLate);
    ctx.hook<hooks::SessionResumed>([this](hooks::SessionResumed::Context& c) {
      // The hook runs before <resumed/> and the replay; what is held goes out after them. Until then
      // the session stays inactive, so stanzas delivered meanwhile join the held queue in order.
      if (!c.session.findExtension<CsiState>()) return hooks::Action::Continue;
      c.session.executor().post([this, weak = c.session.weak_from_this()] {
        auto s = weak.lock();
        if (!s) return;
        if (auto* st = s->findExtension<CsiState>()) setActive(*s, *st, Reason::Resumed);
      });
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionClosed>(
        [this](hooks::SessionClosed::Context& c) {
          if (auto* st = c.session.findExtension<CsiState>()) closed(c.session, *st);
          return hooks::Action::Continue;
        },
        hooks::priority::kEarly);
  }

 private:
  hooks::Action nonza(hooks::NonzaFromClient::Context& c) {
    const auto& e = *c.element;
    if (e.xmlns() != kNs || (e.name() != "active" && e.name() != "inactive")) return hooks::Action::Continue;
    if (!c.bound) return hooks::Action::Continue;  // the core refuses it (nothing to be active about yet)
    auto& st = c.session.extension<CsiState>();
    if (e.name() == "inactive") {
      if (!st.inactive) {
        st.inactive = true;
        inactiveSessions_->inc();
        log::debug("csi.inactive", "sid={}", c.session.id());
      }
    } else {
      setActive(c.session, st, Reason::Active);
    }
    return hooks::Action::Stop;  // §4.2: no reply
  }

  void setActive(session::Session& session, CsiState& st, Reason reason) {
    if (st.inactive) {
      st.inactive = false;
      inactiveSessions_->dec();
      log::debug("csi.active", "sid={} held={}", session.id(), st.queue.size());
    }
    flush(session, st, reason);
  }

  hooks::Action outgoing(hooks::StanzaToClient::Context& c) {
    auto* st = c.session.findExtension<CsiState>();
    if (!st || !st->inactive) return hooks::Action::Continue;
    const Urgency urgency = classifier_.classify(*c.stanza);
    if (urgency == Urgency::Urgent) {
      flush(c.session, *st, Reason::Urgent);
      return hooks::Action::Continue;  // written by the core right after what was held
    }
    if (st->queue.size() >= maxHeld_) {
      // Full: the client gets everything now, this stanza last.
      flush(c.session, *st, Reason::Overflow);
      return hooks::Action::Continue;
    }
    std::string key;
    if (urgency == Urgency::Supersede) {
      key = c.stanza->from().str();
      if (auto it = st->presence.find(key); it != st->presence.end()) {
        drop(*it->second);
        st->queue.erase(it->second);
        queued_->dec();
        st->presence.erase(it);
      }
    }
    st->queue.push_back(CsiState::Held{std::move(c.stanza), key});
    if (!key.empty()) st->presence.emplace(std::move(key), std::prev(st->queue.end()));
    held_->inc();
    queued_->inc();
    return hooks::Action::Stop;
  }

  // A held stanza that will never be sent.
  void drop(const CsiState::Held& h) {
    dropped_->inc();
    bytesSaved_->inc(h.stanza->serialized().size());
    wakeupsSaved_->inc();
  }

  void flush(session::Session& session, CsiState& st, Reason reason) {
    if (st.queue.empty()) return;
    auto queue = std::move(st.queue);
    st.queue.clear();
    st.presence.clear();
    const auto n = queue.size();
    queued_->dec(static_cast<double>(n));
    flushes_[static_cast<int>(reason)]->inc();
    wakeupsSaved_->inc(n - 1);
    log::trace("csi.flush", "sid={} stanzas={} reason={}", session.id(), n,
               kReasonNames[static_cast<int>(reason)]);
    for (auto& h : queue) session.write(std::move(h.stanza));
  }

  void closed(session::Session& session, CsiState& st) {
    if (st.inactive) {
      st.inactive = false;
      inactiveSessions_->dec();
    }
    if (st.queue.empty()) return;
    auto queue = std::move(st.queue);
    st.queue.clear();
    st.presence.clear();
    queued_->dec(static_cast<double>(queue.size()));
    std::size_t written = 0;
    for (auto& h : queue) {
      if (h.stanza->isPresence()) {
        drop(h);  // stale once the session is gone
        continue;
      }
      session.write(std::move(h.stanza));
      ++written;
    }
    if (written) {
      flushes_[static_cast<int>(Reason::Closed)]->inc();
      wakeupsSaved_->inc(written - 1);
    }
  }

  std::size_t maxHeld_ = 256;
  Classifier classifier_;
  metrics::Counter* held_ = nullptr;
  metrics::Counter* dropped_ = nullptr;
  metrics::Counter* bytesSaved_ = nullptr;
  metrics::Counter* wakeupsSaved_ = nullptr;
  metrics::Counter* flushes_[kReasons] = {};
  metrics::Gauge* inactiveSessions_ = nullptr;
  metrics::Gauge* queued_ = nullptr;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"csi", "XEP-0352 client state indication", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new CsiModule);
                                 }};

}  // namespace parley::xep::csi
