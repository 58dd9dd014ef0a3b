//! Faults `vecgate serve` must ride out: PostgreSQL stopped in the middle of a stream of writes
//! and searches, a slow or failing embedding provider, and hostile clients (a body over the
//! limit, slow clients, connections dropped mid-request).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};
use vecgate_tests::data::movies;
use vecgate_tests::embeddings::FakeEmbeddings;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{
    assert_no_secrets, key_env, load_movies, with_db_password, Api, EMBEDDING_KEY, READ_KEY,
    WRITE_KEY,
};
use vecgate_tests::timed::{assert_fast_200_or_503, timed, Outcome, Stream};
use vecgate_tests::{assert_ruvector_installed, empty_temp_dir, free_port, PgCluster};

/// The configured per-request timeout of every server here.
const TIMEOUT_MS: u64 = 2_000;
/// What a response may take beyond the timeout: scheduling, the error reply, a loaded machine.
const SLACK: Duration = Duration::from_millis(1_500);
const BATCH_SIZE: usize = 20;
const DIMS: usize = 16;

fn server_env(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = key_env();
    env.push(("VECGATE_REQUEST_TIMEOUT_MS", TIMEOUT_MS.to_string()));
    // Text queries go to the fake provider here (or nowhere); 16-d vectors have no local model.
    env.push(("VECGATE_LOCAL_MODEL", "off".into()));
    env.extend(extra.iter().cloned());
    env
}

fn start(args: &[&str], env: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(args, &env)
}

fn vector(seed: usize) -> Vec<f32> {
    (0..DIMS)
        .map(|d| ((seed * 31 + d * 17) % 23) as f32 - 11.0 + 0.5)
        .collect()
}

fn batch_body(batch: usize) -> Value {
    let items: Vec<Value> = (0..BATCH_SIZE)
        .map(|i| {
            json!({"id": format!("b{batch:04}-{i}"), "media_type": "movie",
                   "vector": vector(batch * BATCH_SIZE + i), "metadata": {"batch": batch}})
        })
        .collect();
    json!({ "items": items })
}

/// Within the request timeout and a margin for a loaded machine.
fn assert_fast_503_or_200(o: &Outcome) {
    assert_fast_200_or_503(o, Duration::from_millis(TIMEOUT_MS) + SLACK);
}

#[test]
fn a_database_stopped_mid_stream_fails_fast_keeps_batches_whole_and_recovers() {
    assert_ruvector_installed();
    database_stopped_mid_stream(PgCluster::start(), "ruvector");
}

#[test]
fn native_pgvector_stopped_mid_stream_fails_fast_keeps_batches_whole_and_recovers() {
    database_stopped_mid_stream(PgCluster::start_pgvector(), "pgvector");
}

fn database_stopped_mid_stream(mut pg: PgCluster, dialect: &str) {
    let url = pg.create_database("vecgate");
    let mut server = start(
        &[],
        &server_env(&[
            ("VECGATE_DATABASE_URL", with_db_password(&url)),
            ("VECGATE_MIGRATE", "true".into()),
            ("VECGATE_DIALECT", dialect.into()),
            ("VECGATE_DIMENSIONS", DIMS.to_string()),
        ]),
    );
    let pid = server.pid();
    // A client streams batch upserts, each followed by a search, until told to stop.
    let stream = Stream::start(
        &server.base,
        0,
        |batch| (batch_body(batch), json!({"vector": vector(batch), "k": 5})),
        Duration::from_secs(60),
    );
    let ok = |o: &Outcome| o.status == 200;
    stream.wait_for("five written batches", 0, |o| {
        o.iter().filter(|(_, u, _)| ok(u)).count() >= 5
    });
    pg.stop();
    let stopped_at = stream.len();
    stream.wait_for("failures while the database is down", stopped_at, |o| {
        o.iter().filter(|(_, u, s)| !ok(u) && !ok(s)).count() >= 3
    });
    pg.start_again();
    let restarted_at = stream.len();
    stream.wait_for("recovery after the restart", restarted_at, |o| {
        o.iter().filter(|(_, u, s)| ok(u) && ok(s)).count() >= 3
    });
    let outcomes = stream.finish();
    let mut failures = 0;
    for (_, upsert, search) in outcomes.iter() {
        assert_fast_503_or_200(upsert);
        assert_fast_503_or_200(search);
        failures += usize::from(!ok(upsert)) + usize::from(!ok(search));
    }
    assert_eq!(
        server.pid(),
        pid,
        "the same vecgate process served throughout"
    );
    let (status, health) = Api::new(&server.base).call("GET", "/health", None, None);
    assert_eq!(status, 200, "{health}");

    // Every batch is all there or not at all; every acknowledged one is all there.
    let counts = pg.psql(
        "vecgate",
        "SELECT b || '=' || n FROM (SELECT split_part(id, '-', 1) AS b, count(id) AS n \
         FROM content_vectors GROUP BY 1) AS per_batch",
    );
    let counts: std::collections::HashMap<usize, usize> = counts
        .lines()
        .filter_map(|l| l.trim().strip_prefix('b')?.split_once('='))
        .map(|(b, n)| (b.parse().unwrap(), n.parse().unwrap()))
        .collect();
    for (batch, upsert, _) in outcomes.iter() {
        let rows = counts.get(batch).copied().unwrap_or(0);
        assert!(
            rows == 0 || rows == BATCH_SIZE,
            "batch {batch} is half-written: {rows} of {BATCH_SIZE} rows"
        );
        if ok(upsert) {
            assert_eq!(
                rows, BATCH_SIZE,
                "acknowledged batch {batch} is missing rows"
            );
        }
    }
    let out = server.output();
    println!(
        "{} batches, {failures} requests failed with a fast 503 while PostgreSQL was down, {} \
         rows kept",
        outcomes.len(),
        counts.values().sum::<usize>()
    );
    assert!(!out.contains("panicked"), "{out}");
    assert_no_secrets(&out);
}

