#!/usr/bin/env bash
# Installs the browser-test dependencies into tests/e2e/node_modules from the committed
# package-lock.json (Converse.js, playwright-core). playwright-core downloads no browser: the test drives
# Debian's /usr/bin/chromium (installed by contrib/install-deps.sh). Idempotent: skips npm when
# node_modules already matches the lock file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
stamp=node_modules/.parley-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d node_modules/playwright-core ]; then
  exit 0
fi
echo "e2e/install.sh: npm ci (converse.js, playwright-core)" >&2
npm ci --no-audit --no-fund --ignore-scripts
echo "$want" >"$stamp"
