//! Client-side reranking (DESIGN.md, "Search semantics"): the personalized query, the
//! multi-signal blend and MMR diversity (group scoring is in `recommend`).

use std::fmt;

use crate::kernels::{check_dims, check_finite, cosine_unchecked, normalize_in_place, FloatText};
use crate::topk::{check_threshold, Scored, TopK};
use crate::{Error, Result};

/// The default MMR λ (DESIGN.md): mostly relevance, some diversity.
pub const DEFAULT_MMR_LAMBDA: f32 = 0.85;

/// The personalized query: "q' = normalize(0.7·q + 0.3·confidence·p), where p is the user's
/// preference vector".
///
/// `q` and `p` are used as given (embeddings are unit length, so the 0.7/0.3 split holds).
/// Err on a dimension mismatch, a NaN or infinite component, or `confidence` outside [0, 1].
pub fn personalize(query: &[f32], preference: &[f32], confidence: f32) -> Result<Vec<f32>> {
    check_query(query)?;
    check_vector(query.len(), preference).map_err(|e| about("preference", e))?;
    check_unit_interval("confidence", confidence)?;
    let mut personalized: Vec<f32> = query
        .iter()
        .zip(preference)
        .map(|(&q, &p)| 0.7 * q + 0.3 * confidence * p)
        .collect();
    normalize_in_place(&mut personalized)?;
    Ok(personalized)
}

/// Rerank blend weights: "0.5·similarity + 0.25·personalization + 0.15·recency + 0.1·popularity.
/// The weights are parameters."
///
/// Missing JSON fields take their default; unknown fields are an error (a typo would otherwise
/// silently drop a weight).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub similarity: f32,
    pub personalization: f32,
    pub recency: f32,
    pub popularity: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            similarity: 0.5,
            personalization: 0.25,
            recency: 0.15,
            popularity: 0.1,
        }
    }
}

impl Weights {
    /// Err unless every weight is a finite number ≥ 0.
    pub fn validate(&self) -> Result<()> {
        let named = [
            ("similarity", self.similarity),
            ("personalization", self.personalization),
            ("recency", self.recency),
            ("popularity", self.popularity),
        ];
        for (name, weight) in named {
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "weight {name} must be a finite number ≥ 0, got {}",
                    FloatText(f64::from(weight))
                )));
            }
        }
        Ok(())
    }
}

/// The per-candidate inputs of the blend.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Signals {
    /// cos(query, candidate), in [-1, 1].
    pub similarity: f32,
    /// cos(preference, candidate) in [-1, 1]; 0 without a preference.
    pub personalization: f32,
    /// [`recency_from_age`] of the candidate's year; 0 when the year is unknown.
    pub recency: f32,
    /// In [0, 1]; 0 when unknown.
    pub popularity: f32,
}

/// Recency: "exp(−age_years/10)". A negative age (a future release) counts as 0, giving 1.
pub fn recency_from_age(age_years: f32) -> f32 {
    (-(age_years.max(0.0)) / 10.0).exp()
}

/// The blended score: weights · signals.
pub fn blend(signals: &Signals, weights: &Weights) -> f32 {
    weights.similarity * signals.similarity
        + weights.personalization * signals.personalization
        + weights.recency * signals.recency
        + weights.popularity * signals.popularity
}

/// One item to rerank. Its vector is borrowed (for example from a decoded candidate set).
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub vector: &'a [f32],
    /// Release year; must be finite when given.
    pub year: Option<f32>,
    /// Popularity in [0, 1].
    pub popularity: Option<f32>,
}

/// What the candidates are reranked against.
#[derive(Debug, Clone, Copy)]
pub struct RerankRequest<'a> {
    pub query: &'a [f32],
    /// The user's preference vector, if any.
    pub preference: Option<&'a [f32]>,
    pub weights: Weights,
    /// Recency is measured from this year (core has no clock).
    pub current_year: f32,
    /// How many results to return at most.
    pub k: usize,
    /// Minimum blended score kept; `None` keeps everything.
    pub threshold: Option<f32>,
}

/// A reranked candidate: its index in the input, its blended score and the signals behind it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reranked {
    pub index: usize,
    pub score: f32,
    pub signals: Signals,
}

