// How long blocking-pool jobs run (storage, password hashing, file work): the server's storage latency
// histogram (parley_blocking_job_seconds). Process-wide, set once by core::Server at start; a job's run
// time (not its wait in the queue) is observed after it finished. Kept out of blocking_pool.h so the
// metrics types stay out of every translation unit that includes the pool.
#pragma once

namespace parley::metrics {
class Histogram;
}

namespace parley::runtime {

// nullptr: not measured (the default; unit tests).
void setBlockingJobHistogram(metrics::Histogram* histogram);

}  // namespace parley::runtime
