#!/usr/bin/env bash
# test-browser.sh — the browser example's test (scripts/test-browser.mjs) with what it needs:
# Chromium (Debian's `chromium`, installed with apt when it is missing and this runs as root),
# the façade build (dist/) and the browser bundle (examples/browser/dist/, rebuilt here).
# Needs the WASI build (npm run build:wasi) and `npm ci`.
#
# Usage: scripts/test-browser.sh [--screenshot FILE]      (CHROMIUM_PATH overrides /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ -z "${CHROMIUM_PATH:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-browser: installing Debian's chromium"
    start=$(date +%s)
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    echo "test-browser: chromium installed in $(( $(date +%s) - start )) s"
  else
    echo "test-browser: no Chromium at $chromium: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH" >&2
    exit 1
  fi
fi

[ -f dist/index.js ] || npm run build:ts
node scripts/build-browser.mjs
node scripts/test-browser.mjs "$@"
