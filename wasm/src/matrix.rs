//! Matrices that stay in wasm memory, so repeated searches copy only the query.

use vecgate_core::kernels::{
    check_dims, check_finite, dot_i8_unchecked, dot_unchecked, normalize, normalize_in_place,
    Metric,
};
use vecgate_core::quant::quantize_into;
use vecgate_core::topk::{check_threshold, I8Matrix, Scored, TopK};
use vecgate_core::Error;
use wasm_bindgen::prelude::*;

use crate::convert::{row_count, scored_to_js, whole_number};

/// Rows scaled to unit length once, so that each cosine similarity is a single dot product: no
/// per-row norms, and no overflow (both sides have length ≤ 1). The plain-Rust part of
/// `Float32Matrix`, public so that the native benchmark (`examples/topk_native.rs`) runs the very
/// same code.
///
/// Each row also has int8 codes, a quarter of its bytes. `top_k` scores the codes first, with a
/// proven error bound, and reads the f32 rows only of the few rows whose bound reaches the k-th
/// best lower bound: the result is exactly the exhaustive f32 one (same rows, same scores, same
/// tie order), from about a quarter of the memory traffic.
pub struct UnitRows {
    values: Vec<f32>,
    dims: usize,
    codes: Vec<i8>,
    /// Per row: `value ≈ code · scale`, with error at most `scale / 2` per component.
    scales: Vec<f32>,
    /// Per row: Σ |code|, for the error bound.
    code_sums: Vec<u32>,
}

/// Below this many rows per requested result, scanning the f32 rows directly is as cheap.
const MIN_ROWS_PER_RESULT_TO_PRUNE: usize = 8;

impl UnitRows {
    /// Takes rows of `dims` values, one after another. Err on a ragged matrix or NaN/infinity.
    pub fn new(mut values: Vec<f32>, dims: usize) -> Result<UnitRows, Error> {
        let rows = row_count(values.len(), dims)?;
        check_finite(&values)?;
        let mut codes = vec![0i8; values.len()];
        let mut scales = Vec::with_capacity(rows);
        let mut code_sums = Vec::with_capacity(rows);
        for (row, row_codes) in values
            .chunks_exact_mut(dims)
            .zip(codes.chunks_exact_mut(dims))
        {
            normalize_in_place(row)?;
            scales.push(quantize_into(row, row_codes));
            code_sums.push(abs_sum(row_codes));
        }
        Ok(UnitRows {
            values,
            dims,
            codes,
            scales,
            code_sums,
        })
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
        for i in 0..self.rows() {
            sink(i, self.score(&query, i));
        }
        Ok(())
    }

    /// The best `k` rows by cosine similarity, at or above `threshold`, best first: exactly
    /// [`UnitRows::top_k_exhaustive`]'s result, found through the int8 bounds.
    pub fn top_k(&self, query: &[f32], k: usize, threshold: f32) -> Result<Vec<Scored>, Error> {
        check_threshold(threshold)?;
        if k == 0 || self.rows() < k.saturating_mul(MIN_ROWS_PER_RESULT_TO_PRUNE) {
            return self.top_k_exhaustive(query, k, threshold);
        }
        check_dims(self.dims, query.len())?;
        let query = normalize(query)?;
        let mut top = TopK::new(k, threshold);
        // In row order, as the exhaustive scan pushes them: ties resolve the same way.
        for i in self.candidates(&query, k, threshold) {
            top.push(i, self.score(&query, i));
        }
        Ok(top.into_sorted_vec())
    }

    /// The rows that can be in the top `k` (k ≥ 1, at least k rows) for a unit `query`, ascending.
    fn candidates(&self, query: &[f32], k: usize, threshold: f32) -> Vec<usize> {
        let bounds = self.score_bounds(query);
        // At least k rows score at or above the k-th best lower bound, so every row of the top k
        // has an upper bound there too; any other row scores strictly below all k of them.
        let mut lowers = TopK::new(k, f32::NEG_INFINITY);
        for (i, &(lower, _)) in bounds.iter().enumerate() {
            lowers.push(i, lower);
        }
        let cut = lowers.floor().max(threshold);
        (0..bounds.len()).filter(|&i| bounds[i].1 >= cut).collect()
    }

    /// The best `k` rows by cosine similarity, scoring every f32 row.
    pub fn top_k_exhaustive(
        &self,
        query: &[f32],
        k: usize,
        threshold: f32,
    ) -> Result<Vec<Scored>, Error> {
        check_threshold(threshold)?;
        let mut top = TopK::new(k, threshold);
        self.for_each_score(query, |i, score| top.push(i, score))?;
        Ok(top.into_sorted_vec())
    }

    /// The f32 score of row `i` for a unit `query`: the one value every path reports.
    fn score(&self, query: &[f32], i: usize) -> f32 {
        let row = &self.values[i * self.dims..(i + 1) * self.dims];
        dot_unchecked(query, row).clamp(-1.0, 1.0)
    }

