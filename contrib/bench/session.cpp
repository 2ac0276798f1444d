#include "contrib/bench/session.h"

#include <stdexcept>
#include <utility>

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

// clang-format off
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
// clang-format on
#include "server/sasl/scram.h"
#include "server/util/crypto.h"
#include "server/xml/namespaces.h"
#include "server/xml/writer.h"

namespace parley::bench {

namespace {

namespace ns = xml::ns;
using asio::use_awaitable;

// The read buffer starts small and only grows while reads fill it (a burst during login); idle
// sessions go back to the small one.
constexpr std::size_t kSmallRead = 1024;
constexpr std::size_t kLargestRead = 16384;

// A login step that did not go as a real client expects. The message is the counted failure reason.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The defined condition of a stanza or SASL error: the first child element other than <text/>.
std::string conditionOf(const xml::Element& e) {
  for (const auto& child : e.children())
    if (child->name() != "text") return child->name();
  return "undefined-condition";
}

std::string escapedAttr(std::string_view value) {
  std::string out;
  xml::appendEscapedAttr(out, value);
  return out;
}

std::string escapedText(std::string_view value) {
  std::string out;
  xml::appendEscapedText(out, value);
  return out;
}

}  // namespace

Session::Session(asio::io_context& io, asio::ssl::context& tls, const ClientSettings& settings,
                 std::size_t userIndex)
    : stream_(io, tls),
      deadline_(io),
      settings_(settings),
      // The client trusts its server; the limits only guard against runaway input.
      parser_(*this, xml::ParserLimits{.maxStanzaBytes = 1 << 20}),
      readBuffer_(kSmallRead),
      userIndex_(userIndex) {}

Session::~Session() = default;

void Session::onStreamOpen(xml::StreamHeader) {}

void Session::onElement(xml::ElementPtr element) {
  if (element->is("error", ns::kStream)) streamError_ = conditionOf(*element);
  if (running_)
    dispatch(*element);
  else
    inbox_.push_back(std::move(element));
}

void Session::onStreamClose() {
  streamClosed_ = true;
}

void Session::onParseError(xml::ParseError, std::string_view detail) {
  parseError_ = detail.empty() ? "unparsable XML" : std::string(detail);
}

void Session::armDeadline(std::chrono::milliseconds timeout) {
  deadline_.expires_after(timeout);
  deadline_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the step finished in time
    if (auto self = weak.lock()) {
      self->timedOut_ = true;
      self->closeSocket();  // the pending read or write completes with operation_aborted
    }
  });
}

void Session::closeSocket() {
  boost::system::error_code ignored;
  stream_.next_layer().close(ignored);
}

std::string Session::describe(const boost::system::error_code& ec) const {
  if (timedOut_) return "timeout";
  if (ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::ssl::error::stream_truncated)
    return "connection closed by server";
  return ec.message();
}

asio::awaitable<void> Session::connect() {
  auto& socket = stream_.next_layer();
  socket.open(asio::ip::tcp::v4());
  if (settings_.sourceAddresses > 1) {
    // Each source address has its own range of ephemeral ports. IP_BIND_ADDRESS_NO_PORT picks the
    // port at connect() time, so ports are only unique per (source, destination) pair.
    int one = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    const auto k = static_cast<std::uint32_t>(userIndex_ % settings_.sourceAddresses);
    socket.bind({asio::ip::address_v4(0x7F000001u + k), 0});  // 127.0.0.1 + k
  }
  co_await socket.async_connect({settings_.host, settings_.port}, use_awaitable);
  socket.set_option(asio::ip::tcp::no_delay(true));
}

asio::awaitable<void> Session::handshake() {
  // SNI picks the host's certificate; XEP-0368 asks direct TLS clients for the ALPN "xmpp-client"
  // (set on the context). The certificate is not verified: test servers use self-signed ones.
  SSL_set_tlsext_host_name(stream_.native_handle(), settings_.domain.c_str());
  co_await stream_.async_handshake(asio::ssl::stream_base::client, use_awaitable);
  tls_ = true;
}

