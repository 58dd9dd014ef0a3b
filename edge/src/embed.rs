//! Text → vector through an OpenAI-compatible `/v1/embeddings` endpoint. The protocol lives
//! here; each host supplies the HTTP POST ([`HttpPost`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{json, Value};

/// How a host sends one JSON POST.
#[allow(async_fn_in_trait)]
pub trait HttpPost {
    /// Returns the status and body, or `EmbedError::Timeout` / `Unavailable`.
    async fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
        timeout_ms: u64,
    ) -> Result<(u16, Vec<u8>), EmbedError>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum EmbedError {
    /// No `embedding_url` is configured (HTTP 400 for text queries).
    NotConfigured,
    /// The provider did not answer in time (HTTP 504).
    Timeout(String),
    /// The provider is unreachable or answered with an error or a malformed body (HTTP 502).
    Unavailable(String),
}

impl std::fmt::Display for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbedError::NotConfigured => write!(f, "text queries need embedding_url configured"),
            EmbedError::Timeout(m) => write!(f, "embedding provider timed out: {m}"),
            EmbedError::Unavailable(m) => write!(f, "embedding provider failed: {m}"),
        }
    }
}

impl std::error::Error for EmbedError {}

const CACHE_CAPACITY: usize = 1024;

/// An embeddings client with a bounded cache (per process natively; per request on Spin,
/// where each request gets a fresh instance).
pub struct Embedder<H> {
    http: H,
    url: Option<String>,
    model: String,
    api_key: Option<String>,
    dimensions: usize,
    timeout_ms: u64,
    cache: Mutex<Cache>,
    /// Phrases with known vectors (the bundled sample's queries), answered without a provider.
    known: HashMap<String, Vec<f32>>,
}

/// Embeddings by text, evicted oldest first.
#[derive(Default)]
struct Cache {
    vectors: HashMap<String, Vec<f32>>,
    order: VecDeque<String>,
}

impl<H: HttpPost> Embedder<H> {
    pub fn new(http: H, config: &crate::config::Config) -> Self {
        Embedder {
            http,
            url: config.embedding_url.as_deref().map(endpoint),
            model: config.embedding_model.clone(),
            api_key: config.embedding_api_key.clone(),
            dimensions: config.dimensions,
            // The provider gets 4/5 of the request's time, so a slow one is reported as a 504
            // by the handler before the host's request deadline (a generic 503) runs out.
            timeout_ms: (config.request_timeout_ms * 4 / 5).max(1),
            cache: Mutex::new(Cache::default()),
            known: HashMap::new(),
        }
    }

    /// Answers these phrases from memory when no provider is configured.
    pub fn with_known_phrases(
        mut self,
        phrases: impl IntoIterator<Item = (String, Vec<f32>)>,
    ) -> Self {
        self.known.extend(
            phrases
                .into_iter()
                .filter(|(_, v)| v.len() == self.dimensions)
                .filter_map(|(t, v)| Some((t, vecgate_core::kernels::normalize(&v).ok()?))),
        );
        self
    }

    /// The unit-length embedding of `text`.
    pub async fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let Some(url) = self.url.as_deref() else {
            return self
                .known
                .get(text)
                .cloned()
                .ok_or(EmbedError::NotConfigured);
        };
        if let Some(v) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.vectors.get(text).cloned())
        {
            return Ok(v);
        }
        let body = json!({"model": self.model, "input": text, "dimensions": self.dimensions});
        let (status, bytes) = self
            .http
            .post_json(
                url,
                self.api_key.as_deref(),
                body.to_string().into_bytes(),
                self.timeout_ms,
            )
            .await?;
        if !(200..300).contains(&status) {
            return Err(EmbedError::Unavailable(format!(
                "HTTP {status}: {}",
                provider_message(&bytes)
            )));
        }
        let vector = parse_embedding(&bytes, self.dimensions)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.vectors.len() >= CACHE_CAPACITY {
                if let Some(old) = cache.order.pop_front() {
                    cache.vectors.remove(&old);
                }
            }
            if cache
                .vectors
                .insert(text.to_owned(), vector.clone())
                .is_none()
            {
                cache.order.push_back(text.to_owned());
            }
        }
        Ok(vector)
    }

    /// The configured endpoint, for `allowed_outbound_hosts` checks.
    pub fn endpoint(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

/// `https://host/v1` and `https://host/v1/embeddings` both address the embeddings endpoint.
fn endpoint(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with("/embeddings") {
        url.to_owned()
    } else {
        format!("{url}/embeddings")
    }
}

/// The provider's own error message, if its body has the OpenAI error shape; never the request.
fn provider_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "no error message".into())
        .chars()
        .take(200)
        .collect()
}

