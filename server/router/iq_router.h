// DESIGN: IQ requests (get/set) addressed to the server or to an account are dispatched by
// (scope, type, payload namespace, payload element) to one handler. A request nobody handles gets
// <service-unavailable/> with the request's id (RFC 6120 §8.4); a request whose payload is missing
// gets <bad-request/> (RFC 6120 §8.2.3). Handlers run on the thread that routed the request (a network
// thread) and must not block: storage work goes through the blocking pool and the reply is sent when
// it comes back. Every request gets exactly one reply.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "server/session/session.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/stanza.h"

namespace parley::router {

class Router;

enum class IqScope {
  Server,   // addressed to a local domain (or to nobody, for stream-level requests like bind)
  Account,  // addressed to a local account's bare JID (no 'to' = the sender's own account)
};

struct IqRequest {
  xmpp::StanzaPtr stanza;       // 'from' stamped by the server
  session::SessionPtr session;  // the local session that sent it, or null
  xmpp::Jid target;             // server domain or account bare JID the request is for
  Router* router = nullptr;

  const xml::Element& payload() const { return *stanza->element().firstChild(); }
  bool isSet() const { return stanza->type() == "set"; }
  // The sender is the account the request is addressed to (RFC 6121 §2.1.5: only the user may
  // read or change their own roster, private data, etc.).
  bool fromSelf() const { return stanza->from().bare() == target.bare(); }

  void result(xml::ElementPtr payload = nullptr) const;
  void error(xmpp::StanzaError e, std::string_view text = {}) const;
  void reply(xmpp::StanzaPtr stanza) const;
};

using IqHandler = std::function<void(const IqRequest&)>;

// Unregisters its handler when destroyed.
class IqHandle {
 public:
  IqHandle() = default;
  explicit IqHandle(std::function<void()> release) : release_(std::move(release)) {}
  IqHandle(IqHandle&&) noexcept = default;
  IqHandle& operator=(IqHandle&& o) noexcept {
    reset();
    release_ = std::move(o.release_);
    return *this;
  }
  ~IqHandle() { reset(); }
  void reset() {
    if (release_) release_();
    release_ = nullptr;
  }

 private:
  std::function<void()> release_;
};

class IqRouter {
 public:
  // type: "get" or "set".
  [[nodiscard]] IqHandle add(IqScope scope, std::string_view type, std::string_view ns, std::string_view name,
                             IqHandler handler);
  // Runs the handler or answers the error. `request.stanza` must be an IQ get/set.
  void dispatch(const IqRequest& request);

 private:
  using Key = std::tuple<IqScope, std::string, std::string, std::string>;
  std::mutex mu_;
  std::map<Key, std::shared_ptr<IqHandler>> handlers_;
};

}  // namespace parley::router