asio::awaitable<void> Session::write(std::string_view data) {
  if (tls_)
    co_await asio::async_write(stream_, asio::buffer(data), use_awaitable);
  else
    co_await asio::async_write(stream_.next_layer(), asio::buffer(data), use_awaitable);
}

asio::awaitable<std::size_t> Session::readSome() {
  if (tls_) co_return co_await stream_.async_read_some(asio::buffer(readBuffer_), use_awaitable);
  co_return co_await stream_.next_layer().async_read_some(asio::buffer(readBuffer_), use_awaitable);
}

void Session::feed(std::size_t n) {
  if (parser_.feed(std::string_view(readBuffer_.data(), n)) == xml::XmlStreamParser::Status::Failed &&
      parseError_.empty())
    parseError_ = "unparsable XML";
  if (n == readBuffer_.size() && readBuffer_.size() < kLargestRead)
    readBuffer_.resize(readBuffer_.size() * 2);
}

asio::awaitable<xml::ElementPtr> Session::next() {
  while (inboxNext_ >= inbox_.size()) {
    inbox_.clear();
    inboxNext_ = 0;
    if (!parseError_.empty()) throw Failure(std::string(phase_) + ": bad XML from server");
    if (streamClosed_)
      throw Failure(std::string(phase_) + ": server closed the stream" +
                    (streamError_.empty() ? "" : " (" + streamError_ + ")"));
    feed(co_await readSome());
  }
  auto element = std::move(inbox_[inboxNext_++]);
  if (element->is("error", ns::kStream))
    throw Failure(std::string(phase_) + ": stream error " + streamError_);
  co_return element;
}

asio::awaitable<xml::ElementPtr> Session::openStream() {
  // RFC 6120 §4.3.3: every restart begins a new XML document on both sides.
  parser_.restart();
  inbox_.clear();
  inboxNext_ = 0;
  streamClosed_ = false;
  co_await write(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' to='" +
      escapedAttr(settings_.domain) + "' version='1.0' xml:lang='en'>");
  auto features = co_await next();
  if (!features->is("features", ns::kStream))
    throw Failure(std::string(phase_) + ": expected <stream:features/>, got <" + features->name() + "/>");
  co_return features;
}

asio::awaitable<void> Session::authenticate(const xml::Element& features) {
  const auto* mechanisms = features.child("mechanisms", ns::kSasl);
  bool offered = false;
  std::string all;  // what the server offers, for the failure reason
  if (mechanisms)
    for (const auto& m : mechanisms->childrenNamed("mechanism", ns::kSasl)) {
      if (m->text() == settings_.mechanism) offered = true;
      all += (all.empty() ? "" : " ") + m->text();
    }
  if (!offered) throw Failure("auth: " + settings_.mechanism + " not offered (offered: " + all + ")");

  const std::string user = settings_.prefix + std::to_string(userIndex_);
  const std::string authOpen =
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + escapedAttr(settings_.mechanism) + "'>";
  auto outcome = [](const xml::Element& e) {
    if (e.is("failure", ns::kSasl)) throw Failure("auth: " + conditionOf(e));
    if (!e.is("success", ns::kSasl)) throw Failure("auth: unexpected <" + e.name() + "/>");
  };

  if (settings_.mechanism == "PLAIN") {  // RFC 4616: authzid NUL authcid NUL password
    std::string message(1, '\0');
    message += user;
    message += '\0';
    message += settings_.password;
    co_await write(authOpen + util::base64Encode(message) + "</auth>");
    outcome(*co_await next());
    co_return;
  }

  // RFC 5802 without channel binding ('n' flag): the -PLUS variants need the server's TLS data.
  auto alg = util::hashFromName(std::string_view(settings_.mechanism).substr(6));
  if (!alg) throw Failure("auth: unsupported mechanism " + settings_.mechanism);
  sasl::ScramClient scram(*alg, user, settings_.password);
  co_await write(authOpen + util::base64Encode(scram.clientFirst()) + "</auth>");
  auto challenge = co_await next();
  if (challenge->is("failure", ns::kSasl)) throw Failure("auth: " + conditionOf(*challenge));
  if (!challenge->is("challenge", ns::kSasl)) throw Failure("auth: unexpected <" + challenge->name() + "/>");
  auto serverFirst = util::base64Decode(challenge->text());
  if (!serverFirst) throw Failure("auth: challenge is not base64");
  // The client's PBKDF2 runs here, on this network thread: it is part of the client's login cost.
  auto clientFinal = scram.clientFinal(*serverFirst);
  if (!clientFinal) throw Failure("auth: malformed server-first-message");
  co_await write("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + util::base64Encode(*clientFinal) +
                 "</response>");
  auto result = co_await next();
  outcome(*result);
  // RFC 6120 §6.3.10: the server's signature comes as additional data with <success/>.
  auto serverFinal = util::base64Decode(result->text());
  if (!serverFinal || !scram.verifyServerFinal(*serverFinal))
    throw Failure("auth: server signature did not verify");
}