/// The best `k` candidates by [`blend`]ed score at or above the threshold, best first; equal
/// scores keep the lower index first.
///
/// Err on an empty or non-finite query, a preference or candidate vector whose length differs from
/// the query's, a NaN or infinite component, invalid weights, a non-finite year or current year,
/// a popularity outside [0, 1], a NaN threshold, or weights so large that a score overflows.
pub fn rerank(candidates: &[Candidate<'_>], request: &RerankRequest<'_>) -> Result<Vec<Reranked>> {
    let threshold = checked_threshold(request)?;
    let RerankRequest {
        query,
        preference,
        weights,
        current_year,
        k,
        ..
    } = *request;
    let mut signals = Vec::with_capacity(candidates.len());
    let mut top = TopK::new(k, threshold);
    for (i, candidate) in candidates.iter().enumerate() {
        let s = candidate_signals(candidate, query, preference, current_year)
            .map_err(|e| about(format_args!("candidate {i}"), e))?;
        top.push(i, checked_blend(i, &s, &weights)?);
        signals.push(s);
    }
    Ok(ranked(top, &signals))
}

/// The kept candidates, best first, with the signals behind each score (`signals[i]` belongs to
/// candidate `i` pushed to `top`).
pub(crate) fn ranked(top: TopK, signals: &[Signals]) -> Vec<Reranked> {
    top.into_sorted_vec()
        .into_iter()
        .map(|Scored { index, score }| Reranked {
            index,
            score,
            signals: signals[index],
        })
        .collect()
}

/// The recency signal of an optional release year (0 without one); Err for a non-finite year.
fn recency_signal(year: Option<f32>, current_year: f32) -> Result<f32> {
    match year {
        Some(year) if !year.is_finite() => Err(Error::InvalidArgument(format!(
            "year must be finite, got {}",
            FloatText(f64::from(year))
        ))),
        Some(year) => Ok(recency_from_age(current_year - year)),
        None => Ok(0.0),
    }
}

/// Validates everything in a request but the candidates (query, preference, weights, current
/// year, threshold) and returns the threshold to apply (−∞ when none was given).
pub(crate) fn checked_threshold(request: &RerankRequest<'_>) -> Result<f32> {
    check_query(request.query)?;
    if let Some(preference) = request.preference {
        check_vector(request.query.len(), preference).map_err(|e| about("preference", e))?;
    }
    request.weights.validate()?;
    if !request.current_year.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "current year must be finite, got {}",
            FloatText(f64::from(request.current_year))
        )));
    }
    let threshold = request.threshold.unwrap_or(f32::NEG_INFINITY);
    check_threshold(threshold)?;
    Ok(threshold)
}

/// The blended score of candidate `i`; Err when the weights make it overflow.
pub(crate) fn checked_blend(i: usize, signals: &Signals, weights: &Weights) -> Result<f32> {
    let score = blend(signals, weights);
    if score.is_finite() {
        Ok(score)
    } else {
        Err(Error::InvalidArgument(format!(
            "candidate {i}: blended score overflowed; use smaller weights"
        )))
    }
}

fn candidate_signals(
    candidate: &Candidate<'_>,
    query: &[f32],
    preference: Option<&[f32]>,
    current_year: f32,
) -> Result<Signals> {
    check_vector(query.len(), candidate.vector)?;
    let recency = recency_signal(candidate.year, current_year)?;
    let popularity = match candidate.popularity {
        Some(p) => {
            check_unit_interval("popularity", p)?;
            p
        }
        None => 0.0,
    };
    Ok(Signals {
        similarity: cosine_unchecked(query, candidate.vector),
        personalization: preference.map_or(0.0, |p| cosine_unchecked(p, candidate.vector)),
        recency,
        popularity,
    })
}

