//! Start time and resident memory of `vecgate serve` on the embedded store, at 100k (and, with
//! `VECGATE_SCALE_MILLION=1`, 1M) synthetic 384-d vectors stored as int8.
//! Prints figures; asserts nothing about speed. Run: `cargo bench -p vecgate-tests --bench embedded_scale`

use std::time::Instant;

use vecgate_core::hnsw::Storage;
use vecgate_edge::store::embedded::{EmbeddedOptions, EmbeddedStore};
use vecgate_edge::store::{ContentItem, MediaType, Store};
use vecgate_tests::server::{vecgate_release_bin, Server};

const DIMS: usize = 384;

/// Clustered Gaussian-ish data (sums of uniforms around random centres), unit length.
fn vectors(n: usize, seed: u64) -> impl Iterator<Item = Vec<f32>> {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let centres: Vec<Vec<f32>> = (0..256)
        .map(|_| (0..DIMS).map(|_| next()).collect())
        .collect();
    (0..n).map(move |i| {
        let c = &centres[i % centres.len()];
        let v: Vec<f32> = c
            .iter()
            .map(|x| x + 0.35 * (next() + next() + next()))
            .collect();
        vecgate_core::kernels::normalize(&v).unwrap()
    })
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let mut sizes = vec![100_000usize];
    if std::env::var("VECGATE_SCALE_MILLION").is_ok_and(|v| v == "1") {
        sizes.push(1_000_000);
    }
    // Built before any timing starts.
    let bin = vecgate_release_bin();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("embedded store, int8 storage, {DIMS} dims");
    println!(
        "{:>9} {:>10} {:>12} {:>10} {:>9} {:>10}",
        "vectors", "build s", "snapshot MB", "start s", "RSS MB", "B/vector"
    );
    for n in sizes {
        let dir = std::env::temp_dir().join(format!("vecgate-scale-{n}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let build = Instant::now();
        {
            let store = EmbeddedStore::open(
                &dir,
                EmbeddedOptions {
                    dims: DIMS,
                    storage: Storage::Int8 {
                        keep_f32_for_rescore: false,
                    },
                    build_threads: None,
                },
            )
            .expect("open the store");
            let mut batch = Vec::with_capacity(1000);
            for (i, v) in vectors(n, 7).enumerate() {
                batch.push(ContentItem {
                    id: format!("movie-{i}"),
                    content_id: Some(i as i64),
                    media_type: MediaType::Movie,
                    metadata: serde_json::json!({"year": 1950 + (i % 75)}),
                    vector: v,
                    text: None,
                });
                if batch.len() == 1000 {
                    rt.block_on(store.upsert(&batch)).expect("upsert");
                    batch.clear();
                }
            }
            if !batch.is_empty() {
                rt.block_on(store.upsert(&batch)).expect("upsert");
            }
            store.snapshot().expect("snapshot");
        }
        let build_s = build.elapsed().as_secs_f64();
        let snapshot_mb = std::fs::metadata(dir.join("snapshot.bin"))
            .map(|m| m.len())
            .unwrap_or(0) as f64
            / 1e6;
        let start = Instant::now();
        let server = Server::start_bin(
            &bin,
            &[
                "--data-dir",
                dir.to_str().unwrap(),
                "--dimensions",
                "384",
                "--embedded-storage",
                "int8",
            ],
            &[],
        );
        let start_s = start.elapsed().as_secs_f64();
        let stats: serde_json::Value = reqwest::blocking::get(server.url("/v1/stats"))
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(stats["content_count"].as_u64(), Some(n as u64));
        let rss = rss_mb(server.pid());
        println!(
            "{n:>9} {build_s:>10.1} {snapshot_mb:>12.1} {start_s:>10.2} {rss:>9.1} {:>10.0}",
            rss * 1024.0 * 1024.0 / n as f64
        );
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
