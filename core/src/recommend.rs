//! Recommendations from examples, after Qdrant's recommend API, and for a group watching
//! together (DESIGN.md: the confidence-weighted centroid, then 0.6·min + 0.4·mean satisfaction).
//!
//! An [`Objective`] is built once from the examples and members. It names the vectors to search
//! near for candidates ([`Objective::probes`]) and scores any candidate ([`Objective::score`]),
//! so the server (over its index) and the browser (over a cached candidate set) rank alike.

use crate::kernels::{cosine_unchecked, normalize_in_place};
use crate::rerank::{about, check_unit_interval, check_vector, group_centroid, group_score};
use crate::topk::{check_threshold, Scored, TopK};
use crate::{Error, Result};

/// How positive and negative examples become a score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Qdrant's `average_vector`: one search with normalize(avg⁺ + (avg⁺ − avg⁻)), the mean of
    /// the positives moved away from the mean of the negatives.
    #[default]
    Average,
    /// Qdrant's `best_score`: a candidate scores its best similarity to a positive, or
    /// −(best similarity to a negative)² when a negative is closer.
    BestScore,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Average => "average",
            Strategy::BestScore => "best_score",
        }
    }
}

/// What to recommend for. Vectors are borrowed; any length, but all the same.
#[derive(Debug, Clone, Default)]
pub struct Recommendation<'a> {
    pub positive: Vec<&'a [f32]>,
    pub negative: Vec<&'a [f32]>,
    pub strategy: Strategy,
    /// Group members as (preference vector, confidence in [0, 1]). When present, candidates
    /// score by the group formula, positives joining as members of confidence 1.
    pub members: Vec<(&'a [f32], f32)>,
}

/// A validated recommendation, ready to score candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    scorer: Scorer,
}

#[derive(Debug, Clone, PartialEq)]
enum Scorer {
    /// Cosine to one query vector (unit length).
    Average { query: Vec<f32> },
    BestScore {
        positive: Vec<Vec<f32>>,
        negative: Vec<Vec<f32>>,
    },
    Group {
        /// (preference, confidence); positives included with confidence 1.
        members: Vec<(Vec<f32>, f32)>,
        centroid: Vec<f32>,
        negative: Vec<Vec<f32>>,
    },
}

