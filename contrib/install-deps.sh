#!/usr/bin/env bash
# Installs the Debian 12 packages Parley needs to build, run and test. Idempotent: it asks apt only for
# what is missing, so a second run is instant and needs no network.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config ccache
  # libraries
  libboost-dev libexpat1-dev libssl-dev libicu-dev libsqlite3-dev libfmt-dev libspdlog-dev
  libtomlplusplus-dev libcurl4-openssl-dev libstrophe-dev libcli11-dev libmysqlcppconn-dev
  libjemalloc-dev liburing-dev
  # push app server: JSON for FCM/APNs (libcurl4-openssl-dev above brings HTTP/2 through nghttp2)
  nlohmann-json3-dev
  # tests
  libgtest-dev clang libclang-rt-14-dev openssl
  # push tests: local HTTP/2 stand-ins for FCM, APNs and the OAuth2 token endpoint (/usr/bin/python3)
  python3-h2 python3-cryptography
  # the MySQL backend's conformance and integration tests start a private MariaDB server
  mariadb-server
  # promtool (Debian package prometheus): the HTTP tests check /metrics with Prometheus' own parser
  prometheus curl
)
[ "${PARLEY_DEPS_EXTRA:-}" ] && read -r -a extra <<<"$PARLEY_DEPS_EXTRA" && packages+=("${extra[@]}")

# The real-browser test (tests/e2e): Debian's Chromium driven by playwright-core, npm for Converse.js
# (Debian's nodejs and npm unless a Node.js with npm is already installed).
packages+=(chromium)
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser test's npm packages (Converse.js, playwright-core) from the committed lock file into
# tests/e2e/node_modules; nothing when they are already there.
"$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/install.sh"
