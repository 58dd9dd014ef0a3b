//! The encoder's parameters, read from the ONNX file (rten-onnx's parser). Tensors are found by
//! their Hugging Face BERT names, whatever prefix the exporter added; a linear layer's weight is
//! found by following its bias back through `Add` to the `MatMul`. Int8 weights stored as
//! `Mul(Cast(q), scale)` are kept as they are; f32 weights are quantized here, so any export of
//! the model loads the same way.

use std::collections::HashMap;

use rten_onnx::onnx::{DataType, GraphProto, ModelProto, NodeProto, TensorProto};

use crate::EmbedError;

/// An int8 matrix, row-major, with one scale per row or per column: `value = q * scale`.
pub struct Int8Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<i8>,
    pub scales: Vec<f32>,
}

impl Int8Matrix {
    /// Row `r` of a matrix with per-row scales, as f32.
    pub fn add_row_to(&self, r: usize, out: &mut [f32]) {
        let scale = self.scales[r];
        let row = &self.data[r * self.cols..(r + 1) * self.cols];
        for (o, &q) in out.iter_mut().zip(row) {
            *o += q as f32 * scale;
        }
    }
}

pub struct LinearWeights {
    /// `in × out`, one scale per output column.
    pub weight: Int8Matrix,
    pub bias: Vec<f32>,
}

pub struct NormWeights {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

pub struct LayerWeights {
    pub query: LinearWeights,
    pub key: LinearWeights,
    pub value: LinearWeights,
    pub attention_output: LinearWeights,
    pub attention_norm: NormWeights,
    pub intermediate: LinearWeights,
    pub output: LinearWeights,
    pub output_norm: NormWeights,
}

pub struct BertWeights {
    /// Per-row scales (one per token id).
    pub word: Int8Matrix,
    /// Per-row scales (one per position).
    pub position: Int8Matrix,
    /// Token type 0's embedding (single-segment input).
    pub token_type: Vec<f32>,
    pub embeddings_norm: NormWeights,
    pub layers: Vec<LayerWeights>,
    pub head_size: usize,
}

fn model_error(message: impl Into<String>) -> EmbedError {
    EmbedError::Model(message.into())
}

struct Graph<'a> {
    initializers: HashMap<&'a str, &'a TensorProto>,
    producer: HashMap<&'a str, &'a NodeProto>,
    consumers: HashMap<&'a str, Vec<&'a NodeProto>>,
}

impl<'a> Graph<'a> {
    fn new(graph: &'a GraphProto) -> Self {
        let mut g = Graph {
            initializers: HashMap::new(),
            producer: HashMap::new(),
            consumers: HashMap::new(),
        };
        for t in &graph.initializer {
            if let Some(name) = &t.name {
                g.initializers.insert(name, t);
            }
        }
        for node in &graph.node {
            for output in &node.output {
                g.producer.insert(output, node);
            }
            for input in &node.input {
                g.consumers.entry(input).or_default().push(node);
            }
        }
        g
    }