impl Objective {
    /// Err for no positive and no member, mixed dimensions, non-finite values, a confidence
    /// outside [0, 1], `best_score` with a group (a group has its own formula), or examples
    /// that cancel out.
    pub fn new(r: &Recommendation<'_>) -> Result<Objective> {
        let dims = r
            .positive
            .first()
            .or(r.members.first().map(|(v, _)| v))
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "a recommendation needs a positive example or a group".into(),
                )
            })?
            .len();
        let check_all = |name: &str, vectors: &[&[f32]]| -> Result<Vec<Vec<f32>>> {
            vectors
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    check_vector(dims, v)
                        .map(|()| v.to_vec())
                        .map_err(|e| about(format_args!("{name} example {i}"), e))
                })
                .collect()
        };
        let positive = check_all("positive", &r.positive)?;
        let negative = check_all("negative", &r.negative)?;
        let scorer = if !r.members.is_empty() {
            if r.strategy == Strategy::BestScore {
                return Err(Error::InvalidArgument(
                    "a group is scored by the group formula; strategy best_score applies to \
                     examples alone"
                        .into(),
                ));
            }
            let mut members = Vec::with_capacity(r.members.len() + positive.len());
            for (m, &(preference, confidence)) in r.members.iter().enumerate() {
                check_vector(dims, preference)
                    .and_then(|()| check_unit_interval("confidence", confidence))
                    .map_err(|e| about(format_args!("member {m}"), e))?;
                members.push((preference.to_vec(), confidence));
            }
            members.extend(positive.into_iter().map(|p| (p, 1.0)));
            let centroid = nonzero(group_centroid(&borrowed_members(&members))?)?;
            Scorer::Group {
                members,
                centroid,
                negative,
            }
        } else {
            match r.strategy {
                Strategy::Average => Scorer::Average {
                    query: average_query(&positive, &negative)?,
                },
                Strategy::BestScore => Scorer::BestScore { positive, negative },
            }
        };
        Ok(Objective { scorer })
    }

    /// The vectors whose nearest neighbours are the candidates: the average query, each
    /// positive for `best_score`, or the group's centroid.
    pub fn probes(&self) -> Vec<&[f32]> {
        match &self.scorer {
            Scorer::Average { query } => vec![query],
            Scorer::BestScore { positive, .. } => positive.iter().map(Vec::as_slice).collect(),
            Scorer::Group { centroid, .. } => vec![centroid],
        }
    }

    /// One vector that stands for the whole request (the search log's query vector).
    pub fn query(&self) -> &[f32] {
        self.probes()[0]
    }

    /// The best `k` of `candidates` (index, vector) scoring at least `threshold`, best first;
    /// equal scores go to the lower index. Err for a NaN threshold.
    pub fn rank<'v>(
        &self,
        candidates: impl IntoIterator<Item = (usize, &'v [f32])>,
        k: usize,
        threshold: Option<f32>,
    ) -> Result<Vec<Scored>> {
        let threshold = threshold.unwrap_or(f32::NEG_INFINITY);
        check_threshold(threshold)?;
        let mut top = TopK::new(k, threshold);
        for (index, vector) in candidates {
            top.push(index, self.score(vector));
        }
        Ok(top.into_sorted_vec())
    }

    /// The candidate's score; higher is better. `candidate` must have the examples' dimension
    /// and be finite (the callers hold validated vectors).
    pub fn score(&self, candidate: &[f32]) -> f32 {
        match &self.scorer {
            Scorer::Average { query } => cosine_unchecked(query, candidate),
            Scorer::BestScore { positive, negative } => {
                penalized(best_similarity(candidate, positive), candidate, negative)
            }
            Scorer::Group {
                members, negative, ..
            } => {
                let members = borrowed_members(members);
                // The members were validated when the objective was built.
                let score = group_score(candidate, &members).unwrap_or(f32::NEG_INFINITY);
                let best_member = members
                    .iter()
                    .map(|(p, _)| cosine_unchecked(candidate, p))
                    .fold(f32::NEG_INFINITY, f32::max);
                if best_similarity(candidate, negative) > best_member {
                    penalized(f32::NEG_INFINITY, candidate, negative)
                } else {
                    score
                }
            }
        }
    }
}

/// normalize(avg⁺ + (avg⁺ − avg⁻)); just normalize(avg⁺) without negatives.
fn average_query(positive: &[Vec<f32>], negative: &[Vec<f32>]) -> Result<Vec<f32>> {
    let mean = |vectors: &[Vec<f32>]| -> Vec<f32> {
        let mut sum = vec![0.0f32; positive[0].len()];
        for v in vectors {
            for (s, x) in sum.iter_mut().zip(v) {
                *s += x;
            }
        }
        sum.iter_mut().for_each(|s| *s /= vectors.len() as f32);
        sum
    };
    let mut query = mean(positive);
    if !negative.is_empty() {
        let away = mean(negative);
        for (q, n) in query.iter_mut().zip(&away) {
            *q = 2.0 * *q - n;
        }
    }
    normalize_in_place(&mut query)?;
    nonzero(query)
}

/// Err for the zero vector: examples or members that cancel out leave nothing to search near.
fn nonzero(v: Vec<f32>) -> Result<Vec<f32>> {
    if v.iter().all(|&x| x == 0.0) {
        return Err(Error::InvalidArgument(
            "the examples cancel out: no direction to search in".into(),
        ));
    }
    Ok(v)
}

