// XEP-0012 last activity. To the server: its uptime (§5). To an account: 0 seconds while it has an
// available resource, otherwise the time since its last resource went offline, with the status text of
// that last unavailable presence (§4). Only the account itself and contacts it lets see its presence
// may ask (§4: "subscription from or both"), others get <forbidden/>.
//
// DESIGN: logins and logouts (SessionBound, SessionClosed) are written behind by ActivityWriter: one
// transaction on the blocking pool for everything recorded while the previous one was being written,
// so a burst of logins costs a few transactions rather than two per login, and nothing replies to the
// network thread. A change stays visible in memory until its transaction committed, and lookups look
// there before storage, so they never miss one. While the account is online the cached roster
// snapshot answers the permission question without storage; otherwise one pool job reads existence,
// the requester's roster item and the last logout together.
#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/util/time.h"
#include "server/xml/namespaces.h"
#include "storage/account_store.h"
#include "storage/roster_store.h"

namespace parley::xep::last {

namespace {

const std::string kNs(xml::ns::kLast);

xml::ElementPtr lastQuery(std::int64_t seconds, std::string_view status = {}) {
  auto q = xml::make("query", kNs);
  q->setAttr("seconds", std::to_string(std::max<std::int64_t>(0, seconds)));
  if (!status.empty()) q->addText(status);
  return q;
}

struct Lookup {
  bool exists = false;
  bool allowed = false;
  std::optional<storage::LastActivity> last;
};

// Pending login and logout times per account, written in batches (see DESIGN).
class ActivityWriter : public std::enable_shared_from_this<ActivityWriter> {
 public:
  explicit ActivityWriter(core::Server& server) : server_(server) {}

  void login(const xmpp::Jid& user, std::int64_t when) {
    std::lock_guard lock(mu_);
    auto& c = pending_[user.bareStr()];
    c.user = user;
    c.login = when;
    scheduleLocked();
  }
  void logout(const xmpp::Jid& user, storage::LastActivity last) {
    std::lock_guard lock(mu_);
    auto& c = pending_[user.bareStr()];
    c.user = user;
    c.logout = std::move(last);
    scheduleLocked();
  }
  // The newest logout not yet committed, if any.
  std::optional<storage::LastActivity> uncommittedLogout(const std::string& bare) {
    std::lock_guard lock(mu_);
    for (const auto* m : {&pending_, &writing_})
      if (auto it = m->find(bare); it != m->end() && it->second.logout) return it->second.logout;
    return std::nullopt;
  }
  // Shutdown, before the pool drains: what a full queue left unscheduled gets written too.
  void flush() {
    std::lock_guard lock(mu_);
    scheduleLocked();
  }

 private:
  struct Change {
    xmpp::Jid user;  // bare
    std::optional<std::int64_t> login;
    std::optional<storage::LastActivity> logout;
  };

  void scheduleLocked() {
    if (scheduled_ || pending_.empty()) return;
    scheduled_ = server_.pool().submit([self = shared_from_this()] { self->drain(); });
    if (!scheduled_)
      log::warn("last.record.deferred", "accounts={} (blocking pool queue full)", pending_.size());
  }

  // Pool thread; one drain at a time (scheduled_ stays set until the last one ends).
  void drain() {
    while (true) {
      {
        std::lock_guard lock(mu_);
        writing_ = std::move(pending_);
        pending_.clear();
      }
      try {
        server_.db().transaction([&](storage::Connection&) {
          storage::AccountStore store(server_.db());
          for (const auto& [bare, c] : writing_) {
            if (c.login) store.setLastLogin(c.user.domain(), c.user.local(), *c.login);
            if (c.logout) store.setLastLogout(c.user.domain(), c.user.local(), *c.logout);
          }
        });
      } catch (const std::exception& e) {
        log::warn("last.record.failed", "accounts={} error=\"{}\"", writing_.size(), e.what());
      }
      std::lock_guard lock(mu_);
      writing_.clear();
      if (pending_.empty()) {
        scheduled_ = false;
        return;
      }
      // More came in meanwhile: let other jobs of this worker run first, unless the pool is stopping.
      if (server_.pool().submit([self = shared_from_this()] { self->drain(); })) return;
    }
  }

