// DESIGN: every scenario has the same shape. The main thread builds a Pool (one io_context per
// --threads), logs sessions in through LoginRun (at most --concurrency logins in flight, spread over the
// threads), lets the scenario run for its bounded time, closes every session with </stream:stream> and
// waits (bounded) for the server to close its side. Counters and samples live per thread, touched only
// on that thread; the main thread reads them with Pool::runOn() once a phase is over. Nothing outlives
// the Pool: it is stopped before the sessions and observers go away.
#include "contrib/bench/scenarios.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <openssl/ssl.h>

// clang-format off
#include "server/runtime/asio.h"
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
// clang-format on
#include "contrib/bench/json.h"
#include "contrib/bench/pool.h"
#include "contrib/bench/proc_stats.h"
#include "contrib/bench/session.h"
#include "contrib/bench/stats.h"
#include "server/core/accounts.h"
#include "server/xml/namespaces.h"
#include "server/xml/writer.h"
#include "server/xmpp/jid.h"
#include "storage/account_store.h"
#include "storage/database.h"

namespace parley::bench {

namespace {

using std::chrono::duration;
using Seconds = duration<double>;

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

std::int64_t nowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// ---- Setup shared by the client scenarios ----

struct Bench {
  explicit Bench(const Options& o) : options(o), tls(asio::ssl::context::tls_client), pool(o.threads) {
    settings.host = asio::ip::make_address_v4(o.host == "localhost" ? "127.0.0.1" : o.host);
    settings.port = o.port != 0 ? o.port : (o.directTls ? 5223 : 5222);
    settings.directTls = o.directTls;
    settings.domain = o.domain;
    settings.prefix = o.prefix;
    settings.password = o.password;
    settings.mechanism = o.mechanism;
    settings.resource = o.resource;
    settings.sourceAddresses = o.sourceAddresses;
    settings.timeout = millis(o.timeoutSeconds);

    // Test servers have self-signed certificates: trust whatever the server presents.
    tls.set_verify_mode(asio::ssl::verify_none);
    SSL_CTX* ctx = tls.native_handle();
    // Give OpenSSL's record buffers back while a connection is idle (lean idle sessions).
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    // Every login pays a full handshake, as a client connecting for the first time does.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (o.directTls) {  // XEP-0368 §3: direct TLS clients ask for ALPN "xmpp-client"
      static const unsigned char kAlpn[] = {11, 'x', 'm', 'p', 'p', '-', 'c', 'l', 'i', 'e', 'n', 't'};
      SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
    }
  }

  void note(std::string_view text) const {
    if (!options.jsonOnly) fmt::print(stderr, "{}\n", text);
  }
  std::optional<double> serverCpu() const {
    return options.serverPid > 0 ? cpuSeconds(options.serverPid) : std::nullopt;
  }

  Options options;
  ClientSettings settings;
  asio::ssl::context tls;
  Pool pool;
};

// ---- Per-thread observer: session ends, and chat messages received ----

struct ThreadObserver final : SessionObserver {
  explicit ThreadObserver(Countdown& ended) : ended(ended) {}

  void onMessage(Session& session, const xml::Element& message) override {
    // Body: "<steady_clock ns at send> <sequence>", written by chatSender().
    const std::string body = message.childText("body", xml::ns::kClient);
    std::int64_t sentAt = 0;
    std::uint64_t sequence = 0;
    const char* p = body.data();
    const char* end = body.data() + body.size();
    auto r1 = std::from_chars(p, end, sentAt);
    if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != ' ') return;
    auto r2 = std::from_chars(r1.ptr + 1, end, sequence);
    if (r2.ec != std::errc()) return;
    ++received;
    latencies.push_back(static_cast<double>(nowNanos() - sentAt) / 1e9);
    if (!checkOrder) return;
    // Each receiver has exactly one sender: sequence numbers must arrive in order, once.
    std::uint64_t& last = session.lastSequence();  // last seen + 1; 0: none yet
    if (sequence + 1 <= last)
      ++outOfOrder;
    else
      last = sequence + 1;
  }

  // XEP-0045 §7.2.2: the occupant's own presence (status 110) completes its room join. With status 201
  // the join created the room, which stays locked until its owner accepts the default configuration
  // (§10.1.2, instant room): the creator submits an empty form.
  void onPresence(Session& session, const xml::Element& presence) override {
    if (presence.attr("type") == "error") {
      const auto* error = presence.child("error", xml::ns::kClient);
      ++joinErrors[error && !error->children().empty() ? error->children().front()->name()
                                                       : std::string("error")];
      return;
    }
    const auto* x = presence.child("x", xml::ns::kMucUser);
    if (!x) return;
    bool self = false, created = false;
    for (const auto& status : x->childrenNamed("status", xml::ns::kMucUser)) {
      if (status->attr("code") == "110") self = true;
      if (status->attr("code") == "201") created = true;
    }
    if (!self) return;
    ++joined;
    if (!created) return;
    ++unlocksSent;
    const auto from = presence.attr("from");
    std::string room;
    xml::appendEscapedAttr(room, from.substr(0, from.find('/')));
    session.send("<iq type='set' id='unlock' to='" + room +
                 "'><query xmlns='http://jabber.org/protocol/muc#owner'>"
                 "<x xmlns='jabber:x:data' type='submit'/></query></iq>");
  }

  void onIqResponse(Session&, const xml::Element& iq) override {
    if (iq.attr("id") != "unlock") return;
    if (iq.attr("type") == "result")
      ++unlocked;
    else
      ++joinErrors["instant room configuration refused"];
  }

  void onEnded(Session&, std::string_view reason) override {
    if (!reason.empty()) ++dropped[std::string(reason)];
    ended.arrive();
  }

  Countdown& ended;
  FailureCounts dropped;   // sessions the server ended before we closed them, by reason
  bool checkOrder = true;  // chat: one sender per receiver, so sequence numbers arrive in order
  std::size_t joined = 0;  // muc: room joins completed
  std::size_t unlocksSent = 0, unlocked = 0;  // muc: rooms created by a join, and unlocked by their owner
  FailureCounts joinErrors;                   // muc: joins refused, by condition
  // chat
  std::size_t sent = 0;
  std::size_t received = 0;
  std::size_t outOfOrder = 0;
  std::vector<double> latencies;  // seconds
  std::vector<double> sendLag;    // seconds a send happened after its scheduled time
};

// ---- Logging in many sessions ----

