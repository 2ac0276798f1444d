#include "server/c2s/c2s_session.h"

#include <algorithm>
#include <utility>

#include "server/c2s/login_limiter.h"
#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/net/batched_writes.h"
#include "server/net/listener.h"
#include "server/presence/presence_service.h"
#include "server/roster/roster_service.h"
#include "server/util/crypto.h"
#include "server/util/scram_credential.h"
#include "storage/account_store.h"

namespace parley::c2s {

using xmpp::StanzaError;
using xmpp::StanzaPtr;
using xmpp::StreamError;

namespace {

constexpr std::string_view kBindNs = "urn:ietf:params:xml:ns:xmpp-bind";
constexpr std::string_view kSessionNs = "urn:ietf:params:xml:ns:xmpp-session";

bool isSubscriptionType(std::string_view t) {
  return t == "subscribe" || t == "subscribed" || t == "unsubscribe" || t == "unsubscribed";
}

}  // namespace

void C2sSession::accept(core::Server& server, runtime::Executor executor, int fd, std::string remoteIp,
                        bool directTls) {
  auto s = std::make_shared<C2sSession>(server, executor, fd, std::move(remoteIp), directTls);
  server.addConnection(s);
  s->start();
}

C2sSession::C2sSession(core::Server& server, runtime::Executor executor, int fd, std::string remoteIp,
                       bool directTls)
    : Session(session::nextSessionId(), executor),
      server_(server),
      remoteIp_(remoteIp),
      stream_(
          executor, fd, remoteIp,
          net::ConnectionLimits{server.config().limits.writeQueuePause, server.config().limits.writeQueueMax},
          server.tls(), server.streamSettings(directTls), *this),
      tokens_(server.config().limits.stanzaBurst),
      lastRefill_(std::chrono::steady_clock::now()) {}

void C2sSession::accept(core::Server& server, std::unique_ptr<net::Transport> transport) {
  auto s = std::make_shared<C2sSession>(server, std::move(transport));
  server.addConnection(s);
  s->start();
}

C2sSession::C2sSession(core::Server& server, std::unique_ptr<net::Transport> transport)
    : Session(session::nextSessionId(), transport->executor()),
      server_(server),
      remoteIp_(transport->remoteAddress()),
      stream_(std::move(transport), server.tls(), server.streamSettings(false), *this),
      tokens_(server.config().limits.stanzaBurst),
      lastRefill_(std::chrono::steady_clock::now()) {}

C2sSession::~C2sSession() {
  // A safety net: a session that is gone can hold no shutdown up, whatever path it took.
  if (!connectionReleased_) server_.removeConnection(id());
}

void C2sSession::start() {
  const std::string_view transport = stream_.transport().kind();
  log::debug("c2s.connected", "sid={} peer={} transport={}", id(), remoteIp_, transport);
  auto& m = server_.metrics();
  const metrics::Labels labels{{"transport", std::string(transport)}};
  m.counter("parley_c2s_connections_total", "Client connections accepted, by transport.", labels).inc();
  connectionsGauge_ = &m.gauge("parley_c2s_connections", "Open client connections, by transport.", labels);
  sessionsGauge_ =
      &m.gauge("parley_c2s_sessions",
               "Bound client sessions (hibernated ones included), by the transport they run on.", labels);
  connectionsGauge_->inc();
  stream_.start(weak_from_this());
}

std::string C2sSession::account(std::string_view user) const {
  std::string a(user);
  a += '@';
  a += stream_.domain();
  return a;
}

// --- StreamPolicy: authentication -----------------------------------------------------------------

bool C2sSession::hostKnown(std::string_view domain) {
  return server_.config().host(domain) != nullptr;
}

bool C2sSession::mayAttemptLogin(std::string_view user) {
  using Verdict = LoginLimiter::Verdict;
  const Verdict v = server_.loginLimiter().reserve(remoteIp_, account(user));
  if (v == Verdict::Allowed) return true;
  log::debug("c2s.auth.refused", "sid={} peer={} user={} limit={}", id(), remoteIp_, user,
             v == Verdict::AddressBlocked ? "address"
             : v == Verdict::PairLimited  ? "account_and_address"
                                          : "account");
  return false;
}

void C2sSession::loginFailed(std::string_view user, bool reserved) {
  server_.loginLimiter().failed(remoteIp_, user.empty() ? std::string() : account(user), reserved);
}

void C2sSession::loginReleased(std::string_view user) {
  server_.loginLimiter().released(remoteIp_, account(user));
}

void C2sSession::verifyingCredential() {
  server_.loginLimiter().verifying();
}

std::chrono::milliseconds C2sSession::failureDelay(std::string_view user) {
  return server_.loginLimiter().delayFor(remoteIp_, account(user));
}

void C2sSession::lookupCredential(
    std::string_view user, util::HashAlg alg,
    std::function<void(stream::CredentialStatus, std::optional<util::ScramCredential>)> done) {
  struct Found {
    stream::CredentialStatus status;
    std::optional<util::ScramCredential> credential;
  };
  auto& db = server_.db();
  std::string domain = stream_.domain();
  std::string u(user);
  runtime::offload(
      server_.pool(), executor(), {},
      [&db, domain, u, alg]() {
        auto c = storage::AccountStore(db).loginCredential(domain, u, alg);
        if (!c) return Found{stream::CredentialStatus::NoSuchUser, std::nullopt};
        if (c->disabled) return Found{stream::CredentialStatus::Disabled, std::nullopt};
        return Found{stream::CredentialStatus::Found, std::move(c->credential)};
      },
      [done = std::move(done)](runtime::Outcome<Found> out) {
        if (!out.ok()) {
          log::error("c2s.auth.storage_error", "error=\"{}\"", out.error);
          done(stream::CredentialStatus::Error, std::nullopt);
          return;
        }
        done(out.value->status, std::move(out.value->credential));
      });
}

void C2sSession::checkPassword(std::string_view user, std::string password,
                               std::function<void(stream::CredentialStatus, bool)> done) {
  auto& db = server_.db();
  std::string domain = stream_.domain();
  std::string u(user);
  const std::uint32_t iterations = server_.config().auth.scramIterations;
  runtime::offload(
      server_.pool(), executor(), {},
      [&db, domain, u, password = std::move(password), iterations]() {
        storage::AccountStore accounts(db);
        auto c = accounts.loginCredential(domain, u, util::HashAlg::Sha256);
        if (!c) c = accounts.loginCredential(domain, u, util::HashAlg::Sha1);
        if (!c) {
          // The same PBKDF2 as for a real account: answering an unknown user milliseconds sooner would
          // tell an attacker which accounts exist before guessing their passwords.
          (void)util::deriveScramCredential(util::HashAlg::Sha256, password,
                                            std::string(util::kScramSaltSize, '\0'), iterations);
          return std::pair{stream::CredentialStatus::NoSuchUser, false};
        }
        if (c->disabled) return std::pair{stream::CredentialStatus::Disabled, false};
        // PBKDF2 runs here, on the blocking pool.
        return std::pair{stream::CredentialStatus::Found, util::verifyPassword(c->credential, password)};
      },
      [done = std::move(done)](runtime::Outcome<std::pair<stream::CredentialStatus, bool>> out) {
        if (!out.ok()) {
          log::error("c2s.auth.storage_error", "error=\"{}\"", out.error);
          done(stream::CredentialStatus::Error, false);
          return;
        }
        done(out.value->first, out.value->second);
      });
}

std::string_view C2sSession::fakeSaltSecret() {
  return server_.fakeSaltSecret();
}

void C2sSession::authenticated(const std::string& user) {
  authenticated_ = true;
  server_.loginLimiter().succeeded(remoteIp_, account(user));
  server_.addressLimiter().authenticated(remoteIp_);
}

void C2sSession::postAuthFeatures(xml::Element& features) {
  if (!bound_) {
    features.addChild(xml::make("bind", std::string(kBindNs)));
    // RFC 3921 session establishment, optional since RFC 6121: old clients still ask for it.
    auto session = xml::make("session", std::string(kSessionNs));
    session->addChild(xml::make("optional", std::string(kSessionNs)));
    features.addChild(session);
    features.addChild(xml::make("ver", "urn:xmpp:features:rosterver"));     // XEP-0237
    features.addChild(xml::make("sub", "urn:xmpp:features:pre-approval"));  // RFC 6121 §3.4
  }
  hooks::StreamFeatures::Context ctx{true, bound_, features};
  server_.hooks().run<hooks::StreamFeatures>(ctx);
}

// XEP-0077 registration and XEP-0401 pre-authentication, through the PreAuthFeatures/PreAuthIq hooks.
void C2sSession::preAuthFeatures(xml::Element& features) {
  hooks::PreAuthFeatures::Context ctx{stream_.domain(), features};
  server_.hooks().run<hooks::PreAuthFeatures>(ctx);
}

bool C2sSession::preAuthElement(const xml::ElementPtr& element) {
  if (element->name() != "iq") return false;
  const auto type = element->attr("type");
  if (type != "get" && type != "set") return false;
  std::weak_ptr<session::Session> weak = shared_from_this();
  auto exec = executor();
  hooks::PreAuthIq::Context ctx{element, stream_.domain(), remoteIp_, stream_.streamId(),
                                [weak, exec](xml::ElementPtr reply) {
                                  exec.post([weak, reply] {
                                    auto s = std::static_pointer_cast<C2sSession>(weak.lock());
                                    if (s && !s->stream_.closed() && !s->authenticated_)
                                      s->stream_.send(*reply);
                                  });
                                }};
  return server_.hooks().run<hooks::PreAuthIq>(ctx) == hooks::Action::Stop;
}

// --- Elements after authentication ----------------------------------------------------------------

void C2sSession::onElement(xml::ElementPtr element) {
  if (ended_) return;
  if (element->xmlns() == "jabber:client" && xmpp::stanzaKindOf(element->name())) {
    if (!bound_) {
      if (binding_) {
        // Pipelined after the bind request: cannot happen (input is held while binding).
        return;
      }
      if (element->name() == "iq" && element->attr("type") == "set" && element->child("bind", kBindNs)) {
        handleBind(element);
        return;
      }
      // RFC 6120 §7.1: nothing but resource binding before a resource is bound.
      stream_.closeWithError(StreamError::NotAuthorized, "bind a resource first");
      return;
    }
    handleStanza(std::move(element));
    return;
  }
  // Not a stanza: stream-level elements of extensions (XEP-0198, XEP-0352, …).
  if (!binding_ && !resuming_) {
    hooks::NonzaFromClient::Context ctx{*this, element, bound_};
    if (server_.hooks().run<hooks::NonzaFromClient>(ctx) == hooks::Action::Stop) return;
  }
  stream_.closeWithError(StreamError::UnsupportedStanzaType);
}

void C2sSession::handleBind(const xml::ElementPtr& iq) {
  auto request = xmpp::Stanza::adopt(iq->clone(), xmpp::Jid(), xmpp::Jid());
  auto replyError = [&](StanzaError e, std::string_view text) {
    sendToSelf(xmpp::makeErrorReply(*request, e, text));
  };
  if (iq->attr("id").empty()) {
    replyError(StanzaError::BadRequest, "an IQ needs an id");
    return;
  }
  const xml::Element* bind = iq->child("bind", kBindNs);
  std::string wanted = bind->childText("resource", kBindNs);
  std::string resource;
  if (!wanted.empty()) {
    auto prepared = xmpp::Jid::prepResource(wanted);
    if (!prepared) {
      replyError(StanzaError::BadRequest, "invalid resource");  // RFC 6120 §7.7.2.1
      return;
    }
    resource = *prepared;
  } else {
    resource = util::randomToken(12);
  }
  auto full = xmpp::Jid::fromParts(stream_.user(), stream_.domain(), resource);
  if (!full) {
    replyError(StanzaError::BadRequest, "invalid resource");
    return;
  }
  setJid(*full);
  const auto& cfg = server_.config().c2s;
  auto policy = cfg.resourceConflict == core::ResourceConflict::KickOld ? session::ConflictPolicy::KickOld
                                                                        : session::ConflictPolicy::RefuseNew;
  auto self = std::static_pointer_cast<C2sSession>(shared_from_this());
  auto result = server_.sessions().bind(self, policy, static_cast<std::size_t>(cfg.maxResourcesPerUser));
  if (result.outcome == session::SessionManager::BindOutcome::Conflict) {
    setJid(xmpp::Jid());
    replyError(StanzaError::Conflict, "that resource is in use");  // RFC 6120 §7.7.2.2
    return;
  }
  if (result.outcome == session::SessionManager::BindOutcome::TooManyResources) {
    setJid(xmpp::Jid());
    replyError(StanzaError::ResourceConstraint, "too many resources for this account");  // RFC 6120 §7.6.2.1
    return;
  }
  if (result.replaced) result.replaced->close(StreamError::Conflict, "replaced by a new connection");
  binding_ = true;
  stream_.holdInput();
  // The roster must be in memory before the first presence is processed.
  server_.roster().loadForSession(jid().bare(), executor(), [self, request](bool ok) {
    self->binding_ = false;
    if (self->ended_) return;
    if (!ok) {
      self->sendToSelf(xmpp::makeErrorReply(*request, StanzaError::InternalServerError));
      self->stream_.closeWithError(StreamError::InternalServerError, "storage unavailable");
      return;
    }
    self->bound_ = true;
    self->countSession(true);
    auto bindResult = xml::make("bind", std::string(kBindNs));
    bindResult->addTextChild("jid", kBindNs, self->jid().str());
    self->sendToSelf(xmpp::makeIqResult(*request, bindResult));
    self->stream_.established();
    log::info("c2s.bound", "sid={} jid={} peer={}", self->id(), self->jid().str(), self->remoteIp_);
    hooks::SessionBound::Context ctx{*self};
    self->server_.hooks().run<hooks::SessionBound>(ctx);
    self->stream_.releaseInput();
  });
}

bool C2sSession::takeToken() {
  const auto& l = server_.config().limits;
  auto now = std::chrono::steady_clock::now();
  tokens_ = std::min(l.stanzaBurst,
                     tokens_ + l.stanzaRate * std::chrono::duration<double>(now - lastRefill_).count());
  lastRefill_ = now;
  tokens_ -= 1;
  return tokens_ >= 0;
}

void C2sSession::handleStanza(xml::ElementPtr element) {
  countReceived();  // XEP-0198 §4: every stanza counts, also the ones refused below
  // Rate limit: over budget, stop reading until the bucket refills. The stanza is still processed.
  if (!takeToken() && !stream_.inputHeld()) {
    const auto& l = server_.config().limits;
    auto wait = std::chrono::duration<double>((1 - tokens_) / l.stanzaRate);
    stream_.holdInput();
    auto weak = weak_from_this();
    throttleTimer_ = std::make_unique<runtime::Timer>(
        executor(), std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait), [this, weak] {
          auto self = weak.lock();
          if (self && !ended_) stream_.releaseInput();
        });
  }

