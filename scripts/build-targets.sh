#!/usr/bin/env bash
# build-targets.sh — cross-build the native binding for every target a Linux x64 machine can
# build, into npm/<platform>/voxelkit.<platform>.node (release profile: LTO, stripped).
#
#   platform          Rust target passed to `napi build -x` (cargo-zigbuild + zig)
#   linux-x64-gnu     x86_64-unknown-linux-gnu.2.17   (glibc floor 2.17)
#   linux-arm64-gnu   aarch64-unknown-linux-gnu.2.17  (glibc floor 2.17)
#   linux-x64-musl    x86_64-unknown-linux-musl
#   linux-arm64-musl  aarch64-unknown-linux-musl
#   darwin-x64        x86_64-apple-darwin    (no SDK: napi addons link -undefined dynamic_lookup)
#   darwin-arm64      aarch64-apple-darwin
#   wasm32-wasi       wasm32-wasip1-threads  (delegated to scripts/build-wasi.sh: rustc's own lld,
#                     no zig; npm/wasm32-wasi/voxelkit.wasm32-wasi.wasm and its loaders)
#   win32-x64-msvc    not built here (needs the MSVC CRT/Windows SDK; built on a Windows runner)
# macOS builds set MACOSX_DEPLOYMENT_TARGET (arm64 11.0, x64 10.13 — rustc's own floors are 11.0
# and 10.12; without it zig stamps its newest macOS (15.0 with zig 0.17) as the minimum, which
# older macOS may refuse to load) and the install name @rpath/voxelkit.<platform>.node, not the
# build folder's absolute path.
#
# It installs what it needs itself (unless --skip-install):
#   - `rustup target add` for each base triple;
#   - Zig (PyPI `ziglang`) and cargo-zigbuild (PyPI binary wheel `cargo-zigbuild`) into the
#     git-ignored venv .tools/venv, plus a `zig` wrapper in .tools/bin; both go on PATH.
#
# The build never touches the committed loader: napi writes into a staging folder
# (target/napi-targets/<platform>, --no-js) and only the .node file is copied to npm/<platform>/.
# native/index.js and native/index.d.ts are checksummed before and after; a change fails the run.
# Running it again is safe and gives the same binaries; an up-to-date target takes about a
# second. Dependencies are never rebuilt, but the napi CLI sometimes forces a recompile of the
# binding crate (its type-def bookkeeping): then about 3 minutes per target (LTO, 2 cores).
#
# Usage: scripts/build-targets.sh [--targets a,b,...] [--skip-install] [--no-check] [--list]
#   --targets       platforms (e.g. linux-arm64-gnu,darwin-arm64) or their Rust triples;
#                   default: every buildable platform
#   --skip-install  use the tools already present (rustup targets, .tools/venv); fail if missing
#   --no-check      skip `node scripts/check-artifacts.mjs` on the built binaries at the end
#   --keep-going    build the remaining targets after one fails (exit status still non-zero)
#   --list          print the platforms and their triples, then exit
# Env: ZIGLANG_VERSION, CARGO_ZIGBUILD_VERSION (pip pins), PYTHON (python for the venv),
#      MACOS_MIN_ARM64 (11.0), MACOS_MIN_X64 (10.13).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ZIGLANG_VERSION="${ZIGLANG_VERSION:-0.17.1}"
CARGO_ZIGBUILD_VERSION="${CARGO_ZIGBUILD_VERSION:-0.24.1}"
PYTHON="${PYTHON:-python3}"
MACOS_MIN_ARM64="${MACOS_MIN_ARM64:-11.0}"
MACOS_MIN_X64="${MACOS_MIN_X64:-10.13}"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
STAGE_ROOT="target/napi-targets"

ALL_PLATFORMS=(linux-arm64-gnu darwin-arm64 linux-x64-gnu linux-x64-musl linux-arm64-musl darwin-x64 wasm32-wasi)

triple_of() {
  case "$1" in
    linux-x64-gnu) echo x86_64-unknown-linux-gnu.2.17 ;;
    linux-arm64-gnu) echo aarch64-unknown-linux-gnu.2.17 ;;
    linux-x64-musl) echo x86_64-unknown-linux-musl ;;
    linux-arm64-musl) echo aarch64-unknown-linux-musl ;;
    darwin-x64) echo x86_64-apple-darwin ;;
    darwin-arm64) echo aarch64-apple-darwin ;;
    wasm32-wasi) echo wasm32-wasip1-threads ;;
    *) return 1 ;;
  esac
}

