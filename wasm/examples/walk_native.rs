//! The native side of the int8 HNSW walk in `wasm/bench/topk.mjs`: core's `HnswIndex` with int8
//! storage (the graph built and walked with integer inner products, as the package's
//! `new Index({ storage: "int8" })`), over the same generated matrix and queries as the Node
//! benchmark, the same ids ("0", "1", …), seed and parameters, so the graph is the same one the
//! package builds: the benchmark checks that every query's hits (ids and scores) are equal.
//!
//! `cargo run --release -p vecgate-wasm --example walk_native -- ROWS DIMS QUERIES ROUNDS EF_CONSTRUCTION EF`
//! prints one JSON line: the build time, milliseconds per search (best round, k = 10) and every
//! query's hits.

use std::time::Instant;

use vecgate_core::hnsw::{HnswConfig, HnswIndex, SearchOptions, Storage};
use vecgate_core::kernels::active_backend;

/// xorshift32 mapped to [-1, 1) and rounded to f32: bit-identical to the benchmark's JS generator.
fn generate(seed: u32, len: usize) -> Vec<f32> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f64 / 4_294_967_296.0 * 2.0 - 1.0) as f32
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [rows, dims, query_count, rounds, ef_construction, ef] = args[..] else {
        return Err("usage: walk_native ROWS DIMS QUERIES ROUNDS EF_CONSTRUCTION EF".into());
    };
    let matrix = generate(1, rows * dims);
    let queries: Vec<Vec<f32>> = (0..query_count)
        .map(|i| generate(1000 + i as u32, dims))
        .collect();

    let mut config = HnswConfig::new(dims);
    config.storage = Storage::Int8 {
        keep_f32_for_rescore: false,
    };
    config.ef_construction = ef_construction;
    config.seed = 1;
    let mut index = HnswIndex::new(config)?;
    let start = Instant::now();
    for (i, row) in matrix.chunks_exact(dims).enumerate() {
        index.insert(&i.to_string(), row, None)?;
    }
    let build_s = start.elapsed().as_secs_f64();

    let options = SearchOptions {
        ef: Some(ef),
        ..Default::default()
    };
    let mut hits = Vec::new();
    for q in &queries {
        hits.push(index.search(q, 10, &options)?);
    }
    for q in queries.iter().take(3) {
        std::hint::black_box(index.search(q, 10, &options)?);
    }
    let mut walk_ms = f64::INFINITY;
    for _ in 0..rounds {
        let start = Instant::now();
        for q in &queries {
            std::hint::black_box(index.search(q, 10, &options)?);
        }
        walk_ms = walk_ms.min(start.elapsed().as_secs_f64() * 1e3 / queries.len() as f64);
    }

    let hits: Vec<String> = hits
        .iter()
        .map(|list| {
            let items: Vec<String> = list
                .iter()
                .map(|h| format!("[\"{}\",{}]", h.id, h.score))
                .collect();
            format!("[{}]", items.join(","))
        })
        .collect();
    println!(
        "{{\"backend\":\"{}\",\"build_s\":{build_s},\"walk_ms\":{walk_ms},\"hits\":[{}]}}",
        active_backend(),
        hits.join(",")
    );
    Ok(())
}
