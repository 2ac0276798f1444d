// XEP-0012 last activity. To the server: its uptime (§5). To an account: 0 seconds while it has an
// available resource, otherwise the time since its last resource went offline, with the status text of
// that last unavailable presence (§4). Only the account itself and contacts it lets see its presence
// may ask (§4: "subscription from or both"), others get <forbidden/>.
//
// DESIGN: logins and logouts are recorded from the SessionBound and SessionClosed hooks on the blocking
// pool (AccountStore, keyed by the account so they are written in order; nothing replies). While the
// account is online the cached roster snapshot answers the permission question without storage;
// otherwise one pool job reads existence, the requester's roster item and the last logout together.
#include <algorithm>
#include <optional>

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
    ctx.hook<hooks::SessionBound>([this](hooks::SessionBound::Context& c) {
      record(c.session, [now = util::unixNow()](storage::AccountStore& s, const xmpp::Jid& u) {
        s.setLastLogin(u.domain(), u.local(), now);
      });
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionClosed>([this](hooks::SessionClosed::Context& c) {
      if (c.lastResource)
        record(c.session, [last = storage::LastActivity{util::unixNow(), c.status}](storage::AccountStore& s,
                                                                                    const xmpp::Jid& u) {
          s.setLastLogout(u.domain(), u.local(), last);
        });
      return hooks::Action::Continue;
    });
  }

 private:
  // Nothing waits for these writes: no answer comes back to the network thread (a wake-up saved per
  // login and logout). The account's pool key keeps them in order with its lookups; a failure is
  // logged on the pool.
  template <class Write>
  void record(session::Session& session, Write write) {
    auto& server = *server_;
    const auto user = session.jid().bare();
    const bool queued = server.pool().submit(user.bareStr(), [&server, user, write] {
      try {
        storage::AccountStore store(server.db());
        write(store, user);
      } catch (const std::exception& e) {
        log::warn("last.record.failed", "user={} error=\"{}\"", user.bareStr(), e.what());
      }
    });
    if (!queued) log::warn("last.record.failed", "user={} error=\"blocking pool queue full\"", user.bareStr());
  }

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
        [&server, target, requester, allowed] {
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
          if (l.allowed) l.last = accounts.lastLogout(target.domain(), target.local());
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
  std::int64_t startedAt_ = 0;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "last", "XEP-0012 last activity (server uptime, account last logout)", {}, true, [] {
      return std::unique_ptr<module::Module>(new LastModule);
    }};

}  // namespace parley::xep::last