platform_of() { # accepts a platform name or a Rust triple (with or without the glibc suffix)
  local want="$1" p t
  for p in "${ALL_PLATFORMS[@]}" win32-x64-msvc; do
    [ "$want" = "$p" ] && { echo "$p"; return 0; }
  done
  for p in "${ALL_PLATFORMS[@]}"; do
    t="$(triple_of "$p")"
    if [ "$want" = "$t" ] || [ "$want" = "${t%%.*}" ]; then echo "$p"; return 0; fi
  done
  [ "$want" = x86_64-pc-windows-msvc ] && { echo win32-x64-msvc; return 0; }
  return 1
}

log() { printf 'build-targets: %s\n' "$*"; }
die() { printf 'build-targets: FAIL: %s\n' "$*" >&2; exit 1; }

TARGETS_ARG=""
SKIP_INSTALL=0
RUN_CHECK=1
KEEP_GOING=0
while [ $# -gt 0 ]; do
  case "$1" in
    --targets) [ $# -ge 2 ] || die "--targets needs a value"; TARGETS_ARG="$2"; shift 2 ;;
    --targets=*) TARGETS_ARG="${1#--targets=}"; shift ;;
    --skip-install) SKIP_INSTALL=1; shift ;;
    --no-check) RUN_CHECK=0; shift ;;
    --keep-going) KEEP_GOING=1; shift ;;
    --list)
      for p in "${ALL_PLATFORMS[@]}"; do printf '%-18s %s\n' "$p" "$(triple_of "$p")"; done
      printf '%-18s %s\n' win32-x64-msvc "(not buildable on Linux: skipped)"
      exit 0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

PLATFORMS=()
if [ -n "$TARGETS_ARG" ]; then
  IFS=',' read -r -a requested <<<"$TARGETS_ARG"
  for r in "${requested[@]}"; do
    [ -n "$r" ] || continue
    p="$(platform_of "$r")" || die "unknown target '$r' (try --list)"
    if [ "$p" = win32-x64-msvc ]; then
      log "skipping win32-x64-msvc: MSVC targets cannot be built on this Linux host"
      continue
    fi
    PLATFORMS+=("$p")
  done
else
  PLATFORMS=("${ALL_PLATFORMS[@]}")
  log "win32-x64-msvc is not built here (MSVC toolchain needed; CI builds it on windows-latest)"