  const xml::Element& e = *element;
  const auto kind = *xmpp::stanzaKindOf(e.name());

  // RFC 6120 §8.1.2.1: 'from', if present, must be the client's own address.
  if (auto from = e.findAttr("from"); from && !from->empty()) {
    auto j = xmpp::Jid::parse(*from);
    if (!j || (*j != jid() && *j != jid().bare())) {
      stream_.closeWithError(StreamError::InvalidFrom);
      return;
    }
  }
  xmpp::Jid to;
  bool badTo = false;
  if (auto t = e.findAttr("to"); t && !t->empty()) {
    auto j = xmpp::Jid::parse(*t);
    if (j)
      to = std::move(*j);
    else
      badTo = true;
  }
  // The parsed element, addressed in place ('to' as normalised, 'from' stamped): the parser handed it
  // over, so unless something kept a reference it is not even copied. Read it only after this (the
  // addressing may move its attributes).
  auto stanza = xmpp::Stanza::adopt(
      element.use_count() == 1 ? std::const_pointer_cast<xml::Element>(std::move(element)) : element->clone(),
      jid(), to);
  const std::string_view type = e.attr("type");
  if (badTo) {
    if (type != "error") sendToSelf(xmpp::makeErrorReply(*stanza, StanzaError::JidMalformed));
    return;
  }
  if (kind == xmpp::StanzaKind::Iq) {
    // RFC 6120 §8.2.3: an id and a known type; get/set carry exactly one payload.
    const bool request = type == "get" || type == "set";
    if (e.attr("id").empty() || (!request && type != "result" && type != "error") ||
        (request && e.childCount() != 1)) {
      if (type != "error") sendToSelf(xmpp::makeErrorReply(*stanza, StanzaError::BadRequest));
      return;
    }
  } else if (kind == xmpp::StanzaKind::Presence) {
    if (!type.empty() && type != "unavailable" && type != "probe" && type != "error" &&
        !isSubscriptionType(type)) {
      sendToSelf(xmpp::makeErrorReply(*stanza, StanzaError::BadRequest, "unknown presence type"));
      return;
    }
  }

