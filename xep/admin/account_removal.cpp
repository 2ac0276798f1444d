#include "xep/admin/account_removal.h"

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/util/time.h"
#include "server/xmpp/errors.h"
#include "storage/account_store.h"
#include "storage/schema/schema.h"

namespace parley::xep::admin {

namespace blocking {

std::vector<xmpp::Jid> rosterHolders(storage::Database& db, const xmpp::Jid& jid) {
  std::vector<xmpp::Jid> out;
  for (const auto& row : db.connection().query(
           "SELECT domain, username FROM roster_items WHERE contact = ? ORDER BY domain, username",
           {jid.bareStr()})) {
    if (auto j = xmpp::Jid::fromParts(row.getText(1), row.getText(0))) out.push_back(*j);
  }
  return out;
}

void purgeLeftovers(storage::Database& db, const xmpp::Jid& bare) {
  db.transaction([&](storage::Connection& c) {
    auto rows =
        c.query("SELECT 1 FROM accounts WHERE domain = ? AND username = ?", {bare.domain(), bare.local()});
    if (!rows.empty()) return;  // registered again meanwhile: its rows are the new account's
    for (std::string_view table : storage::schema::kUserTables) {
      if (table == "account_removals") continue;  // the journal row is the poller's to delete
      storage::deleteUserRows(db, c, table, bare.domain(), bare.local());
    }
  });
}

bool removeAndJournal(storage::Database& db, const xmpp::Jid& bare) {
  return db.transaction([&](storage::Connection& c) {
    if (!storage::AccountStore(db).remove(bare.domain(), bare.local())) return false;
    c.execute(db.dialect().upsert("account_removals", {"domain", "username", "removed_at"},
                                  {"domain", "username"}, {"removed_at"}),
              {bare.domain(), bare.local(), static_cast<std::int64_t>(util::unixNow())});
    return true;
  });
}

}  // namespace blocking

void closeSessions(core::Server& server, const xmpp::Jid& bare, xmpp::StreamError error, std::string text) {
  for (const auto& r : server.sessions().resources(bare)) {
    auto s = r.session;
    s->executor().post([s, error, text] { s->close(error, text); });
  }
}

void afterAccountRemoved(core::Server& server, const xmpp::Jid& bare, std::vector<xmpp::Jid> holders) {
  log::info("account.removed", "jid={}", bare.bareStr());
  hooks::AccountRemoved::Context ctx{bare};
  server.hooks().run<hooks::AccountRemoved>(ctx);
  // RFC 6120 §4.9.3.12 not-authorized: the credentials are gone.
  closeSessions(server, bare, xmpp::StreamError::NotAuthorized, "account deleted");
  // Contacts' rosters: as if each had removed the item itself (RFC 6121 §2.5.2), with roster pushes.
  for (const auto& holder : holders) {
    if (!server.router().isLocalDomain(holder.domain())) continue;
    auto iq = xml::make("iq", "jabber:client");
    iq->setAttr("type", "set");
    iq->setAttr("id", "parley-account-removed");
    auto q = xml::make("query", "jabber:iq:roster");
    auto item = xml::make("item", "jabber:iq:roster");
    item->setAttr("jid", bare.bareStr());
    item->setAttr("subscription", "remove");
    q->addChild(item);
    iq->addChild(q);
    server.router().handleIq(xmpp::Stanza::make(std::move(iq), holder, holder), holder);
  }
  // Whatever the closing sessions still write (offline copies of unacknowledged stanzas, last logout)
  // is queued by now or soon; wipe it once it has run.
  auto exec = runtime::Executor::current();
  if (!exec) exec = server.io().executor(0);
  server.afterQueuedWork(exec, [&server, bare] {
    auto& db = server.db();
    runtime::offload(
        server.pool(), server.io().executor(0), bare.bareStr(),
        [&db, bare] { blocking::purgeLeftovers(db, bare); },
        [bare](runtime::Outcome<bool> out) {
          if (!out.ok()) log::warn("account.purge.failed", "jid={} error=\"{}\"", bare.bareStr(), out.error);
        });
  });
}

void removeAccount(core::Server& server, runtime::Executor exec, const xmpp::Jid& bare,
                   std::function<void(bool, const std::string&)> done) {
  auto& db = server.db();
  struct Result {
    bool found = false;
    std::vector<xmpp::Jid> holders;
  };
  runtime::offload(
      server.pool(), exec, bare.bareStr(),
      [&db, bare] {
        Result r;
        r.holders = blocking::rosterHolders(db, bare);
        r.found = storage::AccountStore(db).remove(bare.domain(), bare.local());
        return r;
      },
      [&server, bare, done = std::move(done)](runtime::Outcome<Result> out) {
        if (!out.ok()) {
          log::warn("account.remove.failed", "jid={} error=\"{}\"", bare.bareStr(), out.error);
          done(false, out.error.empty() ? "storage failure" : out.error);
          return;
        }
        if (out.value->found) afterAccountRemoved(server, bare, std::move(out.value->holders));
        done(out.value->found, {});
      });
}

}  // namespace parley::xep::admin
