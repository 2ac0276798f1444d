// DESIGN: InboundStream is the mechanics of an incoming XML stream (RFC 6120 §4–§6): the stream header
// and its checks, stream features, STARTTLS, SASL (SCRAM-*, SCRAM-*-PLUS with channel binding, PLAIN
// over TLS), stream restarts, stream errors and closing. It knows nothing about what a client may do
// once authenticated: after SASL succeeds every top-level element goes to the StreamPolicy (the c2s
// session), which decides. Credentials, login limits and features beyond SASL also come from the policy,
// so server-to-server streams can reuse this class later with another policy.
// Runs entirely on the connection's executor. While an asynchronous step is pending (a credential
// lookup on the blocking pool, a TLS handshake) the parser is suspended and reading stops, so the
// order of the peer's input is preserved.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "server/net/transport.h"
#include "server/runtime/executor.h"
#include "server/sasl/scram.h"
#include "server/xml/stream_parser.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/stanza.h"

namespace parley::net {
class TlsContexts;
}

namespace parley::stream {

struct StreamSettings {
  bool directTls = false;               // TLS from the first byte (XEP-0368)
  bool requireTls = true;               // no SASL before STARTTLS
  std::vector<std::string> mechanisms;  // offered, in preference order
  xml::ParserLimits preauthLimits;
  xml::ParserLimits limits;  // after authentication
  std::chrono::seconds preauthTimeout{30};
  int maxSaslAttempts = 3;  // RFC 6120 §6.4.5: then <policy-violation/>
  // The iteration count of the SCRAM exchange faked for unknown users: the one new credentials get,
  // so that it does not tell them from real accounts.
  std::uint32_t fakeScramIterations = 4096;
  // Free the XML parser after every read that ends between stanzas (less memory per connection, a few
  // microseconds more per read), rather than only when the connection has been idle for a while.
  bool releaseParserAfterRead = true;
};

enum class CredentialStatus { Found, NoSuchUser, Disabled, Error };

class StreamPolicy {
 public:
  virtual ~StreamPolicy() = default;
  virtual bool hostKnown(std::string_view domain) = 0;
  // Failed-login limits. Asked before any credential of `user` is looked up or checked: whether this
  // address may try now. True reserves one attempt, which the stream settles exactly once, with
  // loginFailed(user, true), loginReleased(user) or authenticated(user).
  virtual bool mayAttemptLogin(std::string_view user) = 0;
  // A failed attempt. `reserved`: it settles the reservation (wrong credentials, or an exchange given
  // up after the lookup); otherwise it was found before any reservation (an unusable user name).
  virtual void loginFailed(std::string_view user, bool reserved) = 0;
  // The reservation ended without a verdict on the credentials (storage error, disabled account).
  virtual void loginReleased(std::string_view /*user*/) {}
  // A password or SCRAM proof is about to be checked against the stored credential (or, for an unknown
  // user, a faked one): one full password verification.
  virtual void verifyingCredential() {}
  // How long to wait before answering a failure (slows guessing down).
  virtual std::chrono::milliseconds failureDelay(std::string_view user) = 0;
  // Looks up the stored SCRAM credential (asynchronously, on the blocking pool).
  virtual void lookupCredential(
      std::string_view user, util::HashAlg alg,
      std::function<void(CredentialStatus, std::optional<util::ScramCredential>)> done) = 0;
  // Checks a plaintext password (PLAIN over TLS) against the stored credential (blocking pool).
  virtual void checkPassword(std::string_view user, std::string password,
                             std::function<void(CredentialStatus, bool ok)> done) = 0;
  // A secret used to fake exchanges for unknown users (no account enumeration through SCRAM salts).
  virtual std::string_view fakeSaltSecret() = 0;
  // SASL succeeded for user@domain.
  virtual void authenticated(const std::string& user) = 0;
  // Features offered after authentication (bind, and what the hooks add).
  virtual void postAuthFeatures(xml::Element& features) = 0;
  // Before authentication, on a stream where SASL is offered: extra features, and jabber:client
  // elements (XEP-0077 registration). preAuthElement returns false to refuse the element (the stream is
  // then closed with <not-authorized/>, RFC 6120 §4.9.3.12).
  virtual void preAuthFeatures(xml::Element& /*features*/) {}
  virtual bool preAuthElement(const xml::ElementPtr& /*element*/) { return false; }
  // A top-level element after authentication.
  virtual void onElement(xml::ElementPtr element) = 0;
  // The stream is over (error, close, or disconnect). Called once. `lost`: the connection broke or
  // timed out without a closing </stream:stream> (XEP-0198 may keep the session for resumption).
  virtual void onStreamEnded(std::string_view reason, bool lost) = 0;
  // The output queue backed up (true) or drained (false).
  virtual void onBackpressure(bool /*paused*/) {}
  // The transport is closed for good: after onStreamEnded(), at once or, when the server closed the
  // stream, once its output was flushed (or the close timed out). Nothing more reaches the peer; what
  // it was never given is what ends after transport().bytesWritten().
  virtual void onTransportClosed() {}
};

class InboundStream : public net::ConnectionHandler, public xml::StreamParserHandler {
 public:
  // Over a TCP socket (net::Connection).
  InboundStream(runtime::Executor executor, int fd, std::string remoteAddress,
                net::ConnectionLimits connLimits, const net::TlsContexts& tls,
                std::shared_ptr<const StreamSettings> settings, StreamPolicy& policy);
  // Over any transport (WebSocket); the framing follows transport->framing().
  InboundStream(std::unique_ptr<net::Transport> transport, const net::TlsContexts& tls,
                std::shared_ptr<const StreamSettings> settings, StreamPolicy& policy);
  ~InboundStream() override;

