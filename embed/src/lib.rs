//! Text → unit vector with all-MiniLM-L6-v2: the BERT tokenizer, the transformer (an ONNX file
//! run by rten), mean pooling over the attention mask, L2 normalization.
//!
//! Bytes of the model and of `tokenizer.json` in, vectors out: no network, no files. The same
//! crate runs in `vecgate serve`, `vecgate import`, the Spin test host and the browser.

mod bert;
mod linear;
mod tokenizer;
mod weights;

use bert::Bert;
use weights::BertWeights;

pub use tokenizer::{Tokenizer, MAX_TOKENS};

/// The model's name in Spin's LLM interface and in logs.
pub const MODEL_NAME: &str = "all-minilm-l6-v2";

/// Tokens run through the model together: enough for the matrix kernels to reach full speed on
/// every core, few enough that one batch's activations stay a few MB.
const BATCH_TOKENS: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub enum EmbedError {
    /// The model file can't be loaded or run (damaged, or not this kind of model).
    Model(String),
    /// `tokenizer.json` can't be read.
    Tokenizer(String),
    /// The text is empty or only white space.
    EmptyText,
}

impl std::fmt::Display for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmbedError::Model(m) => write!(f, "embedding model: {m}"),
            EmbedError::Tokenizer(m) => write!(f, "tokenizer: {m}"),
            EmbedError::EmptyText => write!(f, "text must not be empty"),
        }
    }
}

impl std::error::Error for EmbedError {}

/// A loaded model and tokenizer. `embed` takes `&self`, so one instance serves many threads.
pub struct TextEmbedder {
    bert: Bert,
    tokenizer: Tokenizer,
}

impl TextEmbedder {
    /// Loads a BERT encoder from its ONNX file (int8 or f32 weights, Hugging Face's parameter
    /// names) and its `tokenizer.json`. Runs one text through it, so a damaged file fails here
    /// rather than on the first query.
    pub fn new(model_onnx: Vec<u8>, tokenizer_json: &[u8]) -> Result<Self, EmbedError> {
        let tokenizer = Tokenizer::from_json(tokenizer_json)?;
        let weights = BertWeights::from_onnx(&model_onnx)?;
        drop(model_onnx);
        let bert = Bert::new(weights);
        if tokenizer.vocabulary_size() > bert.vocabulary_size() || MAX_TOKENS > bert.max_tokens() {
            return Err(EmbedError::Model(
                "the tokenizer's vocabulary or length is larger than the model's".into(),
            ));
        }
        let embedder = TextEmbedder { bert, tokenizer };
        embedder.embed("vecgate")?;
        Ok(embedder)
    }

    /// Length of the vectors this model produces (384 for all-MiniLM-L6-v2).
    pub fn dimensions(&self) -> usize {
        self.bert.hidden()
    }

    /// The matrix kernel the model runs on (`x86_64-u8i8i32-avx512`, `wasm-u8i8i32`, or an f32
    /// kernel where int8 could saturate).
    pub fn kernel_name(&self) -> String {
        self.bert.kernel_name()
    }

    /// Number of tokens the model sees for `text`, `[CLS]` and `[SEP]` included (≤ MAX_TOKENS).
    pub fn token_count(&self, text: &str) -> usize {
        self.tokenizer.encode(text).len()
    }

    /// The unit-length embedding of one text.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_batch(&[text])?.remove(0))
    }

    /// Embeddings of many texts, in order. Texts go through the model together, up to
    /// [`BATCH_TOKENS`] tokens at a time, without padding; each vector is independent of its
    /// batch (attention and quantization are per text and per token).
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.iter().any(|t| t.trim().is_empty()) {
            return Err(EmbedError::EmptyText);
        }
        let encoded: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
        let mut vectors = Vec::with_capacity(texts.len());
        let mut batch_start = 0;
        let mut batch_tokens = 0;
        for (i, tokens) in encoded.iter().enumerate() {
            if batch_tokens + tokens.len() > BATCH_TOKENS && i > batch_start {
                vectors.extend(self.run(&encoded[batch_start..i])?);
                batch_start = i;
                batch_tokens = 0;
            }
            batch_tokens += tokens.len();
        }
        vectors.extend(self.run(&encoded[batch_start..])?);
        Ok(vectors)
    }

    /// One forward pass, then mean pooling over each text's tokens.
    fn run(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let hidden = self.bert.hidden_states(batch);
        let dims = self.bert.hidden();
        let mut rows = hidden.chunks(dims);
        batch
            .iter()
            .map(|tokens| {
                let mut sum = vec![0f32; dims];
                for row in rows.by_ref().take(tokens.len()) {
                    for (s, h) in sum.iter_mut().zip(row) {
                        *s += h;
                    }
                }
                // The mean's 1/n cancels in the normalization.
                vecgate_core::kernels::normalize(&sum)
                    .map_err(|e| EmbedError::Model(format!("model output: {e}")))
            })
            .collect()
    }
}
