//! What `vecgate import` costs on the embedded store with one build thread and with every core:
//! items per second, and the recall@10 of the index each import leaves behind, in one run.
//! Prints figures; asserts nothing about speed (these machines are noisy: compare the ratio).
//!
//!   cargo bench -p vecgate-tests --bench import          # 100k × 384
//!   bash bench/import.sh                                 # 100k and 1M
//!
//! Environment: `VECGATE_IMPORT_ROWS` (comma-separated sizes, default 100000),
//! `VECGATE_IMPORT_QUERIES` (default 200). The data is synthetic: 384-d unit rows around 1,000
//! random centres ([`Rng::unit_near`]), written once as a `movies.jsonl`-shaped file; queries are
//! fresh rows from the same centres. Recall is against exact cosine top-10 over the same rows.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::json;
use vecgate_core::hnsw::Storage;
use vecgate_core::kernels::Metric;
use vecgate_core::topk::top_k;
use vecgate_edge::store::embedded::{EmbeddedOptions, EmbeddedStore};
use vecgate_edge::store::{SearchBreadth, SearchQuery};
use vecgate_tests::empty_temp_dir;
use vecgate_tests::server::vecgate_release_bin;
use vecgate_tests::synthetic::Rng;

const DIMS: usize = 384;
const K: usize = 10;

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {s:?} is not a number"))
        })
        .collect()
}

/// Writes `rows` items to `file` and returns their vectors, row-major.
fn write_items(file: &Path, rows: usize, rng: &mut Rng, centers: &[Vec<f32>]) -> Vec<f32> {
    let mut out = BufWriter::new(std::fs::File::create(file).expect("create the import file"));
    let mut matrix = Vec::with_capacity(rows * DIMS);
    for i in 0..rows {
        let vector = rng.unit_near(&centers[i % centers.len()], 0.35);
        let line = json!({
            "id": format!("syn-{i}"),
            "content_id": i,
            "media_type": "movie",
            "metadata": {"bucket": i % 100},
            "vector": vector,
        });
        writeln!(out, "{line}").expect("write the import file");
        matrix.extend_from_slice(&vector);
    }
    out.flush().expect("flush the import file");
    matrix
}

/// `vecgate import` of `file` into a fresh data dir; returns the dir and the wall seconds.
fn import(file: &Path, rows: usize, threads: Option<usize>) -> (std::path::PathBuf, f64) {
    let label = threads.map_or("all".to_string(), |t| t.to_string());
    let dir = empty_temp_dir(&format!("import-bench-{rows}-{label}"));
    let mut cmd = Command::new(vecgate_release_bin());
    cmd.arg("import")
        .arg(file)
        .args(["--batch", "1000", "--dimensions", &DIMS.to_string()])
        .arg("--data-dir")
        .arg(&dir)
        .env("VECGATE_LOCAL_MODEL", "off");
    if let Some(t) = threads {
        cmd.args(["--build-threads", &t.to_string()]);
    }
    let start = Instant::now();
    let output = cmd.output().expect("run vecgate import");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "vecgate import failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (dir, seconds)
}

/// recall@10 of the imported store against `truth`.
fn recall(dir: &Path, queries: &[Vec<f32>], truth: &[Vec<String>]) -> f64 {
    let store = EmbeddedStore::open(
        dir,
        EmbeddedOptions {
            dims: DIMS,
            storage: Storage::F32,
            build_threads: None,
        },
    )
    .expect("open the imported store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut found = 0;
    for (query, expected) in queries.iter().zip(truth) {
        let outcome = rt
            .block_on(store.search_unlogged(&SearchQuery {
                vector: query.clone(),
                k: K,
                threshold: None,
                filter: None,
                exclude_id: None,
                include_metadata: false,
                include_vector: false,
                log: None,
                breadth: SearchBreadth::Backend,
                deadline: None,
            }))
            .expect("search the imported store");
        found += outcome
            .hits
            .iter()
            .filter(|h| expected.contains(&h.id))
            .count();
    }
    found as f64 / (queries.len() * K) as f64
}

fn main() {
    let sizes = env_list("VECGATE_IMPORT_ROWS", "100000");
    let query_count = env_list("VECGATE_IMPORT_QUERIES", "200")[0];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bin = vecgate_release_bin();
    println!(
        "vecgate import into the embedded store (f32, M 16, efC 200), {DIMS} dims, batches of \
         1,000, recall@{K} over {query_count} queries at the default ef 64; {cores} cores; {}",
        bin.display()
    );
    println!("| rows | build threads | seconds | items/s | recall@10 |");
    println!("|---:|---:|---:|---:|---:|");
    let mut summary = Vec::new();
    for rows in sizes {
        let mut rng = Rng(0x0014_b057);
        let centers = rng.centers(1000, DIMS);
        let file = std::env::temp_dir().join(format!(
            "vecgate-import-bench-{rows}-{}.jsonl",
            std::process::id()
        ));
        eprintln!("[import bench] writing {rows} items");
        let matrix = write_items(&file, rows, &mut rng, &centers);
        let queries: Vec<Vec<f32>> = (0..query_count)
            .map(|i| rng.unit_near(&centers[(i * 37) % centers.len()], 0.35))
            .collect();
        eprintln!("[import bench] exact top-{K} for {query_count} queries");
        let truth: Vec<Vec<String>> = queries
            .iter()
            .map(|q| {
                top_k(q, &matrix, DIMS, Metric::Cosine, K, f32::NEG_INFINITY)
                    .expect("exact top-k")
                    .into_iter()
                    .map(|s| format!("syn-{}", s.index))
                    .collect()
            })
            .collect();
        drop(matrix);
        let mut measured = Vec::new();
        for threads in [Some(1), None] {
            let label = threads.map_or(format!("{cores} (all)"), |t| t.to_string());
            eprintln!("[import bench] importing {rows} items with {label} build threads");
            let (dir, seconds) = import(&file, rows, threads);
            let recall = recall(&dir, &queries, &truth);
            let _ = std::fs::remove_dir_all(&dir);
            let rate = rows as f64 / seconds;
            println!("| {rows} | {label} | {seconds:.1} | {rate:.0} | {recall:.4} |");
            measured.push((rate, recall));
        }
        let _ = std::fs::remove_file(&file);
        let ((one_rate, one_recall), (all_rate, all_recall)) = (measured[0], measured[1]);
        summary.push(format!(
            "{rows} rows: {cores} threads / 1 thread = {:.2}× the items/s (target ≥ 1.7× on 2 \
             cores); recall@10 {all_recall:.4} vs {one_recall:.4} ({:+.4}, target within 0.005)",
            all_rate / one_rate,
            all_recall - one_recall
        ));
    }
    println!();
    for line in summary {
        println!("{line}");
    }
}