  // `owner` keeps this stream alive while I/O is pending.
  void start(std::weak_ptr<void> owner);

  const std::string& domain() const { return domain_; }
  const std::string& user() const { return user_; }
  const std::string& streamId() const { return streamId_; }
  bool authenticated() const { return authenticated_; }
  bool secure() const { return conn_->secure(); }
  bool closed() const { return ended_; }
  net::Transport& transport() { return *conn_; }
  const net::Transport& transport() const { return *conn_; }
  std::chrono::steady_clock::time_point lastActivity() const { return lastActivity_; }

  // The session is established (bound): the pre-authentication timer stops.
  void established();
  void send(const xmpp::StanzaPtr& stanza);  // shares the stanza's serialised bytes
  void send(const xml::Element& element);
  void sendRaw(std::string bytes);
  // Sends the stream error and closes (RFC 6120 §4.9).
  void closeWithError(xmpp::StreamError error, std::string_view text = {});
  // Closes the stream normally (</stream:stream>).
  void close();
  // Stop/restart reading from the socket (backpressure). Elements already read are still parsed.
  void pauseInput();
  void resumeInput();
  // From inside StreamPolicy::onElement: process nothing after this element until releaseInput()
  // (called later, from outside the parser). Used while binding, and to throttle a fast sender.
  void holdInput() { suspendParsing(); }
  void releaseInput() { resumeParsing(false); }
  bool inputHeld() const { return suspended_; }
  // Frees the XML parser's state if the stream is between stanzas (rebuilt when bytes arrive).
  bool releaseIdleMemory();

  // ConnectionHandler
  void onData(std::string_view bytes) override;
  void onDisconnected(std::string_view reason) override;
  void onBackpressure(bool paused) override;
  void onOutputOverflow() override;
  void onInputTooLarge() override;
  // StreamParserHandler
  void onStreamOpen(xml::StreamHeader header) override;
  void onElement(xml::ElementPtr element) override;
  void onStreamClose() override;
  void onParseError(xml::ParseError error, std::string_view detail) override;

 private:
  void openResponseHeader(std::string_view to);
  void sendStreamEnd();                          // </stream:stream>, or <close/> (RFC 7395 §3.6)
  void sendTopLevel(std::string element);        // one complete top-level element, framed for the transport
  void onFramingElement(const xml::Element& e);  // RFC 7395 <open/>, <close/>
  void feedSyntheticRoot();
  void sendFeatures();
  void handleStartTls(const xml::Element& e);
  void handleAuth(const xml::Element& e);
  void handleResponse(const xml::Element& e);
  void startScram(util::HashAlg alg, bool plus, std::string_view initial);
  bool acceptIdentity(std::string_view username, std::string_view authzid);
  void scramClientFinal(std::string_view message);
  void startPlain(std::string_view initial);
  void saslFailure(std::string_view condition, std::string_view text = {}, bool countsAsFailure = true);
  void saslSuccess(std::string_view additional);
  void releaseLogin();  // the reservation ends without a verdict (storage error, disabled account)
  std::string_view trimStreamStart(std::string_view bytes);
  void suspendParsing();
  void resumeParsing(bool restart);
  void end(std::string_view reason, bool lost = false);
  // Closes the connection; the stream ends with this reason even if the connection reports first.
  void closeConnection(std::string reason, bool lost);
  sasl::ChannelBindings channelBindings() const;
  bool channelBindingAvailable() const;
  bool mechanismOffered(std::string_view mech) const;
  std::vector<std::string> offeredMechanisms() const;

  const net::TlsContexts& tls_;
  std::shared_ptr<const StreamSettings> settings_;  // shared by every stream of a listener
  StreamPolicy& policy_;
  std::unique_ptr<net::Transport> conn_;
  bool framed_ = false;  // RFC 7395: one element per message, <open/>/<close/>
  std::unique_ptr<xml::XmlStreamParser> parser_;
  std::weak_ptr<void> owner_;
  runtime::TimerPtr preauthTimer_;
  runtime::TimerPtr preauthFailureTimer_;

  std::string domain_;
  std::string user_;
  std::string streamId_;
  std::string pendingTail_;  // bytes that followed a suspension point (replayed or discarded)
  std::chrono::steady_clock::time_point lastActivity_;

  // SASL exchange in progress.
  enum class SaslState { None, AwaitingInitial, ScramFirstSent, Busy };
  SaslState saslState_ = SaslState::None;
  std::string saslMechanism_;
  std::unique_ptr<sasl::ScramServer> scram_;
  std::string saslUser_;
  int saslFailures_ = 0;
  bool loginReserved_ = false;  // mayAttemptLogin() said yes and the attempt is not settled yet

  bool closeRequested_ = false;
  bool closeLost_ = false;
  std::string closeReason_;
  bool headerSent_ = false;
  bool authenticated_ = false;
  bool established_ = false;
  bool ended_ = false;
  bool suspended_ = false;
  bool awaitingHeader_ = true;
  bool atStreamStart_ = true;          // nothing but whitespace seen since the stream (re)started
  bool syntheticRootPending_ = false;  // framed: the parser's root is ours, not the peer's
  static constexpr unsigned kRecycleParserEvery = 1000;
  unsigned elementsSinceFresh_ = 0;
};

}  // namespace parley::stream
