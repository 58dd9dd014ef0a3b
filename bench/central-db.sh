#!/usr/bin/env bash
# Which central database to run (tests/benches/central_db.rs): ruvector (PostgreSQL 15) against
# native pgvector (PostgreSQL 16) through `vecgate serve` (release build), on the 3,200 films and
# ROWS synthetic 384-d rows (default 100,000): HNSW build time and size, search p50/p99 with
# recall@10 from the recall monitor, unfiltered and at 1% selectivity, and wrk requests/s for
# SECONDS (default 10) per run. Prints a table; asserts nothing about speed.
# Usage: bash bench/central-db.sh [ROWS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-api-fuzz-deps.sh
bash scripts/install-pgvector.sh
# The bench only drives the servers; the test profile builds it without a second optimized build.
VECGATE_CENTRAL_ROWS="${1:-100000}" VECGATE_CENTRAL_SECONDS="${2:-10}" \
  nice cargo test -q -p vecgate-tests --bench central_db
