//! wasm-bindgen bindings over `vecgate-embed`: the npm package's `vecgate/embedder`, a .wasm of
//! its own so that the main package stays small.
//!
//! Every argument is checked here (type, emptiness), so bad input becomes a JS `Error` with a
//! message naming it, never a wasm trap.

use js_sys::{Array, ArrayBuffer, Float32Array, Uint8Array};
use vecgate_embed::{EmbedError, MAX_TOKENS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

// talc, as in the main package (wasm/src/lib.rs). Single-threaded wasm only.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn error(context: &str, e: impl std::fmt::Display) -> JsError {
    JsError::new(&format!("{context}: {e}"))
}

/// The bytes of a `Uint8Array` (Node's `Buffer` included) or an `ArrayBuffer`.
fn bytes(name: &str, value: &JsValue) -> Result<Vec<u8>, JsError> {
    if let Some(array) = value.dyn_ref::<Uint8Array>() {
        Ok(array.to_vec())
    } else if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
        Ok(Uint8Array::new(buffer).to_vec())
    } else {
        Err(JsError::new(&format!(
            "{name} must be a Uint8Array or an ArrayBuffer"
        )))
    }
}

fn text(name: &str, value: &JsValue) -> Result<String, JsError> {
    let text = value
        .as_string()
        .ok_or_else(|| JsError::new(&format!("{name} must be a string")))?;
    if text.trim().is_empty() {
        return Err(error(name, EmbedError::EmptyText));
    }
    Ok(text)
}

/// all-MiniLM-L6-v2 (or another BERT encoder in ONNX with a WordPiece `tokenizer.json`): text in,
/// unit vector out.
#[wasm_bindgen]
pub struct TextEmbedder {
    inner: vecgate_embed::TextEmbedder,
}

#[wasm_bindgen]
impl TextEmbedder {
    /// Loads the model (`model.onnx`) and `tokenizer.json` from their bytes and runs one probe
    /// text, so a damaged file throws here rather than on the first query.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] model: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] tokenizer: JsValue,
    ) -> Result<TextEmbedder, JsError> {
        let model = bytes("model", &model)?;
        let tokenizer = bytes("tokenizer", &tokenizer)?;
        let inner = vecgate_embed::TextEmbedder::new(model, &tokenizer)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(TextEmbedder { inner })
    }

    /// The unit-length embedding of `text` (truncated to `MAX_TOKENS` tokens). Throws on a
    /// non-string or blank text.
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
    ) -> Result<Vec<f32>, JsError> {
        let text = self::text("text", &text)?;
        self.inner
            .embed(&text)
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// The embeddings of `texts`, in order; faster per text than `embed` one by one (texts of
    /// similar length run through the model together).
    #[wasm_bindgen(js_name = embedBatch, unchecked_return_type = "Float32Array[]")]
    pub fn embed_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
    ) -> Result<Array, JsError> {
        if !Array::is_array(&texts) {
            return Err(JsError::new("texts must be an array of strings"));
        }
        let texts: Vec<String> = Array::from(&texts)
            .iter()
            .enumerate()
            .map(|(i, t)| text(&format!("texts[{i}]"), &t))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = self
            .inner
            .embed_batch(&refs)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(vectors
            .iter()
            .map(|v| JsValue::from(Float32Array::from(v.as_slice())))
            .collect())
    }

    /// Length of the vectors (384 for all-MiniLM-L6-v2).
    #[wasm_bindgen(getter)]
    pub fn dimensions(&self) -> u32 {
        self.inner.dimensions() as u32
    }

    /// Tokens the model sees for `text`, `[CLS]` and `[SEP]` included (at most `MAX_TOKENS`).
    #[wasm_bindgen(js_name = tokenCount)]
    pub fn token_count(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
    ) -> Result<u32, JsError> {
        let text = text
            .as_string()
            .ok_or_else(|| JsError::new("text must be a string"))?;
        Ok(self.inner.token_count(&text) as u32)
    }
}

/// The embedder's tokenizer alone: the token ids the model sees, e.g. to feed the same ids to
/// another runtime.
#[wasm_bindgen]
pub struct Tokenizer {
    inner: vecgate_embed::Tokenizer,
}

#[wasm_bindgen]
impl Tokenizer {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] tokenizer: JsValue,
    ) -> Result<Tokenizer, JsError> {
        let json = bytes("tokenizer", &tokenizer)?;
        let inner =
            vecgate_embed::Tokenizer::from_json(&json).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Tokenizer { inner })
    }

    /// `[CLS]`, the word pieces of `text`, `[SEP]`: at most `MAX_TOKENS` ids.
    pub fn encode(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue,
    ) -> Result<Vec<u32>, JsError> {
        let text = text
            .as_string()
            .ok_or_else(|| JsError::new("text must be a string"))?;
        Ok(self.inner.encode(&text))
    }
}

/// Tokens the model sees at most (256), `[CLS]` and `[SEP]` included; longer texts are
/// truncated.
#[wasm_bindgen(js_name = maxTokens)]
pub fn max_tokens() -> u32 {
    MAX_TOKENS as u32
}
