//! Limits that hold under abuse, on the real server: slow clients (headers dribbled a byte at a
//! time) can't take the connections from a normal one; over the connection and in-flight caps
//! the answer is 503 with `Retry-After`; an oversized `Content-Length` and an unauthenticated
//! body are refused on the request's head, before any of the body is read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_tests::embeddings::FakeEmbeddings;
use vecgate_tests::empty_temp_dir;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{key_env, Api, READ_KEY, WRITE_KEY};

fn start(name: &str, args: &[&str], extra: &[(&str, &str)]) -> Server {
    let dir = empty_temp_dir(name).display().to_string();
    let mut env: Vec<(&str, String)> = key_env();
    env.push(("VECGATE_LOCAL_MODEL", "off".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut all = vec!["--dimensions", "384", "--data-dir", dir.as_str()];
    all.extend_from_slice(args);
    Server::start(&all, &env)
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Sends `head` (and nothing else) on a new connection and reads what comes back within
/// `within`: the status line's code and the rest of the response.
fn answer_to_head(server: &Server, head: &str, within: Duration) -> (u16, String) {
    let mut stream = TcpStream::connect(address(server)).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    // Up to the end of a JSON body (the error bodies are small), or until the server closes.
    while !String::from_utf8_lossy(&received).trim_end().ends_with('}') {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) => panic!(
                "no answer within {within:?} ({e}); received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    (status, text)
}

#[test]
fn slow_clients_cannot_take_the_connections_from_a_normal_one() {
    const CAP: usize = 8;
    let server = start(
        "limits-slowloris",
        &["--max-connections", "8", "--client-timeout-ms", "4000"],
        &[],
    );
    // CAP + 1 clients dribble a request head one byte every 300 ms, as long as they are let.
    let slow: Vec<_> = (0..CAP + 1)
        .map(|_| {
            let mut stream = TcpStream::connect(address(&server)).unwrap();
            std::thread::spawn(move || {
                let opened = Instant::now();
                for byte in b"GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                    if stream.write_all(&[*byte]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                // Closed by the server: a read ends (0 bytes or an error) instead of waiting.
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest);
                opened.elapsed()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let api = Api::new(&server.base);
    for _ in 0..3 {
        let asked = Instant::now();
        let (status, body) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
        assert_eq!(status, 200, "{body}");
        // Far below the 4 s a slow client may hold its connection: nobody waited for one.
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "a normal client waited {:?} behind slow ones",
            asked.elapsed()
        );
    }
    for held in slow.into_iter().map(|t| t.join().unwrap()) {
        assert!(
            held < Duration::from_secs(8),
            "a slow client held its connection for {held:?} (client timeout 4 s)"
        );
    }
    // A new connection: the server may close `api`'s idle one (the 4 s client timeout) just as
    // it is reused, and that race is not what this test is about.
    assert!(
        Api::new(&server.base).metric("vecgate_load_shed_total{reason=\"idle_connection_closed\"}")
            >= 2.0,
        "making room closed the oldest idle connections"
    );
}

#[test]
fn over_the_caps_connections_and_requests_get_503_with_retry_after() {
    let provider = FakeEmbeddings::start();
    provider.set_delay(Duration::from_secs(2));
    let env = [
        ("VECGATE_EMBEDDING_URL", provider.url.as_str()),
        (
            "VECGATE_EMBEDDING_API_KEY",
            vecgate_tests::suite::EMBEDDING_KEY,
        ),
    ];
    let held_search = |base: String| {
        std::thread::spawn(move || {
            Api::new(&base).call(
                "POST",
                "/v1/search",
                Some(READ_KEY),
                Some(&json!({"text": "animated film for kids about toys", "k": 3})),
            )
        })
    };

    // Two requests in flight at most: a third gets 503 at once, and the two finish.
    let server = start("limits-in-flight", &["--max-in-flight", "2"], &env);
    let held: Vec<_> = (0..2).map(|_| held_search(server.base.clone())).collect();
    std::thread::sleep(Duration::from_millis(500));
    let api = Api::new(&server.base);
    let r = api.send("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    for h in held {
        assert_eq!(h.join().unwrap().0, 200);
    }
    assert_eq!(api.call("GET", "/v1/stats", Some(READ_KEY), None).0, 200);
    assert!(api.metric("vecgate_load_shed_total{reason=\"request_refused\"}") >= 1.0);
    drop(server);

    // Two connections at most, both answering: a third connection gets 503 and is closed.
    let server = start("limits-connections", &["--max-connections", "2"], &env);
    let held: Vec<_> = (0..2).map(|_| held_search(server.base.clone())).collect();
    std::thread::sleep(Duration::from_millis(500));
    let (status, text) = answer_to_head(
        &server,
        "GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(status, 503, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1") && text.contains("overloaded"),
        "{text}"
    );
    for h in held {
        assert_eq!(h.join().unwrap().0, 200);
    }
}

#[test]
fn oversized_and_unauthenticated_bodies_are_refused_on_the_head() {
    let server = start("limits-bodies", &[], &[]);
    let post = |path: &str, credential: Option<&str>, length: usize, extra: &str| {
        let auth = credential
            .map(|c| format!("Authorization: Bearer {c}\r\n"))
            .unwrap_or_default();
        // The body is never sent: an answer proves the server did not wait to read it.
        answer_to_head(
            &server,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                 {auth}{extra}Content-Length: {length}\r\n\r\n"
            ),
            Duration::from_secs(5),
        )
    };
    let sixteen_mb = 16 * 1024 * 1024;
    let (status, text) = post("/v1/content", None, sixteen_mb, "");
    assert_eq!(status, 401, "no credential: {text}");
    let (status, text) = post("/v1/content", Some("not-a-key"), sixteen_mb, "");
    assert_eq!(status, 401, "a wrong key: {text}");
    let (status, text) = post("/v1/content", Some(READ_KEY), sixteen_mb, "");
    assert_eq!(status, 403, "a read key may not write: {text}");
    let (status, text) = post("/v1/content", Some(WRITE_KEY), sixteen_mb + 1, "");
    assert_eq!(status, 413, "over the batch limit: {text}");
    let (status, text) = post("/v1/search", Some(READ_KEY), 2 * 1024 * 1024, "");
    assert_eq!(status, 413, "over a search's 1 MB: {text}");
    assert!(text.contains("payload_too_large"), "{text}");
    // A client that waits for 100 Continue is answered without the go-ahead.
    let (status, text) = post("/v1/content", None, sixteen_mb, "Expect: 100-continue\r\n");
    assert_eq!(status, 401, "{text}");
    assert!(!text.contains("100 Continue"), "{text}");

    // A client that sends its 16 MB body regardless reads the refusal, not a reset connection.
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/content", server.base))
        .header("content-type", "application/json")
        .body(vec![b' '; sixteen_mb])
        .send()
        .expect("the refusal arrives whole");
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    // And the server is as usable as before.
    assert_eq!(
        Api::new(&server.base)
            .call("GET", "/v1/stats", Some(READ_KEY), None)
            .0,
        200
    );
}
