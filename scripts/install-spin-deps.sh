#!/usr/bin/env bash
# Installs what the Spin component and its test host need: Rust's wasm32-wasip2 target (the
# toolchain's wasm-component-ld then writes a component directly; no adapter, no wasm-tools).
# Idempotent: skipped when the target is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[install-spin-deps] $*"; }

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  log "rustup target add wasm32-wasip2"
  rustup target add wasm32-wasip2
fi
log "done"
