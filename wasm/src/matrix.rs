//! Matrices that stay in wasm memory, so repeated searches copy only the query.

use vecgate_core::kernels::{
    check_dims, check_finite, dot_unchecked, normalize, normalize_in_place, Metric,
};
use vecgate_core::topk::{I8Matrix, Scored, TopK};
use vecgate_core::Error;
use wasm_bindgen::prelude::*;

use crate::convert::{row_count, scored_to_js, whole_number};

/// Rows scaled to unit length once, so that each cosine similarity is a single dot product: no
/// per-row norms, and no overflow (both sides have length ≤ 1). The plain-Rust part of
/// `Float32Matrix`, public so that the native benchmark (`examples/topk_native.rs`) runs the very
/// same code.
pub struct UnitRows {
    values: Vec<f32>,
    dims: usize,
}

impl UnitRows {
    /// Takes rows of `dims` values, one after another. Err on a ragged matrix or NaN/infinity.
    pub fn new(mut values: Vec<f32>, dims: usize) -> Result<UnitRows, Error> {
        row_count(values.len(), dims)?;
        check_finite(&values)?;
        for row in values.chunks_exact_mut(dims) {
            normalize_in_place(row)?;
        }
        Ok(UnitRows { values, dims })
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.dims
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Calls `sink(row, cosine)` for every row; a zero vector scores 0.
    fn for_each_score(&self, query: &[f32], mut sink: impl FnMut(usize, f32)) -> Result<(), Error> {
        check_dims(self.dims, query.len())?;
        let query = normalize(query)?;
        for (i, row) in self.values.chunks_exact(self.dims).enumerate() {
            sink(i, dot_unchecked(&query, row).clamp(-1.0, 1.0));
        }
        Ok(())
    }

    /// The best `k` rows by cosine similarity, at or above `threshold`, best first.
    pub fn top_k(&self, query: &[f32], k: usize, threshold: f32) -> Result<Vec<Scored>, Error> {
        if threshold.is_nan() {
            return Err(Error::InvalidArgument("threshold is NaN".into()));
        }
        let mut top = TopK::new(k, threshold);
        self.for_each_score(query, |i, score| top.push(i, score))?;
        Ok(top.into_sorted_vec())
    }

    /// The cosine similarity of `query` to every row.
    pub fn similarities(&self, query: &[f32]) -> Result<Vec<f32>, Error> {
        let mut scores = Vec::with_capacity(self.rows());
        self.for_each_score(query, |_, score| scores.push(score))?;
        Ok(scores)
    }
}

/// A row-major f32 matrix held in wasm memory, searched by cosine similarity.
#[wasm_bindgen]
pub struct Float32Matrix {
    rows: UnitRows,
}

#[wasm_bindgen]
impl Float32Matrix {
    /// Copies `values` (rows of `dims` numbers, one after another) into wasm memory.
    #[wasm_bindgen(constructor)]
    pub fn new(values: Vec<f32>, dims: f64) -> Result<Float32Matrix, JsError> {
        let dims = whole_number("dims", dims)?;
        Ok(Float32Matrix {
            rows: UnitRows::new(values, dims)?,
        })
    }

    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.rows.rows()
    }

    #[wasm_bindgen(getter)]
    pub fn dims(&self) -> usize {
        self.rows.dims()
    }

    /// The best `k` rows by cosine similarity, at or above `threshold`, best first.
    #[wasm_bindgen(js_name = topK, unchecked_return_type = "ScoredIndex[]")]
    pub fn top_k(&self, query: &[f32], k: f64, threshold: Option<f32>) -> Result<JsValue, JsError> {
        let k = whole_number("k", k)?;
        let threshold = threshold.unwrap_or(f32::NEG_INFINITY);
        Ok(scored_to_js(&self.rows.top_k(query, k, threshold)?))
    }

    /// The cosine similarity of `query` to every row.
    pub fn similarities(&self, query: &[f32]) -> Result<Vec<f32>, JsError> {
        Ok(self.rows.similarities(query)?)
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
        Ok(scored_to_js(&self.inner.top_k(
            query,
            Metric::Cosine,
            k,
            threshold,
        )?))
    }

    /// The (int8) cosine similarity of `query` to every row.
    pub fn similarities(&self, query: &[f32]) -> Result<Vec<f32>, JsError> {
        Ok(self.inner.score_batch(query, Metric::Cosine)?)
    }
}
