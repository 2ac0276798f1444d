#include "server/router/router.h"

#include <algorithm>

#include "server/hooks/hooks.h"
#include "server/log/log.h"

namespace parley::router {

using xmpp::StanzaError;
using xmpp::StanzaPtr;

Router::Router(session::SessionManager& sessions, hooks::HookRegistry& hooks, IqRouter& iq)
    : sessions_(sessions), hooks_(hooks), iq_(iq) {}

void Router::addLocalDomain(std::string domain) {
  domains_.insert(std::move(domain));
}

bool Router::isLocalDomain(std::string_view domain) const {
  return domains_.find(domain) != domains_.end();
}

IqHandle Router::addComponent(std::string domain, ComponentHandler handler) {
  {
    std::lock_guard lock(componentsMu_);
    components_[domain] = std::make_shared<ComponentHandler>(std::move(handler));
  }
  return IqHandle([this, domain] {
    std::lock_guard lock(componentsMu_);
    components_.erase(domain);
  });
}

ComponentHandler* Router::component(std::string_view domain) {
  std::lock_guard lock(componentsMu_);
  auto it = components_.find(domain);
  return it == components_.end() ? nullptr : it->second.get();
}

void Router::bounce(const xmpp::Stanza& original, StanzaError e, std::string_view text) {
  if (original.isError()) return;  // RFC 6120 §8.3.1: never answer an error with an error
  if (original.from().empty()) return;
  route(xmpp::makeErrorReply(original, e, text));
}

bool Router::handsBack(const xmpp::Stanza& stanza) {
  const std::string_view type = stanza.type();
  if (stanza.isMessage()) return type != "error" && type != "groupchat" && type != "headline";
  return stanza.isIq() && (type == "get" || type == "set");
}

bool Router::handBack(const StanzaPtr& stanza, const xmpp::Jid& account) {
  if (!handsBack(*stanza)) return false;
  if (stanza->isMessage()) {
    route(stanza->withTo(account.bare()));
    return true;
  }
  bounce(*stanza, StanzaError::ServiceUnavailable);
  return false;
}

void Router::handleIq(StanzaPtr stanza, const xmpp::Jid& target, session::SessionPtr origin) {
  if (!target.local().empty() && stanza->from().bare() != target) {
    hooks::IqForAccount::Context ctx{stanza, target};
    if (hooks_.run<hooks::IqForAccount>(ctx) == hooks::Action::Stop) return;
  }
  IqRequest req{std::move(stanza), std::move(origin), target, this};
  iq_.dispatch(req);
}

void Router::route(StanzaPtr stanza) {
  const xmpp::Jid& to = stanza->to();
  if (to.empty()) {
    // Only the c2s layer handles stanzas without 'to'; anything reaching here has nowhere to go.
    log::debug("router.no_recipient", "from={}", stanza->from().str());
    return;
  }
  if (!isLocalDomain(to.domain())) {
    if (ComponentHandler* c = component(to.domain())) {
      (*c)(std::move(stanza));
      return;
    }
    // No server-to-server yet (RFC 6120 §8.3.3.16).
    bounce(*stanza, StanzaError::RemoteServerNotFound, "this server does not federate yet");
    return;
  }
  if (to.local().empty()) {
    // Addressed to the server itself.
    if (stanza->isIq()) {
      if (stanza->type() == "get" || stanza->type() == "set") {
        handleIq(std::move(stanza), to.bare());
        return;
      }
      hooks::IqResponse::Context ctx{std::move(stanza)};
      hooks_.run<hooks::IqResponse>(ctx);  // a module may be waiting for it; otherwise dropped
      return;
    }
    if (stanza->isMessage()) bounce(*stanza, StanzaError::ServiceUnavailable);
    return;  // presence to the server is ignored
  }
  if (stanza->isPresence()) {
    if (presence_) presence_->inboundPresence(std::move(stanza));
    return;
  }
  if (stanza->isIq()) {
    if (to.isBare()) {
      // RFC 6121 §8.5.2.1.3 / §8.5.2.2.3: the server answers on behalf of the account.
      if (stanza->type() == "get" || stanza->type() == "set") {
        handleIq(std::move(stanza), to);
        return;
      }
      hooks::IqResponse::Context ctx{std::move(stanza)};
      hooks_.run<hooks::IqResponse>(ctx);  // e.g. an app server's answer to a XEP-0357 publish
      return;
    }
    deliverToResource(std::move(stanza));
    return;
  }
  if (to.isBare())
    routeMessageToBare(std::move(stanza));
  else
    deliverToResource(std::move(stanza));
}

void Router::deliverToAccount(StanzaPtr stanza) {
  if (stanza->isMessage())
    routeMessageToBare(std::move(stanza));
  else if (stanza->isPresence())
    deliverToAvailable(stanza, stanza->to(), false);
  else
    route(std::move(stanza));
}

void Router::deliverToResource(StanzaPtr stanza) {
  if (auto s = sessions_.find(stanza->to())) {
    if (stanza->isMessage() && !stanza->isError()) {
      hooks::MessageToAccount::Context ctx{std::move(stanza), s->jid().bare(), {s}};
      if (hooks_.run<hooks::MessageToAccount>(ctx) == hooks::Action::Stop) return;
      stanza = std::move(ctx.stanza);
    }
    s->deliver(std::move(stanza));
    return;
  }
  // RFC 6121 §8.5.3.2: no resource of that name.
  if (stanza->isIq()) {
    if (stanza->type() == "get" || stanza->type() == "set") bounce(*stanza, StanzaError::ServiceUnavailable);
    return;
  }
  if (stanza->isMessage()) {
    auto type = stanza->type();
    if (type == "chat") {
      // Treated as if sent to the bare JID (RFC 6121 §8.5.3.2.1), so it reaches another resource or
      // offline storage instead of being lost.
      routeMessageToBare(stanza->withTo(stanza->to().bare()));
    } else if (type == "" || type == "normal" || type == "groupchat") {
      bounce(*stanza, StanzaError::ServiceUnavailable);  // the sender learns it was not delivered
    }
    return;  // headline and error: silently ignored
  }
  // Presence to an unknown resource: ignored (subscription presences never come here).
}

std::size_t Router::deliverToAvailable(const StanzaPtr& stanza, const xmpp::Jid& bare, bool nonNegativeOnly) {
  std::size_t n = 0;
  for (const auto& r : sessions_.resources(bare)) {
    if (!r.available || (nonNegativeOnly && r.priority < 0)) continue;
    r.session->deliver(stanza->withTo(r.session->jid()));
    ++n;
  }
  return n;
}

void Router::routeMessageToBare(StanzaPtr stanza) {
  const auto type = stanza->type();
  if (type == "error") return;  // RFC 6121 §8.5.2.1.1 / §8.5.2.2.1: silently ignored
  if (type == "groupchat") {
    bounce(*stanza, StanzaError::ServiceUnavailable);
    return;
  }
  auto resources = sessions_.resources(stanza->to());
  std::erase_if(resources, [](const session::Resource& r) { return !r.available || r.priority < 0; });
  hooks::MessageToAccount::Context ctx{std::move(stanza), {}, {}};
  ctx.user = ctx.stanza->to().bare();
  if (type == "headline" || resources.empty()) {
    for (const auto& r : resources) ctx.recipients.push_back(r.session);
  } else {
    // normal and chat: the resources with the highest priority (RFC 6121 §8.5.2.1.1); all of them when
    // several share it, so every device at that priority sees the message.
    int top = std::max_element(resources.begin(), resources.end(), [](const auto& a, const auto& b) {
                return a.priority < b.priority;
              })->priority;
    for (const auto& r : resources)
      if (r.priority == top) ctx.recipients.push_back(r.session);
  }
  if (hooks_.run<hooks::MessageToAccount>(ctx) == hooks::Action::Stop) return;
  if (ctx.recipients.empty()) {
    if (ctx.stanza->type() != "headline") undeliverable(std::move(ctx.stanza));  // headline: ignored
    return;
  }
  for (const auto& r : ctx.recipients) r->deliver(ctx.stanza);
}

void Router::undeliverable(StanzaPtr stanza) {
  hooks::UndeliverableMessage::Context ctx{stanza, stanza->to().bare()};
  if (hooks_.run<hooks::UndeliverableMessage>(ctx) == hooks::Action::Stop) return;
  bounce(*stanza, StanzaError::ServiceUnavailable);
}

}  // namespace parley::router
