//! Bounded load on loopback: `wrk` at concurrency 32 for a fixed duration against `vecgate serve`
//! holding the 3,200 sample movies: on the embedded store, on PostgreSQL 15 with ruvector
//! (directly, and through a `--local-index` node) and on PostgreSQL 16 with native pgvector. The requests (bench/load.lua) are k = 10 vector searches, a quarter of them
//! filtered, and one in eight a GET of an item or of its similar items.
//! Prints throughput, p50, p99 and the error count (non-2xx/3xx plus socket errors) and exits
//! non-zero when there is any error. Asserts nothing about speed.
//!
//! Run: `bash bench/load.sh [seconds]`. `VECGATE_LOAD_SECONDS` (default 30, at most 60) is the
//! duration per backend; `VECGATE_LOAD_PROFILE=debug` serves with the debug build (CI's short
//! run checks the error count, not the speed).

use std::path::{Path, PathBuf};

use serde_json::json;
use vecgate_tests::data::movies;
use vecgate_tests::server::{vecgate_bin, vecgate_release_bin, Server};
use vecgate_tests::suite::{key_env, load_movies, Api};
use vecgate_tests::wrk::{self, WrkOutcome, CONCURRENCY};
use vecgate_tests::{assert_ruvector_installed, PgCluster};

const DEFAULT_SECONDS: u64 = 30;
const MAX_SECONDS: u64 = 60;

fn seconds() -> u64 {
    let seconds = std::env::var("VECGATE_LOAD_SECONDS")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("VECGATE_LOAD_SECONDS={v:?} is not a whole number"))
        })
        .unwrap_or(DEFAULT_SECONDS);
    assert!(
        (1..=MAX_SECONDS).contains(&seconds),
        "VECGATE_LOAD_SECONDS must be in 1..={MAX_SECONDS}, got {seconds}"
    );
    seconds
}

fn server_binary() -> PathBuf {
    match std::env::var("VECGATE_LOAD_PROFILE").as_deref() {
        Ok("debug") => vecgate_bin(),
        Ok("release") | Err(_) => vecgate_release_bin(),
        Ok(other) => panic!("VECGATE_LOAD_PROFILE must be debug or release, got {other:?}"),
    }
}

/// Starts `vecgate serve` with `env`, loads the movies, and runs wrk against it.
fn run(
    backend: &'static str,
    env: &[(&str, String)],
    requests_file: &Path,
) -> (&'static str, WrkOutcome) {
    let mut all_env = key_env();
    all_env.push(("VECGATE_DIMENSIONS", movies().dims.to_string()));
    all_env.extend(env.iter().cloned());
    let all_env: Vec<(&str, &str)> = all_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_bin(&server_binary(), &[], &all_env);
    load_movies(&Api::new(&server.base));
    (
        backend,
        wrk::run(backend, &server.base, requests_file, seconds()),
    )
}

fn main() {
    assert_ruvector_installed();
    let requests_file =
        std::env::temp_dir().join(format!("vecgate-load-{}.tsv", std::process::id()));
    let filters = [
        json!({"genres": ["Comedy"]}),
        json!({"year": {"$gte": 2000}}),
        json!({"rating": {"$gte": 7}, "media_type": "movie"}),
    ];
    std::fs::write(
        &requests_file,
        wrk::request_lines(&movies().items, &filters),
    )
    .expect("write the request cycle");

    let data_dir = std::env::temp_dir().join(format!("vecgate-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let embedded = run(
        "embedded",
        &[("VECGATE_DATA_DIR", data_dir.display().to_string())],
        &requests_file,
    );
    let _ = std::fs::remove_dir_all(&data_dir);

    let pg = PgCluster::start();
    let url = pg.create_database("load");
    let ruvector = run(
        "ruvector",
        &[
            ("VECGATE_DATABASE_URL", url.clone()),
            ("VECGATE_MIGRATE", "true".to_owned()),
            ("VECGATE_DIALECT", "ruvector".to_owned()),
        ],
        &requests_file,
    );
    // The same database behind a node that answers reads from its local copy.
    let local_dir = std::env::temp_dir().join(format!("vecgate-load-local-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&local_dir);
    pg.psql("load", "TRUNCATE content_vectors");
    let local_index = run(
        "ruvector + local index",
        &[
            ("VECGATE_DATABASE_URL", url),
            ("VECGATE_MIGRATE", "true".to_owned()),
            ("VECGATE_DIALECT", "ruvector".to_owned()),
            ("VECGATE_LOCAL_INDEX", "true".to_owned()),
            ("VECGATE_DATA_DIR", local_dir.display().to_string()),
        ],
        &requests_file,
    );
    let _ = std::fs::remove_dir_all(&local_dir);
    drop(pg);

    let pg = PgCluster::start_pgvector();
    let url = pg.create_database("load");
    let pgvector = run(
        "pgvector",
        &[
            ("VECGATE_DATABASE_URL", url),
            ("VECGATE_MIGRATE", "true".to_owned()),
            ("VECGATE_DIALECT", "pgvector".to_owned()),
        ],
        &requests_file,
    );
    drop(pg);
    let _ = std::fs::remove_file(&requests_file);

    println!(
        "\nconcurrency {CONCURRENCY}, {} s per backend:\n",
        seconds()
    );
    println!("| backend | requests | req/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    let ratio = |a: &WrkOutcome, b: &WrkOutcome| a.per_second() / b.per_second();
    let (local, direct, embedded_rps) = (&local_index.1, &ruvector.1, &embedded.1);
    let local_vs_direct = ratio(local, direct);
    let local_vs_embedded = ratio(local, embedded_rps);
    let p50_vs_direct = local.p50_ms / direct.p50_ms;
    let outcomes = [embedded, ruvector, local_index, pgvector];
    for (backend, o) in &outcomes {
        println!(
            "| {backend} | {} | {:.0} | {:.2} | {:.2} | {} |",
            o.requests,
            o.per_second(),
            o.p50_ms,
            o.p99_ms,
            o.errors
        );
    }
    println!(
        "\nlocal index: {local_vs_direct:.1}x the direct ruvector path's requests/s (target >= 10), \
         {local_vs_embedded:.2}x the embedded store's (target >= 0.8); p50 {p50_vs_direct:.2}x the \
         direct path's (target <= 0.2)"
    );
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, o)| o.errors > 0)
        .map(|(backend, o)| format!("{backend}: {}", o.error_detail))
        .collect();
    if !failed.is_empty() {
        eprintln!("load: errors under load: {}", failed.join("; "));
        std::process::exit(1);
    }
}
