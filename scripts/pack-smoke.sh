#!/usr/bin/env bash
# pack-smoke.sh — install voxelkit the way a user would and check it loads.
#
# Run from the repo root after `npm run build` (needs dist/ and
# native/voxelkit.<platform>.node). It:
#   1. checks `npm pack --dry-run --json` of the root package ships only the
#      façade (dist/, native/index.{js,d.ts}) — no target/, crates/,
#      node_modules/, ts/ sources or *.node binaries;
#   2. copies the binding into npm/<platform>/ and packs the root package and
#      the platform package into a temp dir;
#   3. installs both tarballs into an empty temp project;
#   4. with a scrubbed environment (no cargo/rustc on PATH, fresh HOME) runs a
#      CommonJS require, an ESM import and the `voxelkit --help` bin, and
#      checks the binding was loaded from node_modules/voxelkit-<platform>.
# Prints "pack-smoke: PASS" on success; temp dirs are always removed.
#
# Env: VOXELKIT_SMOKE_PLATFORM (default linux-x64-gnu).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PLATFORM="${VOXELKIT_SMOKE_PLATFORM:-linux-x64-gnu}"
BINARY="voxelkit.${PLATFORM}.node"
PLATFORM_PKG="voxelkit-${PLATFORM}"
NODE_BIN="$(command -v node)"
NPM_BIN="$(command -v npm)"

log() { printf 'pack-smoke: %s\n' "$*"; }
die() { printf 'pack-smoke: FAIL: %s\n' "$*" >&2; exit 1; }

for f in "native/${BINARY}" native/index.js native/index.d.ts dist/index.js dist/index.mjs dist/index.d.ts dist/cli.js "npm/${PLATFORM}/package.json"; do
  [ -f "$f" ] || die "missing $f (run \`npm run build\` and \`npx napi create-npm-dirs\` first)"
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/voxelkit-pack-smoke.XXXXXX")"
COPIED_BINARY=""
cleanup() {
  if [ -n "$COPIED_BINARY" ]; then rm -f "$COPIED_BINARY"; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- 1. root tarball contents ------------------------------------------------
log "checking root package contents (npm pack --dry-run --json)"
"$NPM_BIN" pack --dry-run --json --ignore-scripts >"$TMP/pack.json" 2>"$TMP/pack.err" \
  || { cat "$TMP/pack.err" >&2; die "npm pack --dry-run failed"; }
"$NODE_BIN" - "$TMP/pack.json" <<'EOF'
const fs = require('node:fs');
const [info] = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const files = info.files.map((f) => f.path);
const forbidden = files.filter((p) =>
  /^(target|crates|node_modules|ts|__test__|benches|fixtures|npm|scripts|\.github)\//.test(p) ||
  /\.node$/.test(p) || /^Cargo\.(toml|lock)$/.test(p));
const required = ['package.json', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts',
  'dist/cli.js', 'native/index.js', 'native/index.d.ts'];
const missing = required.filter((p) => !files.includes(p));
console.log(`pack-smoke: root tarball ${info.filename}: ${files.length} files, ` +
  `${(info.size / 1024).toFixed(1)} KiB packed, ${(info.unpackedSize / 1024).toFixed(1)} KiB unpacked`);
if (forbidden.length) { console.error('pack-smoke: FAIL: tarball contains', forbidden); process.exit(1); }
if (missing.length) { console.error('pack-smoke: FAIL: tarball is missing', missing); process.exit(1); }
EOF

# --- 2. pack root + platform package ----------------------------------------
if [ ! -e "npm/${PLATFORM}/${BINARY}" ]; then
  cp "native/${BINARY}" "npm/${PLATFORM}/${BINARY}"
  COPIED_BINARY="$ROOT/npm/${PLATFORM}/${BINARY}"
elif ! cmp -s "native/${BINARY}" "npm/${PLATFORM}/${BINARY}"; then
  die "npm/${PLATFORM}/${BINARY} exists and differs from native/${BINARY}; remove it and re-run"
fi

mkdir -p "$TMP/tarballs"
log "packing root and ${PLATFORM_PKG}"
ROOT_TGZ="$TMP/tarballs/$("$NPM_BIN" pack --ignore-scripts --silent --pack-destination "$TMP/tarballs" | tail -n 1)"
PLAT_TGZ="$TMP/tarballs/$(cd "npm/${PLATFORM}" && "$NPM_BIN" pack --ignore-scripts --silent --pack-destination "$TMP/tarballs" | tail -n 1)"
[ -f "$ROOT_TGZ" ] || die "root tarball not found: $ROOT_TGZ"
[ -f "$PLAT_TGZ" ] || die "platform tarball not found: $PLAT_TGZ"
plat_listing="$(tar -tzf "$PLAT_TGZ")"
case $'\n'"$plat_listing"$'\n' in
  *$'\n'"package/${BINARY}"$'\n'*) ;;
  *) die "${PLAT_TGZ##*/} does not contain ${BINARY}" ;;
