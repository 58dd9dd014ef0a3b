//! Text → unit vector with all-MiniLM-L6-v2: the BERT tokenizer, the transformer (an ONNX file
//! run by rten), mean pooling over the attention mask, L2 normalization.
//!
//! Bytes of the model and of `tokenizer.json` in, vectors out: no network, no files. The same
//! crate runs in `vecgate serve`, `vecgate import`, the Spin test host and the browser.

mod tokenizer;

use rten::{Model, ModelOptions, NodeId};
use rten_tensor::prelude::*;
use rten_tensor::NdTensor;

pub use tokenizer::{Tokenizer, MAX_TOKENS};

/// The model's name in Spin's LLM interface and in logs.
pub const MODEL_NAME: &str = "all-minilm-l6-v2";

/// Texts run through the model together: bounded so that one batch's activations stay small.
const BATCH: usize = 32;

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
    model: Model,
    tokenizer: Tokenizer,
    input_ids: NodeId,
    attention_mask: NodeId,
    token_type_ids: Option<NodeId>,
    output: NodeId,
    dimensions: usize,
}

impl TextEmbedder {
    /// Loads an ONNX BERT encoder (inputs `input_ids`, `attention_mask`, optionally
    /// `token_type_ids`; output `last_hidden_state`) and its `tokenizer.json`. Runs one text
    /// through it, so a damaged file fails here rather than on the first query.
    pub fn new(model_onnx: Vec<u8>, tokenizer_json: &[u8]) -> Result<Self, EmbedError> {
        let tokenizer = Tokenizer::from_json(tokenizer_json)?;
        // Prepacked weights: ~2x faster at query sizes (a few tokens), for ~40 MB more memory.
        let model = ModelOptions::with_all_ops()
            .prepack_weights(true)
            .load(model_onnx)
            .map_err(|e| EmbedError::Model(e.to_string()))?;
        let node = |name: &str| {
            model
                .find_node(name)
                .ok_or_else(|| EmbedError::Model(format!("the model has no {name:?} node")))
        };
        let mut embedder = TextEmbedder {
            input_ids: node("input_ids")?,
            attention_mask: node("attention_mask")?,
            token_type_ids: model.find_node("token_type_ids"),
            output: node("last_hidden_state")?,
            dimensions: 0,
            model,
            tokenizer,
        };
        let probe = embedder.run(&[embedder.tokenizer.encode("vecgate")])?;
        embedder.dimensions = probe[0].len();
        Ok(embedder)
    }

    /// Length of the vectors this model produces (384 for all-MiniLM-L6-v2).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Number of tokens the model sees for `text`, `[CLS]` and `[SEP]` included (≤ MAX_TOKENS).
    pub fn token_count(&self, text: &str) -> usize {
        self.tokenizer.encode(text).len()
    }

    /// The unit-length embedding of one text.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_batch(&[text])?.remove(0))
    }

    /// Embeddings of many texts, in order. Texts are grouped by length so that little padding
    /// is computed; masked pooling makes each vector independent of its batch.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.iter().any(|t| t.trim().is_empty()) {
            return Err(EmbedError::EmptyText);
        }
        let encoded: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encoded[i].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        for group in order.chunks(BATCH) {
            let batch: Vec<Vec<u32>> = group.iter().map(|&i| encoded[i].clone()).collect();
            for (&i, vector) in group.iter().zip(self.run(&batch)?) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }

    /// One forward pass over right-padded token ids, then masked mean pooling.
    fn run(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let rows = batch.len();
        let len = batch.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = NdTensor::<i32, 2>::zeros([rows, len]);
        let mut mask = NdTensor::<i32, 2>::zeros([rows, len]);
        for (r, tokens) in batch.iter().enumerate() {
            for (c, &t) in tokens.iter().enumerate() {
                ids[[r, c]] = t as i32;
                mask[[r, c]] = 1;
            }
        }
        let types = NdTensor::<i32, 2>::zeros([rows, len]);
        let mut inputs = vec![
            (self.input_ids, ids.view().into()),
            (self.attention_mask, mask.view().into()),
        ];
        if let Some(node) = self.token_type_ids {
            inputs.push((node, types.view().into()));
        }
        let [hidden] = self
            .model
            .run_n(inputs, [self.output], None)
            .map_err(|e| EmbedError::Model(e.to_string()))?;
        let hidden: NdTensor<f32, 3> = hidden
            .try_into()
            .map_err(|_| EmbedError::Model("last_hidden_state is not a 3-d f32 tensor".into()))?;
        let [_, _, dims] = hidden.shape();
        batch
            .iter()
            .enumerate()
            .map(|(r, tokens)| {
                let mut sum = vec![0f32; dims];
                for t in 0..tokens.len() {
                    for (s, &h) in sum.iter_mut().zip(hidden.slice((r, t)).iter()) {
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