  hooks::StanzaFromClient::Context ctx{*this, stanza};
  if (server_.hooks().run<hooks::StanzaFromClient>(ctx) == hooks::Action::Stop) return;
  dispatch(std::move(ctx.stanza));
}

void C2sSession::dispatch(StanzaPtr stanza) {
  const xmpp::Jid& to = stanza->to();
  const xmpp::Jid own = jid().bare();
  const std::string_view type = stanza->type();
  switch (stanza->kind()) {
    case xmpp::StanzaKind::Presence:
      if (type == "probe") return;  // RFC 6121 §4.3: only servers probe
      if (isSubscriptionType(type)) {
        if (!to.empty() && to.bare() != own) server_.roster().outboundSubscription(*this, std::move(stanza));
        return;
      }
      if (type == "error") {
        if (!to.empty()) server_.router().route(std::move(stanza));
        return;
      }
      if (to.empty() || to == own) {
        server_.presence().outbound(*this, std::move(stanza));
        return;
      }
      server_.presence().directed(*this, std::move(stanza));
      return;
    case xmpp::StanzaKind::Iq:
      if (to.empty() || to == own) {
        // RFC 6120 §10.3.3: handled by the server on behalf of the account.
        if (type == "get" || type == "set") {
          if (stanza->element().child("session", kSessionNs) && type == "set") {
            sendToSelf(xmpp::makeIqResult(*stanza));  // legacy session establishment: a no-op
            return;
          }
          server_.router().handleIq(std::move(stanza), own, shared_from_this());
        }
        return;  // results and errors for the server (roster push acks, pings)
      }
      server_.router().route(std::move(stanza));
      return;
    case xmpp::StanzaKind::Message:
      // RFC 6120 §10.3.1: no 'to' means the sender's own bare JID.
      if (to.empty()) stanza = stanza->withTo(own);
      server_.router().route(std::move(stanza));
      return;
  }
}

