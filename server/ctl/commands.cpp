#include "server/ctl/commands.h"

#include <cstdio>
#include <memory>

#include "server/core/accounts.h"
#include "server/module/module.h"
#include "server/net/tls_context.h"
#include "server/xmpp/jid.h"
#include "storage/account_store.h"
#include "storage/copy.h"
#include "xep/admin/account_removal.h"

namespace parley::ctl {

namespace {

std::unique_ptr<storage::Database> openStorage(const core::Config& config) {
  auto db = storage::openDatabase(config.storage);
  db->migrate();
  return db;
}

// A bare JID on one of the configured hosts, or an error message.
std::optional<xmpp::Jid> accountJid(const core::Config& config, const std::string& text) {
  auto jid = xmpp::Jid::parse(text);
  if (!jid || jid->local().empty() || jid->isFull()) {
    std::fprintf(stderr, "parleyctl: \"%s\" is not a valid user@domain address\n", text.c_str());
    return std::nullopt;
  }
  if (!config.host(jid->domain())) {
    std::fprintf(stderr, "parleyctl: %s is not a host of this server (see [[hosts]] in %s)\n",
                 jid->domain().c_str(), config.path.c_str());
    return std::nullopt;
  }
  return jid;
}

}  // namespace

int check(const core::Config& config) {
  module::ModuleHost modules(config);  // validates every module's table
  net::TlsContexts tls(config);        // loads every certificate and key
  std::printf("%s: configuration OK (%zu host(s), %zu module(s))\n", config.path.c_str(), config.hosts.size(),
              modules.started().size());
  return 0;
}

int userAdd(const core::Config& config, const Args& args) {
  auto jid = accountJid(config, args.jid);
  if (!jid) return 1;
  auto db = openStorage(config);
  switch (core::createAccount(*db, *jid, args.password, config.auth.scramIterations)) {
    case core::AccountResult::Ok:
      std::printf("created %s\n", jid->bareStr().c_str());
      return 0;
    case core::AccountResult::Exists:
      std::fprintf(stderr, "parleyctl: %s already exists\n", jid->bareStr().c_str());
      return 1;
    case core::AccountResult::BadPassword:
      std::fprintf(stderr, "parleyctl: the password is empty or contains characters SASLprep forbids\n");
      return 1;
    case core::AccountResult::NotFound:
      break;
  }
  return 1;
}

int userDel(const core::Config& config, const Args& args) {
  auto jid = accountJid(config, args.jid);
  if (!jid) return 1;
  auto db = openStorage(config);
  // A running parleyd reads the journal row: AccountRemoved hook, sessions closed, contacts' rosters.
  if (!xep::admin::blocking::removeAndJournal(*db, *jid)) {
    std::fprintf(stderr, "parleyctl: %s does not exist\n", jid->bareStr().c_str());
    return 1;
  }
  std::printf("deleted %s\n", jid->bareStr().c_str());
  return 0;
}

int userPasswd(const core::Config& config, const Args& args) {
  auto jid = accountJid(config, args.jid);
  if (!jid) return 1;
  auto db = openStorage(config);
  switch (core::setPassword(*db, *jid, args.password, config.auth.scramIterations)) {
    case core::AccountResult::Ok:
      std::printf("password changed for %s\n", jid->bareStr().c_str());
      return 0;
    case core::AccountResult::NotFound:
      std::fprintf(stderr, "parleyctl: %s does not exist\n", jid->bareStr().c_str());
      return 1;
    case core::AccountResult::BadPassword:
      std::fprintf(stderr, "parleyctl: the password is empty or contains characters SASLprep forbids\n");
      return 1;
    case core::AccountResult::Exists:
      break;
  }
  return 1;
}

int userList(const core::Config& config, const Args& args) {
  auto db = openStorage(config);
  storage::AccountStore accounts(*db);
  for (const auto& host : config.hosts) {
    if (!args.domain.empty() && host.domain != args.domain) continue;
    for (const auto& u : accounts.list(host.domain)) std::printf("%s@%s\n", u.c_str(), host.domain.c_str());
  }
  return 0;
}

int migrate(const std::string& fromPath, const std::string& toPath) {
  const core::Config from = core::loadConfig(fromPath);
  const core::Config to = core::loadConfig(toPath);
  auto source = storage::openDatabase(from.storage);
  auto target = storage::openDatabase(to.storage);
  std::int64_t total = 0;
  storage::copyDatabase(*source, *target, 1000, [&](const storage::TableCopied& t) {
    std::printf("%s: %lld rows\n", t.table.c_str(), static_cast<long long>(t.rows));
    std::fflush(stdout);
    total += t.rows;
  });
  std::printf("copied %lld rows from %s (%s) to %s (%s)\n", static_cast<long long>(total), fromPath.c_str(),
              from.storage.backend.c_str(), toPath.c_str(), to.storage.backend.c_str());
  return 0;
}

}  // namespace parley::ctl
