#!/usr/bin/env bash
# Installs what the database tests need: the ruvector-postgres extension in PostgreSQL 15
# (.ci/install-ruvector.sh). Native pgvector comes from scripts/install-pgvector.sh.
# Idempotent: each step is skipped when its result is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-ruvector.sh
echo "[install-db-deps] done"
