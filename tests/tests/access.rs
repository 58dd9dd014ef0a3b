//! Access on the native server beyond the shared suite's matrix: an open server stays on
//! loopback and refuses other Host names (DNS rebinding), `insecure_open`, the JWKS from a file
//! and from a URL refreshed on an unknown kid, and search-log retention on the embedded store.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use vecgate_tests::server::{vecgate_bin, Server};
use vecgate_tests::suite::Api;
use vecgate_tests::tokens::{self, Signer};
use vecgate_tests::{data::movies, empty_temp_dir};

fn search_body() -> Value {
    json!({"vector": movies().query("animated film for kids about toys"), "k": 3})
}

/// Status of a search sent with `host` as the Host header.
fn search_with_host(base: &str, host: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}/v1/search"))
        .header("host", host)
        .json(&search_body())
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

#[test]
fn an_open_server_stays_on_loopback_and_refuses_other_host_names() {
    // No keys, a non-loopback address: refused before binding anything.
    let output = std::process::Command::new(vecgate_bin())
        .args(["serve", "--addr", "192.0.2.1:8080", "--dimensions", "384"])
        .env("VECGATE_DATA_DIR", empty_temp_dir("open-bind"))
        .env("VECGATE_LOCAL_MODEL", "off")
        .output()
        .expect("run vecgate");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("loopback") && stderr.contains("--insecure-open"),
        "{stderr}"
    );

    let dir = empty_temp_dir("open-host");
    let mut server = Server::start(
        &[
            "--dimensions",
            "384",
            "--sample",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[("VECGATE_LOCAL_MODEL", "off")],
    );
    assert!(
        server.output().contains("OPEN MODE"),
        "the open server says so loudly"
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "[::1]".into(),
    ] {
        assert_eq!(search_with_host(&server.base, &host).0, 200, "{host}");
    }
    // A page of rebind.evil.example whose name now points at 127.0.0.1.
    for host in [
        format!("rebind.evil.example:{port}"),
        "127.0.0.1.evil.example".into(),
    ] {
        let (status, v) = search_with_host(&server.base, &host);
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (403, Some("host_not_allowed")),
            "{host}: {v}"
        );
    }
    // A cross-site form post (text/plain, no preflight) writes nothing.
    let item =
        json!({"items": [{"id": "forged-1", "media_type": "movie", "vector": movies().vector(0)}]});
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/content", server.base))
        .header("content-type", "text/plain")
        .header("origin", "http://evil.example")
        .body(item.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let api = Api::new(&server.base);
    assert_eq!(api.call("GET", "/v1/content/forged-1", None, None).0, 404);
    drop(server);

    // insecure_open: the operator asked for it; every Host is served, with a warning.
    let mut server = Server::start(
        &[
            "--dimensions",
            "384",
            "--data-dir",
            dir.to_str().unwrap(),
            "--insecure-open",
        ],
        &[("VECGATE_LOCAL_MODEL", "off")],
    );
    assert!(server.output().contains("insecure_open"));
    assert_eq!(search_with_host(&server.base, "vecgate.example.com").0, 200);
}

/// Serves one JWKS document on loopback, replaceable, counting fetches.
struct JwksServer {
    url: String,
    doc: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    fn start(doc: String) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let doc = Arc::new(Mutex::new(doc));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (doc.clone(), fetches.clone());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksServer { url, doc, fetches }
    }
}

fn token_env(jwks: &str) -> Vec<(&'static str, String)> {
    vec![
        ("VECGATE_LOCAL_MODEL", "off".to_owned()),
        ("VECGATE_API_KEYS_ADMIN", "admin-key-0001".to_owned()),
        ("VECGATE_JWT_JWKS", jwks.to_owned()),
        ("VECGATE_JWT_AUDIENCE", tokens::AUDIENCE.to_owned()),
        ("VECGATE_JWT_ISSUER", tokens::ISSUER.to_owned()),
    ]
}

fn search_status(api: &Api, token: &str) -> (u16, Value) {
    api.call("POST", "/v1/search", Some(token), Some(&search_body()))
}

/// `vecgate serve --sample` on `data_dir`, accepting tokens signed by the keys of `jwks`.
fn start_with_jwks(jwks: &str, data_dir: &std::path::Path) -> Server {
    let env = token_env(jwks);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(
        &[
            "--dimensions",
            "384",
            "--sample",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        &env,
    )
}

#[test]
fn a_jwks_url_is_fetched_again_when_a_token_names_a_new_key() {
    let issuer = JwksServer::start(tokens::jwks());
    let server = start_with_jwks(&issuer.url, &empty_temp_dir("jwks-url"));
    let api = Api::new(&server.base);
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        1,
        "fetched once at start"
    );
    let user = tokens::claims("user-3");
    assert_eq!(
        search_status(&api, &tokens::sign(Signer::Rs256, &user)).0,
        200
    );
    assert_eq!(
        search_status(&api, &tokens::sign(Signer::EdDsa, &user)).0,
        200
    );
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        1,
        "known kids need no fetch"
    );

    // The issuer rotates in rsa-2; the first token signed with it makes the server look again.
    *issuer.doc.lock().unwrap() = tokens::jwks_rotated();
    assert_eq!(
        search_status(&api, &tokens::sign(Signer::Rs256Rotated, &user)).0,
        200
    );
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    // Forged kids can't make it hammer the issuer: one refresh per interval at most.
    let mut forged = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    for i in 0..5 {
        forged.kid = Some(format!("forged-{i}"));
        let token = format!(
            "{}.{}.{}",
            base64_json(&serde_json::to_value(&forged).unwrap()),
            base64_json(&user),
            "c2ln"
        );
        let (status, v) = search_status(&api, &token);
        assert_eq!(status, 401, "{v}");
    }
    assert!(
        issuer.fetches.load(Ordering::SeqCst) <= 3,
        "{}",
        issuer.fetches.load(Ordering::SeqCst)
    );
}

