// DESIGN: a Session is one bound resource of a local account (a c2s stream today; a WebSocket or a
// hibernated stream-management session later). It lives on one executor and touches its state only
// there. Other threads talk to it through the thread-safe entry points deliver() and close(), which post
// to that executor. The SessionManager holds sessions by JID; routing finds them only through it.
#pragma once

#include <chrono>
#include <cstdint>
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

 protected:
  Session(std::uint64_t id, runtime::Executor executor) : id_(id), executor_(executor) {}
  void setJid(xmpp::Jid jid) { jid_ = std::move(jid); }

 private:
  std::uint64_t id_;
  runtime::Executor executor_;
  xmpp::Jid jid_;
  PresenceState presence_;
};

std::uint64_t nextSessionId();

}  // namespace parley::session
