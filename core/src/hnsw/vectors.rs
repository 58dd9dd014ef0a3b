//! Vector rows in flat arrays, f32 or int8, and the scores the graph is built and walked with.
//!
//! For cosine the rows are normalized on the way in, so every cosine becomes an inner product.

use crate::kernels::{dot_i8_unchecked, dot_unchecked, l2_squared_unchecked, normalize_in_place};
use crate::kernels::{FloatText, Metric};
use crate::quant::{norm_squared_i8, quantize_into, I8Query};
use crate::{Error, Result};

use super::Storage;

/// Largest accepted squared norm. It keeps every score between accepted vectors finite in f32
/// (|a·b| ≤ |a||b| and |a−b|² ≤ 4·max(|a|², |b|²)), so no score is ever NaN.
const MAX_SQ_NORM: f64 = f32::MAX as f64 / 4.0;

/// Err when a (finite) vector is so long that scores with it could overflow.
pub fn check_magnitude(v: &[f32]) -> Result<()> {
    let sq_norm: f64 = v.iter().map(|&x| x as f64 * x as f64).sum();
    if sq_norm > MAX_SQ_NORM {
        return Err(Error::InvalidArgument(format!(
            "vector is too long: its squared norm {} exceeds {}",
            FloatText(sq_norm),
            FloatText(MAX_SQ_NORM)
        )));
    }
    Ok(())
}

/// Rows start on a 64-byte cache line (and, at 384 or 768 dimensions, so does every row): a
/// 64-byte AVX-512 load of a row that straddled two lines cost two, and measured 0.7–0.8× the
/// 32-byte loads on a streaming scan. `aligned-vec` (faer's) rather than a hand-made buffer.
#[cfg(not(target_arch = "wasm32"))]
type LineAligned<T> = aligned_vec::AVec<T, aligned_vec::ConstAlign<64>>;
/// WebAssembly has no cache-line loads to win, and aligned-vec's code would cost the npm
/// package ~2 KB gzipped of its size budget.
#[cfg(target_arch = "wasm32")]
type LineAligned<T> = Vec<T>;

fn line_aligned<T: Copy>(items: impl IntoIterator<Item = T>) -> LineAligned<T> {
    #[cfg(not(target_arch = "wasm32"))]
    return LineAligned::from_iter(0, items);
    #[cfg(target_arch = "wasm32")]
    items.into_iter().collect()
}

/// `v` moved where it can be (wasm), copied once onto a line otherwise.
fn line_aligned_from<T: Copy>(v: Vec<T>) -> LineAligned<T> {
    #[cfg(not(target_arch = "wasm32"))]
    return LineAligned::from_slice(0, &v);
    #[cfg(target_arch = "wasm32")]
    v
}

/// Room for `additional` more: exactly on an empty array (a batch build then holds no slack),
/// amortized otherwise, as `Vec::reserve` does.
fn reserve<T>(v: &mut LineAligned<T>, additional: usize) {
    if v.is_empty() {
        v.reserve_exact(additional);
    } else {
        v.reserve(additional);
    }
}

#[derive(Debug, Clone)]
pub struct Vectors {
    dims: usize,
    metric: Metric,
    storage: Storage,
    /// f32 rows: the storage itself for `Storage::F32`, the rescoring copies for int8 with
    /// `keep_f32_for_rescore`, empty otherwise.
    rows: LineAligned<f32>,
    codes: LineAligned<i8>,
    scales: Vec<f32>,
    /// Squared norms of the dequantized rows; int8 with L2 only.
    sq_norms: Vec<f32>,
}

/// A query in the form the stored rows are compared with; reused between searches.
#[derive(Debug, Clone, Default)]
pub struct PreparedQuery {
    f32: Vec<f32>,
    int8: I8Query,
    sq_norm: f32,
}

impl Vectors {
    pub fn new(dims: usize, metric: Metric, storage: Storage) -> Self {
        Vectors {
            dims,
            metric,
            storage,
            rows: line_aligned([]),
            codes: line_aligned([]),
            scales: Vec::new(),
            sq_norms: Vec::new(),
        }
    }