  core::Server& server_;
  std::mutex mu_;
  std::unordered_map<std::string, Change> pending_;  // recorded, not written yet
  std::unordered_map<std::string, Change> writing_;  // in the transaction being written
  bool scheduled_ = false;
};

class LastModule final : public module::Module {
 public:
  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    startedAt_ = util::unixNow();
    ctx.feature(module::DiscoScope::Server, kNs);
    ctx.feature(module::DiscoScope::Account, kNs);
    ctx.iq(router::IqScope::Server, "get", kNs, "query",
           [this](const router::IqRequest& req) { req.result(lastQuery(util::unixNow() - startedAt_)); });
    ctx.iq(router::IqScope::Account, "get", kNs, "query",
           [this](const router::IqRequest& req) { account(req); });
    writer_ = std::make_shared<ActivityWriter>(*server_);
    ctx.hook<hooks::SessionBound>([this](hooks::SessionBound::Context& c) {
      writer_->login(c.session.jid().bare(), util::unixNow());
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionClosed>([this](hooks::SessionClosed::Context& c) {
      if (c.lastResource) writer_->logout(c.session.jid().bare(), {util::unixNow(), c.status});
      return hooks::Action::Continue;
    });
  }

  void stop() override {
    if (writer_) writer_->flush();
  }

 private:
  void account(const router::IqRequest& req) {
    auto& server = *server_;
    const auto target = req.target;
    const auto requester = req.stanza->from().bare().bareStr();
    const bool self = req.fromSelf();
    auto answer = [req, target, &server](bool allowed, const std::optional<storage::LastActivity>& last) {
      if (!allowed) {
        req.error(xmpp::StanzaError::Forbidden);
        return;
      }
      for (const auto& r : server.sessions().resources(target))
        if (r.available) {
          req.result(lastQuery(0));  // §4: online now
          return;
        }
      if (!last) {
        req.error(xmpp::StanzaError::ItemNotFound);  // never logged out (or never logged in)
        return;
      }
      req.result(lastQuery(util::unixNow() - last->when, last->status));
    };
    // While the account is online its roster snapshot says who may see its presence.
    std::optional<bool> allowed;
    if (self) {
      allowed = true;
    } else if (auto roster = server.sessions().roster(target)) {
      allowed = roster->contactSubscribedToUs(requester);
    }
    if (allowed && !*allowed) {
      req.error(xmpp::StanzaError::Forbidden);
      return;
    }
    if (allowed && server.sessions().hasSessions(target)) {
      bool available = false;
      for (const auto& r : server.sessions().resources(target)) available = available || r.available;
      if (available) {
        req.result(lastQuery(0));
        return;
      }
    }
    runtime::offload(
        server.pool(), runtime::Executor::current(), target.bareStr(),
        [&server, writer = writer_, target, requester, allowed] {
          Lookup l;
          storage::AccountStore accounts(server.db());
          l.exists = accounts.exists(target.domain(), target.local());
          if (!l.exists) return l;
          if (allowed) {
            l.allowed = *allowed;
          } else {
            auto item = storage::RosterStore(server.db()).get(target.domain(), target.local(), requester);
            l.allowed = item && (item->subscription == storage::Subscription::From ||
                                 item->subscription == storage::Subscription::Both);
          }
          if (l.allowed) {
            // Memory first: a change that is not there any more has been committed.
            l.last = writer->uncommittedLogout(target.bareStr());
            if (!l.last) l.last = accounts.lastLogout(target.domain(), target.local());
          }
          return l;
        },
        [req, answer](runtime::Outcome<Lookup> out) {
          if (!out.ok()) {
            log::warn("last.lookup.failed", "user={} error=\"{}\"", req.target.bareStr(), out.error);
            req.error(xmpp::StanzaError::InternalServerError);
          } else if (!out.value->exists) {
            req.error(xmpp::StanzaError::ServiceUnavailable);  // RFC 6121 §8.5.1: no such account
          } else {
            answer(out.value->allowed, out.value->last);
          }
        });
  }

  core::Server* server_ = nullptr;
  std::shared_ptr<ActivityWriter> writer_;
  std::int64_t startedAt_ = 0;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "last", "XEP-0012 last activity (server uptime, account last logout)", {}, true, [] {
      return std::unique_ptr<module::Module>(new LastModule);
    }};

}  // namespace parley::xep::last
