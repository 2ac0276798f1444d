// parleyctl: administration from the command line. Works directly on the configured storage, so it
// works whether or not parleyd is running (SQLite in WAL mode lets both write safely).
#include <cstdio>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "server/core/config.h"
#include "server/ctl/commands.h"
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

  CLI11_PARSE(app, argc, argv);
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
