#!/usr/bin/env bash
# Installs everything the tests need. Idempotent: each step is skipped when its result is present.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[install-deps] $*"; }

# Rust components and targets.
installed_components=$(rustup component list --installed)
for c in clippy rustfmt; do
  grep -q "^$c" <<<"$installed_components" || { log "rustup component add $c"; rustup component add "$c"; }
done
installed_targets=$(rustup target list --installed)
for t in wasm32-unknown-unknown wasm32-wasip2 aarch64-unknown-linux-gnu; do
  grep -qx "$t" <<<"$installed_targets" || { log "rustup target add $t"; rustup target add "$t"; }
done
log "done"