struct LoginStats {
  std::size_t ok = 0;
  std::vector<double> total, connect, tls, auth, bind, presence;
  FailureCounts failures;

  void add(const LoginOutcome& o) {
    if (!o.ok) {
      ++failures[o.failure];
      return;
    }
    ++ok;
    total.push_back(o.times.total);
    connect.push_back(o.times.connect);
    tls.push_back(o.times.tls);
    auth.push_back(o.times.auth);
    bind.push_back(o.times.bind);
    presence.push_back(o.times.presence);
  }
  void merge(LoginStats&& other) {
    ok += other.ok;
    auto append = [](std::vector<double>& a, std::vector<double>& b) {
      a.insert(a.end(), b.begin(), b.end());
    };
    append(total, other.total);
    append(connect, other.connect);
    append(tls, other.tls);
    append(auth, other.auth);
    append(bind, other.bind);
    append(presence, other.presence);
    bench::merge(failures, other.failures);
  }
};

// Shared by the login workers (each holds it, so it outlives the last one).
struct LoginRun {
  Bench* bench = nullptr;
  std::size_t count = 0;
  std::function<void(const std::shared_ptr<Session>&, std::size_t thread)> onOnline;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> succeeded{0};
  std::atomic<std::size_t> failed{0};
  Countdown done;
  std::vector<LoginStats> perThread;               // index: thread
  std::vector<std::shared_ptr<Session>> sessions;  // index: position in the run; null when it failed
  std::vector<std::uint32_t> threadOf;             // index: position in the run
};

asio::awaitable<void> loginWorker(std::shared_ptr<LoginRun> run, std::size_t thread) {
  Bench& b = *run->bench;
  for (;;) {
    const std::size_t i = run->next.fetch_add(1);
    if (i >= run->count) co_return;
    auto session = std::make_shared<Session>(b.pool.io(thread), b.tls, b.settings, b.options.firstUser + i);
    const LoginOutcome outcome = co_await session->login();
    run->perThread[thread].add(outcome);
    run->threadOf[i] = static_cast<std::uint32_t>(thread);
    if (outcome.ok) {
      run->sessions[i] = session;
      run->onOnline(session, thread);
      ++run->succeeded;
    } else {
      ++run->failed;
    }
    run->done.arrive();
  }
}

struct LoginResult {
  LoginStats stats;
  double wallSeconds = 0;
  double clientCpuSeconds = 0;
  std::optional<double> serverCpuSeconds;
  std::vector<std::shared_ptr<Session>> sessions;
  std::vector<std::uint32_t> threadOf;
};

LoginResult loginAll(Bench& b, std::size_t count,
                     std::function<void(const std::shared_ptr<Session>&, std::size_t)> onOnline) {
  auto run = std::make_shared<LoginRun>();
  run->bench = &b;
  run->count = count;
  run->onOnline = std::move(onOnline);
  run->done.reset(count);
  run->perThread.resize(b.pool.size());
  run->sessions.resize(count);
  run->threadOf.resize(count);

  LoginResult result;
  const auto serverCpuBefore = b.serverCpu();
  const double clientCpuBefore = selfCpuSeconds();
  const auto start = Clock::now();
  const std::size_t workers = std::max<std::size_t>(1, std::min(b.options.concurrency, count));
  for (std::size_t w = 0; w < workers; ++w) {
    const std::size_t thread = w % b.pool.size();
    asio::co_spawn(b.pool.io(thread), loginWorker(run, thread), asio::detached);
  }
  // Every login ends by itself (success, failure or its own timeout); report progress meanwhile.
  while (!run->done.waitFor(std::chrono::seconds(5)))
    b.note(fmt::format("  … {} online, {} failed, {} to go", run->succeeded.load(), run->failed.load(),
                       run->done.remaining()));
  result.wallSeconds = Seconds(Clock::now() - start).count();
  result.clientCpuSeconds = selfCpuSeconds() - clientCpuBefore;
  if (auto after = b.serverCpu(); after && serverCpuBefore)
    result.serverCpuSeconds = *after - *serverCpuBefore;
  for (std::size_t t = 0; t < b.pool.size(); ++t)
    result.stats.merge(b.pool.runOn(t, [&run, t] { return std::move(run->perThread[t]); }));
  result.sessions = std::move(run->sessions);
  result.threadOf = std::move(run->threadOf);
  return result;
}

JsonObject loginJson(LoginResult& r, std::size_t attempted) {
  auto& s = r.stats;
  JsonObject phases;
  phases.set("connect", toJson(distribution(s.connect), 1000))
      .set("tls", toJson(distribution(s.tls), 1000))
      .set("auth", toJson(distribution(s.auth), 1000))
      .set("bind_roster", toJson(distribution(s.bind), 1000))
      .set("presence", toJson(distribution(s.presence), 1000));
  JsonObject o;
  o.set("attempted", attempted)
      .set("succeeded", s.ok)
      .set("failed", attempted - s.ok)
      .set("failures", toJson(s.failures))
      .set("wall_seconds", r.wallSeconds)
      .set("logins_per_second", r.wallSeconds > 0 ? static_cast<double>(s.ok) / r.wallSeconds : 0.0)
      .set("latency_ms", toJson(distribution(s.total), 1000))
      .set("phase_latency_ms", phases)
      .set("client_cpu_seconds", r.clientCpuSeconds);
  if (r.serverCpuSeconds) {
    o.set("server_cpu_seconds", *r.serverCpuSeconds);
    if (s.ok > 0) o.set("server_cpu_ms_per_login", *r.serverCpuSeconds * 1000 / static_cast<double>(s.ok));
  } else {
    o.setNull("server_cpu_seconds");
  }
  if (s.ok > 0) o.set("client_cpu_ms_per_login", r.clientCpuSeconds * 1000 / static_cast<double>(s.ok));
  return o;
}

