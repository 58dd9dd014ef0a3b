//! The candidate-set binary format: the top N items for a query, user or filter, which the edge
//! sends to browsers to cache and rerank locally.
//!
//! Layout (little-endian), version 1:
//!
//! | field | bytes |
//! |---|---|
//! | magic `VGCS` | 4 |
//! | version (u16) = 1 | 2 |
//! | encoding (u8): 0 = f32, 1 = int8 | 1 |
//! | reserved (u8) = 0 | 1 |
//! | dims (u32), count (u32) | 8 |
//! | ids: count × (u32 length + UTF-8) | … |
//! | f32: count × dims × f32 — or int8: count × f32 scale, then count × dims × i8 | … |
//! | metadata: count × (u32 length + JSON text; length 0 = none) | … |
//! | CRC-32 of everything above | 4 |

use serde_json::Value;

use crate::bytes::{Reader, Writer};
use crate::filter::Filter;
use crate::json::{JsonCodec, SerdeJson};
use crate::kernels::{check_dims, check_finite, cosine_from_parts, dot_unchecked, scalar};
use crate::quant::quantize_into;
use crate::recommend::{Objective, Recommendation, Strategy};
use crate::rerank::{
    checked_blend, checked_threshold, mmr, ranked, recency_from_age, RerankRequest, Reranked,
    Signals, Weights,
};
use crate::topk::{check_threshold, Scored, TopK};
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"VGCS";
const VERSION: u16 = 1;
/// Limits that keep a hostile file from asking for absurd allocations.
pub const MAX_DIMS: usize = 65_536;
pub const MAX_ITEMS: usize = 1_000_000;
pub const MAX_ID_BYTES: usize = 1024;

/// How vectors are stored in a candidate set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    F32,
    Int8,
}

/// A rerank request against a cached candidate set.
#[derive(Debug, Clone, Copy)]
pub struct CandidateQuery<'a> {
    pub query: &'a [f32],
    /// The user's preference vector, if any (the personalization signal).
    pub preference: Option<&'a [f32]>,
    pub k: usize,
    /// Minimum blended score.
    pub threshold: Option<f32>,
    /// Only items whose metadata matches are considered.
    pub filter: Option<&'a Filter>,
    pub weights: Weights,
    /// MMR diversity; `None` ranks by blended score alone.
    pub mmr_lambda: Option<f32>,
    /// Recency is measured from this year (core has no clock).
    pub current_year: f32,
}

/// A recommendation over a cached candidate set ([`CandidateSet::recommend`]).
#[derive(Debug, Clone, Copy)]
pub struct CandidateRecommend<'a> {
    /// Ids of items in the set.
    pub positive: &'a [&'a str],
    pub negative: &'a [&'a str],
    pub strategy: Strategy,
    /// A group's (preference vector, confidence).
    pub members: &'a [(&'a [f32], f32)],
    pub k: usize,
    pub threshold: Option<f32>,
    pub filter: Option<&'a Filter>,
}

/// MMR picks from the best `max(MMR_POOL_FACTOR·k, MMR_MIN_POOL)` items by blended score:
/// diversity among the relevant ones, at a cost independent of the set's size.
const MMR_POOL_FACTOR: usize = 4;
const MMR_MIN_POOL: usize = 32;

/// The int8 wire form; kept so that re-encoding is lossless.
#[derive(Debug, Clone, PartialEq)]
struct Int8Codes {
    scales: Vec<f32>,
    codes: Vec<i8>,
}

/// An ordered set of (id, vector, metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateSet {
    dims: usize,
    ids: Vec<String>,
    /// Row-major f32 vectors (dequantized for int8), so reranking reads them without copying.
    matrix: Vec<f32>,
    int8: Option<Int8Codes>,
    metadata: Vec<Option<Value>>,
    /// Derived once per item (when it is added or decoded), so that a rerank costs one or two dot
    /// products per item instead of re-validating and re-measuring every vector on every call.
    derived: Vec<Derived>,
}

/// What reranking needs of an item besides its vector and metadata.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Derived {
    /// |v|², so cosine is one dot product.
    sq_norm: f32,
    /// `metadata.year` (recency).
    year: Option<f32>,
    /// `metadata.popularity` in [0, 1], else `metadata.rating / 10` clamped to [0, 1].
    popularity: Option<f32>,
}

