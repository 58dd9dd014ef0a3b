//! Request bodies and their validation. Everything a client sends is checked here, before any
//! store sees it; a failure is a 400 that says what and where.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use vecgate_core::candidates::Encoding;
use vecgate_core::filter::Filter;
use vecgate_core::kernels::{check_dims, normalize};
use vecgate_core::preference::{UserPreference, WatchEvent};
use vecgate_core::recommend::Strategy;

use super::error::ApiError;
use crate::embed::MAX_EMBED_TEXTS;
use crate::store::ContentItem;

pub const MAX_ID_BYTES: usize = 256;
pub const MAX_K: usize = 1000;
pub const DEFAULT_K: usize = 10;
pub const MAX_BATCH: usize = 1000;
pub const MAX_CANDIDATES: usize = 5000;
pub const DEFAULT_CANDIDATES: usize = 200;
pub const MAX_TEXT_BYTES: usize = 8192;
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "request body is empty; expected JSON",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

pub fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must be 1..={MAX_ID_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// A unit-length copy of a client vector of the configured dimension.
pub fn check_vector(what: &str, v: &[f32], dims: usize) -> Result<Vec<f32>, ApiError> {
    let err = |e: vecgate_core::Error| ApiError::bad_request(format!("{what}: {e}"));
    check_dims(dims, v.len()).map_err(err)?;
    let unit = normalize(v).map_err(err)?;
    if unit.iter().all(|&x| x == 0.0) {
        return Err(ApiError::bad_request(format!("{what} is a zero vector")));
    }
    Ok(unit)
}

pub fn check_k(k: Option<i64>, default: usize, max: usize, name: &str) -> Result<usize, ApiError> {
    match k {
        None => Ok(default),
        Some(k) if k >= 1 && k as u64 <= max as u64 => Ok(k as usize),
        Some(k) => Err(ApiError::bad_request(format!(
            "{name} must be in 1..={max}, got {k}"
        ))),
    }
}

pub fn check_threshold(t: Option<f64>) -> Result<Option<f32>, ApiError> {
    match t {
        None => Ok(None),
        Some(t) if t.is_finite() && (-1.0..=1.0).contains(&t) => Ok(Some(t as f32)),
        Some(t) => Err(ApiError::bad_request(format!(
            "threshold must be a cosine similarity in [-1, 1], got {t}"
        ))),
    }
}

/// A search's `min_recall` and `exact`: `exact: true` or a `min_recall` of 1 scan exactly.
pub fn check_recall_wish(
    min_recall: Option<f64>,
    exact: bool,
) -> Result<super::recall::RecallWish, ApiError> {
    use super::recall::RecallWish;
    // An out-of-range min_recall is refused even beside `exact: true`, which would make it moot:
    // a request the spec calls invalid is never answered 200.
    let wish = match min_recall {
        None => RecallWish::Target,
        Some(1.0) => RecallWish::Exact,
        Some(r) if r.is_finite() && r > 0.0 && r < 1.0 => RecallWish::AtLeast(r),
        Some(r) => {
            return Err(ApiError::bad_request(format!(
                "min_recall must be a recall@k in (0, 1], got {r}"
            )))
        }
    };
    Ok(if exact { RecallWish::Exact } else { wish })
}

pub fn parse_filter(filter: Option<&Value>) -> Result<Option<Filter>, ApiError> {
    filter
        .map(|f| {
            // The search log keeps the filter as jsonb, which cannot hold NUL.
            if contains_nul(f) {
                return Err(ApiError::bad_request(
                    "filter must not contain NUL characters",
                ));
            }
            Filter::parse(f).map_err(ApiError::from)
        })
        .transpose()
}

/// Whether a key or a string anywhere in `value` holds NUL. Postgres text and jsonb cannot, so
/// the API refuses it everywhere and both stores agree.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// A field that may be left out but not sent as `null`: `{"text": "…", "vector": null}` is
/// not a text query (the schema says a vector is an array).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    #[serde(default, deserialize_with = "present")]
    pub vector: Option<Vec<f32>>,
    #[serde(default, deserialize_with = "present")]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub k: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub threshold: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub filter: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub personalize: bool,
    #[serde(default)]
    pub include: Vec<Include>,
    /// At least this recall@k, or an exact scan (see [`super::recall::RecallWish`]).
    #[serde(default, deserialize_with = "present")]
    pub min_recall: Option<f64>,
    #[serde(default)]
    pub exact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Include {
    Metadata,
    Vector,
}

/// Where the query vector comes from: exactly one of `vector` and `text`.
pub enum QuerySource {
    Vector(Vec<f32>),
    Text(String),
}

/// A text to embed: not blank, at most `MAX_TEXT_BYTES` (the model reads its first 256 tokens).
pub fn check_text(what: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{what} is empty")));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::bad_request(format!(
            "{what} is over {MAX_TEXT_BYTES} bytes"
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedBody {
    pub texts: Vec<String>,
}

impl EmbedBody {
    pub fn check(&self) -> Result<(), ApiError> {
        let n = self.texts.len();
        if !(1..=MAX_EMBED_TEXTS).contains(&n) {
            return Err(ApiError::bad_request(format!(
                "texts must hold 1 to {MAX_EMBED_TEXTS} texts, got {n}"
            )));
        }
        for (i, text) in self.texts.iter().enumerate() {
            check_text(&format!("texts[{i}]"), text)?;
        }
        Ok(())
    }
}

pub fn query_source(
    vector: Option<Vec<f32>>,
    text: Option<String>,
    dims: usize,
) -> Result<QuerySource, ApiError> {
    match (vector, text) {
        (Some(v), None) => Ok(QuerySource::Vector(check_vector("vector", &v, dims)?)),
        (None, Some(t)) => {
            check_text("text", &t)?;
            Ok(QuerySource::Text(t))
        }
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "give either vector or text, not both",
        )),
        (None, None) => Err(ApiError::bad_request("give a query: vector or text")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidatesBody {
    #[serde(default, deserialize_with = "present")]
    pub vector: Option<Vec<f32>>,
    #[serde(default, deserialize_with = "present")]
    pub text: Option<String>,
    /// With neither vector nor text: the user's preference vector is the query.
    #[serde(default, deserialize_with = "present")]
    pub user_id: Option<String>,
    /// How many candidates (default 200, at most 5000).
    #[serde(default, deserialize_with = "present")]
    pub n: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub filter: Option<Value>,
    #[serde(default = "default_encoding")]
    pub encoding: Encoding,
}

fn default_encoding() -> Encoding {
    Encoding::Int8
}

/// Examples of each kind in one recommendation.
pub const MAX_EXAMPLES: usize = 32;
/// Members of a group recommendation.
pub const GROUP_SIZE: std::ops::RangeInclusive<usize> = 2..=20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendBody {
    #[serde(default)]
    pub positive: Vec<String>,
    #[serde(default)]
    pub negative: Vec<String>,
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default, deserialize_with = "present")]
    pub user_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub k: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub threshold: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub filter: Option<Value>,
    #[serde(default)]
    pub include: Vec<Include>,
}

impl RecommendBody {
    /// The limits and shape rules the schema states; the ids' existence is the store's to say.
    pub fn check(&self) -> Result<(), ApiError> {
        for (name, ids) in [("positive", &self.positive), ("negative", &self.negative)] {
            if ids.len() > MAX_EXAMPLES {
                return Err(ApiError::bad_request(format!(
                    "{name} holds at most {MAX_EXAMPLES} ids, got {}",
                    ids.len()
                )));
            }
            for (i, id) in ids.iter().enumerate() {
                check_id(&format!("{name}[{i}]"), id)?;
            }
        }
        if let Some(both) = self.positive.iter().find(|id| self.negative.contains(id)) {
            return Err(ApiError::bad_request(format!(
                "{both:?} is both a positive and a negative example"
            )));
        }
        match &self.user_ids {
            None if self.positive.is_empty() => Err(ApiError::bad_request(
                "give at least one positive example, or user_ids for a group",
            )),
            None => Ok(()),
            Some(users) => {
                if !GROUP_SIZE.contains(&users.len()) {
                    return Err(ApiError::bad_request(format!(
                        "user_ids must hold {} to {} users, got {}",
                        GROUP_SIZE.start(),
                        GROUP_SIZE.end(),
                        users.len()
                    )));
                }
                let mut seen = std::collections::HashSet::new();
                for (i, user) in users.iter().enumerate() {
                    check_id(&format!("user_ids[{i}]"), user)?;
                    if !seen.insert(user) {
                        return Err(ApiError::bad_request(format!(
                            "user_ids[{i}]: {user:?} is listed twice"
                        )));
                    }
                }
                if self.strategy == Strategy::BestScore {
                    return Err(ApiError::bad_request(
                        "a group is scored by the group formula; strategy best_score applies to \
                         examples alone",
                    ));
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertBody {
    pub items: Vec<ContentItem>,
}

/// Validates a batch; the first bad item fails the whole batch with its index in the message.
pub fn check_items(items: &mut [ContentItem], dims: usize) -> Result<(), ApiError> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "items must hold 1..={MAX_BATCH} items, got {}",
            items.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter_mut().enumerate() {
        let at = |m: String| ApiError::bad_request(format!("items[{i}]: {m}"));
        check_id("id", &item.id).map_err(|e| at(e.message))?;
        if !seen.insert(item.id.clone()) {
            return Err(at(format!("duplicate id {:?} in the batch", item.id)));
        }
        if item
            .content_id
            .is_some_and(|c| !(0..=i32::MAX as i64).contains(&c))
        {
            return Err(at(format!("content_id must be in 0..={}", i32::MAX)));
        }
        if !item.metadata.is_object() {
            return Err(at("metadata must be a JSON object".into()));
        }
        if item.metadata.to_string().len() > MAX_METADATA_BYTES {
            return Err(at(format!("metadata is over {MAX_METADATA_BYTES} bytes")));
        }
        if contains_nul(&item.metadata) {
            return Err(at("metadata must not contain NUL characters".into()));
        }
        item.vector = check_vector("vector", &item.vector, dims).map_err(|e| at(e.message))?;
        item.text = None;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// The full id of the watched item, e.g. `movie-603`.
    pub content_id: String,
    pub completion: f32,
    pub rating: Option<f32>,
    #[serde(default)]
    pub rewatch: bool,
    /// Watched time over running time; 0 when the client doesn't know it.
    #[serde(default)]
    pub duration_ratio: f32,
}

impl EventBody {
    pub fn event(&self) -> Result<WatchEvent, ApiError> {
        let event = WatchEvent {
            completion: self.completion,
            rating: self.rating,
            rewatch: self.rewatch,
            duration_ratio: self.duration_ratio,
        };
        event.validate()?;
        Ok(event)
    }
}

pub fn check_preference(pref: &UserPreference, dims: usize) -> Result<(), ApiError> {
    check_dims(dims, pref.vector.len())
        .map_err(|e| ApiError::bad_request(format!("vector: {e}")))?;
    pref.validate()?;
    if pref
        .genre_affinities
        .keys()
        .any(|genre| genre.contains('\0'))
    {
        return Err(ApiError::bad_request(
            "genre_affinities keys must not contain NUL characters",
        ));
    }
    Ok(())
}

/// `?name=` as an integer.
pub fn query_int(req: &crate::http::Request, name: &str) -> Result<Option<i64>, ApiError> {
    req.query_param(name)
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::bad_request(format!("query parameter {name} must be an integer"))
            })
        })
        .transpose()
}

/// `?name=` as a number.
pub fn query_f64(req: &crate::http::Request, name: &str) -> Result<Option<f64>, ApiError> {
    req.query_param(name)
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::bad_request(format!("query parameter {name} must be a number"))
            })
        })
        .transpose()
}