void printLogin(const Bench& b, LoginResult& r, std::size_t attempted) {
  if (b.options.jsonOnly) return;
  auto& s = r.stats;
  const auto total = distribution(s.total);
  fmt::print(stderr, "logins:        {} ok, {} failed of {} in {:.2f} s = {:.1f} logins/s\n", s.ok,
             attempted - s.ok, attempted, r.wallSeconds,
             r.wallSeconds > 0 ? static_cast<double>(s.ok) / r.wallSeconds : 0.0);
  fmt::print(stderr, "login latency: p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms\n", total.p50 * 1000,
             total.p99 * 1000, total.max * 1000);
  auto phase = [](std::vector<double>& v) { return distribution(v).p50 * 1000; };
  fmt::print(
      stderr,
      "  p50 by step: connect {:.1f}, tls {:.1f}, auth {:.1f}, bind+roster {:.1f}, presence {:.1f} ms\n",
      phase(s.connect), phase(s.tls), phase(s.auth), phase(s.bind), phase(s.presence));
  const double per = s.ok > 0 ? 1000.0 / static_cast<double>(s.ok) : 0.0;
  fmt::print(stderr, "cpu:           client {:.2f} s ({:.2f} ms/login)", r.clientCpuSeconds,
             r.clientCpuSeconds * per);
  if (r.serverCpuSeconds)
    fmt::print(stderr, ", server {:.2f} s ({:.2f} ms/login)", *r.serverCpuSeconds, *r.serverCpuSeconds * per);
  fmt::print(stderr, " during the logins\n");
  for (const auto& [reason, n] : s.failures) fmt::print(stderr, "  failed {}×: {}\n", n, reason);
}

JsonObject parametersJson(const Options& o) {
  JsonObject p;
  p.set("host", o.host)
      .set("port", o.port)
      .set("direct_tls", o.directTls)
      .set("domain", o.domain)
      .set("mechanism", o.mechanism)
      .set("prefix", o.prefix)
      .set("first_user", o.firstUser)
      .set("users", o.users)
      .set("concurrency", o.concurrency)
      .set("threads", o.threads)
      .set("source_addresses", o.sourceAddresses)
      .set("timeout_seconds", o.timeoutSeconds)
      .set("server_pid", o.serverPid);
  return p;
}

// Closes every online session and waits (bounded) until the server closed them all.
struct CloseResult {
  double seconds = 0;
  std::size_t unfinished = 0;
};

CloseResult closeAll(Bench& b, const std::vector<std::shared_ptr<Session>>& sessions,
                     const std::vector<std::uint32_t>& threadOf, Countdown& ended) {
  const auto start = Clock::now();
  const auto timeout = millis(b.options.closeTimeoutSeconds);
  for (std::size_t i = 0; i < sessions.size(); ++i)
    if (sessions[i]) asio::post(b.pool.io(threadOf[i]), [s = sessions[i], timeout] { s->close(timeout); });
  ended.waitFor(timeout + std::chrono::seconds(5));
  return {Seconds(Clock::now() - start).count(), ended.remaining()};
}

FailureCounts droppedCounts(Bench& b, std::vector<std::unique_ptr<ThreadObserver>>& observers) {
  FailureCounts all;
  for (std::size_t t = 0; t < b.pool.size(); ++t)
    merge(all, b.pool.runOn(t, [&] { return observers[t]->dropped; }));
  return all;
}

std::vector<std::unique_ptr<ThreadObserver>> makeObservers(std::size_t n, Countdown& ended) {
  std::vector<std::unique_ptr<ThreadObserver>> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(std::make_unique<ThreadObserver>(ended));
  return out;
}

void emit(const std::string& scenario, const JsonObject& parameters, const JsonObject& results) {
  JsonObject report;
  report.set("tool", "parley-bench")
      .set("scenario", scenario)
      .set("parameters", parameters)
      .set("results", results);
  std::printf("%s\n", report.str().c_str());
  std::fflush(stdout);
}

std::string mib(std::int64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / 1048576.0);
}

}  // namespace

// ---- login ----

int runLogin(const Options& o) {
  // Destruction order: the pool (inside Bench) is stopped explicitly before the observers and
  // sessions go away.
  Countdown ended(o.users);
  auto observers = makeObservers(std::max(1u, o.threads), ended);
  Bench b(o);
  b.note(fmt::format("login: {} logins of {}N@{} to {}:{}{}, at most {} at once, {} thread(s)", o.users,
                     o.prefix, o.domain, o.host, b.settings.port,
                     o.directTls ? " (direct TLS)" : " (STARTTLS)", o.concurrency, b.pool.size()));
  const auto closeTimeout = millis(o.closeTimeoutSeconds);
  auto r = loginAll(b, o.users, [&](const std::shared_ptr<Session>& s, std::size_t thread) {
    // Online: the login is measured. Leave at once so at most C connections are open.
    s->run(*observers[thread]);
    s->close(closeTimeout);
  });
  for (std::size_t i = r.stats.ok; i < o.users; ++i) ended.arrive();  // failed logins have no session to end
  ended.waitFor(closeTimeout + std::chrono::seconds(5));
  const auto dropped = droppedCounts(b, observers);
  const std::size_t unfinished = ended.remaining();

  printLogin(b, r, o.users);
  JsonObject results = loginJson(r, o.users);
  results.set("sessions_not_closed_in_time", unfinished).set("ended_by_server", toJson(dropped));
  emit("login", parametersJson(o), results);
  b.pool.stop();
  return 0;
}

// ---- idle ----

