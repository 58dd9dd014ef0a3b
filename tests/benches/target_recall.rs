//! `target_recall` against fixed breadths, on real text embeddings (`bench/target-recall.sh`).
//!
//! Data: the first ROWS lines of bench/out/debian-long-minilm.jsonl (Debian package
//! descriptions embedded by the bundled all-MiniLM-L6-v2, `bench/real-embeddings.sh … long`)
//! are indexed; the next 1,000 are the held-out queries every figure is measured on, and the
//! 2,000 after them the traffic the controller learns from. recall@10 is computed here against
//! an exact scan of the indexed rows.
//!
//! For each backend (embedded, `--local-index` over pgvector, pgvector, ruvector), through
//! `vecgate serve` (release):
//! - the fixed default breadth (`target_recall` 0);
//! - the hand-tuned breadth: `search_ef` swept upward, and for each target the first breadth that
//!   reaches it;
//! - the controller, for each target: started with nothing learned, it learns from the traffic
//!   at `recall_sample_rate` 1 until the class is settled at a breadth with 110 checks, where it
//!   would have been lowered if it could (or LEARN_SEARCHES searches, LEARN_SECONDS), then the
//!   node restarts at the default rate 0.01 and is measured.
//!
//! recall@10 counts a returned hit whose score reaches the k-th true score (within 1e-6) as
//! found: near-ties among similar package descriptions are not misses.
//!
//! Each measurement: recall@10 over the held-out queries, p50 / p99 of those searches one at a
//! time, and wrk requests/s at concurrency 32. Prints a table; asserts nothing about speed.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_core::kernels::Metric;
use vecgate_core::topk::top_k;
use vecgate_tests::server::{vecgate_release_bin, Server};
use vecgate_tests::suite::{key_env, Api, READ_KEY};
use vecgate_tests::{assert_ruvector_installed, empty_temp_dir, wrk, PgCluster};

const DIMS: usize = 384;
const K: usize = 10;
const HELD: usize = 1_000;
const LEARN: usize = 2_000;
const TARGETS: [f64; 3] = [0.90, 0.95, 0.99];
const SWEEP: [usize; 12] = [10, 16, 24, 32, 48, 64, 100, 150, 220, 330, 500, 1000];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number")))
        .unwrap_or(default)
}

struct Data {
    rows: Vec<(String, Vec<f32>)>,
    held: Vec<Vec<f32>>,
    learn: Vec<Vec<f32>>,
    /// Per held-out query: the exact top-k ids and the k-th score.
    truth: Vec<(Vec<String>, f32)>,
}

fn read_data(rows: usize) -> Data {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = std::env::var("VECGATE_TARGET_RECALL_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("bench/out/debian-long-minilm.jsonl"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run bash bench/real-embeddings.sh 103000 long",
            path.display()
        )
    });
    let mut vectors = Vec::with_capacity(rows + HELD + LEARN);
    for line in std::io::BufReader::new(file).lines() {
        let line = line.expect("read the data");
        let v: Value = serde_json::from_str(&line).expect("a JSON line");
        let vector: Vec<f32> = serde_json::from_value(v["vector"].clone()).expect("a vector");
        vectors.push(vecgate_core::kernels::normalize(&vector).expect("finite"));
        if vectors.len() == rows + HELD + LEARN {
            break;
        }
    }
    assert_eq!(
        vectors.len(),
        rows + HELD + LEARN,
        "{} has too few lines",
        path.display()
    );
    let learn = vectors.split_off(rows + HELD);
    let held = vectors.split_off(rows);
    let rows: Vec<(String, Vec<f32>)> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("d{i}"), v))
        .collect();
    let flat: Vec<f32> = rows.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let started = Instant::now();
    let truth = held
        .iter()
        .map(|q| {
            let top =
                top_k(q, &flat, DIMS, Metric::Cosine, K, f32::NEG_INFINITY).expect("valid data");
            let kth = top.last().map_or(f32::NEG_INFINITY, |s| s.score);
            (
                top.into_iter().map(|s| rows[s.index].0.clone()).collect(),
                kth,
            )
        })
        .collect();
    println!(
        "[data] {} rows, {HELD} held-out and {LEARN} learning queries from {}; exact top-{K} in {:.1} s",
        rows.len(),
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Data {
        rows,
        held,
        learn,
        truth,
    }
}