// --- Delivery -------------------------------------------------------------------------------------

namespace {

// Deliveries from a network thread to sessions living on other network threads, gathered while this
// thread's current handlers run and handed over in one post per target thread. A room's fan-out or a
// presence broadcast then costs one queue operation (and at most one wake-up) per thread instead of one
// per recipient. Order is kept: per source thread, a target gets its stanzas in the order they were
// delivered, as with one post each.
class Outbox {
 public:
  using Item = std::pair<std::shared_ptr<C2sSession>, StanzaPtr>;
  using Deliver = void (*)(std::vector<Item>&);

  void add(runtime::Executor here, runtime::Executor target, std::shared_ptr<C2sSession> session,
           StanzaPtr stanza, Deliver deliver) {
    Batch* batch = nullptr;
    for (auto& b : batches_)
      if (b.target == target) batch = &b;
    if (!batch) batch = &batches_.emplace_back(Batch{target, {}});
    batch->items.emplace_back(std::move(session), std::move(stanza));
    if (!scheduled_) {
      scheduled_ = true;
      here.post([this, deliver] { flush(deliver); });  // after the handlers queued before it
    }
  }

 private:
  struct Batch {
    runtime::Executor target;
    std::vector<Item> items;
  };
  void flush(Deliver deliver) {
    scheduled_ = false;
    for (auto& b : batches_) {
      if (b.items.empty()) continue;
      b.target.post([items = std::move(b.items), deliver]() mutable { deliver(items); });
      b.items = {};
    }
  }
  std::vector<Batch> batches_;  // one per target thread, kept for the life of the thread
  bool scheduled_ = false;
};

thread_local Outbox tOutbox;

}  // namespace

