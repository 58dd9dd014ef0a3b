#!/usr/bin/env bash
# Bounded load on loopback (tests/benches/load.rs): wrk at concurrency 32 against `vecgate serve`
# (release build) on the embedded store and on PostgreSQL with ruvector, SECONDS per backend
# (default 30, at most 60). Prints throughput, p50, p99 and errors; fails on any error.
# Usage: bash bench/load.sh [SECONDS]   (VECGATE_LOAD_PROFILE=debug serves the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-api-fuzz-deps.sh
# The bench only drives wrk; the test profile builds it without a second optimized build.
VECGATE_LOAD_SECONDS="${1:-30}" nice cargo test -q -p vecgate-tests --bench load
