// parley-bench: logs in thousands of real XMPP client sessions from one process and measures the
// server (see README.md in this folder). Loopback targets only.
#include <algorithm>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "contrib/bench/options.h"
#include "contrib/bench/proc_stats.h"
#include "contrib/bench/scenarios.h"
#include "server/runtime/asio.h"

namespace {

using parley::bench::Options;

void addAccountOptions(CLI::App* app, Options& o) {
  app->add_option("--users", o.users, "Accounts to use: <prefix><first>…<prefix><first+users-1>")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000000}));
  app->add_option("--first", o.firstUser, "Index of the first account")->capture_default_str();
  app->add_option("--prefix", o.prefix, "Localpart prefix of the accounts")->capture_default_str();
  app->add_option("--password", o.password, "Password of every account")->capture_default_str();
  app->add_option("--domain", o.domain, "Domain of the accounts (a [[hosts]] domain of the server)")
      ->capture_default_str();
  app->add_flag("--json-only", o.jsonOnly, "Print only the JSON report (stdout), no summary on stderr");
}

void addClientOptions(CLI::App* app, Options& o) {
  addAccountOptions(app, o);
  app->add_option("--host", o.host, "Server address (loopback only: 127.0.0.0/8)")->capture_default_str();
  app->add_option("--port", o.port, "Server port (default 5222, or 5223 with --direct-tls)");
  app->add_flag("--direct-tls", o.directTls, "TLS from the first byte (XEP-0368) instead of STARTTLS");
  app->add_option("--mechanism", o.mechanism, "SASL mechanism")
      ->capture_default_str()
      ->check(CLI::IsMember({"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}));
  app->add_option("--resource", o.resource, "Resource to bind")->capture_default_str();
  app->add_option("--threads", o.threads, "Client threads (one io_context each)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app->add_option("--concurrency", o.concurrency, "Logins in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  app->add_option("--source-addresses", o.sourceAddresses,
                  "Connect from 127.0.0.1 … 127.0.0.N (each address has its own ephemeral ports)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 254u));
  app->add_option("--timeout", o.timeoutSeconds, "Seconds allowed for one login")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--close-timeout", o.closeTimeoutSeconds,
                  "Seconds to wait for the server to close each stream at the end")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--server-pid", o.serverPid, "parleyd's pid: report its CPU time (and memory for idle)");
}

// Loopback only: this tool opens thousands of connections as fast as it can.
bool loopbackTarget(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto address = asio::ip::make_address_v4(host, ec);
  return !ec && (address.to_uint() >> 24) == 127;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"parley-bench: load generator for the Parley XMPP server (loopback only)"};
  app.require_subcommand(1);

  auto* login = app.add_subcommand("login", "N logins with at most C in flight: logins/s, latency, failures");
  addClientOptions(login, o);

  auto* idle = app.add_subcommand("idle", "Hold N sessions: server memory per session, CPU for the logins");
  addClientOptions(idle, o);
  idle->add_option("--hold", o.holdSeconds, "Seconds to hold the sessions")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  idle->add_option("--settle", o.settleSeconds, "Seconds between the last login and the memory reading")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  idle->get_option("--server-pid")->required();

  auto* chat = app.add_subcommand("chat", "N/2 pairs exchanging messages at R msg/s: latency and losses");
  addClientOptions(chat, o);
  chat->add_option("--rate", o.rate, "Messages per second, all senders together")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  chat->add_option("--duration", o.durationSeconds, "Seconds of sending")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  chat->add_option("--drain", o.drainSeconds, "Seconds to wait for late messages after sending stops")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  chat->add_option("--quiet", o.quietSeconds,
                   "Seconds to wait after the logins before measuring (work they left is not counted)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  auto* muc = app.add_subcommand(
      "muc", "XEP-0045: N users in R rooms, all sending groupchat messages at R msg/s: fan-out cost");
  addClientOptions(muc, o);
  muc->add_option("--rooms", o.rooms, "Rooms (users are spread evenly; --users must be a multiple)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  muc->add_option("--service", o.mucService, "MUC service (default muc.<domain>)");
  muc->add_option("--room-prefix", o.roomPrefix, "Room names: <prefix><k>")->capture_default_str();
  muc->add_option("--rate", o.rate, "Room messages per second, all senders together")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  muc->add_option("--duration", o.durationSeconds, "Seconds of sending")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  muc->add_option("--drain", o.drainSeconds, "Seconds to wait for late messages after sending stops")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  muc->add_option("--quiet", o.quietSeconds,
                  "Seconds to wait after the logins before measuring (work they left is not counted)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  auto* mam = app.add_subcommand(
      "mam", "XEP-0313: user <first> fills <first+1>'s archive through the server, then it is paged through");
  addClientOptions(mam, o);
  mam->add_option("--messages", o.messages, "Messages sent to fill the archive")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000000}));
  mam->add_option("--window", o.window, "Messages in flight between sender and receiver, at most")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  mam->add_option("--page", o.pageSize, "Messages per page (RSM <max/>)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}));
  mam->add_flag("--skip-fill", o.skipFill, "Only page through what the archive already holds");

  auto* provision = app.add_subcommand("provision", "Create the accounts in a SQLite database");
  addAccountOptions(provision, o);
  provision->add_option("--database", o.database, "SQLite database ([storage] path of the server)")
      ->required();
  provision->add_option("--iterations", o.iterations, "PBKDF2 iterations of the SCRAM keys")
      ->capture_default_str()
      ->check(CLI::Range(1u, 10000000u));
  provision->add_option("--threads", o.threads, "Threads deriving keys")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));

  CLI11_PARSE(app, argc, argv);

  if (provision->parsed()) return parley::bench::runProvision(o);

  if (!loopbackTarget(o.host)) {
    std::fprintf(stderr, "parley-bench: refusing to target %s: only 127.0.0.0/8 (or localhost) is allowed\n",
                 o.host.c_str());
    return 2;
  }
  // One descriptor per session: use everything the hard limit allows.
  const auto files = parley::bench::raiseOpenFileLimit();
  // idle and chat hold every session at once; login holds at most --concurrency.
  const std::size_t held =
      login->parsed() ? std::min(o.concurrency, o.users) : (chat->parsed() ? o.users / 2 * 2 : o.users);
  if (files > 0 && held + 32 > files) {
    std::fprintf(stderr,
                 "parley-bench: %zu connections at once need more than the %llu open files allowed; raise "
                 "`ulimit -n` or run several processes with --first\n",
                 held, static_cast<unsigned long long>(files));
    return 2;
  }
  try {
    if (login->parsed()) return parley::bench::runLogin(o);
    if (idle->parsed()) return parley::bench::runIdle(o);
    if (chat->parsed()) return parley::bench::runChat(o);
    if (muc->parsed()) return parley::bench::runMuc(o);
    if (mam->parsed()) return parley::bench::runMam(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley-bench: %s\n", e.what());
    return 1;
  }
  return 1;
}