void C2sSession::deliver(StanzaPtr stanza) {
  if (executor().runningInThisThread()) {
    deliverNow(std::move(stanza));
    return;
  }
  auto self = std::static_pointer_cast<C2sSession>(shared_from_this());
  if (auto here = runtime::Executor::current()) {
    tOutbox.add(here, executor(), std::move(self), std::move(stanza), [](std::vector<Outbox::Item>& items) {
      net::BatchedWrites batch;  // the writes of the whole hand-over leave together
      for (auto& [session, s] : items) session->deliverNow(std::move(s));
    });
    return;
  }
  // Not a network thread (a blocking-pool job): straight to the session's thread.
  executor().post([self, stanza = std::move(stanza)]() mutable { self->deliverNow(std::move(stanza)); });
}

void C2sSession::deliverNow(StanzaPtr stanza) {
  if (superseded_) {
    // Resumed on another connection (XEP-0198): what was routed here before the switch goes there.
    if (auto next = successor_.lock()) {
      next->deliver(std::move(stanza));
      return;
    }
  }
  if (resuming_) {
    pending_.push_back(std::move(stanza));  // delivered once the old session's queue was replayed
    return;
  }
  if (ended_ || !bound_) {
    // The session went away after routing chose it: route again so the stanza reaches another
    // resource or offline storage (the session is no longer registered, so it cannot come back).
    if (stanza->isMessage()) {
      server_.router().route(stanza->withTo(stanza->to().bare()));
    } else if (stanza->isIq() && (stanza->type() == "get" || stanza->type() == "set")) {
      server_.router().bounce(*stanza, StanzaError::ServiceUnavailable);
    }
    return;
  }
  hooks::StanzaToClient::Context ctx{*this, std::move(stanza)};
  if (server_.hooks().run<hooks::StanzaToClient>(ctx) == hooks::Action::Stop) return;
  write(std::move(ctx.stanza));
}