/// Cosine similarity from squared norms computed beforehand: one dot product. Recomputed in f64
/// when the f32 sums overflow (a decoded int8 set's vectors can be huge).
fn cosine(a: &[f32], a_sq: f32, b: &[f32], b_sq: f32) -> f32 {
    let ab = dot_unchecked(a, b);
    if ab.is_finite() && a_sq.is_finite() && b_sq.is_finite() {
        cosine_from_parts(ab, a_sq, b_sq)
    } else {
        scalar::cosine_f64(a, b)
    }
}

impl Derived {
    fn new(vector: &[f32], metadata: Option<&Value>) -> Derived {
        let number = |key: &str| metadata.and_then(|m| m.get(key)?.as_f64());
        Derived {
            sq_norm: dot_unchecked(vector, vector),
            // A year beyond f32's range gives no recency signal, like a missing one, rather
            // than making the whole set fail to rerank.
            year: number("year").map(|y| y as f32).filter(|y| y.is_finite()),
            popularity: number("popularity")
                .filter(|p| (0.0..=1.0).contains(p))
                .or_else(|| number("rating").map(|r| (r / 10.0).clamp(0.0, 1.0)))
                .map(|p| p as f32),
        }
    }
}

impl CandidateSet {
    /// An empty set of `dims`-dimensional vectors stored as `encoding`.
    pub fn new(dims: usize, encoding: Encoding) -> Result<Self> {
        if dims == 0 || dims > MAX_DIMS {
            return Err(Error::InvalidArgument(format!(
                "dims must be in 1..={MAX_DIMS}, got {dims}"
            )));
        }
        Ok(CandidateSet {
            dims,
            ids: Vec::new(),
            matrix: Vec::new(),
            int8: (encoding == Encoding::Int8).then(|| Int8Codes {
                scales: Vec::new(),
                codes: Vec::new(),
            }),
            metadata: Vec::new(),
            derived: Vec::new(),
        })
    }

