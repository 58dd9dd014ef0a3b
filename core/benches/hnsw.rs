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
//! Every build and search runs on one thread; QPS is queries per CPU second of this process, which
//! stays meaningful on a machine shared with other jobs.

#[path = "../tests/hnsw_support/mod.rs"]
mod hnsw_support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use hnsw_support::{
    clustered, movie_queries, movies, process_cpu_seconds, write_npy, write_npy_i32,
};
use instant_distance::{Builder, Point, Search};
use serde_json::json;
use vecgate_core::hnsw::{HnswConfig, HnswIndex, HnswItem, SearchOptions, Storage};
use vecgate_core::kernels::{dot_unchecked, normalize, Metric};
use vecgate_core::topk::top_k;

const K: usize = 10;
const EFS: [usize; 4] = [16, 32, 64, 128];
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
    let (wall, cpu) = (Instant::now(), process_cpu_seconds().unwrap_or(0.0));
    let out = f();
    let cpu = process_cpu_seconds().unwrap_or(0.0) - cpu;
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

/// Runs the queries in rounds until at least a CPU second has passed (the clock ticks every
/// 10 ms); returns the last answers and queries per CPU second.
fn measure_queries(
    queries: &[f32],
    dims: usize,
    mut search: impl FnMut(&[f32]) -> Vec<usize>,
) -> (Vec<Vec<usize>>, f64) {
    let mut found = Vec::new();
    let (mut count, mut cpu) = (0usize, 0.0f64);
    while cpu < 1.0 {
        let ((), _, spent) = timed(|| {
            found = queries.chunks_exact(dims).map(&mut search).collect();
        });
        count += found.len();
        cpu += spent;
    }
    (found, count as f64 / cpu)
}

fn bench_ours(ds: &Dataset, truth: &[Vec<usize>]) -> Vec<Measure> {
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
    let mut out = Vec::new();
    for (engine, storage) in storages {
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
        let config = HnswConfig {
            storage,
            ..HnswConfig::new(ds.dims)
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
                engine: engine.to_string(),
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

    let synthetic = clustered(rows, query_count, DIMS_SYNTHETIC, 42);
    let movie_rows = movies();
    let movie_dims = movie_rows[0].vector.len();
    // The 12 text queries plus every 16th film (find-similar), for steadier figures.
    let mut movie_query_vectors: Vec<f32> = movie_queries().concat();
    movie_query_vectors.extend(movie_rows.iter().step_by(16).flat_map(|m| m.vector.clone()));
    let datasets = [
        (
            Dataset {
                name: "synthetic",
                dims: DIMS_SYNTHETIC,
                data: synthetic.data,
                queries: synthetic.queries,
            },
            synthetic_id_efs,
        ),
        (
            Dataset {
                name: "movies",
                dims: movie_dims,
                data: movie_rows.iter().flat_map(|m| m.vector.clone()).collect(),
                queries: movie_query_vectors,
            },
            EFS.to_vec(),
        ),
    ];
    for (ds, id_efs) in &datasets {
        let truth = ground_truth(ds);
        write_dataset(&out_dir, ds, &truth);
        let mut measures = bench_ours(ds, &truth);
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
