#!/usr/bin/env bash
# test-wasi.sh — the WASI build (voxelkit-wasm32-wasi, from scripts/build-wasi.sh) in Node, against
# the native build of the same commit:
#   1. smoke: scripts/smoke.mjs natively and with NAPI_RS_FORCE_WASI=error (native/index.js then
#      loads only the WebAssembly binding), compared by scripts/compare-smoke.mjs;
#   2. the ava suite (or the files given) with NAPI_RS_FORCE_WASI=error.
#
# Tolerance of the smoke comparison: 1e-11 of each result's largest value (3 times the largest
# difference measured). The field, radiomics
# and I/O kernels use no libm and are bitwise equal; the fits take logs and exponentials, and
# the WebAssembly module carries wasi-libc's (musl's) exp/log instead of the platform's glibc:
# each is within an ulp or so, but not always the same ulp, and a fit amplifies such
# differences by its design's conditioning (the phantoms' b-vectors also differ by an ulp in a
# few components: wasi-libc's sin/cos). Measured: <= 2.9e-12 (DTI OLS prediction).
#
# Differences of the WASI build the suite knows about (helpers/wasi.ts): DKI CLS/CWLS answer
# ERR_UNSUPPORTED; a Rust panic cannot be contained in WebAssembly (no unwinding), so the
# panic-containment test is the native builds' only.
#
# Usage: scripts/test-wasi.sh [--smoke-only] [ava test files...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'test-wasi: %s\n' "$*"; }
die() { printf 'test-wasi: FAIL: %s\n' "$*" >&2; exit 1; }

SMOKE_ONLY=0
if [ "${1:-}" = --smoke-only ]; then SMOKE_ONLY=1; shift; fi
[ -f native/voxelkit.wasm32-wasi.wasm ] || die "native/voxelkit.wasm32-wasi.wasm missing: run scripts/build-wasi.sh"
[ -f dist/index.js ] || die "dist/ missing: run npm run build:ts"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/voxelkit-wasi.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

target="$(NAPI_RS_FORCE_WASI=error node --no-warnings -p "require('./native/index.js').__napiBindingTarget")"
[ "$target" = wasm32-wasi ] || die "NAPI_RS_FORCE_WASI=error loaded '$target', not the WASI binding"

start=$(date +%s)
node scripts/smoke.mjs >"$TMP/native.json"
NAPI_RS_FORCE_WASI=error node --no-warnings scripts/smoke.mjs >"$TMP/wasi.json"
node scripts/compare-smoke.mjs "$TMP/native.json" "$TMP/wasi.json" --tol 1e-11 \
  || die "the WASI smoke results differ from the native ones beyond 1e-11"
log "smoke: native and WASI agree ($(( $(date +%s) - start ))s)"
[ "$SMOKE_ONLY" = 1 ] && exit 0

start=$(date +%s)
NAPI_RS_FORCE_WASI=error NODE_OPTIONS=--no-warnings npx ava "$@"
log "ava under WASI passed ($(( $(date +%s) - start ))s)"
