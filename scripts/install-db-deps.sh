#!/usr/bin/env bash
# Installs what the database tests need: the ruvector-postgres extension in PostgreSQL 15
# (.ci/install-ruvector.sh) and the pinned PGlite packages that serve pgvector (tests/pglite).
# Idempotent: each step is skipped when its result is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[install-db-deps] $*"; }

bash .ci/install-ruvector.sh

# npm ci leaves node_modules/.package-lock.json; reinstall when it is missing or older than the lock.
pglite=tests/pglite
if [[ ! -f "$pglite/node_modules/.package-lock.json" || "$pglite/package-lock.json" -nt "$pglite/node_modules/.package-lock.json" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    log "apt-get install nodejs npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  log "npm ci in $pglite"
  (cd "$pglite" && npm ci --no-audit --no-fund)
fi
log "done"
