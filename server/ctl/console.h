// The admin console: XEP-0050 ad-hoc commands from a terminal, over a normal client connection
// (libstrophe), so it works against any running server the administrator can log in to.
//
//   parleyctl console --jid admin@example.org --password … [--host H] [--port P] [--ca FILE | --insecure]
//   parleyctl adhoc list --jid … --password …
//   parleyctl adhoc run NODE [field=value …] --jid … --password …
//
// `console` lists the commands the account may run, runs the chosen one and asks for each form field
// (lists as numbered choices, booleans as y/n, multi-valued fields one value per line ended by an empty
// line, passwords without echo on a terminal), then shows the notes and the result. `adhoc run` fills
// each stage's form from field=value arguments (repeat a field for several values) and completes it;
// NODE may be the full node or its last part ("add-user"). Exit status: 0 completed, 1 the command
// failed (IQ error or an error note, printed), 2 connection or login failed, 3 usage.
// TLS: the certificate is verified against the system trust store, or --ca FILE; --insecure skips the
// verification (for a development server with a self-signed certificate) and says so.
#pragma once

#include <string>
#include <vector>

namespace parley::ctl {

struct ConsoleOptions {
  std::string jid;
  std::string password;
  std::string host;       // default: the JID's domain (DNS); e.g. 127.0.0.1
  int port = 0;           // default: 5222 (5223 with directTls)
  std::string to;         // the JID the commands are on (default: the JID's domain)
  std::string caFile;     // PEM bundle to verify the server's certificate with
  bool insecure = false;  // do not verify the server's certificate
  bool directTls = false;  // XEP-0368 TLS from the first byte
  int timeoutSeconds = 15;
};

int console(const ConsoleOptions& options);
int adhocList(const ConsoleOptions& options);
int adhocRun(const ConsoleOptions& options, const std::string& node, const std::vector<std::string>& assignments);

}  // namespace parley::ctl