fn best_similarity(candidate: &[f32], examples: &[Vec<f32>]) -> f32 {
    examples
        .iter()
        .map(|e| cosine_unchecked(candidate, e))
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `best_positive`, unless a negative is at least as close: then −(its similarity)².
fn penalized(best_positive: f32, candidate: &[f32], negative: &[Vec<f32>]) -> f32 {
    let best_negative = best_similarity(candidate, negative);
    if best_positive > best_negative {
        best_positive
    } else {
        -(best_negative * best_negative)
    }
}

fn borrowed_members(members: &[(Vec<f32>, f32)]) -> Vec<(&[f32], f32)> {
    members.iter().map(|(v, c)| (v.as_slice(), *c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [f32; 3] = [1.0, 0.0, 0.0];
    const B: [f32; 3] = [0.0, 1.0, 0.0];
    const AB: [f32; 3] = [0.6, 0.8, 0.0];
    const C: [f32; 3] = [0.0, 0.0, 1.0];

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn average_moves_away_from_the_negatives() {
        let r = Recommendation {
            positive: vec![&A, &AB],
            negative: vec![&B],
            ..Default::default()
        };
        let objective = Objective::new(&r).unwrap();
        // avg⁺ = (0.8, 0.4, 0); 2·avg⁺ − B = (1.6, −0.2, 0), normalized.
        let norm = (1.6f32 * 1.6 + 0.2 * 0.2).sqrt();
        let q = objective.query();
        assert!(close(q[0], 1.6 / norm) && close(q[1], -0.2 / norm) && q[2] == 0.0);
        assert!(objective.score(&A) > objective.score(&AB));
        assert!(objective.score(&AB) > objective.score(&B));
    }

    #[test]
    fn best_score_takes_the_closest_positive_unless_a_negative_is_closer() {
        let r = Recommendation {
            positive: vec![&A, &C],
            negative: vec![&B],
            strategy: Strategy::BestScore,
            ..Default::default()
        };
        let objective = Objective::new(&r).unwrap();
        assert_eq!(objective.probes().len(), 2);
        assert!(close(objective.score(&A), 1.0));
        // AB: 0.6 to A, 0.8 to B: the negative wins, −0.64.
        assert!(close(objective.score(&AB), -0.64));
        assert!(close(objective.score(&B), -1.0));
    }

    #[test]
    fn a_group_scores_by_the_design_formula_with_positives_as_members() {
        let r = Recommendation {
            members: vec![(&A, 0.5), (&B, 1.0)],
            ..Default::default()
        };
        let objective = Objective::new(&r).unwrap();
        let expected = group_score(&AB, &[(&A, 0.5), (&B, 1.0)]).unwrap();
        assert!(close(objective.score(&AB), expected));
        // 0.6·min(0.6, 0.8) + 0.4·0.7
        assert!(close(expected, 0.36 + 0.28));
        let with_positive = Recommendation {
            positive: vec![&C],
            members: vec![(&A, 0.5)],
            ..Default::default()
        };
        let objective = Objective::new(&with_positive).unwrap();
        let expected = group_score(&AB, &[(&A, 0.5), (&C, 1.0)]).unwrap();
        assert!(close(objective.score(&AB), expected));
        let with_negative = Recommendation {
            negative: vec![&B],
            members: vec![(&A, 1.0)],
            ..Default::default()
        };
        let objective = Objective::new(&with_negative).unwrap();
        assert!(close(objective.score(&AB), -0.64));
        assert!(close(objective.score(&A), 1.0));
    }

    #[test]
    fn bad_requests_are_errors() {
        let message = |r: Recommendation| Objective::new(&r).unwrap_err().to_string();
        assert!(message(Recommendation::default()).contains("positive example or a group"));
        let short = [1.0f32, 0.0];
        assert!(message(Recommendation {
            positive: vec![&A],
            negative: vec![&short],
            ..Default::default()
        })
        .contains("negative example 0"));
        assert!(message(Recommendation {
            positive: vec![&A],
            negative: vec![&[2.0, 0.0, 0.0]],
            ..Default::default()
        })
        .contains("cancel out"));
        assert!(message(Recommendation {
            members: vec![(&A, 1.5)],
            ..Default::default()
        })
        .contains("member 0"));
        assert!(message(Recommendation {
            members: vec![(&A, 1.0)],
            strategy: Strategy::BestScore,
            ..Default::default()
        })
        .contains("group formula"));
        let nan = [f32::NAN, 0.0, 0.0];
        assert!(Objective::new(&Recommendation {
            positive: vec![&nan],
            ..Default::default()
        })
        .is_err());
    }
}