    /// The one initializer whose name ends with `.{suffix}` (or is `suffix`).
    fn named(&self, suffix: &str) -> Result<&'a TensorProto, EmbedError> {
        let dotted = format!(".{suffix}");
        let mut found = self
            .initializers
            .iter()
            .filter(|(name, _)| **name == suffix || name.ends_with(&dotted));
        match (found.next(), found.next()) {
            (Some((_, t)), None) => Ok(t),
            (None, _) => Err(model_error(format!("the model has no {suffix:?}"))),
            (Some(_), Some(_)) => Err(model_error(format!("the model has two {suffix:?}"))),
        }
    }

    fn op(&self, value: &str) -> Option<&'a NodeProto> {
        self.producer.get(value).copied()
    }

    /// A matrix value: an f32 initializer, or `Mul(Cast(int8), scale)` of initializers.
    fn matrix(&self, value: &str) -> Result<Stored<'a>, EmbedError> {
        if let Some(t) = self.initializers.get(value) {
            return Ok(Stored::Float(t));
        }
        let bad = || model_error(format!("{value:?} is neither an f32 nor an int8 matrix"));
        let mul = self.op(value).filter(|n| op_is(n, "Mul")).ok_or_else(bad)?;
        let [a, b] = [&mul.input[0], &mul.input[1]];
        let (cast, scale) = match (self.op(a), self.op(b)) {
            (Some(n), _) if op_is(n, "Cast") => (n, b),
            (_, Some(n)) if op_is(n, "Cast") => (n, a),
            _ => return Err(bad()),
        };
        let q = self
            .initializers
            .get(cast.input[0].as_str())
            .ok_or_else(bad)?;
        let scale = self.initializers.get(scale.as_str()).ok_or_else(bad)?;
        Ok(Stored::Int8 { q, scale })
    }

    /// The first node of kind `op` that reads `value`.
    fn consumer(&self, value: &str, op: &str) -> Option<&'a NodeProto> {
        self.consumers
            .get(value)?
            .iter()
            .copied()
            .find(|n| op_is(n, op))
    }

    /// `{name}.bias` and the `Add` that applies it.
    fn bias_add(&self, name: &str) -> Result<(&'a TensorProto, &'a NodeProto), EmbedError> {
        let bias = self.named(&format!("{name}.bias"))?;
        let add = self
            .consumer(bias.name.as_deref().unwrap_or_default(), "Add")
            .ok_or_else(|| model_error(format!("nothing adds {name:?}'s bias")))?;
        Ok((bias, add))
    }

    /// The linear layer whose bias is named `{name}.bias`: `Add(MatMul(x, weight), bias)`.
    fn linear(&self, name: &str) -> Result<LinearWeights, EmbedError> {
        let (bias_tensor, add) = self.bias_add(name)?;
        let bias_name = bias_tensor.name.as_deref().unwrap_or_default();
        let missing = || model_error(format!("no MatMul + Add for {name:?}"));
        let other = add
            .input
            .iter()
            .find(|i| *i != bias_name)
            .ok_or_else(missing)?;
        let matmul = self
            .op(other)
            .filter(|n| op_is(n, "MatMul"))
            .ok_or_else(missing)?;
        let weight = self.matrix(&matmul.input[1])?.per_column()?;
        let bias = floats(bias_tensor)?;
        if bias.len() != weight.cols {
            return Err(model_error(format!("{name:?}: bias and weight disagree")));
        }
        Ok(LinearWeights { weight, bias })
    }

    fn norm(&self, name: &str) -> Result<NormWeights, EmbedError> {
        Ok(NormWeights {
            gamma: floats(self.named(&format!("{name}.weight"))?)?,
            beta: floats(self.named(&format!("{name}.bias"))?)?,
        })
    }

    /// An embedding table `{name}.weight`, read by `Gather`: as stored, or its int8 form.
    fn embedding(&self, name: &str) -> Result<Int8Matrix, EmbedError> {
        let suffix = format!("{name}.weight");
        if let Ok(t) = self.named(&suffix) {
            return Stored::Float(t).per_row();
        }
        let dotted = format!(".{suffix}");
        let value = self
            .producer
            .keys()
            .find(|v| **v == suffix || v.ends_with(&dotted))
            .ok_or_else(|| model_error(format!("the model has no {suffix:?}")))?;
        self.matrix(value)?.per_row()
    }

    /// The attention head size: the last dimension the query is reshaped to,
    /// `Reshape(query, Concat(batch, sequence, -1, head_size))`.
    fn head_size(&self, query: &LinearWeights, name: &str) -> Result<usize, EmbedError> {
        let missing = || model_error("can't find the attention head size");
        let (_, add) = self.bias_add(name)?;
        let reshape = self
            .consumer(&add.output[0], "Reshape")
            .ok_or_else(missing)?;
        let concat = self
            .op(&reshape.input[1])
            .filter(|n| op_is(n, "Concat"))
            .ok_or_else(missing)?;
        let last = self
            .initializers
            .get(concat.input.last().ok_or_else(missing)?.as_str())
            .ok_or_else(missing)?;
        let size = *int64s(last)?.first().ok_or_else(missing)?;
        let hidden = query.weight.cols;
        if size <= 0 || !hidden.is_multiple_of(size as usize) {
            return Err(missing());
        }
        Ok(size as usize)
    }
}

fn op_is(node: &NodeProto, op: &str) -> bool {
    node.op_type.as_deref() == Some(op)
}

enum Stored<'a> {
    Float(&'a TensorProto),
    Int8 {
        q: &'a TensorProto,
        scale: &'a TensorProto,
    },
}

impl Stored<'_> {
    fn dims(t: &TensorProto) -> Result<(usize, usize), EmbedError> {
        match t.dims.as_slice() {
            &[r, c] if r > 0 && c > 0 => Ok((r as usize, c as usize)),
            _ => Err(model_error(format!(
                "{:?} is not a matrix",
                t.name.as_deref().unwrap_or_default()
            ))),
        }
    }

    /// Int8 with one scale per column (a linear layer's `in × out` weight).
    fn per_column(self) -> Result<Int8Matrix, EmbedError> {
        self.quantized(false)
    }

    /// Int8 with one scale per row (an embedding table).
    fn per_row(self) -> Result<Int8Matrix, EmbedError> {
        self.quantized(true)
    }

    fn quantized(self, by_row: bool) -> Result<Int8Matrix, EmbedError> {
        match self {
            Stored::Float(t) => {
                let (rows, cols) = Self::dims(t)?;
                Ok(quantize(&floats(t)?, rows, cols, by_row))
            }
            Stored::Int8 { q, scale } => {
                let (rows, cols) = Self::dims(q)?;
                if q.data_type != Some(DataType::INT8) {
                    return Err(model_error("quantized weights are not int8"));
                }
                let data: Vec<i8> = raw(q)?.iter().map(|&b| b as i8).collect();
                let scales = floats(scale)?;
                let expected = if by_row { rows } else { cols };
                if data.len() != rows * cols || scales.len() != expected {
                    return Err(model_error(format!(
                        "{:?}: scales are not one per {}",
                        q.name.as_deref().unwrap_or_default(),
                        if by_row { "row" } else { "column" }
                    )));
                }
                Ok(Int8Matrix {
                    rows,
                    cols,
                    data,
                    scales,
                })
            }
        }
    }
}

