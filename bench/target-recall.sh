#!/usr/bin/env bash
# target_recall against the fixed default and the hand-tuned breadth (tests/benches/target_recall.rs)
# on ROWS real MiniLM embeddings of Debian package descriptions (default 100,000) with 1,000
# held-out queries, on the embedded store, a --local-index node, pgvector and ruvector, through
# `vecgate serve` (release): recall@10 computed here, p50/p99 and wrk requests/s for SECONDS
# (default 3) per setting. Prints a table; asserts nothing about speed.
# Usage: bash bench/target-recall.sh [ROWS] [SECONDS]
#   VECGATE_TARGET_RECALL_BACKENDS=embedded,pgvector  only some backends
set -euo pipefail
cd "$(dirname "$0")/.."

rows=${1:-100000}
bash scripts/install-api-fuzz-deps.sh
bash scripts/install-pgvector.sh
bash scripts/install-model.sh
cargo build --release -q -p vecgate-edge --bin vecgate
# The data: ROWS indexed, then 1,000 held-out and 2,000 learning queries.
bash bench/real-embeddings.sh "$((rows + 3000))" long
VECGATE_TARGET_RECALL_ROWS="$rows" VECGATE_TARGET_RECALL_SECONDS="${2:-3}" \
  nice cargo bench -q -p vecgate-tests --bench target_recall