    /// Appends one item. Err on an empty or over-long id, a dimension mismatch or NaN/inf.
    pub fn push(&mut self, id: &str, vector: &[f32], metadata: Option<Value>) -> Result<()> {
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return Err(Error::InvalidArgument(format!(
                "id must be 1..={MAX_ID_BYTES} bytes"
            )));
        }
        if self.ids.len() >= MAX_ITEMS {
            return Err(Error::InvalidArgument(format!(
                "a candidate set holds at most {MAX_ITEMS} items"
            )));
        }
        check_dims(self.dims, vector.len())?;
        check_finite(vector)?;
        match &mut self.int8 {
            None => self.matrix.extend_from_slice(vector),
            Some(Int8Codes { scales, codes }) => {
                let start = codes.len();
                codes.resize(start + self.dims, 0);
                let scale = quantize_into(vector, &mut codes[start..]);
                scales.push(scale);
                self.matrix
                    .extend(codes[start..].iter().map(|&c| c as f32 * scale));
            }
        }
        let start = self.matrix.len() - self.dims;
        self.derived
            .push(Derived::new(&self.matrix[start..], metadata.as_ref()));
        self.ids.push(id.to_owned());
        self.metadata.push(metadata);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn encoding(&self) -> Encoding {
        match self.int8 {
            None => Encoding::F32,
            Some(_) => Encoding::Int8,
        }
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    pub fn metadata(&self, i: usize) -> Option<&Value> {
        self.metadata.get(i).and_then(|m| m.as_ref())
    }

    /// The vector of item `i` (dequantized for int8). Panics if `i >= len()`.
    pub fn vector(&self, i: usize) -> &[f32] {
        &self.matrix[i * self.dims..(i + 1) * self.dims]
    }

    /// All vectors as one row-major matrix.
    pub fn matrix(&self) -> &[f32] {
        &self.matrix
    }

    /// Filters, blends (similarity, personalization, recency from `metadata.year`, popularity from
    /// `metadata.popularity` in [0, 1] or else `metadata.rating / 10`) and optionally diversifies
    /// with MMR. Returned indices refer to this set; best first.
    pub fn rerank(&self, q: &CandidateQuery<'_>) -> Result<Vec<Reranked>> {
        check_dims(self.dims, q.query.len())?;
        let pool = match q.mmr_lambda {
            None => q.k,
            Some(_) => q.k.saturating_mul(MMR_POOL_FACTOR).max(MMR_MIN_POOL),
        };
        let request = RerankRequest {
            query: q.query,
            preference: q.preference,
            weights: q.weights,
            current_year: q.current_year,
            k: pool,
            threshold: q.threshold,
        };
        let threshold = checked_threshold(&request)?;
        let query_sq = dot_unchecked(q.query, q.query);
        let preference = q.preference.map(|p| (p, dot_unchecked(p, p)));
        let empty = Value::Object(Default::default());
        // Blended like `rerank::rerank` over the matching items, numbered in set order.
        let mut matching = Vec::new();
        let mut signals = Vec::new();
        let mut top = TopK::new(pool, threshold);
        for (i, derived) in self.derived.iter().enumerate() {
            if !q
                .filter
                .is_none_or(|f| f.matches(self.metadata(i).unwrap_or(&empty)))
            {
                continue;
            }
            let candidate = matching.len();
            let row = self.vector(i);
            let item = Signals {
                similarity: cosine(q.query, query_sq, row, derived.sq_norm),
                personalization: preference
                    .map_or(0.0, |(p, p_sq)| cosine(p, p_sq, row, derived.sq_norm)),
                recency: derived
                    .year
                    .map_or(0.0, |year| recency_from_age(q.current_year - year)),
                popularity: derived.popularity.unwrap_or(0.0),
            };
            top.push(candidate, checked_blend(candidate, &item, &q.weights)?);
            matching.push(i);
            signals.push(item);
        }
        let ranked = ranked(top, &signals);
        let picked = match q.mmr_lambda {
            None => ranked,
            Some(lambda) => {
                let relevance: Vec<f32> = ranked.iter().map(|r| r.score).collect();
                let vectors: Vec<&[f32]> = ranked
                    .iter()
                    .map(|r| self.vector(matching[r.index]))
                    .collect();
                mmr(&relevance, &vectors, q.k, lambda)?
                    .into_iter()
                    .map(|j| ranked[j])
                    .collect()
            }
        };
        Ok(picked
            .into_iter()
            .map(|r| Reranked {
                index: matching[r.index],
                ..r
            })
            .collect())
    }

    /// Recommends from this set: examples are ids of items in the set (unknown ids are an
    /// error naming them), group members are given as preference vectors. Every item carrying an
    /// example's id is left out; `filter` restricts the rest. Best first, as [`Objective::rank`].
    pub fn recommend(&self, q: &CandidateRecommend<'_>) -> Result<Vec<Scored>> {
        // Plain loops: this ships in the npm package, where iterator chains cost .wasm bytes.
        let mut examples: [Vec<&[f32]>; 2] = [Vec::new(), Vec::new()];
        let mut missing = Vec::new();
        for (kind, ids) in [q.positive, q.negative].into_iter().enumerate() {
            for &id in ids {
                match self.ids.iter().position(|own| own == id) {
                    Some(i) => examples[kind].push(self.vector(i)),
                    None => missing.push(id),
                }
            }
        }
        if !missing.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "examples not in the candidate set: \"{}\"",
                missing.join("\", \"")
            )));
        }
        let [positive, negative] = examples;
        let objective = Objective::new(&Recommendation {
            positive,
            negative,
            strategy: q.strategy,
            members: q.members.to_vec(),
        })?;
        check_dims(self.dims, objective.dims())?;
        let threshold = q.threshold.unwrap_or(f32::NEG_INFINITY);
        check_threshold(threshold)?;
        let empty = Value::Object(Default::default());
        let mut top = TopK::new(q.k, threshold);
        for (i, id) in self.ids.iter().enumerate() {
            let id = id.as_str();
            if q.positive.contains(&id) || q.negative.contains(&id) {
                continue;
            }
            if let Some(filter) = q.filter {
                if !filter.matches(self.metadata(i).unwrap_or(&empty)) {
                    continue;
                }
            }
            top.push(i, objective.score(self.vector(i)));
        }
        Ok(top.into_sorted_vec())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with(&SerdeJson)
    }

    /// [`CandidateSet::to_bytes`] with metadata written by `json`.
    pub fn to_bytes_with(&self, json: &dyn JsonCodec) -> Vec<u8> {
        let vector_bytes = match &self.int8 {
            None => self.matrix.len() * 4,
            Some(q) => q.codes.len() + q.scales.len() * 4,
        };
        let mut w = Writer::with_capacity(24 + vector_bytes + self.len() * 64);
        w.bytes(MAGIC);
        w.u16(VERSION);
        w.u8(match self.encoding() {
            Encoding::F32 => 0,
            Encoding::Int8 => 1,
        });
        w.u8(0);
        w.u32(self.dims as u32);
        w.u32(self.len() as u32);
        for id in &self.ids {
            w.blob(id.as_bytes());
        }
        match &self.int8 {
            None => w.f32s(&self.matrix),
            Some(q) => {
                w.f32s(&q.scales);
                w.i8s(&q.codes);
            }
        }
        for m in &self.metadata {
            match m {
                Some(v) => w.blob(json.write(v).as_bytes()),
                None => w.u32(0),
            }
        }
        w.finish_with_crc()
    }

    /// Decodes and validates a candidate set. Never panics on hostile input.
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        Self::from_bytes_with(data, &SerdeJson)
    }

    /// [`CandidateSet::from_bytes`] with metadata parsed by `json`.
    pub fn from_bytes_with(data: &[u8], json: &dyn JsonCodec) -> Result<Self> {
        const WHAT: &str = "candidate set";
        if data.len() < 4 || &data[..4] != MAGIC {
            return Err(Error::Format(format!(
                "{WHAT}: not a vecgate candidate set (bad magic)"
            )));
        }
        let mut r = Reader::with_crc(data, WHAT)?;
        r.take(4)?;
        let version = r.u16()?;
        if version != VERSION {
            return Err(r.error(format!(
                "unsupported version {version} (this build reads {VERSION})"
            )));
        }
        let encoding = match r.u8()? {
            0 => Encoding::F32,
            1 => Encoding::Int8,
            e => return Err(r.error(format!("unknown vector encoding {e}"))),
        };
        r.u8()?;
        let dims = r.u32()? as usize;
        let count = r.u32()? as usize;
        if dims == 0 || dims > MAX_DIMS {
            return Err(r.error(format!("dims {dims} outside 1..={MAX_DIMS}")));
        }
        // Each item needs at least its id length, one vector and a metadata length.
        let min_item = 4 + 1 + dims + 4;
        if count > MAX_ITEMS || count.saturating_mul(min_item) > r.remaining() {
            return Err(r.error(format!("item count {count} does not fit the data")));
        }
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let id = r.str()?;
            if id.is_empty() || id.len() > MAX_ID_BYTES {
                return Err(r.error(format!("id length {} outside 1..={MAX_ID_BYTES}", id.len())));
            }
            ids.push(id.to_owned());
        }
        let (matrix, int8) = match encoding {
            Encoding::F32 => {
                let v = r.f32s(count * dims)?;
                check_finite(&v).map_err(|e| r.error(e))?;
                (v, None)
            }
            Encoding::Int8 => {
                let scales = r.f32s(count)?;
                // A scale is max|x| / 127, so a larger one would dequantize to infinity.
                if scales.iter().any(|s| !(0.0..=f32::MAX / 127.0).contains(s)) {
                    return Err(r.error("an int8 scale is negative, too large or not finite"));
                }
                let codes = r.i8s(count * dims)?;
                let matrix: Vec<f32> = codes
                    .chunks_exact(dims)
                    .zip(&scales)
                    .flat_map(|(row, &scale)| row.iter().map(move |&c| c as f32 * scale))
                    .collect();
                // The code -128 (which the quantizer never writes) can still overflow.
                check_finite(&matrix).map_err(|e| r.error(e))?;
                (matrix, Some(Int8Codes { scales, codes }))
            }
        };
        let mut metadata = Vec::with_capacity(count);
        for _ in 0..count {
            let raw = r.blob()?;
            metadata.push(if raw.is_empty() {
                None
            } else {
                Some(
                    json.parse(raw)
                        .map_err(|e| r.error(format!("metadata is not valid JSON: {e}")))?,
                )
            });
        }
        r.finish()?;
        let derived = matrix
            .chunks_exact(dims)
            .zip(&metadata)
            .map(|(vector, metadata)| Derived::new(vector, metadata.as_ref()))
            .collect();
        Ok(CandidateSet {
            dims,
            ids,
            matrix,
            int8,
            metadata,
            derived,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(encoding: Encoding) -> CandidateSet {
        let mut set = CandidateSet::new(3, encoding).unwrap();
        set.push(
            "movie-1",
            &[1.0, 0.0, 0.0],
            Some(json!({"title": "A", "year": 1999})),
        )
        .unwrap();
        set.push("movie-2", &[0.0, 0.6, 0.8], None).unwrap();
        set.push(
            "tv-3",
            &[-0.5, 0.5, 0.0],
            Some(json!({"genres": ["Drama"]})),
        )
        .unwrap();
        set
    }

    #[test]
    fn round_trips_both_encodings() {
        for enc in [Encoding::F32, Encoding::Int8] {
            let set = sample(enc);
            let back = CandidateSet::from_bytes(&set.to_bytes()).unwrap();
            assert_eq!(back, set);
            assert_eq!(back.len(), 3);
            assert_eq!(back.dims(), 3);
            assert_eq!(back.encoding(), enc);
            assert_eq!(back.ids()[2], "tv-3");
            assert_eq!(back.metadata(0).unwrap()["year"], 1999);
            assert!(back.metadata(1).is_none());
            let v = back.vector(1);
            assert!((v[1] - 0.6).abs() < 0.01 && (v[2] - 0.8).abs() < 0.01);
        }
        assert!(sample(Encoding::Int8).to_bytes().len() < sample(Encoding::F32).to_bytes().len());
    }

    #[test]
    fn recommend_leaves_out_the_examples_and_names_unknown_ones() {
        let set = sample(Encoding::F32);
        let ask = |positive: &[&str], negative: &[&str]| {
            set.recommend(&CandidateRecommend {
                positive,
                negative,
                strategy: Strategy::Average,
                members: &[],
                k: 10,
                threshold: None,
                filter: None,
            })
        };
        let hits = ask(&["movie-1"], &[]).unwrap();
        let ids: Vec<&str> = hits.iter().map(|h| set.ids()[h.index].as_str()).collect();
        assert_eq!(ids, ["movie-2", "tv-3"]);
        assert!((hits[1].score - cosine_from_parts(-0.5, 1.0, 0.5)).abs() < 1e-6);
        assert_eq!(ask(&["movie-1"], &["tv-3"]).unwrap().len(), 1);
        let message = ask(&["movie-1", "nope"], &["gone"])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("\"nope\"") && message.contains("\"gone\""),
            "{message}"
        );
    }

    #[test]
    fn push_validates() {
        let mut set = CandidateSet::new(3, Encoding::F32).unwrap();
        assert!(set.push("", &[0.0; 3], None).is_err());
        assert!(set.push("a", &[0.0; 2], None).is_err());
        assert!(set.push("a", &[0.0, f32::NAN, 0.0], None).is_err());
        assert!(CandidateSet::new(0, Encoding::F32).is_err());
    }

    #[test]
    fn every_truncation_and_flip_is_an_error() {
        let bytes = sample(Encoding::Int8).to_bytes();
        for n in 0..bytes.len() {
            assert!(CandidateSet::from_bytes(&bytes[..n]).is_err(), "prefix {n}");
        }
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert!(CandidateSet::from_bytes(&b).is_err(), "flip at {i}");
            }
        }
    }

    fn query(q: &[f32]) -> CandidateQuery<'_> {
        CandidateQuery {
            query: q,
            preference: None,
            k: 10,
            threshold: None,
            filter: None,
            weights: Weights {
                similarity: 1.0,
                personalization: 0.0,
                recency: 0.0,
                popularity: 0.0,
            },
            mmr_lambda: None,
            current_year: 2026.0,
        }
    }

    #[test]
    fn rerank_by_similarity_filter_and_mmr() {
        let set = sample(Encoding::F32);
        let q = [1.0, 0.1, 0.0];
        let hits = set.rerank(&query(&q)).unwrap();
        let order: Vec<usize> = hits.iter().map(|h| h.index).collect();
        assert_eq!(order, vec![0, 1, 2]);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));

        let drama = Filter::parse(&json!({"genres": "Drama"})).unwrap();
        let hits = set
            .rerank(&CandidateQuery {
                filter: Some(&drama),
                ..query(&q)
            })
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].index, 2);

        let hits = set
            .rerank(&CandidateQuery {
                k: 2,
                threshold: Some(0.5),
                ..query(&q)
            })
            .unwrap();
        assert_eq!(hits.len(), 1, "only movie-1 scores >= 0.5");

        // Near-duplicates: MMR with a low lambda puts the distinct item second.
        let mut dup = CandidateSet::new(2, Encoding::F32).unwrap();
        dup.push("a", &[1.0, 0.0], None).unwrap();
        dup.push("a2", &[0.99, 0.05], None).unwrap();
        dup.push("b", &[0.6, 0.8], None).unwrap();
        let q2 = [1.0, 0.0];
        let plain = dup.rerank(&query(&q2)).unwrap();
        assert_eq!(
            plain.iter().map(|h| h.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let diverse = dup
            .rerank(&CandidateQuery {
                mmr_lambda: Some(0.3),
                ..query(&q2)
            })
            .unwrap();
        assert_eq!(
            diverse.iter().map(|h| h.index).collect::<Vec<_>>(),
            vec![0, 2, 1]
        );
        assert!(set.rerank(&query(&[1.0, 0.0])).is_err());
    }

    #[test]
    fn recency_and_popularity_come_from_metadata() {
        let mut set = CandidateSet::new(2, Encoding::F32).unwrap();
        set.push(
            "old",
            &[1.0, 0.0],
            Some(json!({"year": 1950, "rating": 9.0})),
        )
        .unwrap();
        set.push(
            "new",
            &[1.0, 0.0],
            Some(json!({"year": 2026, "rating": 5.0})),
        )
        .unwrap();
        let only = |recency: f32, popularity: f32| Weights {
            similarity: 0.0,
            personalization: 0.0,
            recency,
            popularity,
        };
        let q = [1.0, 0.0];
        let by_recency = set
            .rerank(&CandidateQuery {
                weights: only(1.0, 0.0),
                ..query(&q)
            })
            .unwrap();
        assert_eq!(set.ids()[by_recency[0].index], "new");
        assert!((by_recency[0].score - 1.0).abs() < 1e-6);
        let by_popularity = set
            .rerank(&CandidateQuery {
                weights: only(0.0, 1.0),
                ..query(&q)
            })
            .unwrap();
        assert_eq!(set.ids()[by_popularity[0].index], "old");
        assert!((by_popularity[0].score - 0.9).abs() < 1e-6);
    }

    /// Re-signs a tampered body so the checks behind the CRC are exercised.
    #[test]
    fn rerank_matches_the_generic_rerank_over_the_same_items() {
        use crate::rerank::{rerank, Candidate};
        let mut set = CandidateSet::new(4, Encoding::F32).unwrap();
        for i in 0..40u16 {
            let x = f32::from(i);
            let metadata = json!({"year": 1980 + i % 40, "rating": f64::from(i % 11)});
            set.push(
                &format!("item-{i}"),
                &[x.sin(), x.cos(), 0.3 * x, 1.0],
                Some(metadata),
            )
            .unwrap();
        }
        let preference = [0.5, -0.5, 0.1, 0.0];
        let mut q = query(&[0.2, 0.9, 0.1, 0.3]);
        q.preference = Some(&preference);
        q.weights = Weights::default();
        q.k = 7;
        let candidates: Vec<Candidate<'_>> = (0..set.len())
            .map(|i| {
                let derived = set.derived[i];
                Candidate {
                    vector: set.vector(i),
                    year: derived.year,
                    popularity: derived.popularity,
                }
            })
            .collect();
        let request = RerankRequest {
            query: q.query,
            preference: q.preference,
            weights: q.weights,
            current_year: q.current_year,
            k: q.k,
            threshold: q.threshold,
        };
        let expected = rerank(&candidates, &request).unwrap();
        let got = set.rerank(&q).unwrap();
        assert_eq!(got.len(), expected.len());
        for (got, expected) in got.iter().zip(&expected) {
            assert_eq!(got.index, expected.index);
            assert!(
                (got.score - expected.score).abs() < 1e-5,
                "{got:?} vs {expected:?}"
            );
        }
    }

    fn resign(mut body: Vec<u8>) -> Vec<u8> {
        body.truncate(body.len() - 4);
        let crc = crate::checksum::crc32(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn hostile_headers_are_rejected_without_allocating() {
        let good = sample(Encoding::F32).to_bytes();
        let mut huge_count = good.clone();
        huge_count[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = CandidateSet::from_bytes(&resign(huge_count)).unwrap_err();
        assert!(err.to_string().contains("item count"), "{err}");
        let mut huge_dims = good.clone();
        huge_dims[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(CandidateSet::from_bytes(&resign(huge_dims)).is_err());
        let mut version = good.clone();
        version[4] = 9;
        let err = CandidateSet::from_bytes(&resign(version)).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        let mut nan = good.clone();
        // First vector component follows the header (16) and three ids (4+7, 4+7, 4+4).
        nan[46..50].copy_from_slice(&f32::NAN.to_le_bytes());
        let err = CandidateSet::from_bytes(&resign(nan)).unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
        assert!(CandidateSet::from_bytes(b"nope").is_err());
    }
}
