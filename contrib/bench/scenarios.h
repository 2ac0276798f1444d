// The benchmark scenarios. Each returns the process exit status: 0 when it ran (failed logins are
// results, not errors), 1 when it could not run at all. Reports go to stdout (JSON) and stderr (text).
#pragma once

#include "contrib/bench/options.h"

namespace parley::bench {

// N logins, at most C in flight; each session closes as soon as it is online.
int runLogin(const Options& options);
// N sessions logged in and held; the server's memory per session and CPU for the logins.
int runIdle(const Options& options);
// N/2 sender → receiver pairs exchanging messages at a fixed total rate; delivery latency and losses.
int runChat(const Options& options);
// XEP-0045: every user joins one of R rooms and all send groupchat messages at a fixed total rate;
// fan-out deliveries per second, latency, losses and server CPU per delivery.
int runMuc(const Options& options);
// XEP-0313: fills one archive through the server (one sender, one receiver), then pages through it;
// server CPU per archived message and per-page latency.
int runMam(const Options& options);
// Creates the accounts straight in a SQLite database (parleyd may be running).
int runProvision(const Options& options);

}  // namespace parley::bench
