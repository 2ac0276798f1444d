#include "tests/fuzz/c2s_fixture.h"

#include <array>
#include <optional>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "server/core/config.h"
#include "server/net/tls_context.h"
#include "server/runtime/asio.h"
#include "server/stream/inbound_stream.h"
#include "server/util/crypto.h"
#include "server/util/scram_credential.h"
#include "server/xml/element.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/jid.h"
#include "server/xmpp/stanza.h"
#include "tests/fuzz/fuzz_target.h"

namespace parley::fuzz {

namespace {

constexpr std::string_view kBindNs = "urn:ietf:params:xml:ns:xmpp-bind";
constexpr std::string_view kSmNs = "urn:xmpp:sm:3";

// Every log line is formatted (peer data goes through the log formatting too) and dropped.
void silenceLogs() {
  static const bool once = [] {
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>()));
    spdlog::set_level(spdlog::level::trace);
    return true;
  }();
  (void)once;
}

asio::io_context& ioContext() {
  static asio::io_context ctx;
  return ctx;
}

void runReady() {
  auto& ctx = ioContext();
  for (int i = 0; i < 1000; ++i) {
    ctx.restart();
    if (ctx.poll() == 0) return;
  }
}

const util::ScramCredential& credential(util::HashAlg alg) {
  static const std::array<util::ScramCredential, 3> creds = {
      *util::deriveScramCredential(util::HashAlg::Sha1, "pencil", "QSXCR+Q6sek8bf92", 1),
      *util::deriveScramCredential(util::HashAlg::Sha256, "pencil", "QSXCR+Q6sek8bf92", 1),
      *util::deriveScramCredential(util::HashAlg::Sha512, "pencil", "QSXCR+Q6sek8bf92", 1)};
  return creds[alg == util::HashAlg::Sha1 ? 0 : alg == util::HashAlg::Sha256 ? 1 : 2];
}

const net::TlsContexts& noTls() {
  static const core::Config config;
  static const net::TlsContexts tls(config);  // no hosts: never used (the memory transport has no TLS)
  return tls;
}

class MemoryTransport final : public net::Transport {
 public:
  MemoryTransport(bool framed, std::function<void(std::string_view)>* sink) : framed_(framed), sink_(sink) {}
  void setOwner(std::weak_ptr<void> owner, net::ConnectionHandler* handler) override {
    owner_ = std::move(owner);
    handler_ = handler;
  }
  const std::string& remoteAddress() const override { return address_; }
  runtime::Executor executor() const override { return runtime::Executor(&ioContext()); }
  std::string_view kind() const override { return framed_ ? "websocket" : "tcp"; }
  net::Framing framing() const override {
    return framed_ ? net::Framing::WebSocket : net::Framing::XmlStream;
  }
  void startReading() override { reading_ = true; }
  void pauseReading() override { paused_ = true; }
  void resumeReading() override { paused_ = false; }
  bool readingPaused() const override { return paused_; }
  void send(net::Bytes bytes) override {
    if (closed_ || !bytes) return;
    written_ += bytes->size();  // handed to the sink at once: nothing is ever queued
    if (*sink_) (*sink_)(*bytes);
  }
  std::size_t queuedBytes() const override { return 0; }
  std::uint64_t bytesAccepted() const override { return written_; }
  std::uint64_t bytesWritten() const override { return written_; }
  bool secure() const override { return true; }
  void close(std::chrono::milliseconds) override { disconnect("closed"); }
  void abort(std::string_view) override { disconnect("aborted"); }
  bool closed() const override { return closed_; }

  bool readable() const { return reading_ && !paused_ && !closed_; }
  void deliver(std::string_view bytes) { handler_->onData(bytes); }
  void disconnect(std::string reason) {
    if (closed_) return;
    closed_ = true;
    // Like net::Connection: the disconnection is reported later, on the executor.
    executor().post([owner = owner_, handler = handler_, reason] {
      if (auto o = owner.lock()) handler->onDisconnected(reason);
    });
  }

 private:
  bool framed_;
  std::function<void(std::string_view)>* sink_;
  std::string address_ = "192.0.2.7";
  std::weak_ptr<void> owner_;
  net::ConnectionHandler* handler_ = nullptr;
  bool reading_ = false, paused_ = false, closed_ = false;
  std::uint64_t written_ = 0;
};

}  // namespace

