//! A linear layer, `x · W + b`, with int8 weights computed in int8 (rten-gemm's u8 × i8 → i32
//! kernels: AVX-512 VNNI, AVX2, Arm dot-product, wasm SIMD).
//!
//! Each input row is quantized on its own to u8 with its own scale and zero point (asymmetric,
//! 256 levels): per-tensor scales, as ONNX's `DynamicQuantizeLinear`, lose too much on this
//! model (mean cosine 0.993 to the sample films' vectors, 2,993 of 3,200 under 0.995), and
//! per-row scales keep every text's vector independent of the batch it was computed in.
//!
//! Where the int8 kernel could saturate (x86 without VNNI: `vpmaddubsw` adds two u8 × i8
//! products into an i16), the weights are kept as f32 instead and computed in f32, so the
//! answers never depend on the CPU's instruction set beyond rounding.

use rten_gemm::{
    BiasVector, GemmExecutor, GemmInputA, GemmInputB, GemmOptions, GemmUninitOptions, PackedBMatrix,
};
use rten_tensor::NdTensorView;

use crate::weights::{Int8Matrix, LinearWeights};

/// How weights are multiplied: chosen once, at load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compute {
    Int8,
    Float,
}

impl Compute {
    /// Int8 unless the CPU's int8 kernel may saturate, or `VECGATE_EMBED_COMPUTE=f32` asks for
    /// f32 (for comparisons).
    pub fn detect() -> Self {
        let forced_f32 = std::env::var("VECGATE_EMBED_COMPUTE").is_ok_and(|v| v == "f32");
        if forced_f32 || Kernels::new().int8.may_saturate() {
            Compute::Float
        } else {
            Compute::Int8
        }
    }
}

/// rten-gemm's executors, made per forward pass: they are cheap to make and not `Sync`. The
/// same CPU always gets the same kernels, so weights packed by one are read by the next.
pub struct Kernels {
    pub int8: GemmExecutor<u8, i8, i32>,
    pub float: GemmExecutor<f32, f32, f32>,
}

impl Kernels {
    pub fn new() -> Self {
        Kernels {
            int8: GemmExecutor::default(),
            float: GemmExecutor::default(),
        }
    }

    /// The name of the kernel `compute` runs on (`x86_64-u8i8i32-avx512`, ...).
    pub fn name(&self, compute: Compute) -> &str {
        match compute {
            Compute::Int8 => self.int8.kernel_name(),
            Compute::Float => self.float.kernel_name(),
        }
    }
}

enum Packed {
    Int8 {
        weight: PackedBMatrix<i8>,
        column_scales: Vec<f32>,
        column_sums: Vec<i32>,
    },
    Float(PackedBMatrix<f32>),
}

pub struct Linear {
    packed: Packed,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    /// Packs the weights once for `kernels`; several layers reading the same input (query, key,
    /// value) are joined side by side so the input is quantized and read once.
    pub fn new(compute: Compute, kernels: &Kernels, parts: &[&LinearWeights]) -> Self {
        let inputs = parts[0].weight.rows;
        let outputs: usize = parts.iter().map(|p| p.weight.cols).sum();
        let packed = match compute {
            Compute::Int8 => {
                let data = joined(parts, |w, i| w.data[i]);
                let mut column_sums = vec![0i32; outputs];
                for row in data.chunks(outputs) {
                    for (sum, &w) in column_sums.iter_mut().zip(row) {
                        *sum += w as i32;
                    }
                }
                let view = NdTensorView::from_data([inputs, outputs], data.as_slice());
                Packed::Int8 {
                    column_sums,
                    weight: kernels.int8.prepack_b(view),
                    column_scales: parts.iter().flat_map(|p| p.weight.scales.clone()).collect(),
                }
            }
            Compute::Float => {
                let data = joined(parts, |w, i| w.data[i] as f32 * w.scales[i % w.cols]);
                let view = NdTensorView::from_data([inputs, outputs], data.as_slice());
                Packed::Float(kernels.float.prepack_b(view))
            }
        };
        Linear {
            packed,
            bias: parts.iter().flat_map(|p| p.bias.clone()).collect(),
            inputs,
            outputs,
        }
    }

