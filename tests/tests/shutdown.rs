//! Graceful shutdown: SIGTERM in the middle of a load of writes and searches. Every request
//! either completes or fails cleanly (a JSON error, or a connection refused once the server has
//! stopped accepting); the process exits 0 within 10 s; the embedded store's snapshot holds
//! every acknowledged write; a `--local-index` node's buffered search logs are all in the table.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_tests::data::movies;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{key_env, load_movies, Api, ADMIN_KEY};
use vecgate_tests::{assert_ruvector_installed, empty_temp_dir, PgCluster};

/// What the clients saw.
#[derive(Default)]
struct Outcomes {
    /// Ids whose upsert was acknowledged (200).
    acked: Vec<String>,
    searches_ok: u64,
    /// (status, body) of every non-200 answer.
    refused: Vec<(u16, String)>,
    /// Transport failures, with whether they came after SIGTERM was sent.
    transport: Vec<(bool, String)>,
}

/// Runs `clients` threads of upserts (when `write`) and searches against `base` until `stop`.
fn load(
    base: &str,
    clients: usize,
    write: bool,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicBool>,
) -> Arc<Mutex<Outcomes>> {
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let m = movies();
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let (base, stop, sent, outcomes) = (
                base.to_owned(),
                stop.clone(),
                sent.clone(),
                outcomes.clone(),
            );
            let query = m.vector(t * 7).to_vec();
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .unwrap();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let id = format!("sd-{t}-{i}");
                    let (path, body) = if write && i % 2 == 0 {
                        let item =
                            json!({"items": [{"id": id, "media_type": "movie", "vector": query}]});
                        ("/v1/content", item)
                    } else {
                        ("/v1/search", json!({"vector": query, "k": 5}))
                    };
                    let after = sent.load(Ordering::SeqCst);
                    match client
                        .post(format!("{base}{path}"))
                        .bearer_auth(ADMIN_KEY)
                        .json(&body)
                        .send()
                    {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let text = r.text().unwrap_or_default();
                            let mut o = outcomes.lock().unwrap();
                            match (status, path) {
                                (200, "/v1/content") => o.acked.push(id),
                                (200, _) => o.searches_ok += 1,
                                _ => o.refused.push((status, text)),
                            }
                        }
                        Err(e) => {
                            outcomes
                                .lock()
                                .unwrap()
                                .transport
                                .push((after || sent.load(Ordering::SeqCst), e.to_string()));
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect();
    let joined = outcomes.clone();
    std::thread::spawn(move || {
        for t in threads {
            t.join().unwrap();
        }
    });
    joined
}

/// SIGTERM after `warmup` of load; the load stops 1 s later. Returns the outcomes and the output.
fn terminate_under_load(server: &mut Server, write: bool, warmup: Duration) -> Outcomes {
    let (stop, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let outcomes = load(&server.base, 4, write, stop.clone(), sent.clone());
    std::thread::sleep(warmup);
    sent.store(true, Ordering::SeqCst);
    let signalled = Instant::now();
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(10));
    let took = signalled.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    let output = server.output_containing("stopped cleanly");
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?} after {took:?}:\n{output}"
    );
    assert!(output.contains("stopped cleanly"), "{output}");
    let o = std::mem::take(&mut *outcomes.lock().unwrap());
    for (status, body) in &o.refused {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        assert!(
            *status >= 400 && v["error"]["code"].is_string(),
            "{status}: {body}"
        );
    }
    assert!(
        o.transport.iter().all(|(after, _)| *after),
        "transport errors before SIGTERM: {:?}",
        o.transport
    );
    assert!(o.searches_ok > 0, "the load ran");
    eprintln!(
        "[shutdown] exited 0 in {took:?}; {} writes acknowledged, {} searches answered, {} JSON errors, {} refused connections after SIGTERM",
        o.acked.len(),
        o.searches_ok,
        o.refused.len(),
        o.transport.len()
    );
    o
}