// The StreamPolicy side of a c2s session, as C2sSession answers at that seam.
struct C2sFixture::Impl : stream::StreamPolicy, std::enable_shared_from_this<C2sFixture::Impl> {
  Impl(bool framed, bool requireTls, std::function<void(std::string_view)>* sink) {
    auto s = std::make_shared<stream::StreamSettings>();
    s->requireTls = requireTls;
    s->mechanisms = {"SCRAM-SHA-512-PLUS",
                     "SCRAM-SHA-256-PLUS",
                     "SCRAM-SHA-1-PLUS",
                     "SCRAM-SHA-512",
                     "SCRAM-SHA-256",
                     "SCRAM-SHA-1",
                     "PLAIN"};
    s->preauthLimits = xml::ParserLimits{10000, 48, 10000, 64};
    s->limits = xml::ParserLimits{262144, 48, 10000, 64};
    auto t = std::make_unique<MemoryTransport>(framed, sink);
    transport = t.get();
    stream = std::make_unique<stream::InboundStream>(std::move(t), noTls(), std::move(s), *this);
  }

  MemoryTransport* transport = nullptr;
  std::unique_ptr<stream::InboundStream> stream;
  xmpp::Jid jid;
  bool binding = false, bound = false, ended = false, loggedIn = false;
  unsigned stanzas = 0;

  runtime::Executor exec() const { return runtime::Executor(&ioContext()); }
  // Runs `fn` later on the executor if this session still exists.
  void later(std::function<void(Impl&)> fn) {
    exec().post([weak = weak_from_this(), fn = std::move(fn)] {
      if (auto self = weak.lock()) fn(*self);
    });
  }

  bool hostKnown(std::string_view domain) override { return domain == "localhost"; }
  bool mayAttemptLogin(std::string_view user) override { return user != "locked"; }
  void loginFailed(std::string_view, bool) override {}
  std::chrono::milliseconds failureDelay(std::string_view) override { return std::chrono::milliseconds(0); }
  void lookupCredential(
      std::string_view user, util::HashAlg alg,
      std::function<void(stream::CredentialStatus, std::optional<util::ScramCredential>)> done) override {
    std::string u(user);
    later([u, alg, done = std::move(done)](Impl&) {
      if (u == "juliet") return done(stream::CredentialStatus::Found, credential(alg));
      if (u == "disabled") return done(stream::CredentialStatus::Disabled, std::nullopt);
      if (u == "error") return done(stream::CredentialStatus::Error, std::nullopt);
      done(stream::CredentialStatus::NoSuchUser, std::nullopt);
    });
  }
  void checkPassword(std::string_view user, std::string password,
                     std::function<void(stream::CredentialStatus, bool)> done) override {
    std::string u(user);
    later([u, password = std::move(password), done = std::move(done)](Impl&) {
      if (u != "juliet") return done(stream::CredentialStatus::NoSuchUser, false);
      done(stream::CredentialStatus::Found,
           util::verifyPassword(credential(util::HashAlg::Sha256), password));
    });
  }
  std::string_view fakeSaltSecret() override { return "fuzz-secret"; }
  void authenticated(const std::string& user) override {
    PARLEY_FUZZ_CHECK(!ended);
    PARLEY_FUZZ_CHECK(user == "juliet");  // the only account; the fuzzer cannot know SCRAM proofs
    loggedIn = true;
  }
  void postAuthFeatures(xml::Element& features) override {
    if (!bound) features.addChild(xml::make("bind", std::string(kBindNs)));
    features.addChild(xml::make("sm", std::string(kSmNs)));
  }
  bool preAuthElement(const xml::ElementPtr& e) override {
    // Like XEP-0077 registration: a get is answered, anything else refused.
    if (e->name() != "iq" || e->attr("type") != "get" || e->attr("id").empty()) return false;
    auto reply = xml::make("iq", "jabber:client");
    reply->setAttr("type", "result");
    reply->setAttr("id", e->attr("id"));
    stream->send(*reply);
    return true;
  }