fi
[ ${#PLATFORMS[@]} -gt 0 ] || die "no buildable target selected"

[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] \
  || log "warning: written for a Linux x86_64 host; this is $(uname -s) $(uname -m)"

# --- tools -----------------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found on PATH"
command -v node >/dev/null || die "node not found on PATH"
[ -x node_modules/.bin/napi ] || die "node_modules/.bin/napi missing: run \`npm ci\` first"

base_triples=()
for p in "${PLATFORMS[@]}"; do t="$(triple_of "$p")"; base_triples+=("${t%%.*}"); done

if [ "$SKIP_INSTALL" = 0 ]; then
  command -v rustup >/dev/null || die "rustup not found (needed to add the Rust std for each target)"
  installed="$(rustup target list --installed)"
  missing=()
  for t in "${base_triples[@]}"; do
    grep -qx "$t" <<<"$installed" || missing+=("$t")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "rustup target add ${missing[*]}"
    rustup target add "${missing[@]}"
  fi

  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $(realpath --relative-to="$ROOT" "$VENV") ($("$PYTHON" --version 2>&1))"
    "$PYTHON" -m venv "$VENV"
  fi
  have_zig="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("ziglang"))' 2>/dev/null || true)"
  have_czb="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("cargo-zigbuild"))' 2>/dev/null || true)"
  if [ "$have_zig" != "$ZIGLANG_VERSION" ] || [ "$have_czb" != "$CARGO_ZIGBUILD_VERSION" ] \
     || [ ! -x "$VENV/bin/cargo-zigbuild" ]; then
    log "pip install ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  fi
fi

# A `zig` on PATH that runs the PyPI Zig (cargo-zigbuild looks for `zig` first).
mkdir -p "$TOOLS/bin"
cat >"$TOOLS/bin/zig.tmp" <<'EOF'
#!/bin/sh
# written by scripts/build-targets.sh: the Zig from the PyPI `ziglang` wheel in .tools/venv
exec "$(dirname "$0")/../venv/bin/python" -m ziglang "$@"
EOF
chmod +x "$TOOLS/bin/zig.tmp"
if cmp -s "$TOOLS/bin/zig.tmp" "$TOOLS/bin/zig"; then rm -f "$TOOLS/bin/zig.tmp"; else mv -f "$TOOLS/bin/zig.tmp" "$TOOLS/bin/zig"; fi
export PATH="$TOOLS/bin:$VENV/bin:$PATH"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import ziglang' 2>/dev/null; then :; else
  die "Zig (PyPI ziglang) missing in .tools/venv; run without --skip-install"
fi
command -v cargo-zigbuild >/dev/null || die "cargo-zigbuild missing; run without --skip-install"
installed="$(rustup target list --installed 2>/dev/null || true)"
for t in "${base_triples[@]}"; do
  if [ -n "$installed" ] && ! grep -qx "$t" <<<"$installed"; then
    die "Rust target $t not installed; run without --skip-install (or: rustup target add $t)"
  fi
done
log "zig $(zig version), $(cargo-zigbuild --version), $(cargo --version)"

# --- build -----------------------------------------------------------------------------------
sum_loader() { cat native/index.js native/index.d.ts 2>/dev/null | cksum; }
loader_before="$(sum_loader)"

built=()
failed=()
timings=()
for p in "${PLATFORMS[@]}"; do
  triple="$(triple_of "$p")"
  stage="$STAGE_ROOT/$p"
  dest="npm/$p/voxelkit.$p.node"
  [ -f "npm/$p/package.json" ] || die "npm/$p/package.json missing (npx napi create-npm-dirs)"
  start=$(date +%s)
  if [ "$p" = wasm32-wasi ]; then
    if bash scripts/build-wasi.sh --skip-install; then
      secs=$(( $(date +%s) - start ))
      built+=("$p"); timings+=("$p ${secs}s ok")
    else
      secs=$(( $(date +%s) - start ))
      failed+=("$p"); timings+=("$p ${secs}s FAILED")
      [ "$KEEP_GOING" = 1 ] || break
    fi
    continue
  fi
  log "[$p] napi build -x --target $triple --release"
  # a failed build must not leave an older binding behind looking current
  rm -f "$dest" "$stage/voxelkit.$p.node"
  mkdir -p "$stage"
  target_env=()
  case "$p" in
    darwin-*)
      base="${triple%%.*}"
      var="$(tr '[:lower:]-' '[:upper:]_' <<<"$base")"
      if [ "$p" = darwin-arm64 ]; then min="$MACOS_MIN_ARM64"; else min="$MACOS_MIN_X64"; fi
      target_env=(MACOSX_DEPLOYMENT_TARGET="$min"
        "CARGO_TARGET_${var}_RUSTFLAGS=-C link-arg=-Wl,-install_name,@rpath/voxelkit.$p.node")
      log "[$p] ${target_env[*]}"
      ;;
  esac
  if env "${target_env[@]}" node_modules/.bin/napi build --platform --release --no-const-enum -x \
      --target "$triple" \
      --manifest-path crates/node/Cargo.toml \
      --output-dir "$stage" --no-js --dts index.d.ts \
     && [ -f "$stage/voxelkit.$p.node" ]; then
    cp -f "$stage/voxelkit.$p.node" "$dest.tmp" && mv -f "$dest.tmp" "$dest"
    secs=$(( $(date +%s) - start ))
    size=$(wc -c <"$dest")
    log "[$p] ok in ${secs}s: $dest ($size bytes)"
    built+=("$p")
    timings+=("$p ${secs}s ok")
  else
    secs=$(( $(date +%s) - start ))
    log "[$p] FAILED after ${secs}s"
    failed+=("$p")
    timings+=("$p ${secs}s FAILED")
    [ "$KEEP_GOING" = 1 ] || break
  fi
done

if [ "$(sum_loader)" != "$loader_before" ]; then
  die "native/index.js or native/index.d.ts changed during the build (they must not)"
fi

log "summary:"
for line in "${timings[@]}"; do log "  $line"; done

status=0
if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]}"
  status=1
fi
if [ "$RUN_CHECK" = 1 ] && [ ${#built[@]} -gt 0 ]; then
  list="$(IFS=,; echo "${built[*]}")"
  node scripts/check-artifacts.mjs --require "$list" || status=1
fi
exit $status
