//! Batch scoring of one query against a row-major matrix, and bounded-heap top-k.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::kernels::{check_dims, check_finite, cosine_from_parts, scalar, Metric};
use crate::quant::{norm_squared_i8, quantize_into, I8Query};
use crate::{Error, Result};

/// A row index with its score (higher is better).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scored {
    pub index: usize,
    pub score: f32,
}

/// Heap entry ordered so that the *worst* kept item is the heap's maximum:
/// lower score is worse, and among equal scores the higher index is worse.
#[derive(Debug, Clone, Copy)]
struct Worst(Scored);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then(self.0.index.cmp(&other.0.index))
    }
}

/// Keeps the best `k` scores at or above `threshold`. Ties break by lower index first.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    threshold: f32,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    /// `threshold` is the minimum score kept; pass `f32::NEG_INFINITY` for none.
    pub fn new(k: usize, threshold: f32) -> Self {
        TopK {
            k,
            threshold,
            heap: BinaryHeap::with_capacity(k.min(4096) + 1),
        }
    }

    /// Offers one item. NaN scores are never kept.
    #[inline]
    pub fn push(&mut self, index: usize, score: f32) {
        if score.is_nan() || score < self.threshold || self.k == 0 {
            return;
        }
        let item = Worst(Scored { index, score });
        if self.heap.len() < self.k {
            self.heap.push(item);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if item < *worst {
                *worst = item;
            }
        }
    }

    /// The score an item must beat to enter once the heap is full.
    pub fn floor(&self) -> f32 {
        if self.heap.len() < self.k {
            self.threshold
        } else {
            self.heap.peek().map_or(self.threshold, |w| w.0.score)
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Best first.
    pub fn into_sorted_vec(self) -> Vec<Scored> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|w| w.0)
            .collect()
    }
}

/// Err for a NaN threshold (every comparison with it would be false).
pub fn check_threshold(threshold: f32) -> Result<()> {
    if threshold.is_nan() {
        return Err(Error::InvalidArgument("threshold is NaN".into()));
    }
    Ok(())
}

fn check_matrix(len: usize, dims: usize) -> Result<usize> {
    if dims == 0 {
        return Err(Error::InvalidArgument("dims must be at least 1".into()));
    }
    if !len.is_multiple_of(dims) {
        return Err(Error::RaggedMatrix { len, dims });
    }
    Ok(len / dims)
}

/// Scores `query` against every row of a row-major f32 `matrix` with `dims` columns.
pub fn score_batch(query: &[f32], matrix: &[f32], dims: usize, metric: Metric) -> Result<Vec<f32>> {
    check_matrix(matrix.len(), dims)?;
    check_dims(dims, query.len())?;
    check_finite(query)?;
    let mut out = Vec::with_capacity(matrix.len() / dims);
    for_each_score(query, matrix, dims, metric, |_, s| out.push(s))?;
    Ok(out)
}

/// The best `k` rows of `matrix` for `query` with score ≥ `threshold`, best first.
pub fn top_k(
    query: &[f32],
    matrix: &[f32],
    dims: usize,
    metric: Metric,
    k: usize,
    threshold: f32,
) -> Result<Vec<Scored>> {
    check_matrix(matrix.len(), dims)?;
    check_dims(dims, query.len())?;
    check_threshold(threshold)?;
    check_finite(query)?;
    let mut top = TopK::new(k, threshold);
    for_each_score(query, matrix, dims, metric, |i, s| top.push(i, s))?;
    Ok(top.into_sorted_vec())
}

/// Scores every row. The matrix is not pre-scanned for NaN/inf (that would read it twice):
/// any non-finite component makes its row's score non-finite, and only then is the row checked.
fn for_each_score(
    query: &[f32],
    matrix: &[f32],
    dims: usize,
    metric: Metric,
    mut sink: impl FnMut(usize, f32),
) -> Result<()> {
    let qq = crate::kernels::dot_unchecked(query, query);
    for (i, row) in matrix.chunks_exact(dims).enumerate() {
        let fast = match metric {
            Metric::Cosine => {
                let (ab, _, rr) = crate::kernels::cosine_parts_unchecked(query, row);
                if ab.is_finite() && rr.is_finite() && qq.is_finite() {
                    cosine_from_parts(ab, qq, rr)
                } else {
                    f32::NAN
                }
            }
            _ => metric.score_unchecked(query, row),
        };
        let score = if fast.is_finite() {
            fast
        } else {
            exact_score(query, row, metric).map_err(|e| match e {
                Error::NonFinite { index } => Error::NonFinite {
                    index: i * dims + index,
                },
                other => other,
            })?
        };
        sink(i, score);
    }
    Ok(())
}

