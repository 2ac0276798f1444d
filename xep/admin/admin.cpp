// XEP-0133 service administration over XEP-0050 ad-hoc commands (xep/adhoc), the message of the day,
// and the account-removal journal written by `parleyctl user del`.
//
// DESIGN. Every command is registered on the server's domains with adhoc::adminOfDomain: the caller's
// bare JID is in [server] admins and belongs to the domain the command is addressed to; the accounts a
// command names must belong to that domain too (forbidden otherwise). Storage and password hashing run
// on the blocking pool (keyed by the account's bare JID, so they are ordered with the account's other
// writes); sessions are ended on their own threads. The MOTD of each domain is cached in memory (loaded
// at start, replaced by set/edit/delete) and delivered, as a headline from the domain, to a session's
// first available presence when the account has not seen that MOTD version yet (motd_seen), so each
// user gets each MOTD once. The journal poller turns rows of account_removals (deletions made by
// parleyctl on storage directly) into the same AccountRemoved hook, session closing and roster clean-up
// as a deletion through the server (account_removal.h).
#include <map>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "server/core/accounts.h"
#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/util/time.h"
#include "server/xmpp/errors.h"
#include "storage/account_store.h"
#include "storage/roster_store.h"
#include "xep/adhoc/adhoc.h"
#include "xep/admin/account_removal.h"

namespace parley::xep::admin {

namespace {

using adhoc::Field;
using adhoc::Form;
using adhoc::Request;
using adhoc::Response;
using adhoc::Values;

constexpr std::string_view kAdminNs = "http://jabber.org/protocol/admin";

std::string node(std::string_view name) {
  return fmt::format("{}#{}", kAdminNs, name);
}

Form adminForm(std::string title, std::string instructions = {}) {
  Form f(std::move(title), std::move(instructions));
  f.formType(std::string(kAdminNs));
  return f;
}

struct Motd {
  std::int64_t version = 0;
  std::string subject, body;
};

// Runs `work` on the blocking pool and `then(value)` back on the request's thread; a storage failure
// answers internal-server-error.
template <class Work, class Then>
void blockingStep(const Request& req, std::string key, Work work, Then then) {
  runtime::offload(req.server().pool(), req.executor(), key, std::move(work),
                   [req, then = std::move(then)](auto out) mutable {
                     if (!out.ok()) {
                       log::warn("admin.storage.failed", "node={} error=\"{}\"", req.node(), out.error);
                       req.reply(Response::fail(adhoc::Error::InternalServerError, "storage failure", true));
                       return;
                     }
                     then(std::move(*out.value));
                   });
}

// The accounts a command names must be accounts (bare, with a local part) of the command's domain.
std::optional<std::string> checkAccounts(const Request& req, const std::vector<xmpp::Jid>& jids,
                                         bool allowFull = false) {
  for (const auto& j : jids) {
    if (j.local().empty() || (!allowFull && !j.isBare()))
      return fmt::format("'{}' is not an account JID (user@{})", j.str(), req.service().domain());
    if (j.domain() != req.service().domain())
      return fmt::format("'{}' is not an account of {}", j.str(), req.service().domain());
  }
  return std::nullopt;
}

class AdminModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    journalInterval_ = section.getInt("journal_interval", 2, 1, 3600);
    maxAnnouncementBytes_ = static_cast<std::size_t>(section.getInt("max_announcement_size", 16384, 1, 1 << 20));
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    auto& server = ctx.server();
    ctx.feature(module::DiscoScope::Server, std::string(kAdminNs));
    registerCommands(ctx);
    loadMotds();
    ctx.hook<hooks::UserAvailable>([this](hooks::UserAvailable::Context& c) {
      if (c.initial) maybeSendMotd(c.session.shared_from_this());
      return hooks::Action::Continue;
    });
    // The journal of deletions made outside the server.
    auto exec = server.io().executor(0);
    poller_ = std::make_shared<Poller>(*this, exec);
    exec.post([p = poller_] { p->arm(); });
    ctx.keep(std::shared_ptr<void>(nullptr, [p = poller_](void*) { p->stop(); }));
  }