    /// `rows × inputs` in, `rows × outputs` out.
    pub fn forward(&self, kernels: &Kernels, x: &[f32], rows: usize) -> Vec<f32> {
        debug_assert_eq!(x.len(), rows * self.inputs);
        let n = self.outputs;
        match &self.packed {
            Packed::Int8 {
                weight,
                column_scales,
                column_sums,
            } => {
                let quantized = with_avx2!(QuantizedRows::new(x, self.inputs));
                let a = NdTensorView::from_data([rows, self.inputs], quantized.values.as_slice());
                let mut acc = Vec::with_capacity(rows * n);
                let acc = kernels
                    .int8
                    .gemm_uninit(
                        &mut acc.spare_capacity_mut()[..rows * n],
                        GemmInputA::Unpacked(a),
                        GemmInputB::Packed(weight),
                        // Zero points are applied below: with rten-gemm 0.27's own per-row zero
                        // points, rows changed with the rows computed beside them.
                        GemmUninitOptions::default(),
                    )
                    .expect("shapes checked at load");
                with_avx2!(dequantize(
                    acc,
                    &quantized,
                    column_sums,
                    column_scales,
                    &self.bias
                ))
            }
            Packed::Float(weight) => {
                let a = NdTensorView::from_data([rows, self.inputs], x);
                let mut out = vec![0f32; rows * n];
                kernels
                    .float
                    .gemm(
                        &mut out,
                        GemmInputA::Unpacked(a),
                        GemmInputB::Packed(weight),
                        GemmOptions {
                            bias: Some(BiasVector::Row(&self.bias)),
                            ..Default::default()
                        },
                    )
                    .expect("shapes checked at load");
                out
            }
        }
    }
}

/// The parts' weights side by side (row r: row r of each part), as `value(matrix, index)`.
fn joined<T>(parts: &[&LinearWeights], value: impl Fn(&Int8Matrix, usize) -> T) -> Vec<T> {
    let mut out = Vec::new();
    for r in 0..parts[0].weight.rows {
        for w in parts.iter().map(|p| &p.weight) {
            out.extend((r * w.cols..(r + 1) * w.cols).map(|i| value(w, i)));
        }
    }
    out
}

/// Runs `$call` compiled for AVX2 + FMA where the CPU has them (the crate itself is built for
/// baseline x86-64: SSE2 has no 32-bit integer multiply and no vector float → int conversion
/// with saturation), as is otherwise.
macro_rules! with_avx2 {
    ($call:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            fn avx2<R>(call: impl FnOnce() -> R) -> R {
                call()
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // Safety: the CPU has the features.
                unsafe {
                    avx2(
                        #[inline(always)]
                        || $call,
                    )
                }
            } else {
                $call
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $call
        }
    }};
}
use with_avx2;

/// `scale_row · scale_column · Σ (q − zero)·w + bias`, from the int32 sums `Σ q·w`:
/// `Σ (q − zero)·w = Σ q·w − zero · Σ w`.
#[inline(always)]
fn dequantize(
    acc: &[i32],
    quantized: &QuantizedRows,
    column_sums: &[i32],
    column_scales: &[f32],
    bias: &[f32],
) -> Vec<f32> {
    let n = bias.len();
    let mut out = Vec::with_capacity(acc.len());
    for (r, acc_row) in acc.chunks(n).enumerate() {
        let zero = quantized.zero_points[r] as i32;
        let row_scale = quantized.scales[r];
        out.extend(
            acc_row
                .iter()
                .zip(&column_sums[..n])
                .zip(&column_scales[..n])
                .zip(bias)
                .map(|(((&a, &sum), &s), &b)| (a - zero * sum) as f32 * (row_scale * s) + b),
        );
    }
    out
}

/// Rows quantized to u8, each with its own scale and zero point: `x ≈ scale · (q − zero)`.
struct QuantizedRows {
    values: Vec<u8>,
    scales: Vec<f32>,
    zero_points: Vec<u8>,
}

impl QuantizedRows {
    #[inline(always)]
    fn new(x: &[f32], cols: usize) -> Self {
        let rows = x.len() / cols;
        let mut q = QuantizedRows {
            values: Vec::with_capacity(x.len()),
            scales: Vec::with_capacity(rows),
            zero_points: Vec::with_capacity(rows),
        };
        for row in x.chunks(cols) {
            // The range includes 0 so that the zero point is a whole number in 0..=255.
            let (lo, hi) = range(row);
            let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
            let zero = (-lo / scale).round().clamp(0.0, 255.0);
            let inverse = 1.0 / scale;
            // Truncating `v + ½` rounds (v ≥ −½ here); `as i32` saturates below.
            let offset = zero + 0.5;
            q.values.extend(row.iter().map(|&v| {
                let v = v * inverse + offset;
                (if v < 255.0 { v } else { 255.0 }) as i32 as u8
            }));
            q.scales.push(scale);
            q.zero_points.push(zero as u8);
        }
        q
    }
}

