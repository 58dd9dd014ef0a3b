//! HNSW benchmark: ours (f32, int8, int8 + f32 rescoring) and instant-distance on the same data.
//!
//! Writes the data sets to `bench/out/` as `.npy` (so `bench/hnsw_compare.py` runs hnswlib and
//! usearch on the very same vectors, queries and ground truth) and its own figures to
//! `bench/out/<dataset>_rust.json`. Run everything with `bench/run-hnsw.sh`.
//!
//! Environment: `VECGATE_BENCH_ROWS` (synthetic rows, default 100000), `VECGATE_BENCH_QUERIES`
//! (default 500), `VECGATE_BENCH_ID_EFS` (instant-distance ef values for the synthetic set,
//! default "64"; each needs its own build because instant-distance fixes ef when building,
//! and one 100k×768 build takes several minutes).
//! Every build and search runs on one thread; QPS is queries per CPU second of the searching thread, which
//! stays meaningful on a machine shared with other jobs.

#[path = "../tests/hnsw_support/mod.rs"]
mod hnsw_support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use hnsw_support::{
    clustered, movie_queries, movies, thread_cpu_seconds, write_npy, write_npy_i32,
};
use instant_distance::{Builder, Point, Search};
use serde_json::json;
use vecgate_core::hnsw::{HnswConfig, HnswIndex, HnswItem, SearchOptions, Storage};
use vecgate_core::kernels::{self, available_paths, dot_unchecked, normalize, KernelPath, Metric};
use vecgate_core::topk::top_k;

const K: usize = 10;
/// Fine steps at the low end, where recall@10 crosses 0.95 and QPS halves with each doubling.
const EFS: [usize; 11] = [10, 12, 14, 16, 18, 20, 24, 32, 48, 64, 128];
const DIMS_SYNTHETIC: usize = 768;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Dataset {
    name: &'static str,
    dims: usize,
    data: Vec<f32>,
    queries: Vec<f32>,
}

impl Dataset {
    fn rows(&self) -> usize {
        self.data.len() / self.dims
    }
}

/// One measured configuration.
struct Measure {
    engine: String,
    ef: usize,
    recall: f64,
    qps: f64,
    build_s: f64,
    build_cpu_s: f64,
    bytes_per_vector: f64,
}

/// Wall and CPU seconds of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (wall, cpu) = (Instant::now(), thread_cpu_seconds().unwrap_or(0.0));
    let out = f();
    let cpu = thread_cpu_seconds().unwrap_or(0.0) - cpu;
    (out, wall.elapsed().as_secs_f64(), cpu)
}

/// Exact top-10 row numbers per query, on two threads (ground truth is not what is measured).
fn ground_truth(ds: &Dataset) -> Vec<Vec<usize>> {
    let queries: Vec<&[f32]> = ds.queries.chunks_exact(ds.dims).collect();
    let half = queries.len().div_ceil(2);
    std::thread::scope(|s| {
        let parts: Vec<_> = queries
            .chunks(half.max(1))
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|q| {
                            top_k(q, &ds.data, ds.dims, Metric::Cosine, K, f32::NEG_INFINITY)
                                .expect("valid data")
                                .iter()
                                .map(|h| h.index)
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("ground-truth thread"))
            .collect()
    })
}

fn recall(found: &[Vec<usize>], truth: &[Vec<usize>]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| t.iter().filter(|i| f.contains(i)).count())
        .sum();
    hits as f64 / (truth.len() * K) as f64
}

/// Runs all queries in rounds of at least 0.1 CPU seconds (repeating them as needed) for at
/// least 1.5 CPU seconds in all; returns the answers and the queries per CPU second of the
/// fastest round. The best round, not the mean: on a shared machine a neighbour's burst only
/// ever slows a round down.
fn measure_queries(
    queries: &[f32],
    dims: usize,
    mut search: impl FnMut(&[f32]) -> Vec<usize>,
) -> (Vec<Vec<usize>>, f64) {
    let mut found = Vec::new();
    let (mut total, mut best_qps) = (0.0f64, 0.0f64);
    while total < 1.5 {
        let mut count = 0usize;
        let ((), _, spent) = timed(|| {
            let start = thread_cpu_seconds().unwrap_or(0.0);
            while count == 0 || thread_cpu_seconds().unwrap_or(0.0) - start < 0.1 {
                found = queries.chunks_exact(dims).map(&mut search).collect();
                count += found.len();
            }
        });
        total += spent;
        best_qps = best_qps.max(count as f64 / spent);
    }
    (found, best_qps)
}