 private:
  // ------------------------------------------------------------------------------------------------
  // Command plumbing: a form stage (unless `immediate`), then `run` with the validated values.
  using Run = std::function<void(const Request&, const Values&)>;
  void add(module::ModuleContext& ctx, std::string name, std::string label, std::optional<Form> form, Run run) {
    auto f = std::make_shared<std::optional<Form>>(std::move(form));
    ctx.keep(adhoc::registry(ctx.server())
                 .add({.node = node(name),
                       .name = std::move(label),
                       .service = "",
                       .mayRun = adhoc::adminOfDomain,
                       .handler = [f, run = std::move(run)](const Request& req) {
                         if (!*f) return run(req, Values{});
                         if (req.stage() == 0) return req.reply(Response::showForm(**f));
                         auto values = req.parse(**f);
                         if (!values) return;
                         run(req, *values);
                       }}));
  }

  void registerCommands(module::ModuleContext& ctx) {
    const std::uint32_t iterations = ctx.server().config().auth.scramIterations;

    // §4.1 Add User
    {
      Form f = adminForm("Adding a User", "Fill out this form to add a user.");
      f.add(Field::jidSingle("accountjid", "The Jabber ID for the account to be added").require());
      f.add(Field::textPrivate("password", "The password for this account").require().limit(1024));
      f.add(Field::textPrivate("password-verify", "Retype password").require().limit(1024));
      f.add(Field::text("email", "Email address"));
      f.add(Field::text("given_name", "Given name"));
      f.add(Field::text("surname", "Family name"));
      add(ctx, "add-user", "Add a User", f, [iterations](const Request& req, const Values& v) {
        auto jid = *v.jid("accountjid");
        if (auto bad = checkAccounts(req, {jid})) return req.reply(Response::fail(adhoc::Error::BadPayload, *bad));
        if (v.text("password") != v.text("password-verify"))
          return req.reply(Response::fail(adhoc::Error::BadPayload, "The passwords do not match"));
        auto& db = req.server().db();
        auto password = v.text("password");
        blockingStep(
            req, jid.bareStr(), [&db, jid, password, iterations] {
              return core::createAccount(db, jid, password, iterations);
            },
            [req, jid](core::AccountResult r) {
              switch (r) {
                case core::AccountResult::Ok:
                  log::info("admin.user.added", "by={} jid={}", req.from().bareStr(), jid.bareStr());
                  return req.reply(Response::done("User " + jid.bareStr() + " added"));
                case core::AccountResult::Exists:
                  return req.reply(Response::failed("User " + jid.bareStr() + " already exists"));
                case core::AccountResult::BadPassword:
                  return req.reply(Response::fail(adhoc::Error::BadPayload,
                                                  "The password is empty or has characters SASLprep forbids"));
                case core::AccountResult::NotFound:
                  break;
              }
              req.reply(Response::fail(adhoc::Error::InternalServerError));
            });
      });
    }

    // §4.2 Delete User
    {
      Form f = adminForm("Deleting a User", "Fill out this form to delete a user.");
      f.add(Field::jidMulti("accountjids", "The Jabber ID(s) to delete").require().describe(
          "Deletes the account and everything stored for it; its sessions are ended."));
      add(ctx, "delete-user", "Delete a User", f, [this](const Request& req, const Values& v) {
        auto jids = v.jids("accountjids");
        if (auto bad = checkAccounts(req, jids)) return req.reply(Response::fail(adhoc::Error::BadPayload, *bad));
        struct Tally {
          std::size_t pending;
          std::vector<std::string> deleted, missing, failed;
        };
        auto tally = std::make_shared<Tally>(Tally{jids.size(), {}, {}, {}});
        for (const auto& j : jids) {
          removeAccount(*server_, req.executor(), j, [req, tally, j](bool found, const std::string& error) {
            if (!error.empty())
              tally->failed.push_back(j.bareStr());
            else if (found)
              tally->deleted.push_back(j.bareStr());
            else
              tally->missing.push_back(j.bareStr());
            if (--tally->pending) return;
            log::info("admin.user.deleted", "by={} count={}", req.from().bareStr(), tally->deleted.size());
            req.reply(summary("Deleted", tally->deleted, tally->missing, tally->failed));
          });
        }
      });
    }

    // §4.3 Disable User, §4.4 Re-Enable User
    for (bool disable : {true, false}) {
      Form f = disable ? adminForm("Disabling a User", "Fill out this form to disable a user.")
                       : adminForm("Re-Enabling a User", "Fill out this form to re-enable a user.");
      f.add(Field::jidMulti("accountjids", disable ? "The Jabber ID(s) to disable" : "The Jabber ID(s) to re-enable")
                .require());
      add(ctx, disable ? "disable-user" : "reenable-user", disable ? "Disable a User" : "Re-Enable a User", f,
          [this, disable](const Request& req, const Values& v) {
            auto jids = v.jids("accountjids");
            if (auto bad = checkAccounts(req, jids))
              return req.reply(Response::fail(adhoc::Error::BadPayload, *bad));
            auto& db = req.server().db();
            blockingStep(
                req, {}, [&db, jids, disable] {
                  std::pair<std::vector<std::string>, std::vector<std::string>> r;  // done, missing
                  storage::AccountStore store(db);
                  for (const auto& j : jids)
                    (store.setDisabled(j.domain(), j.local(), disable) ? r.first : r.second).push_back(j.bareStr());
                  return r;
                },
                [this, req, disable](std::pair<std::vector<std::string>, std::vector<std::string>> r) {
                  if (disable) {
                    // Live sessions end now (RFC 6120 §4.9.3.12); new logins get SASL <account-disabled/>.
                    for (const auto& j : r.first)
                      if (auto jid = xmpp::Jid::parse(j))
                        closeSessions(*server_, *jid, xmpp::StreamError::NotAuthorized, "account disabled");
                  }
                  log::info(disable ? "admin.user.disabled" : "admin.user.reenabled", "by={} count={}",
                            req.from().bareStr(), r.first.size());
                  req.reply(summary(disable ? "Disabled" : "Re-enabled", r.first, r.second, {}));
                });
          });
    }

    // §4.6 Change User Password
    {
      Form f = adminForm("Changing a User Password", "Fill out this form to change a user's password.");
      f.add(Field::jidSingle("accountjid", "The Jabber ID for this account").require());
      f.add(Field::textPrivate("password", "The password for this account").require().limit(1024));
      add(ctx, "change-user-password", "Change User Password", f, [iterations](const Request& req, const Values& v) {
        auto jid = *v.jid("accountjid");
        if (auto bad = checkAccounts(req, {jid})) return req.reply(Response::fail(adhoc::Error::BadPayload, *bad));
        auto& db = req.server().db();
        auto password = v.text("password");
        blockingStep(
            req, jid.bareStr(), [&db, jid, password, iterations] {
              return core::setPassword(db, jid, password, iterations);
            },
            [req, jid](core::AccountResult r) {
              if (r == core::AccountResult::Ok) {
                log::info("admin.user.password", "by={} jid={}", req.from().bareStr(), jid.bareStr());
                return req.reply(Response::done("Password changed for " + jid.bareStr()));
              }
              if (r == core::AccountResult::NotFound)
                return req.reply(Response::failed("No such user: " + jid.bareStr()));
              req.reply(Response::fail(adhoc::Error::BadPayload,
                                       "The password is empty or has characters SASLprep forbids"));
            });
      });
    }

    // §4.8 End User Session
    {
      Form f = adminForm("Ending a User Session", "Fill out this form to end a user's session.");
      f.add(Field::jidMulti("accountjids", "The Jabber ID(s) for which to end sessions")
                .require()
                .describe("A bare JID ends every session of the account, a full JID only that one."));
      add(ctx, "end-user-session", "End User Session", f, [this](const Request& req, const Values& v) {
        auto jids = v.jids("accountjids");
        if (auto bad = checkAccounts(req, jids, true))
          return req.reply(Response::fail(adhoc::Error::BadPayload, *bad));
        std::size_t ended = 0;
        std::vector<std::string> none;
        for (const auto& j : jids) {
          std::vector<session::SessionPtr> targets;
          if (j.isFull()) {
            if (auto s = server_->sessions().find(j)) targets.push_back(s);
          } else {
            for (auto& r : server_->sessions().resources(j)) targets.push_back(r.session);
          }
          if (targets.empty()) none.push_back(j.str());
          for (auto& s : targets) {
            ++ended;
            s->executor().post([s] { s->close(xmpp::StreamError::PolicyViolation, "session ended by an administrator"); });
          }
        }
        log::info("admin.session.ended", "by={} count={}", req.from().bareStr(), ended);
        if (ended == 0) return req.reply(Response::failed("No session found for " + join(none)));
        Response r = Response::done(fmt::format("Ended {} session(s)", ended));
        if (!none.empty()) r.notes.push_back({adhoc::NoteType::Warn, "No session found for " + join(none)});
        req.reply(std::move(r));
      });
    }

    // §4.10 Get User Roster
    {
      Form f = adminForm("Getting a User's Roster", "Fill out this form to get a user's roster.");
      f.add(Field::jidSingle("accountjids", "The Jabber ID for which to get the roster").require());
      add(ctx, "get-user-roster", "Get User Roster", f, [](const Request& req, const Values& v) {
        auto jid = *v.jid("accountjids");
        if (auto bad = checkAccounts(req, {jid})) return req.reply(Response::fail(adhoc::Error::BadPayload, *bad));
        auto& db = req.server().db();
        using Out = std::optional<std::vector<storage::RosterItem>>;
        blockingStep(
            req, jid.bareStr(), [&db, jid]() -> Out {
              if (!storage::AccountStore(db).exists(jid.domain(), jid.local())) return std::nullopt;
              return storage::RosterStore(db).load(jid.domain(), jid.local());
            },
            [req, jid](Out items) {
              if (!items) return req.reply(Response::failed("No such user: " + jid.bareStr()));
              Form result = adminForm("Roster of " + jid.bareStr());
              result.add(Field::jidSingle("accountjids", "The Jabber ID").value(jid.bareStr()));
              auto x = result.toXml("result");
              auto q = xml::make("query", "jabber:iq:roster");
              for (const auto& it : *items) {
                if (!it.visible) continue;
                auto e = xml::make("item", "jabber:iq:roster");
                e->setAttr("jid", it.contact);
                if (!it.name.empty()) e->setAttr("name", it.name);
                e->setAttr("subscription", storage::subscriptionName(it.subscription));
                if (it.askOut) e->setAttr("ask", "subscribe");
                for (const auto& g : it.groups) e->addTextChild("group", "jabber:iq:roster", g);
                q->addChild(e);
              }
              x->addChild(q);
              req.reply(Response::done({}, x));
            });
      });
    }

    // §4.11 Get User Last Login Time
    {
      Form f = adminForm("Getting a User's Last Login Time", "Fill out this form to get a user's last login time.");
      f.add(Field::jidSingle("accountjids", "The Jabber ID for which to get the last login time").require());
      add(ctx, "get-user-lastlogin", "Get User Last Login Time", f, [](const Request& req, const Values& v) {
        auto jid = *v.jid("accountjids");
        if (auto bad = checkAccounts(req, {jid})) return req.reply(Response::fail(adhoc::Error::BadPayload, *bad));
        auto& db = req.server().db();
        using Out = std::optional<std::optional<std::int64_t>>;
        blockingStep(
            req, jid.bareStr(), [&db, jid]() -> Out {
              storage::AccountStore store(db);
              if (!store.exists(jid.domain(), jid.local())) return std::nullopt;
              return store.lastLogin(jid.domain(), jid.local());
            },
            [req, jid](Out when) {
              if (!when) return req.reply(Response::failed("No such user: " + jid.bareStr()));
              Form result = adminForm("Last login of " + jid.bareStr());
              result.add(Field::jidSingle("accountjids", "The Jabber ID").value(jid.bareStr()));
              result.add(Field::text("lastlogin", "Last login").value(*when ? util::iso8601(**when) : "never"));
              req.reply(Response::done({}, result.toXml("result")));
            });
      });
    }

    // §4.15 Get Number of Registered Users
    add(ctx, "get-registered-users-num", "Get Number of Registered Users", std::nullopt,
        [](const Request& req, const Values&) {
          auto& db = req.server().db();
          auto domain = req.service().domain();
          blockingStep(
              req, {}, [&db, domain] { return storage::AccountStore(db).count(domain); },
              [req](std::int64_t n) {
                Form result = adminForm("Number of registered users");
                result.add(Field::text("registeredusersnum", "The number of registered users").value(std::to_string(n)));
                req.reply(Response::done({}, result.toXml("result")));
              });
        });

    // §4.17 Get Number of Online Users, §4.16-ish Get Number of Active Users (an active user has an
    // available resource; a connected client that sent no presence yet is online but not active).
    add(ctx, "get-online-users-num", "Get Number of Online Users", std::nullopt, [this](const Request& req, const Values&) {
      Form result = adminForm("Number of online users");
      result.add(Field::text("onlineusersnum", "The number of online users")
                     .value(std::to_string(server_->sessions().onlineAccounts(req.service().domain()).size())));
      req.reply(Response::done({}, result.toXml("result")));
    });
    add(ctx, "get-active-users-num", "Get Number of Active Users", std::nullopt, [this](const Request& req, const Values&) {
      Form result = adminForm("Number of active users");
      result.add(Field::text("activeusersnum", "The number of active users")
                     .value(std::to_string(activeAccounts(req.service().domain()).size())));
      req.reply(Response::done({}, result.toXml("result")));
    });

    // §4.21 Get List of Online Users
    {
      Form f = adminForm("Requesting List of Online Users");
      f.add(Field::listSingle("max_items", "Maximum number of items to report",
                              {{"25", "25"}, {"50", "50"}, {"75", "75"}, {"100", "100"}, {"150", "150"},
                               {"200", "200"}, {"None", "none"}})
                .value("100"));
      add(ctx, "get-online-users-list", "Get List of Online Users", f, [this](const Request& req, const Values& v) {
        auto all = server_->sessions().onlineAccounts(req.service().domain());
        std::string max = v.has("max_items") ? v.text("max_items") : "100";
        if (max != "none" && all.size() > std::stoul(max)) all.resize(std::stoul(max));
        Form result = adminForm("Online users");
        Field users = Field::jidMulti("onlineuserjids", "The list of all online users");
        for (auto& u : all) users.value(u);
        result.add(std::move(users));
        req.reply(Response::done({}, result.toXml("result")));
      });
    }

    // §4.23 Send Announcement to Online Users
    {
      Form f = adminForm("Making an Announcement", "Fill out this form to make an announcement to all active users of this service.");
      f.add(Field::text("subject", "Subject").limit(1024));
      f.add(Field::textMulti("announcement", "Announcement").require().limit(maxAnnouncementBytes_));
      add(ctx, "announce", "Send Announcement to Online Users", f, [this](const Request& req, const Values& v) {
        const std::string body = joinLines(v.all("announcement"));
        if (body.empty()) return req.reply(Response::fail(adhoc::Error::BadPayload, "Field 'announcement' is required"));
        std::size_t sent = 0;
        auto from = xmpp::Jid::fromParts({}, req.service().domain());
        for (const auto& account : server_->sessions().onlineAccounts(req.service().domain())) {
          auto bare = xmpp::Jid::parse(account);
          if (!bare) continue;
          for (const auto& r : server_->sessions().resources(*bare)) {
            if (!r.available) continue;
            r.session->deliver(headline(*from, r.session->jid(), v.text("subject"), body));
            ++sent;
          }
        }
        log::info("admin.announce", "by={} sessions={}", req.from().bareStr(), sent);
        req.reply(Response::done(fmt::format("Announcement sent to {} session(s)", sent)));
      });
    }

    // §4.24 Set Message of the Day, §4.25 Edit Message of the Day, §4.26 Delete Message of the Day
    for (bool edit : {false, true}) {
      add(ctx, edit ? "edit-motd" : "set-motd", edit ? "Edit Message of the Day" : "Set Message of the Day",
          std::nullopt, [this, edit](const Request& req, const Values&) {
            Form f = motdForm(edit ? motdOf(req.service().domain()) : std::nullopt, edit);
            if (req.stage() == 0) return req.reply(Response::showForm(f));
            auto v = req.parse(f);
            if (!v) return;
            Motd m;
            m.subject = v->text("subject");
            m.body = joinLines(v->all("motd"));
            if (m.body.empty()) return req.reply(Response::fail(adhoc::Error::BadPayload, "Field 'motd' is required"));
            // Versions are milliseconds, so a MOTD set after a delete is still newer than any seen one.
            m.version = std::max<std::int64_t>(motdVersionFloor(req.service().domain()) + 1,
                                               util::unixNow() * 1000);
            saveMotd(req, req.service().domain(), m);
          });
    }
    add(ctx, "delete-motd", "Delete Message of the Day", std::nullopt, [this](const Request& req, const Values&) {
      saveMotd(req, req.service().domain(), std::nullopt);
    });
  }

