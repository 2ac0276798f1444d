// DESIGN: the Router decides where a stanza goes (RFC 6121 §8.5): a local account's sessions, the
// server itself (IQ handlers), a service component on a local subdomain, or a remote domain (no s2s
// yet: <remote-server-not-found/>). It runs on the thread that calls it (a network thread), finds
// sessions only through the SessionManager and hands stanzas to them with deliver(), which posts to
// the recipient's executor. Nothing here blocks. Presence addressed to a local account goes to the
// presence service (roster state decides what happens); everything else is decided here.
// Error replies are never sent in answer to an error (RFC 6120 §8.3.1).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/hooks/registry.h"
#include "server/router/iq_router.h"
#include "server/session/session_manager.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/stanza.h"

namespace parley::router {

// Receives presence stanzas addressed to local accounts (implemented by the presence service).
class InboundPresenceHandler {
 public:
  virtual ~InboundPresenceHandler() = default;
  virtual void inboundPresence(xmpp::StanzaPtr stanza) = 0;
};

using ComponentHandler = std::function<void(xmpp::StanzaPtr)>;

class Router {
 public:
  Router(session::SessionManager& sessions, hooks::HookRegistry& hooks, IqRouter& iq);

  void addLocalDomain(std::string domain);
  bool isLocalDomain(std::string_view domain) const;
  const std::set<std::string, std::less<>>& localDomains() const { return domains_; }
  void setPresenceHandler(InboundPresenceHandler* handler) { presence_ = handler; }
  // A service on its own domain (e.g. muc.example.org). Returns a handle that unregisters it.
  [[nodiscard]] IqHandle addComponent(std::string domain, ComponentHandler handler);

  // Routes a stanza whose 'from' is set. Call on a network thread.
  void route(xmpp::StanzaPtr stanza);
  // Routes an IQ get/set to the server's handlers for `target` (a domain or an account).
  void handleIq(xmpp::StanzaPtr stanza, const xmpp::Jid& target, session::SessionPtr origin = nullptr);
  // Sends the error reply for `original` unless it is itself an error.
  void bounce(const xmpp::Stanza& original, xmpp::StanzaError e, std::string_view text = {});
  // A stanza a session had taken but its client never got (or never acknowledged, XEP-0198) when the
  // session ended for good: a message goes back through routing to `account` (another resource, else
  // offline storage), except errors, groupchat (the room keeps its history) and headlines; a request
  // gets <service-unavailable/>; anything else is dropped (presence is stale by then). Call once the
  // session left the SessionManager, so routing cannot pick it again. True if it was routed again.
  bool handBack(const xmpp::StanzaPtr& stanza, const xmpp::Jid& account);
  // Whether handBack() would do anything with it (a session keeps nothing else for it).
  static bool handsBack(const xmpp::Stanza& stanza);

  // Delivery to a local account, used by route() and by services that already decided the recipient.
  void deliverToAccount(xmpp::StanzaPtr stanza);   // `to` is a bare JID
  void deliverToResource(xmpp::StanzaPtr stanza);  // `to` is a full JID
  // Sends to every available resource of the account (presence broadcast, headlines).
  std::size_t deliverToAvailable(const xmpp::StanzaPtr& stanza, const xmpp::Jid& bare, bool nonNegativeOnly);

  session::SessionManager& sessions() { return sessions_; }

 private:
  void routeMessageToBare(xmpp::StanzaPtr stanza);
  void undeliverable(xmpp::StanzaPtr stanza);
  ComponentHandler* component(std::string_view domain);

  session::SessionManager& sessions_;
  hooks::HookRegistry& hooks_;
  IqRouter& iq_;
  std::set<std::string, std::less<>> domains_;
  InboundPresenceHandler* presence_ = nullptr;
  mutable std::mutex componentsMu_;
  std::map<std::string, std::shared_ptr<ComponentHandler>, std::less<>> components_;
};

}  // namespace parley::router
