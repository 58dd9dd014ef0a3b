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
# The NEON kernels run under qemu-user in the tests: a cross linker and an aarch64 libc.
missing=()
# podman and runc build and run the container image (deploy/, tests/tests/image.rs); crun, its
# default runtime, fails on these machines' cgroups (deploy/containers.conf picks runc).
for pkg in qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross podman runc; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# promtool checks and unit-tests the alert rules (deploy/, tests/tests/alerts.rs).
# Only the tool is wanted: policy-rc.d keeps the package from starting a Prometheus server.
if ! command -v promtool >/dev/null 2>&1; then
  log "apt-get install prometheus (for promtool; its service is not started)"
  apt-get update -qq
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# cargo-fuzz runs the fuzz targets (scripts/fuzz.sh).
CARGO_FUZZ_VERSION=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
log "done"
