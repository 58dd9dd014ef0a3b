//! Vector kernels and exact top-k over a matrix passed per call.

use vecgate_core::kernels::{self, Metric};
use vecgate_core::topk;
use wasm_bindgen::prelude::*;

use crate::convert::{scored_to_js, whole_number};

#[wasm_bindgen(typescript_custom_section)]
const TS_SCORED: &'static str = r#"
/** A row of a matrix and its cosine similarity to the query. */
export interface ScoredIndex { index: number; score: number; }
"#;

/// Cosine similarity of two vectors of equal length; 0 when either is a zero vector.
#[wasm_bindgen(js_name = cosineSimilarity)]
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> Result<f32, JsError> {
    Ok(kernels::cosine(a, b)?)
}

/// Inner product of two vectors of equal length.
#[wasm_bindgen(js_name = dotProduct)]
pub fn dot_product(a: &[f32], b: &[f32]) -> Result<f32, JsError> {
    Ok(kernels::dot(a, b)?)
}

/// A unit-length copy of `v`; a zero vector stays zero.
#[wasm_bindgen]
pub fn normalize(v: &[f32]) -> Result<Vec<f32>, JsError> {
    Ok(kernels::normalize(v)?)
}

/// The cosine similarity of `query` to every row of the row-major `matrix` (`dims` columns).
#[wasm_bindgen(js_name = batchSimilarity)]
pub fn batch_similarity(query: &[f32], matrix: &[f32], dims: f64) -> Result<Vec<f32>, JsError> {
    let dims = whole_number("dims", dims)?;
    Ok(topk::score_batch(query, matrix, dims, Metric::Cosine)?)
}

/// The best `k` rows of `matrix` by cosine similarity, at or above `threshold`, best first.
/// The matrix is copied into wasm memory on every call; to search one matrix repeatedly, build a
/// `Float32Matrix` (or an `Int8Matrix`) once.
#[wasm_bindgen(js_name = topK, unchecked_return_type = "ScoredIndex[]")]
pub fn top_k(
    query: &[f32],
    matrix: &[f32],
    dims: f64,
    k: f64,
    threshold: Option<f32>,
) -> Result<JsValue, JsError> {
    let dims = whole_number("dims", dims)?;
    let k = whole_number("k", k)?;
    let hits = topk::top_k(
        query,
        matrix,
        dims,
        Metric::Cosine,
        k,
        threshold.unwrap_or(f32::NEG_INFINITY),
    )?;
    Ok(scored_to_js(&hits))
}

/// The SIMD path the kernels run on: "relaxed-simd" in the build with relaxed SIMD (picked at load
/// time where the engine runs it), else "simd128". Results are the same in both.
#[wasm_bindgen(js_name = simdBackend)]
pub fn simd_backend() -> String {
    kernels::active_backend().into()
}
