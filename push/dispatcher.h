// DESIGN: the dispatcher owns the delivery of notifications to the providers, on one network thread
// (its executor, shared with the HTTP client): it hands each notification to its provider, retries
// what may succeed later with exponential backoff (base * 2^attempt, capped, with jitter; a Retry-After
// from the service wins when longer), gives up after `max_attempts`, reports dead tokens to the owner
// of the registrations (which removes them) and keeps the metrics: sent and failed by provider and
// reason, retries, tokens removed, latency from acceptance to the provider's 2xx. At most
// `max_pending` notifications are in flight or waiting for a retry; more are refused (counted).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "push/provider.h"
#include "server/metrics/metrics.h"
#include "server/runtime/executor.h"

namespace parley::push {

struct DispatcherSettings {
  int maxAttempts = 5;
  std::chrono::milliseconds backoffBase{1000};
  std::chrono::milliseconds backoffMax{300000};
  std::size_t maxPending = 100000;
};

class Dispatcher : public std::enable_shared_from_this<Dispatcher> {
 public:
  using DeadToken = std::function<void(const PushNote&, const std::string& reason)>;
  Dispatcher(runtime::Executor exec, DispatcherSettings settings, metrics::Registry& metrics, DeadToken onDead);
  void addProvider(std::shared_ptr<PushProvider> provider);
  bool has(Service s) const { return providers_.count(s) > 0; }

  // Thread-safe. False when the provider is not configured or too much is pending.
  bool submit(PushNote note);
  // Thread-safe: cancels the retries; providers shut down on the executor.
  void shutdown();
  std::size_t pending() const { return pending_.load(); }

 private:
  void attempt(std::shared_ptr<PushNote> note);
  void outcome(std::shared_ptr<PushNote> note, Outcome o);
  metrics::Counter& failed(Service s, const std::string& reason);

  runtime::Executor exec_;
  DispatcherSettings settings_;
  metrics::Registry& metrics_;
  DeadToken onDead_;
  std::map<Service, std::shared_ptr<PushProvider>> providers_;  // fixed before the first submit
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> stopped_{false};
  std::uint64_t nextTimer_ = 0;
  std::map<std::uint64_t, runtime::TimerPtr> timers_;  // retries waiting, on exec_
  std::mutex failedMu_;
  std::map<std::pair<Service, std::string>, metrics::Counter*> failed_;
  std::map<Service, metrics::Counter*> sent_, retries_, removed_, refused_;
  std::map<Service, metrics::Histogram*> latency_;
};

}  // namespace parley::push