  // ------------------------------------------------------------------------------------------------
  // MOTD

  Form motdForm(const std::optional<Motd>& current, bool edit) {
    Form f = adminForm(edit ? "Editing the Message of the Day" : "Setting the Message of the Day",
                       "Users get it once, the next time they come online.");
    Field subject = Field::text("subject", "Subject").limit(1024);
    Field body = Field::textMulti("motd", "Message of the Day").require().limit(maxAnnouncementBytes_);
    if (current) {
      subject.value(current->subject);
      for (auto& line : splitLines(current->body)) body.value(line);
    }
    f.add(std::move(subject));
    f.add(std::move(body));
    return f;
  }

  std::optional<Motd> motdOf(const std::string& domain) {
    std::lock_guard lock(motdMu_);
    auto it = motds_.find(domain);
    if (it == motds_.end() || !it->second) return std::nullopt;
    return it->second;
  }

  std::int64_t motdVersionFloor(const std::string& domain) {
    std::lock_guard lock(motdMu_);
    auto it = versionFloor_.find(domain);
    return it == versionFloor_.end() ? 0 : it->second;
  }

  void saveMotd(const Request& req, const std::string& domain, std::optional<Motd> m) {
    auto& db = req.server().db();
    blockingStep(
        req, {}, [&db, domain, m] {
          auto& c = db.connection();
          if (m) {
            c.execute(db.dialect().upsert("motd", {"domain", "version", "subject", "body", "updated_at"}, {"domain"},
                                          {"version", "subject", "body", "updated_at"}),
                      {domain, m->version, m->subject, m->body, static_cast<std::int64_t>(util::unixNow())});
          } else {
            c.execute("DELETE FROM motd WHERE domain = ?", {domain});
          }
          return true;
        },
        [this, req, domain, m](bool) {
          {
            std::lock_guard lock(motdMu_);
            motds_[domain] = m;
            if (m) versionFloor_[domain] = std::max(versionFloor_[domain], m->version);
          }
          log::info(m ? "admin.motd.set" : "admin.motd.deleted", "by={} domain={}", req.from().bareStr(), domain);
          req.reply(Response::done(m ? "Message of the day set" : "Message of the day deleted"));
        });
  }

