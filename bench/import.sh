#!/usr/bin/env bash
# `vecgate import` with one build thread and with every core, at 100k and 1M rows (384-d): items/s
# and recall@10 of each import, printed as one table with the ratios (tests/benches/import.rs).
# Not run by CI: the 1M imports take about half an hour. Usage: bash bench/import.sh [ROWS,...]
set -euo pipefail
cd "$(dirname "$0")/.."
VECGATE_IMPORT_ROWS=${1:-100000,1000000} cargo bench -p vecgate-tests --bench import
