#!/usr/bin/env bash
# API fuzzing, long run: schemathesis against `vecgate serve` on the embedded store and on
# PostgreSQL with ruvector (tests/tests/api_fuzz.rs), EXAMPLES per operation (default 500) and a
# fresh seed (printed; set VECGATE_API_FUZZ_SEED to replay one). CI runs the same test with 25.
# Usage: bash scripts/api-fuzz.sh [EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-api-fuzz-deps.sh
export VECGATE_API_FUZZ_EXAMPLES="${1:-500}"
export VECGATE_API_FUZZ_SEED="${VECGATE_API_FUZZ_SEED:-$RANDOM$RANDOM}"
echo "[api-fuzz] $VECGATE_API_FUZZ_EXAMPLES examples per operation, seed $VECGATE_API_FUZZ_SEED"
nice cargo test -p vecgate-tests --test api_fuzz -- --nocapture