#[test]
fn sigterm_on_the_embedded_store_loses_nothing_and_the_restart_loads_the_snapshot() {
    let dir = empty_temp_dir("shutdown-embedded");
    let dir_s = dir.display().to_string();
    let mut env = key_env();
    env.extend([
        ("VECGATE_DATA_DIR", dir_s.clone()),
        ("VECGATE_LOCAL_MODEL", "off".into()),
        ("VECGATE_DIMENSIONS", "384".into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start(&[], &env);
    load_movies(&Api::new(&server.base));
    let outcomes = terminate_under_load(&mut server, true, Duration::from_millis(1500));
    assert!(!outcomes.acked.is_empty());
    let wal = std::fs::metadata(dir.join("wal.log"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(
        wal, 0,
        "the snapshot at exit holds every write; the log is empty"
    );
    drop(server);

    let server = Server::start(&[], &env);
    let api = Api::new(&server.base);
    for id in &outcomes.acked {
        let (status, _) = api.call("GET", &format!("/v1/content/{id}"), Some(ADMIN_KEY), None);
        assert_eq!(status, 200, "acknowledged {id} is there after the restart");
    }
}

#[test]
fn sigterm_on_a_local_index_node_writes_every_buffered_search_log() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    let url = pg.create_database("shutdown");
    let dir = empty_temp_dir("shutdown-li");
    let mut env = key_env();
    env.extend([
        ("VECGATE_DATABASE_URL", url.clone()),
        ("VECGATE_MIGRATE", "true".into()),
        ("VECGATE_DIALECT", "ruvector".into()),
        ("VECGATE_DIMENSIONS", "384".into()),
        ("VECGATE_DATA_DIR", dir.display().to_string()),
        ("VECGATE_LOCAL_INDEX", "true".into()),
        ("VECGATE_LOCAL_MODEL", "off".into()),
        ("VECGATE_RECALL_SAMPLE_RATE", "0".into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start(&[], &env);
    load_movies(&Api::new(&server.base));
    let outcomes = terminate_under_load(&mut server, false, Duration::from_millis(1500));
    let rows: u64 = pg
        .psql("shutdown", "SELECT count(id) FROM vector_search_logs")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        rows, outcomes.searches_ok,
        "every answered search has its log row"
    );
}

/// A slow request in flight (the embedding provider takes 3 s): SIGTERM waits for it, and it
/// completes with 200; a second signal exits at once.
#[test]
fn sigterm_waits_for_the_request_in_flight_and_a_second_signal_exits_at_once() {
    let provider = vecgate_tests::embeddings::FakeEmbeddings::start();
    provider.set_delay(Duration::from_secs(3));
    let start = |name: &str| {
        let dir = empty_temp_dir(name).display().to_string();
        Server::start(
            &["--dimensions", "384", "--data-dir", &dir],
            &[
                ("VECGATE_EMBEDDING_URL", provider.url.as_str()),
                (
                    "VECGATE_EMBEDDING_API_KEY",
                    vecgate_tests::suite::EMBEDDING_KEY,
                ),
                ("VECGATE_LOCAL_MODEL", "off"),
            ],
        )
    };
    let slow_search = |base: String| {
        std::thread::spawn(move || {
            reqwest::blocking::Client::new()
                .post(format!("{base}/v1/search"))
                .json(&json!({"text": "animated film for kids about toys", "k": 3}))
                .send()
                .map(|r| r.status().as_u16())
        })
    };

    let mut server = start("shutdown-inflight");
    let request = slow_search(server.base.clone());
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    server.terminate();
    assert!(
        server.wait_exit(Duration::from_millis(1000)).is_none(),
        "it waits for the request in flight"
    );
    assert_eq!(request.join().unwrap().expect("an answer"), 200);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits once the request is done");
    assert!(status.success(), "{status:?}");
    assert!(signalled.elapsed() >= Duration::from_secs(2));

    let mut server = start("shutdown-twice");
    let _request = slow_search(server.base.clone());
    std::thread::sleep(Duration::from_millis(500));
    server.terminate();
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    server.terminate();
    let status = server
        .wait_exit(Duration::from_secs(2))
        .expect("a second signal exits at once");
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(2));
}
