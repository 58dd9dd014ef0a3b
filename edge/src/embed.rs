//! Text → vector: the local all-MiniLM-L6-v2 by default, or an OpenAI-compatible
//! `/v1/embeddings` endpoint, optionally falling back to the local model. The protocol and the
//! choice live here; each host supplies the HTTP POST and its local model ([`EmbedHost`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::{json, Value};

/// What a host offers the embedder.
#[allow(async_fn_in_trait)]
pub trait EmbedHost {
    /// Sends one JSON POST. Returns the status and body, or `Timeout` / `Unavailable`.
    async fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
        timeout_ms: u64,
    ) -> Result<(u16, Vec<u8>), EmbedError>;

    /// Embeds `texts` with the host's all-MiniLM-L6-v2 (in-process natively, Spin's LLM
    /// interface on Spin). `NotConfigured` where the host has no model.
    async fn embed_local(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum EmbedError {
    /// Text queries are off: no `embedding_url` and `local_model` off (HTTP 400).
    NotConfigured,
    /// The provider did not answer in time (HTTP 504).
    Timeout(String),
    /// The provider or the local model failed, or answered with something unusable (HTTP 502).
    Unavailable(String),
}

impl std::fmt::Display for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbedError::NotConfigured => write!(
                f,
                "text queries are off: set embedding_url or turn local_model on"
            ),
            EmbedError::Timeout(m) => write!(f, "embedding provider timed out: {m}"),
            EmbedError::Unavailable(m) => write!(f, "embedding failed: {m}"),
        }
    }
}

impl std::error::Error for EmbedError {}

const CACHE_CAPACITY: usize = 1024;

/// Texts in one `POST /v1/embed`.
pub const MAX_EMBED_TEXTS: usize = 64;

/// An embeddings client with a bounded cache of recent texts (per process natively; per
/// request on Spin, where each request gets a fresh instance).
pub struct Embedder<H> {
    pub host: H,
    url: Option<String>,
    model: String,
    api_key: Option<String>,
    local_model: bool,
    fallback_local: bool,
    dimensions: usize,
    timeout_ms: u64,
    cache: Mutex<Cache>,
}

/// Embeddings by text, evicted oldest first.
#[derive(Default)]
struct Cache {
    vectors: HashMap<String, Vec<f32>>,
    order: VecDeque<String>,
}

impl Cache {
    fn insert(&mut self, text: &str, vector: &[f32]) {
        if self.vectors.contains_key(text) {
            return;
        }
        if self.vectors.len() >= CACHE_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.vectors.remove(&old);
            }
        }
        self.vectors.insert(text.to_owned(), vector.to_vec());
        self.order.push_back(text.to_owned());
    }
}