/// Symmetric int8 quantization of an f32 matrix, per row or per column.
fn quantize(values: &[f32], rows: usize, cols: usize, by_row: bool) -> Int8Matrix {
    let group = |i: usize, j: usize| if by_row { i } else { j };
    let mut max = vec![0f32; if by_row { rows } else { cols }];
    for (i, row) in values.chunks(cols).enumerate() {
        for (j, v) in row.iter().enumerate() {
            let m = &mut max[group(i, j)];
            *m = m.max(v.abs());
        }
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|m| if *m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let data = values
        .chunks(cols)
        .enumerate()
        .flat_map(|(i, row)| {
            let scales = &scales;
            row.iter()
                .enumerate()
                .map(move |(j, v)| (v / scales[group(i, j)]).round().clamp(-127.0, 127.0) as i8)
        })
        .collect();
    Int8Matrix {
        rows,
        cols,
        data,
        scales,
    }
}

fn raw(t: &TensorProto) -> Result<std::cell::Ref<'_, Vec<u8>>, EmbedError> {
    t.raw_data.as_ref().map(|r| r.borrow()).ok_or_else(|| {
        model_error(format!(
            "{:?} has no raw data (external data is not supported)",
            t.name.as_deref().unwrap_or_default()
        ))
    })
}

fn floats(t: &TensorProto) -> Result<Vec<f32>, EmbedError> {
    if t.data_type != Some(DataType::FLOAT) {
        return Err(model_error(format!(
            "{:?} is not f32",
            t.name.as_deref().unwrap_or_default()
        )));
    }
    if !t.float_data.is_empty() {
        return Ok(t.float_data.clone());
    }
    Ok(raw(t)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn int64s(t: &TensorProto) -> Result<Vec<i64>, EmbedError> {
    if !t.int64_data.is_empty() {
        return Ok(t.int64_data.clone());
    }
    Ok(raw(t)?
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

impl BertWeights {
    /// Reads every parameter of a BERT encoder from the bytes of its ONNX file.
    pub fn from_onnx(bytes: &[u8]) -> Result<Self, EmbedError> {
        let model = ModelProto::parse_buf(bytes).map_err(|e| model_error(e.to_string()))?;
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| model_error("the ONNX file has no graph"))?;
        let g = Graph::new(graph);
        let mut layers = Vec::new();
        while g
            .named(&format!("encoder.layer.{}.output.dense.bias", layers.len()))
            .is_ok()
        {
            let p = format!("encoder.layer.{}", layers.len());
            layers.push(LayerWeights {
                query: g.linear(&format!("{p}.attention.self.query"))?,
                key: g.linear(&format!("{p}.attention.self.key"))?,
                value: g.linear(&format!("{p}.attention.self.value"))?,
                attention_output: g.linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: g.norm(&format!("{p}.attention.output.LayerNorm"))?,
                intermediate: g.linear(&format!("{p}.intermediate.dense"))?,
                output: g.linear(&format!("{p}.output.dense"))?,
                output_norm: g.norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let first = layers
            .first()
            .ok_or_else(|| model_error("the model has no encoder layers"))?;
        let head_size = g.head_size(&first.query, "encoder.layer.0.attention.self.query")?;
        let word = g.embedding("embeddings.word_embeddings")?;
        let position = g.embedding("embeddings.position_embeddings")?;
        let token_types = floats(g.named("embeddings.token_type_embeddings.weight")?)?;
        let hidden = word.cols;
        if position.cols != hidden || token_types.len() < hidden {
            return Err(model_error("the embedding tables disagree on the width"));
        }
        for layer in &layers {
            let widths = [
                (layer.query.weight.rows, layer.query.weight.cols),
                (layer.attention_output.weight.rows, layer.output.weight.cols),
                (layer.intermediate.weight.rows, layer.output.weight.cols),
            ];
            if widths.iter().any(|&(i, o)| i != hidden || o != hidden) {
                return Err(model_error("a layer's width is not the embeddings' width"));
            }
        }
        Ok(BertWeights {
            word,
            position,
            token_type: token_types[..hidden].to_vec(),
            embeddings_norm: g.norm("embeddings.LayerNorm")?,
            layers,
            head_size,
        })
    }
}
