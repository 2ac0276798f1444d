#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, only the sources they need) in their own build
# directory and runs each of them on a copy of its committed corpus. Fails on any crash, sanitizer
# report, leak, out-of-memory or per-input timeout; the input that caused it is kept and its path
# printed (commit it as tests/fuzz/corpus/<target>/regress-<what> with the fix).
#   tests/fuzz/run.sh [SECONDS [TARGET…]]      SECONDS per target (default 60), every target by default
# Environment: PARLEY_FUZZ_BUILD (build directory, default build-fuzz), PARLEY_FUZZ_JOBS (targets run at
# once, default 2), PARLEY_FUZZ_KEEP=DIR (where the grown corpus and logs go; default a temporary
# directory removed on success). contrib/test.sh runs it with 60 s after the main tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(xml_stream c2s_stream jid scram forms http_request tls_records)
build=${PARLEY_FUZZ_BUILD:-$root/build-fuzz}
jobs=${PARLEY_FUZZ_JOBS:-2}

command -v clang++ >/dev/null || { echo "fuzz: clang++ is missing (contrib/install-deps.sh installs it)" >&2; exit 1; }
cmake -S "$root" -B "$build" -G Ninja -DPARLEY_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j 2 $(printf 'fuzz_%s ' "${targets[@]}")

work=${PARLEY_FUZZ_KEEP:-$(mktemp -d)}
mkdir -p "$work"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local t=$1 dir="$work/$1"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$root/tests/fuzz/corpus/$t/"* "$dir/corpus/"
  # -timeout: one input may take at most 10 s; -rss_limit_mb: the process stays under 2 GiB;
  # -max_len: big enough for every size limit the targets check (the XML limits use small values).
  if "$build/tests/fuzz/fuzz_$t" "$dir/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" >"$dir/log" 2>&1; then
    echo "fuzz: $t: ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$') runs in ${seconds} s, corpus $(ls "$dir/corpus" | wc -l) inputs)"
  else
    echo "fuzz: $t: FAILED; log $dir/log, input(s):" $(ls "$dir/artifacts") >&2
    grep -E -A25 'ERROR: |runtime error|invariant violated|Timeout|out-of-memory' "$dir/log" | head -60 >&2
    return 1
  fi
}

failed=0
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
if [ $failed -ne 0 ]; then
  echo "fuzz: failures; everything is in $work" >&2
  exit 1
fi
[ -n "${PARLEY_FUZZ_KEEP:-}" ] || rm -rf "$work"
echo "fuzz: every target ran ${seconds} s without a finding"
