//! Bounded load on loopback: `wrk` at concurrency 32 for a fixed duration against `vecgate serve`
//! holding the 3,200 sample movies, once on the embedded store and once on PostgreSQL 15 with
//! ruvector. The requests (bench/load.lua) are k = 10 vector searches, a quarter of them
//! filtered, and one in eight a GET of an item or of its similar items.
//! Prints throughput, p50, p99 and the error count (non-2xx/3xx plus socket errors) and exits
//! non-zero when there is any error. Asserts nothing about speed.
//!
//! Run: `bash bench/load.sh [seconds]`. `VECGATE_LOAD_SECONDS` (default 30, at most 60) is the
//! duration per backend; `VECGATE_LOAD_PROFILE=debug` serves with the debug build (CI's short
//! run checks the error count, not the speed).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use vecgate_tests::data::movies;
use vecgate_tests::server::{vecgate_bin, vecgate_release_bin, Server};
use vecgate_tests::suite::{key_env, load_movies, Api, READ_KEY};
use vecgate_tests::{assert_ruvector_installed, PgCluster};

const CONCURRENCY: usize = 32;
const DEFAULT_SECONDS: u64 = 30;
const MAX_SECONDS: u64 = 60;
/// Distinct requests in the cycle wrk sends.
const REQUESTS: usize = 512;

struct Outcome {
    backend: &'static str,
    requests: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    error_detail: String,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

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

/// The request cycle, one `METHOD<TAB>PATH<TAB>BODY` line each (see bench/load.lua).
fn request_lines() -> String {
    let m = movies();
    let filters = [
        json!({"genres": ["Comedy"]}),
        json!({"year": {"$gte": 2000}}),
        json!({"rating": {"$gte": 7}, "media_type": "movie"}),
    ];
    let mut lines = String::new();
    for i in 0..REQUESTS {
        // A stride coprime with 3,200 visits items all over the set.
        let item = &m.items[(i * 7919) % m.items.len()];
        let id = item["id"].as_str().expect("id");
        let line = match i % 8 {
            0..=4 => format!(
                "POST\t/v1/search\t{}",
                json!({"vector": item["vector"], "k": 10})
            ),
            5 | 6 => format!(
                "POST\t/v1/search\t{}",
                json!({"vector": item["vector"], "k": 10, "filter": filters[i % filters.len()]})
            ),
            _ if i % 16 == 7 => format!("GET\t/v1/content/{id}\t"),
            _ => format!("GET\t/v1/content/{id}/similar?k=10\t"),
        };
        lines.push_str(&line);
        lines.push('\n');
    }
    lines
}

fn field(result: &str, name: &str) -> u64 {
    result
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("wrk's RESULT line lacks {name}: {result}"))
}

/// Starts `vecgate serve` with `env`, loads the movies, and runs wrk against it.
fn run(backend: &'static str, env: &[(&str, String)], requests_file: &Path) -> Outcome {
    let mut all_env = key_env();
    all_env.push(("VECGATE_DIMENSIONS", movies().dims.to_string()));
    all_env.extend(env.iter().cloned());
    let all_env: Vec<(&str, &str)> = all_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_bin(&server_binary(), &[], &all_env);
    load_movies(&Api::new(&server.base));

    let seconds = seconds();
    let script = repo_root().join("bench/load.lua");
    let mut wrk = Command::new("wrk");
    wrk.args(["--threads", "2", "--connections", &CONCURRENCY.to_string()])
        .args(["--duration", &format!("{seconds}s"), "--timeout", "10s"])
        .arg("--script")
        .arg(&script)
        .arg(&server.base)
        .arg("--")
        .arg(requests_file)
        .arg(READ_KEY);
    println!("[{backend}] {wrk:?}");
    let output = wrk
        .output()
        .expect("run wrk; scripts/install-api-fuzz-deps.sh installs it");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "[{backend}] wrk failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stdout}");
    let result = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("[{backend}] wrk printed no RESULT line:\n{stdout}"));
    let errors = ["connect", "read", "write", "status", "timeout"];
    Outcome {
        backend,
        requests: field(result, "requests"),
        seconds: field(result, "duration_us") as f64 / 1e6,
        p50_ms: field(result, "p50_us") as f64 / 1e3,
        p99_ms: field(result, "p99_us") as f64 / 1e3,
        errors: errors.iter().map(|e| field(result, e)).sum(),
        error_detail: errors
            .iter()
            .map(|e| format!("{e} {}", field(result, e)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn main() {
    assert_ruvector_installed();
    let requests_file =
        std::env::temp_dir().join(format!("vecgate-load-{}.tsv", std::process::id()));
    std::fs::write(&requests_file, request_lines()).expect("write the request cycle");

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
            ("VECGATE_DATABASE_URL", url),
            ("VECGATE_DIALECT", "ruvector".to_owned()),
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
    let outcomes = [embedded, ruvector];
    for o in &outcomes {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            o.backend,
            o.requests,
            o.requests as f64 / o.seconds,
            o.p50_ms,
            o.p99_ms,
            o.errors
        );
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.errors > 0)
        .map(|o| format!("{}: {}", o.backend, o.error_detail))
        .collect();
    if !failed.is_empty() {
        eprintln!("load: errors under load: {}", failed.join("; "));
        std::process::exit(1);
    }
}
