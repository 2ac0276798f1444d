// DESIGN: presence (RFC 6121 §4). A resource's available presence is broadcast to the contacts
// subscribed to the account (subscription from/both, read from the cached roster snapshot), to the
// account's other available resources, and the server probes the contacts the account is subscribed
// to. Probes between local accounts are answered directly from the session manager. Unavailable
// presence (explicit or when the stream ends) goes to the same contacts and to everyone who got
// directed presence. Inbound presence for a local account is delivered to its available resources;
// subscription presences go to the roster service.
#pragma once

#include <string>

#include "server/router/router.h"
#include "server/session/session.h"
#include "server/xmpp/stanza.h"

namespace parley::core {
class Server;
}

namespace parley::presence {

class PresenceService : public router::InboundPresenceHandler {
 public:
  explicit PresenceService(core::Server& server);

  // Presence without 'to' from a local session (on its executor): available or unavailable.
  void outbound(session::Session& session, xmpp::StanzaPtr stanza);
  // Directed presence (available/unavailable with 'to') from a local session (RFC 6121 §4.6).
  void directed(session::Session& session, xmpp::StanzaPtr stanza);
  // The session is going away: unavailable to everyone who saw it available. On its executor.
  void sessionEnded(session::Session& session, const std::string& status);

  void inboundPresence(xmpp::StanzaPtr stanza) override;

  // After `contact` was granted a subscription: the account's current presence from each available
  // resource (RFC 6121 §3.1.5).
  void sendCurrentPresence(const xmpp::Jid& user, const xmpp::Jid& contact);
  // After a subscription was cancelled: unavailable from each available resource (RFC 6121 §3.2.3).
  void sendUnavailable(const xmpp::Jid& user, const xmpp::Jid& contact);

 private:
  void answerProbe(const xmpp::StanzaPtr& probe);
  core::Server& server_;
};

}  // namespace parley::presence
