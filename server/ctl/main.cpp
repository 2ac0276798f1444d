// parleyctl: administration from the command line. Works directly on the configured storage, so it
// works whether or not parleyd is running (SQLite in WAL mode lets both write safely).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "server/core/config.h"
#include "server/ctl/commands.h"
#include "server/ctl/console.h"
#include "server/log/log.h"

int main(int argc, char** argv) {
  CLI::App app{"parleyctl: administer a Parley XMPP server"};
  app.require_subcommand(1);
  std::string configPath = "/etc/parley/parley.toml";
  app.add_option("-c,--config", configPath, "configuration file (TOML)")->capture_default_str();

  parley::ctl::Args args;
  auto* user = app.add_subcommand("user", "manage accounts");
  user->require_subcommand(1);
  auto* add = user->add_subcommand("add", "create an account");
  add->add_option("jid", args.jid, "user@domain")->required();
  add->add_option("password", args.password, "the password")->required();
  auto* del = user->add_subcommand("del", "delete an account and all its data");
  del->add_option("jid", args.jid, "user@domain")->required();
  auto* passwd = user->add_subcommand("passwd", "set a new password");
  passwd->add_option("jid", args.jid, "user@domain")->required();
  passwd->add_option("password", args.password, "the new password")->required();
  auto* list = user->add_subcommand("list", "list accounts");
  list->add_option("domain", args.domain, "only this domain");
  auto* check = app.add_subcommand("check", "validate the configuration (and the TLS certificates)");
  std::string migrateFrom, migrateTo;
  auto* migrate = app.add_subcommand(
      "migrate", "copy all data from the storage of one configuration into the (empty) storage of another");
  migrate->add_option("--from", migrateFrom, "configuration whose [storage] is read")->required();
  migrate->add_option("--to", migrateTo, "configuration whose [storage] is written (must be empty)")
      ->required();

  // The admin console: ad-hoc commands over an XMPP connection (no configuration file needed).
  parley::ctl::ConsoleOptions con;
  auto connectionOptions = [&con](CLI::App* cmd) {
    cmd->add_option("--jid", con.jid, "the administrator's JID (user@domain)")->required();
    cmd->add_option("--password", con.password, "its password (default: $PARLEYCTL_PASSWORD, else asked on the terminal)");
    cmd->add_option("--host", con.host, "server address (default: the JID's domain)");
    cmd->add_option("--port", con.port, "server port (default: 5222, 5223 with --direct-tls)");
    cmd->add_option("--to", con.to, "JID the commands are on (default: the JID's domain)");
    cmd->add_option("--ca", con.caFile, "verify the server's certificate with this PEM file");
    cmd->add_flag("--insecure", con.insecure, "do not verify the server's certificate (development only)");
    cmd->add_flag("--direct-tls", con.directTls, "TLS from the first byte (XEP-0368) instead of STARTTLS");
    cmd->add_option("--timeout", con.timeoutSeconds, "seconds to wait for the server")->capture_default_str();
  };
  auto* consoleCmd = app.add_subcommand("console", "run the server's ad-hoc commands interactively");
  connectionOptions(consoleCmd);
  auto* adhoc = app.add_subcommand("adhoc", "run ad-hoc commands (XEP-0050) non-interactively");
  adhoc->require_subcommand(1);
  auto* adhocList = adhoc->add_subcommand("list", "list the commands this account may run");
  connectionOptions(adhocList);
  std::string adhocNode;
  std::vector<std::string> adhocFields;
  auto* adhocRun = adhoc->add_subcommand("run", "run one command, filling its form from field=value arguments");
  adhocRun->add_option("node", adhocNode, "the command node, or its last part (add-user)")->required();
  adhocRun->add_option("fields", adhocFields, "field=value (repeat a field for several values)");
  connectionOptions(adhocRun);

  CLI11_PARSE(app, argc, argv);
  if (consoleCmd->parsed() || adhocList->parsed() || adhocRun->parsed()) {
    parley::log::init("warn");
    if (con.password.empty())
      if (const char* p = std::getenv("PARLEYCTL_PASSWORD")) con.password = p;
    if (con.port == 0) con.port = con.directTls ? 5223 : 5222;
    if (consoleCmd->parsed()) return parley::ctl::console(con);
    if (adhocList->parsed()) return parley::ctl::adhocList(con);
    return parley::ctl::adhocRun(con, adhocNode, adhocFields);
  }
  parley::log::init("warn");

  try {
    if (migrate->parsed()) return parley::ctl::migrate(migrateFrom, migrateTo);
    parley::core::Config config = parley::core::loadConfig(configPath);
    if (check->parsed()) return parley::ctl::check(config);
    if (add->parsed()) return parley::ctl::userAdd(config, args);
    if (del->parsed()) return parley::ctl::userDel(config, args);
    if (passwd->parsed()) return parley::ctl::userPasswd(config, args);
    if (list->parsed()) return parley::ctl::userList(config, args);
  } catch (const parley::core::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parleyctl: %s\n", e.what());
    return 1;
  }
  return 0;
}