#[test]
fn a_slow_or_failing_embedding_provider_gives_a_clear_502_or_504_and_vectors_still_work() {
    let m = movies();
    let provider = FakeEmbeddings::start();
    let dir = empty_temp_dir("faults-provider");
    let server = start(
        &["--data-dir", dir.to_str().unwrap()],
        &server_env(&[
            ("VECGATE_DIMENSIONS", m.dims.to_string()),
            ("VECGATE_EMBEDDING_URL", provider.url.clone()),
            ("VECGATE_EMBEDDING_API_KEY", EMBEDDING_KEY.into()),
        ]),
    );
    let api = Api::new(&server.base);
    load_movies(&api);
    // Distinct phrases, so the embedder's cache never answers for the provider.
    let phrases: Vec<&str> = m.queries.iter().map(|(text, _)| text.as_str()).collect();
    assert!(phrases.len() >= 4);
    let text_search = |phrase: &str| {
        timed(
            &api,
            format!("text search {phrase:?}"),
            "POST",
            "/v1/search",
            READ_KEY,
            &json!({"text": phrase, "k": 3}),
        )
    };
    assert_eq!(text_search(phrases[0]).status, 200);

    // Slow: a 504 within the timeout, while vector searches go on answering.
    provider.set_delay(Duration::from_millis(TIMEOUT_MS * 5));
    let base = server.base.clone();
    let query = m.query(phrases[1]).to_vec();
    let vector_searches = std::thread::spawn(move || {
        let api = Api::new(&base);
        (0..10)
            .map(|_| {
                api.call(
                    "POST",
                    "/v1/search",
                    Some(READ_KEY),
                    Some(&json!({"vector": query, "k": 3})),
                )
                .0
            })
            .collect::<Vec<u16>>()
    });
    let slow = text_search(phrases[1]);
    assert_eq!(slow.status, 504, "{}", slow.body);
    assert_eq!(
        slow.body["error"]["code"], "embedding_timeout",
        "{}",
        slow.body
    );
    assert!(
        slow.elapsed <= Duration::from_millis(TIMEOUT_MS) + SLACK,
        "{:?}",
        slow.elapsed
    );
    assert_eq!(vector_searches.join().unwrap(), vec![200; 10]);

    // Failing: a 502 that says what the provider said.
    provider.set_delay(Duration::ZERO);
    provider.set_fail_status(503);
    let failing = text_search(phrases[2]);
    assert_eq!(failing.status, 502, "{}", failing.body);
    assert!(
        failing.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{}",
        failing.body
    );

    // Back to normal: the same server answers text again.
    provider.set_fail_status(0);
    assert_eq!(text_search(phrases[2]).status, 200);

    // Down (nothing listens): a 502, fast.
    let down_dir = empty_temp_dir("faults-provider-down");
    let down = start(
        &["--data-dir", down_dir.to_str().unwrap()],
        &server_env(&[
            ("VECGATE_DIMENSIONS", m.dims.to_string()),
            (
                "VECGATE_EMBEDDING_URL",
                format!("http://127.0.0.1:{}/v1", free_port()),
            ),
        ]),
    );
    let o = timed(
        &Api::new(&down.base),
        "text search, provider down".into(),
        "POST",
        "/v1/search",
        READ_KEY,
        &json!({"text": phrases[3], "k": 3}),
    );
    assert_eq!(o.status, 502, "{}", o.body);
    assert!(
        o.elapsed <= Duration::from_millis(TIMEOUT_MS) + SLACK,
        "{:?}",
        o.elapsed
    );
    drop((server, down));
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(down_dir);
}

