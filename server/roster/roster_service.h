// DESIGN: RosterService owns rosters (RFC 6121 §2) and the presence subscription state machine
// (RFC 6121 §3, Appendix A). Every change to one account's roster runs on the blocking pool under that
// account's key, so changes for one account are applied one at a time, in order, without locks: read
// the item, apply the transition, write it (bumping the roster version, XEP-0237), install the new
// in-memory snapshot, then push the item to the account's interested resources and route whatever
// presence the transition produces. Both accounts of a subscription are local (no s2s yet), each side
// processed under its own key.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server/roster/roster.h"
#include "server/router/iq_router.h"
#include "server/runtime/executor.h"
#include "server/session/session.h"
#include "server/xmpp/stanza.h"

namespace parley::core {
class Server;
}

namespace parley::roster {

class RosterService {
 public:
  explicit RosterService(core::Server& server);
  ~RosterService();
  void start();  // registers the jabber:iq:roster handlers
  void stop();

  // Loads the account's roster into the session manager if it is not cached yet, and runs the
  // AccountBinding hooks, in one pool job; `done(ok)` on exec.
  void loadForSession(const xmpp::Jid& bare, runtime::Executor exec, std::function<void(bool)> done);
  // A subscription presence (subscribe, subscribed, unsubscribe, unsubscribed) from a local client.
  void outboundSubscription(session::Session& from, xmpp::StanzaPtr stanza);
  // A subscription presence addressed to a local account.
  void inboundSubscription(xmpp::StanzaPtr stanza);
  // Delivers subscription requests still waiting for an answer to a newly available session.
  void redeliverPendingRequests(session::Session& session);

  // Limits (from config).
  static constexpr std::size_t kMaxItems = 2000;
  static constexpr std::size_t kMaxNameBytes = 1024;
  static constexpr std::size_t kMaxGroups = 64;

 private:
  struct Change;
  void pushAndRoute(const xmpp::Jid& user, const Change& change);
  void handleGet(const router::IqRequest& req);
  void handleSet(const router::IqRequest& req);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  core::Server& server_;
};

}  // namespace parley::roster
