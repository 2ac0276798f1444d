// XEP-0280 Message Carbons (urn:xmpp:carbons:2): every device of a user that enabled carbons sees both
// sides of the user's one-to-one conversations, including what went to (or came from) another device.
//
// DESIGN: which resources enabled carbons is kept here, not in the session, because the received side
// runs on the routing thread, not on the recipient's executor: a mutex-protected map, by account, of
// (full JID, session id) pairs. An entry is dropped on SessionClosed only if the session id matches
// (with resource conflicts resolved by kick_old, a new session binds the same full JID before the old
// one's SessionClosed runs), and moved to the new session id on SessionResumed (XEP-0198).
//   sent      StanzaFromClient (sender's executor, late): an eligible message from a client is
//             wrapped in <sent/> and handed to the account's other carbons-enabled sessions.
//   received  MessageToAccount (routing thread, once per message and account, late so XEP-0313 has
//             stamped its <stanza-id/>): wrapped in <received/> for the carbons-enabled sessions
//             the router does not hand the original to (§6: they must not get both).
// A message between two resources of the same account is copied only on the received side (as
// <received/>, to the resources that neither sent nor received it), so no device gets it twice.
// XEP-0280 §7 (since 0.13) no longer asks servers to strip <private/>: the original goes out as sent.
// Copies are delivered straight to the sessions (Session::deliver), never routed: they run the
// recipient's StanzaToClient hooks (CSI may hold them) but not MessageToAccount (no archive, no loop).
#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"
#include "xep/carbons/eligibility.h"