  void loadMotds() {
    auto& db = server_->db();
    runtime::offload(
        server_->pool(), server_->io().executor(0), {},
        [&db] {
          std::map<std::string, std::optional<Motd>> out;
          for (const auto& row : db.connection().query("SELECT domain, version, subject, body FROM motd"))
            out[row.getText(0)] = Motd{row.getInt(1), row.getText(2), row.getText(3)};
          return out;
        },
        [this](runtime::Outcome<std::map<std::string, std::optional<Motd>>> out) {
          if (!out.ok()) {
            log::warn("admin.motd.load_failed", "error=\"{}\"", out.error);
            return;
          }
          std::lock_guard lock(motdMu_);
          for (auto& [d, m] : *out.value) {
            if (!motds_.contains(d)) motds_[d] = m;  // a set that raced the load wins
            if (m) versionFloor_[d] = std::max(versionFloor_[d], m->version);
          }
        });
  }

  // On the session's thread, at its first available presence.
  void maybeSendMotd(session::SessionPtr s) {
    const xmpp::Jid user = s->jid().bare();
    auto m = motdOf(user.domain());
    if (!m) return;
    auto& db = server_->db();
    const std::int64_t version = m->version;
    runtime::offload(
        server_->pool(), s->executor(), user.bareStr(),
        [&db, user, version] {
          // Claim the delivery in the same transaction that reads the seen version, so two resources
          // coming online together deliver it once.
          return db.transaction([&](storage::Connection& c) {
            auto rows = c.query("SELECT version FROM motd_seen WHERE domain = ? AND username = ?",
                                {user.domain(), user.local()});
            if (!rows.empty() && rows.front().getInt(0) >= version) return false;
            if (c.query("SELECT 1 FROM accounts WHERE domain = ? AND username = ?", {user.domain(), user.local()})
                    .empty())
              return false;
            c.execute(db.dialect().upsert("motd_seen", {"domain", "username", "version"}, {"domain", "username"},
                                          {"version"}),
                      {user.domain(), user.local(), version});
            return true;
          });
        },
        [s, m](runtime::Outcome<bool> out) {
          if (!out.ok() || !*out.value) return;
          auto from = xmpp::Jid::fromParts({}, s->jid().domain());
          if (from) s->deliver(headline(*from, s->jid(), m->subject, m->body));
        });
  }

