// XEP-0077 in-band registration, with invitations in the spirit of XEP-0401.
//
// DESIGN. Three things, each behind its own [modules.register] switch:
//   - account creation before authentication (`registration`, off by default): the <register/> stream
//     feature and the jabber:iq:register get/set on a stream where SASL is offered (PreAuthFeatures /
//     PreAuthIq hooks). Attempts are limited per IP address (`max_per_ip` per `window`), counted before
//     any hashing. With `invite_only`, a registration needs a token: the client presents it first with
//     the XEP-0401 <preauth xmlns='urn:xmpp:pars:0' token='…'/> IQ (remembered for that stream), or as a
//     `token` field in the registration data form. A token is single use and consumed by the
//     registration that used it, in the same storage job (tokens are serialised by their pool key).
//   - password change by the authenticated user (`allow_password_change`, XEP-0077 §3.3);
//   - account removal by the authenticated user with <remove/> (`allow_remove`, §3.2): the result is
//     sent first, then the account goes the way every deletion goes (xep/admin/account_removal.h:
//     rows, AccountRemoved hook, sessions closed with <not-authorized/>, contacts' rosters).
// Admins create tokens with the ad-hoc command urn:xmpp:invite#create-account (admins of the domain).
// Password hashing and storage run on the blocking pool.
#include <deque>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "server/core/accounts.h"
#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/util/crypto.h"
#include "server/util/time.h"
#include "server/xmpp/errors.h"
#include "storage/account_store.h"
#include "xep/adhoc/adhoc.h"
#include "xep/admin/account_removal.h"

namespace parley::xep::reg {

namespace {

constexpr std::string_view kNs = "jabber:iq:register";
constexpr std::string_view kFeatureNs = "http://jabber.org/features/iq-register";
constexpr std::string_view kPreauthNs = "urn:xmpp:pars:0";
constexpr std::string_view kDataNs = "jabber:x:data";
constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr std::size_t kMaxTokenBytes = 64;

using Clock = std::chrono::steady_clock;

xml::MutableElementPtr iqReply(const xml::Element& iq, std::string_view type) {
  auto r = xml::make("iq", "jabber:client");
  r->setAttr("type", type);
  r->setAttr("id", iq.attr("id"));
  return r;
}

xml::ElementPtr iqError(const xml::Element& iq, xmpp::StanzaError e, std::string_view text = {}) {
  auto r = iqReply(iq, "error");
  r->addChild(xmpp::makeErrorElement(e, text));
  return r;
}

// Attempts per address in a sliding window; bounded memory.
class RateLimiter {
 public:
  RateLimiter(int max, std::chrono::seconds window) : max_(max), window_(window) {}
  bool allow(const std::string& ip) {
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    auto& q = seen_[ip];
    while (!q.empty() && now - q.front() > window_) q.pop_front();
    if (static_cast<int>(q.size()) >= max_) return false;
    q.push_back(now);
    if (seen_.size() > 100000) prune(now);
    return true;
  }