int runIdle(const Options& o) {
  Countdown ended(o.users);
  auto observers = makeObservers(std::max(1u, o.threads), ended);
  Bench b(o);
  b.note(fmt::format("idle: {} sessions to {}:{}{}, {} logins at once, {} thread(s), hold {} s", o.users,
                     o.host, b.settings.port, o.directTls ? " (direct TLS)" : " (STARTTLS)", o.concurrency,
                     b.pool.size(), o.holdSeconds));
  const auto serverRssBefore = residentBytes(o.serverPid);
  if (!serverRssBefore) {
    fmt::print(stderr, "parley-bench: cannot read /proc/{}/status (is --server-pid right?)\n", o.serverPid);
    return 1;
  }
  const std::int64_t clientRssBefore = selfResidentBytes();

  auto r = loginAll(
      b, o.users, [&](const std::shared_ptr<Session>& s, std::size_t thread) { s->run(*observers[thread]); });
  const std::size_t online = r.stats.ok;
  for (std::size_t i = online; i < o.users; ++i) ended.arrive();  // failed logins have no session to end
  b.note(fmt::format("{} sessions online; letting the server settle for {} s", online, o.settleSeconds));
  std::this_thread::sleep_for(millis(o.settleSeconds));
  const auto serverRssAfter = residentBytes(o.serverPid);
  const std::int64_t clientRssAfter = selfResidentBytes();

  b.note(fmt::format("holding for {} s", o.holdSeconds));
  std::this_thread::sleep_for(millis(o.holdSeconds));
  const auto droppedDuringHold = droppedCounts(b, observers);
  std::size_t dropped = 0;
  for (const auto& [reason, n] : droppedDuringHold) dropped += n;
  const auto closed = closeAll(b, r.sessions, r.threadOf, ended);

  const double perSessionServer =
      online > 0 && serverRssAfter ? static_cast<double>(*serverRssAfter - *serverRssBefore) / online : 0.0;
  const double perSessionClient =
      online > 0 ? static_cast<double>(clientRssAfter - clientRssBefore) / static_cast<double>(online) : 0.0;

  if (!o.jsonOnly) {
    printLogin(b, r, o.users);
    fmt::print(stderr, "server rss:    {} before, {} with {} sessions = {:.0f} bytes/session\n",
               mib(*serverRssBefore), mib(serverRssAfter.value_or(0)), online, perSessionServer);
    fmt::print(stderr, "client rss:    {} before, {} after = {:.0f} bytes/session (this tool)\n",
               mib(clientRssBefore), mib(clientRssAfter), perSessionClient);
    fmt::print(stderr, "hold:          {} of {} sessions still online after {} s\n", online - dropped, online,
               o.holdSeconds);
    for (const auto& [reason, n] : droppedDuringHold)
      fmt::print(stderr, "  ended by server {}×: {}\n", n, reason);
    fmt::print(stderr, "close:         {:.2f} s, {} not closed in time\n", closed.seconds, closed.unfinished);
  }
  JsonObject params = parametersJson(o);
  params.set("hold_seconds", o.holdSeconds).set("settle_seconds", o.settleSeconds);
  JsonObject results;
  results.set("login", loginJson(r, o.users))
      .set("sessions_online", online)
      .set("server_rss_before_bytes", *serverRssBefore)
      .set("server_rss_after_bytes", serverRssAfter.value_or(0))
      .set("server_bytes_per_session", perSessionServer)
      .set("server_cpu_seconds_login", r.serverCpuSeconds.value_or(0.0))
      .set("client_rss_before_bytes", clientRssBefore)
      .set("client_rss_after_bytes", clientRssAfter)
      .set("client_bytes_per_session", perSessionClient)
      .set("sessions_online_after_hold", online - dropped)
      .set("ended_by_server", toJson(droppedDuringHold))
      .set("close_seconds", closed.seconds)
      .set("sessions_not_closed_in_time", closed.unfinished);
  emit("idle", params, results);
  b.pool.stop();
  return 0;
}

// ---- chat ----

namespace {

// Sends to `to` at first, first + interval, … until `end`. The body carries the steady_clock time of
// the send and a sequence number (the receiver is in this process, so the clocks agree).
asio::awaitable<void> chatSender(std::shared_ptr<Session> session, std::string to, Clock::time_point first,
                                 Clock::duration interval, Clock::time_point end, ThreadObserver* stats,
                                 std::string_view type = "chat") {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  boost::system::error_code ec;
  std::uint64_t sequence = 0;
  for (auto at = first; at < end && !session->over(); at += interval) {
    timer.expires_at(at);
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    const auto now = Clock::now();
    stats->sendLag.push_back(Seconds(now - at).count());
    session->send(fmt::format(
        "<message to='{}' type='{}' id='m{}'><body>{} {}</body></message>", to, type, sequence,
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count(), sequence));
    ++sequence;
    ++stats->sent;
  }
}

}  // namespace