    /// Rebuilds from stored parts: `rows` and `codes`/`scales` as [`Vectors::rows`],
    /// [`Vectors::codes`] and [`Vectors::scales`] returned them (lengths checked by the caller).
    pub fn from_parts(
        dims: usize,
        metric: Metric,
        storage: Storage,
        rows: Vec<f32>,
        codes: Vec<i8>,
        scales: Vec<f32>,
    ) -> Self {
        let mut v = Vectors {
            dims,
            metric,
            storage,
            rows: line_aligned_from(rows),
            codes: line_aligned_from(codes),
            scales,
            sq_norms: Vec::new(),
        };
        if v.needs_sq_norms() {
            v.sq_norms = (0..v.scales.len())
                .map(|i| dequantized_sq_norm(v.code_row(i), v.scales[i]))
                .collect();
        }
        v
    }

    fn is_int8(&self) -> bool {
        matches!(self.storage, Storage::Int8 { .. })
    }

    /// True when f32 rows are held (f32 storage, or int8 with rescoring copies).
    pub fn has_f32_rows(&self) -> bool {
        matches!(
            self.storage,
            Storage::F32
                | Storage::Int8 {
                    keep_f32_for_rescore: true
                }
        )
    }

    fn needs_sq_norms(&self) -> bool {
        self.is_int8() && self.metric == Metric::L2
    }

    pub fn rows(&self) -> &[f32] {
        &self.rows
    }

    pub fn codes(&self) -> &[i8] {
        &self.codes
    }

    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    #[inline(always)]
    fn f32_row(&self, node: usize) -> &[f32] {
        &self.rows[node * self.dims..(node + 1) * self.dims]
    }

    #[inline(always)]
    fn code_row(&self, node: usize) -> &[i8] {
        &self.codes[node * self.dims..(node + 1) * self.dims]
    }

    /// Err unless every stored row passes [`check_magnitude`] (for loaded bytes).
    pub fn check_rows(&self) -> Result<()> {
        for node in 0..self.len() {
            let sq_norm = if self.is_int8() {
                let scale = self.scales[node] as f64;
                norm_squared_i8(self.code_row(node)) as f64 * scale * scale
            } else {
                0.0
            };
            let f32_sq_norm: f64 = if self.has_f32_rows() {
                self.f32_row(node)
                    .iter()
                    .map(|&x| x as f64 * x as f64)
                    .sum()
            } else {
                0.0
            };
            if sq_norm.max(f32_sq_norm) > MAX_SQ_NORM {
                return Err(Error::Format(format!("row {node} is too long")));
            }
        }
        Ok(())
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        if self.is_int8() {
            self.scales.len()
        } else {
            self.rows.len() / self.dims
        }
    }

    /// Makes room for `additional` more rows (exactly, when the index is empty: a batch build
    /// then allocates once and holds no slack).
    pub fn reserve(&mut self, additional: usize) {
        let cells = additional * self.dims;
        if self.has_f32_rows() {
            reserve(&mut self.rows, cells);
        }
        if self.is_int8() {
            reserve(&mut self.codes, cells);
            self.scales.reserve(additional);
            if self.needs_sq_norms() {
                self.sq_norms.reserve(additional);
            }
        }
    }