fn base64_json(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[test]
fn a_jwks_file_works_and_a_bad_one_stops_the_start() {
    let dir = empty_temp_dir("jwks-file");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    std::fs::write(&file, tokens::jwks()).unwrap();
    let data = dir.join("data");
    let server = start_with_jwks(file.to_str().unwrap(), &data);
    let api = Api::new(&server.base);
    assert_eq!(
        search_status(&api, &tokens::sign(Signer::Es256, &tokens::claims("u"))).0,
        200
    );
    drop(server);

    std::fs::write(&file, "{\"keys\": 3}").unwrap();
    let output = std::process::Command::new(vecgate_bin())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--dimensions",
            "384",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .envs(token_env(file.to_str().unwrap()))
        .output()
        .expect("run vecgate");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("jwt_jwks"), "{stderr}");
}

#[test]
fn embedded_search_logs_past_retention_are_deleted_at_start() {
    let dir = empty_temp_dir("retention");
    let logs = dir.join("search-logs");
    std::fs::create_dir_all(&logs).unwrap();
    // Two old days (one sealed, one left unsealed by a crash) and a recent one.
    let line = |user: &str| {
        format!("{{\"user_id\":\"{user}\",\"result_ids\":[],\"search_type\":\"vector\"}}\n")
    };
    std::fs::write(logs.join("2020-03-01.2.jsonl"), line("old").repeat(2)).unwrap();
    std::fs::write(logs.join("2020-03-02.jsonl"), line("old").repeat(3)).unwrap();
    let recent = two_days_ago();
    std::fs::write(
        logs.join(format!("{recent}.4.jsonl")),
        line("recent").repeat(4),
    )
    .unwrap();
    let server = Server::start(
        &["--dimensions", "384", "--data-dir", dir.to_str().unwrap()],
        &[
            ("VECGATE_LOG_RETENTION_DAYS", "30"),
            ("VECGATE_LOCAL_MODEL", "off"),
        ],
    );
    let api = Api::new(&server.base);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, stats) = api.call("GET", "/v1/stats", None, None);
        if stats["search_log_count"] == 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "old rows still counted: {stats}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut left: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec![format!("{recent}.4.jsonl")]);
    drop(server);

    // `vecgate prune-logs`, for cron: the same rule, once.
    std::fs::write(logs.join("2021-07-01.5.jsonl"), line("old").repeat(5)).unwrap();
    let output = std::process::Command::new(vecgate_bin())
        .args([
            "prune-logs",
            "--dimensions",
            "384",
            "--data-dir",
            dir.to_str().unwrap(),
        ])
        .output()
        .expect("run vecgate prune-logs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("deleted 5 search-log rows"), "{stdout}");
    assert!(!logs.join("2021-07-01.5.jsonl").exists());
}

/// The UTC date two days ago, `YYYY-MM-DD`.
fn two_days_ago() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    chrono::DateTime::from_timestamp(secs - 2 * 86_400, 0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

#[test]
fn the_rate_limit_answers_429_with_retry_after_per_caller_and_recovers() {
    let dir = empty_temp_dir("rate-limit");
    let server = Server::start(
        &[
            "--dimensions",
            "384",
            "--sample",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[
            ("VECGATE_LOCAL_MODEL", "off"),
            ("VECGATE_API_KEYS_READ", "read-key-0001"),
            ("VECGATE_JWT_SECRET", tokens::HS256_SECRET),
            ("VECGATE_JWT_AUDIENCE", tokens::AUDIENCE),
            ("VECGATE_JWT_ISSUER", tokens::ISSUER),
            ("VECGATE_RATE_LIMIT_SEARCH", "3"),
        ],
    );
    let api = Api::new(&server.base);
    let alice = tokens::sign(Signer::Hs256, &tokens::claims("alice"));
    let bob = tokens::sign(Signer::Hs256, &tokens::claims("bob"));
    let search = |who: &str| {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/v1/search", server.base))
            .bearer_auth(who)
            .json(&search_body())
            .send()
            .unwrap();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        (
            r.status().as_u16(),
            retry_after,
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    for _ in 0..3 {
        assert_eq!(search(&alice).0, 200);
    }
    let (status, retry_after, body) = search(&alice);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    let wait = retry_after.expect("a Retry-After header");
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(search(&bob).0, 200, "another user has a bucket of its own");
    for _ in 0..3 {
        assert_eq!(search("read-key-0001").0, 200);
    }
    assert_eq!(
        search("read-key-0001").0,
        429,
        "a service key is limited as one caller"
    );
    assert_eq!(
        api.call("GET", "/health", None, None).0,
        200,
        "unlimited routes stay open"
    );
    std::thread::sleep(std::time::Duration::from_secs(wait));
    assert_eq!(search(&alice).0, 200, "after Retry-After it recovers");
}
