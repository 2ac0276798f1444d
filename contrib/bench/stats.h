// Latency samples and failure counts, collected per network thread (no locks on the hot path) and
// merged once a phase of the benchmark is over.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "contrib/bench/json.h"

namespace parley::bench {

struct Distribution {
  std::size_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

// Sorts `samples` in place. Nearest-rank percentiles; all zero when there are no samples.
Distribution distribution(std::vector<double>& samples);
// {"count":…, "mean":…, "p50":…, …} with the values multiplied by `scale` (1000: seconds to ms).
JsonObject toJson(const Distribution& d, double scale = 1.0);

using FailureCounts = std::map<std::string, std::size_t>;
void merge(FailureCounts& into, const FailureCounts& from);
JsonObject toJson(const FailureCounts& failures);

}  // namespace parley::bench