/// Ours with each storage, on the kernel path `path`; engines on any path but the fastest are
/// named with it (`ours-f32 @avx2+fma`).
fn bench_ours(ds: &Dataset, truth: &[Vec<usize>], path: KernelPath) -> Vec<Measure> {
    kernels::use_path(path).expect("an available path");
    let suffix = if available_paths().last() == Some(&path) {
        String::new()
    } else {
        format!(" @{}", path.name())
    };
    let storages = [
        ("ours-f32", Storage::F32),
        (
            "ours-int8",
            Storage::Int8 {
                keep_f32_for_rescore: false,
            },
        ),
        (
            "ours-int8+rescore",
            Storage::Int8 {
                keep_f32_for_rescore: true,
            },
        ),
    ];
    // VECGATE_BENCH_STORAGES="f32,int8+rescore" measures only those.
    let wanted = std::env::var("VECGATE_BENCH_STORAGES").ok();
    let mut out = Vec::new();
    for (engine, storage) in storages {
        let short = engine.trim_start_matches("ours-");
        if wanted
            .as_deref()
            .is_some_and(|w| !w.split(',').any(|s| s.trim() == short))
        {
            continue;
        }
        let items: Vec<HnswItem> = ds
            .data
            .chunks_exact(ds.dims)
            .enumerate()
            .map(|(i, v)| HnswItem {
                id: i.to_string(),
                vector: v.to_vec(),
                metadata: None,
            })
            .collect();
        // VECGATE_BENCH_SEED draws other levels: the spread between seeds is the noise in a
        // graph's recall at a given ef.
        let defaults = HnswConfig::new(ds.dims);
        let config = HnswConfig {
            storage,
            seed: std::env::var("VECGATE_BENCH_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(defaults.seed),
            ..defaults
        };
        let mut index = HnswIndex::new(config).expect("valid config");
        let ((), build_s, build_cpu_s) = timed(|| index.upsert_batch(items).expect("valid items"));
        let bytes_per_vector = index.bytes_per_vector();
        for ef in EFS {
            let options = SearchOptions {
                ef: Some(ef),
                ..Default::default()
            };
            let (found, qps) = measure_queries(&ds.queries, ds.dims, |q| {
                let hits = index.search(q, K, &options).expect("search");
                hits.iter()
                    .map(|h| h.id.parse().unwrap_or(usize::MAX))
                    .collect()
            });
            out.push(Measure {
                engine: format!("{engine}{suffix}"),
                ef,
                recall: recall(&found, truth),
                qps,
                build_s,
                build_cpu_s,
                bytes_per_vector,
            });
        }
    }
    out
}

/// A unit vector compared by `1 − dot` with the same SIMD kernel ours uses, so the comparison
/// is between the graph algorithms.
#[derive(Clone)]
struct Unit(Vec<f32>);

impl Point for Unit {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot_unchecked(&self.0, &other.0)
    }
}

fn unit(v: &[f32]) -> Unit {
    Unit(normalize(v).expect("finite"))
}

fn bench_instant_distance(ds: &Dataset, truth: &[Vec<usize>], efs: &[usize]) -> Vec<Measure> {
    let mut out = Vec::new();
    for &ef in efs {
        let points: Vec<Unit> = ds.data.chunks_exact(ds.dims).map(unit).collect();
        let rows: Vec<usize> = (0..points.len()).collect();
        let (map, build_s, build_cpu_s) = timed(|| {
            Builder::default()
                .ef_construction(200)
                .ef_search(ef)
                .seed(1)
                .build(points, rows)
        });
        // From its layout: each point (a Vec), a 64-slot level-0 list of u32 ids (M is fixed at
        // 32), its value, and upper-level lists of 32 ids for about one point in 32.
        let bytes_per_vector = (std::mem::size_of::<Unit>()
            + ds.dims * 4
            + 64 * 4
            + std::mem::size_of::<usize>()
            + 32 * 4 / 32) as f64;
        let mut search = Search::default();
        let (found, qps) = measure_queries(&ds.queries, ds.dims, |q| {
            map.search(&unit(q), &mut search)
                .take(K)
                .map(|item| *item.value)
                .collect()
        });
        out.push(Measure {
            engine: "instant-distance".to_string(),
            ef,
            recall: recall(&found, truth),
            qps,
            build_s,
            build_cpu_s,
            bytes_per_vector,
        });
    }
    out
}

fn write_dataset(dir: &Path, ds: &Dataset, truth: &[Vec<usize>]) {
    let path = |what: &str| dir.join(format!("{}_{what}.npy", ds.name));
    write_npy(&path("data"), &ds.data, ds.dims).expect("write data");
    write_npy(&path("queries"), &ds.queries, ds.dims).expect("write queries");
    let flat: Vec<i32> = truth.iter().flatten().map(|&i| i as i32).collect();
    write_npy_i32(&path("truth"), &flat, K).expect("write truth");
}

