//! Cold and warm figures for the Spin component, against `vecgate serve` on the same requests
//! and the same ruvector database: the component's compile time, then per-request p50 and p99.
//! A benchmark, not a test: it prints and asserts nothing about time.
//!
//! `cargo bench -p vecgate-spin-host --bench spin_vs_native` (needs ruvector-postgres,
//! scripts/install-db-deps.sh, and the wasm32-wasip2 target, scripts/install-spin-deps.sh).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_edge::native::pg::PgClient;
use vecgate_edge::sql::migrate::migrate;
use vecgate_edge::sql::Dialect;
use vecgate_spin_host::SpinHost;
use vecgate_tests::data::movies;
use vecgate_tests::server::{vecgate_release_bin, Server};
use vecgate_tests::suite::{load_movies, Api, READ_KEY, WRITE_KEY};
use vecgate_tests::{assert_ruvector_installed, PgCluster};

/// Timed requests per kind and target, after the warm-up ones.
const ROUNDS: usize = 200;
const WARM_UP: usize = 10;

struct Probe {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
}

fn probes() -> Vec<Probe> {
    let m = movies();
    let q = m.query("animated film for kids about toys").to_vec();
    vec![
        Probe {
            name: "GET /health",
            method: "GET",
            path: "/health".into(),
            body: None,
        },
        Probe {
            name: "GET /v1/content/{id}",
            method: "GET",
            path: "/v1/content/movie-17".into(),
            body: None,
        },
        Probe {
            name: "POST /v1/search k=10",
            method: "POST",
            path: "/v1/search".into(),
            body: Some(json!({"vector": q, "k": 10})),
        },
        Probe {
            name: "POST /v1/search filtered",
            method: "POST",
            path: "/v1/search".into(),
            body: Some(
                json!({"vector": q, "k": 10, "filter": {"genres": ["Comedy"], "year": {"$gte": 1990}}}),
            ),
        },
        Probe {
            name: "GET /v1/content/{id}/similar",
            method: "GET",
            path: "/v1/content/movie-17/similar?k=10".into(),
            body: None,
        },
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn measure(api: &Api, probe: &Probe) -> (Duration, Duration) {
    let once = || {
        let start = Instant::now();
        let response = api.send(
            probe.method,
            &probe.path,
            Some(READ_KEY),
            probe.body.as_ref(),
        );
        let status = response.status().as_u16();
        let _ = response.bytes();
        assert_eq!(status, 200, "{} answered {status}", probe.name);
        start.elapsed()
    };
    for _ in 0..WARM_UP {
        once();
    }
    let mut times: Vec<Duration> = (0..ROUNDS).map(|_| once()).collect();
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    let url = pg.create_database("vecgate");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = PgClient::new(&url, &[]).expect("database URL");
            migrate(&client, Dialect::Ruvector, 384)
                .await
                .expect("migrate");
        });
    let native_env = [
        ("VECGATE_DATABASE_URL", url.as_str()),
        ("VECGATE_MIGRATE", "true"),
        ("VECGATE_DIALECT", "ruvector"),
        ("VECGATE_DIMENSIONS", "384"),
        ("VECGATE_API_KEYS_READ", READ_KEY),
        ("VECGATE_API_KEYS_WRITE", WRITE_KEY),
    ];
    let native = Server::start_bin(&vecgate_release_bin(), &[], &native_env);
    load_movies(&Api::new(&native.base));

    vecgate_spin_host::component_path();
    let start = Instant::now();
    let compile = vecgate_spin_host::compile_time();
    let loaded = start.elapsed();
    let spin = SpinHost::start(&[
        ("database_url", url.as_str()),
        ("dialect", "ruvector"),
        ("dimensions", "384"),
        ("api_keys_read", READ_KEY),
        ("api_keys_write", WRITE_KEY),
    ]);
    let size = std::fs::metadata(vecgate_spin_host::component_path())
        .map(|m| m.len())
        .unwrap_or(0);
    println!("component: {size} bytes");
    println!(
        "component compile (cranelift, once per process): {} (load with linking: {})",
        ms(compile),
        ms(loaded)
    );
    let first = Instant::now();
    let status = Api::new(&spin.base)
        .send("GET", "/health", None, None)
        .status();
    println!(
        "first request through the component (instantiate + connect): {} ({status})",
        ms(first.elapsed())
    );
    println!(
        "\n{ROUNDS} requests each after {WARM_UP} warm-up, one client, keep-alive; 2 cores shared\n"
    );
    println!(
        "{:<32} {:>12} {:>12} {:>12} {:>12}",
        "request", "native p50", "native p99", "spin p50", "spin p99"
    );
    let (native_api, spin_api) = (Api::new(&native.base), Api::new(&spin.base));
    for probe in probes() {
        let (n50, n99) = measure(&native_api, &probe);
        let (s50, s99) = measure(&spin_api, &probe);
        println!(
            "{:<32} {:>12} {:>12} {:>12} {:>12}",
            probe.name,
            ms(n50),
            ms(n99),
            ms(s50),
            ms(s99)
        );
    }
}