impl<H: EmbedHost> Embedder<H> {
    pub fn new(host: H, config: &crate::config::Config) -> Self {
        Embedder {
            host,
            url: config.embedding_url.as_deref().map(endpoint),
            model: config.embedding_model.clone(),
            api_key: config.embedding_api_key.clone(),
            local_model: config.local_model,
            fallback_local: config.embedding_fallback_local,
            dimensions: config.dimensions,
            // The provider gets 4/5 of the request's time, so a slow one is reported as a 504
            // by the handler before the host's request deadline (a generic 503) runs out.
            timeout_ms: (config.request_timeout_ms * 4 / 5).max(1),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Which model answers text queries, for `/v1/stats`.
    pub fn provider(&self) -> &'static str {
        match (&self.url, self.local_model) {
            (Some(_), _) if self.fallback_local => "remote, local fallback",
            (Some(_), _) => "remote",
            (None, true) => "local",
            (None, false) => "none",
        }
    }

    /// The unit-length embedding of `text`.
    pub async fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_many(&[text.to_owned()]).await?.remove(0))
    }

    /// Unit-length embeddings of `texts`, in order; cached texts are not embedded again.
    pub async fn embed_many(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors: Vec<Option<Vec<f32>>> = match self.cache.lock() {
            Ok(cache) => texts
                .iter()
                .map(|t| cache.vectors.get(t).cloned())
                .collect(),
            Err(_) => vec![None; texts.len()],
        };
        let missing: Vec<String> = texts
            .iter()
            .zip(&vectors)
            .filter(|(_, v)| v.is_none())
            .map(|(t, _)| t.clone())
            .collect();
        if !missing.is_empty() {
            let mut fresh = self.embed_uncached(&missing).await?.into_iter();
            let mut cache = self.cache.lock().ok();
            for (text, slot) in texts.iter().zip(vectors.iter_mut()) {
                if slot.is_none() {
                    let v = fresh.next().ok_or_else(|| {
                        EmbedError::Unavailable("fewer embeddings than texts".into())
                    })?;
                    if let Some(cache) = cache.as_mut() {
                        cache.insert(text, &v);
                    }
                    *slot = Some(v);
                }
            }
        }
        Ok(vectors.into_iter().flatten().collect())
    }

    async fn embed_uncached(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let raw = match self.url.as_deref() {
            Some(url) => match self.embed_remote(url, texts).await {
                Err(EmbedError::Timeout(_) | EmbedError::Unavailable(_)) if self.fallback_local => {
                    self.host.embed_local(texts).await
                }
                other => other,
            },
            None if self.local_model => self.host.embed_local(texts).await,
            None => Err(EmbedError::NotConfigured),
        }?;
        if raw.len() != texts.len() {
            return Err(EmbedError::Unavailable(format!(
                "{} embeddings for {} texts",
                raw.len(),
                texts.len()
            )));
        }
        raw.iter()
            .map(|v| {
                if v.len() != self.dimensions {
                    return Err(EmbedError::Unavailable(format!(
                        "expected {} dimensions, got {}",
                        self.dimensions,
                        v.len()
                    )));
                }
                vecgate_core::kernels::normalize(v)
                    .map_err(|e| EmbedError::Unavailable(e.to_string()))
            })
            .collect()
    }

    async fn embed_remote(&self, url: &str, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // One text goes as a string, as most providers and proxies expect; several as a list.
        let input = match texts {
            [one] => json!(one),
            many => json!(many),
        };
        let body = json!({"model": self.model, "input": input, "dimensions": self.dimensions});
        let (status, bytes) = self
            .host
            .post_json(
                url,
                self.api_key.as_deref(),
                body.to_string().into_bytes(),
                self.timeout_ms,
            )
            .await?;
        if !(200..300).contains(&status) {
            // The provider's own words go to the server log, not to clients.
            eprintln!(
                "vecgate: the embedding provider answered HTTP {status}: {}",
                provider_message(&bytes)
            );
            return Err(EmbedError::Unavailable(format!(
                "the embedding provider answered HTTP {status}"
            )));
        }
        parse_embeddings(&bytes, texts.len())
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

/// `data[i].embedding` for i in 0..n, placed by each entry's `index` when it has one.
fn parse_embeddings(body: &[u8], n: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
    let bad = |m: &str| EmbedError::Unavailable(format!("malformed embeddings response: {m}"));
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let data = v["data"].as_array().ok_or_else(|| bad("no data list"))?;
    if data.len() != n {
        return Err(bad(&format!("{} embeddings for {n} texts", data.len())));
    }
    let mut out = vec![None; n];
    for (i, entry) in data.iter().enumerate() {
        let at = entry["index"].as_u64().map_or(i, |x| x as usize);
        let raw = entry["embedding"]
            .as_array()
            .ok_or_else(|| bad("no data[].embedding"))?;
        let vector: Vec<f32> = raw
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("embedding holds a non-number"))?;
        *out.get_mut(at).ok_or_else(|| bad("index out of range"))? = Some(vector);
    }
    out.into_iter()
        .map(|v| v.ok_or_else(|| bad("an index is missing")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    type Reply = Result<(u16, Vec<u8>), EmbedError>;

    /// Remote replies in order; a local model that embeds text t as [len(t), 1].
    struct Fake {
        replies: RefCell<Vec<Reply>>,
        seen: RefCell<Vec<(String, Option<String>, Value)>>,
        local_calls: RefCell<Vec<Vec<String>>>,
    }

    impl EmbedHost for Fake {
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

        async fn embed_local(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.local_calls.borrow_mut().push(texts.to_vec());
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
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

    fn fake(replies: Vec<Reply>) -> Fake {
        Fake {
            replies: RefCell::new(replies),
            seen: RefCell::new(Vec::new()),
            local_calls: RefCell::new(Vec::new()),
        }
    }

    fn remote_config() -> crate::config::Config {
        crate::config::Config {
            embedding_url: Some("http://127.0.0.1:9/v1".into()),
            embedding_api_key: Some("sk-test".into()),
            dimensions: 2,
            ..Default::default()
        }
    }

    fn embedder(replies: Vec<Reply>) -> Embedder<Fake> {
        Embedder::new(fake(replies), &remote_config())
    }

    #[test]
    fn speaks_the_protocol_normalizes_and_caches() {
        let e = embedder(vec![Ok((
            200,
            br#"{"data":[{"embedding":[3,4],"index":0}]}"#.to_vec(),
        ))]);
        assert_eq!(block_on(e.embed("toys")).unwrap(), vec![0.6, 0.8]);
        assert_eq!(block_on(e.embed("toys")).unwrap(), vec![0.6, 0.8]);
        let seen = e.host.seen.borrow();
        assert_eq!(seen.len(), 1, "second call served from cache");
        assert_eq!(seen[0].0, "http://127.0.0.1:9/v1/embeddings");
        assert_eq!(seen[0].1.as_deref(), Some("sk-test"));
        assert_eq!(seen[0].2["input"], "toys");
        assert_eq!(seen[0].2["dimensions"], 2);
        assert!(e.host.local_calls.borrow().is_empty());
    }

    #[test]
    fn several_texts_go_as_one_list_and_only_the_uncached_ones() {
        let e = embedder(vec![
            Ok((200, br#"{"data":[{"embedding":[0,2]}]}"#.to_vec())),
            // Out of order, placed by index.
            Ok((
                200,
                br#"{"data":[{"embedding":[5,0],"index":1},{"embedding":[3,4],"index":0}]}"#
                    .to_vec(),
            )),
        ]);
        assert_eq!(block_on(e.embed("b")).unwrap(), vec![0.0, 1.0]);
        let texts = ["a", "b", "c"].map(String::from);
        let got = block_on(e.embed_many(&texts)).unwrap();
        assert_eq!(got, vec![vec![0.6, 0.8], vec![0.0, 1.0], vec![1.0, 0.0]]);
        assert_eq!(e.host.seen.borrow()[1].2["input"], json!(["a", "c"]));
    }

    #[test]
    fn the_local_model_is_the_default_and_an_opt_in_fallback() {
        let local = Embedder::new(
            fake(vec![]),
            &crate::config::Config {
                dimensions: 2,
                ..Default::default()
            },
        );
        assert_eq!(local.provider(), "local");
        let v = block_on(local.embed("abc")).unwrap();
        assert!((v[0] - 3.0 / 10f32.sqrt()).abs() < 1e-6, "{v:?}");

        let failing = || vec![Err(EmbedError::Timeout("slow".into()))];
        let no_fallback = embedder(failing());
        assert!(matches!(
            block_on(no_fallback.embed("abc")),
            Err(EmbedError::Timeout(_))
        ));
        let with_fallback = Embedder::new(
            fake(failing()),
            &crate::config::Config {
                embedding_fallback_local: true,
                ..remote_config()
            },
        );
        assert_eq!(with_fallback.provider(), "remote, local fallback");
        assert!(block_on(with_fallback.embed("abc")).is_ok());
        assert_eq!(with_fallback.host.local_calls.borrow().len(), 1);

        let off = Embedder::new(
            fake(vec![]),
            &crate::config::Config {
                local_model: false,
                ..Default::default()
            },
        );
        assert_eq!(block_on(off.embed("x")), Err(EmbedError::NotConfigured));
    }

    #[test]
    fn provider_failures_are_typed() {
        let e = embedder(vec![
            Ok((500, br#"{"error":{"message":"overloaded"}}"#.to_vec())),
            Ok((200, br#"{"data":[{"embedding":[1,2,3]}]}"#.to_vec())),
            Ok((200, b"nope".to_vec())),
            Err(EmbedError::Timeout("5000 ms".into())),
            Ok((
                200,
                br#"{"data":[{"embedding":[1,2]},{"embedding":[1,2]}]}"#.to_vec(),
            )),
        ]);
        let err = block_on(e.embed("a")).unwrap_err();
        assert!(
            matches!(&err, EmbedError::Unavailable(m) if m.contains("HTTP 500") && !m.contains("overloaded")),
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
        let err = block_on(e.embed("e")).unwrap_err();
        assert!(
            matches!(&err, EmbedError::Unavailable(m) if m.contains("2 embeddings for 1")),
            "{err}"
        );
    }
}
