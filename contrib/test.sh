#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a full test run: installs what is missing, builds with
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs every test (unit and integration: real
# parleyd processes driven by libstrophe and raw TLS clients over loopback).
# Then the integration tests again against the optimised parleyd that run-dev.sh builds, and the
# libFuzzer targets (tests/fuzz/run.sh: clang build of only the fuzz targets, each target run
# PARLEY_FUZZ_SECONDS, default 60 s; any crash, sanitizer report or timeout fails the run).
# Environment: PARLEY_WERROR=1 treats warnings as errors (CI sets it); PARLEY_TEST_JOBS (default 2);
# PARLEY_FUZZ_SECONDS (0 skips fuzzing); PARLEY_PRODUCT_TESTS=0 skips the optimised parleyd's run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/contrib/install-deps.sh"
dir="$root/build-asan"
"$root/contrib/build.sh" "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_SANITIZE=ON \
  -DPARLEY_WERROR="$([ "${PARLEY_WERROR:-0}" = 1 ] && echo ON || echo OFF)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$dir"
# The MySQL storage tests and the MySQL integration tests need a server: with-mariadb.sh starts a
# private MariaDB for the run (socket in a temp dir, exported as PARLEY_TEST_MYSQL) and always stops it.
"$root/contrib/with-mariadb.sh" ctest --output-on-failure -j "${PARLEY_TEST_JOBS:-2}" --timeout 180
# The server as contrib/run-dev.sh builds it (optimised, on jemalloc; the sanitizer build above runs on
# the sanitizers' allocator): the allocator test, then the integration suite once more with every test
# starting this parleyd (PARLEY_TEST_PARLEYD). PARLEY_PRODUCT_TESTS=0 skips this stage.
if [ "${PARLEY_PRODUCT_TESTS:-1}" != 0 ]; then
  PARLEY_TARGETS="parleyd parley_heap_jemalloc_tests" "$root/contrib/build.sh" "$root/build" \
    -DPARLEY_WERROR="$([ "${PARLEY_WERROR:-0}" = 1 ] && echo ON || echo OFF)"
  "$root/build/tests/parley_heap_jemalloc_tests"
  PARLEY_TEST_PARLEYD="$root/build/parleyd" "$root/contrib/with-mariadb.sh" \
    ctest --output-on-failure -j "${PARLEY_TEST_JOBS:-2}" --timeout 180 -L integration
fi
fuzz_seconds=${PARLEY_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != 0 ]; then
  PARLEY_FUZZ_BUILD="$root/build-fuzz" "$root/tests/fuzz/run.sh" "$fuzz_seconds"
fi
