// DESIGN: C2sSession is a client's session: the c2s policy over an InboundStream (what an
// authenticated client may do) and the Session the router delivers to. It binds the resource
// (RFC 6120 §7), validates and stamps each stanza the client sends (RFC 6120 §8.1.2), throttles a
// sender that exceeds its rate (token bucket: reading pauses, nothing is dropped), runs the
// StanzaFromClient hooks and hands the stanza to the right service: presence, roster, IQ handlers or
// the router. Inbound stanzas go through the StanzaToClient hooks and out on the stream.
// Everything runs on the session's executor; deliver() and close() may be called from anywhere.
// XEP-0198 lifecycle (the protocol itself is xep/sm): when the connection is lost, the
// SessionInterrupted hook may keep the session *hibernated* — registered, receiving into the modules'
// queues — until a timer ends it (terminate()) or a new connection resumes it (resumeFrom(): the new
// C2sSession takes over the JID, presence and extensions and replaces the old one in the manager; the
// old one forwards whatever still reaches it).
// Nothing accepted is lost when a stream ends: XEP-0198 hands back everything unacknowledged; without
// it the session itself keeps the stanzas whose bytes had not all left the process (a short journal
// against the transport's byte counts) and, once the transport is closed, hands back those the client
// never got (a client that stopped reading and overflowed its queue, a close that timed out).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/runtime/executor.h"
#include "server/session/session.h"
#include "server/stream/inbound_stream.h"

namespace parley::core {
class Server;
}
namespace parley::metrics {
class Gauge;
}

namespace parley::c2s {

class C2sSession final : public session::Session, public stream::StreamPolicy {
 public:
  // Takes a freshly accepted socket (already counted by the address limiter).
  static void accept(core::Server& server, runtime::Executor executor, int fd, std::string remoteIp,
                     bool directTls);

  // Takes a client stream on another transport (RFC 7395 WebSocket), already counted by the address
  // limiter; the same session code runs over it. Call on the transport's executor.
  static void accept(core::Server& server, std::unique_ptr<net::Transport> transport);

  C2sSession(core::Server& server, runtime::Executor executor, int fd, std::string remoteIp, bool directTls);
  C2sSession(core::Server& server, std::unique_ptr<net::Transport> transport);
  ~C2sSession() override;

  // Session
  std::string_view remoteAddress() const override { return remoteIp_; }
  void deliver(xmpp::StanzaPtr stanza) override;
  void close(xmpp::StreamError error, std::string text = {}) override;
  std::chrono::steady_clock::time_point lastActivity() const override { return stream_.lastActivity(); }
  void housekeeping() override;
  void write(xmpp::StanzaPtr stanza) override;
  void writeElement(const xml::Element& element) override;
  bool hibernated() const override { return hibernated_; }
  void terminate() override;
  void resumeFrom(const session::SessionPtr& old, std::function<void(bool)> done) override;
  std::string authenticatedAccount() const override;

  // StreamPolicy
  bool hostKnown(std::string_view domain) override;
  bool mayAttemptLogin(std::string_view user) override;
  void loginFailed(std::string_view user, bool reserved) override;
  void loginReleased(std::string_view user) override;
  void verifyingCredential() override;
  std::chrono::milliseconds failureDelay(std::string_view user) override;
  void lookupCredential(
      std::string_view user, util::HashAlg alg,
      std::function<void(stream::CredentialStatus, std::optional<util::ScramCredential>)> done) override;
  void checkPassword(std::string_view user, std::string password,
                     std::function<void(stream::CredentialStatus, bool)> done) override;
  std::string_view fakeSaltSecret() override;
  void authenticated(const std::string& user) override;
  void postAuthFeatures(xml::Element& features) override;
  void preAuthFeatures(xml::Element& features) override;
  bool preAuthElement(const xml::ElementPtr& element) override;
  void onElement(xml::ElementPtr element) override;
  void onStreamEnded(std::string_view reason, bool lost) override;
  void onBackpressure(bool paused) override;
  void onTransportClosed() override;

 private:
  void start();
  void handleBind(const xml::ElementPtr& iq);
  void handleStanza(xml::ElementPtr element);
  void dispatch(xmpp::StanzaPtr stanza);
  void deliverNow(xmpp::StanzaPtr stanza);
  void sendToSelf(xmpp::StanzaPtr stanza);  // bypasses hooks: replies about the stream itself
  bool takeToken();
  void finish(std::string_view reason);  // the session ends for good
  void releaseAddress();
  // Leaves the server's connection registry once the session ended and its transport is closed (so
  // a shutdown waits for closing streams to flush, and for what they never sent to be handed back).
  void releaseConnection();
  // The unsent-stanza journal (see DESIGN above).
  void trackUnsent(xmpp::StanzaPtr stanza, std::uint64_t end);
  void pruneUnsent();
  void settleUnsent();
  // On the old session's executor: hands this session over to `successor`.
  void handOver(const std::shared_ptr<C2sSession>& successor, std::function<void(bool)> done);
  void adopt(Inheritance from, std::uint64_t previousId, std::function<void(bool)> done);
  std::string account(std::string_view user) const;
  void countSession(bool bound);  // the per-transport sessions gauge

  core::Server& server_;
  std::string remoteIp_;
  stream::InboundStream stream_;
  runtime::TimerPtr throttleTimer_;
  double tokens_;
  std::chrono::steady_clock::time_point lastRefill_;
  bool authenticated_ = false;
  bool binding_ = false;
  bool bound_ = false;
  bool ended_ = false;
  bool backpressured_ = false;
  bool addressReleased_ = false;
  bool hibernated_ = false;  // connection lost, kept for XEP-0198 resumption
  bool resuming_ = false;    // taking over another session; deliveries wait in pending_
  std::vector<xmpp::StanzaPtr> pending_;
  std::weak_ptr<C2sSession> successor_;  // set once resumed elsewhere: deliveries go there
  bool superseded_ = false;
  runtime::TimerPtr hibernationTimer_;
  metrics::Gauge* connectionsGauge_ = nullptr;  // parley_c2s_connections{transport=…}
  metrics::Gauge* sessionsGauge_ = nullptr;     // parley_c2s_sessions{transport=…}
  bool connectionCounted_ = false;              // decremented already
  bool sessionCounted_ = false;
  bool transportClosed_ = false;     // onTransportClosed() came: nothing more reaches the client
  bool connectionReleased_ = false;  // removed from the server's registry
  // Written stanzas (messages and requests: what could be handed back) whose bytes end at `end` in the
  // transport's count, which had not all been written yet; kNotSent when no transport took them.
  struct Unsent {
    std::uint64_t end;
    xmpp::StanzaPtr stanza;
  };
  static constexpr std::uint64_t kNotSent = UINT64_MAX;
  std::vector<Unsent> unsent_;  // from unsentHead_ on (a vector: an idle session allocates nothing)
  std::size_t unsentHead_ = 0;
  bool unsentSettled_ = false;  // the journal was handed back (or XEP-0198 did): later ones go at once
};

}  // namespace parley::c2s