 private:
  void prune(Clock::time_point now) {
    for (auto it = seen_.begin(); it != seen_.end();) {
      while (!it->second.empty() && now - it->second.front() > window_) it->second.pop_front();
      it = it->second.empty() ? seen_.erase(it) : std::next(it);
    }
  }
  std::mutex mu_;
  int max_;
  std::chrono::seconds window_;
  std::map<std::string, std::deque<Clock::time_point>> seen_;
};

struct Settings {
  bool registration = false;
  bool inviteOnly = false;
  bool allowPasswordChange = true;
  bool allowRemove = true;
  int maxPerIp = 5;
  std::int64_t window = 3600;
  std::int64_t minPasswordLength = 8;
  std::string instructions;
};

enum class RegOutcome { Ok, Exists, BadPassword, BadToken };

class RegisterModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    s_.registration = section.getBool("registration", false);
    s_.inviteOnly = section.getBool("invite_only", false);
    s_.allowPasswordChange = section.getBool("allow_password_change", true);
    s_.allowRemove = section.getBool("allow_remove", true);
    s_.maxPerIp = static_cast<int>(section.getInt("max_per_ip", 5, 1, 100000));
    s_.window = section.getInt("window", 3600, 1, 7 * 24 * 3600);
    s_.minPasswordLength = section.getInt("min_password_length", 8, 1, 1024);
    s_.instructions = section.getString(
        "instructions", "Choose a username and password to register with this server.");
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    limiter_ = std::make_unique<RateLimiter>(s_.maxPerIp, std::chrono::seconds(s_.window));
    if (s_.registration) {
      ctx.hook<hooks::PreAuthFeatures>([](hooks::PreAuthFeatures::Context& c) {
        c.features.addChild(xml::make("register", std::string(kFeatureNs)));
        return hooks::Action::Continue;
      });
      ctx.hook<hooks::PreAuthIq>([this](hooks::PreAuthIq::Context& c) { return preAuth(c); });
    }
    if (s_.allowPasswordChange || s_.allowRemove) {
      ctx.feature(module::DiscoScope::Server, std::string(kNs));
      ctx.iq(router::IqScope::Server, "get", kNs, "query", [this](const router::IqRequest& r) { registeredGet(r); });
      ctx.iq(router::IqScope::Server, "set", kNs, "query", [this](const router::IqRequest& r) { registeredSet(r); });
      // XEP-0077 §3.2/§3.3 examples carry no 'to': the IQ is then for the sender's own account.
      auto own = [this](void (RegisterModule::*fn)(const router::IqRequest&)) {
        return [this, fn](const router::IqRequest& r) {
          if (!r.fromSelf()) return r.error(xmpp::StanzaError::ServiceUnavailable);
          (this->*fn)(r);
        };
      };
      ctx.iq(router::IqScope::Account, "get", kNs, "query", own(&RegisterModule::registeredGet));
      ctx.iq(router::IqScope::Account, "set", kNs, "query", own(&RegisterModule::registeredSet));
    }
    registerInviteCommand(ctx);
  }

 private:
  // ------------------------------------------------------------------------------------------------
  // Before authentication

  hooks::Action preAuth(hooks::PreAuthIq::Context& c) {
    const xml::Element& iq = *c.iq;
    const xml::Element* payload = iq.firstChild();
    if (!payload) return hooks::Action::Continue;
    if (payload->is("preauth", kPreauthNs) && iq.attr("type") == "set") {
      preauthToken(c, *payload);
      return hooks::Action::Stop;
    }
    if (!payload->is("query", kNs)) return hooks::Action::Continue;
    if (iq.attr("type") == "get") {
      c.reply(registrationForm(iq));
      return hooks::Action::Stop;
    }
    registerAccount(c, *payload);
    return hooks::Action::Stop;
  }

  xml::ElementPtr registrationForm(const xml::Element& iq) {
    auto r = iqReply(iq, "result");
    auto q = xml::make("query", std::string(kNs));
    q->addTextChild("instructions", kNs,
                    s_.inviteOnly ? s_.instructions + " An invitation is required." : s_.instructions);
    q->addChild(xml::make("username", std::string(kNs)));
    q->addChild(xml::make("password", std::string(kNs)));
    // XEP-0077 §4: the same as a data form (XEP-0004), for clients that render forms.
    adhoc::Form form("Registration", s_.instructions);
    form.formType(std::string(kNs));
    form.add(adhoc::Field::text("username", "Username").require());
    form.add(adhoc::Field::textPrivate("password", "Password").require());
    if (s_.inviteOnly) form.add(adhoc::Field::text("token", "Invitation token").require());
    q->addChild(form.toXml("form"));
    r->addChild(q);
    return r;
  }