asio::awaitable<xml::ElementPtr> Session::iq(std::string_view id, std::string stanza) {
  co_await write(stanza);
  for (;;) {
    auto e = co_await next();
    if (e->name() != "iq" || e->attr("id") != id) continue;
    if (e->attr("type") == "error") {
      const auto* error = e->child("error", ns::kClient);
      throw Failure(std::string(phase_) + ": " + std::string(id) + " " +
                    (error ? conditionOf(*error) : std::string("error")));
    }
    if (e->attr("type") != "result") continue;
    co_return e;
  }
}

asio::awaitable<LoginOutcome> Session::login() {
  auto self = shared_from_this();  // alive until the login is over, whatever the caller does
  LoginOutcome out;
  const auto start = Clock::now();
  auto mark = start;
  auto lap = [&mark](double& field) {
    const auto now = Clock::now();
    field = std::chrono::duration<double>(now - mark).count();
    mark = now;
  };
  armDeadline(settings_.timeout);
  try {
    phase_ = "connect";
    co_await connect();
    lap(out.times.connect);

    phase_ = "tls";
    if (!settings_.directTls) {
      auto features = co_await openStream();
      if (!features->child("starttls", ns::kTls)) throw Failure("tls: STARTTLS not offered");
      co_await write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
      auto answer = co_await next();
      if (!answer->is("proceed", ns::kTls)) throw Failure("tls: STARTTLS refused");
    }
    co_await handshake();
    lap(out.times.tls);

    phase_ = "auth";
    auto offer = co_await openStream();
    co_await authenticate(*offer);
    lap(out.times.auth);

    phase_ = "bind";
    auto features = co_await openStream();
    if (!features->child("bind", ns::kBind)) throw Failure("bind: resource binding not offered");
    auto bound = co_await iq("bind",
                             "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                             "<resource>" +
                                 escapedText(settings_.resource) + "</resource></bind></iq>");
    const auto* bind = bound->child("bind", ns::kBind);
    jid_ = bind ? bind->childText("jid", ns::kBind) : std::string();
    if (jid_.empty()) throw Failure("bind: no JID in the result");
    // RFC 3921 session establishment, only when the server says it is not optional.
    if (const auto* s = features->child("session", ns::kSession); s && !s->child("optional", ns::kSession))
      co_await iq("session",
                  "<iq type='set' id='session'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    co_await iq("roster", "<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>");
    lap(out.times.bind);

    // RFC 6121 §4.2.2: the server sends our own initial presence back to us; then we are online.
    phase_ = "presence";
    co_await write("<presence/>");
    for (;;) {
      auto e = co_await next();
      if (e->name() == "presence" && e->attr("from") == jid_ && !e->hasAttr("type")) break;
    }
    lap(out.times.presence);
    out.times.total = std::chrono::duration<double>(Clock::now() - start).count();
    out.ok = true;
  } catch (const Failure& f) {
    out.failure = f.what();
  } catch (const boost::system::system_error& e) {
    out.failure = std::string(phase_) + ": " + describe(e.code());
  } catch (const std::exception& e) {
    out.failure = std::string(phase_) + ": " + e.what();
  }
  if (!out.ok && timedOut_) out.failure = std::string(phase_) + ": timeout";
  deadline_.cancel();
  if (!out.ok) {
    closeSocket();
    over_ = true;
  }
  co_return out;
}

void Session::run(SessionObserver& observer) {
  observer_ = &observer;
  running_ = true;
  asio::co_spawn(stream_.get_executor(), readLoop(shared_from_this()), asio::detached);
}

void Session::dispatch(const xml::Element& e) {
  if (e.name() == "message") {
    observer_->onMessage(*this, e);
    return;
  }
  if (e.name() == "presence") {
    observer_->onPresence(*this, e);
    return;
  }
  if (e.name() != "iq") return;
  const auto type = e.attr("type");
  if (type == "result" || type == "error") {
    observer_->onIqResponse(*this, e);
    return;
  }
  if (type != "get" && type != "set") return;
  // XEP-0199 §4: answer the server's pings, or it closes silent connections. RFC 6120 §8.2.3: any
  // other request gets an error.
  std::string reply = "<iq id='" + escapedAttr(e.attr("id")) + "'";
  if (e.hasAttr("from")) reply += " to='" + escapedAttr(e.attr("from")) + "'";
  if (e.child("ping", ns::kPing))
    reply += " type='result'/>";
  else
    reply +=
        " type='error'><error type='cancel'><service-unavailable "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></iq>";
  send(std::move(reply));
}

asio::awaitable<void> Session::readLoop(std::shared_ptr<Session> self) {
  Session& s = *self;
  // Whatever arrived together with the presence echo.
  for (; s.inboxNext_ < s.inbox_.size(); ++s.inboxNext_) s.dispatch(*s.inbox_[s.inboxNext_]);
  std::vector<xml::ElementPtr>().swap(s.inbox_);
  s.inboxNext_ = 0;
  std::vector<char>(kSmallRead).swap(s.readBuffer_);

  std::string reason;
  boost::system::error_code ec;
  while (!s.streamClosed_ && s.parseError_.empty()) {
    const std::size_t n = co_await s.stream_.async_read_some(asio::buffer(s.readBuffer_),
                                                             asio::redirect_error(use_awaitable, ec));
    if (ec) {
      reason = "read: " + s.describe(ec);
      break;
    }
    s.feed(n);
  }
  if (reason.empty()) {
    if (!s.parseError_.empty())
      reason = "bad XML from server";
    else
      reason = "server closed the stream" + (s.streamError_.empty() ? "" : " (" + s.streamError_ + ")");
    // Our </stream:stream> was answered: end TLS with close_notify too (bounded by the close deadline).
    if (s.streamClosed_ && s.closing_ && !s.writing_)
      co_await s.stream_.async_shutdown(asio::redirect_error(use_awaitable, ec));
  }
  s.closeSocket();
  s.deadline_.cancel();
  s.over_ = true;
  s.observer_->onEnded(s, s.closing_ ? std::string_view() : std::string_view(reason));
}

void Session::send(std::string stanza) {
  if (over_ || closing_ || !running_) return;
  outbox_ += stanza;
  if (writing_) return;
  writing_ = true;
  asio::co_spawn(stream_.get_executor(), writeLoop(shared_from_this()), asio::detached);
}

asio::awaitable<void> Session::writeLoop(std::shared_ptr<Session> self) {
  Session& s = *self;
  std::string inflight;
  boost::system::error_code ec;
  // One write in flight; whatever is queued meanwhile goes out together in the next one.
  while (!s.outbox_.empty() && !s.over_) {
    inflight.clear();
    inflight.swap(s.outbox_);
    co_await asio::async_write(s.stream_, asio::buffer(inflight), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
  }
  s.outbox_.clear();
  s.writing_ = false;
}

void Session::close(std::chrono::milliseconds timeout) {
  if (over_ || closing_) return;
  send("</stream:stream>");  // RFC 6120 §4.4
  closing_ = true;
  armDeadline(timeout);
}

}  // namespace parley::bench
