#!/usr/bin/env bash
# arm64-smoke.sh — the linux-arm64-gnu binding, run for real: scripts/smoke.mjs (DTI/DKI fits,
# maps, prediction, field inversion/composition/warp, radiomics on brain1, bytes round trip) with
# the official arm64 Node under qemu-user, compared with the same run on this x64 machine.
#
# Run from a checkout after `npm ci` and `npm run build` (the x64 side needs dist/ and
# native/voxelkit.linux-x64-gnu.node). Steps, each timed:
#   1. installs what is missing (scripts/arm64-env.sh): qemu-user-static and the arm64 C/C++
#      runtime with apt-get when root, the arm64 Node into the git-ignored .tools/;
#   2. builds npm/linux-arm64-gnu/voxelkit.linux-arm64-gnu.node with scripts/build-targets.sh
#      (seconds when up to date, 3-4 minutes when the binding crate is recompiled; a fresh clone
#      took 4 min 4 s with Zig's install and every dependency compiled for aarch64, 2 shared
#      cores); --no-build uses the binary as it is;
#   3. node scripts/check-artifacts.mjs --require linux-arm64-gnu (format, architecture, the
#      Node-API export, glibc <= 2.17, size);
#   4. scripts/smoke.mjs with this Node (x64) and with the arm64 Node (the binding given by
#      NAPI_RS_NATIVE_LIBRARY_PATH, so exactly the binary checked in 3 is loaded, whatever else
#      lies in native/);
#   5. scripts/compare-smoke.mjs: every result within 1e-14 of its largest value (see that
#      script for why), bitwise where no platform libm is involved.
# Prints "arm64-smoke: PASS" or "arm64-smoke: FAIL: ..." (exit status 1). Rerunning is safe;
# temp files are always removed.
#
# Usage: scripts/arm64-smoke.sh [--no-build] [--keep-temp]
#   --no-build   do not run build-targets.sh (fails if the binary is missing)
#   --keep-temp  keep the two smoke JSON files (their folder is printed)
# Env: ARM64_NODE_VERSION (20.20.2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PLATFORM=linux-arm64-gnu
BINARY="npm/$PLATFORM/voxelkit.$PLATFORM.node"

log() { printf 'arm64-smoke: %s\n' "$*"; }
die() { printf 'arm64-smoke: FAIL: %s\n' "$*" >&2; exit 1; }

BUILD=1
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --keep-temp) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

for f in dist/index.js native/index.js native/voxelkit.linux-x64-gnu.node node_modules/.bin/napi; do
  [ -e "$f" ] || die "missing $f (run \`npm ci\` and \`npm run build\` first)"
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/voxelkit-arm64-smoke.XXXXXX")"
cleanup() {
  if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# shellcheck source=scripts/arm64-env.sh
source "$ROOT/scripts/arm64-env.sh"

START=$(date +%s)
TIMES=()
step_start() { STEP_T0=$(date +%s); }
step_end() { TIMES+=("$1 $(( $(date +%s) - STEP_T0 ))s"); }

# --- 1. tools ----------------------------------------------------------------------------------
step_start
# shellcheck disable=SC2119 # (no extra packages)
arm64_need_qemu
arm64_need_node
step_end tools

# --- 2. build ----------------------------------------------------------------------------------
step_start
if [ "$BUILD" = 1 ]; then
  log "scripts/build-targets.sh --targets $PLATFORM --no-check"
  bash scripts/build-targets.sh --targets "$PLATFORM" --no-check >"$TMP/build.log" 2>&1 \
    || { tail -n 40 "$TMP/build.log" | sed 's/^/    /' >&2; die "build-targets.sh failed"; }
  grep '^build-targets: \[' "$TMP/build.log" | sed 's/^/    /'
else
  [ -f "$BINARY" ] || die "--no-build: $BINARY is missing"
  log "--no-build: using $BINARY as it is ($(date -r "$BINARY" '+%F %T'))"
fi
step_end build

# --- 3. static checks --------------------------------------------------------------------------
step_start
node scripts/check-artifacts.mjs --require "$PLATFORM" || die "static checks of $BINARY"
step_end check

# --- 4. smoke runs -----------------------------------------------------------------------------
step_start
node scripts/smoke.mjs >"$TMP/linux-x64.json" 2>"$TMP/x64.err" \
  || { sed 's/^/    /' "$TMP/x64.err" >&2; die "smoke.mjs failed on x64"; }
step_end smoke-x64
step_start
NAPI_RS_NATIVE_LIBRARY_PATH="$ROOT/$BINARY" arm64_node scripts/smoke.mjs \
  >"$TMP/linux-arm64.json" 2>"$TMP/arm64.err" \
  || { sed 's/^/    /' "$TMP/arm64.err" >&2; die "smoke.mjs failed on arm64 (qemu)"; }
step_end smoke-arm64
for p in x64 arm64; do
  got="$(node -p "JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).platform" "$TMP/linux-$p.json")"
  [ "$got" = "linux-$p" ] || die "the $p smoke run reports platform $got"
done

# --- 5. compare --------------------------------------------------------------------------------
if node scripts/compare-smoke.mjs "$TMP/linux-x64.json" "$TMP/linux-arm64.json"; then
  status=PASS
else
  status=FAIL
fi
log "times: ${TIMES[*]}; total $(( $(date +%s) - START ))s"
[ "$status" = PASS ] || die "linux-arm64 results differ from linux-x64 beyond the tolerance (table above)"
log PASS
