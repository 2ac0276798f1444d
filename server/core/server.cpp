#include "server/core/server.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/c2s/c2s_session.h"
#include "server/c2s/login_limiter.h"
#include "server/http/http_server.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/net/batched_send.h"
#include "server/net/listener.h"
#include "server/net/tls_context.h"
#include "server/presence/presence_service.h"
#include "server/roster/roster_service.h"
#include "server/runtime/pool_metrics.h"
#include "server/stream/inbound_stream.h"
#include "server/util/crypto.h"
#include "server/util/heap.h"

namespace parley::core {

namespace {
// Housekeeping's heap release (see scheduleHousekeeping): never for less free heap than this, and under
// load only when a lot is free; "quiet" is below this share of one CPU since the previous round.
constexpr std::size_t kTrimFloorBytes = 1024 * 1024;
constexpr double kQuietCpuShare = 0.05;

// The secret behind the SCRAM salts faked for unknown accounts. It must outlive restarts: if it
// changed, an unknown account's salt would change while a real one's stays, which tells them apart.
std::string loadOrCreateSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (secret.size() >= 32) return secret;
  secret = util::randomBytes(32);
  const mode_t old = ::umask(077);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(secret.data(), static_cast<std::streamsize>(secret.size()));
  ::umask(old);
  if (!out) throw std::runtime_error("cannot write " + path);
  return secret;
}

std::shared_ptr<const stream::StreamSettings> makeStreamSettings(const Config& cfg, bool directTls) {
  auto s = std::make_shared<stream::StreamSettings>();
  s->directTls = directTls;
  s->requireTls = cfg.c2s.requireTls;
  s->mechanisms = cfg.c2s.saslMechanisms;
  s->preauthLimits = xml::ParserLimits{cfg.limits.stanzaSizePreauth, cfg.limits.maxDepth,
                                       cfg.limits.maxChildren, cfg.limits.maxAttributes};
  s->limits = xml::ParserLimits{cfg.limits.stanzaSize, cfg.limits.maxDepth, cfg.limits.maxChildren,
                                cfg.limits.maxAttributes};
  s->preauthTimeout = std::chrono::seconds(cfg.limits.preauthTimeout);
  s->releaseParserAfterRead = cfg.c2s.releaseParserAfterRead;
  s->fakeScramIterations = cfg.auth.scramIterations;
  return s;
}
}  // namespace

Server::Server(Config config) : config_(std::move(config)) {
  // Module configuration is validated before anything else starts.
  modules_ = std::make_unique<module::ModuleHost>(config_);
  tls_ = std::make_unique<net::TlsContexts>(config_);
  startTlsSettings_ = makeStreamSettings(config_, false);
  directTlsSettings_ = makeStreamSettings(config_, true);
}

void Server::afterQueuedWork(runtime::Executor exec, std::function<void()> fn) {
  // Two hops: each network thread runs what was posted before (deliveries, re-routes), which may
  // queue storage work; then the pool barrier waits for that work.
  struct Pending {
    std::atomic<std::size_t> left;
    std::function<void()> fn;
    runtime::Executor exec;
  };
  auto p = std::make_shared<Pending>();
  p->left = io_->size();
  p->fn = std::move(fn);
  p->exec = exec;
  for (std::size_t i = 0; i < io_->size(); ++i) {
    io_->executor(i).post([this, p] {
      if (p->left.fetch_sub(1) != 1) return;
      pool_->barrier([p] { p->exec.post(std::move(p->fn)); });
    });
  }
}

void Server::addConnection(const std::shared_ptr<session::Session>& session) {
  std::lock_guard lock(connectionsMu_);
  connections_[session->id()] = session;
}

void Server::removeConnection(std::uint64_t sessionId) {
  std::lock_guard lock(connectionsMu_);
  connections_.erase(sessionId);
}

std::size_t Server::connectionCount() const {
  std::lock_guard lock(connectionsMu_);
  return connections_.size();
}

Server::~Server() {
  shutdown();
}

