#include "push/dispatcher.h"

#include <charconv>
#include <ctime>
#include <random>

#include "server/log/log.h"

namespace parley::push {

std::string_view serviceName(Service s) {
  return s == Service::Fcm ? "fcm" : "apns";
}

std::string_view kindName(PushKind k) {
  switch (k) {
    case PushKind::Message:
      return "message";
    case PushKind::Call:
      return "call";
    case PushKind::Background:
      return "background";
  }
  return "message";
}

std::chrono::milliseconds parseRetryAfter(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.empty()) return std::chrono::milliseconds(-1);
  std::int64_t secs = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec == std::errc() && p == v.data() + v.size() && secs >= 0)
    return std::chrono::milliseconds(std::min<std::int64_t>(secs, 24 * 3600) * 1000);
  // HTTP-date (IMF-fixdate): "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string s(v);
  if (!strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::chrono::milliseconds(-1);
  const std::time_t when = timegm(&tm);
  const std::time_t now = std::time(nullptr);
  return std::chrono::milliseconds(when > now ? std::min<std::int64_t>(when - now, 24 * 3600) * 1000 : 0);
}

Dispatcher::Dispatcher(runtime::Executor exec, DispatcherSettings settings, metrics::Registry& metrics,
                       DeadToken onDead)
    : exec_(exec), settings_(settings), metrics_(metrics), onDead_(std::move(onDead)) {}

void Dispatcher::addProvider(std::shared_ptr<PushProvider> provider) {
  const Service s = provider->service();
  const metrics::Labels l{{"provider", std::string(serviceName(s))}};
  sent_[s] = &metrics_.counter("parley_push_sent_total", "Push app server: notifications the provider accepted.", l);
  retries_[s] = &metrics_.counter("parley_push_retries_total", "Push app server: delivery attempts retried.", l);
  removed_[s] = &metrics_.counter("parley_push_tokens_removed_total",
                                  "Push app server: device registrations removed because the provider said the "
                                  "token is dead.",
                                  l);
  refused_[s] = &metrics_.counter("parley_push_refused_total",
                                  "Push app server: notifications refused because too many were pending.", l);
  latency_[s] = &metrics_.histogram("parley_push_latency_seconds",
                                    "Push app server: from accepting a publish to the provider's acceptance.",
                                    metrics::latencyBuckets(), l);
  providers_[s] = std::move(provider);
}

metrics::Counter& Dispatcher::failed(Service s, const std::string& reason) {
  std::lock_guard lock(failedMu_);
  auto& c = failed_[{s, reason}];
  if (!c)
    c = &metrics_.counter("parley_push_failed_total",
                          "Push app server: notifications given up (dead token, refused, retries exhausted), by "
                          "provider and reason.",
                          {{"provider", std::string(serviceName(s))}, {"reason", reason.substr(0, 64)}});
  return *c;
}

bool Dispatcher::submit(PushNote note) {
  if (stopped_ || !providers_.count(note.service)) return false;
  if (pending_.fetch_add(1) >= settings_.maxPending) {
    pending_.fetch_sub(1);
    refused_[note.service]->inc();
    return false;
  }
  auto shared = std::make_shared<PushNote>(std::move(note));
  exec_.post([self = shared_from_this(), shared] { self->attempt(shared); });
  return true;
}

void Dispatcher::attempt(std::shared_ptr<PushNote> note) {
  if (stopped_) {
    pending_.fetch_sub(1);
    return;
  }
  ++note->attempt;
  providers_[note->service]->deliver(*note, [self = shared_from_this(), note](Outcome o) {
    self->outcome(note, std::move(o));
  });
}

void Dispatcher::outcome(std::shared_ptr<PushNote> note, Outcome o) {
  const Service s = note->service;
  switch (o.verdict) {
    case Verdict::Delivered: {
      sent_[s]->inc();
      const auto d = std::chrono::steady_clock::now() - note->accepted;
      latency_[s]->observe(std::chrono::duration<double>(d).count());
      log::debug("push.delivered", "provider={} node={} attempt={}", serviceName(s), note->node, note->attempt);
      pending_.fetch_sub(1);
      return;
    }
    case Verdict::DeadToken:
      failed(s, o.reason).inc();
      removed_[s]->inc();
      log::info("push.token_dead", "provider={} node={} reason={}", serviceName(s), note->node, o.reason);
      if (onDead_) onDead_(*note, o.reason);
      pending_.fetch_sub(1);
      return;
    case Verdict::Failed:
      failed(s, o.reason).inc();
      log::warn("push.failed", "provider={} node={} reason={}", serviceName(s), note->node, o.reason);
      pending_.fetch_sub(1);
      return;
    case Verdict::Retry:
      break;
  }
  if (stopped_ || note->attempt >= settings_.maxAttempts) {
    failed(s, o.reason).inc();
    log::warn("push.gave_up", "provider={} node={} reason={} attempts={}", serviceName(s), note->node, o.reason,
              note->attempt);
    pending_.fetch_sub(1);
    return;
  }
  retries_[s]->inc();
  // Exponential backoff with jitter (half to full of base * 2^(attempt-1)), a longer Retry-After wins.
  std::chrono::milliseconds delay = settings_.backoffBase * (std::int64_t{1} << std::min(note->attempt - 1, 20));
  delay = std::min(delay, settings_.backoffMax);
  thread_local std::mt19937 rng{std::random_device{}()};
  delay = std::chrono::milliseconds(delay.count() / 2 +
                                    std::uniform_int_distribution<std::int64_t>(0, delay.count() / 2)(rng));
  if (o.retryAfter.count() >= 0) delay = std::max(delay, std::min(o.retryAfter, settings_.backoffMax));
  log::debug("push.retry", "provider={} node={} reason={} attempt={} delay_ms={}", serviceName(s), note->node,
             o.reason, note->attempt, delay.count());
  const std::uint64_t id = ++nextTimer_;
  timers_[id] = std::make_unique<runtime::Timer>(exec_, delay, [self = shared_from_this(), note, id] {
    self->timers_.erase(id);
    self->attempt(note);
  });
}

void Dispatcher::shutdown() {
  stopped_ = true;
  exec_.post([self = shared_from_this()] {
    self->pending_.fetch_sub(std::min(self->pending_.load(), self->timers_.size()));
    self->timers_.clear();
    for (auto& [s, p] : self->providers_) p->shutdown();
  });
}

}  // namespace parley::push
