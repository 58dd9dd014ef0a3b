#[path = "../tests/hnsw_support/mod.rs"]
mod hnsw_support;
use hnsw_support::*;
use std::time::Instant;
use vecgate_core::hnsw::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("N", 20000);
    let dims = env("D", 768);
    let efc = env("EFC", 200);
    let nq = 400;
    let mut data = clustered(n, nq, dims, 42);
    if std::env::var("MOVIES").is_ok() {
        let m = movies();
        data.dims = 384;
        data.data = m.iter().flat_map(|x| x.vector.clone()).collect();
        data.queries = m.iter().step_by(8).flat_map(|x| x.vector.clone()).collect();
    }
    let dims = data.dims;
    let nq = data.queries.len() / dims;
    let truth = row_ids(&ground_truth(&data.data, &data.queries, dims, 10));
    std::fs::create_dir_all("/tmp/probe").unwrap();
    write_npy(
        std::path::Path::new("/tmp/probe/data.npy"),
        &data.data,
        dims,
    )
    .unwrap();
    write_npy(
        std::path::Path::new("/tmp/probe/queries.npy"),
        &data.queries,
        dims,
    )
    .unwrap();
    if std::env::var("ONLYDATA").is_ok() {
        return;
    }
    let storages = if std::env::var("ALL").is_ok() {
        vec![
            Storage::F32,
            Storage::Int8 {
                keep_f32_for_rescore: false,
            },
            Storage::Int8 {
                keep_f32_for_rescore: true,
            },
        ]
    } else {
        vec![Storage::F32]
    };
    for storage in storages {
        let mut cfg = HnswConfig::new(dims);
        cfg.storage = storage;
        cfg.ef_construction = efc;
        let mut idx = HnswIndex::new(cfg).unwrap();
        let t = Instant::now();
        let c = process_cpu_seconds().unwrap();
        idx.upsert_batch(items(&data.data, dims)).unwrap();
        println!(
            "{storage:?} build wall {:.2} cpu {:.2} bytes/vec {:.0}",
            t.elapsed().as_secs_f64(),
            process_cpu_seconds().unwrap() - c,
            idx.bytes_per_vector()
        );
        for ef in [10, 16, 24, 32, 64] {
            let c = process_cpu_seconds().unwrap();
            let mut found = Vec::new();
            for _ in 0..3 {
                found = search_ids(
                    &idx,
                    &data.queries,
                    10,
                    &SearchOptions {
                        ef: Some(ef),
                        ..Default::default()
                    },
                );
            }
            let el = process_cpu_seconds().unwrap() - c;
            println!(
                "  ef {ef}: recall {:.4} cpu-qps {:.0}",
                recall(&found, &truth),
                3.0 * nq as f64 / el
            );
        }
    }
}