/// `?filter=` as URL-encoded JSON.
pub fn query_filter(req: &crate::http::Request) -> Result<Option<Value>, ApiError> {
    req.query_param("filter")
        .map(|v| {
            serde_json::from_str(&v).map_err(|e| {
                ApiError::bad_request(format!("query parameter filter is not JSON: {e}"))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_with_nul_are_refused_and_an_escaped_backslash_is_not_nul() {
        for filter in [
            json!({"title": "a\u{0}"}),
            json!({"ti\u{0}tle": 1}),
            json!({"$or": [{"genres": {"$in": ["x", "\u{0}"]}}]}),
        ] {
            let err = parse_filter(Some(&filter)).expect_err("refused");
            assert_eq!(err.status, 400, "{filter}");
        }
        let literal = json!({"title": "\\u0000"});
        assert!(parse_filter(Some(&literal)).unwrap().is_some());
    }

    /// Found by schemathesis once text queries worked without a provider: an explicit null
    /// vector beside a text was taken for "no vector".
    #[test]
    fn a_null_vector_or_text_is_refused_but_either_may_be_left_out() {
        for body in [
            json!({"text": "0", "vector": null}),
            json!({"vector": [1.0], "text": null}),
        ] {
            assert!(
                parse_body::<SearchBody>(body.to_string().as_bytes()).is_err(),
                "{body}"
            );
            assert!(
                parse_body::<CandidatesBody>(body.to_string().as_bytes()).is_err(),
                "{body}"
            );
        }
        let null_filter: SearchBody = parse_body(br#"{"text": "toys", "filter": null}"#).unwrap();
        assert!(parse_filter(null_filter.filter.as_ref()).is_err());
        let text_only: SearchBody = parse_body(br#"{"text": "toys"}"#).unwrap();
        assert!(text_only.vector.is_none() && text_only.text.is_some());
    }

    /// Found by schemathesis on ruvector: a NUL genre key was a 500 from jsonb.
    #[test]
    fn a_preference_with_a_nul_genre_key_is_refused() {
        let mut pref = UserPreference {
            vector: vec![1.0, 0.0],
            confidence: 0.5,
            genre_affinities: [("Drama".to_owned(), 0.5)].into(),
        };
        assert!(check_preference(&pref, 2).is_ok());
        pref.genre_affinities.insert("a\u{0}".to_owned(), 0.5);
        assert_eq!(
            check_preference(&pref, 2).err().map(|e| e.status),
            Some(400)
        );
    }
}