esac

# --- 3. install into an empty project ---------------------------------------
APP="$TMP/app"
mkdir -p "$APP" "$TMP/home" "$TMP/npm-cache"
printf '{\n  "name": "voxelkit-pack-smoke",\n  "version": "0.0.0",\n  "private": true\n}\n' >"$APP/package.json"
install_args=(install --no-audit --no-fund --no-package-lock --ignore-scripts --cache "$TMP/npm-cache" "$PLAT_TGZ" "$ROOT_TGZ")
log "installing tarballs into $APP"
if ! (cd "$APP" && "$NPM_BIN" "${install_args[@]}" --offline >"$TMP/install.log" 2>&1); then
  log "offline install failed, retrying online:"
  sed 's/^/  | /' "$TMP/install.log"
  (cd "$APP" && "$NPM_BIN" "${install_args[@]}") || die "npm install of the tarballs failed"
fi
[ -f "$APP/node_modules/voxelkit/package.json" ] || die "voxelkit not installed"
[ -f "$APP/node_modules/${PLATFORM_PKG}/${BINARY}" ] || die "${PLATFORM_PKG} not installed"
stray_node="$(find "$APP/node_modules/voxelkit" -name '*.node' -print -quit)"
[ -z "$stray_node" ] || die "installed voxelkit package contains a binary: $stray_node"

# --- 4. run with no Rust toolchain on PATH ----------------------------------
# PATH holds only a shim dir with `node` plus /usr/bin:/bin; HOME is empty.
mkdir -p "$TMP/bin"
ln -s "$NODE_BIN" "$TMP/bin/node"
CLEAN_PATH="$TMP/bin:/usr/bin:/bin"
run_clean() { (cd "$APP" && env -i PATH="$CLEAN_PATH" HOME="$TMP/home" "$@"); }

if run_clean /bin/sh -c 'command -v cargo || command -v rustc' >/dev/null 2>&1; then
  die "cargo/rustc still reachable in the scrubbed environment (PATH=$CLEAN_PATH)"
fi
log "scrubbed env: cargo and rustc not on PATH"

log "CommonJS require('voxelkit')"
run_clean node -e "
const assert = require('node:assert');
const vk = require('voxelkit');
const names = Object.keys(vk).sort();
console.log('pack-smoke:   exports:', names.join(', '));
assert.strictEqual(typeof vk.fitDti, 'function', 'fitDti should be a function');
if ('getThreads' in vk) {
  const n = vk.getThreads();
  assert.ok(Number.isInteger(n) && n > 0, 'getThreads() should be a positive integer, got ' + n);
  console.log('pack-smoke:   getThreads() =', n);
}
if ('version' in vk) {
  const v = typeof vk.version === 'function' ? vk.version() : vk.version;
  assert.ok(typeof v === 'string' && v.length > 0, 'version should be a non-empty string');
  console.log('pack-smoke:   version =', v);
}
const loaded = Object.keys(require.cache).filter((p) => p.endsWith('.node'));
assert.ok(loaded.length > 0, 'no native addon was loaded');
assert.ok(loaded.every((p) => p.includes('node_modules/${PLATFORM_PKG}/')),
  'binding should come from ${PLATFORM_PKG}, got ' + loaded.join(', '));
console.log('pack-smoke:   binding:', loaded.join(', '));
" || die "CommonJS require('voxelkit') failed"

log "ESM import from 'voxelkit'"
run_clean node --input-type=module -e "
import assert from 'node:assert';
import * as vk from 'voxelkit';
import { fitDti } from 'voxelkit';
assert.strictEqual(typeof fitDti, 'function', 'named ESM export fitDti should be a function');
assert.strictEqual(fitDti, vk.fitDti);
if ('getThreads' in vk) {
  const n = vk.getThreads();
  assert.ok(Number.isInteger(n) && n > 0, 'getThreads() should be a positive integer, got ' + n);
}
console.log('pack-smoke:   ESM named exports:', Object.keys(vk).length);
" || die "ESM import from 'voxelkit' failed"

log "bin: voxelkit --help"
run_clean "$APP/node_modules/.bin/voxelkit" --help >"$TMP/help.txt" 2>&1 \
  || { cat "$TMP/help.txt" >&2; die "voxelkit --help exited non-zero"; }
[ -s "$TMP/help.txt" ] || die "voxelkit --help printed nothing"
sed -n '1,5s/^/  | /p' "$TMP/help.txt"

log "PASS (${PLATFORM}: root + ${PLATFORM_PKG} tarballs install and load without a Rust toolchain)"