/// Greedy Maximal Marginal Relevance: repeatedly picks the unpicked `i` maximizing
/// λ·rel(i) − (1 − λ)·max_{j∈S} cos(v_i, v_j), where S is what was picked so far (the max is 0
/// while S is empty). Returns up to `k` indices in pick order; ties go to the lower index.
///
/// λ = 1 is pure relevance order; lower λ favours items unlike those already picked.
/// [`DEFAULT_MMR_LAMBDA`] is the default. Err when `relevance` and `vectors` differ in length,
/// vectors differ in dimension, any value is NaN or infinite, or λ is outside [0, 1].
pub fn mmr(relevance: &[f32], vectors: &[&[f32]], k: usize, lambda: f32) -> Result<Vec<usize>> {
    if relevance.len() != vectors.len() {
        return Err(Error::InvalidArgument(format!(
            "{} relevance scores for {} vectors",
            relevance.len(),
            vectors.len()
        )));
    }
    check_finite(relevance).map_err(|e| about("relevance", e))?;
    check_unit_interval("lambda", lambda)?;
    if let Some(first) = vectors.first() {
        for (i, v) in vectors.iter().enumerate() {
            check_vector(first.len(), v).map_err(|e| about(format_args!("vector {i}"), e))?;
        }
    }

    let n = vectors.len();
    let want = k.min(n);
    let mut picked = Vec::with_capacity(want);
    let mut is_picked = vec![false; n];
    // Highest cosine of each item to anything picked so far; updated once per pick.
    let mut redundancy = vec![f32::NEG_INFINITY; n];
    while picked.len() < want {
        let mut best: Option<(usize, f32)> = None;
        for i in (0..n).filter(|&i| !is_picked[i]) {
            let penalty = if picked.is_empty() {
                0.0
            } else {
                redundancy[i]
            };
            let score = lambda * relevance[i] - (1.0 - lambda) * penalty;
            if best.is_none_or(|(_, best_score)| score > best_score) {
                best = Some((i, score));
            }
        }
        let Some((next, _)) = best else { break };
        is_picked[next] = true;
        picked.push(next);
        for i in (0..n).filter(|&i| !is_picked[i]) {
            redundancy[i] = redundancy[i].max(cosine_unchecked(vectors[i], vectors[next]));
        }
    }
    Ok(picked)
}

fn check_query(query: &[f32]) -> Result<()> {
    if query.is_empty() {
        return Err(Error::InvalidArgument("query vector is empty".into()));
    }
    check_finite(query).map_err(|e| about("query", e))
}

/// Err unless `v` has `dims` components, all finite.
pub(crate) fn check_vector(dims: usize, v: &[f32]) -> Result<()> {
    check_dims(dims, v.len())?;
    check_finite(v)
}

/// Err unless `value` is a finite number in [0, 1]; the message names it.
pub(crate) fn check_unit_interval(name: &str, value: f32) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{name} must be a finite number in [0, 1], got {}",
            FloatText(f64::from(value))
        )))
    }
}