  void onElement(xml::ElementPtr e) override {
    PARLEY_FUZZ_CHECK(!ended && loggedIn);
    if (e->xmlns() == "jabber:client" && xmpp::stanzaKindOf(e->name())) {
      if (!bound) {
        if (binding) return;
        if (e->name() == "iq" && e->attr("type") == "set" && e->child("bind", kBindNs)) return bind(e);
        return stream->closeWithError(xmpp::StreamError::NotAuthorized, "bind a resource first");
      }
      return stanza(e);
    }
    if (e->is("r", kSmNs)) {
      stream->sendRaw("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(stanzas) + "'/>");
      return;
    }
    if (e->is("enable", kSmNs) && bound) {
      stream->sendRaw("<enabled xmlns='urn:xmpp:sm:3'/>");
      return;
    }
    stream->closeWithError(xmpp::StreamError::UnsupportedStanzaType);
  }

  void bind(const xml::ElementPtr& iq) {
    auto request = xmpp::Stanza::make(iq->clone(), xmpp::Jid(), xmpp::Jid());
    if (iq->attr("id").empty())
      return stream->send(xmpp::makeErrorReply(*request, xmpp::StanzaError::BadRequest));
    std::string wanted = iq->child("bind", kBindNs)->childText("resource", kBindNs);
    std::optional<std::string> resource =
        wanted.empty() ? std::optional<std::string>(util::randomToken(12)) : xmpp::Jid::prepResource(wanted);
    std::optional<xmpp::Jid> full;
    if (resource) full = xmpp::Jid::fromParts(stream->user(), stream->domain(), *resource);
    if (!full)
      return stream->send(xmpp::makeErrorReply(*request, xmpp::StanzaError::BadRequest, "invalid resource"));
    // Binding registers the session elsewhere: input waits meanwhile (as in C2sSession).
    binding = true;
    stream->holdInput();
    later([full = *full, id = std::string(iq->attr("id"))](Impl& self) {
      if (self.ended) return;
      self.jid = full;
      self.binding = false;
      self.bound = true;
      self.stream->established();
      auto reply = xml::make("iq", "jabber:client");
      reply->setAttr("type", "result");
      reply->setAttr("id", id);
      auto b = xml::make("bind", std::string(kBindNs));
      b->addTextChild("jid", kBindNs, full.str());
      reply->addChild(b);
      self.stream->send(*reply);
      self.stream->releaseInput();
    });
  }

  void stanza(const xml::ElementPtr& element) {
    ++stanzas;
    if (stanzas % 16 == 0 && !stream->inputHeld()) {  // the rate limiter holds input, then releases it
      stream->holdInput();
      later([](Impl& self) {
        if (!self.ended) self.stream->releaseInput();
      });
    }
    const xml::Element& e = *element;
    const auto kind = *xmpp::stanzaKindOf(e.name());
    const std::string_view type = e.attr("type");
    if (auto from = e.findAttr("from"); from && !from->empty()) {
      auto j = xmpp::Jid::parse(*from);
      if (!j || (*j != jid && *j != jid.bare()))
        return stream->closeWithError(xmpp::StreamError::InvalidFrom);
    }
    xmpp::Jid to;
    bool badTo = false;
    if (auto t = e.findAttr("to"); t && !t->empty()) {
      if (auto j = xmpp::Jid::parse(*t))
        to = std::move(*j);
      else
        badTo = true;
    }
    auto copy = element->clone();
    copy->removeAttr("to");
    auto s = xmpp::Stanza::make(std::move(copy), jid, to);
    PARLEY_FUZZ_CHECK(s != nullptr);
    if (badTo) {
      if (type != "error") stream->send(xmpp::makeErrorReply(*s, xmpp::StanzaError::JidMalformed));
      return;
    }
    if (kind == xmpp::StanzaKind::Iq) {
      const bool request = type == "get" || type == "set";
      if (e.attr("id").empty() || (!request && type != "result" && type != "error") ||
          (request && e.childCount() != 1)) {
        if (type != "error") stream->send(xmpp::makeErrorReply(*s, xmpp::StanzaError::BadRequest));
        return;
      }
    }
    // Addressed to the user's own JIDs: delivered back (serialised for the wire); anything else has no
    // service here.
    if (to.empty() || to.bare() == jid.bare()) return stream->send(s->withTo(jid));
    if (type != "error") stream->send(xmpp::makeErrorReply(*s, xmpp::StanzaError::ServiceUnavailable));
  }

  void onStreamEnded(std::string_view, bool) override {
    PARLEY_FUZZ_CHECK(!ended);
    ended = true;
  }
};

C2sFixture::C2sFixture(bool framed, bool requireTls)
    : impl_((silenceLogs(), std::make_shared<Impl>(framed, requireTls, &onOutput))) {}

C2sFixture::~C2sFixture() {
  impl_.reset();
  runReady();
}

void C2sFixture::start() {
  impl_->stream->start(impl_);
  runReady();
}

void C2sFixture::feed(std::string_view bytes) {
  if (!impl_->transport->readable()) return;
  impl_->transport->deliver(bytes);
  runReady();
}

void C2sFixture::finish() {
  impl_->transport->disconnect("connection lost");
  runReady();
  PARLEY_FUZZ_CHECK(impl_->ended);
}

bool C2sFixture::ended() const {
  return impl_->ended;
}
bool C2sFixture::bound() const {
  return impl_->bound;
}

std::vector<std::string> C2sFixture::loginPreamble(bool framed) {
  const std::string auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
                           util::base64Encode(std::string("\0juliet\0pencil", 14)) + "</auth>";
  const std::string bind =
      "<iq type='set' id='bind1'><bind "
      "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>";
  if (framed) {
    const std::string open =
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
    return {open, auth, open, "<iq xmlns='jabber:client'" + bind.substr(3)};
  }
  const std::string header =
      "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
  return {header, auth, header, bind};
}

}  // namespace parley::fuzz