    /// Per row, `(lower, upper)` around the f32 score [`UnitRows::score`] computes, from the int8
    /// codes of the row and of the query.
    ///
    /// With q = t·a + e and r = s·c + f (|eⱼ| ≤ t/2, |fⱼ| ≤ s/2), q·r − t·s·(a·c) is at most
    /// (t·s/2)·(Σ|aⱼ| + Σ|cⱼ|) + t·s·n/4. The f32 dot of two unit vectors is within γₙ ≈ n·2⁻²⁴ of
    /// the real one in any summation order, and the clamp to [−1, 1] only narrows. Both margins
    /// are widened a little for the rounding in quantization and in this arithmetic (done in f64).
    fn score_bounds(&self, query: &[f32]) -> Vec<(f32, f32)> {
        let n = self.dims as f64;
        let mut query_codes = vec![0i8; self.dims];
        let t = f64::from(quantize_into(query, &mut query_codes));
        let query_sum = f64::from(abs_sum(&query_codes));
        let rounding = 1.01 * n * f64::from(f32::EPSILON) / 2.0 + 1e-6;
        self.codes
            .chunks_exact(self.dims)
            .zip(self.scales.iter().zip(&self.code_sums))
            .map(|(codes, (&s, &code_sum))| {
                let ts = t * f64::from(s);
                let estimate = ts * f64::from(dot_i8_unchecked(&query_codes, codes));
                let margin =
                    ts * (0.501 * (query_sum + f64::from(code_sum)) + 0.252 * n) + rounding;
                // Rounded outwards to f32: the bounds only get wider.
                (
                    ((estimate - margin) as f32).next_down(),
                    ((estimate + margin) as f32).next_up(),
                )
            })
            .collect()
    }

    /// The cosine similarity of `query` to every row.
    pub fn similarities(&self, query: &[f32]) -> Result<Vec<f32>, Error> {
        let mut scores = Vec::with_capacity(self.rows());
        self.for_each_score(query, |_, score| scores.push(score))?;
        Ok(scores)
    }
}

fn abs_sum(codes: &[i8]) -> u32 {
    codes.iter().map(|&c| u32::from(c.unsigned_abs())).sum()
}

/// A row-major f32 matrix held in wasm memory, searched by cosine similarity. `topK` returns
/// exactly what scoring every f32 row would, but reads mostly int8 copies of the rows (1.25× the
/// memory of the f32 values alone).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64 → roughly normal values (sum of four uniforms).
    struct Rng(u64);

    impl Rng {
        fn uniform(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        }

        fn normal(&mut self) -> f32 {
            (0..4).map(|_| self.uniform()).sum::<f32>()
        }

        fn vector(&mut self, dims: usize) -> Vec<f32> {
            (0..dims).map(|_| self.normal()).collect()
        }
    }

    fn assert_same(pruned: &[Scored], exhaustive: &[Scored], context: &str) {
        let key = |hits: &[Scored]| -> Vec<(usize, u32)> {
            hits.iter().map(|h| (h.index, h.score.to_bits())).collect()
        };
        assert_eq!(key(pruned), key(exhaustive), "{context}");
    }

    /// Matrices of several shapes: independent rows, tight clusters (near-ties), exact duplicate
    /// rows (ties broken by row order), zero rows, rows of very different magnitudes.
    fn matrices(rng: &mut Rng) -> Vec<(String, Vec<f32>, usize)> {
        let mut out = Vec::new();
        for dims in [1, 3, 17, 64, 384, 768] {
            let rows = 1_200;
            let random: Vec<f32> = (0..rows).flat_map(|_| rng.vector(dims)).collect();
            out.push((format!("random {dims}-d"), random, dims));
            let centers: Vec<Vec<f32>> = (0..6).map(|_| rng.vector(dims)).collect();
            let mut clustered = Vec::new();
            for i in 0..rows {
                let noise = if i % 3 == 0 { 0.0 } else { 1e-3 };
                let scale = [1e-20, 1.0, 1e20][i % 3];
                for &c in &centers[i % centers.len()] {
                    clustered.push((c + noise * rng.normal()) * scale);
                }
            }
            clustered[..dims].fill(0.0);
            out.push((format!("clustered {dims}-d"), clustered, dims));
        }
        out
    }

    #[test]
    fn pruned_top_k_equals_the_exhaustive_scan() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for (name, matrix, dims) in matrices(&mut rng) {
            let rows = UnitRows::new(matrix.clone(), dims).unwrap();
            let mut queries: Vec<Vec<f32>> = (0..6).map(|_| rng.vector(dims)).collect();
            queries.push(matrix[dims * 4..dims * 5].to_vec()); // a row itself: a tie at the top
            queries.push(vec![0.0; dims]);
            for (qi, query) in queries.iter().enumerate() {
                for k in [1, 10, 100, 150, 1_200] {
                    for threshold in [f32::NEG_INFINITY, 0.0, 0.2, 0.999, 1.0, 2.0] {
                        let context = format!("{name}, query {qi}, k {k}, threshold {threshold}");
                        let pruned = rows.top_k(query, k, threshold).unwrap();
                        let exhaustive = rows.top_k_exhaustive(query, k, threshold).unwrap();
                        assert_same(&pruned, &exhaustive, &context);
                    }
                }
            }
        }
    }

    #[test]
    fn pruning_reads_few_f32_rows_on_spread_out_data() {
        let mut rng = Rng(7);
        let (dims, count) = (384, 4_000);
        let matrix: Vec<f32> = (0..count).flat_map(|_| rng.vector(dims)).collect();
        let rows = UnitRows::new(matrix, dims).unwrap();
        let query = normalize(&rng.vector(dims)).unwrap();
        let candidates = rows.candidates(&query, 10, f32::NEG_INFINITY);
        assert!(candidates.len() >= 10);
        assert!(
            candidates.len() < count / 10,
            "{} of {count} rows left to rescore",
            candidates.len()
        );
    }

    #[test]
    fn bad_queries_are_errors_on_both_paths() {
        let rows = UnitRows::new(vec![1.0; 3 * 100], 3).unwrap();
        for k in [1, 50] {
            assert!(matches!(
                rows.top_k(&[1.0, 0.0], k, 0.0),
                Err(Error::DimensionMismatch { .. })
            ));
            assert!(matches!(
                rows.top_k(&[1.0, f32::NAN, 0.0], k, 0.0),
                Err(Error::NonFinite { index: 1 })
            ));
            assert!(rows.top_k(&[1.0, 0.0, 0.0], k, f32::NAN).is_err());
        }
    }
}
