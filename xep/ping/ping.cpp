// XEP-0199 XMPP Ping: the server answers pings addressed to itself and to the sender's own account, and
// pings clients that have been silent for `interval` seconds; a client that still says nothing for
// `timeout` seconds after the ping is disconnected with <connection-timeout/>.
//
// DESIGN: one periodic timer on one network thread snapshots the bound sessions and posts a check to
// each session's executor (lastActivity() is read only there). Any byte from the client counts as an
// answer (it refreshes lastActivity), so pongs need no matching. "Pinged at" is remembered per session
// id in a small locked map, erased when the session closes. The timer is cancelled on its own thread
// when the module stops.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"

namespace parley::xep::ping {

namespace {

using Clock = std::chrono::steady_clock;

class Pinger : public std::enable_shared_from_this<Pinger> {
 public:
  Pinger(core::Server& server, runtime::Executor exec, std::chrono::seconds interval,
         std::chrono::seconds timeout)
      : server_(server), exec_(exec), interval_(interval), timeout_(timeout) {
    // Often enough that a ping goes out, and a silent client is closed, within half a period of
    // the deadline.
    period_ = std::max<Clock::duration>(std::chrono::seconds(1), std::min(interval_, timeout_) / 2);
  }

  // On exec_.
  void arm() {
    if (stopped_) return;
    std::weak_ptr<Pinger> weak = weak_from_this();
    timer_ = std::make_unique<runtime::Timer>(exec_, period_, [weak] {
      if (auto self = weak.lock()) self->tick();
    });
  }

  // Thread-safe; the timer itself is cancelled on exec_.
  void stop() {
    stopped_ = true;
    exec_.post([self = shared_from_this()] { self->timer_.reset(); });
  }

  void forget(std::uint64_t sessionId) {
    std::lock_guard lock(mu_);
    pingedAt_.erase(sessionId);
  }

 private:
  void tick() {
    if (stopped_) return;
    for (auto& s : server_.sessions().allSessions()) {
      s->executor().post([self = shared_from_this(), s] { self->check(*s); });
    }
    arm();
  }

  // On the session's executor.
  void check(session::Session& s) {
    if (stopped_ || s.hibernated()) return;  // no connection to ping; XEP-0198 times it out
    const auto now = Clock::now();
    const auto last = s.lastActivity();
    if (now - last <= interval_) return;
    std::optional<Clock::time_point> pinged;
    {
      std::lock_guard lock(mu_);
      if (auto it = pingedAt_.find(s.id()); it != pingedAt_.end()) pinged = it->second;
    }
    if (pinged && *pinged >= last) {
      // Pinged since the client last spoke: it had `timeout` seconds to say anything.
      if (now - *pinged >= timeout_) {
        log::info("ping.timeout", "sid={} jid={}", s.id(), s.jid().str());
        s.close(xmpp::StreamError::ConnectionTimeout, "no answer to ping");
      }
      return;
    }
    {
      std::lock_guard lock(mu_);
      pingedAt_[s.id()] = now;
    }
    // XEP-0199 §4.2: server-to-client ping.
    auto iq = xml::make("iq", std::string(xml::ns::kClient));
    iq->setAttr("type", "get");
    iq->setAttr("id", "ping-" + std::to_string(nextId_.fetch_add(1) + 1));
    iq->addChild(xml::make("ping", std::string(xml::ns::kPing)));
    auto from = xmpp::Jid::fromParts({}, s.jid().domain());
    if (!from) return;
    s.deliver(xmpp::Stanza::make(std::move(iq), *from, s.jid()));
  }

  core::Server& server_;
  runtime::Executor exec_;
  Clock::duration interval_, timeout_, period_;
  std::atomic<bool> stopped_{false};
  runtime::TimerPtr timer_;  // on exec_ only
  std::mutex mu_;
  std::unordered_map<std::uint64_t, Clock::time_point> pingedAt_;
  std::atomic<std::uint64_t> nextId_{0};
};

// Held by the module context: stops the pinger when the module stops.
class PingerGuard {
 public:
  explicit PingerGuard(std::shared_ptr<Pinger> pinger) : pinger_(std::move(pinger)) {}
  PingerGuard(const PingerGuard&) = delete;
  PingerGuard& operator=(const PingerGuard&) = delete;
  ~PingerGuard() { pinger_->stop(); }

 private:
  std::shared_ptr<Pinger> pinger_;
};

class PingModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    interval_ = section.getInt("interval", 300, 0, 7 * 24 * 3600);
    timeout_ = section.getInt("timeout", 60, 1, 24 * 3600);
  }

  void start(module::ModuleContext& ctx) override {
    using router::IqRequest;
    ctx.feature(module::DiscoScope::Server, std::string(xml::ns::kPing));
    // XEP-0199 §4.3 (to the server) and pings sent without 'to', handled for the sender's account.
    ctx.iq(router::IqScope::Server, "get", xml::ns::kPing, "ping",
           [](const IqRequest& req) { req.result(); });
    ctx.iq(router::IqScope::Account, "get", xml::ns::kPing, "ping", [](const IqRequest& req) {
      if (req.fromSelf())
        req.result();
      else
        req.error(xmpp::StanzaError::ServiceUnavailable);  // RFC 6121 §8.5.1: not answered for others
    });
    if (interval_ == 0) return;
    auto& server = ctx.server();
    auto exec = server.io().executor(0);
    auto pinger = std::make_shared<Pinger>(server, exec, std::chrono::seconds(interval_),
                                           std::chrono::seconds(timeout_));
    ctx.hook<hooks::SessionClosed>([pinger](hooks::SessionClosed::Context& c) {
      pinger->forget(c.session.id());
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionResumed>([pinger](hooks::SessionResumed::Context& c) {
      pinger->forget(c.previousId);
      return hooks::Action::Continue;
    });
    exec.post([pinger] { pinger->arm(); });
    ctx.keep(std::make_shared<PingerGuard>(pinger));
  }

 private:
  std::int64_t interval_ = 300;
  std::int64_t timeout_ = 60;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"ping", "XEP-0199 XMPP ping, and pinging silent clients", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new PingModule);
                                 }};

}  // namespace parley::xep::ping
