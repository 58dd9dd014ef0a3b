#!/usr/bin/env bash
# The HNSW benchmark in one command: ours (f32, int8, int8 + rescoring) and instant-distance from
# `cargo bench`, then hnswlib and usearch (PyPI) on the same files, then the combined table
# (printed and written to bench/out/hnsw_table.md).
#
# Environment: VECGATE_BENCH_ROWS (synthetic rows, default 100000), VECGATE_BENCH_QUERIES
# (default 500), VECGATE_BENCH_ID_EFS (instant-distance ef values, default 64).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import hnswlib, usearch, numpy' 2>/dev/null; then
    python3 -m pip install --quiet hnswlib usearch numpy
fi

# One thread everywhere: instant-distance builds with rayon, so pin it.
export RAYON_NUM_THREADS=1
# Its own target directory: a shared one is locked while anyone else's bench or test runs.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/hnsw-bench}" cargo bench -p vecgate-core --bench hnsw
python3 bench/hnsw_compare.py