fn print_table(ds: &Dataset, rows: &[Measure]) {
    println!(
        "\n{} ({} × {}, {} queries, k = {K}; one thread; QPS per CPU second)",
        ds.name,
        ds.rows(),
        ds.dims,
        ds.queries.len() / ds.dims
    );
    println!(
        "{:<18} {:>5} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "engine", "ef", "recall", "QPS", "build s", "build cpu", "bytes/vec"
    );
    for m in rows {
        println!(
            "{:<18} {:>5} {:>8.4} {:>9.0} {:>9.1} {:>9.1} {:>10.0}",
            m.engine, m.ef, m.recall, m.qps, m.build_s, m.build_cpu_s, m.bytes_per_vector
        );
    }
}

/// Real MiniLM embeddings from `VECGATE_BENCH_REAL` (default `bench/out/debian-long-minilm.jsonl`,
/// made by `bench/real-embeddings.sh 103000 long`; one JSON object with a `vector` per line);
/// the last `query_count` rows are held out as the queries.
fn real_embeddings(query_count: usize) -> Dataset {
    let default = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bench/out/debian-long-minilm.jsonl"
    );
    let path = std::env::var("VECGATE_BENCH_REAL").unwrap_or_else(|_| default.into());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}; make it with bench/real-embeddings.sh 103000 long")
    });
    let mut vectors: Vec<Vec<f32>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            serde_json::from_value(row["vector"].clone()).expect("a vector")
        })
        .collect();
    let dims = vectors[0].len();
    let queries: Vec<f32> = vectors.split_off(vectors.len() - query_count).concat();
    Dataset {
        name: "real",
        dims,
        data: vectors.concat(),
        queries,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; there are no filters to honour.
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/out");
    std::fs::create_dir_all(&out_dir).expect("create bench/out");
    let rows = env_usize("VECGATE_BENCH_ROWS", 100_000);
    let query_count = env_usize("VECGATE_BENCH_QUERIES", 500);
    let synthetic_id_efs: Vec<usize> = std::env::var("VECGATE_BENCH_ID_EFS")
        .unwrap_or_else(|_| "64".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();

    let sets = std::env::var("VECGATE_BENCH_SETS").unwrap_or_else(|_| "synthetic,movies".into());
    let sets: Vec<&str> = sets.split(',').map(str::trim).collect();
    // Ours on the fastest path by default; VECGATE_BENCH_PATHS="avx512+vnni,avx2" adds others.
    let paths: Vec<KernelPath> = match std::env::var("VECGATE_BENCH_PATHS") {
        Ok(names) => names
            .split(',')
            .map(|n| KernelPath::parse(n).expect("VECGATE_BENCH_PATHS"))
            .inspect(|p| assert!(p.is_available(), "this CPU can't run {}", p.name()))
            .collect(),
        Err(_) => vec![*available_paths().last().expect("scalar at least")],
    };
    println!(
        "kernel paths: {} (this CPU has: {})",
        paths
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        available_paths()
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut datasets = Vec::new();
    if sets.contains(&"synthetic") {
        let synthetic = clustered(rows, query_count, DIMS_SYNTHETIC, 42);
        let dataset = Dataset {
            name: "synthetic",
            dims: DIMS_SYNTHETIC,
            data: synthetic.data,
            queries: synthetic.queries,
        };
        datasets.push((dataset, synthetic_id_efs.clone()));
    }
    if sets.contains(&"movies") {
        let movie_rows = movies();
        let movie_dims = movie_rows[0].vector.len();
        // The 12 text queries plus every 16th film (find-similar), for steadier figures.
        let mut movie_query_vectors: Vec<f32> = movie_queries().concat();
        movie_query_vectors.extend(movie_rows.iter().step_by(16).flat_map(|m| m.vector.clone()));
        let dataset = Dataset {
            name: "movies",
            dims: movie_dims,
            data: movie_rows.iter().flat_map(|m| m.vector.clone()).collect(),
            queries: movie_query_vectors,
        };
        datasets.push((dataset, EFS.to_vec()));
    }
    if sets.contains(&"real") {
        datasets.push((real_embeddings(query_count), synthetic_id_efs.clone()));
    }
    for (ds, id_efs) in &datasets {
        let truth = ground_truth(ds);
        write_dataset(&out_dir, ds, &truth);
        let mut measures = Vec::new();
        for &path in &paths {
            measures.extend(bench_ours(ds, &truth, path));
        }
        measures.extend(bench_instant_distance(ds, &truth, id_efs));
        print_table(ds, &measures);
        let json_rows: Vec<_> = measures
            .iter()
            .map(|m| {
                json!({
                    "engine": m.engine, "ef": m.ef, "recall": m.recall, "qps": m.qps,
                    "build_s": m.build_s, "build_cpu_s": m.build_cpu_s,
                    "bytes_per_vector": m.bytes_per_vector,
                })
            })
            .collect();
        let path = out_dir.join(format!("{}_rust.json", ds.name));
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json_rows).expect("json"),
        )
        .expect("write results");
    }
}
