// DESIGN: a Session is one bound resource of a local account (a c2s stream today; a WebSocket later).
// It lives on one executor and touches its state only there. Other threads talk to it through the
// thread-safe entry points deliver(), close() and terminate(), which post to that executor. The
// SessionManager holds sessions by JID; routing finds them only through it.
// Modules keep per-session state in typed extension slots (carbons enabled, CSI queue, XEP-0198
// counters); the slots move with the session when XEP-0198 resumes it on a new connection, so a
// module's state survives a reconnect without the module knowing about connections.
// A session whose connection was lost may be kept *hibernated* (XEP-0198): still registered, still
// receiving (modules queue what arrives), until it is resumed or terminated.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/runtime/executor.h"
#include "server/xml/element.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/jid.h"
#include "server/xmpp/stanza.h"

namespace parley::session {

class Session;
using SessionPtr = std::shared_ptr<Session>;
using WeakSessionPtr = std::weak_ptr<Session>;

// Presence bookkeeping of one resource (RFC 6121 §4). Touched only on the session's executor.
struct PresenceState {
  bool available = false;  // between an available and an unavailable presence
  int priority = 0;
  xml::ElementPtr last;             // last available presence broadcast
  std::string goneStatus;           // status text of the last unavailable presence (XEP-0012)
  std::vector<xmpp::Jid> directed;  // who got directed presence while available (RFC 6121 §4.6)
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  virtual ~Session() = default;

  // Unique for the life of the process (logs).
  std::uint64_t id() const { return id_; }
  // The bound full JID (fixed once bound).
  const xmpp::Jid& jid() const { return jid_; }
  runtime::Executor executor() const { return executor_; }
  // The client's IP address (logs, limits).
  virtual std::string_view remoteAddress() const = 0;

  // Thread-safe: sends the stanza to the client (through the StanzaToClient hook on the session's
  // executor). A stanza that cannot be delivered because the session is closing is handed back to the
  // router's undeliverable path, never dropped.
  virtual void deliver(xmpp::StanzaPtr stanza) = 0;
  // Thread-safe: ends the stream with a stream error.
  virtual void close(xmpp::StreamError error, std::string text = {}) = 0;
  // When the client last sent anything (whitespace included). Read on the session's executor.
  virtual std::chrono::steady_clock::time_point lastActivity() const = 0;
  PresenceState& presence() { return presence_; }
  // Thread-safe: called periodically by the server; an idle session drops memory it can rebuild.
  virtual void housekeeping() {}

  // On the session's executor: writes the stanza to the client now, without running the
  // StanzaToClient hooks again (a module releasing what it held, XEP-0198 replay). Runs StanzaSent.
  virtual void write(xmpp::StanzaPtr stanza) = 0;
  // On the session's executor: writes a stream-level element (XEP-0198 <a/>, <r/>…): no hooks, not
  // counted as a stanza.
  virtual void writeElement(const xml::Element& element) = 0;
  // Stanzas received from the client since the session was bound (XEP-0198 inbound count), including
  // the ones refused with an error.
  std::uint32_t stanzasReceived() const { return stanzasReceived_; }
  // The connection is gone but the session is kept for resumption (XEP-0198 §5).
  virtual bool hibernated() const { return false; }
  // Thread-safe: ends a session for good (a hibernated one when its resumption timeout expires):
  // unavailable presence, SessionClosed hooks, removal from the manager.
  virtual void terminate() {}
  // On this (new, authenticated, not yet bound) session's executor: takes over `old`, a session of the
  // same account, with its JID, presence and extensions (XEP-0198 resumption). `old` is closed without
  // any unavailable presence. `done(true)` runs on this executor once this session is bound in its
  // place, before any stanza that was routed to `old` meanwhile is delivered here; `done(false)` if
  // `old` had already ended.
  virtual void resumeFrom(const SessionPtr& old, std::function<void(bool)> done) {
    (void)old;
    done(false);
  }

  // "user@domain" once SASL succeeded (before binding too), else empty.
  virtual std::string authenticatedAccount() const { return {}; }

  // Per-session module state, created on first use. T must be default-constructible. Only on the
  // session's executor.
  template <class T>
  T& extension() {
    const void* key = extensionKey<T>();
    for (auto& [k, v] : extensions_)
      if (k == key) return *static_cast<T*>(v.get());
    auto value = std::make_shared<T>();
    T& ref = *value;
    extensions_.emplace_back(key, std::move(value));
    return ref;
  }
  template <class T>
  T* findExtension() {
    const void* key = extensionKey<T>();
    for (auto& [k, v] : extensions_)
      if (k == key) return static_cast<T*>(v.get());
    return nullptr;
  }

 protected:
  Session(std::uint64_t id, runtime::Executor executor) : id_(id), executor_(executor) {}
  void setJid(xmpp::Jid jid) { jid_ = std::move(jid); }
  void countReceived() { ++stanzasReceived_; }
  // What a resumed session takes over from the one it replaces (XEP-0198): bequeath() on the old
  // session's executor, inherit() on the new one's.
  struct Inheritance {
    xmpp::Jid jid;
    PresenceState presence;
    std::uint32_t stanzasReceived = 0;
    std::vector<std::pair<const void*, std::shared_ptr<void>>> extensions;
  };
  Inheritance bequeath() {
    return Inheritance{jid_, std::move(presence_), stanzasReceived_, std::move(extensions_)};
  }
  void inherit(Inheritance from) {
    jid_ = std::move(from.jid);
    presence_ = std::move(from.presence);
    stanzasReceived_ = from.stanzasReceived;
    extensions_ = std::move(from.extensions);
  }

 private:
  template <class T>
  static const void* extensionKey() {
    static const char key = 0;  // one address per type, across translation units
    return &key;
  }

  std::uint64_t id_;
  runtime::Executor executor_;
  xmpp::Jid jid_;
  PresenceState presence_;
  std::uint32_t stanzasReceived_ = 0;  // wraps at 2^32 like XEP-0198's h
  std::vector<std::pair<const void*, std::shared_ptr<void>>> extensions_;
};

std::uint64_t nextSessionId();

}  // namespace parley::session
