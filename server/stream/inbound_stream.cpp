#include "server/stream/inbound_stream.h"

#include <algorithm>

#include <fmt/format.h>

#include "server/log/log.h"
#include "server/net/connection.h"
#include "server/net/tls_context.h"
#include "server/sasl/plain.h"
#include "server/util/crypto.h"
#include "server/xml/namespaces.h"
#include "server/xml/writer.h"
#include "server/xmpp/jid.h"

namespace parley::stream {

namespace {

constexpr std::string_view kTlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
constexpr std::string_view kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";
constexpr std::string_view kStreamNs = "http://etherx.jabber.org/streams";
constexpr std::string_view kFramingNs = "urn:ietf:params:xml:ns:xmpp-framing";  // RFC 7395 §3.3.1
// RFC 7395: the parser of a framed stream gets a root of ours, so that every WebSocket message parses
// as one top-level element of a continuous stream (limits, hibernation and restarts stay as for TCP).
constexpr std::string_view kSyntheticRoot =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

// RFC 7395 §3.3.3: every message is a standalone document, so an element written in the scope of the
// stream's namespaces gets their declarations on its root tag.
std::string withDeclaration(std::string_view element, std::string_view declaration) {
  std::size_t nameEnd = element.find_first_of(" \t\r\n/>", 1);
  if (element.empty() || element[0] != '<' || nameEnd == std::string_view::npos) return std::string(element);
  std::string out;
  out.reserve(element.size() + declaration.size() + 1);
  out.append(element.substr(0, nameEnd));
  out += ' ';
  out += declaration;
  out.append(element.substr(nameEnd));
  return out;
}

struct MechInfo {
  bool scram;
  util::HashAlg alg;
  bool plus;
};

std::optional<MechInfo> mechInfo(std::string_view name) {
  if (name == "PLAIN") return MechInfo{false, util::HashAlg::Sha256, false};
  std::string_view rest = name;
  if (rest.substr(0, 6) != "SCRAM-") return std::nullopt;
  rest.remove_prefix(6);
  bool plus = rest.size() > 5 && rest.substr(rest.size() - 5) == "-PLUS";
  if (plus) rest.remove_suffix(5);
  auto alg = util::hashFromName(rest);
  if (!alg) return std::nullopt;
  return MechInfo{true, *alg, plus};
}

xmpp::StreamError streamErrorFor(xml::ParseError e) {
  switch (e) {
    case xml::ParseError::RestrictedXml:
      return xmpp::StreamError::RestrictedXml;
    case xml::ParseError::PolicyViolation:
      return xmpp::StreamError::PolicyViolation;
    case xml::ParseError::BadFormat:
      return xmpp::StreamError::BadFormat;
    default:
      return xmpp::StreamError::NotWellFormed;
  }
}

// Decodes a SASL payload: "" = no data, "=" = empty data (RFC 6120 §6.4.2).
std::optional<std::string> decodeSasl(std::string_view text) {
  if (text.empty() || text == "=") return std::string();
  return util::base64Decode(text);
}

}  // namespace

InboundStream::InboundStream(runtime::Executor executor, int fd, std::string remoteAddress,
                             net::ConnectionLimits connLimits, const net::TlsContexts& tls,
                             std::shared_ptr<const StreamSettings> settings, StreamPolicy& policy)
    : tls_(tls),
      settings_(std::move(settings)),
      policy_(policy),
      conn_(std::make_unique<net::Connection>(executor, fd, std::move(remoteAddress), connLimits)),
      parser_(std::make_unique<xml::XmlStreamParser>(*this, settings_->preauthLimits)),
      lastActivity_(std::chrono::steady_clock::now()) {}

InboundStream::InboundStream(std::unique_ptr<net::Transport> transport, const net::TlsContexts& tls,
                             std::shared_ptr<const StreamSettings> settings, StreamPolicy& policy)
    : tls_(tls),
      settings_(std::move(settings)),
      policy_(policy),
      conn_(std::move(transport)),
      framed_(conn_->framing() == net::Framing::WebSocket),
      parser_(std::make_unique<xml::XmlStreamParser>(*this, settings_->preauthLimits)),
      lastActivity_(std::chrono::steady_clock::now()) {}

InboundStream::~InboundStream() = default;

void InboundStream::start(std::weak_ptr<void> owner) {
  owner_ = owner;
  conn_->setOwner(owner, this);
  preauthTimer_ =
      std::make_unique<runtime::Timer>(conn_->executor(), settings_->preauthTimeout, [this, owner] {
        auto self = owner.lock();
        if (!self || established_ || ended_) return;
        log::info("c2s.preauth_timeout", "peer={}", conn_->remoteAddress());
        closeWithError(xmpp::StreamError::ConnectionTimeout, "authentication took too long");
      });
  if (framed_) {
    feedSyntheticRoot();
    conn_->startReading();
  } else if (settings_->directTls) {
    conn_->pauseReading();
    conn_->startReading();
    conn_->startTls(tls_, [this, owner](bool ok, std::string error) {
      auto self = owner.lock();
      if (!self) return;
      if (!ok) {
        log::info("c2s.tls.failed", "peer={} error=\"{}\"", conn_->remoteAddress(), error);
        return;  // the connection closed itself; onDisconnected() ends the stream
      }
      conn_->resumeReading();
    });
  } else {
    conn_->startReading();
  }
}

void InboundStream::established() {
  established_ = true;
  preauthTimer_.reset();
}

// --- Output ---------------------------------------------------------------------------------------

void InboundStream::send(const xmpp::StanzaPtr& stanza) {
  if (ended_) return;
  if (framed_ && stanza->element().xmlns() == "jabber:client") {
    // RFC 7395 §3.3.3: a stanza standing alone must declare jabber:client (one copy per recipient).
    conn_->send(withDeclaration(stanza->serialized(), "xmlns='jabber:client'"));
    return;
  }
  // Aliasing pointer: the queue shares the stanza's serialised bytes instead of copying them.
  conn_->send(net::Bytes(stanza, &stanza->serialized()));
}

void InboundStream::send(const xml::Element& element) {
  if (ended_) return;
  std::string out;
  xml::serialize(element, out, framed_ ? std::string_view() : std::string_view("jabber:client"));
  conn_->send(std::move(out));
}

void InboundStream::sendTopLevel(std::string element) {
  if (framed_ && element.starts_with("<stream:"))
    element = withDeclaration(element, fmt::format("xmlns:stream='{}'", kStreamNs));
  conn_->send(std::move(element));
}

void InboundStream::sendStreamEnd() {
  if (framed_)
    conn_->send(fmt::format("<close xmlns='{}'/>", kFramingNs));
  else
    conn_->send(std::string("</stream:stream>"));
}

void InboundStream::feedSyntheticRoot() {
  syntheticRootPending_ = true;
  atStreamStart_ = false;
  parser_->feed(kSyntheticRoot);
}

void InboundStream::sendRaw(std::string bytes) {
  if (ended_) return;
  conn_->send(std::move(bytes));
}

void InboundStream::openResponseHeader(std::string_view to) {
  streamId_ = util::randomToken(16);
  if (framed_) {
    // RFC 7395 §3.4: the server's <open/> carries what the stream header would.
    std::string o = fmt::format("<open xmlns='{}' id='{}'", kFramingNs, streamId_);
    if (!domain_.empty()) {
      o += " from='";
      xml::appendEscapedAttr(o, domain_);
      o += "'";
    }
    if (!to.empty()) {
      o += " to='";
      xml::appendEscapedAttr(o, to);
      o += "'";
    }
    o += " version='1.0' xml:lang='en'/>";
    headerSent_ = true;
    conn_->send(std::move(o));
    return;
  }
  std::string h = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='";
  h += kStreamNs;
  h += "' id='" + streamId_ + "'";
  if (!domain_.empty()) {
    h += " from='";
    xml::appendEscapedAttr(h, domain_);
    h += "'";
  }
  if (!to.empty()) {
    h += " to='";
    xml::appendEscapedAttr(h, to);
    h += "'";
  }
  h += " version='1.0' xml:lang='en'>";
  headerSent_ = true;
  conn_->send(std::move(h));
}

void InboundStream::closeWithError(xmpp::StreamError error, std::string_view text) {
  if (ended_) return;
  if (!headerSent_) openResponseHeader({});  // RFC 6120 §4.9.1.2: open the stream, then the error
  log::debug("c2s.stream_error", "peer={} condition={} text=\"{}\"", conn_->remoteAddress(),
             xmpp::conditionName(error), text);
  sendTopLevel(xmpp::streamErrorXml(error, text));
  sendStreamEnd();
  // A client that stopped answering (ping timeout) is treated like a lost connection.
  closeConnection(fmt::format("stream error {}", xmpp::conditionName(error)),
                  error == xmpp::StreamError::ConnectionTimeout);
}

void InboundStream::close() {
  if (ended_) return;
  if (headerSent_) sendStreamEnd();
  closeConnection("closed by server", false);
}

void InboundStream::pauseInput() {
  conn_->pauseReading();
}

bool InboundStream::releaseIdleMemory() {
  if (ended_ || suspended_ || !authenticated_ || awaitingHeader_) return false;
  return parser_->hibernate();
}

void InboundStream::resumeInput() {
  if (!suspended_) conn_->resumeReading();
}

void InboundStream::end(std::string_view reason, bool lost) {
  if (ended_) return;
  ended_ = true;
  preauthTimer_.reset();
  scram_.reset();
  if (loginReserved_) {
    // Given up after the credential was looked up (or while it was checked): a failure, or an attacker
    // could have the server look accounts up without limit by hanging up before the proof.
    loginReserved_ = false;
    policy_.loginFailed(saslUser_, true);
  }
  policy_.onStreamEnded(reason, lost);
}

// --- Input ----------------------------------------------------------------------------------------

std::string_view InboundStream::trimStreamStart(std::string_view bytes) {
  // COMPAT(go-xmpp and others): whitespace sent after </auth> or before a new stream's XML declaration
  // belongs to no document; expat would reject "\n<?xml …". Skip it until the stream starts.
  if (!atStreamStart_) return bytes;
  auto first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  atStreamStart_ = false;
  return bytes.substr(first);
}

void InboundStream::onData(std::string_view bytes) {
  if (ended_) return;
  lastActivity_ = std::chrono::steady_clock::now();
  bytes = trimStreamStart(bytes);
  if (bytes.empty()) return;
  auto status = parser_->feed(bytes);
  if (status == xml::XmlStreamParser::Status::Suspended) {
    pendingTail_ = parser_->takeTail();
  } else if (framed_ && status == xml::XmlStreamParser::Status::Ok && !ended_ &&
             !parser_->betweenElements()) {
    // RFC 7395 §3.3.3: a message is one complete element, never a fragment of one.
    closeWithError(xmpp::StreamError::NotWellFormed, "a WebSocket message must hold one complete element");
  } else if ((settings_->releaseParserAfterRead || elementsSinceFresh_ >= kRecycleParserEvery) &&
             parser_->hibernate()) {
    // Between stanzas the parser can go: an idle connection then holds none (the memory goes back to
    // the allocator while other sessions still need it, so it is reused instead of left as holes),
    // and expat's tables of every element and attribute name seen never grow without bound.
    elementsSinceFresh_ = 0;
  }
}

void InboundStream::onDisconnected(std::string_view reason) {
  if (closeRequested_)
    end(closeReason_, closeLost_);  // reported from inside our own conn_->close()
  else
    end(reason, true);
  policy_.onTransportClosed();
}

void InboundStream::closeConnection(std::string reason, bool lost) {
  closeRequested_ = true;
  closeReason_ = std::move(reason);
  closeLost_ = lost;
  conn_->close();
  end(closeReason_, closeLost_);
}

void InboundStream::onBackpressure(bool paused) {
  policy_.onBackpressure(paused);
}

void InboundStream::onOutputOverflow() {
  // The peer stopped reading (more than ConnectionLimits::maxBytes waits for it); the transport drops
  // the connection right after this. That is not a lost connection: XEP-0198 must not keep the session
  // for resumption, which would replay at once everything unacknowledged — at least the limit, by
  // construction — and be cut again. The stream ends for good; the session hands what the client did
  // not get (or acknowledge) back to routing: other resources, else offline storage.
  if (ended_) return;
  closeRequested_ = true;
  closeReason_ = "output queue overflow (peer not reading)";
  closeLost_ = false;
}

void InboundStream::onInputTooLarge() {
  closeWithError(xmpp::StreamError::PolicyViolation, "message larger than the stanza size limit");
}

void InboundStream::suspendParsing() {
  if (suspended_) return;
  suspended_ = true;
  parser_->suspend();
  conn_->pauseReading();
}

void InboundStream::resumeParsing(bool restart) {
  if (ended_ || !suspended_) return;
  suspended_ = false;
  xml::XmlStreamParser::Status status;
  if (restart) {
    parser_->restart();
    awaitingHeader_ = true;
    headerSent_ = false;
    atStreamStart_ = true;
    if (framed_) feedSyntheticRoot();  // the client's next message is a new <open/> (RFC 7395 §3.5)
    std::string tail = std::move(pendingTail_);
    pendingTail_.clear();
    std::string_view rest = trimStreamStart(tail);
    status = rest.empty() ? xml::XmlStreamParser::Status::Ok : parser_->feed(rest);
  } else {
    pendingTail_.clear();  // expat still holds these bytes and resumes with them
    status = parser_->resume();
  }
  if (status == xml::XmlStreamParser::Status::Suspended) {
    pendingTail_ = parser_->takeTail();
    return;
  }
  if (!ended_ && !suspended_) conn_->resumeReading();
}

void InboundStream::onStreamOpen(xml::StreamHeader header) {
  if (ended_) return;
  if (syntheticRootPending_) {  // our own root for a framed stream: the client's <open/> comes next
    syntheticRootPending_ = false;
    return;
  }
  awaitingHeader_ = false;
  // RFC 6120 §4.7.5: we speak 1.0 and need the peer to speak at least that.
  std::string_view version = header.attr("version");
  std::string_view to = header.attr("to");
  std::string_view from = header.attr("from");

  if (header.name != "stream" || header.xmlns != kStreamNs) {
    closeWithError(xmpp::StreamError::InvalidNamespace,
                   "the stream namespace must be http://etherx.jabber.org/streams");
    return;
  }
  if (header.contentNs != "jabber:client") {
    closeWithError(xmpp::StreamError::InvalidNamespace, "the content namespace must be jabber:client");
    return;
  }
  std::string domain;
  if (!to.empty()) {
    if (auto d = xmpp::Jid::prepDomain(to)) domain = *d;
  } else {
    domain = conn_->serverName();
  }
  if (domain.empty() || !policy_.hostKnown(domain)) {
    closeWithError(xmpp::StreamError::HostUnknown, "this server does not serve that domain");
    return;
  }
  if (!domain_.empty() && domain != domain_) {
    closeWithError(xmpp::StreamError::HostUnknown, "the domain may not change when the stream restarts");
    return;
  }
  domain_ = domain;
  auto major = version.substr(0, version.find('.'));
  if (version.empty() || major.empty() || major.find_first_not_of("0123456789") != std::string_view::npos ||
      major.size() > 3 || std::stoi(std::string(major)) < 1) {
    closeWithError(xmpp::StreamError::UnsupportedVersion, "XMPP 1.0 streams only");
    return;
  }
  std::string echoTo;
  if (!from.empty())
    if (auto j = xmpp::Jid::parse(from)) echoTo = j->str();
  openResponseHeader(echoTo);
  sendFeatures();
}

std::vector<std::string> InboundStream::offeredMechanisms() const {
  std::vector<std::string> out;
  const bool secure = conn_->secure();
  const bool binding = secure && channelBindingAvailable();
  for (const auto& m : settings_->mechanisms) {
    auto info = mechInfo(m);
    if (!info) continue;
    if (!info->scram && !secure) continue;  // PLAIN only inside TLS
    if (info->plus && !binding) continue;
    out.push_back(m);
  }
  return out;
}

bool InboundStream::mechanismOffered(std::string_view mech) const {
  for (const auto& m : offeredMechanisms())
    if (m == mech) return true;
  return false;
}

sasl::ChannelBindings InboundStream::channelBindings() const {
  sasl::ChannelBindings cb;
  if (!conn_->secure()) return cb;  // (secure through a trusted proxy: empty, no TLS to bind to)
  cb.tlsServerEndPoint = conn_->tlsServerEndPoint();
  cb.tlsExporter = conn_->tlsExporter();
  return cb;
}

// Whether channelBindings() would offer any type, without computing the data (a certificate hash and
// a TLS export on every login otherwise; only -PLUS exchanges need them).
bool InboundStream::channelBindingAvailable() const {
  return conn_->secure() && conn_->channelBindingAvailable();
}

void InboundStream::sendFeatures() {
  xml::Element features("features", std::string(kStreamNs));
  if (!authenticated_) {
    const bool secure = conn_->secure();
    if (!secure && !settings_->directTls && conn_->canStartTls()) {
      auto st = xml::make("starttls", std::string(kTlsNs));
      if (settings_->requireTls) st->addChild(xml::make("required", std::string(kTlsNs)));
      features.addChild(st);
    }
    if (secure || !settings_->requireTls) {
      auto mechs = xml::make("mechanisms", std::string(kSaslNs));
      for (const auto& m : offeredMechanisms()) mechs->addTextChild("mechanism", kSaslNs, m);
      features.addChild(mechs);
      auto cb = channelBindings();
      if (cb.anyAvailable()) {
        // XEP-0440: tell the client which channel-binding types this connection supports.
        auto list = xml::make("sasl-channel-binding", "urn:xmpp:sasl-cb:0");
        if (!cb.tlsExporter.empty()) {
          auto t = xml::make("channel-binding", "urn:xmpp:sasl-cb:0");
          t->setAttr("type", "tls-exporter");
          list->addChild(t);
        }
        if (!cb.tlsServerEndPoint.empty()) {
          auto t = xml::make("channel-binding", "urn:xmpp:sasl-cb:0");
          t->setAttr("type", "tls-server-end-point");
          list->addChild(t);
        }
        features.addChild(list);
      }
      policy_.preAuthFeatures(features);
    }
  } else {
    policy_.postAuthFeatures(features);
  }
  // Written with the stream: prefix the peer bound on our header.
  std::string out = framed_ ? fmt::format("<stream:features xmlns:stream='{}'>", kStreamNs)
                            : std::string("<stream:features>");
  for (const auto& child : features.children()) xml::serialize(*child, out, "jabber:client");
  out += "</stream:features>";
  conn_->send(std::move(out));
}

void InboundStream::onFramingElement(const xml::Element& e) {
  if (e.name() == "open") {
    if (!awaitingHeader_) {
      closeWithError(xmpp::StreamError::BadFormat, "the stream is already open");
      return;
    }
    // RFC 7395 §3.4: <open/> stands for the stream header; the same checks apply (to, version).
    xml::StreamHeader header;
    header.name = "stream";
    header.xmlns = std::string(kStreamNs);
    header.contentNs = "jabber:client";
    header.attributes = e.attributes();
    onStreamOpen(std::move(header));
  } else if (e.name() == "close") {
    onStreamClose();  // RFC 7395 §3.6
  } else {
    closeWithError(xmpp::StreamError::UnsupportedStanzaType);
  }
}

void InboundStream::onElement(xml::ElementPtr element) {
  if (ended_) return;
  ++elementsSinceFresh_;
  if (framed_) {
    if (element->xmlns() == kFramingNs) {
      onFramingElement(*element);
      return;
    }
    if (awaitingHeader_) {
      closeWithError(xmpp::StreamError::BadFormat, "the stream starts with <open/>");
      return;
    }
  }
  if (authenticated_) {
    policy_.onElement(std::move(element));
    return;
  }
  const xml::Element& e = *element;
  if (e.xmlns() == kTlsNs && e.name() == "starttls") {
    handleStartTls(e);
  } else if (e.xmlns() == kSaslNs && e.name() == "auth") {
    handleAuth(e);
  } else if (e.xmlns() == kSaslNs && e.name() == "response") {
    handleResponse(e);
  } else if (e.xmlns() == kSaslNs && e.name() == "abort") {
    saslFailure("aborted", {}, false);
  } else if (e.xmlns() == "jabber:client") {
    // XEP-0077 registration happens before authentication, where SASL is offered.
    if ((secure() || !settings_->requireTls) && policy_.preAuthElement(element)) return;
    // RFC 6120 §4.9.3.12: stanzas before authentication.
    closeWithError(xmpp::StreamError::NotAuthorized, "authenticate first");
  } else {
    closeWithError(xmpp::StreamError::UnsupportedStanzaType);
  }
}

void InboundStream::onStreamClose() {
  if (ended_) return;
  if (headerSent_) sendStreamEnd();
  closeConnection("peer closed the stream", false);
}

void InboundStream::onParseError(xml::ParseError error, std::string_view detail) {
  if (ended_) return;
  log::debug("c2s.parse_error", "peer={} detail=\"{}\"", conn_->remoteAddress(), detail);
  std::string_view text;
  if (error == xml::ParseError::PolicyViolation) text = "stanza too large or too deeply nested";
  closeWithError(streamErrorFor(error), text);
}

// --- STARTTLS (RFC 6120 §5) -----------------------------------------------------------------------

void InboundStream::handleStartTls(const xml::Element&) {
  if (conn_->secure() || settings_->directTls || !conn_->canStartTls()) {
    conn_->send(fmt::format("<failure xmlns='{}'/>", kTlsNs));
    sendStreamEnd();
    closeConnection("STARTTLS on a secure stream", false);
    return;
  }
  conn_->send(fmt::format("<proceed xmlns='{}'/>", kTlsNs));
  suspendParsing();
  // Pending work holds the owner: with reading paused nothing else may keep the session alive.
  auto owner = owner_.lock();
  // Once feed() returns: anything the client pipelined after <starttls/> was sent in plaintext and
  // must never be treated as part of the encrypted stream (CVE-2011-0411 class of attacks).
  conn_->executor().post([this, owner] {
    if (ended_) return;
    if (!pendingTail_.empty())
      log::info("c2s.starttls.injection_dropped", "peer={} bytes={}", conn_->remoteAddress(),
                pendingTail_.size());
    pendingTail_.clear();
    conn_->startTls(tls_, [this, owner](bool ok, std::string error) {
      if (!ok) {
        log::info("c2s.tls.failed", "peer={} error=\"{}\"", conn_->remoteAddress(), error);
        return;
      }
      resumeParsing(true);
    });
  });
}

// --- SASL (RFC 6120 §6) ---------------------------------------------------------------------------

void InboundStream::handleAuth(const xml::Element& e) {
  if (saslState_ != SaslState::None) {
    saslFailure("malformed-request", "an exchange is already in progress", false);
    return;
  }
  if (!conn_->secure() && settings_->requireTls) {
    saslFailure("encryption-required", {}, false);
    return;
  }
  std::string mech(e.attr("mechanism"));
  auto info = mechInfo(mech);
  if (!info || !mechanismOffered(mech)) {
    saslFailure("invalid-mechanism", {}, false);
    return;
  }
  saslMechanism_ = mech;
  std::string text = e.text();
  if (text.empty()) {
    // No initial response: ask for it with an empty challenge (RFC 6120 §6.4.2).
    saslState_ = SaslState::AwaitingInitial;
    conn_->send(fmt::format("<challenge xmlns='{}'/>", kSaslNs));
    return;
  }
  auto data = decodeSasl(text);
  if (!data) {
    saslFailure("incorrect-encoding", {}, false);
    return;
  }
  if (info->scram)
    startScram(info->alg, info->plus, *data);
  else
    startPlain(*data);
}

void InboundStream::handleResponse(const xml::Element& e) {
  auto data = decodeSasl(e.text());
  if (!data) {
    saslFailure("incorrect-encoding", {}, false);
    return;
  }
  if (saslState_ == SaslState::AwaitingInitial) {
    auto info = mechInfo(saslMechanism_);
    saslState_ = SaslState::None;
    if (info->scram)
      startScram(info->alg, info->plus, *data);
    else
      startPlain(*data);
  } else if (saslState_ == SaslState::ScramFirstSent) {
    scramClientFinal(*data);
  } else {
    saslFailure("malformed-request", "no exchange in progress", false);
  }
}

void InboundStream::startScram(util::HashAlg alg, bool plus, std::string_view initial) {
  const bool plusAdvertised = conn_->secure() && channelBindingAvailable() &&
                              std::any_of(settings_->mechanisms.begin(), settings_->mechanisms.end(),
                                          [](const std::string& m) { return m.ends_with("-PLUS"); });
  // Without -PLUS the client may not bind (RFC 5802 §6), so the binding data is not needed.
  scram_ = std::make_unique<sasl::ScramServer>(alg, plus, plusAdvertised,
                                               plus ? channelBindings() : sasl::ChannelBindings{});
  auto first = scram_->clientFirst(initial);
  if (first.error != sasl::SaslError::None) {
    saslFailure(sasl::saslErrorName(first.error), {}, first.error == sasl::SaslError::NotAuthorized);
    return;
  }
  if (!acceptIdentity(first.username, first.authzid)) return;
  saslState_ = SaslState::Busy;
  suspendParsing();
  auto owner = owner_.lock();
  policy_.lookupCredential(
      saslUser_, alg,
      [this, owner](CredentialStatus status, std::optional<util::ScramCredential> credential) {
        if (ended_ || !scram_) return;
        std::string challenge;
        switch (status) {
          case CredentialStatus::Found:
            challenge = scram_->serverFirst(*credential);
            break;
          case CredentialStatus::NoSuchUser:
            // Same exchange as for a real account; it fails at the proof (no user enumeration).
            challenge = scram_->serverFirstForUnknownUser(policy_.fakeSaltSecret(),
                                                          settings_->fakeScramIterations, saslUser_);
            break;
          case CredentialStatus::Disabled:
            releaseLogin();
            saslFailure("account-disabled", {}, false);
            return;
          case CredentialStatus::Error:
            releaseLogin();
            saslFailure("temporary-auth-failure", {}, false);
            return;
        }
        saslState_ = SaslState::ScramFirstSent;
        conn_->send(
            fmt::format("<challenge xmlns='{}'>{}</challenge>", kSaslNs, util::base64Encode(challenge)));
        resumeParsing(false);
      });
}

bool InboundStream::acceptIdentity(std::string_view username, std::string_view authzid) {
  // The SASL username is the JID's localpart (RFC 6120 §6.3.8), prepared like one.
  auto user = xmpp::Jid::prepLocal(username);
  if (!user) {
    saslUser_.clear();  // an unusable name: the failure counts for the address only
    saslFailure("not-authorized");
    return false;
  }
  saslUser_ = *user;
  // An authorization identity may only name the account itself (no impersonation, RFC 6120 §6.3.8).
  if (!authzid.empty()) {
    auto az = xmpp::Jid::parse(authzid);
    if (!az || az->isFull() || az->bareStr() != saslUser_ + "@" + domain_) {
      saslFailure("invalid-authzid", {}, false);
      return false;
    }
  }
  // RFC 6120 §6.5.12: the limits refuse for a while; the client may try again later. Asked here, before
  // the credential is looked up, and reserved, so concurrent attempts cannot race past a limit.
  if (!policy_.mayAttemptLogin(saslUser_)) {
    saslFailure("temporary-auth-failure", "too many failed attempts; try again later", false);
    return false;
  }
  loginReserved_ = true;
  return true;
}

void InboundStream::releaseLogin() {
  if (!loginReserved_) return;
  loginReserved_ = false;
  policy_.loginReleased(saslUser_);
}

void InboundStream::scramClientFinal(std::string_view message) {
  policy_.verifyingCredential();
  auto result = scram_->clientFinal(message);
  if (result.error != sasl::SaslError::None) {
    saslFailure(sasl::saslErrorName(result.error), {}, result.error == sasl::SaslError::NotAuthorized);
    return;
  }
  saslSuccess(result.serverFinal);
}

void InboundStream::startPlain(std::string_view initial) {
  auto parsed = sasl::parsePlain(initial);
  if (!parsed.ok) {
    saslFailure("malformed-request", {}, false);
    return;
  }
  if (!acceptIdentity(parsed.authcid, parsed.authzid)) return;
  saslState_ = SaslState::Busy;
  suspendParsing();
  auto owner = owner_.lock();
  policy_.verifyingCredential();
  policy_.checkPassword(saslUser_, std::move(parsed.password),
                        [this, owner](CredentialStatus status, bool ok) {
                          if (ended_) return;
                          if (status == CredentialStatus::Disabled) {
                            releaseLogin();
                            return saslFailure("account-disabled", {}, false);
                          }
                          if (status == CredentialStatus::Error) {
                            releaseLogin();
                            return saslFailure("temporary-auth-failure", {}, false);
                          }
                          if (status != CredentialStatus::Found || !ok) return saslFailure("not-authorized");
                          saslSuccess({});
                        });
}

void InboundStream::saslFailure(std::string_view condition, std::string_view text, bool countsAsFailure) {
  scram_.reset();
  saslState_ = SaslState::None;
  std::chrono::milliseconds delay{0};
  // An exchange that ends here after its reservation (wrong proof, <abort/>, a malformed message) is a
  // failed attempt for the limits even when the client is not to blame for a wrong password.
  const bool reserved = loginReserved_;
  loginReserved_ = false;
  if (reserved && !countsAsFailure) policy_.loginFailed(saslUser_, true);
  if (countsAsFailure) {
    ++saslFailures_;
    policy_.loginFailed(saslUser_, reserved);
    delay = policy_.failureDelay(saslUser_);
    log::info("c2s.auth.failed", "peer={} user={} mechanism={} condition={}", conn_->remoteAddress(),
              saslUser_, saslMechanism_, condition);
  }
  std::string out = fmt::format("<failure xmlns='{}'><{}/>", kSaslNs, condition);
  if (!text.empty()) {
    out += "<text xml:lang='en'>";
    xml::appendEscapedText(out, text);
    out += "</text>";
  }
  out += "</failure>";
  suspendParsing();
  auto owner = owner_.lock();
  const bool tooMany = saslFailures_ >= settings_->maxSaslAttempts;
  // A timer, also for no delay, so the parser is always resumed from outside its callbacks.
  preauthFailureTimer_ =
      std::make_unique<runtime::Timer>(conn_->executor(), delay, [this, owner, out, tooMany] {
        if (ended_) return;
        conn_->send(out);
        if (tooMany) {
          closeWithError(xmpp::StreamError::PolicyViolation, "too many failed authentication attempts");
          return;
        }
        resumeParsing(false);
      });
}

void InboundStream::saslSuccess(std::string_view additional) {
  scram_.reset();
  saslState_ = SaslState::None;
  loginReserved_ = false;  // settled by policy_.authenticated() below
  user_ = saslUser_;
  authenticated_ = true;
  if (additional.empty())
    conn_->send(fmt::format("<success xmlns='{}'/>", kSaslNs));
  else
    conn_->send(fmt::format("<success xmlns='{}'>{}</success>", kSaslNs, util::base64Encode(additional)));
  log::info("c2s.auth.success", "peer={} jid={}@{} mechanism={}", conn_->remoteAddress(), user_, domain_,
            saslMechanism_);
  policy_.authenticated(user_);
  parser_->setLimits(settings_->limits);
  // RFC 6120 §6.4.6: both sides restart the stream; bytes the client already sent belong to the new one.
  suspendParsing();
  auto owner = owner_.lock();
  conn_->executor().post([this, owner] {
    if (ended_) return;
    resumeParsing(true);
  });
}

}  // namespace parley::stream
