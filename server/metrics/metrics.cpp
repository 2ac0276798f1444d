#include "server/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace parley::metrics {

namespace {

bool nameStart(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool nameChar(char c, bool colon) {
  return nameStart(c, colon) || (c >= '0' && c <= '9');
}

Labels normalised(const Labels& labels) {
  Labels out = labels;
  std::sort(out.begin(), out.end());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!validLabelName(out[i].first) || out[i].first == "le" || out[i].first == "quantile")
      throw std::invalid_argument(fmt::format("invalid metric label name \"{}\"", out[i].first));
    if (i > 0 && out[i].first == out[i - 1].first)
      throw std::invalid_argument(fmt::format("duplicate metric label \"{}\"", out[i].first));
  }
  return out;
}

// `{a="1",b="2"}`, with `extra` (the histogram's le) last; "" when there is nothing to write.
std::string labelText(const Labels& labels, std::string_view extraName = {},
                      std::string_view extraValue = {}) {
  if (labels.empty() && extraName.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escapeLabelValue(v);
    out += '"';
  }
  if (!extraName.empty()) {
    if (!first) out += ',';
    out += extraName;
    out += "=\"";
    out += extraValue;
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

bool validMetricName(std::string_view name) {
  if (name.empty() || !nameStart(name[0], true)) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return nameChar(c, true); });
}

bool validLabelName(std::string_view name) {
  if (name.empty() || !nameStart(name[0], false)) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;  // reserved for Prometheus
  return std::all_of(name.begin(), name.end(), [](char c) { return nameChar(c, false); });
}

std::string escapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integral values (most counters and gauges) without an exponent or a fraction.
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0)
    return fmt::format("{}", static_cast<std::int64_t>(v));
  return fmt::format("{}", v);  // shortest representation that reads back to the same double
}

std::vector<double> latencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// --- Histogram ----------------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end() ||
      std::any_of(bounds_.begin(), bounds_.end(), [](double b) { return !std::isfinite(b); }))
    throw std::invalid_argument("histogram bounds must be finite and strictly ascending");
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) noexcept {
  // The first bucket whose upper bound is >= v ("le" is inclusive); past the last: +Inf.
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::cumulativeCounts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

// --- Registry -----------------------------------------------------------------------------------------

Registry::Series& Registry::series(std::string_view name, std::string_view help, Type type,
                                   const Labels& labels, bool* created) {
  if (!validMetricName(name)) throw std::invalid_argument(fmt::format("invalid metric name \"{}\"", name));
  Labels key = normalised(labels);
  *created = false;
  Family* family = nullptr;
  for (auto& f : families_)
    if (f.name == name) family = &f;
  if (family) {
    if (family->type != type || family->help != help)
      throw std::invalid_argument(
          fmt::format("metric \"{}\" registered twice with another type or help", name));
  } else {
    // Histograms own the _bucket/_sum/_count names: no other family may take them.
    for (const auto& f : families_) {
      for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if ((f.type == Type::Histogram && name == f.name + std::string(suffix)) ||
            (type == Type::Histogram && f.name == std::string(name) + std::string(suffix)))
          throw std::invalid_argument(
              fmt::format("metric \"{}\" clashes with histogram \"{}\"", name, f.name));
      }
    }
    families_.push_back(Family{std::string(name), std::string(help), type, {}});
    family = &families_.back();
  }
  for (auto& s : family->series)
    if (s.labels == key) return s;
  *created = true;
  family->series.push_back(Series{std::move(key), nullptr, nullptr, nullptr, nullptr});
  return family->series.back();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  bool created = false;
  Series& s = series(name, help, Type::Counter, labels, &created);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  bool created = false;
  Series& s = series(name, help, Type::Gauge, labels, &created);
  if (s.read) throw std::invalid_argument(fmt::format("gauge \"{}\" is a function gauge", name));
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                               const Labels& labels) {
  auto fresh = std::make_unique<Histogram>(std::move(bounds));  // validates before anything is registered
  std::lock_guard lock(mu_);
  bool created = false;
  Series& s = series(name, help, Type::Histogram, labels, &created);
  if (!s.histogram) {
    s.histogram = std::move(fresh);
  } else if (s.histogram->bounds() != fresh->bounds()) {
    throw std::invalid_argument(fmt::format("histogram \"{}\" registered twice with other buckets", name));
  }
  return *s.histogram;
}

void Registry::gaugeFunction(std::string_view name, std::string_view help, std::function<double()> read,
                             const Labels& labels) {
  std::lock_guard lock(mu_);
  bool created = false;
  Series& s = series(name, help, Type::Gauge, labels, &created);
  if (s.gauge) throw std::invalid_argument(fmt::format("gauge \"{}\" is not a function gauge", name));
  s.read = std::move(read);
}

const Registry::Series* Registry::find(std::string_view name, const Labels& labels) const {
  Labels key = labels;
  std::sort(key.begin(), key.end());
  for (const auto& f : families_) {
    if (f.name != name) continue;
    for (const auto& s : f.series)
      if (s.labels == key) return &s;
  }
  return nullptr;
}

std::optional<double> Registry::value(std::string_view name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  const Series* s = find(name, labels);
  if (!s) return std::nullopt;
  if (s->counter) return static_cast<double>(s->counter->value());
  if (s->gauge) return s->gauge->value();
  if (s->read) return s->read();
  return std::nullopt;
}

std::string Registry::renderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& f : families_) {
    const std::string_view type = f.type == Type::Counter ? "counter"
                                  : f.type == Type::Gauge ? "gauge"
                                                          : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, escapeHelp(f.help), f.name, type);
    for (const auto& s : f.series) {
      if (s.histogram) {
        const auto& h = *s.histogram;
        auto counts = h.cumulativeCounts();
        for (std::size_t i = 0; i < h.bounds().size(); ++i)
          out += fmt::format("{}_bucket{} {}\n", f.name,
                             labelText(s.labels, "le", formatValue(h.bounds()[i])), counts[i]);
        // The +Inf bucket and _count are the same reading, so a scrape never sees them disagree.
        const std::uint64_t total = counts.back();
        out += fmt::format("{}_bucket{} {}\n", f.name, labelText(s.labels, "le", "+Inf"), total);
        out += fmt::format("{}_sum{} {}\n", f.name, labelText(s.labels), formatValue(h.sum()));
        out += fmt::format("{}_count{} {}\n", f.name, labelText(s.labels), total);
        continue;
      }
      if (s.counter) {  // exact, also past 2^53
        out += fmt::format("{}{} {}\n", f.name, labelText(s.labels), s.counter->value());
        continue;
      }
      double v = 0;
      if (s.gauge)
        v = s.gauge->value();
      else if (s.read)
        v = s.read();
      out += fmt::format("{}{} {}\n", f.name, labelText(s.labels), formatValue(v));
    }
  }
  return out;
}

}  // namespace parley::metrics
