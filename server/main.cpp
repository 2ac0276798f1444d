// parleyd: the Parley XMPP server. Runs in the foreground, logs to stderr, stops cleanly on SIGTERM.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <signal.h>

#include "server/core/config.h"
#include "server/core/server.h"
#include "server/log/log.h"

int main(int argc, char** argv) {
  CLI::App app{"parleyd: the Parley XMPP server"};
  std::string configPath;
  app.add_option("-c,--config", configPath, "configuration file (TOML)")->required();
  app.set_version_flag("--version", "parleyd 0.1.0");
  CLI11_PARSE(app, argc, argv);

  // Signals are taken synchronously by the main thread (Server::waitForShutdownSignal); every thread
  // started from here inherits the blocked mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  parley::core::Config config;
  try {
    config = parley::core::loadConfig(configPath);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  parley::log::init(config.logLevel);
  try {
    parley::core::Server server(std::move(config));
    server.start();
    server.waitForShutdownSignal();
    server.shutdown();
  } catch (const std::exception& e) {
    parley::log::error("server.failed", "error=\"{}\"", e.what());
    std::fprintf(stderr, "parleyd: %s\n", e.what());
    return 1;
  }
  return 0;
}