/// The slow path for a row whose fast score overflowed or hit a non-finite component.
fn exact_score(query: &[f32], row: &[f32], metric: Metric) -> Result<f32> {
    check_finite(row)?;
    Ok(match metric {
        Metric::Cosine => scalar::cosine_f64(query, row),
        Metric::Dot => scalar::dot_f64(query, row),
        Metric::L2 => -scalar::l2_squared_f64(query, row),
    })
}

/// A row-major int8 matrix with a scale and an integer norm per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct I8Matrix {
    dims: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    norms: Vec<f32>,
}

impl I8Matrix {
    pub fn new(dims: usize) -> Result<Self> {
        check_matrix(0, dims)?;
        Ok(I8Matrix {
            dims,
            ..Default::default()
        })
    }

    /// Quantizes every row of a row-major f32 matrix.
    pub fn from_f32(matrix: &[f32], dims: usize) -> Result<Self> {
        let rows = check_matrix(matrix.len(), dims)?;
        check_finite(matrix)?;
        let mut m = I8Matrix::new(dims)?;
        m.codes.reserve(rows * dims);
        for row in matrix.chunks_exact(dims) {
            m.push_unchecked(row);
        }
        Ok(m)
    }

    /// Builds from existing codes and per-row scales (for example a decoded candidate set).
    pub fn from_codes(codes: Vec<i8>, scales: Vec<f32>, dims: usize) -> Result<Self> {
        let rows = check_matrix(codes.len(), dims)?;
        if scales.len() != rows {
            return Err(Error::InvalidArgument(format!(
                "{} scales for {rows} rows",
                scales.len()
            )));
        }
        if let Some(i) = scales.iter().position(|s| !s.is_finite() || *s < 0.0) {
            return Err(Error::InvalidArgument(format!(
                "scale of row {i} is not a finite non-negative number"
            )));
        }
        let norms = codes
            .chunks_exact(dims)
            .map(|r| (norm_squared_i8(r) as f32).sqrt())
            .collect();
        Ok(I8Matrix {
            dims,
            codes,
            scales,
            norms,
        })
    }

    /// Appends one quantized row. Err on a dimension mismatch or non-finite input.
    pub fn push(&mut self, row: &[f32]) -> Result<()> {
        check_dims(self.dims, row.len())?;
        check_finite(row)?;
        self.push_unchecked(row);
        Ok(())
    }