    /// Hints the CPU to start loading the row of `node`: the walk is bound by memory latency,
    /// so the next row is fetched while the current one is scored. Prefetching the whole row
    /// measured ~25% more queries per second than none, ~10% more than its first 256 bytes.
    #[inline(always)]
    pub fn prefetch(&self, node: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let i = node as usize * self.dims;
            let (start, bytes): (*const i8, usize) = if self.is_int8() {
                (self.codes[i..].as_ptr(), self.dims)
            } else {
                (self.rows[i..].as_ptr().cast(), self.dims * 4)
            };
            for offset in (0..bytes).step_by(64) {
                // SAFETY: a prefetch never faults; the addresses stay inside the row.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = node;
    }

    /// Appends a validated (right length, finite) vector.
    pub fn push(&mut self, vector: &[f32]) -> Result<()> {
        let mut row = vector.to_vec();
        if self.metric == Metric::Cosine {
            normalize_in_place(&mut row)?;
        }
        if self.is_int8() {
            let start = self.codes.len();
            self.codes.resize(start + self.dims, 0);
            let scale = quantize_into(&row, &mut self.codes[start..]);
            self.scales.push(scale);
            if self.needs_sq_norms() {
                self.sq_norms
                    .push(dequantized_sq_norm(&self.codes[start..], scale));
            }
        }
        if self.has_f32_rows() {
            self.rows.extend_from_slice(&row);
        }
        Ok(())
    }

    /// Turns a validated query into the stored form (normalized for cosine, quantized for int8).
    pub fn prepare(&self, query: &[f32], out: &mut PreparedQuery) -> Result<()> {
        out.f32.clear();
        out.f32.extend_from_slice(query);
        if self.metric == Metric::Cosine {
            normalize_in_place(&mut out.f32)?;
        }
        if self.is_int8() {
            out.int8 = I8Query::quantize(&out.f32);
            out.sq_norm = dequantized_sq_norm(out.int8.codes(), out.int8.scale());
        }
        Ok(())
    }

    /// The score the graph is walked with: from int8 codes for int8 storage, else exact.
    #[inline(always)]
    pub fn score(&self, query: &PreparedQuery, node: u32) -> f32 {
        let i = node as usize;
        if self.is_int8() {
            let product =
                query.int8.dot(self.code_row(i)) as f32 * query.int8.scale() * self.scales[i];
            match self.metric {
                Metric::L2 => -(query.sq_norm + self.sq_norms[i] - 2.0 * product).max(0.0),
                _ => product,
            }
        } else {
            self.f32_score(&query.f32, i)
        }
    }

    /// The exact f32 score when f32 rows are held, else the int8 one.
    #[inline(always)]
    pub fn exact_score(&self, query: &PreparedQuery, node: u32) -> f32 {
        if self.has_f32_rows() {
            self.f32_score(&query.f32, node as usize)
        } else {
            self.score(query, node)
        }
    }

    #[inline(always)]
    fn f32_score(&self, query: &[f32], node: usize) -> f32 {
        let row = self.f32_row(node);
        match self.metric {
            Metric::L2 => -l2_squared_unchecked(query, row),
            _ => dot_unchecked(query, row),
        }
    }

    /// Score between two stored nodes, in the same units as [`Vectors::score`].
    #[inline]
    pub fn score_between(&self, a: u32, b: u32) -> f32 {
        let (a, b) = (a as usize, b as usize);
        if self.is_int8() {
            let product = dot_i8_unchecked(self.code_row(a), self.code_row(b)) as f32
                * self.scales[a]
                * self.scales[b];
            match self.metric {
                Metric::L2 => -(self.sq_norms[a] + self.sq_norms[b] - 2.0 * product).max(0.0),
                _ => product,
            }
        } else {
            self.f32_score(self.f32_row(a), b)
        }
    }

    /// The stored vector of `node` as f32 (dequantized when only int8 codes are held).
    pub fn decode(&self, node: usize) -> Vec<f32> {
        if self.has_f32_rows() {
            self.f32_row(node).to_vec()
        } else {
            let scale = self.scales[node];
            self.code_row(node)
                .iter()
                .map(|&c| c as f32 * scale)
                .collect()
        }
    }

    /// Rows where `keep[node]` is true, in order.
    pub fn compacted(&self, keep: &[bool]) -> Vectors {
        let kept = || keep.iter().enumerate().filter(|(_, &k)| k).map(|(i, _)| i);
        let mut out = Vectors::new(self.dims, self.metric, self.storage);
        if self.has_f32_rows() {
            out.rows = line_aligned(kept().flat_map(|i| self.f32_row(i).iter().copied()));
        }
        if self.is_int8() {
            out.codes = line_aligned(kept().flat_map(|i| self.code_row(i).iter().copied()));
            out.scales = kept().map(|i| self.scales[i]).collect();
            if self.needs_sq_norms() {
                out.sq_norms = kept().map(|i| self.sq_norms[i]).collect();
            }
        }
        out
    }

    pub fn heap_bytes(&self) -> usize {
        4 * (self.rows.capacity() + self.scales.capacity() + self.sq_norms.capacity())
            + self.codes.capacity()
    }
}

fn dequantized_sq_norm(codes: &[i8], scale: f32) -> f32 {
    norm_squared_i8(codes) as f32 * scale * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seed: usize, dims: usize) -> Vec<f32> {
        (0..dims)
            .map(|i| (((i + 1) * (seed + 3)) as f32 * 0.37).sin())
            .collect()
    }