  void preauthToken(hooks::PreAuthIq::Context& c, const xml::Element& preauth) {
    std::string token(preauth.attr("token"));
    if (token.empty() || token.size() > kMaxTokenBytes) {
      c.reply(iqError(*c.iq, xmpp::StanzaError::BadRequest, "a token is required"));
      return;
    }
    if (!limiter_->allow(std::string(c.remoteAddress))) {
      c.reply(iqError(*c.iq, xmpp::StanzaError::ResourceConstraint, "too many attempts from this address"));
      return;
    }
    auto& db = server_->db();
    std::string domain(c.domain), streamId(c.streamId);
    auto reply = c.reply;
    auto iq = c.iq;
    runtime::offload(
        server_->pool(), runtime::Executor::current(), "invite:" + token,
        [&db, domain, token] { return tokenValid(db, domain, token); },
        [this, reply, iq, streamId, token](runtime::Outcome<bool> out) {
          if (!out.ok()) return reply(iqError(*iq, xmpp::StanzaError::InternalServerError));
          if (!*out.value)
            return reply(iqError(*iq, xmpp::StanzaError::ItemNotFound, "unknown or expired invitation"));
          {
            std::lock_guard lock(mu_);
            if (preauth_.size() > 10000) preauth_.clear();
            preauth_[streamId] = token;
          }
          reply(iqReply(*iq, "result"));
        });
  }

  void registerAccount(hooks::PreAuthIq::Context& c, const xml::Element& query) {
    const xml::Element& iq = *c.iq;
    std::string username, password, token;
    // Data form first (XEP-0077 §4), then the legacy fields.
    if (const xml::Element* x = query.child("x", kDataNs)) {
      for (const auto& f : x->childrenNamed("field", kDataNs)) {
        auto var = f->attr("var");
        std::string v = f->childText("value", kDataNs);
        if (var == "username") username = v;
        else if (var == "password") password = v;
        else if (var == "token") token = v;
      }
    } else {
      username = query.childText("username", kNs);
      password = query.childText("password", kNs);
    }
    if (query.child("remove", kNs)) {
      c.reply(iqError(iq, xmpp::StanzaError::NotAuthorized, "log in to remove your account"));
      return;
    }
    if (username.empty() || password.empty()) {
      // §3.1: the required fields were not all provided.
      c.reply(iqError(iq, xmpp::StanzaError::NotAcceptable, "username and password are required"));
      return;
    }
    auto local = xmpp::Jid::prepLocal(username);
    auto jid = local ? xmpp::Jid::fromParts(*local, c.domain) : std::nullopt;
    if (!jid || jid->local().empty()) {
      c.reply(iqError(iq, xmpp::StanzaError::JidMalformed, "the username is not allowed"));
      return;
    }
    if (password.size() > kMaxPasswordBytes ||
        static_cast<std::int64_t>(password.size()) < s_.minPasswordLength) {
      c.reply(iqError(iq, xmpp::StanzaError::NotAcceptable,
                      fmt::format("the password needs {} to {} bytes", s_.minPasswordLength, kMaxPasswordBytes)));
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (token.empty()) {
        auto it = preauth_.find(std::string(c.streamId));
        if (it != preauth_.end()) token = it->second;
      }
    }
    if (s_.inviteOnly && token.empty()) {
      c.reply(iqError(iq, xmpp::StanzaError::NotAllowed, "registration needs an invitation"));
      return;
    }
    if (token.size() > kMaxTokenBytes) {
      c.reply(iqError(iq, xmpp::StanzaError::ItemNotFound, "unknown or expired invitation"));
      return;
    }
    // Counted before any hashing: the limit protects the blocking pool too.
    if (!limiter_->allow(std::string(c.remoteAddress))) {
      log::info("register.rate_limited", "ip={}", c.remoteAddress);
      c.reply(iqError(iq, xmpp::StanzaError::ResourceConstraint, "too many registrations from this address"));
      return;
    }
    auto& db = server_->db();
    const std::uint32_t iterations = server_->config().auth.scramIterations;
    auto reply = c.reply;
    auto iqPtr = c.iq;
    std::string ip(c.remoteAddress), streamId(c.streamId);
    auto account = *jid;
    runtime::offload(
        server_->pool(), runtime::Executor::current(), token.empty() ? account.bareStr() : "invite:" + token,
        [&db, account, password, token, iterations] {
          if (!token.empty() && !tokenValid(db, account.domain(), token)) return RegOutcome::BadToken;
          switch (core::createAccount(db, account, password, iterations)) {
            case core::AccountResult::Ok: break;
            case core::AccountResult::Exists: return RegOutcome::Exists;
            default: return RegOutcome::BadPassword;
          }
          if (!token.empty())
            db.connection().execute("DELETE FROM invite_tokens WHERE domain = ? AND token = ?",
                                    {account.domain(), token});
          return RegOutcome::Ok;
        },
        [this, reply, iqPtr, account, ip, streamId, invited = !token.empty()](runtime::Outcome<RegOutcome> out) {
          if (!out.ok()) return reply(iqError(*iqPtr, xmpp::StanzaError::InternalServerError));
          switch (*out.value) {
            case RegOutcome::Ok: {
              {
                std::lock_guard lock(mu_);
                preauth_.erase(streamId);
              }
              log::info("register.created", "jid={} ip={} invited={}", account.bareStr(), ip, invited);
              return reply(iqReply(*iqPtr, "result"));
            }
            case RegOutcome::Exists:
              return reply(iqError(*iqPtr, xmpp::StanzaError::Conflict, "the username is taken"));  // §3.1
            case RegOutcome::BadToken:
              return reply(iqError(*iqPtr, xmpp::StanzaError::ItemNotFound, "unknown or expired invitation"));
            case RegOutcome::BadPassword:
              return reply(iqError(*iqPtr, xmpp::StanzaError::NotAcceptable, "the password is not allowed"));
          }
        });
  }

