#!/usr/bin/env bash
# Configures and builds Parley. Usage: contrib/build.sh [BUILD_DIR] [extra cmake args…]
# Uses Ninja and ccache when present. BUILD_DIR defaults to build/. PARLEY_TARGETS limits what is built
# (e.g. "parleyd parleyctl"); by default everything, tests included.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-"$root/build"}
shift || true
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
else
  cmake "$dir" "$@" >/dev/null
fi
targets=()
for t in ${PARLEY_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
