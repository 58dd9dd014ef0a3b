#!/usr/bin/env bash
# A long chaos run, or a replay of one seed: bash scripts/chaos.sh [seconds] [seed] [dialect]
# (defaults: 1800 s, a seed from the clock, pgvector). Prints the fault schedule as it goes and a
# report at the end; exits non-zero on any violation. Needs root, PostgreSQL with pgvector
# (scripts/install-pgvector.sh) and, for ruvector, scripts/install-db-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-1800}"
seed="${2:-$(date +%s)}"
dialect="${3:-pgvector}"
VECGATE_CHAOS_SECONDS="$seconds" VECGATE_CHAOS_RUNS="$dialect:$seed" \
  cargo test -p vecgate-tests --test chaos -- --nocapture
