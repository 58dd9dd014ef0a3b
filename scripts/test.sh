#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every check and test.
set -euo pipefail
cd "$(dirname "$0")/.."
# A one-shot run gains nothing from incremental caches, which would double the debug target's size.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

bash scripts/install-deps.sh
bash scripts/install-db-deps.sh
bash scripts/install-pgvector.sh
bash scripts/install-wasm-deps.sh
bash scripts/install-spin-deps.sh
bash scripts/install-api-fuzz-deps.sh
bash scripts/install-model.sh

step() { echo; echo "==> $*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (host, all targets)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy (wasm32 with simd128 and with relaxed SIMD, aarch64 with NEON): the other SIMD paths compile cleanly"
RUSTFLAGS="-C target-feature=+simd128" \
  cargo clippy -p vecgate-core --target wasm32-unknown-unknown -- -D warnings
# Its own target dir, as wasm/build.sh's relaxed build: other RUSTFLAGS would rebuild the first.
RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
  cargo clippy -p vecgate-core -p vecgate-wasm --target wasm32-unknown-unknown \
  --target-dir target/wasm-relaxed -- -D warnings
cargo clippy -p vecgate-core --target aarch64-unknown-linux-gnu --all-targets -- -D warnings
cargo clippy -p vecgate-spin --target wasm32-wasip2 -- -D warnings

step "cargo test"
cargo test --workspace --no-fail-fast

step "core kernels on this CPU: which paths the property tests ran (AVX2, AVX-VNNI, AVX-512, VNNI)"
cargo test -q -p vecgate-core --test kernels_props the_paths_that_ran -- --nocapture

step "bounded load: wrk, concurrency 32, 5 s per backend, 0 errors (debug build: no second optimized build in CI)"
VECGATE_LOAD_PROFILE=debug bash bench/load.sh 5

step "core kernels on aarch64 (NEON) under qemu: the property tests against the scalar reference"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
  cargo test -p vecgate-core --target aarch64-unknown-linux-gnu --test kernels_props --lib -- kernels quant topk

step "npm package: build, pack, install the tarball, Node + Chromium tests"
bash wasm/test.sh

step "demo page: Chromium test against vecgate serve --sample"
bash www/test.sh

step "fuzz targets (cargo fuzz), 20 s each from the committed seeds"
bash scripts/fuzz.sh 20