void Server::start() {
  std::error_code ec;
  std::filesystem::create_directories(config_.dataDir, ec);
  fakeSaltSecret_ = loadOrCreateSecret(config_.dataDir + "/scram-secret");

  db_ = storage::openDatabase(config_.storage);
  db_->migrate();
  log::info("storage.ready", "backend={} schema_version={}", config_.storage.backend, db_->schemaVersion());

  net::setBatchedSendUring(config_.ioUring);
  io_ = std::make_unique<runtime::IoPool>(static_cast<std::size_t>(config_.networkThreads));
  pool_ = std::make_unique<runtime::BlockingPool>(static_cast<std::size_t>(config_.blockingThreads), 100000);
  router_ = std::make_unique<router::Router>(sessions_, hooks_, iqRouter_);
  for (const auto& h : config_.hosts) router_->addLocalDomain(h.domain);
  roster_ = std::make_unique<roster::RosterService>(*this);
  presence_ = std::make_unique<presence::PresenceService>(*this);
  router_->setPresenceHandler(presence_.get());
  addressLimiter_ = std::make_unique<net::AddressLimiter>(config_.limits.connectionsPerIp,
                                                          config_.limits.unauthenticatedPerIp);
  loginLimiter_ = std::make_unique<c2s::LoginLimiter>(config_.auth);
  {
    constexpr std::string_view kAuth = "Client authentications by outcome.";
    constexpr std::string_view kRefused =
        "Login attempts refused with temporary-auth-failure by the failed-login limits, by limit.";
    c2s::LoginLimiter::Counters c;
    c.successes = &metrics_.counter("parley_auth_total", kAuth, {{"result", "success"}});
    c.failures = &metrics_.counter("parley_auth_total", kAuth, {{"result", "failure"}});
    c.verifications = &metrics_.counter(
        "parley_auth_verifications_total",
        "Full password verifications: SCRAM proofs and PLAIN passwords checked against the stored "
        "credential (or the one faked for an unknown account).");
    c.refusedPair =
        &metrics_.counter("parley_auth_refused_total", kRefused, {{"limit", "account_and_address"}});
    c.refusedAddress = &metrics_.counter("parley_auth_refused_total", kRefused, {{"limit", "address"}});
    c.refusedAccount = &metrics_.counter("parley_auth_refused_total", kRefused, {{"limit", "account"}});
    loginLimiter_->countInto(c);
  }
  runtime::setBlockingJobHistogram(&metrics_.histogram(
      "parley_blocking_job_seconds", "Run time of blocking-pool jobs (storage, password hashing, file work).",
      metrics::latencyBuckets()));

  http_ = std::make_unique<http::HttpServer>(config_, *io_, *tls_, metrics_);
  io_->start();
  roster_->start();
  modules_->startAll(*this);
  started_ = true;

  for (const auto& l : config_.listeners) {
    const bool directTls = l.type == ListenerType::C2sDirectTls;
    auto listener = std::make_unique<net::Listener>(
        *io_, l.address, l.port, [this, directTls](runtime::Executor exec, int fd, std::string ip) {
          if (stopping_.load() || !addressLimiter_->acquire(ip)) {
            ::close(fd);  // over the per-address limit: refuse before allocating anything
            log::info("net.connection.refused", "peer={} reason=limit", ip);
            return;
          }
          c2s::C2sSession::accept(*this, exec, fd, std::move(ip), directTls);
        });
    listener->start();
    const char* name = directTls ? "c2s_tls" : "c2s";
    log::info("listener.ready", "type={} address={} port={}", name, l.address, listener->port());
    bound_.push_back(BoundListener{l.type, l.address, listener->port()});
    listenerObjects_.push_back(std::move(listener));
  }
  http_->start();
  scheduleHousekeeping();
  log::info("server.started", "hosts={} modules={} network_threads={} allocator={} fan_out_writes={}",
            config_.hosts.size(), modules_->started().size(), io_->size(), util::heapAllocator(),
            net::batchedSendMode());
}