/// The smallest and largest of `row` and 0, in lanes the compiler turns into SIMD min / max.
#[inline(always)]
fn range(row: &[f32]) -> (f32, f32) {
    const LANES: usize = 16;
    let (mut lo, mut hi) = ([0f32; LANES], [0f32; LANES]);
    let mut chunks = row.chunks_exact(LANES);
    for chunk in chunks.by_ref() {
        for i in 0..LANES {
            lo[i] = if chunk[i] < lo[i] { chunk[i] } else { lo[i] };
            hi[i] = if chunk[i] > hi[i] { chunk[i] } else { hi[i] };
        }
    }
    let tail = chunks.remainder().iter();
    let lo = lo.iter().chain(tail.clone()).fold(0f32, |m, &v| m.min(v));
    let hi = hi.iter().chain(tail).fold(0f32, |m, &v| m.max(v));
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_within_half_a_step() {
        let x: Vec<f32> = (0..96)
            .map(|i| ((i * 37 % 101) as f32 - 30.0) / 7.0)
            .collect();
        let q = QuantizedRows::new(&x, 32);
        for (r, row) in x.chunks(32).enumerate() {
            for (c, v) in row.iter().enumerate() {
                let back = q.scales[r] * (q.values[r * 32 + c] as f32 - q.zero_points[r] as f32);
                assert!(
                    (back - v).abs() <= q.scales[r] * 0.5 + 1e-5,
                    "{v} came back {back}"
                );
            }
        }
    }

    fn layer(inputs: usize, outputs: usize) -> LinearWeights {
        LinearWeights {
            weight: Int8Matrix {
                rows: inputs,
                cols: outputs,
                data: (0..inputs * outputs)
                    .map(|i| ((i * 53 % 127) as i32 - 63) as i8)
                    .collect(),
                scales: (0..outputs).map(|c| 0.01 + c as f32 * 1e-3).collect(),
            },
            bias: (0..outputs).map(|c| c as f32 * 0.1).collect(),
        }
    }

    /// Rows on different ranges (each its own zero point) give the same answer together as
    /// alone. rten-gemm 0.27's own per-row zero points fail this at these sizes.
    #[test]
    fn each_row_is_computed_on_its_own() {
        let (inputs, outputs, rows) = (384, 1152, 7);
        let weights = layer(inputs, outputs);
        let kernels = Kernels::new();
        let linear = Linear::new(Compute::Int8, &kernels, &[&weights]);
        let x: Vec<f32> = (0..rows * inputs)
            .map(|i| ((i * 29 % 61) as f32 - 20.0) / 9.0 + (i / inputs) as f32 * 1.5)
            .collect();
        let together = linear.forward(&kernels, &x, rows);
        for (r, row) in x.chunks(inputs).enumerate() {
            let alone = linear.forward(&kernels, row, 1);
            assert_eq!(alone, together[r * outputs..(r + 1) * outputs], "row {r}");
        }
    }

    /// Weights in −63..=63, so that no kernel saturates.
    #[test]
    fn int8_and_f32_kernels_agree_on_a_layer() {
        for (inputs, outputs, rows) in [(48, 40, 5), (384, 1152, 7), (1536, 384, 70)] {
            agree(inputs, outputs, rows);
        }
    }

    fn agree(inputs: usize, outputs: usize, rows: usize) {
        let layer = layer(inputs, outputs);
        let x: Vec<f32> = (0..rows * inputs)
            .map(|i| ((i * 29 % 61) as f32 - 20.0) / 9.0)
            .collect();
        let kernels = Kernels::new();
        let expected = Linear::new(Compute::Float, &kernels, &[&layer]).forward(&kernels, &x, rows);
        let got = Linear::new(Compute::Int8, &kernels, &[&layer]).forward(&kernels, &x, rows);
        let worst = expected
            .iter()
            .zip(&got)
            .map(|(e, g)| (e - g).abs())
            .fold(0f32, f32::max);
        let span = expected.iter().map(|v| v.abs()).fold(0f32, f32::max);
        assert!(
            worst < span * 0.01,
            "{inputs}x{outputs}, {rows} rows: worst error {worst} of {span}"
        );
    }
}
