// Everything parley-bench was asked to do, as parsed from the command line. Plain data: the scenarios
// read it, the JSON report echoes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace parley::bench {

struct Options {
  std::string scenario;  // "login", "idle", "chat", "muc", "mam" or "provision"

  // Where and how to connect (loopback only).
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: 5222, or 5223 with --direct-tls
  bool directTls = false;
  std::string domain = "localhost";
  std::string mechanism = "SCRAM-SHA-256";
  std::string resource = "bench";
  unsigned sourceAddresses = 1;  // connect from 127.0.0.1 … 127.0.0.N
  double timeoutSeconds = 30;    // per login

  // Accounts: <prefix><i>@<domain> for i in [firstUser, firstUser + users).
  std::string prefix = "bench";
  std::string password = "bench-password";
  std::size_t users = 1000;
  std::size_t firstUser = 0;

  unsigned threads = 1;
  std::size_t concurrency = 100;  // logins in flight at once
  int serverPid = 0;              // 0: no server measurements
  bool jsonOnly = false;

  // idle
  double holdSeconds = 10;
  double settleSeconds = 2;
  // chat and muc: seconds to wait after the logins (and joins) before the measured phase, so the work the
  // logins left behind (presence, storage, garbage collection) is not counted as messaging cost
  double quietSeconds = 0;
  // chat
  double rate = 1000;  // messages per second, all senders together
  double durationSeconds = 10;
  double drainSeconds = 2;
  // muc: users are spread evenly over the rooms <roomPrefix><k>@<mucService>; chat's rate/duration/drain
  std::size_t rooms = 1;
  std::string mucService;  // empty: muc.<domain>
  std::string roomPrefix = "bench-room";
  // login, idle and chat: how long to wait for the server to close each stream after </stream:stream>
  double closeTimeoutSeconds = 10;

  // mam: the archive of user firstUser+1 is filled by firstUser (unless skipFill), then paged through
  std::size_t messages = 100000;  // messages sent to fill the archive
  std::size_t window = 500;       // messages sent but not yet received, at most
  std::size_t pageSize = 100;     // RSM <max/> per page
  bool skipFill = false;          // page through what the archive already holds

  // provision
  std::string database;
  std::uint32_t iterations = 4096;
};

}  // namespace parley::bench