void C2sSession::write(StanzaPtr stanza) {
  // While hibernated (or after the end) the bytes go nowhere; StanzaSent still runs so stream
  // management keeps the stanza for replay or hands it back to routing.
  if (!hibernated_ && !ended_) {
    const auto& transport = stream_.transport();
    const std::uint64_t before = transport.bytesAccepted();
    stream_.send(stanza);
    const std::uint64_t end = transport.bytesAccepted();
    trackUnsent(stanza, end == before ? kNotSent : end);  // nothing taken: closed or overflowed
  } else if (!hibernated_) {
    trackUnsent(stanza, kNotSent);  // after the end (CSI releasing what it held, …)
  }
  hooks::StanzaSent::Context ctx{*this, stanza};
  server_.hooks().run<hooks::StanzaSent>(ctx);
}

// Without XEP-0198 a client confirms nothing, but the server still knows what never left it: the
// stanzas whose last byte the transport had not written when it closed. Only those are kept here, and
// only until the transport's count passes them (usually at once: a write goes straight to the socket
// unless the client is slow), so a healthy session holds none.
void C2sSession::trackUnsent(StanzaPtr stanza, std::uint64_t end) {
  // Only what handing back would act on: not presence (stale by then), room messages (the room keeps
  // its history), headlines, errors or IQ results. A room's fan-out then records nothing here.
  if (!router::Router::handsBack(*stanza)) return;
  pruneUnsent();
  if (end != kNotSent && end <= stream_.transport().bytesWritten()) return;  // already on the socket
  if (unsentSettled_) {
    server_.router().handBack(stanza, jid().bare());  // the journal was already handed back
    return;
  }
  unsent_.push_back(Unsent{end, std::move(stanza)});
}

void C2sSession::pruneUnsent() {
  const std::uint64_t written = stream_.transport().bytesWritten();
  while (unsentHead_ < unsent_.size() && unsent_[unsentHead_].end <= written)
    unsent_[unsentHead_++].stanza.reset();
  if (unsentHead_ == unsent_.size()) {
    unsent_.clear();
    if (unsent_.capacity() > 64) unsent_.shrink_to_fit();
    unsentHead_ = 0;
  }
}

// Once the session ended for good and its transport is closed: what the client never got goes back
// to routing (other resources, else offline storage), in order. Not when XEP-0198 was on: it handed
// back everything unacknowledged, which includes all of this.
void C2sSession::settleUnsent() {
  if (unsentSettled_ || !ended_ || hibernated_ || superseded_ || !transportClosed_) return;
  unsentSettled_ = true;
  pruneUnsent();
  auto unsent = std::move(unsent_);
  const std::size_t head = std::exchange(unsentHead_, 0);
  unsent_.clear();
  std::size_t handedBack = 0;
  for (std::size_t i = head; i < unsent.size(); ++i)
    if (server_.router().handBack(unsent[i].stanza, jid().bare())) ++handedBack;
  if (head < unsent.size())
    log::info("c2s.unsent_handed_back", "sid={} jid={} unsent={} rerouted={}", id(), jid().str(),
              unsent.size() - head, handedBack);
}

void C2sSession::writeElement(const xml::Element& element) {
  if (!hibernated_ && !ended_) stream_.send(element);
}

void C2sSession::sendToSelf(StanzaPtr stanza) {
  if (bound_)
    write(std::move(stanza));  // counted by stream management like any other stanza
  else
    stream_.send(stanza);
}