  // ------------------------------------------------------------------------------------------------
  // Journal of deletions made by parleyctl.

  class Poller : public std::enable_shared_from_this<Poller> {
   public:
    Poller(AdminModule& m, runtime::Executor exec) : m_(m), exec_(exec) {}
    void arm() {
      if (stopped_) return;
      std::weak_ptr<Poller> weak = weak_from_this();
      timer_ = std::make_unique<runtime::Timer>(exec_, std::chrono::seconds(m_.journalInterval_), [weak] {
        if (auto self = weak.lock()) self->poll();
      });
    }
    void stop() {
      stopped_ = true;
      exec_.post([self = shared_from_this()] { self->timer_.reset(); });
    }

   private:
    struct Entry {
      xmpp::Jid jid;
      std::vector<xmpp::Jid> holders;
    };
    void poll() {
      if (stopped_) return;
      auto& server = *m_.server_;
      auto& db = server.db();
      std::weak_ptr<Poller> weak = weak_from_this();
      runtime::offload(
          server.pool(), exec_, {},
          [&db] {
            std::vector<Entry> out;
            auto rows = db.connection().query(
                "SELECT domain, username FROM account_removals ORDER BY removed_at, domain, username LIMIT 100");
            for (const auto& row : rows) {
              db.transaction([&](storage::Connection& c) {
                c.execute("DELETE FROM account_removals WHERE domain = ? AND username = ?",
                          {row.getText(0), row.getText(1)});
                if (!c.query("SELECT 1 FROM accounts WHERE domain = ? AND username = ?",
                             {row.getText(0), row.getText(1)})
                         .empty())
                  return;  // registered again since: nothing to tell the new account's sessions
                auto jid = xmpp::Jid::fromParts(row.getText(1), row.getText(0));
                if (jid) out.push_back({*jid, blocking::rosterHolders(db, *jid)});
              });
            }
            return out;
          },
          [weak](runtime::Outcome<std::vector<Entry>> out) {
            auto self = weak.lock();
            if (!self || self->stopped_) return;
            if (!out.ok())
              log::warn("admin.journal.failed", "error=\"{}\"", out.error);
            else
              for (auto& e : *out.value) afterAccountRemoved(*self->m_.server_, e.jid, std::move(e.holders));
            self->arm();
          });
    }
    AdminModule& m_;
    runtime::Executor exec_;
    std::atomic<bool> stopped_{false};
    runtime::TimerPtr timer_;  // on exec_ only
  };

