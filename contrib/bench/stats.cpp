#include "contrib/bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace parley::bench {

namespace {

double rank(const std::vector<double>& sorted, double q) {
  // Nearest rank: the smallest sample with at least q of all samples at or below it.
  const auto n = sorted.size();
  auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
  i = std::clamp<std::size_t>(i, 1, n);
  return sorted[i - 1];
}

}  // namespace

Distribution distribution(std::vector<double>& samples) {
  Distribution d;
  if (samples.empty()) return d;
  std::sort(samples.begin(), samples.end());
  d.count = samples.size();
  d.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(d.count);
  d.p50 = rank(samples, 0.50);
  d.p90 = rank(samples, 0.90);
  d.p99 = rank(samples, 0.99);
  d.p999 = rank(samples, 0.999);
  d.max = samples.back();
  return d;
}

JsonObject toJson(const Distribution& d, double scale) {
  JsonObject o;
  o.set("count", d.count)
      .set("mean", d.mean * scale)
      .set("p50", d.p50 * scale)
      .set("p90", d.p90 * scale)
      .set("p99", d.p99 * scale)
      .set("p99.9", d.p999 * scale)
      .set("max", d.max * scale);
  return o;
}

void merge(FailureCounts& into, const FailureCounts& from) {
  for (const auto& [reason, n] : from) into[reason] += n;
}

JsonObject toJson(const FailureCounts& failures) {
  JsonObject o;
  for (const auto& [reason, n] : failures) o.set(reason, n);
  return o;
}

}  // namespace parley::bench