  // Blocking.
  static bool tokenValid(storage::Database& db, const std::string& domain, const std::string& token) {
    auto rows = db.connection().query("SELECT expires_at FROM invite_tokens WHERE domain = ? AND token = ?",
                                      {domain, token});
    return !rows.empty() && rows.front().getInt(0) > util::unixNow();
  }

  // ------------------------------------------------------------------------------------------------
  // Authenticated users

  void registeredGet(const router::IqRequest& req) {
    const auto& from = req.stanza->from();
    if (from.local().empty() || from.domain() != req.target.domain()) {
      req.error(xmpp::StanzaError::NotAllowed, "only accounts of this server");
      return;
    }
    // §3.2.x: already registered.
    auto q = xml::make("query", std::string(kNs));
    q->addChild(xml::make("registered", std::string(kNs)));
    q->addTextChild("username", kNs, from.local());
    q->addChild(xml::make("password", std::string(kNs)));
    req.result(q);
  }

  void registeredSet(const router::IqRequest& req) {
    const auto& from = req.stanza->from();
    if (from.local().empty() || from.domain() != req.target.domain()) {
      req.error(xmpp::StanzaError::NotAllowed, "only accounts of this server");
      return;
    }
    const auto& query = req.payload();
    const xmpp::Jid account = from.bare();
    if (query.child("remove", kNs)) {
      if (!s_.allowRemove) {
        req.error(xmpp::StanzaError::NotAllowed, "account removal is disabled on this server");
        return;
      }
      // §3.2: the result goes out before the stream is closed.
      req.result();
      log::info("register.removed", "jid={}", account.bareStr());
      admin::removeAccount(*server_, runtime::Executor::current(), account, [account](bool, const std::string& e) {
        if (!e.empty()) log::warn("register.remove_failed", "jid={} error=\"{}\"", account.bareStr(), e);
      });
      return;
    }
    if (!s_.allowPasswordChange) {
      req.error(xmpp::StanzaError::NotAllowed, "password change is disabled on this server");
      return;
    }
    std::string username = query.childText("username", kNs);
    std::string password = query.childText("password", kNs);
    // §3.3: the username must be the user's own.
    auto local = xmpp::Jid::prepLocal(username);
    if (username.empty() || password.empty()) {
      req.error(xmpp::StanzaError::BadRequest, "username and password are required");
      return;
    }
    if (!local || *local != account.local()) {
      req.error(xmpp::StanzaError::NotAuthorized, "you can only change your own password");
      return;
    }
    if (password.size() > kMaxPasswordBytes || static_cast<std::int64_t>(password.size()) < s_.minPasswordLength) {
      req.error(xmpp::StanzaError::NotAcceptable,
                fmt::format("the password needs {} to {} bytes", s_.minPasswordLength, kMaxPasswordBytes));
      return;
    }
    auto& db = server_->db();
    const std::uint32_t iterations = server_->config().auth.scramIterations;
    runtime::offload(
        server_->pool(), runtime::Executor::current(), account.bareStr(),
        [&db, account, password, iterations] { return core::setPassword(db, account, password, iterations); },
        [req, account](runtime::Outcome<core::AccountResult> out) {
          if (!out.ok()) return req.error(xmpp::StanzaError::InternalServerError);
          if (*out.value == core::AccountResult::Ok) {
            log::info("register.password_changed", "jid={}", account.bareStr());
            return req.result();
          }
          req.error(xmpp::StanzaError::NotAcceptable, "the password is not allowed");
        });
  }

