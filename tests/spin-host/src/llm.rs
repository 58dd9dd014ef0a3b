//! `fermyon:spin/llm@2.0.0` as Spin implements it for embeddings: the component's `ai_models`
//! allow-list first (Spin answers `invalid-input` naming the manifest key), then the model:
//! all-MiniLM-L6-v2 from vecgate-embed, anything else `model-not-supported`. No inferencing:
//! this host runs no LLM.

use std::sync::OnceLock;

use vecgate_edge::native::embed_host::{default_model_dir, load_model};
use vecgate_embed::{TextEmbedder, MODEL_NAME};

use crate::bindings::fermyon::spin::llm::{
    EmbeddingsResult, EmbeddingsUsage, Error, Host, InferencingParams, InferencingResult,
};
use crate::State;

/// The models one component may use (its `ai_models`).
#[derive(Debug, Clone)]
pub struct Llm {
    allowed: Vec<String>,
}

impl Llm {
    pub fn new(allowed: &[&str]) -> Llm {
        Llm {
            allowed: allowed.iter().map(|m| (*m).to_owned()).collect(),
        }
    }

    /// Spin's message for a model missing from `ai_models`.
    fn check_allowed(&self, model: &str) -> Result<(), Error> {
        if self.allowed.iter().any(|m| m == model) {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "The component does not have access to use '{model}'. To give the component access, \
             add '{model}' to the 'ai_models' key for the component in your spin.toml manifest"
        )))
    }

    /// `generate-embeddings`: one vector per text, and the texts' token count (what the model
    /// sees, `[CLS]` and `[SEP]` included, after truncation).
    pub async fn generate_embeddings(
        &self,
        model: &str,
        texts: Vec<String>,
    ) -> Result<EmbeddingsResult, Error> {
        self.check_allowed(model)?;
        if model != MODEL_NAME {
            return Err(Error::ModelNotSupported);
        }
        // Loading and inference are CPU work: off the async workers.
        tokio::task::spawn_blocking(move || {
            let embedder = embedder().map_err(|e| Error::RuntimeError(e.clone()))?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let embeddings = embedder.embed_batch(&refs).map_err(|e| match e {
                vecgate_embed::EmbedError::EmptyText => Error::InvalidInput(e.to_string()),
                other => Error::RuntimeError(other.to_string()),
            })?;
            let tokens: usize = refs.iter().map(|t| embedder.token_count(t)).sum();
            Ok(EmbeddingsResult {
                embeddings,
                usage: EmbeddingsUsage {
                    prompt_token_count: u32::try_from(tokens).unwrap_or(u32::MAX),
                },
            })
        })
        .await
        .map_err(|e| Error::RuntimeError(format!("embedding task: {e}")))?
    }

    /// `infer`: refused, after the same allow-list check as Spin.
    pub fn infer(&self, model: &str) -> Result<InferencingResult, Error> {
        self.check_allowed(model)?;
        Err(Error::ModelNotSupported)
    }
}

/// The model, loaded on first use and kept for the process: from `$VECGATE_MODEL_DIR`, else
/// where `scripts/install-model.sh` puts it. Blocks; call it off the async workers.
fn embedder() -> Result<&'static TextEmbedder, &'static String> {
    static MODEL: OnceLock<Result<TextEmbedder, String>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = std::env::var_os("VECGATE_MODEL_DIR")
                .map_or_else(default_model_dir, std::path::PathBuf::from);
            load_model(&dir)
        })
        .as_ref()
}

impl Host for State {
    async fn infer(
        &mut self,
        model: String,
        _prompt: String,
        _params: Option<InferencingParams>,
    ) -> wasmtime::Result<Result<InferencingResult, Error>> {
        Ok(self.llm.infer(&model))
    }

    async fn generate_embeddings(
        &mut self,
        model: String,
        text: Vec<String>,
    ) -> wasmtime::Result<Result<EmbeddingsResult, Error>> {
        Ok(self.llm.generate_embeddings(&model, text).await)
    }
}
