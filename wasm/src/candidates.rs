//! The `CandidateSet` class: a cached candidate set, loaded from its binary format (or built
//! item by item) and reranked in the browser.

use js_sys::Array;
use serde_json::Value;
use vecgate_core::candidates::{self, CandidateQuery, Encoding};
use vecgate_core::Error;
use wasm_bindgen::prelude::*;

use crate::convert::{
    is_absent, item_index, json_from_js, json_to_js, number_value, object, optional_choice,
    optional_number, parse_filter, whole_number, JsJson, Options,
};
use crate::rerank::Common;

#[wasm_bindgen(typescript_custom_section)]
const TS_CANDIDATES: &'static str = r#"
/** How a candidate set stores vectors: 4 bytes per component, or 1 plus a scale per item. */
export type Encoding = "f32" | "int8";
/**
 * A filter in vecgate's filter language, as an object or as JSON text:
 * `{ media_type: "movie", genres: ["Animation"], year: { $gte: 1990 } }`,
 * with `$eq $ne $in $nin $lt $lte $gt $gte` and `$and` / `$or`.
 */
export type Filter = { [key: string]: JsonValue } | string;
/** Options of `CandidateSet.rerank`. */
export interface CandidateRerankOptions {
  query: VectorInput;
  /** The user's preference vector: the personalization signal. */
  preference?: VectorInput | null;
  /** How many results at most; default 10. */
  k?: number;
  /** Minimum blended score. */
  threshold?: number | null;
  /** Only items whose metadata matches are ranked. */
  filter?: Filter | null;
  weights?: Weights;
  /** MMR diversity λ in [0, 1] (0.85 is the usual choice); omitted: no diversification. */
  mmrLambda?: number | null;
  /** Recency (from `metadata.year`) is measured from this year; default: the current year. */
  currentYear?: number;
}
/** A reranked item of a candidate set. */
export interface CandidateHit {
  /** Position of the item in the set. */
  index: number;
  id: string;
  score: number;
  metadata: Metadata | null;
}
"#;

/// An ordered set of (id, vector, metadata) to rerank locally.
#[wasm_bindgen]
pub struct CandidateSet {
    inner: candidates::CandidateSet,
}

/// The keys of `CandidateRerankOptions`.
const RERANK_FIELDS: &[&str] = &[
    "query",
    "preference",
    "k",
    "threshold",
    "filter",
    "weights",
    "mmrLambda",
    "currentYear",
];

// JS reads `.len`; an `isEmpty` would only widen the API.
#[allow(clippy::len_without_is_empty)]
#[wasm_bindgen]
impl CandidateSet {
    /// An empty set of `dims`-dimensional vectors, stored as "f32" (default) or "int8".
    #[wasm_bindgen(constructor)]
    pub fn new(
        dims: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "Encoding")] encoding: JsValue,
    ) -> Result<CandidateSet, JsError> {
        let dims = whole_number("dims", dims)?;
        let encoding = match optional_choice("encoding", &encoding, &["f32", "int8"])? {
            Some("int8") => Encoding::Int8,
            _ => Encoding::F32,
        };
        Ok(CandidateSet {
            inner: candidates::CandidateSet::new(dims, encoding)?,
        })
    }

    /// Decodes the binary candidate-set format (as sent by `POST /v1/candidates`); corrupted,
    /// truncated or unsupported bytes throw.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<CandidateSet, JsError> {
        Ok(CandidateSet {
            inner: candidates::CandidateSet::from_bytes_with(bytes, &JsJson)?,
        })
    }

    /// Encodes the set in the binary format (versioned and checksummed).
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.to_bytes_with(&JsJson)
    }

    /// Appends one item. `metadata`, when given, must be a JSON object.
    pub fn push(
        &mut self,
        id: &str,
        vector: &[f32],
        #[wasm_bindgen(unchecked_optional_param_type = "Metadata | null")] metadata: JsValue,
    ) -> Result<(), JsError> {
        let metadata = if is_absent(&metadata) {
            None
        } else {
            match json_from_js("metadata", &metadata)? {
                object @ Value::Object(_) => Some(object),
                _ => return Err(Error::InvalidArgument("metadata must be an object".into()).into()),
            }
        };
        Ok(self.inner.push(id, vector, metadata)?)
    }

    /// Number of items.
    #[wasm_bindgen(getter)]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    #[wasm_bindgen(getter)]
    pub fn dims(&self) -> usize {
        self.inner.dims()
    }

    #[wasm_bindgen(getter, unchecked_return_type = "Encoding")]
    pub fn encoding(&self) -> String {
        match self.inner.encoding() {
            Encoding::F32 => "f32",
            Encoding::Int8 => "int8",
        }
        .into()
    }

    /// The ids, in set order.
    pub fn ids(&self) -> Vec<String> {
        self.inner.ids().to_vec()
    }

    /// The id of item `index`.
    pub fn id(&self, index: f64) -> Result<String, JsError> {
        let index = item_index(index, self.inner.len())?;
        Ok(self.inner.ids()[index].clone())
    }

    /// The vector of item `index` (dequantized for "int8").
    pub fn vector(&self, index: f64) -> Result<Vec<f32>, JsError> {
        let index = item_index(index, self.inner.len())?;
        Ok(self.inner.vector(index).to_vec())
    }

    /// The metadata of item `index`, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Metadata | null")]
    pub fn metadata(&self, index: f64) -> Result<JsValue, JsError> {
        let index = item_index(index, self.inner.len())?;
        Ok(json_to_js(self.inner.metadata(index)))
    }

    /// Filters, then ranks by 0.5·similarity + 0.25·personalization + 0.15·recency (from
    /// `metadata.year`) + 0.1·popularity (`metadata.popularity` in [0, 1], else
    /// `metadata.rating / 10`), optionally diversified with MMR; the best `k`, best first.
    #[wasm_bindgen(unchecked_return_type = "CandidateHit[]")]
    pub fn rerank(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CandidateRerankOptions")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        let options = Options::read("rerank options", &options, RERANK_FIELDS)?;
        let filter = options.get("filter");
        let filter = if is_absent(&filter) {
            None
        } else {
            Some(parse_filter(&filter)?)
        };
        let mmr_lambda = optional_number("mmrLambda", &options.get("mmrLambda"))?;
        let common = Common::read(&options)?;
        let query = CandidateQuery {
            query: &common.query,
            preference: common.preference.as_deref(),
            k: common.k,
            threshold: common.threshold,
            filter: filter.as_ref(),
            weights: common.weights,
            mmr_lambda: mmr_lambda.map(|l| l as f32),
            current_year: common.current_year,
        };
        Ok(self
            .inner
            .rerank(&query)?
            .iter()
            .map(|hit| {
                object(&[
                    ("index", JsValue::from_f64(hit.index as f64)),
                    ("id", JsValue::from_str(&self.inner.ids()[hit.index])),
                    ("score", number_value(hit.score)),
                    ("metadata", json_to_js(self.inner.metadata(hit.index))),
                ])
            })
            .collect::<Array>()
            .into())
    }
}