int runChat(const Options& o) {
  const std::size_t pairs = o.users / 2;
  if (pairs == 0 || o.rate <= 0 || o.durationSeconds <= 0) {
    fmt::print(stderr, "parley-bench: chat needs --users >= 2, --rate > 0 and --duration > 0\n");
    return 1;
  }
  Countdown ended(pairs * 2);
  auto observers = makeObservers(std::max(1u, o.threads), ended);
  Bench b(o);
  b.note(fmt::format("chat: {} pairs to {}:{}, {} msg/s for {} s, {} thread(s)", pairs, o.host,
                     b.settings.port, o.rate, o.durationSeconds, b.pool.size()));
  auto r = loginAll(b, pairs * 2, [&](const std::shared_ptr<Session>& s, std::size_t thread) {
    s->run(*observers[thread]);
  });
  for (std::size_t i = r.stats.ok; i < pairs * 2; ++i) ended.arrive();

  // Users 2p (sender) and 2p+1 (receiver) form pair p; pairs with a failed login sit out.
  std::vector<std::size_t> active;
  for (std::size_t p = 0; p < pairs; ++p)
    if (r.sessions[2 * p] && r.sessions[2 * p + 1]) active.push_back(p);
  b.note(fmt::format("{} of {} pairs online; sending", active.size(), pairs));
  std::this_thread::sleep_for(millis(o.quietSeconds));

  const auto serverCpuBefore = b.serverCpu();
  const double clientCpuBefore = selfCpuSeconds();
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const auto end = start + std::chrono::duration_cast<Clock::duration>(Seconds(o.durationSeconds));
  if (!active.empty()) {
    // Each sender sends rate/senders per second; their phases are spread evenly so the server sees a
    // steady total rate rather than bursts.
    const double senders = static_cast<double>(active.size());
    const auto interval = std::chrono::duration_cast<Clock::duration>(Seconds(senders / o.rate));
    for (std::size_t k = 0; k < active.size(); ++k) {
      const std::size_t p = active[k];
      std::string to;
      xml::appendEscapedAttr(to, fmt::format("{}{}@{}", o.prefix, o.firstUser + 2 * p + 1, o.domain));
      const auto first =
          start + std::chrono::duration_cast<Clock::duration>(interval * (static_cast<double>(k) / senders));
      const std::size_t thread = r.threadOf[2 * p];
      asio::co_spawn(
          b.pool.io(thread),
          chatSender(r.sessions[2 * p], std::move(to), first, interval, end, observers[thread].get()),
          asio::detached);
    }
  }
  std::this_thread::sleep_until(end);
  b.note(fmt::format("draining for {} s", o.drainSeconds));
  std::this_thread::sleep_for(millis(o.drainSeconds));
  const auto serverCpuAfter = b.serverCpu();
  const double clientCpu = selfCpuSeconds() - clientCpuBefore;

  std::size_t sent = 0, received = 0, outOfOrder = 0;
  std::vector<double> latencies, lag;
  for (std::size_t t = 0; t < b.pool.size(); ++t) {
    b.pool.runOn(t, [&, t] {
      auto& s = *observers[t];
      sent += s.sent;
      received += s.received;
      outOfOrder += s.outOfOrder;
      latencies.insert(latencies.end(), s.latencies.begin(), s.latencies.end());
      lag.insert(lag.end(), s.sendLag.begin(), s.sendLag.end());
    });
  }
  const auto dropped = droppedCounts(b, observers);
  const auto closed = closeAll(b, r.sessions, r.threadOf, ended);

  const auto latency = distribution(latencies);
  const auto sendLag = distribution(lag);
  const double deliveredPerSecond = static_cast<double>(received) / o.durationSeconds;
  const std::int64_t losses = static_cast<std::int64_t>(sent) - static_cast<std::int64_t>(received);
  std::optional<double> serverCpu;
  if (serverCpuBefore && serverCpuAfter) serverCpu = *serverCpuAfter - *serverCpuBefore;

  if (!o.jsonOnly) {
    printLogin(b, r, pairs * 2);
    fmt::print(stderr, "messages:      {} sent, {} received, {} lost, {} out of order; {:.1f} delivered/s\n",
               sent, received, losses, outOfOrder, deliveredPerSecond);
    fmt::print(stderr, "latency:       p50 {:.2f} ms, p99 {:.2f} ms, p99.9 {:.2f} ms, max {:.2f} ms\n",
               latency.p50 * 1000, latency.p99 * 1000, latency.p999 * 1000, latency.max * 1000);
    fmt::print(stderr, "sender lag:    p99 {:.2f} ms, max {:.2f} ms (client behind its schedule)\n",
               sendLag.p99 * 1000, sendLag.max * 1000);
    fmt::print(stderr, "cpu:           client {:.2f} s", clientCpu);
    if (serverCpu)
      fmt::print(stderr, ", server {:.2f} s ({:.0f} µs/message)", *serverCpu,
                 received > 0 ? *serverCpu * 1e6 / static_cast<double>(received) : 0.0);
    fmt::print(stderr, " while sending and draining ({:.1f} s)\n", o.durationSeconds + o.drainSeconds);
    for (const auto& [reason, n] : dropped) fmt::print(stderr, "  ended by server {}×: {}\n", n, reason);
  }
  JsonObject params = parametersJson(o);
  params.set("rate", o.rate)
      .set("duration_seconds", o.durationSeconds)
      .set("drain_seconds", o.drainSeconds)
      .set("quiet_seconds", o.quietSeconds);
  JsonObject results;
  results.set("login", loginJson(r, pairs * 2))
      .set("pairs", pairs)
      .set("pairs_active", active.size())
      .set("sent", sent)
      .set("received", received)
      .set("lost", losses)
      .set("out_of_order", outOfOrder)
      .set("delivered_per_second", deliveredPerSecond)
      .set("latency_ms", toJson(latency, 1000))
      .set("sender_lag_ms", toJson(sendLag, 1000))
      .set("client_cpu_seconds", clientCpu)
      .set("ended_by_server", toJson(dropped))
      .set("close_seconds", closed.seconds)
      .set("sessions_not_closed_in_time", closed.unfinished);
  if (serverCpu) {
    results.set("server_cpu_seconds", *serverCpu);
    if (received > 0)
      results.set("server_cpu_us_per_message", *serverCpu * 1e6 / static_cast<double>(received));
  } else {
    results.setNull("server_cpu_seconds");
  }
  emit("chat", params, results);
  b.pool.stop();
  return 0;
}

// ---- muc ----