std::string C2sSession::authenticatedAccount() const {
  if (!authenticated_) return {};
  return account(stream_.user());
}

void C2sSession::housekeeping() {
  auto self = std::static_pointer_cast<C2sSession>(shared_from_this());
  executor().post([self] {
    if (!self->transportClosed_) self->pruneUnsent();
    // A phone in the background sends nothing for minutes: it needs no XML parser meanwhile.
    constexpr auto kIdle = std::chrono::seconds(3);
    if (!self->ended_ && std::chrono::steady_clock::now() - self->stream_.lastActivity() >= kIdle &&
        self->stream_.releaseIdleMemory())
      log::trace("c2s.idle.parser_released", "sid={}", self->id());
  });
}

void C2sSession::close(StreamError error, std::string text) {
  auto self = std::static_pointer_cast<C2sSession>(shared_from_this());
  executor().post([self, error, text = std::move(text)] {
    if (self->hibernated_)
      self->finish(text.empty() ? std::string_view("closed while hibernated") : std::string_view(text));
    else
      self->stream_.closeWithError(error, text);
  });
}

void C2sSession::terminate() {
  auto self = std::static_pointer_cast<C2sSession>(shared_from_this());
  executor().post([self] {
    if (self->hibernated_) self->finish("terminated while hibernated");
  });
}

void C2sSession::onBackpressure(bool paused) {
  backpressured_ = paused;
  if (paused)
    stream_.pauseInput();
  else
    stream_.resumeInput();
}

void C2sSession::onTransportClosed() {
  transportClosed_ = true;
  settleUnsent();
  releaseConnection();
}

void C2sSession::releaseConnection() {
  if (connectionReleased_ || !ended_ || !transportClosed_) return;
  connectionReleased_ = true;
  server_.removeConnection(id());
}

void C2sSession::releaseAddress() {
  if (addressReleased_) return;
  addressReleased_ = true;
  server_.addressLimiter().release(remoteIp_, authenticated_);
}

void C2sSession::countSession(bool bound) {
  if (bound == sessionCounted_ || !sessionsGauge_) return;
  sessionCounted_ = bound;
  if (bound)
    sessionsGauge_->inc();
  else
    sessionsGauge_->dec();
}

void C2sSession::onStreamEnded(std::string_view reason, bool lost) {
  if (connectionsGauge_ && !connectionCounted_) {
    connectionCounted_ = true;  // the transport is gone (once per stream)
    connectionsGauge_->dec();
  }
  if (ended_ || hibernated_) return;
  throttleTimer_.reset();
  if (superseded_) {
    // Closed because the session was resumed elsewhere: nothing to announce.
    ended_ = true;
    releaseAddress();
    releaseConnection();
    return;
  }
  if (bound_ && lost && !server_.stopping()) {
    hooks::SessionInterrupted::Context ctx{*this, reason};
    if (server_.hooks().run<hooks::SessionInterrupted>(ctx) == hooks::Action::Stop &&
        ctx.keepFor.count() > 0) {
      hibernated_ = true;
      releaseAddress();  // the connection is gone; the session stays in the registry for shutdown
      log::info("c2s.hibernated", "sid={} jid={} peer={} reason=\"{}\" keep_s={}", id(), jid().str(),
                remoteIp_, reason, ctx.keepFor.count());
      auto weak = weak_from_this();
      hibernationTimer_ = std::make_unique<runtime::Timer>(executor(), ctx.keepFor, [weak] {
        if (auto self = std::static_pointer_cast<C2sSession>(weak.lock()); self && self->hibernated_)
          self->finish("resumption timeout");
      });
      return;
    }
  }
  finish(reason);
}

