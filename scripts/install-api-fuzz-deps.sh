#!/usr/bin/env bash
# Installs what the API fuzzing and load runs need: schemathesis (pinned, PyPI) in the gitignored
# venv .venv-tools/, and wrk (Debian). Idempotent: each step is skipped when already present.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[install-api-fuzz-deps] $*"; }

SCHEMATHESIS_VERSION=4.32.5
venv=.venv-tools

if [[ "$("$venv/bin/schemathesis" --version 2>/dev/null || true)" != *"$SCHEMATHESIS_VERSION"* ]]; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    log "apt-get install python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  log "schemathesis $SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if ! command -v wrk >/dev/null 2>&1; then
  log "apt-get install wrk"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
log "done"
