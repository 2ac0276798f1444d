// DESIGN: the metrics registry. Modules and the core register counters, gauges and histograms once (at
// start-up: name, help text, optional constant labels) and keep the returned reference; updates are
// lock-free atomic operations on any thread. renderPrometheus() writes every series in the Prometheus
// text exposition format 0.0.4 (the HTTP /metrics endpoint serves it; an admin can read it over XMPP).
//
// Threads: registration and rendering take the registry's mutex (never held while a metric is
// updated); a metric lives as long as the registry, so the references handed out never dangle. One
// registry per core::Server (Server::metrics()).
//
// A name may be registered several times with the same type and help, with different labels (one
// series each) or the same labels (the same metric is returned). Registering a name with another type
// or help, or an invalid name, is a programming error and throws std::invalid_argument.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Only goes up (events, bytes). Prometheus convention: the name ends in _total.
class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Goes up and down (queue lengths, sessions).
class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void inc(double n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void dec(double n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into fixed buckets (upper bounds, ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v) noexcept;
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then the total (the +Inf bucket).
  std::vector<std::uint64_t> cumulativeCounts() const;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound plus +Inf, not cumulative
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Bucket bounds for latencies in seconds, 100 µs to 10 s.
std::vector<double> latencyBuckets();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                       const Labels& labels = {});
  // A gauge whose value is read when rendering (sessions online, queue sizes owned elsewhere). `read`
  // runs under the registry's lock on the rendering thread; it must be cheap and thread-safe. A second
  // registration of the same series replaces the function.
  void gaugeFunction(std::string_view name, std::string_view help, std::function<double()> read,
                     const Labels& labels = {});

  // Every family in registration order, series in registration order; "" when nothing is registered.
  std::string renderPrometheus() const;

  // The current value of a counter or gauge series, if registered (tests, logs).
  std::optional<double> value(std::string_view name, const Labels& labels = {}) const;

  // Content-Type for renderPrometheus() over HTTP.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  enum class Type { Counter, Gauge, Histogram };
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;
  };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::deque<Series> series;
  };
  Series& series(std::string_view name, std::string_view help, Type type, const Labels& labels,
                 bool* created);
  const Series* find(std::string_view name, const Labels& labels) const;

  mutable std::mutex mu_;
  std::deque<Family> families_;
};

// Prometheus text-format pieces (exposed for tests).
bool validMetricName(std::string_view name);
bool validLabelName(std::string_view name);
std::string escapeLabelValue(std::string_view v);
std::string escapeHelp(std::string_view v);
std::string formatValue(double v);

}  // namespace parley::metrics