void C2sSession::finish(std::string_view reason) {
  if (ended_) return;
  ended_ = true;
  countSession(false);
  hibernated_ = false;
  hibernationTimer_.reset();
  throttleTimer_.reset();
  log::info("c2s.closed", "sid={} jid={} peer={} reason=\"{}\"", id(),
            bound_ ? jid().str() : std::string("-"), remoteIp_, reason);
  if (bound_) {
    // The status of an explicit unavailable presence, else that of the last available one.
    std::string status = presence().goneStatus;
    if (presence().available && presence().last)
      status = presence().last->childText("status", "jabber:client");
    server_.presence().sessionEnded(*this, status);
    const bool last = server_.sessions().unbind(*this);
    hooks::SessionClosed::Context ctx{*this, last, status, false};
    server_.hooks().run<hooks::SessionClosed>(ctx);
    if (ctx.unacknowledgedHandedBack) {
      unsentSettled_ = true;  // XEP-0198 handed back a superset of the journal
      unsent_.clear();
      unsentHead_ = 0;
    }
  } else if (!jid().empty() && binding_) {
    server_.sessions().unbind(*this);
  }
  settleUnsent();                                               // written before anything in pending_ arrived
  for (auto& stanza : pending_) deliverNow(std::move(stanza));  // ended: handed back to routing
  pending_.clear();
  releaseAddress();
  releaseConnection();
}

// --- XEP-0198 resumption --------------------------------------------------------------------------

void C2sSession::resumeFrom(const session::SessionPtr& old, std::function<void(bool)> done) {
  auto previous = std::dynamic_pointer_cast<C2sSession>(old);
  if (!previous || previous.get() == this || bound_ || resuming_ || ended_) {
    done(false);
    return;
  }
  resuming_ = true;
  stream_.holdInput();      // nothing from the client is processed until the session is in place
  setJid(previous->jid());  // fixed once bound; the manager reads it as soon as we replace `previous`
  auto self = std::static_pointer_cast<C2sSession>(shared_from_this());
  previous->executor().post(
      [previous, self, done = std::move(done)]() mutable { previous->handOver(self, std::move(done)); });
}

void C2sSession::handOver(const std::shared_ptr<C2sSession>& successor, std::function<void(bool)> done) {
  if (ended_ || superseded_ || !bound_) {
    successor->executor().post([successor, done = std::move(done)]() mutable {
      successor->adopt(Inheritance{}, 0, std::move(done));
    });
    return;
  }
  superseded_ = true;
  countSession(false);
  successor_ = successor;
  // XEP-0198 state (every unacknowledged stanza) moves to the successor, which replays it.
  unsentSettled_ = true;
  unsent_.clear();
  unsentHead_ = 0;
  hibernationTimer_.reset();
  throttleTimer_.reset();
  auto inheritance = bequeath();
  const bool replaced = server_.sessions().replace(*this, successor);
  log::info("c2s.resumed_elsewhere", "sid={} jid={} new_sid={} was_hibernated={}", id(), jid().str(),
            successor->id(), hibernated_);
  if (hibernated_) {
    hibernated_ = false;
    ended_ = true;
    releaseConnection();
  } else {
    // XEP-0198 §5: a resumption while the old connection is still open closes the old one.
    stream_.closeWithError(StreamError::Conflict, "the session was resumed on another connection");
  }
  if (!replaced) inheritance = Inheritance{};
  const auto previousId = id();
  successor->executor().post(
      [successor, inheritance = std::move(inheritance), previousId, done = std::move(done)]() mutable {
        successor->adopt(std::move(inheritance), previousId, std::move(done));
      });
}

void C2sSession::adopt(Inheritance from, std::uint64_t previousId, std::function<void(bool)> done) {
  resuming_ = false;
  if (from.jid.empty()) {  // the old session ended before it could be handed over
    setJid(xmpp::Jid());
    done(false);
    for (auto& stanza : pending_) deliverNow(std::move(stanza));
    pending_.clear();
    if (!ended_) stream_.releaseInput();
    return;
  }
  if (ended_) {
    // This connection died during the handover, but the manager already points here: end the
    // inherited session properly (unavailable presence, queued stanzas back to routing).
    inherit(std::move(from));
    bound_ = true;
    ended_ = false;
    done(false);
    finish("connection lost while resuming");
    return;
  }
  inherit(std::move(from));
  bound_ = true;
  countSession(true);
  stream_.established();
  log::info("c2s.resumed", "sid={} jid={} peer={} previous_sid={}", id(), jid().str(), remoteIp_, previousId);
  // Modules move their per-session state before the client is told: once it reads <resumed/> it may
  // make others send to it, and their stanzas must find the device active (no push, carbons moved).
  hooks::SessionResumed::Context ctx{*this, previousId};
  server_.hooks().run<hooks::SessionResumed>(ctx);
  done(true);  // stream management answers <resumed/> and replays its queue
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& stanza : pending) deliverNow(std::move(stanza));
  stream_.releaseInput();
}

}  // namespace parley::c2s
