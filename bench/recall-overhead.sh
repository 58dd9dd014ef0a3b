#!/usr/bin/env bash
# What the recall monitor costs a search (tests/benches/recall_overhead.rs): `vecgate serve`
# (release) on the embedded store at recall_sample_rate 0, 0.01 and 1, one-at-a-time latency and
# wrk requests/s for SECONDS (default 5) each, as ratios to rate 0. Asserts nothing about speed.
# Usage: bash bench/recall-overhead.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-api-fuzz-deps.sh
VECGATE_RECALL_BENCH_SECONDS="${1:-5}" nice cargo test -q -p vecgate-tests --bench recall_overhead
