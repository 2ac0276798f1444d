// DESIGN: Server owns every long-lived piece and runs the ordered lifecycle (ARCHITECTURE.md):
//   start: config (already loaded) -> storage + migrations -> core services -> modules (dependency
//          order) -> listeners
//   stop (SIGTERM/SIGINT): listeners closed -> every session closed with <system-shutdown/> (hooks
//          still live, unsent stanzas handed to offline storage) -> modules stopped -> blocking pool
//          drained -> network threads joined -> storage closed.
// Services reach each other through the Server; modules reach it through ModuleContext.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/core/config.h"
#include "server/hooks/registry.h"
#include "server/metrics/metrics.h"
#include "server/module/disco.h"
#include "server/router/iq_router.h"
#include "server/router/router.h"
#include "server/runtime/blocking_pool.h"
#include "server/runtime/io_pool.h"
#include "server/session/session_manager.h"
#include "storage/database.h"

namespace parley::net {
class TlsContexts;
class Listener;
class AddressLimiter;
}  // namespace parley::net
namespace parley::module {
class ModuleHost;
}
namespace parley::http {
class HttpServer;
}
namespace parley::stream {
struct StreamSettings;
}
namespace parley::roster {
class RosterService;
}
namespace parley::presence {
class PresenceService;
}
namespace parley::c2s {
class LoginLimiter;
}

namespace parley::core {

struct BoundListener {
  ListenerType type;
  std::string address;
  std::uint16_t port;
};

class Server {
 public:
  explicit Server(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens storage, starts modules and listeners. Throws on failure (before any client is served).
  void start();
  // Blocks until SIGTERM or SIGINT (which must be blocked in every thread: see main.cpp), or stop().
  void waitForShutdownSignal();
  // The ordered shutdown. Idempotent.
  void shutdown();

  const Config& config() const { return config_; }
  runtime::IoPool& io() { return *io_; }
  runtime::BlockingPool& pool() { return *pool_; }
  storage::Database& db() { return *db_; }
  hooks::HookRegistry& hooks() { return hooks_; }
  metrics::Registry& metrics() { return metrics_; }
  session::SessionManager& sessions() { return sessions_; }
  router::IqRouter& iqRouter() { return iqRouter_; }
  router::Router& router() { return *router_; }
  module::Disco& disco() { return disco_; }
  roster::RosterService& roster() { return *roster_; }
  presence::PresenceService& presence() { return *presence_; }
  net::TlsContexts& tls() { return *tls_; }
  // The HTTP server (server/http/http_server.h): modules register routes in start(); its listeners
  // ([[http.listeners]]) open after the modules started. Exists from start() on, also without listeners.
  http::HttpServer& http() { return *http_; }
  net::AddressLimiter& addressLimiter() { return *addressLimiter_; }
  c2s::LoginLimiter& loginLimiter() { return *loginLimiter_; }
  const std::vector<BoundListener>& listeners() const { return bound_; }
  // Stream settings for client listeners, built once from the config and shared by every stream.
  std::shared_ptr<const stream::StreamSettings> streamSettings(bool directTls) const {
    return directTls ? directTlsSettings_ : startTlsSettings_;
  }
  // Secret for the SCRAM exchanges faked for unknown users (random per process).
  const std::string& fakeSaltSecret() const { return fakeSaltSecret_; }
  bool stopping() const { return stopping_.load(); }
  // Every open client connection, authenticated or not, so shutdown can close them all.
  void addConnection(const std::shared_ptr<session::Session>& session);
  void removeConnection(std::uint64_t sessionId);
  std::size_t connectionCount() const;
  // Runs `fn` on `exec` once everything already posted to the network threads, and every blocking job
  // those posts queued, has finished: the stanzas a client sent before this call are delivered or
  // durably stored (XEP-0198 acks, ARCHITECTURE.md "Durability rule").
  void afterQueuedWork(runtime::Executor exec, std::function<void()> fn);

 private:
  Config config_;
  std::unique_ptr<module::ModuleHost> modules_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<runtime::IoPool> io_;
  std::unique_ptr<runtime::BlockingPool> pool_;
  hooks::HookRegistry hooks_;
  metrics::Registry metrics_;  // modules register at start; read until the server is gone
  session::SessionManager sessions_;
  router::IqRouter iqRouter_;
  std::unique_ptr<router::Router> router_;
  module::Disco disco_;
  std::unique_ptr<roster::RosterService> roster_;
  std::unique_ptr<presence::PresenceService> presence_;
  std::unique_ptr<net::TlsContexts> tls_;
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<net::AddressLimiter> addressLimiter_;
  std::unique_ptr<c2s::LoginLimiter> loginLimiter_;
  std::vector<std::unique_ptr<net::Listener>> listenerObjects_;
  std::vector<BoundListener> bound_;
  std::string fakeSaltSecret_;
  std::shared_ptr<const stream::StreamSettings> startTlsSettings_, directTlsSettings_;
  mutable std::mutex connectionsMu_;
  std::unordered_map<std::uint64_t, std::weak_ptr<session::Session>> connections_;
  std::atomic<bool> stopping_{false};
  runtime::TimerPtr housekeepingTimer_;
  struct CpuReading {
    std::chrono::steady_clock::time_point wall;
    double cpu = 0;  // seconds, user + system
  };
  CpuReading lastHousekeeping_;  // blocking pool, one housekeeping job at a time
  void scheduleHousekeeping();
  double cpuShareSinceLastHousekeeping();
  bool started_ = false;
  bool shutDown_ = false;
};

}  // namespace parley::core
