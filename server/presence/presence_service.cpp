#include "server/presence/presence_service.h"

#include <algorithm>
#include <charconv>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/roster/roster_service.h"

namespace parley::presence {

using xmpp::Jid;
using xmpp::StanzaPtr;

namespace {

// RFC 6121 §4.7.2.3: priority is an integer in -128..127; anything else counts as 0.
int priorityOf(const xml::Element& presence) {
  std::string text = presence.childText("priority", "jabber:client");
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < -128 || value > 127) return 0;
  return value;
}

StanzaPtr presenceStanza(const Jid& from, const Jid& to, std::string_view type) {
  auto e = xml::make("presence", "jabber:client");
  if (!type.empty()) e->setAttr("type", type);
  return xmpp::Stanza::make(std::move(e), from, to);
}

}  // namespace

PresenceService::PresenceService(core::Server& server) : server_(server) {}

void PresenceService::outbound(session::Session& session, StanzaPtr stanza) {
  auto& state = session.presence();
  const Jid& user = session.jid();
  const Jid bare = user.bare();
  const bool unavailable = stanza->type() == "unavailable";
  if (unavailable && !state.available) return;  // nothing to withdraw

  auto roster = server_.sessions().roster(bare);
  // RFC 6121 §4.2: available presence from a resource that is not available is initial presence,
  // also after the resource sent unavailable (§4.5): it got no presence meanwhile, so its contacts are
  // probed again and what waited for it (offline messages, subscription requests) is handed over.
  const bool initial = !unavailable && !state.available;
  const int priority = unavailable ? 0 : priorityOf(stanza->element());

  // The routing table changes before anyone hears of it: a contact that reacts to this presence (a
  // message to the bare JID right after a priority change) must be routed by the new state.
  if (unavailable)
    server_.sessions().setPresence(session, false, 0, nullptr);
  else
    server_.sessions().setPresence(session, true, priority, stanza->elementPtr());

  // Broadcast without 'to': each recipient gets its own addressed copy sharing the payload.
  auto broadcastTo = [&](const Jid& to) { server_.router().route(stanza->withAddresses(user, to)); };
  if (roster) {
    for (const auto& [contact, item] : roster->items) {
      if (!item.visible && !item.pendingIn) continue;
      if (roster->contactSubscribedToUs(contact))
        if (auto j = Jid::parse(contact)) broadcastTo(*j);
    }
  }
  // The account's other resources see it too (RFC 6121 §4.2.2, §4.4.2).
  for (const auto& r : server_.sessions().resources(bare)) {
    if (r.session.get() == &session || !r.available) continue;
    r.session->deliver(stanza->withAddresses(user, r.session->jid()));
  }
  if (unavailable) {
    // RFC 6121 §4.6.3: everyone who got directed presence learns we left.
    for (const auto& to : state.directed) broadcastTo(to);
    state.directed.clear();
    state.goneStatus = stanza->element().childText("status", "jabber:client");
    state.available = false;
    state.last = nullptr;
    return;
  }

  state.available = true;
  state.priority = priority;
  state.last = stanza->elementPtr();
  // The user's own available presence comes back to the resource that sent it (RFC 6121 §4.2.2).
  session.deliver(stanza->withAddresses(user, user));

  if (initial) {
    // Probe the contacts we are subscribed to (RFC 6121 §4.3).
    if (roster) {
      for (const auto& [contact, item] : roster->items)
        if (roster->weSubscribedToContact(contact))
          if (auto j = Jid::parse(contact)) answerProbe(presenceStanza(user, *j, "probe"));
    }
    // Our other available resources are "contacts" too: the new one learns their presence.
    for (const auto& r : server_.sessions().resources(bare)) {
      if (r.session.get() == &session || !r.available || !r.presence) continue;
      session.deliver(xmpp::Stanza::make(r.presence, r.session->jid(), user));
    }
    server_.roster().redeliverPendingRequests(session);
  }
  hooks::UserAvailable::Context ctx{session, initial, priority};
  server_.hooks().run<hooks::UserAvailable>(ctx);
}

void PresenceService::directed(session::Session& session, StanzaPtr stanza) {
  auto& state = session.presence();
  const Jid& to = stanza->to();
  if (stanza->type() == "unavailable") {
    std::erase(state.directed, to);
  } else if (state.available) {
    auto roster = server_.sessions().roster(session.jid().bare());
    // Only remember those who would not get our broadcasts anyway (RFC 6121 §4.6.1).
    if ((!roster || !roster->contactSubscribedToUs(to.bareStr())) &&
        std::find(state.directed.begin(), state.directed.end(), to) == state.directed.end() &&
        state.directed.size() < 1000)
      state.directed.push_back(to);
  }
  server_.router().route(std::move(stanza));
}

void PresenceService::sessionEnded(session::Session& session, const std::string& status) {
  if (!session.presence().available) return;
  auto e = xml::make("presence", "jabber:client");
  e->setAttr("type", "unavailable");
  if (!status.empty()) e->addTextChild("status", "jabber:client", status);
  outbound(session, xmpp::Stanza::make(std::move(e), session.jid(), Jid()));
}

void PresenceService::inboundPresence(StanzaPtr stanza) {
  const std::string_view type = stanza->type();
  if (type == "subscribe" || type == "subscribed" || type == "unsubscribe" || type == "unsubscribed") {
    // RFC 6121 §3: processed against the recipient's roster, addressed to the bare JID.
    server_.roster().inboundSubscription(stanza->to().isFull() ? stanza->withTo(stanza->to().bare())
                                                               : stanza);
    return;
  }
  if (type == "probe") {
    answerProbe(stanza);
    return;
  }
  if (stanza->to().isFull()) {
    server_.router().deliverToResource(std::move(stanza));
    return;
  }
  // Available, unavailable, error: to every available resource (RFC 6121 §8.5.2.1.2).
  server_.router().deliverToAvailable(stanza, stanza->to(), false);
}

void PresenceService::answerProbe(const StanzaPtr& probe) {
  // The prober may see the contact's presence if the contact's roster says so (RFC 6121 §4.3.2).
  const Jid contact = probe->to().bare();
  const Jid& prober = probe->from();
  if (prober.bare() != contact) {
    auto roster = server_.sessions().roster(contact);
    if (!roster || !roster->contactSubscribedToUs(prober.bareStr())) return;
  }
  for (const auto& r : server_.sessions().resources(contact)) {
    if (!r.available || !r.presence) continue;
    server_.router().route(xmpp::Stanza::make(r.presence, r.session->jid(), prober));
  }
}

void PresenceService::sendCurrentPresence(const Jid& user, const Jid& contact) {
  for (const auto& r : server_.sessions().resources(user)) {
    if (!r.available || !r.presence) continue;
    server_.router().route(xmpp::Stanza::make(r.presence, r.session->jid(), contact));
  }
}

void PresenceService::sendUnavailable(const Jid& user, const Jid& contact) {
  for (const auto& r : server_.sessions().resources(user)) {
    if (!r.available) continue;
    server_.router().route(presenceStanza(r.session->jid(), contact, "unavailable"));
  }
}

}  // namespace parley::presence
