//! Matrices that stay in wasm memory, so repeated searches copy only the query.

use vecgate_core::kernels::{check_finite, Metric};
use vecgate_core::topk::{self, I8Matrix};
use wasm_bindgen::prelude::*;

use crate::convert::{row_count, to_js, whole_number};

/// A row-major f32 matrix held in wasm memory, searched by cosine similarity.
#[wasm_bindgen]
pub struct Float32Matrix {
    values: Vec<f32>,
    dims: usize,
}

#[wasm_bindgen]
impl Float32Matrix {
    /// Copies `values` (rows of `dims` numbers, one after another) into wasm memory.
    #[wasm_bindgen(constructor)]
    pub fn new(values: Vec<f32>, dims: f64) -> Result<Float32Matrix, JsError> {
        let dims = whole_number("dims", dims)?;
        row_count(values.len(), dims)?;
        check_finite(&values)?;
        Ok(Float32Matrix { values, dims })
    }

    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.values.len() / self.dims
    }

    #[wasm_bindgen(getter)]
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The best `k` rows by cosine similarity, at or above `threshold`, best first.
    #[wasm_bindgen(js_name = topK, unchecked_return_type = "ScoredIndex[]")]
    pub fn top_k(&self, query: &[f32], k: f64, threshold: Option<f32>) -> Result<JsValue, JsError> {
        let k = whole_number("k", k)?;
        let threshold = threshold.unwrap_or(f32::NEG_INFINITY);
        let hits = topk::top_k(query, &self.values, self.dims, Metric::Cosine, k, threshold)?;
        to_js(&hits)
    }

    /// The cosine similarity of `query` to every row.
    pub fn similarities(&self, query: &[f32]) -> Result<Vec<f32>, JsError> {
        Ok(topk::score_batch(
            query,
            &self.values,
            self.dims,
            Metric::Cosine,
        )?)
    }
}

/// An int8 matrix (one byte per component plus a scale per row) held in wasm memory, searched by
/// cosine similarity computed in integers: a quarter of the memory of `Float32Matrix`, and faster.
#[wasm_bindgen]
pub struct Int8Matrix {
    inner: I8Matrix,
}

#[wasm_bindgen]
impl Int8Matrix {
    /// Quantizes `values` (rows of `dims` numbers) with one symmetric scale per row.
    #[wasm_bindgen(constructor)]
    pub fn new(values: &[f32], dims: f64) -> Result<Int8Matrix, JsError> {
        let dims = whole_number("dims", dims)?;
        Ok(Int8Matrix {
            inner: I8Matrix::from_f32(values, dims)?,
        })
    }

    /// Wraps existing codes (rows of `dims` int8 values) and their per-row scales
    /// (`value ≈ code · scale`), for example a quantized matrix stored earlier.
    #[wasm_bindgen(js_name = fromCodes)]
    pub fn from_codes(codes: Vec<i8>, scales: Vec<f32>, dims: f64) -> Result<Int8Matrix, JsError> {
        let dims = whole_number("dims", dims)?;
        Ok(Int8Matrix {
            inner: I8Matrix::from_codes(codes, scales, dims)?,
        })
    }

    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.inner.rows()
    }

    #[wasm_bindgen(getter)]
    pub fn dims(&self) -> usize {
        self.inner.dims()
    }

    /// A copy of the codes, row-major.
    #[wasm_bindgen(getter)]
    pub fn codes(&self) -> Vec<i8> {
        self.inner.codes().to_vec()
    }

    /// A copy of the per-row scales.
    #[wasm_bindgen(getter)]
    pub fn scales(&self) -> Vec<f32> {
        self.inner.scales().to_vec()
    }

    /// The best `k` rows by (int8) cosine similarity, at or above `threshold`, best first.
    #[wasm_bindgen(js_name = topK, unchecked_return_type = "ScoredIndex[]")]
    pub fn top_k(&self, query: &[f32], k: f64, threshold: Option<f32>) -> Result<JsValue, JsError> {
        let k = whole_number("k", k)?;
        let threshold = threshold.unwrap_or(f32::NEG_INFINITY);
        to_js(&self.inner.top_k(query, Metric::Cosine, k, threshold)?)
    }

    /// The (int8) cosine similarity of `query` to every row.
    pub fn similarities(&self, query: &[f32]) -> Result<Vec<f32>, JsError> {
        Ok(self.inner.score_batch(query, Metric::Cosine)?)
    }
}