namespace parley::xep::carbons {

namespace {

using xmpp::Jid;
using xmpp::StanzaPtr;

const std::string kNs(xml::ns::kCarbons);

class CarbonsModule final : public module::Module {
 public:
  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    auto& m = server_->metrics();
    sent_ = &m.counter("parley_carbons_copies_total", "XEP-0280 carbon copies delivered.",
                       {{"direction", "sent"}});
    received_ = &m.counter("parley_carbons_copies_total", "XEP-0280 carbon copies delivered.",
                           {{"direction", "received"}});
    ctx.feature(module::DiscoScope::Server, kNs);
    ctx.iq(router::IqScope::Account, "set", kNs, "enable",
           [this](const router::IqRequest& r) { toggle(r, true); });
    ctx.iq(router::IqScope::Account, "set", kNs, "disable",
           [this](const router::IqRequest& r) { toggle(r, false); });
    ctx.hook<hooks::StanzaFromClient>([this](hooks::StanzaFromClient::Context& c) { return outbound(c); },
                                      hooks::priority::kLate);
    ctx.hook<hooks::MessageToAccount>([this](hooks::MessageToAccount::Context& c) { return inbound(c); },
                                      hooks::priority::kLate);
    ctx.hook<hooks::SessionClosed>([this](hooks::SessionClosed::Context& c) {
      forget(c.session.jid(), c.session.id());
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionResumed>([this](hooks::SessionResumed::Context& c) {
      moved(c.session.jid(), c.previousId, c.session.id());
      return hooks::Action::Continue;
    });
  }

 private:
  struct Enabled {
    std::string full;  // full JID
    std::uint64_t session;
  };
  using Resources = std::vector<Enabled>;

  // --- State ----------------------------------------------------------------------------------------

  void toggle(const router::IqRequest& req, bool enable) {
    // §4.1, §5.1: only the user's own sessions on this server.
    if (!req.fromSelf() || !req.session || req.session->jid().empty()) {
      req.error(xmpp::StanzaError::NotAllowed);
      return;
    }
    const Jid& full = req.session->jid();
    const std::uint64_t id = req.session->id();
    {
      std::lock_guard lock(mu_);
      auto& list = accounts_[full.bareStr()];
      // A stale entry for this full JID (a replaced session) goes either way.
      std::erase_if(list, [&](const Enabled& e) { return e.full == full.str(); });
      if (enable) list.push_back(Enabled{full.str(), id});
      if (list.empty()) accounts_.erase(full.bareStr());
    }
    log::debug(enable ? "carbons.enabled" : "carbons.disabled", "sid={} jid={}", id, full.str());
    req.result();  // §10.1: repeating enable or disable is not an error
  }

  void forget(const Jid& full, std::uint64_t id) {
    if (full.empty()) return;
    std::lock_guard lock(mu_);
    auto it = accounts_.find(full.bareStr());
    if (it == accounts_.end()) return;
    std::erase_if(it->second, [&](const Enabled& e) { return e.session == id && e.full == full.str(); });
    if (it->second.empty()) accounts_.erase(it);
  }

  void moved(const Jid& full, std::uint64_t from, std::uint64_t to) {
    std::lock_guard lock(mu_);
    auto it = accounts_.find(full.bareStr());
    if (it == accounts_.end()) return;
    for (auto& e : it->second)
      if (e.session == from && e.full == full.str()) e.session = to;
  }

  Resources enabled(const std::string& bare) const {
    std::lock_guard lock(mu_);
    auto it = accounts_.find(bare);
    return it == accounts_.end() ? Resources{} : it->second;
  }

  // --- Copies ---------------------------------------------------------------------------------------

  // Delivers `wrapper` (no 'to' yet) to each enabled session of `user` for which `skip` is false.
  template <class Skip>
  std::size_t copy(const Jid& user, const Resources& targets, const xml::ElementPtr& wrapper, Skip skip) {
    std::size_t n = 0;
    StanzaPtr base;
    for (const auto& e : targets) {
      if (skip(e)) continue;
      auto full = Jid::parse(e.full);
      if (!full) continue;
      auto session = server_->sessions().find(*full);
      if (!session || session->id() != e.session) continue;  // gone or replaced meanwhile
      if (!base) base = xmpp::Stanza::make(wrapper, user, Jid());
      session->deliver(base->withTo(*full));  // children shared: one copy of the original for all
      ++n;
    }
    return n;
  }

  hooks::Action outbound(hooks::StanzaFromClient::Context& c) {
    const StanzaPtr& stanza = c.stanza;
    if (!stanza->isMessage()) return hooks::Action::Continue;
    const Jid user = c.session.jid().bare();
    // To the user's own account (or no 'to', which means it): the received side copies it.
    if (stanza->to().empty() || stanza->to().bare() == user) return hooks::Action::Continue;
    auto targets = enabled(user.bareStr());
    if (targets.empty() || !eligible(stanza->element(), Direction::Sent)) return hooks::Action::Continue;
    // §8: to every enabled resource but the sending one, whether or not the sender enabled carbons.
    const auto id = c.session.id();
    auto n = copy(user, targets, wrap(stanza->elementPtr(), Direction::Sent),
                  [id](const Enabled& e) { return e.session == id; });
    sent_->inc(n);
    return hooks::Action::Continue;
  }

  hooks::Action inbound(hooks::MessageToAccount::Context& c) {
    auto targets = enabled(c.user.bareStr());
    if (targets.empty() || !eligible(c.stanza->element(), Direction::Received))
      return hooks::Action::Continue;
    // §6: not to the resources that get the original, nor to the one that sent it (a message between
    // two resources of the account).
    const Jid& from = c.stanza->from();
    const bool fromOwn = from.bare() == c.user;
    auto skip = [&](const Enabled& e) {
      if (fromOwn && e.full == from.str()) return true;
      return std::any_of(c.recipients.begin(), c.recipients.end(),
                         [&](const session::SessionPtr& r) { return r->id() == e.session; });
    };
    auto n = copy(c.user, targets, wrap(c.stanza->elementPtr(), Direction::Received), skip);
    received_->inc(n);
    return hooks::Action::Continue;
  }

  core::Server* server_ = nullptr;
  metrics::Counter* sent_ = nullptr;
  metrics::Counter* received_ = nullptr;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Resources> accounts_;  // bare JID -> carbons-enabled sessions
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"carbons", "XEP-0280 message carbons", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new CarbonsModule);
                                 }};

}  // namespace parley::xep::carbons