/// One measured configuration.
#[derive(Clone)]
struct Measured {
    recall: f64,
    p50_ms: f64,
    p99_ms: f64,
    per_second: f64,
}

fn measure(label: &str, server: &Server, data: &Data, seconds: u64) -> Measured {
    let api = Api::new(&server.base);
    let mut ms = Vec::with_capacity(HELD);
    let mut found = 0;
    for (q, (truth, kth)) in data.held.iter().zip(&data.truth) {
        let start = Instant::now();
        let reply = api.search(json!({"vector": q, "k": K}));
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        // A hit tied with the k-th true neighbour (within f32 rounding) is as good as it.
        found += reply["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter(|h| {
                truth.iter().any(|t| h["id"] == t.as_str())
                    || h["score"]
                        .as_f64()
                        .is_some_and(|s| s >= f64::from(*kth) - 1e-6)
            })
            .count();
    }
    ms.sort_by(f64::total_cmp);
    let requests = std::env::temp_dir().join(format!("vecgate-target-{}.tsv", std::process::id()));
    let lines: String = data
        .held
        .iter()
        .take(512)
        .map(|q| format!("POST\t/v1/search\t{}\n", json!({"vector": q, "k": K})))
        .collect();
    std::fs::write(&requests, lines).expect("write the request cycle");
    let load = wrk::run(label, &server.base, &requests, seconds);
    let _ = std::fs::remove_file(&requests);
    assert_eq!(load.errors, 0, "[{label}] errors: {}", load.error_detail);
    Measured {
        recall: found as f64 / (HELD * K) as f64,
        p50_ms: vecgate_tests::percentile(&ms, 0.5),
        p99_ms: vecgate_tests::percentile(&ms, 0.99),
        per_second: load.per_second(),
    }
}

/// Where a backend's controller keeps what it learned.
enum Learned {
    File(std::path::PathBuf),
    Table(PgCluster),
}

/// How to start one backend's server, and forget what its controller learned.
struct Backend {
    name: &'static str,
    env: Vec<(&'static str, String)>,
    learned: Learned,
    /// The smallest breadth it searches with, whatever is asked (Postgres: the rows fetched).
    floor_ef: usize,
}

impl Backend {
    fn forget(&self) {
        match &self.learned {
            Learned::File(path) => {
                let _ = std::fs::remove_file(path);
            }
            Learned::Table(pg) => {
                pg.psql("target", "DELETE FROM vecgate_search_breadth");
            }
        }
    }

    fn start(&self, extra: &[(&'static str, String)]) -> Server {
        let mut env = key_env();
        env.extend(self.env.iter().cloned());
        env.extend(extra.iter().cloned());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_bin(&vecgate_release_bin(), &[], &env)
    }
}

fn base_env() -> Vec<(&'static str, String)> {
    vec![
        ("VECGATE_DIMENSIONS", DIMS.to_string()),
        ("VECGATE_LOCAL_MODEL", "off".into()),
        ("VECGATE_RATE_LIMIT_SEARCH", "0".into()),
    ]
}

fn embedded(data: &Data) -> Backend {
    let dir = empty_temp_dir("bench-target-embedded");
    let mut env = base_env();
    env.push(("VECGATE_DATA_DIR", dir.display().to_string()));
    let backend = Backend {
        name: "embedded",
        env,
        learned: Learned::File(dir.join("search-breadth.json")),
        floor_ef: K,
    };
    let server = backend.start(&[("VECGATE_TARGET_RECALL", "0".into())]);
    let started = Instant::now();
    let api = Api::new(&server.base);
    for chunk in data.rows.chunks(1000) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|(id, v)| json!({"id": id, "media_type": "movie", "vector": v}))
            .collect();
        let (status, body) = api.call(
            "POST",
            "/v1/content",
            Some(vecgate_tests::suite::WRITE_KEY),
            Some(&json!({"items": items})),
        );
        assert_eq!(status, 200, "{body}");
    }
    println!(
        "[embedded] loaded {} rows in {:.1} s",
        data.rows.len(),
        started.elapsed().as_secs_f64()
    );
    backend
}

/// A Postgres backend loaded by `\copy`, its HNSW index built after (as `central_db` does).
fn postgres(dialect: &'static str, data: &Data) -> (Backend, String) {
    let pg = match dialect {
        "ruvector" => {
            assert_ruvector_installed();
            PgCluster::start()
        }
        _ => PgCluster::start_pgvector(),
    };
    let db = "target";
    let url = pg.create_database(db);
    let mut env = base_env();
    env.extend([
        ("VECGATE_DATABASE_URL", url.clone()),
        ("VECGATE_DIALECT", dialect.to_owned()),
    ]);
    let mut migrate_env = key_env();
    migrate_env.extend(env.iter().cloned());
    migrate_env.push(("VECGATE_MIGRATE", "true".into()));
    let migrate_env: Vec<(&str, &str)> =
        migrate_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    drop(Server::start_bin(&vecgate_release_bin(), &[], &migrate_env));

    let csv = std::env::temp_dir().join(format!("vecgate-target-{dialect}.csv"));
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).expect("the CSV"));
        for (id, v) in &data.rows {
            writeln!(
                out,
                "{id},\"{}\",movie,{{}}",
                vecgate_edge::sql::vector_literal(v)
            )
            .expect("write the CSV");
        }
        out.flush().expect("write the CSV");
    }
    let build_s = pg.copy_content(db, "id, vector, media_type, metadata", &csv);
    let _ = std::fs::remove_file(&csv);
    println!(
        "[{dialect}] {} rows, index built in {build_s:.1} s",
        data.rows.len()
    );
    let backend = Backend {
        name: dialect,
        env,
        learned: Learned::Table(pg),
        // The rows an index search fetches for k = 10; ruvector never searches under 100.
        floor_ef: if dialect == "ruvector" { 100 } else { 30 },
    };
    (backend, url)
}

