//! vecgate-core: the portable part of vecgate. Pure computation: no I/O, no async, no clock.
//!
//! - [`kernels`]: f32 dot / cosine / squared L2 / normalize, with SIMD paths.
//! - [`quant`]: int8 vectors with a per-vector scale, and binary sign codes.
//! - [`topk`]: batch scoring and bounded-heap top-k with a threshold.
//! - [`filter`]: the metadata filter language (typed AST, parser, in-memory evaluator).
//! - [`rerank`]: personalization, multi-signal blend, MMR.
//! - [`recommend`]: recommendations from examples and for groups.
//! - [`preference`]: preference learning from watch events.
//! - [`hnsw`]: the compact HNSW index.
//! - [`candidates`]: the candidate-set binary format browsers cache and rerank.
//! - [`bytes`], [`checksum`]: bounds-checked little-endian I/O and CRC-32 for the formats.
//! - [`json`]: how the formats read and write metadata JSON (serde_json, or the host's).

pub mod breadth;
pub mod bytes;
pub mod candidates;
pub mod checksum;
pub mod error;
pub mod filter;
pub mod hnsw;
pub mod json;
pub mod kernels;
pub mod preference;
pub mod quant;
pub mod recommend;
pub mod rerank;
pub mod topk;

#[cfg(test)]
mod test_util;

pub use error::{Error, Quoted, Result};
