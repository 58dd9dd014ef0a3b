//! Personalization, the rerank blend and MMR over vectors passed per call.

use js_sys::Array;
use vecgate_core::rerank::{self, Candidate, RerankRequest, Signals, Weights, DEFAULT_MMR_LAMBDA};
use vecgate_core::Error;
use wasm_bindgen::prelude::*;

use crate::convert::{
    is_absent, number_value, object, optional_number, optional_numbers, optional_whole_number,
    row_count, vector, whole_number, Options, DEFAULT_K,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_RERANK: &'static str = r#"
/** Blend weights; a missing weight takes its default (0.5, 0.25, 0.15, 0.1). */
export interface Weights {
  similarity?: number;
  personalization?: number;
  recency?: number;
  popularity?: number;
}
/** Options of `rerank(matrix, dims, options)`. */
export interface RerankOptions {
  query: VectorInput;
  /** The user's preference vector: the personalization signal. */
  preference?: VectorInput | null;
  /** Release year of each row (`null` when unknown): the recency signal. */
  years?: (number | null)[];
  /** Popularity of each row in [0, 1] (`null` when unknown). */
  popularity?: (number | null)[];
  weights?: Weights;
  /** How many results at most; default 10. */
  k?: number;
  /** Minimum blended score. */
  threshold?: number | null;
  /** Recency is measured from this year; default: the current year. */
  currentYear?: number;
}
/** The four signals behind a blended score. */
export interface Signals {
  similarity: number;
  personalization: number;
  recency: number;
  popularity: number;
}
export interface RerankHit { index: number; score: number; signals: Signals; }
"#;

/// The current calendar year, from the JS clock (core has none).
fn this_year() -> f32 {
    js_sys::Date::new_0().get_full_year() as f32
}

/// The personalized query: normalize(0.7·query + 0.3·confidence·preference).
#[wasm_bindgen]
pub fn personalize(
    query: &[f32],
    preference: &[f32],
    confidence: f32,
) -> Result<Vec<f32>, JsError> {
    Ok(rerank::personalize(query, preference, confidence)?)
}

/// The keys of `RerankOptions`.
const RERANK_FIELDS: &[&str] = &[
    "query",
    "preference",
    "years",
    "popularity",
    "weights",
    "k",
    "threshold",
    "currentYear",
];

/// Per-row values (years, popularity) must line up with the matrix rows.
fn per_row(name: &str, value: &JsValue, rows: usize) -> Result<Vec<Option<f32>>, Error> {
    let values = optional_numbers(name, value)?.unwrap_or_else(|| vec![None; rows]);
    if values.len() != rows {
        return Err(Error::InvalidArgument(format!(
            "{name} has {} entries for {rows} rows",
            values.len()
        )));
    }
    Ok(values)
}

/// The options every rerank shares: the query, the preference vector, k, threshold, weights and
/// the current year.
pub(crate) struct Common {
    pub query: Vec<f32>,
    pub preference: Option<Vec<f32>>,
    pub k: usize,
    pub threshold: Option<f32>,
    pub weights: Weights,
    pub current_year: f32,
}

impl Common {
    /// Reads the shared fields of an options object.
    pub(crate) fn read(options: &Options<'_>) -> Result<Common, Error> {
        let preference = options.get("preference");
        Ok(Common {
            query: vector("query", &options.required("query")?)?,
            preference: if is_absent(&preference) {
                None
            } else {
                Some(vector("preference", &preference)?)
            },
            k: optional_whole_number("k", &options.get("k"), DEFAULT_K)?,
            threshold: optional_number("threshold", &options.get("threshold"))?.map(|t| t as f32),
            weights: weights(&options.get("weights"))?,
            current_year: optional_number("currentYear", &options.get("currentYear"))?
                .map_or_else(this_year, |y| y as f32),
        })
    }
}

/// Blend weights from `{ similarity?, personalization?, recency?, popularity? }`; a missing
/// weight keeps its default (core validates the values).
fn weights(value: &JsValue) -> Result<Weights, Error> {
    let mut weights = Weights::default();
    if is_absent(value) {
        return Ok(weights);
    }
    let options = Options::read("weights", value, &SIGNAL_NAMES)?;
    let slots = [
        &mut weights.similarity,
        &mut weights.personalization,
        &mut weights.recency,
        &mut weights.popularity,
    ];
    for (name, weight) in SIGNAL_NAMES.into_iter().zip(slots) {
        if let Some(value) = optional_number(name, &options.get(name))? {
            *weight = value as f32;
        }
    }
    Ok(weights)
}

/// The four signals a score blends, in the order of `Weights` and `Signals` fields.
const SIGNAL_NAMES: [&str; 4] = ["similarity", "personalization", "recency", "popularity"];

fn signals_to_js(signals: &Signals) -> JsValue {
    let values = [
        signals.similarity,
        signals.personalization,
        signals.recency,
        signals.popularity,
    ];
    let fields: Vec<(&str, JsValue)> = SIGNAL_NAMES
        .into_iter()
        .zip(values.map(number_value))
        .collect();
    object(&fields)
}

/// Reranks the rows of `matrix` by 0.5·similarity + 0.25·personalization + 0.15·recency +
/// 0.1·popularity (the weights are options) and returns the best `k`, best first.
#[wasm_bindgen(js_name = rerank, unchecked_return_type = "RerankHit[]")]
pub fn rerank_matrix(
    matrix: &[f32],
    dims: f64,
    #[wasm_bindgen(unchecked_param_type = "RerankOptions")] options: JsValue,
) -> Result<JsValue, JsError> {
    let dims = whole_number("dims", dims)?;
    let rows = row_count(matrix.len(), dims)?;
    let options = Options::read("rerank options", &options, RERANK_FIELDS)?;
    let years = per_row("years", &options.get("years"), rows)?;
    let popularity = per_row("popularity", &options.get("popularity"), rows)?;
    let common = Common::read(&options)?;
    let candidates: Vec<Candidate<'_>> = matrix
        .chunks_exact(dims)
        .zip(years.into_iter().zip(popularity))
        .map(|(vector, (year, popularity))| Candidate {
            vector,
            year,
            popularity,
        })
        .collect();
    let request = RerankRequest {
        query: &common.query,
        preference: common.preference.as_deref(),
        weights: common.weights,
        current_year: common.current_year,
        k: common.k,
        threshold: common.threshold,
    };
    Ok(rerank::rerank(&candidates, &request)?
        .iter()
        .map(|hit| {
            object(&[
                ("index", JsValue::from_f64(hit.index as f64)),
                ("score", number_value(hit.score)),
                ("signals", signals_to_js(&hit.signals)),
            ])
        })
        .collect::<Array>()
        .into())
}

/// Maximal Marginal Relevance: up to `k` row indices of `matrix` in pick order, trading
/// `relevance` (one score per row) against similarity to the rows already picked. λ = 1 is pure
/// relevance order; the default λ is 0.85.
#[wasm_bindgen]
pub fn mmr(
    relevance: &[f32],
    matrix: &[f32],
    dims: f64,
    k: f64,
    lambda: Option<f32>,
) -> Result<Vec<u32>, JsError> {
    let dims = whole_number("dims", dims)?;
    row_count(matrix.len(), dims)?;
    let k = whole_number("k", k)?;
    let vectors: Vec<&[f32]> = matrix.chunks_exact(dims).collect();
    let picked = rerank::mmr(relevance, &vectors, k, lambda.unwrap_or(DEFAULT_MMR_LAMBDA))?;
    // Indices are below the row count, which fits in u32 on wasm32.
    Ok(picked.into_iter().map(|i| i as u32).collect())
}
