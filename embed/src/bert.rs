//! The BERT encoder's forward pass over many texts at once, without padding: every per-token
//! step (embeddings, linear layers, layer norms, GELU) runs over all the texts' tokens as one
//! matrix, and only attention is per text (and per head).

use rayon::prelude::*;
use rten_gemm::{GemmExecutor, GemmInputA, GemmInputB, GemmOptions};
use rten_simd::{SimdOp, SimdUnaryOp};
use rten_tensor::NdTensorView;
use rten_vecmath::{Gelu, Softmax};

use crate::linear::{Compute, Kernels, Linear};
use crate::weights::{BertWeights, Int8Matrix, NormWeights};

/// BERT's layer-norm epsilon.
const EPSILON: f32 = 1e-12;

struct Layer {
    /// Query, key and value side by side.
    qkv: Linear,
    attention_output: Linear,
    attention_norm: NormWeights,
    intermediate: Linear,
    output: Linear,
    output_norm: NormWeights,
}

pub struct Bert {
    compute: Compute,
    word: Int8Matrix,
    position: Int8Matrix,
    token_type: Vec<f32>,
    embeddings_norm: NormWeights,
    layers: Vec<Layer>,
    hidden: usize,
    head_size: usize,
}

impl Bert {
    pub fn new(weights: BertWeights) -> Self {
        let compute = Compute::detect();
        let kernels = Kernels::new();
        let hidden = weights.word.cols;
        let layers = weights
            .layers
            .into_iter()
            .map(|w| Layer {
                qkv: Linear::new(compute, &kernels, &[&w.query, &w.key, &w.value]),
                attention_output: Linear::new(compute, &kernels, &[&w.attention_output]),
                intermediate: Linear::new(compute, &kernels, &[&w.intermediate]),
                output: Linear::new(compute, &kernels, &[&w.output]),
                attention_norm: w.attention_norm,
                output_norm: w.output_norm,
            })
            .collect();
        Bert {
            compute,
            word: weights.word,
            position: weights.position,
            token_type: weights.token_type,
            embeddings_norm: weights.embeddings_norm,
            layers,
            hidden,
            head_size: weights.head_size,
        }
    }

    /// The matrix kernel in use (`x86_64-u8i8i32-avx512`, ...).
    pub fn kernel_name(&self) -> String {
        Kernels::new().name(self.compute).to_owned()
    }

    /// The largest token count one text may have (the position table's length).
    pub fn max_tokens(&self) -> usize {
        self.position.rows
    }

    pub fn vocabulary_size(&self) -> usize {
        self.word.rows
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// The last hidden state of every token of every text: `Σ len × hidden`, texts in order.
    /// Token ids must be below the vocabulary size and texts no longer than [`Self::max_tokens`].
    pub fn hidden_states(&self, texts: &[Vec<u32>]) -> Vec<f32> {
        let h = self.hidden;
        let rows: usize = texts.iter().map(Vec::len).sum();
        let mut x = vec![0f32; rows * h];
        let tokens = texts
            .iter()
            .flat_map(|t| t.iter().enumerate().map(|(p, &id)| (id as usize, p)));
        for (row, (id, position)) in x.chunks_mut(h).zip(tokens) {
            row.copy_from_slice(&self.token_type);
            self.word.add_row_to(id, row);
            self.position.add_row_to(position, row);
        }
        layer_norm(&mut x, &self.embeddings_norm);
        let spans: Vec<(usize, usize)> = texts
            .iter()
            .scan(0, |start, t| {
                let span = (*start, t.len());
                *start += t.len();
                Some(span)
            })
            .collect();
        let kernels = Kernels::new();
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&kernels, &x, rows);
            let context = self.attention(&qkv, &spans, rows);
            let mut attended = layer.attention_output.forward(&kernels, &context, rows);
            add(&mut attended, &x);
            layer_norm(&mut attended, &layer.attention_norm);
            x = attended;
            let mut inner = layer.intermediate.forward(&kernels, &x, rows);
            Gelu {}.map_mut(&mut inner);
            let mut out = layer.output.forward(&kernels, &inner, rows);
            add(&mut out, &x);
            layer_norm(&mut out, &layer.output_norm);
            x = out;
        }
        x
    }

    /// Scaled dot-product attention of each text over its own tokens, every head.
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)], rows: usize) -> Vec<f32> {
        let (h, d) = (self.hidden, self.head_size);
        let stride = 3 * h;
        let heads = h / d;
        let scale = 1.0 / (d as f32).sqrt();
        // One (text, head) per task; each writes its own `len × d` block, placed after.
        let blocks: Vec<(usize, usize, Vec<f32>)> = spans
            .par_iter()
            .flat_map(|&(start, len)| {
                (0..heads)
                    .into_par_iter()
                    .map(move |head| (start, len, head))
            })
            .map(|(start, len, head)| {
                let at = |part: usize| start * stride + part * h + head * d;
                let q = NdTensorView::from_data_with_strides([len, d], &qkv[at(0)..], [stride, 1]);
                let k_t =
                    NdTensorView::from_data_with_strides([d, len], &qkv[at(1)..], [1, stride]);
                let v = NdTensorView::from_data_with_strides([len, d], &qkv[at(2)..], [stride, 1]);
                let (q, k_t, v) = (
                    q.expect("in bounds"),
                    k_t.expect("in bounds"),
                    v.expect("in bounds"),
                );
                // Attention's products are small and f32.
                let gemm = GemmExecutor::<f32>::default();
                let mut scores = vec![0f32; len * len];
                gemm.gemm(
                    &mut scores,
                    GemmInputA::Unpacked(q),
                    GemmInputB::Unpacked(k_t),
                    GemmOptions {
                        alpha: scale,
                        ..Default::default()
                    },
                )
                .expect("attention shapes");
                for row in scores.chunks_mut(len) {
                    Softmax::new_mut(row).dispatch();
                }
                let mut context = vec![0f32; len * d];
                gemm.gemm(
                    &mut context,
                    GemmInputA::Unpacked(NdTensorView::from_data([len, len], scores.as_slice())),
                    GemmInputB::Unpacked(v),
                    GemmOptions::default(),
                )
                .expect("attention shapes");
                (start, head, context)
            })
            .collect();
        let mut out = vec![0f32; rows * h];
        for (start, head, context) in blocks {
            for (t, values) in context.chunks(d).enumerate() {
                let at = (start + t) * h + head * d;
                out[at..at + d].copy_from_slice(values);
            }
        }
        out
    }
}

fn add(x: &mut [f32], residual: &[f32]) {
    for (a, b) in x.iter_mut().zip(residual) {
        *a += b;
    }
}

fn layer_norm(x: &mut [f32], norm: &NormWeights) {
    let n = norm.gamma.len();
    for row in x.chunks_mut(n) {
        let mean = row.iter().sum::<f32>() / n as f32;
        let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        let inverse = 1.0 / (variance + EPSILON).sqrt();
        for ((v, g), b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
            *v = (*v - mean) * inverse * g + b;
        }
    }
}