// Every few seconds each connection gets a chance to drop memory it does not need while idle.
void Server::scheduleHousekeeping() {
  housekeepingTimer_ = std::make_unique<runtime::Timer>(io_->executor(0), std::chrono::seconds(5), [this] {
    if (stopping_) return;
    std::vector<std::shared_ptr<session::Session>> open;
    {
      std::lock_guard lock(connectionsMu_);
      open.reserve(connections_.size());
      for (auto& [id, weak] : connections_)
        if (auto s = weak.lock()) open.push_back(std::move(s));
    }
    for (auto& s : open) s->housekeeping();
    // Memory idle sessions gave back sits free in the heap; return whole free pages to the kernel.
    // glibc's malloc_trim walks every chunk of every arena under its lock and madvises page by page
    // (so this runs on the blocking pool, not here): under load that is several per cent of the CPU for
    // little memory, so it runs when the server is quiet (what a login burst left behind goes back once
    // it is over) or when a lot is free. jemalloc returns pages as it goes, but only while it is
    // allocating, so a server that went quiet would keep them without this.
    pool_->submit([this, n = open.size()] {
      const util::HeapUse heap = util::heapUse();
      const bool quiet = cpuShareSinceLastHousekeeping() < kQuietCpuShare;
      const bool release = heap.releasable >= kTrimFloorBytes && (quiet || heap.releasable >= heap.inUse / 8);
      if (release) util::releaseFreeHeap();
      if (log::debugEnabled())
        log::debug("server.memory", "connections={} allocator={} heap_in_use={} heap_free={} released={}", n,
                   util::heapAllocator(), heap.inUse, heap.releasable, release);
    });
    scheduleHousekeeping();
  });
}

// Blocking pool (one housekeeping job at a time): this process's CPU time over wall time since the
// previous call.
double Server::cpuShareSinceLastHousekeeping() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  const auto now = std::chrono::steady_clock::now();
  const double wall = std::chrono::duration<double>(now - lastHousekeeping_.wall).count();
  const double share = wall > 0 ? (cpu - lastHousekeeping_.cpu) / wall : 1.0;
  lastHousekeeping_ = {now, cpu};
  return share;
}

void Server::waitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  log::info("server.signal", "signal={}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

void Server::shutdown() {
  if (shutDown_ || !started_) return;
  shutDown_ = true;
  // 0. /health says 503 from now on; with http.shutdown_delay everything else keeps serving meanwhile.
  if (http_) {
    http_->setDraining();
    if (config_.http.shutdownDelay > 0) {
      log::info("server.draining", "seconds={}", config_.http.shutdownDelay);
      std::this_thread::sleep_for(std::chrono::seconds(config_.http.shutdownDelay));
    }
  }
  stopping_ = true;
  log::info("server.stopping", "connections={} sessions={}", connectionCount(), sessions_.sessionCount());
  // 1. No new connections; HTTP requests in flight get a moment.
  for (auto& l : listenerObjects_) l->stop();
  if (http_) http_->stop(std::chrono::milliseconds(2000));
  io_->executor(0).post([this] { housekeepingTimer_.reset(); });
  // 2. Close every stream with <system-shutdown/>; their hooks still run (presence, last activity).
  std::vector<std::shared_ptr<session::Session>> open;
  {
    std::lock_guard lock(connectionsMu_);
    for (auto& [id, weak] : connections_)
      if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  for (auto& s : open) s->close(xmpp::StreamError::SystemShutdown, "the server is shutting down");
  open.clear();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((connectionCount() > 0 || sessions_.sessionCount() > 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Let the closing handlers finish their storage work before modules go away.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pool_->queued() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // 3. Modules, in reverse order.
  modules_->stopAll();
  roster_->stop();
  // 4. Finish every queued storage job, then stop the network threads.
  pool_->drainAndJoin();
  io_->stopAndJoin();
  listenerObjects_.clear();
  http_.reset();
  runtime::setBlockingJobHistogram(nullptr);
  log::info("server.stopped", "");
}

}  // namespace parley::core