fn local_index(url: String) -> Backend {
    let dir = empty_temp_dir("bench-target-local");
    let mut env = base_env();
    env.extend([
        ("VECGATE_DATABASE_URL", url),
        ("VECGATE_LOCAL_INDEX", "true".into()),
        ("VECGATE_DATA_DIR", dir.display().to_string()),
    ]);
    Backend {
        name: "local-index",
        env,
        learned: Learned::File(dir.join("local-index/search-breadth.json")),
        floor_ef: K,
    }
}

/// `/v1/stats`' unfiltered k ≤ 10 class.
fn class(api: &Api) -> Value {
    let (_, stats) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
    stats["recall"]["breadth"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["k"] == "10" && c["filtered"] == false)
                .cloned()
        })
        .unwrap_or(Value::Null)
}

struct Row {
    backend: &'static str,
    setting: String,
    ef: String,
    m: Measured,
    /// p50 against the hand-tuned breadth for the same target.
    ratio: Option<f64>,
}

fn run(backend: &Backend, data: &Data, seconds: u64, rows: &mut Vec<Row>) {
    let name = backend.name;
    let off = [("VECGATE_TARGET_RECALL", "0".to_owned())];
    let server = backend.start(&off);
    let default = measure(name, &server, data, seconds);
    drop(server);
    println!(
        "[{name}] default: recall {:.4}, p50 {:.2} ms",
        default.recall, default.p50_ms
    );
    rows.push(Row {
        backend: name,
        setting: "fixed default".into(),
        ef: "default".into(),
        m: default,
        ratio: None,
    });

    // The hand-tuned breadth: the first of the sweep to reach each target.
    let mut tuned: Vec<(f64, usize, Measured)> = Vec::new();
    let mut last_effective = 0;
    for ef in SWEEP {
        // Breadths under the backend's floor search alike: measure the floor once.
        let effective = ef.max(backend.floor_ef);
        if effective == last_effective {
            continue;
        }
        last_effective = effective;
        let mut env = off.to_vec();
        env.extend([
            ("VECGATE_SEARCH_EF", ef.to_string()),
            ("VECGATE_RECALL_SAMPLE_RATE", "0".to_owned()),
        ]);
        let server = backend.start(&env);
        let m = measure(name, &server, data, seconds);
        drop(server);
        println!(
            "[{name}] search_ef {ef}: recall {:.4}, p50 {:.2} ms",
            m.recall, m.p50_ms
        );
        let reached = m.recall;
        for target in TARGETS {
            if reached >= target && !tuned.iter().any(|(t, _, _)| *t == target) {
                tuned.push((target, effective, m.clone()));
            }
        }
        if reached >= TARGETS[TARGETS.len() - 1] {
            break;
        }
    }

    let max_learn: usize = env_or("VECGATE_TARGET_RECALL_LEARN_SEARCHES", 30_000);
    let api_learn_limit = Duration::from_secs(env_or("VECGATE_TARGET_RECALL_LEARN_SECONDS", 600));
    for target in TARGETS {
        backend.forget();
        let learning = backend.start(&[
            ("VECGATE_TARGET_RECALL", target.to_string()),
            ("VECGATE_RECALL_SAMPLE_RATE", "1".to_owned()),
        ]);
        let api = Api::new(&learning.base);
        let started = Instant::now();
        let mut searches = 0;
        let learned = loop {
            // The traffic: the learning queries in turn, 200 between looks at the class.
            for i in searches..searches + 200 {
                api.search(json!({"vector": data.learn[i % LEARN], "k": K}));
            }
            searches += 200;
            let c = class(&api);
            // Settled, with checks enough at this breadth that it would have been lowered if
            // it could (100 with the lower bound above the target lowers it).
            let stable = c["settled"] == true && c["samples"].as_u64() >= Some(110);
            if stable
                || c["unreachable"] == true
                || searches >= max_learn
                || started.elapsed() > api_learn_limit
            {
                break c;
            }
        };
        drop(learning);
        println!(
            "[{name}] target {target}: learned {learned} in {searches} searches ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        let server = backend.start(&[("VECGATE_TARGET_RECALL", target.to_string())]);
        let m = measure(name, &server, data, seconds);
        let ef_now = class(&Api::new(&server.base))["ef"].clone();
        drop(server);
        let hand = tuned.iter().find(|(t, _, _)| *t == target);
        rows.push(Row {
            backend: name,
            setting: format!("target_recall {target}"),
            ef: format!(
                "{} ({searches} searches{})",
                ef_now,
                if learned["settled"] == true {
                    ""
                } else {
                    ", not settled"
                }
            ),
            ratio: hand.map(|(_, _, h)| m.p50_ms / h.p50_ms),
            m,
        });
        if let Some((_, ef, h)) = hand {
            rows.push(Row {
                backend: name,
                setting: format!("hand-tuned for {target}"),
                ef: ef.to_string(),
                m: h.clone(),
                ratio: Some(1.0),
            });
        }
    }
}

fn main() {
    let rows_n: usize = env_or("VECGATE_TARGET_RECALL_ROWS", 100_000);
    let seconds: u64 = env_or("VECGATE_TARGET_RECALL_SECONDS", 3);
    let wanted = std::env::var("VECGATE_TARGET_RECALL_BACKENDS")
        .unwrap_or_else(|_| "embedded,local-index,pgvector,ruvector".into());
    let data = read_data(rows_n);
    let mut rows = Vec::new();
    let wants = |name: &str| wanted.split(',').any(|w| w.trim() == name);
    if wants("embedded") {
        let backend = embedded(&data);
        run(&backend, &data, seconds, &mut rows);
    }
    if wants("pgvector") || wants("local-index") {
        let (pgvector, url) = postgres("pgvector", &data);
        if wants("local-index") {
            run(&local_index(url), &data, seconds, &mut rows);
        }
        if wants("pgvector") {
            run(&pgvector, &data, seconds, &mut rows);
        }
    }
    if wants("ruvector") {
        let (ruvector, _) = postgres("ruvector", &data);
        run(&ruvector, &data, seconds, &mut rows);
    }

    println!(
        "\n{} rows of real MiniLM embeddings (Debian package descriptions), {HELD} held-out \
         queries, k = {K}; p50/p99 one search at a time, req/s by wrk at concurrency {}:\n",
        data.rows.len(),
        wrk::CONCURRENCY
    );
    println!("| backend | breadth | ef | recall@10 | p50 / p99 ms | req/s | p50 vs hand-tuned |");
    println!("|---|---|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.4} | {:.2} / {:.2} | {:.0} | {} |",
            r.backend,
            r.setting,
            r.ef,
            r.m.recall,
            r.m.p50_ms,
            r.m.p99_ms,
            r.m.per_second,
            r.ratio.map_or("".to_owned(), |x| format!("{x:.2}×"))
        );
    }
}
