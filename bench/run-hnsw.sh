#!/usr/bin/env bash
# The HNSW benchmark in one command: ours (f32, int8, int8 + rescoring) and instant-distance from
# `cargo bench`, then hnswlib and usearch (PyPI) on the same files, then the combined table
# (printed and written to bench/out/hnsw_table.md).
#
# Environment: VECGATE_BENCH_SETS (default synthetic,movies; `real` is 103,000 real MiniLM
# embeddings from bench/real-embeddings.sh, VECGATE_BENCH_REAL names another file),
# VECGATE_BENCH_ROWS (synthetic rows, default 100000), VECGATE_BENCH_QUERIES (default 500),
# VECGATE_BENCH_ID_EFS (instant-distance ef values, default 64; empty skips it),
# VECGATE_BENCH_PATHS (ours on these kernel paths, default the fastest; e.g. avx512+vnni,avx2),
# VECGATE_BENCH_STORAGES (ours: f32,int8,int8+rescore by default), VECGATE_BENCH_SEED (the level
# draw's seed, ours and hnswlib's; default each one's own), VECGATE_BENCH_USEARCH=0
# (skip usearch).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import hnswlib, usearch, numpy' 2>/dev/null; then
    python3 -m pip install --quiet hnswlib==0.8.0 usearch numpy
fi

# The CPU decides which kernels run, here and in hnswlib's -march=native build: print it.
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "cpu simd flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512[a-z_0-9]*|avx_vnni)$' | tr '\n' ' ')"

# One thread everywhere: instant-distance builds with rayon, so pin it.
export RAYON_NUM_THREADS=1
# Its own target directory: a shared one is locked while anyone else's bench or test runs.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/hnsw-bench}" cargo bench -p vecgate-core --bench hnsw
python3 bench/hnsw_compare.py