  // ------------------------------------------------------------------------------------------------
  // Invitations (admins)

  void registerInviteCommand(module::ModuleContext& ctx) {
    adhoc::Form form("Creating an invitation",
                     "Creates a single-use token that lets one person register an account.");
    form.add(adhoc::Field::listSingle("expires", "Valid for",
                                      {{"1 day", "86400"}, {"7 days", "604800"}, {"30 days", "2592000"}})
                 .value("604800"));
    ctx.keep(adhoc::registry(ctx.server())
                 .add({.node = "urn:xmpp:invite#create-account",
                       .name = "Create an invitation to register",
                       .service = "",
                       .mayRun = adhoc::adminOfDomain,
                       .handler = [this, form](const adhoc::Request& req) {
                         if (req.stage() == 0) return req.reply(adhoc::Response::showForm(form));
                         auto v = req.parse(form);
                         if (!v) return;
                         std::int64_t ttl = v->has("expires") ? std::stoll(v->text("expires")) : 604800;
                         createInvite(req, ttl);
                       }}));
  }

  void createInvite(const adhoc::Request& req, std::int64_t ttl) {
    auto& db = server_->db();
    const std::string domain = req.service().domain();
    const std::string by = req.from().bareStr();
    const std::string token = util::randomToken(24);
    const std::int64_t now = util::unixNow();
    runtime::offload(
        server_->pool(), req.executor(), "invite:" + token,
        [&db, domain, by, token, now, ttl] {
          auto& c = db.connection();
          c.execute("DELETE FROM invite_tokens WHERE domain = ? AND expires_at <= ?", {domain, now});
          c.execute("INSERT INTO invite_tokens (domain, token, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                    {domain, token, by, now, now + ttl});
          return true;
        },
        [this, req, domain, token, now, ttl](runtime::Outcome<bool> out) {
          if (!out.ok()) return req.reply(adhoc::Response::fail(adhoc::Error::InternalServerError, "storage failure"));
          log::info("register.invite_created", "by={} domain={}", req.from().bareStr(), domain);
          adhoc::Form result("Invitation");
          result.add(adhoc::Field::text("token", "Token").value(token));
          // XEP-0401 §4: the URI a client opens to register with it.
          result.add(adhoc::Field::text("uri", "Registration URI").value(fmt::format("xmpp:{}?register;preauth={}", domain, token)));
          result.add(adhoc::Field::text("expires", "Expires").value(util::iso8601(now + ttl)));
          std::string note = "Invitation created";
          if (!s_.registration) note += " (registration is off on this server: [modules.register] registration)";
          req.reply(adhoc::Response::done(note, result.toXml("result")));
        });
  }

  Settings s_;
  core::Server* server_ = nullptr;
  std::unique_ptr<RateLimiter> limiter_;
  std::mutex mu_;
  std::map<std::string, std::string> preauth_;  // stream id -> token presented with <preauth/>
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"register", "XEP-0077 in-band registration, password change and account removal",
                                 {"adhoc"}, true, [] { return std::unique_ptr<module::Module>(new RegisterModule); }};

}  // namespace parley::xep::reg