    #[test]
    fn scores_match_the_metric_for_every_storage() {
        let dims = 64;
        let (a, b) = (sample(1, dims), sample(2, dims));
        let storages = [
            Storage::F32,
            Storage::Int8 {
                keep_f32_for_rescore: false,
            },
            Storage::Int8 {
                keep_f32_for_rescore: true,
            },
        ];
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            let exact = metric.score_unchecked(&a, &b);
            for storage in storages {
                let mut v = Vectors::new(dims, metric, storage);
                v.push(&a).unwrap();
                v.push(&b).unwrap();
                let mut q = PreparedQuery::default();
                v.prepare(&a, &mut q).unwrap();
                let tolerance = 0.02 * exact.abs().max(1.0);
                for s in [v.score(&q, 1), v.score_between(0, 1), v.exact_score(&q, 1)] {
                    assert!(
                        (s - exact).abs() < tolerance,
                        "{metric:?} {storage:?} {s} {exact}"
                    );
                }
                if v.has_f32_rows() {
                    assert!((v.exact_score(&q, 1) - exact).abs() < 1e-4);
                }
                assert_eq!(v.compacted(&[false, true]).decode(0), v.decode(1));
            }
        }
    }

    #[test]
    fn rows_start_on_a_cache_line_however_they_were_made() {
        let on_line = |v: &Vectors| {
            let rows = (v.rows().as_ptr() as usize).is_multiple_of(64) || v.rows().is_empty();
            rows && ((v.codes().as_ptr() as usize).is_multiple_of(64) || v.codes().is_empty())
        };
        for storage in [
            Storage::F32,
            Storage::Int8 {
                keep_f32_for_rescore: true,
            },
        ] {
            let mut v = Vectors::new(384, Metric::Cosine, storage);
            v.reserve(3);
            for i in 0..40 {
                v.push(&vec![i as f32 + 1.0; 384]).unwrap();
            }
            assert!(on_line(&v));
            let keep: Vec<bool> = (0..40).map(|i| i % 3 != 0).collect();
            assert!(on_line(&v.compacted(&keep)));
            let parts = Vectors::from_parts(
                384,
                Metric::Cosine,
                storage,
                v.rows().to_vec(),
                v.codes().to_vec(),
                v.scales().to_vec(),
            );
            assert!(on_line(&parts));
            // Every row of 384 floats (1,536 bytes) or codes (384 bytes) starts on a line too.
            assert_eq!(parts.f32_row(7).as_ptr() as usize % 64, 0);
        }
    }

    #[test]
    fn cosine_rows_are_stored_normalized() {
        let mut v = Vectors::new(3, Metric::Cosine, Storage::F32);
        v.push(&[3.0, 4.0, 0.0]).unwrap();
        assert_eq!(v.decode(0), vec![0.6, 0.8, 0.0]);
        let int8 = Storage::Int8 {
            keep_f32_for_rescore: false,
        };
        let mut v = Vectors::new(3, Metric::Cosine, int8);
        v.push(&[3.0, 4.0, 0.0]).unwrap();
        let d = v.decode(0);
        assert!(
            (d[0] - 0.6).abs() < 0.01 && (d[1] - 0.8).abs() < 0.01,
            "{d:?}"
        );
        assert_eq!(v.heap_bytes(), v.codes.capacity() + 4 * v.scales.capacity());
    }
}
