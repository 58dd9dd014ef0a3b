//! The `CandidateSet` class: a cached candidate set, loaded from its binary format (or built
//! item by item) and reranked in the browser.

use js_sys::Array;
use serde_json::Value;
use vecgate_core::candidates::{self, CandidateQuery, Encoding};
use vecgate_core::recommend::Strategy;
use vecgate_core::Error;
use wasm_bindgen::prelude::*;

use crate::convert::{
    is_absent, item_index, json_from_js, json_to_js, number, number_value, object, optional_choice,
    optional_number, optional_whole_number, parse_filter, strings, vector, whole_number, JsJson,
    Options, DEFAULT_K,
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
/** Options of `CandidateSet.recommend`: examples by id within the set, and/or a group. */
export interface CandidateRecommendOptions {
  /** Ids of items in the set to find more like. */
  positive?: string[];
  /** Ids of items in the set to steer away from. */
  negative?: string[];
  /**
   * "average" (default): cosine to normalize(avg(positive) + (avg(positive) − avg(negative))).
   * "best_score": the best cosine to a positive, or −(best cosine to a negative)² when a
   * negative is at least as close. As the server's `POST /v1/recommend`.
   */
  strategy?: "average" | "best_score";
  /**
   * Members' preferences (e.g. from `GET /v1/users/{id}/preference` or `updatePreference`):
   * items score 0.6·min + 0.4·mean of the members' cosine; positives join as members of
   * confidence 1.
   */
  group?: { vector: VectorInput; confidence: number }[];
  /** How many results at most; default 10. */
  k?: number;
  /** Minimum recommendation score. */
  threshold?: number | null;
  /** Only items whose metadata matches are recommended. */
  filter?: Filter | null;
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

/// The keys of `CandidateRecommendOptions`.
const RECOMMEND_FIELDS: &[&str] = &[
    "positive",
    "negative",
    "strategy",
    "group",
    "k",
    "threshold",
    "filter",
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
        let hits = self.inner.rerank(&query)?;
        Ok(self.hits_to_js(hits.iter().map(|hit| (hit.index, hit.score))))
    }

    /// Recommends from the set: examples are ids of its items (never returned), `group` holds
    /// members' preferences; scored as the server's `POST /v1/recommend`. Best first.
    #[wasm_bindgen(unchecked_return_type = "CandidateHit[]")]
    pub fn recommend(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CandidateRecommendOptions")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        let options = Options::read("recommend options", &options, RECOMMEND_FIELDS)?;
        let ids = |name: &str| -> Result<Vec<String>, Error> {
            let value = options.get(name);
            if is_absent(&value) {
                Ok(Vec::new())
            } else {
                strings(name, &value)
            }
        };
        let (positive, negative) = (ids("positive")?, ids("negative")?);
        let strategy = match optional_choice(
            "strategy",
            &options.get("strategy"),
            &["average", "best_score"],
        )? {
            Some("best_score") => Strategy::BestScore,
            _ => Strategy::Average,
        };
        let group = options.get("group");
        let members = if is_absent(&group) {
            Vec::new()
        } else {
            group_members(&group)?
        };
        let filter = options.get("filter");
        let filter = if is_absent(&filter) {
            None
        } else {
            Some(parse_filter(&filter)?)
        };
        let hits = self.inner.recommend(&candidates::CandidateRecommend {
            positive: &as_strs(&positive),
            negative: &as_strs(&negative),
            strategy,
            members: &members
                .iter()
                .map(|(v, c)| (v.as_slice(), *c))
                .collect::<Vec<_>>(),
            k: optional_whole_number("k", &options.get("k"), DEFAULT_K)?,
            threshold: optional_number("threshold", &options.get("threshold"))?.map(|t| t as f32),
            filter: filter.as_ref(),
        })?;
        Ok(self.hits_to_js(hits.iter().map(|hit| (hit.index, hit.score))))
    }
}

impl CandidateSet {
    /// `CandidateHit[]` from (index, score) pairs.
    fn hits_to_js(&self, hits: impl Iterator<Item = (usize, f32)>) -> JsValue {
        hits.map(|(index, score)| {
            object(&[
                ("index", JsValue::from_f64(index as f64)),
                ("id", JsValue::from_str(&self.inner.ids()[index])),
                ("score", number_value(score)),
                ("metadata", json_to_js(self.inner.metadata(index))),
            ])
        })
        .collect::<Array>()
        .into()
    }
}

/// `[{vector, confidence}, …]`; other keys (a stored preference's genre affinities) are ignored.
fn group_members(value: &JsValue) -> Result<Vec<(Vec<f32>, f32)>, Error> {
    let Some(array) = value.dyn_ref::<Array>() else {
        return Err(Error::InvalidArgument(
            "group must be an array of { vector, confidence }".into(),
        ));
    };
    let mut members = Vec::new();
    for member in array.iter() {
        // Core's errors name a bad member by its position.
        let member = Options::any_keys("a group member", &member)?;
        let vector = vector("a group member's vector", &member.required("vector")?)?;
        let confidence = number(
            "a group member's confidence",
            &member.required("confidence")?,
        )?;
        members.push((vector, confidence as f32));
    }
    Ok(members)
}

fn as_strs(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}