int runMuc(const Options& o) {
  const std::size_t rooms = o.rooms;
  if (o.users < 2 || rooms == 0 || o.users % rooms != 0 || o.rate <= 0 || o.durationSeconds <= 0) {
    fmt::print(
        stderr,
        "parley-bench: muc needs --users >= 2, a multiple of --rooms, --rate > 0 and --duration > 0\n");
    return 1;
  }
  const std::size_t perRoom = o.users / rooms;
  const std::string service = o.mucService.empty() ? "muc." + o.domain : o.mucService;
  Countdown ended(o.users);
  auto observers = makeObservers(std::max(1u, o.threads), ended);
  for (auto& observer : observers) observer->checkOrder = false;  // many senders per receiver
  Bench b(o);
  b.note(fmt::format("muc: {} occupants in {} room(s) of {} at {}, {} msg/s for {} s, {} thread(s)", o.users,
                     rooms, perRoom, service, o.rate, o.durationSeconds, b.pool.size()));
  auto roomOf = [&](std::size_t i) { return fmt::format("{}{}@{}", o.roomPrefix, i % rooms, service); };
  auto r = loginAll(
      b, o.users, [&](const std::shared_ptr<Session>& s, std::size_t thread) { s->run(*observers[thread]); });
  for (std::size_t i = r.stats.ok; i < o.users; ++i) ended.arrive();
  if (r.stats.ok != o.users) {
    printLogin(b, r, o.users);
    fmt::print(stderr, "parley-bench: muc needs every login to succeed ({} of {})\n", r.stats.ok, o.users);
    closeAll(b, r.sessions, r.threadOf, ended);
    b.pool.stop();
    return 1;
  }

  // XEP-0045 §7.2: a join is a presence with the MUC <x/>; no history (§7.2.15), or an earlier run's
  // messages would be counted. The first occupant of each room joins alone and, when the join created
  // the room, unlocks it as an instant room (§10.1.2); then everybody else joins. Every occupant must be
  // in before the clock starts, or the expected count is wrong.
  const auto joinDeadline = Clock::now() + millis(o.timeoutSeconds);
  struct JoinState {
    std::size_t joined = 0, unlocksSent = 0, unlocked = 0;
  };
  auto joinState = [&] {
    JoinState all;
    for (std::size_t t = 0; t < b.pool.size(); ++t)
      b.pool.runOn(t, [&, t] {
        all.joined += observers[t]->joined;
        all.unlocksSent += observers[t]->unlocksSent;
        all.unlocked += observers[t]->unlocked;
      });
    return all;
  };
  auto join = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i)
      asio::post(b.pool.io(r.threadOf[i]), [s = r.sessions[i], room = roomOf(i), i] {
        std::string stanza = "<presence to='";
        xml::appendEscapedAttr(stanza, fmt::format("{}/u{}", room, i));
        stanza += "'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>";
        s->send(std::move(stanza));
      });
  };
  auto waitJoins = [&](std::size_t n) {
    for (;;) {
      const auto st = joinState();
      if ((st.joined >= n && st.unlocked >= st.unlocksSent) || Clock::now() > joinDeadline) return st.joined;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  join(0, rooms);
  std::size_t joined = waitJoins(rooms);
  if (joined >= rooms) {
    join(rooms, o.users);
    joined = waitJoins(o.users);
  }
  if (joined < o.users) {
    FailureCounts errors;
    for (std::size_t t = 0; t < b.pool.size(); ++t)
      merge(errors, b.pool.runOn(t, [&, t] { return observers[t]->joinErrors; }));
    fmt::print(stderr, "parley-bench: only {} of {} occupants joined within {} s (room size limit?)\n",
               joined, o.users, o.timeoutSeconds);
    for (const auto& [reason, n] : errors) fmt::print(stderr, "  join refused {}×: {}\n", n, reason);
    closeAll(b, r.sessions, r.threadOf, ended);
    b.pool.stop();
    return 1;
  }
  b.note(fmt::format("{} occupants joined; sending", joined));
  std::this_thread::sleep_for(millis(o.quietSeconds));

  const auto serverCpuBefore = b.serverCpu();
  const double clientCpuBefore = selfCpuSeconds();
  const auto start = Clock::now() + std::chrono::milliseconds(200);
  const auto end = start + std::chrono::duration_cast<Clock::duration>(Seconds(o.durationSeconds));
  // Every occupant sends rate/users per second, phases spread evenly.
  const double senders = static_cast<double>(o.users);
  const auto interval = std::chrono::duration_cast<Clock::duration>(Seconds(senders / o.rate));
  for (std::size_t i = 0; i < o.users; ++i) {
    std::string to;
    xml::appendEscapedAttr(to, roomOf(i));
    const auto first =
        start + std::chrono::duration_cast<Clock::duration>(interval * (static_cast<double>(i) / senders));
    const std::size_t thread = r.threadOf[i];
    asio::co_spawn(
        b.pool.io(thread),
        chatSender(r.sessions[i], std::move(to), first, interval, end, observers[thread].get(), "groupchat"),
        asio::detached);
  }
  std::this_thread::sleep_until(end);
  b.note(fmt::format("draining for {} s", o.drainSeconds));
  std::this_thread::sleep_for(millis(o.drainSeconds));
  const auto serverCpuAfter = b.serverCpu();
  const double clientCpu = selfCpuSeconds() - clientCpuBefore;

  std::size_t sent = 0, received = 0;
  std::vector<double> latencies;
  for (std::size_t t = 0; t < b.pool.size(); ++t) {
    b.pool.runOn(t, [&, t] {
      sent += observers[t]->sent;
      received += observers[t]->received;
      latencies.insert(latencies.end(), observers[t]->latencies.begin(), observers[t]->latencies.end());
    });
  }
  const auto dropped = droppedCounts(b, observers);
  const auto closed = closeAll(b, r.sessions, r.threadOf, ended);

  // Each message reaches every occupant of its room, the sender included (§7.4).
  const std::size_t expected = sent * perRoom;
  const auto latency = distribution(latencies);
  const std::int64_t lost = static_cast<std::int64_t>(expected) - static_cast<std::int64_t>(received);
  std::optional<double> serverCpu;
  if (serverCpuBefore && serverCpuAfter) serverCpu = *serverCpuAfter - *serverCpuBefore;
  const double perDelivery = serverCpu && received > 0 ? *serverCpu * 1e6 / static_cast<double>(received) : 0;
  const double perMessage = serverCpu && sent > 0 ? *serverCpu * 1e6 / static_cast<double>(sent) : 0;

  if (!o.jsonOnly) {
    printLogin(b, r, o.users);
    fmt::print(stderr, "messages:      {} sent, {} deliveries of {} expected, {} lost; {:.1f} deliveries/s\n",
               sent, received, expected, lost, static_cast<double>(received) / o.durationSeconds);
    fmt::print(stderr, "latency:       p50 {:.2f} ms, p99 {:.2f} ms, p99.9 {:.2f} ms, max {:.2f} ms\n",
               latency.p50 * 1000, latency.p99 * 1000, latency.p999 * 1000, latency.max * 1000);
    fmt::print(stderr, "cpu:           client {:.2f} s", clientCpu);
    if (serverCpu)
      fmt::print(stderr, ", server {:.2f} s ({:.1f} µs/delivery, {:.0f} µs/room message)", *serverCpu,
                 perDelivery, perMessage);
    fmt::print(stderr, " while sending and draining ({:.1f} s)\n", o.durationSeconds + o.drainSeconds);
    for (const auto& [reason, n] : dropped) fmt::print(stderr, "  ended by server {}×: {}\n", n, reason);
  }
  JsonObject params = parametersJson(o);
  params.set("rooms", rooms)
      .set("service", service)
      .set("rate", o.rate)
      .set("duration_seconds", o.durationSeconds)
      .set("drain_seconds", o.drainSeconds)
      .set("quiet_seconds", o.quietSeconds);
  JsonObject results;
  results.set("login", loginJson(r, o.users))
      .set("occupants_per_room", perRoom)
      .set("sent", sent)
      .set("deliveries_expected", expected)
      .set("deliveries", received)
      .set("lost", lost)
      .set("deliveries_per_second", static_cast<double>(received) / o.durationSeconds)
      .set("latency_ms", toJson(latency, 1000))
      .set("client_cpu_seconds", clientCpu)
      .set("ended_by_server", toJson(dropped))
      .set("close_seconds", closed.seconds)
      .set("sessions_not_closed_in_time", closed.unfinished);
  if (serverCpu) {
    results.set("server_cpu_seconds", *serverCpu)
        .set("server_cpu_us_per_delivery", perDelivery)
        .set("server_cpu_us_per_room_message", perMessage);
  } else {
    results.setNull("server_cpu_seconds");
  }
  emit("muc", params, results);
  b.pool.stop();
  return 0;
}

// ---- mam ----

namespace {

constexpr std::string_view kMamNs = "urn:xmpp:mam:2";
constexpr std::string_view kRsmNs = "http://jabber.org/protocol/rsm";

// Both sessions of the mam scenario live on thread 0; the main thread only reads the atomics and, once
// a phase is over, the rest through Pool::runOn().
struct MamObserver final : SessionObserver {
  MamObserver(Countdown& ended, Countdown& filled, Countdown& paged, std::size_t pageSize)
      : ended(ended), filled(filled), paged(paged), pageSize(pageSize) {}

  void onMessage(Session&, const xml::Element& m) override {
    if (const auto* r = m.child("result", kMamNs)) {
      if (r->attr("queryid") != queryId) return;
      ++pageResults;
      lastResultId = std::string(r->attr("id"));
      if (!seen.insert(lastResultId).second) ++duplicates;
      return;
    }
    if (m.child("body", xml::ns::kClient)) {
      received.fetch_add(1);
      filled.arrive();
    }
  }

  void onIqResponse(Session& s, const xml::Element& iq) override {
    if (iq.attr("id") != queryId) return;
    latencies.push_back(Seconds(Clock::now() - sentAt).count());
    ++pages;
    const auto* fin = iq.child("fin", kMamNs);
    const auto* set = fin ? fin->child("set", kRsmNs) : nullptr;
    if (iq.attr("type") != "result" || !fin || !set) {
      error = iq.attr("type") == "error" ? "query answered with an error" : "result without <fin><set>";
      paged.arrive();
      return;
    }
    if (set->child("count", kRsmNs) && count < 0) count = std::stol(set->childText("count", kRsmNs));
    const std::string last = set->childText("last", kRsmNs);
    if (pageResults != pageSize && fin->attr("complete") != "true") ++shortPages;
    if (pageResults > 0 && last != lastResultId) ++mismatchedLast;
    total += pageResults;
    if (fin->attr("complete") == "true" || last.empty()) {
      paged.arrive();
      return;
    }
    query(s, last);
  }

  void onEnded(Session&, std::string_view reason) override {
    if (!reason.empty()) ++dropped[std::string(reason)];
    ended.arrive();
  }

  // On thread 0.
  void query(Session& owner, const std::string& after) {
    queryId = "page" + std::to_string(pages);
    pageResults = 0;
    std::string q = "<iq type='set' id='" + queryId + "'><query xmlns='urn:xmpp:mam:2' queryid='" + queryId +
                    "'><set xmlns='http://jabber.org/protocol/rsm'><max>" + std::to_string(pageSize) +
                    "</max>";
    if (!after.empty()) {
      q += "<after>";
      xml::appendEscapedText(q, after);
      q += "</after>";
    }
    q += "</set></query></iq>";
    sentAt = Clock::now();
    owner.send(std::move(q));
  }

  Countdown& ended;
  Countdown& filled;
  Countdown& paged;
  const std::size_t pageSize;
  FailureCounts dropped;
  std::atomic<std::size_t> received{0};
  // paging
  std::string queryId;
  Clock::time_point sentAt;
  std::size_t pageResults = 0;
  std::string lastResultId;
  std::size_t pages = 0, total = 0, duplicates = 0, shortPages = 0, mismatchedLast = 0;
  long count = -1;
  std::string error;
  std::set<std::string> seen;
  std::vector<double> latencies;  // seconds, one per page
};

// Keeps at most `window` messages between the sender and the receiver, so the run measures the
// server's steady cost rather than a queue building up.
asio::awaitable<void> mamFiller(std::shared_ptr<Session> sender, std::string to, std::size_t n,
                                std::size_t window, MamObserver* obs) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  boost::system::error_code ec;
  for (std::size_t i = 0; i < n && !sender->over();) {
    if (i - obs->received.load() >= window) {
      timer.expires_after(std::chrono::microseconds(200));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    sender->send(fmt::format("<message to='{}' type='chat' id='f{}'><body>archive fill {}</body></message>",
                             to, i, i));
    ++i;
  }
}

}  // namespace

int runMam(const Options& o) {
  Options opts = o;
  opts.threads = 1;  // both sessions on one thread: the observer needs no locks
  Countdown ended(2);
  Countdown filled(opts.skipFill ? 0 : opts.messages);
  Countdown paged(1);
  MamObserver observer(ended, filled, paged, opts.pageSize);
  Bench b(opts);
  b.note(fmt::format(
      "mam: {}{} fills the archive of {}{} with {} messages, then pages through it {} at a time", opts.prefix,
      opts.firstUser, opts.prefix, opts.firstUser + 1, opts.skipFill ? 0 : opts.messages, opts.pageSize));
  auto r = loginAll(b, 2, [&](const std::shared_ptr<Session>& s, std::size_t) { s->run(observer); });
  for (std::size_t i = r.stats.ok; i < 2; ++i) ended.arrive();
  if (!r.sessions[0] || !r.sessions[1]) {
    fmt::print(stderr, "parley-bench: mam: login failed\n");
    closeAll(b, r.sessions, r.threadOf, ended);
    b.pool.stop();
    return 1;
  }

  // Fill.
  double fillSeconds = 0;
  std::optional<double> fillCpu;
  if (!opts.skipFill) {
    std::string to;
    xml::appendEscapedAttr(to, fmt::format("{}{}@{}", opts.prefix, opts.firstUser + 1, opts.domain));
    const auto cpuBefore = b.serverCpu();
    const auto start = Clock::now();
    asio::co_spawn(b.pool.io(0),
                   mamFiller(r.sessions[0], std::move(to), opts.messages, opts.window, &observer),
                   asio::detached);
    while (!filled.waitFor(std::chrono::seconds(5)))
      b.note(fmt::format("  … {} of {} delivered", observer.received.load(), opts.messages));
    fillSeconds = Seconds(Clock::now() - start).count();
    // The last archive writes may still be committing: let them finish before reading the CPU time.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (auto after = b.serverCpu(); after && cpuBefore) fillCpu = *after - *cpuBefore;
  }

  // Page through the receiver's archive.
  const auto cpuBefore = b.serverCpu();
  const auto start = Clock::now();
  asio::post(b.pool.io(0), [&observer, owner = r.sessions[1]] { observer.query(*owner, {}); });
  while (!paged.waitFor(std::chrono::seconds(5))) b.note(fmt::format("  … paging"));
  const double pageSeconds = Seconds(Clock::now() - start).count();
  std::optional<double> pageCpu;
  if (auto after = b.serverCpu(); after && cpuBefore) pageCpu = *after - *cpuBefore;

  struct Paging {
    std::size_t pages, total, duplicates, shortPages, mismatchedLast;
    long count;
    std::string error;
    std::vector<double> latencies;
  };
  auto paging = b.pool.runOn(0, [&observer] {
    return Paging{
        observer.pages,          observer.total, observer.duplicates, observer.shortPages,
        observer.mismatchedLast, observer.count, observer.error,      std::move(observer.latencies)};
  });
  const auto dropped = b.pool.runOn(0, [&observer] { return observer.dropped; });
  const auto closed = closeAll(b, r.sessions, r.threadOf, ended);
  const auto latency = distribution(paging.latencies);
  const bool consistent = paging.error.empty() && paging.duplicates == 0 && paging.shortPages == 0 &&
                          paging.mismatchedLast == 0 &&
                          (paging.count < 0 || static_cast<long>(paging.total) == paging.count);

  if (!opts.jsonOnly) {
    if (!opts.skipFill) {
      fmt::print(stderr, "fill:          {} messages in {:.2f} s = {:.0f} msg/s", opts.messages, fillSeconds,
                 static_cast<double>(opts.messages) / fillSeconds);
      if (fillCpu)
        fmt::print(stderr, "; server {:.2f} s CPU = {:.0f} µs/message (both archive copies included)",
                   *fillCpu, *fillCpu * 1e6 / static_cast<double>(opts.messages));
      fmt::print(stderr, "\n");
    }
    fmt::print(stderr, "paging:        {} messages in {} pages of {} in {:.2f} s = {:.0f} msg/s\n",
               paging.total, paging.pages, opts.pageSize, pageSeconds,
               static_cast<double>(paging.total) / pageSeconds);
    fmt::print(stderr, "page latency:  p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms\n", latency.p50 * 1000,
               latency.p99 * 1000, latency.max * 1000);
    if (pageCpu)
      fmt::print(stderr, "server cpu:    {:.2f} s while paging = {:.2f} ms/page\n", *pageCpu,
                 paging.pages > 0 ? *pageCpu * 1000 / static_cast<double>(paging.pages) : 0.0);
    fmt::print(stderr, "consistency:   count {}, {} duplicates, {} short pages, {} wrong <last/>{}\n",
               paging.count, paging.duplicates, paging.shortPages, paging.mismatchedLast,
               paging.error.empty() ? "" : "; " + paging.error);
  }
  JsonObject params = parametersJson(opts);
  params.set("messages", opts.skipFill ? 0 : opts.messages)
      .set("window", opts.window)
      .set("page_size", opts.pageSize);
  JsonObject results;
  results.set("login", loginJson(r, 2))
      .set("fill_seconds", fillSeconds)
      .set("pages", paging.pages)
      .set("paged_messages", paging.total)
      .set("rsm_count", static_cast<std::int64_t>(paging.count))
      .set("duplicates", paging.duplicates)
      .set("short_pages", paging.shortPages)
      .set("consistent", consistent)
      .set("page_seconds", pageSeconds)
      .set("page_latency_ms", toJson(latency, 1000))
      .set("ended_by_server", toJson(dropped))
      .set("sessions_not_closed_in_time", closed.unfinished);
  if (fillCpu) {
    results.set("fill_server_cpu_seconds", *fillCpu)
        .set("fill_server_cpu_us_per_message", *fillCpu * 1e6 / static_cast<double>(opts.messages));
  }
  if (pageCpu) {
    results.set("page_server_cpu_seconds", *pageCpu);
    if (paging.pages > 0)
      results.set("page_server_cpu_ms_per_page", *pageCpu * 1000 / static_cast<double>(paging.pages));
  }
  emit("mam", params, results);
  b.pool.stop();
  return consistent ? 0 : 1;
}

// ---- provision ----

int runProvision(const Options& o) {
  if (o.database.empty()) {
    fmt::print(stderr, "parley-bench: provision needs --database PATH\n");
    return 1;
  }
  auto domain = xmpp::Jid::prepDomain(o.domain);
  if (!domain) {
    fmt::print(stderr, "parley-bench: invalid domain \"{}\"\n", o.domain);
    return 1;
  }
  std::unique_ptr<storage::Database> db;
  try {
    storage::StorageConfig config;
    config.backend = "sqlite";
    config.sqlitePath = o.database;
    db = storage::openDatabase(config);
    db->migrate();
  } catch (const std::exception& e) {
    fmt::print(stderr, "parley-bench: cannot open {}: {}\n", o.database, e.what());
    return 1;
  }
  if (!o.jsonOnly)
    fmt::print(stderr, "provision: {} accounts {}{}..{}@{} in {} ({} PBKDF2 iterations, {} thread(s))\n",
               o.users, o.prefix, o.firstUser, o.firstUser + o.users - 1, *domain, o.database, o.iterations,
               o.threads);

  // PBKDF2 dominates (three hashes per account): spread the accounts over the threads. The database
  // gives each thread its own connection; SQLite's busy timeout orders the short write transactions.
  std::atomic<std::size_t> next{0}, created{0}, existing{0}, failed{0};
  const auto start = Clock::now();
  auto work = [&] {
    storage::AccountStore accounts(*db);
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= o.users) return;
      try {
        auto jid = xmpp::Jid::fromParts(o.prefix + std::to_string(o.firstUser + i), *domain);
        if (!jid) {
          ++failed;
          continue;
        }
        if (accounts.exists(jid->domain(), jid->local())) {  // skip the PBKDF2 work on a re-run
          ++existing;
          continue;
        }
        switch (core::createAccount(*db, *jid, o.password, o.iterations)) {
          case core::AccountResult::Ok:
            ++created;
            break;
          case core::AccountResult::Exists:
            ++existing;
            break;
          default:
            ++failed;
            break;
        }
      } catch (const std::exception& e) {
        if (failed++ == 0) fmt::print(stderr, "parley-bench: {}\n", e.what());
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::max(1u, o.threads); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  const double seconds = Seconds(Clock::now() - start).count();

  if (!o.jsonOnly)
    fmt::print(stderr, "provision: {} created, {} already there, {} failed in {:.2f} s\n", created.load(),
               existing.load(), failed.load(), seconds);
  JsonObject params;
  params.set("database", o.database)
      .set("domain", *domain)
      .set("prefix", o.prefix)
      .set("first_user", o.firstUser)
      .set("users", o.users)
      .set("iterations", o.iterations)
      .set("threads", o.threads);
  JsonObject results;
  results.set("created", created.load())
      .set("existing", existing.load())
      .set("failed", failed.load())
      .set("seconds", seconds);
  emit("provision", params, results);
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace parley::bench
