#!/usr/bin/env bash
# build-wasi.sh — build the WASI binding (`voxelkit-wasm32-wasi`, Rust target wasm32-wasip1-threads)
# into npm/wasm32-wasi/ and native/ (both git-ignored outputs):
#
#   voxelkit.wasm32-wasi.wasm   the kernels and the binding, WebAssembly with shared memory
#   voxelkit.wasi.cjs           Node loader (node:wasi + worker threads for rayon's pool)
#   voxelkit.wasi.d.cts         its types
#   voxelkit.wasi-browser.js    browser loader (ESM; Web Workers when the page is cross-origin
#                               isolated, i.e. served with COOP/COEP headers)
#   wasi-worker.mjs, wasi-worker-browser.mjs   the thread workers
#
# The generated native/index.js already falls back to the WASI build when no native binary loads,
# and NAPI_RS_FORCE_WASI=error makes it load only the WASI build (what the tests use).
#
# Needs: `npm ci` (emnapi, @emnapi/core, @emnapi/runtime and @napi-rs/wasm-runtime pinned to one
# version in devDependencies; @napi-rs/wasm-tools strips the module), rustup (adds the target).
# No C toolchain or wasi-sdk: rustc links with its own rust-lld and wasi-libc.
#
# Fat LTO is off for this target. With `lto = true` and one codegen unit, the wasm32 build
# returned wrong values through rayon's pool: `Result`s coming back from `pool.install` on the
# field and fit kernels read as an error with no message (seen with Rust 1.9x stable, emnapi
# 1.11.3); the same code without LTO, or unoptimised, is correct and passes the suite. Until that
# is understood the WASI build uses the release profile without LTO (16 codegen units).
#
# Usage: scripts/build-wasi.sh [--skip-install]      (about 3 minutes on 2 cores; ~7 MB .wasm)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TRIPLE=wasm32-wasip1-threads
PKG=npm/wasm32-wasi
STAGE=target/napi-targets/wasm32-wasi
FILES=(voxelkit.wasm32-wasi.wasm voxelkit.wasi.cjs voxelkit.wasi.d.cts voxelkit.wasi-browser.js wasi-worker.mjs wasi-worker-browser.mjs)

log() { printf 'build-wasi: %s\n' "$*"; }
die() { printf 'build-wasi: FAIL: %s\n' "$*" >&2; exit 1; }

[ "${1:-}" = --skip-install ] || {
  command -v rustup >/dev/null || die "rustup not found (needed to add the $TRIPLE std)"
  rustup target list --installed | grep -qx "$TRIPLE" || { log "rustup target add $TRIPLE"; rustup target add "$TRIPLE"; }
}
[ -x node_modules/.bin/napi ] || die "node_modules/.bin/napi missing: run \`npm ci\` first"
[ -f "$PKG/package.json" ] || die "$PKG/package.json missing"

sum_loader() { cat native/index.js native/index.d.ts | cksum; }
before="$(sum_loader)"
rm -rf "$STAGE"
mkdir -p "$STAGE"
start=$(date +%s)
log "napi build --target $TRIPLE --release (LTO off)"
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  node_modules/.bin/napi build --platform --release --no-const-enum --target "$TRIPLE" \
  --manifest-path crates/node/Cargo.toml --output-dir "$STAGE" --js index.js --dts index.d.ts
# the stage's loader must be the committed one (same targets, same exports)
cmp -s "$STAGE/index.js" native/index.js || die "the WASI build generated a different native/index.js"
cmp -s "$STAGE/index.d.ts" native/index.d.ts || die "the WASI build generated a different native/index.d.ts"
[ "$(sum_loader)" = "$before" ] || die "native/index.js or index.d.ts changed during the build"
for f in "${FILES[@]}"; do
  [ -f "$STAGE/$f" ] || die "napi build did not write $f"
  cp -f "$STAGE/$f" "$PKG/$f"
  cp -f "$STAGE/$f" "native/$f"
done
size=$(wc -c <"$PKG/voxelkit.wasm32-wasi.wasm")
log "ok in $(( $(date +%s) - start ))s: $PKG/voxelkit.wasm32-wasi.wasm ($size bytes), loaders copied to $PKG/ and native/"