  // ------------------------------------------------------------------------------------------------
  // Small helpers

  std::vector<std::string> activeAccounts(const std::string& domain) {
    std::vector<std::string> out;
    for (const auto& account : server_->sessions().onlineAccounts(domain)) {
      auto bare = xmpp::Jid::parse(account);
      if (!bare) continue;
      for (const auto& r : server_->sessions().resources(*bare)) {
        if (r.available) {
          out.push_back(account);
          break;
        }
      }
    }
    return out;
  }

  static xmpp::StanzaPtr headline(const xmpp::Jid& from, const xmpp::Jid& to, const std::string& subject,
                                  const std::string& body) {
    auto msg = xml::make("message", "jabber:client");
    msg->setAttr("type", "headline");
    msg->setAttr("id", "parley-" + std::to_string(util::unixNow()));
    if (!subject.empty()) msg->addTextChild("subject", "jabber:client", subject);
    msg->addTextChild("body", "jabber:client", body);
    return xmpp::Stanza::make(std::move(msg), from, to);
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  static std::string joinLines(const std::vector<std::string>& v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "\n" : "") + v[i];
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  static std::vector<std::string> splitLines(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
      auto nl = s.find('\n', start);
      out.push_back(s.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    return out;
  }

  static Response summary(std::string_view verb, const std::vector<std::string>& ok,
                          const std::vector<std::string>& missing, const std::vector<std::string>& failed) {
    if (ok.empty() && failed.empty()) return Response::failed("No such user: " + join(missing));
    if (!failed.empty()) return Response::failed(fmt::format("Storage failed for {}", join(failed)));
    Response r = Response::done(fmt::format("{}: {}", verb, join(ok)));
    if (!missing.empty()) r.notes.push_back({adhoc::NoteType::Warn, "No such user: " + join(missing)});
    return r;
  }

  core::Server* server_ = nullptr;
  std::int64_t journalInterval_ = 2;
  std::size_t maxAnnouncementBytes_ = 16384;
  std::shared_ptr<Poller> poller_;
  std::mutex motdMu_;
  std::map<std::string, std::optional<Motd>> motds_;
  std::map<std::string, std::int64_t> versionFloor_;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"admin", "XEP-0133 service administration, message of the day", {"adhoc"}, true, [] {
                                   return std::unique_ptr<module::Module>(new AdminModule);
                                 }};

}  // namespace parley::xep::admin