fn parse_embedding(body: &[u8], dims: usize) -> Result<Vec<f32>, EmbedError> {
    let bad = |m: &str| EmbedError::Unavailable(format!("malformed embeddings response: {m}"));
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let raw = v["data"][0]["embedding"]
        .as_array()
        .ok_or_else(|| bad("no data[0].embedding"))?;
    let vector: Vec<f32> = raw
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("embedding holds a non-number"))?;
    if vector.len() != dims {
        return Err(bad(&format!(
            "expected {dims} dimensions, got {}",
            vector.len()
        )));
    }
    vecgate_core::kernels::normalize(&vector).map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    type Reply = Result<(u16, Vec<u8>), EmbedError>;

    struct Fake {
        replies: RefCell<Vec<Reply>>,
        seen: RefCell<Vec<(String, Option<String>, Value)>>,
    }

    impl HttpPost for Fake {
        async fn post_json(
            &self,
            url: &str,
            bearer: Option<&str>,
            body: Vec<u8>,
            _timeout_ms: u64,
        ) -> Result<(u16, Vec<u8>), EmbedError> {
            self.seen.borrow_mut().push((
                url.to_owned(),
                bearer.map(str::to_owned),
                serde_json::from_slice(&body).unwrap(),
            ));
            self.replies.borrow_mut().remove(0)
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The fake completes immediately, so one poll suffices.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("fake future pending"),
        }
    }

    fn embedder(replies: Vec<Reply>) -> Embedder<Fake> {
        let config = crate::config::Config {
            embedding_url: Some("http://127.0.0.1:9/v1".into()),
            embedding_api_key: Some("sk-test".into()),
            dimensions: 2,
            ..Default::default()
        };
        Embedder::new(
            Fake {
                replies: RefCell::new(replies),
                seen: RefCell::new(Vec::new()),
            },
            &config,
        )
    }

    #[test]
    fn speaks_the_protocol_normalizes_and_caches() {
        let e = embedder(vec![Ok((
            200,
            br#"{"data":[{"embedding":[3,4],"index":0}]}"#.to_vec(),
        ))]);
        assert_eq!(block_on(e.embed("toys")).unwrap(), vec![0.6, 0.8]);
        assert_eq!(block_on(e.embed("toys")).unwrap(), vec![0.6, 0.8]);
        let seen = e.http.seen.borrow();
        assert_eq!(seen.len(), 1, "second call served from cache");
        assert_eq!(seen[0].0, "http://127.0.0.1:9/v1/embeddings");
        assert_eq!(seen[0].1.as_deref(), Some("sk-test"));
        assert_eq!(seen[0].2["input"], "toys");
        assert_eq!(seen[0].2["dimensions"], 2);
    }

    #[test]
    fn provider_failures_are_typed() {
        let e = embedder(vec![
            Ok((500, br#"{"error":{"message":"overloaded"}}"#.to_vec())),
            Ok((200, br#"{"data":[{"embedding":[1,2,3]}]}"#.to_vec())),
            Ok((200, b"nope".to_vec())),
            Err(EmbedError::Timeout("5000 ms".into())),
        ]);
        let err = block_on(e.embed("a")).unwrap_err();
        assert!(
            matches!(&err, EmbedError::Unavailable(m) if m.contains("overloaded")),
            "{err}"
        );
        let err = block_on(e.embed("b")).unwrap_err();
        assert!(
            matches!(&err, EmbedError::Unavailable(m) if m.contains("expected 2")),
            "{err}"
        );
        assert!(matches!(
            block_on(e.embed("c")),
            Err(EmbedError::Unavailable(_))
        ));
        assert!(matches!(
            block_on(e.embed("d")),
            Err(EmbedError::Timeout(_))
        ));
        let unconfigured = Embedder::new(
            Fake {
                replies: RefCell::new(vec![]),
                seen: RefCell::new(vec![]),
            },
            &crate::config::Config::default(),
        );
        assert_eq!(
            block_on(unconfigured.embed("x")),
            Err(EmbedError::NotConfigured)
        );
    }
}
