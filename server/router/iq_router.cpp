#include "server/router/iq_router.h"

#include "server/log/log.h"
#include "server/router/router.h"

namespace parley::router {

void IqRequest::result(xml::ElementPtr payload) const {
  reply(xmpp::makeIqResult(*stanza, std::move(payload)));
}

void IqRequest::error(xmpp::StanzaError e, std::string_view text) const {
  reply(xmpp::makeErrorReply(*stanza, e, text));
}

void IqRequest::reply(xmpp::StanzaPtr out) const {
  // A request addressed to nobody was answered by the server for the account: the reply comes from
  // the account (or server) it was processed for, as RFC 6120 §10.3.3 shows.
  if (out->from().empty() && !target.empty()) out = out->withAddresses(target, out->to());
  router->route(std::move(out));
}

IqHandle IqRouter::add(IqScope scope, std::string_view type, std::string_view ns, std::string_view name,
                       IqHandler handler) {
  Key key{scope, std::string(type), std::string(ns), std::string(name)};
  {
    std::lock_guard lock(mu_);
    handlers_[key] = std::make_shared<IqHandler>(std::move(handler));
  }
  return IqHandle([this, key] {
    std::lock_guard lock(mu_);
    handlers_.erase(key);
  });
}

void IqRouter::dispatch(const IqRequest& request) {
  const xml::Element* payload = request.stanza->element().firstChild();
  if (!payload) {
    request.error(xmpp::StanzaError::BadRequest, "an IQ get or set carries exactly one payload element");
    return;
  }
  IqScope scope = request.target.local().empty() ? IqScope::Server : IqScope::Account;
  std::shared_ptr<IqHandler> handler;
  {
    std::lock_guard lock(mu_);
    auto it =
        handlers_.find(Key{scope, std::string(request.stanza->type()), payload->xmlns(), payload->name()});
    if (it != handlers_.end()) handler = it->second;
  }
  if (!handler) {
    request.error(xmpp::StanzaError::ServiceUnavailable);
    return;
  }
  try {
    (*handler)(request);
  } catch (const std::exception& e) {
    log::error("iq.handler.failed", "ns={} error=\"{}\"", payload->xmlns(), e.what());
    request.error(xmpp::StanzaError::InternalServerError);
  }
}

}  // namespace parley::router
