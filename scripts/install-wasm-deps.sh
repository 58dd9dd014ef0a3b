#!/usr/bin/env bash
# Installs what wasm/build.sh and wasm/test.sh need: the wasm32 target, the wasm-bindgen CLI
# (the exact version Cargo.lock records for the wasm-bindgen crate), Debian's chromium, and the
# pinned npm packages of the test project. (No wasm-opt: binaryen, Debian's 108 as npm's 132, makes
# the gzipped .wasm larger, not smaller: wasm/README.md.) The benchmark's npm peers
# (wasm/bench/package.json) are not installed here: CI does not run benchmarks.
# Idempotent: each step is skipped when its result is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[install-wasm-deps] $*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The CLI must match the crate exactly: the generated JS glue and the .wasm share an ABI.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ -z "$bindgen_version" ]; then
  echo "[install-wasm-deps] Cargo.lock has no wasm-bindgen entry; run 'cargo tree -p vecgate-wasm' first" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $bindgen_version" ]; then
  log "cargo install wasm-bindgen-cli $bindgen_version"
  # --locked first; its lockfile can name a crate version the registry does not serve (0.2.130
  # names webpki-roots 1.0.11, which this registry lacks), and then a fresh resolution is the way.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --locked ||
    cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

# --build-only: just what wasm/build.sh needs (scripts/serve.sh), not the test browser and packages.
if [ "${1:-}" = "--build-only" ]; then
  log "done (build only)"
  exit 0
fi

missing_debs=()
dpkg -s chromium >/dev/null 2>&1 || missing_debs+=(chromium)
if [ ${#missing_debs[@]} -gt 0 ]; then
  log "apt-get install ${missing_debs[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing_debs[@]}"
fi

# npm ci leaves node_modules/.package-lock.json identical in content to package-lock.json's
# packages; reinstall only when the lock changed since.
tests_dir=wasm/tests
if ! cmp -s <(node -e 'const l=require(process.argv[1]); delete l.packages[""]; console.log(JSON.stringify(l.packages))' "./$tests_dir/package-lock.json") \
            <(node -e 'try { console.log(JSON.stringify(require(process.argv[1]).packages)) } catch { }' "./$tests_dir/node_modules/.package-lock.json"); then
  log "npm ci in $tests_dir"
  (cd "$tests_dir" && npm ci --no-audit --no-fund)
fi
log "done"