/// Opens a raw connection to the server.
fn connect(server: &Server) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

fn request_head(path: &str, content_length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {WRITE_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    )
}

fn status_line(stream: &mut TcpStream) -> String {
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn hostile_clients_leave_the_server_healthy() {
    let dir = empty_temp_dir("faults-clients");
    let server = start(
        &["--data-dir", dir.to_str().unwrap()],
        &server_env(&[("VECGATE_DIMENSIONS", DIMS.to_string())]),
    );
    let api = Api::new(&server.base);
    // A new client (new connections) each time: the stalled clients below keep the test waiting
    // for the server's 15 s client timeout, which also closes an idle pooled connection, and a
    // reused one can then race that close ("error sending request"): a flake, not the server.
    let healthy = || {
        let api = Api::new(&server.base);
        let (status, v) = api.call("GET", "/health", None, None);
        assert_eq!(status, 200, "{v}");
        let (status, v) = api.call(
            "POST",
            "/v1/search",
            Some(READ_KEY),
            Some(&json!({"vector": vector(1), "k": 3})),
        );
        assert_eq!(status, 200, "{v}");
    };
    let (status, v) = api.call("POST", "/v1/content", Some(WRITE_KEY), Some(&batch_body(0)));
    assert_eq!(status, 200, "{v}");

    // A declared body over the limit is refused before it is read.
    let mut big = connect(&server);
    big.write_all(request_head("/v1/content", 64 * 1024 * 1024).as_bytes())
        .unwrap();
    assert!(status_line(&mut big).contains(" 413 "));
    // A chunked body that grows over the limit is cut off.
    let mut chunked = connect(&server);
    let head = format!(
        "POST /v1/content HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {WRITE_KEY}\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    chunked.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 1024 * 1024];
    let mut refused = false;
    for _ in 0..40 {
        let sent = chunked
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|_| chunked.write_all(&chunk))
            .and_then(|_| chunked.write_all(b"\r\n"));
        if sent.is_err() {
            refused = true;
            break;
        }
    }
    let line = status_line(&mut chunked);
    assert!(refused || line.contains(" 413 "), "{line:?}");
    healthy();

    // Slow clients: many connections stalled mid-headers and mid-body do not block others, and
    // each gets an answer or a close when its time is up.
    let mut stalled_heads: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
                .unwrap();
            s
        })
        .collect();
    let mut stalled_bodies: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(request_head("/v1/search", 200).as_bytes())
                .unwrap();
            s.write_all(b"{\"vector\": [").unwrap();
            s
        })
        .collect();
    healthy();
    for s in &mut stalled_bodies {
        let line = status_line(s);
        assert!(line.contains(" 408 "), "a stalled body got {line:?}");
    }
    for s in &mut stalled_heads {
        let line = status_line(s);
        assert!(
            line.is_empty() || line.contains(" 408 "),
            "a stalled head got {line:?}"
        );
    }
    healthy();

    // A connection dropped mid-body writes nothing; one dropped before reading the reply to a
    // complete request does not disturb the server.
    let body = batch_body(7).to_string();
    let mut dropped = connect(&server);
    dropped
        .write_all(request_head("/v1/content", body.len()).as_bytes())
        .unwrap();
    dropped
        .write_all(&body.as_bytes()[..body.len() / 2])
        .unwrap();
    drop(dropped);
    let mut impatient = connect(&server);
    impatient
        .write_all(request_head("/v1/content", body.len()).as_bytes())
        .unwrap();
    impatient.write_all(body.as_bytes()).unwrap();
    drop(impatient);
    healthy();
    let (status, stats) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(status, 200);
    let count = stats["content_count"].as_u64().unwrap();
    assert!(
        count == BATCH_SIZE as u64 || count == 2 * BATCH_SIZE as u64,
        "batch 7 is half-written: {count} items"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
