#!/usr/bin/env python3
"""hnswlib and usearch on the data sets `cargo bench -p vecgate-core --bench hnsw` wrote to
bench/out/, then one table per data set with ours and instant-distance (from the Rust run) and
the ratios the issue sets targets for.

Everything runs on one thread. QPS is queries per CPU second of this process and build time is
given as wall and CPU seconds: the machine is shared, so CPU time is the steadier clock.
Memory is the growth of resident memory while building, per vector (hnswlib, usearch), or what
the index reports about itself (ours).
"""
import json
import os
import sys
import time

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
K = 10
EFS = [10, 12, 14, 16, 18, 20, 24, 32, 48, 64, 128]  # as core/benches/hnsw.rs
M = 16
EF_CONSTRUCTION = 200
TARGET_RECALL = 0.95


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def recall(found, truth):
    return float(np.mean([len(set(f[:K]) & set(t)) / K for f, t in zip(found, truth)]))


def measure(search, queries):
    """Runs all queries in rounds of at least 0.1 CPU seconds for at least 1.5 in all; (answers,
    QPS of the fastest round), as core/benches/hnsw.rs measures ours."""
    total, best, found = 0.0, 0.0, None
    while total < 1.5:
        count, start = 0, time.process_time()
        while count == 0 or time.process_time() - start < 0.1:
            found = search(queries)
            count += len(queries)
        spent = time.process_time() - start
        total += spent
        best = max(best, count / spent)
    return found, best


def bench_hnswlib(data, queries, truth):
    import hnswlib

    before = resident_bytes()
    index = hnswlib.Index(space="cosine", dim=data.shape[1])
    index.init_index(max_elements=len(data), ef_construction=EF_CONSTRUCTION, M=M, random_seed=int(os.environ.get("VECGATE_BENCH_SEED", "100")))
    index.set_num_threads(1)
    _, build_s, build_cpu = timed(lambda: index.add_items(data, np.arange(len(data))))
    per_vector = (resident_bytes() - before) / len(data)
    rows = []
    for ef in EFS:
        index.set_ef(ef)
        found, qps = measure(lambda q: index.knn_query(q, k=K, num_threads=1)[0], queries)
        rows.append(dict(engine="hnswlib", ef=ef, recall=recall(found, truth), qps=qps,
                         build_s=build_s, build_cpu_s=build_cpu, bytes_per_vector=per_vector))
    return rows


def bench_usearch(data, queries, truth, dtype):
    from usearch.index import Index

    before = resident_bytes()
    index = Index(ndim=data.shape[1], metric="cos", dtype=dtype, connectivity=M,
                  expansion_add=EF_CONSTRUCTION, expansion_search=EFS[0])
    _, build_s, build_cpu = timed(lambda: index.add(np.arange(len(data)), data, threads=1))
    per_vector = (resident_bytes() - before) / len(data)
    rows = []
    for ef in EFS:
        index.expansion_search = ef
        found, qps = measure(lambda q: index.search(q, K, threads=1).keys, queries)
        rows.append(dict(engine=f"usearch-{dtype}", ef=ef, recall=recall(found, truth), qps=qps,
                         build_s=build_s, build_cpu_s=build_cpu, bytes_per_vector=per_vector))
    return rows


def best_at_target(rows, engine):
    """The fastest setting of `engine` with recall ≥ the target, or None."""
    ok = [r for r in rows if r["engine"] == engine and r["recall"] >= TARGET_RECALL]
    return max(ok, key=lambda r: r["qps"]) if ok else None


def table(name, data, queries, rows):
    lines = [f"### {name}: {data.shape[0]} × {data.shape[1]}, {len(queries)} queries, k = {K}",
             "",
             "| engine | ef | recall@10 | QPS (1 thread) | build s (wall / cpu) | bytes/vector |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['ef']} | {r['recall']:.4f} | {r['qps']:.0f} | "
                     f"{r['build_s']:.1f} / {r['build_cpu_s']:.1f} | {r['bytes_per_vector']:.0f} |")
    lines += ["", f"At recall@10 ≥ {TARGET_RECALL} (fastest ef per engine):", ""]
    best = {e: best_at_target(rows, e) for e in dict.fromkeys(r["engine"] for r in rows)}
    for engine, r in best.items():
        lines.append(f"- {engine}: " + (f"{r['qps']:.0f} QPS at ef {r['ef']} (recall {r['recall']:.4f})"
                                        if r else "never reaches the target"))
    lines.append("")

    def ratio(a, b, key):
        return a[key] / b[key] if a and b and b[key] else float("nan")

    h, i = best.get("hnswlib"), best.get("instant-distance")
    first = {e: next(r for r in rows if r["engine"] == e) for e in best}
    targets = {"ours-f32": "≥ 1.5", "ours-int8": "—", "ours-int8+rescore": "≥ 2.0"}
    for ours in (e for e in best if e.startswith("ours-")):
        o = best.get(ours)
        target = targets.get(ours.split(" @")[0], "—")
        line = (f"- {ours}: QPS ×{ratio(o, h, 'qps'):.2f} hnswlib (target {target} on AVX-512), "
                f"build cpu ×{ratio(first[ours], first['hnswlib'], 'build_cpu_s'):.2f} hnswlib "
                f"(target ≤ 0.7), bytes/vector "
                f"×{ratio(first[ours], first['hnswlib'], 'bytes_per_vector'):.2f} hnswlib")
        if i:
            line += f"; QPS ×{ratio(o, i, 'qps'):.2f} instant-distance"
        lines.append(line)
    return "\n".join(lines)


def main():
    wanted = os.environ.get("VECGATE_BENCH_SETS", "synthetic,movies").split(",")
    names = [n.strip() for n in wanted if os.path.exists(os.path.join(OUT, f"{n.strip()}_rust.json"))]
    if not names:
        sys.exit("no results in bench/out: run `cargo bench -p vecgate-core --bench hnsw` first")
    report = []
    for name in names:
        load = lambda what: np.load(os.path.join(OUT, f"{name}_{what}.npy"))
        data, queries, truth = load("data"), load("queries"), load("truth")
        with open(os.path.join(OUT, f"{name}_rust.json")) as f:
            rows = json.load(f)
        rows += bench_hnswlib(data, queries, truth)
        if os.environ.get("VECGATE_BENCH_USEARCH", "1") != "0":
            for dtype in ("f32", "i8"):
                rows += bench_usearch(data, queries, truth, dtype)
        report.append(table(name, data, queries, rows))
        print(report[-1], "\n", flush=True)
    with open(os.path.join(OUT, "hnsw_table.md"), "w") as f:
        f.write("\n\n".join(report) + "\n")


if __name__ == "__main__":
    main()