/// Prefixes an error with the input it is about ("candidate 3: dimension mismatch: …"), since
/// the bare kernel errors do not say which vector failed.
pub(crate) fn about(what: impl fmt::Display, error: Error) -> Error {
    match error {
        Error::InvalidArgument(message) => Error::InvalidArgument(format!("{what}: {message}")),
        other => Error::InvalidArgument(format!("{what}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_vec_close, close};

    #[test]
    fn personalize_matches_hand_values() {
        // 0.7·[1, 0] + 0.3·0.5·[0, 1] = [0.7, 0.15]; |·| = √0.5125 = 0.7158911
        let q = personalize(&[1.0, 0.0], &[0.0, 1.0], 0.5).unwrap();
        assert_vec_close(&q, &[0.9778024, 0.2095291]);
        // confidence 0 leaves the (normalized) query
        assert_vec_close(
            &personalize(&[3.0, 4.0], &[0.0, 1.0], 0.0).unwrap(),
            &[0.6, 0.8],
        );
    }

    #[test]
    fn personalize_rejects_bad_input() {
        let message = personalize(&[1.0; 3], &[1.0; 2], 0.5)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("preference") && message.contains('3'),
            "{message}"
        );
        assert!(personalize(&[f32::NAN, 0.0], &[0.0, 1.0], 0.5)
            .unwrap_err()
            .to_string()
            .contains("query"));
        assert!(personalize(&[], &[], 0.5).is_err());
        for confidence in [-0.5, 1.5, f32::NAN] {
            let err = personalize(&[1.0, 0.0], &[0.0, 1.0], confidence).unwrap_err();
            assert!(err.to_string().contains("confidence"), "{err}");
        }
    }

    #[test]
    fn recency_and_blend_match_hand_values() {
        assert_eq!(recency_from_age(0.0), 1.0);
        assert!(close(recency_from_age(10.0), 0.36787944)); // e^−1
        assert!(close(recency_from_age(20.0), 0.13533528)); // e^−2
        assert_eq!(recency_from_age(-3.0), 1.0, "future years count as new");
        let s = Signals {
            similarity: 0.6,
            personalization: 0.8,
            recency: 1.0,
            popularity: 0.9,
        };
        // 0.5·0.6 + 0.25·0.8 + 0.15·1 + 0.1·0.9 = 0.3 + 0.2 + 0.15 + 0.09 = 0.74
        assert!(close(blend(&s, &Weights::default()), 0.74));
    }

    #[test]
    fn weights_validate_and_deserialize() {
        assert!(Weights::default().validate().is_ok());
        for bad in [-0.1, f32::NAN, f32::INFINITY] {
            let w = Weights {
                recency: bad,
                ..Weights::default()
            };
            let err = w.validate().unwrap_err();
            assert!(err.to_string().contains("recency"), "{err}");
        }
        let w: Weights = serde_json::from_str(r#"{"similarity": 1.0}"#).unwrap();
        assert_eq!(
            w,
            Weights {
                similarity: 1.0,
                ..Weights::default()
            }
        );
        assert!(serde_json::from_str::<Weights>(r#"{"similarty": 1.0}"#).is_err());
    }

    const A: [f32; 2] = [1.0, 0.0];
    const B: [f32; 2] = [0.6, 0.8];
    const C: [f32; 2] = [0.0, 1.0];

    fn candidates() -> Vec<Candidate<'static>> {
        vec![
            Candidate {
                vector: &A,
                year: Some(2014.0),
                popularity: Some(0.2),
            },
            Candidate {
                vector: &B,
                year: Some(2024.0),
                popularity: Some(0.9),
            },
            Candidate {
                vector: &C,
                year: None,
                popularity: None,
            },
        ]
    }

    fn request(preference: Option<&'static [f32]>) -> RerankRequest<'static> {
        RerankRequest {
            query: &A,
            preference,
            weights: Weights::default(),
            current_year: 2024.0,
            k: 10,
            threshold: None,
        }
    }

    fn order(results: &[Reranked]) -> Vec<usize> {
        results.iter().map(|r| r.index).collect()
    }

    #[test]
    fn rerank_matches_hand_values() {
        let results = rerank(&candidates(), &request(Some(&C))).unwrap();
        // A: 0.5·1 + 0.25·0 + 0.15·e^−1 + 0.1·0.2 = 0.5 + 0.0551819 + 0.02 = 0.5751819
        // B: 0.5·0.6 + 0.25·0.8 + 0.15·1 + 0.1·0.9 = 0.74
        // C: 0.5·0 + 0.25·1 + 0 (no year) + 0 (no popularity) = 0.25
        assert_eq!(order(&results), vec![1, 0, 2]);
        assert!(close(results[0].score, 0.74));
        assert!(close(results[1].score, 0.5751819));
        assert!(close(results[2].score, 0.25));
        assert_eq!(
            results[2].signals,
            Signals {
                similarity: 0.0,
                personalization: 1.0,
                recency: 0.0,
                popularity: 0.0
            }
        );
        assert!(close(results[1].signals.recency, 0.36787944));
    }

    #[test]
    fn weights_preference_k_and_threshold_change_the_result() {
        // without a preference B drops to 0.54, below A's 0.5751819
        let results = rerank(&candidates(), &request(None)).unwrap();
        assert_eq!(order(&results), vec![0, 1, 2]);
        assert!(close(results[1].score, 0.54));

        let similarity_only = RerankRequest {
            weights: Weights {
                similarity: 1.0,
                personalization: 0.0,
                recency: 0.0,
                popularity: 0.0,
            },
            ..request(Some(&C))
        };
        let results = rerank(&candidates(), &similarity_only).unwrap();
        assert_eq!(order(&results), vec![0, 1, 2]);

        let top_one = RerankRequest {
            k: 1,
            ..request(Some(&C))
        };
        assert_eq!(order(&rerank(&candidates(), &top_one).unwrap()), vec![1]);
        let thresholded = RerankRequest {
            threshold: Some(0.5),
            ..request(Some(&C))
        };
        assert_eq!(
            order(&rerank(&candidates(), &thresholded).unwrap()),
            vec![1, 0]
        );
    }

    #[test]
    fn rerank_ties_keep_input_order() {
        let same = Candidate {
            vector: &B,
            year: None,
            popularity: None,
        };
        let results = rerank(&[same; 4], &request(None)).unwrap();
        assert_eq!(order(&results), vec![0, 1, 2, 3]);
    }

    #[test]
    fn rerank_rejects_bad_input() {
        let error = |candidates: &[Candidate<'_>], request: &RerankRequest<'_>| {
            rerank(candidates, request).unwrap_err().to_string()
        };
        let short = [1.0f32];
        let mut bad = candidates();
        bad[2].vector = &short;
        let message = error(&bad, &request(None));
        assert!(
            message.contains("candidate 2") && message.contains('1'),
            "{message}"
        );

        let mut bad = candidates();
        bad[1].popularity = Some(1.5);
        let message = error(&bad, &request(None));
        assert!(message.contains("candidate 1: popularity"), "{message}");

        let mut bad = candidates();
        bad[0].year = Some(f32::NAN);
        assert!(error(&bad, &request(None)).contains("candidate 0: year"));

        let nan_preference: &'static [f32] = &[f32::NAN, 0.0];
        assert!(error(&candidates(), &request(Some(nan_preference))).contains("preference"));
        let nan_threshold = RerankRequest {
            threshold: Some(f32::NAN),
            ..request(None)
        };
        assert!(error(&candidates(), &nan_threshold).contains("threshold"));
        let no_year = RerankRequest {
            current_year: f32::INFINITY,
            ..request(None)
        };
        assert!(error(&candidates(), &no_year).contains("current year"));
        let huge = RerankRequest {
            weights: Weights {
                similarity: f32::MAX,
                popularity: f32::MAX,
                ..Weights::default()
            },
            ..request(None)
        };
        assert!(error(&candidates(), &huge).contains("overflowed"));
    }

    // A and a near-duplicate of it (cos 0.96), then C, orthogonal to A (cos(near, C) = 0.28).
    const NEAR_A: [f32; 2] = [0.96, 0.28];

    #[test]
    fn mmr_lambda_one_is_relevance_order() {
        let vectors: [&[f32]; 4] = [&C, &A, &NEAR_A, &B];
        let relevance = [0.2, 0.9, 0.85, 0.5];
        assert_eq!(mmr(&relevance, &vectors, 4, 1.0).unwrap(), vec![1, 2, 3, 0]);
        assert_eq!(mmr(&relevance, &vectors, 2, 1.0).unwrap(), vec![1, 2]);
        assert!(mmr(&relevance, &vectors, 0, 1.0).unwrap().is_empty());
        // ties go to the lower index
        assert_eq!(
            mmr(&[0.5; 3], &[&A, &A, &A], 3, 1.0).unwrap(),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn mmr_prefers_the_distinct_item_second() {
        let vectors: [&[f32]; 3] = [&A, &NEAR_A, &C];
        let relevance = [0.9, 0.85, 0.5];
        // pick 1: 0.5·0.9 = 0.45 beats 0.425 and 0.25 → 0
        // pick 2: near-duplicate 0.5·0.85 − 0.5·0.96 = −0.055; distinct 0.5·0.5 − 0.5·0 = 0.25 → 2
        assert_eq!(mmr(&relevance, &vectors, 3, 0.5).unwrap(), vec![0, 2, 1]);
        // at the default λ the near-duplicate still wins: 0.7225 − 0.144 = 0.5785 > 0.425
        assert_eq!(
            mmr(&relevance, &vectors, 3, DEFAULT_MMR_LAMBDA).unwrap(),
            vec![0, 1, 2]
        );
        // k beyond the input returns everything once
        assert_eq!(mmr(&relevance, &vectors, 10, 0.5).unwrap().len(), 3);
    }

    #[test]
    fn mmr_rejects_bad_input() {
        let message = mmr(&[1.0, 0.5], &[&A], 1, 0.5).unwrap_err().to_string();
        assert!(
            message.contains("2 relevance scores for 1 vectors"),
            "{message}"
        );
        let short = [1.0f32];
        let message = mmr(&[1.0, 0.5], &[&A, &short], 1, 0.5)
            .unwrap_err()
            .to_string();
        assert!(message.contains("vector 1"), "{message}");
        assert!(mmr(&[f32::NAN], &[&A], 1, 0.5)
            .unwrap_err()
            .to_string()
            .contains("relevance"));
        for lambda in [-0.1, 1.1, f32::NAN] {
            let err = mmr(&[1.0], &[&A], 1, lambda).unwrap_err();
            assert!(err.to_string().contains("lambda"), "{err}");
        }
    }
}