    fn push_unchecked(&mut self, row: &[f32]) {
        let start = self.codes.len();
        self.codes.resize(start + self.dims, 0);
        let scale = quantize_into(row, &mut self.codes[start..]);
        self.scales.push(scale);
        self.norms
            .push((norm_squared_i8(&self.codes[start..]) as f32).sqrt());
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    pub fn codes(&self) -> &[i8] {
        &self.codes
    }

    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    pub fn row(&self, i: usize) -> &[i8] {
        &self.codes[i * self.dims..(i + 1) * self.dims]
    }

    /// Bytes held per row (codes, scale, norm).
    pub fn bytes_per_row(&self) -> usize {
        self.dims + 8
    }

    /// Scores `query` against every row; the query is quantized once.
    pub fn score_batch(&self, query: &[f32], metric: Metric) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.rows());
        self.for_each_score(query, metric, |_, s| out.push(s))?;
        Ok(out)
    }

    /// The best `k` rows for `query` with score ≥ `threshold`, best first.
    pub fn top_k(
        &self,
        query: &[f32],
        metric: Metric,
        k: usize,
        threshold: f32,
    ) -> Result<Vec<Scored>> {
        check_threshold(threshold)?;
        let mut top = TopK::new(k, threshold);
        self.for_each_score(query, metric, |i, s| top.push(i, s))?;
        Ok(top.into_sorted_vec())
    }

    fn for_each_score(
        &self,
        query: &[f32],
        metric: Metric,
        mut sink: impl FnMut(usize, f32),
    ) -> Result<()> {
        check_dims(self.dims, query.len())?;
        check_finite(query)?;
        let q = I8Query::quantize(query);
        let (q_scale, q_norm) = (q.scale(), (norm_squared_i8(q.codes()) as f32).sqrt());
        for (i, row) in self.codes.chunks_exact(self.dims).enumerate() {
            let product = q.dot(row) as f32;
            let score = match metric {
                Metric::Cosine => {
                    let denom = q_norm * self.norms[i];
                    if denom > 0.0 {
                        (product / denom).clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                }
                Metric::Dot => product * q_scale * self.scales[i],
                Metric::L2 => {
                    // |q|² + |r|² − 2 q·r, all from integer sums.
                    let (qs, rs) = (q_scale, self.scales[i]);
                    let qq = (q_norm * qs).powi(2);
                    let rr = (self.norms[i] * rs).powi(2);
                    -(qq + rr - 2.0 * product * qs * rs).max(0.0)
                }
            };
            sink(i, score);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_sorted_bounded_and_thresholded() {
        let dims = 2;
        let m = [1.0, 0.0, 0.0, 1.0, 0.7, 0.7, -1.0, 0.0, 0.9, 0.1];
        let q = [1.0, 0.0];
        let r = top_k(&q, &m, dims, Metric::Cosine, 3, f32::NEG_INFINITY).unwrap();
        assert_eq!(r.iter().map(|s| s.index).collect::<Vec<_>>(), vec![0, 4, 2]);
        assert!(r.windows(2).all(|w| w[0].score >= w[1].score));
        let r = top_k(&q, &m, dims, Metric::Cosine, 10, 0.5).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|s| s.score >= 0.5));
        assert!(top_k(&q, &m, dims, Metric::Cosine, 0, 0.0)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn ties_break_by_row_index() {
        let m = [1.0f32, 0.0].repeat(10);
        let r = top_k(&[1.0, 0.0], &m, 2, Metric::Dot, 4, f32::NEG_INFINITY).unwrap();
        assert_eq!(
            r.iter().map(|s| s.index).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        let mut t = TopK::new(2, f32::NEG_INFINITY);
        for i in (0..6).rev() {
            t.push(i, 1.0);
        }
        assert_eq!(
            t.into_sorted_vec()
                .iter()
                .map(|s| s.index)
                .collect::<Vec<_>>(),
            vec![0, 1]
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            top_k(&[1.0, 0.0], &[1.0, 0.0, 1.0], 2, Metric::Cosine, 1, 0.0),
            Err(Error::RaggedMatrix { len: 3, dims: 2 })
        ));
        assert!(matches!(
            top_k(&[1.0], &[1.0, 0.0], 2, Metric::Cosine, 1, 0.0),
            Err(Error::DimensionMismatch {
                expected: 2,
                actual: 1
            })
        ));
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let m = [1.0, 0.0, 0.0, 1.0, 0.0, bad];
                assert_eq!(
                    top_k(&[0.0, 1.0], &m, 2, metric, 1, 0.0),
                    Err(Error::NonFinite { index: 5 }),
                    "{metric:?} {bad}"
                );
            }
        }
        let huge = [3.0e30f32, 3.0e30];
        let r = top_k(&huge, &huge, 2, Metric::Cosine, 1, 0.0).unwrap();
        assert!((r[0].score - 1.0).abs() < 1e-6);
        assert!(top_k(&[1.0, 0.0], &[1.0, 0.0], 2, Metric::Cosine, 1, f32::NAN).is_err());
        assert!(score_batch(&[1.0], &[1.0], 0, Metric::Dot).is_err());
    }

    #[test]
    fn int8_top_k_matches_f32_ranking_on_separated_data() {
        let dims = 16;
        let rows: Vec<f32> = (0..50 * dims)
            .map(|i| (((i * 7919) % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let m = I8Matrix::from_f32(&rows, dims).unwrap();
        assert_eq!(m.rows(), 50);
        let q = &rows[3 * dims..4 * dims];
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            let exact = top_k(q, &rows, dims, metric, 1, f32::NEG_INFINITY).unwrap();
            let approx = m.top_k(q, metric, 1, f32::NEG_INFINITY).unwrap();
            let exact_scores = score_batch(q, &rows, dims, metric).unwrap();
            // The int8 winner is the exact winner or within quantization error of it.
            let gap = exact[0].score - exact_scores[approx[0].index];
            assert!(
                gap <= 0.02 * exact[0].score.abs().max(1.0),
                "{metric:?} {gap}"
            );
            let approx_scores = m.score_batch(q, metric).unwrap();
            for (e, a) in exact_scores.iter().zip(&approx_scores) {
                assert!(
                    (e - a).abs() < 0.05 * e.abs().max(1.0),
                    "{metric:?} {e} {a}"
                );
            }
        }
    }
}
