//! Sends arbitrary request bodies through the API handler itself (no network), over the
//! embedded store in a RAM-backed temp dir and a fake embedding provider. Input layout:
//! byte 0 picks the route and method, byte 1 the key (none, read, write, admin, or a malformed
//! header), the rest is the body. Every error is a 4xx JSON document with an `error` object, and nothing is ever a 5xx: the store and the provider here never fail, so
//! a 5xx could only be a handler bug. Seeds: `fuzz/corpus/api_bodies/`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use vecgate_edge::api::Handler;
use vecgate_edge::config::Config;
use vecgate_edge::core::hnsw::Storage;
use vecgate_edge::embed::{EmbedError, EmbedHost};
use vecgate_edge::http::{Method, Request};
use vecgate_edge::store::embedded::{EmbeddedOptions, EmbeddedStore};

const DIMS: usize = 8;

const ROUTES: &[(Method, &str)] = &[
    (Method::Post, "/v1/search"),
    (Method::Post, "/v1/candidates"),
    (Method::Post, "/v1/content"),
    (Method::Get, "/v1/content/movie-1"),
    (Method::Delete, "/v1/content/movie-2"),
    (Method::Get, "/v1/content/movie-1/similar"),
    (Method::Get, "/v1/users/u1/preference"),
    (Method::Put, "/v1/users/u1/preference"),
    (Method::Post, "/v1/users/u1/events"),
    (Method::Get, "/v1/stats"),
    (Method::Get, "/health"),
    (Method::Get, "/metrics"),
    (Method::Post, "/v1/content/movie-1"),
    (Method::Post, "/v1/embed"),
    (Method::Post, "/v1/recommend"),
    (Method::Delete, "/v1/users/u1"),
];

const KEYS: &[Option<&str>] = &[
    None,
    Some("Bearer read-key-0001"),
    Some("Bearer write-key-0001"),
    Some("Bearer admin-key-0001"),
    Some("Basic d3JpdGUta2V5LTAwMDE="),
];

/// An OpenAI-compatible provider that embeds any text deterministically.
struct FakeProvider;

/// A deterministic pseudo-embedding of `text`.
fn fake_embedding(text: &str) -> Vec<f32> {
    let seed = text
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31) ^ u32::from(b));
    (0..DIMS)
        .map(|i| ((seed >> (i % 24)) & 0xff) as f32 - 127.5)
        .collect()
}

impl EmbedHost for FakeProvider {
    async fn post_json(
        &self,
        _url: &str,
        _bearer: Option<&str>,
        body: Vec<u8>,
        _timeout_ms: u64,
    ) -> Result<(u16, Vec<u8>), EmbedError> {
        let request: Value = serde_json::from_slice(&body).expect("the embedder sends JSON");
        // OpenAI's `input`: a string, or a list of strings.
        let texts: Vec<&str> = match &request["input"] {
            Value::Array(items) => items.iter().map(|t| t.as_str().unwrap_or_default()).collect(),
            one => vec![one.as_str().unwrap_or_default()],
        };
        let data: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(index, t)| json!({"embedding": fake_embedding(t), "index": index}))
            .collect();
        Ok((200, serde_json::to_vec(&json!({ "data": data })).unwrap()))
    }

    async fn embed_local(&self, _texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // Configured with a provider and no fallback: never asked.
        Err(EmbedError::NotConfigured)
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    handler: Handler<EmbeddedStore, FakeProvider>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let base = ["/dev/shm", "/tmp"]
            .into_iter()
            .find(|d| std::path::Path::new(d).is_dir())
            .unwrap();
        let dir = std::path::Path::new(base).join(format!("vecgate-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = EmbeddedStore::open(
            &dir,
            EmbeddedOptions {
                dims: DIMS,
                storage: Storage::F32,
                // One thread: a crash then replays the same way.
                build_threads: Some(1),
            },
        )
        .expect("open the embedded store");
        let config = Config::from_lookup(|name| {
            Some(match name {
                "dimensions" => DIMS.to_string(),
                "embedding_url" => "http://127.0.0.1:9/v1/embeddings".into(),
                "api_keys_read" => "read-key-0001".into(),
                "api_keys_write" => "write-key-0001".into(),
                "api_keys_admin" => "admin-key-0001".into(),
                _ => return None,
            })
        })
        .expect("a valid configuration");
        let fixture = Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            handler: Handler::new(config, store, FakeProvider),
        };
        let items: Vec<Value> = (1..=20)
            .map(|i| {
                let vector: Vec<f32> = (0..DIMS).map(|d| ((i * 7 + d * 3) % 11) as f32 - 5.0).collect();
                json!({"id": format!("movie-{i}"), "media_type": "movie", "vector": vector,
                       "metadata": {"title": format!("Film {i}"), "year": 1990 + i, "genres": ["Drama"]}})
            })
            .collect();
        let response = fixture.send(
            Method::Post,
            "/v1/content",
            Some("Bearer write-key-0001"),
            serde_json::to_vec(&json!({ "items": items })).unwrap(),
        );
        assert_eq!(response.0, 200, "{}", String::from_utf8_lossy(&response.2));
        fixture
    })
}

impl Fixture {
    /// The status, whether the body is JSON by its content type, and the body.
    fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, bool, Vec<u8>) {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(auth) = auth {
            headers.push(("authorization".to_owned(), auth.to_owned()));
        }
        let request = Request {
            method,
            path: path.to_owned(),
            query: String::new(),
            headers,
            body,
            remote: None,
        };
        let response = self.runtime.block_on(self.handler.handle(request));
        let json = response.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type") && v.starts_with("application/json")
        });
        (response.status, json, response.body)
    }
}

fuzz_target!(|data: &[u8]| {
    let [route, key, body @ ..] = data else {
        return;
    };
    let fixture = fixture();
    let (method, path) = ROUTES[usize::from(*route) % ROUTES.len()];
    let auth = KEYS[usize::from(*key) % KEYS.len()];
    let (status, json, reply) = fixture.send(method, path, auth, body.to_vec());
    assert!(
        status < 500,
        "{status} for {path}: {}",
        String::from_utf8_lossy(&reply)
    );
    // Only /metrics (text) and binary candidate sets are not JSON, and errors always are.
    assert!(json || (status < 400 && (path == "/metrics" || path == "/v1/candidates")));
    if !json {
        return;
    }
    let reply: Value = serde_json::from_slice(&reply)
        .unwrap_or_else(|e| panic!("{path} replied {status} with non-JSON ({e})"));
    if status >= 400 {
        assert!(reply["error"]["message"].is_string(), "{status}: {reply}");
    }
});
