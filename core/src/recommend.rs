//! Recommendations from examples, after Qdrant's recommend API, and for a group watching
//! together (DESIGN.md: "the centroid of member preference vectors weighted by confidence.
//! Score = 0.6·min member satisfaction + 0.4·mean", a member's satisfaction being the cosine).
//!
//! An [`Objective`] is built once from the examples and members. It names the vectors to search
//! near for candidates ([`Objective::probes`]) and scores any candidate ([`Objective::score`]),
//! so the server (over its index) and the browser (over a cached candidate set) rank alike.
//! Vectors are kept in flat row-major buffers and walked with plain loops: this code ships in
//! the npm package, where every monomorphized iterator chain costs .wasm bytes.

use crate::kernels::{cosine_unchecked, normalize_in_place};
use crate::rerank::{about, check_unit_interval, check_vector};
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
    /// −(best similarity to a negative)² when a negative is at least as close.
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
    dims: usize,
    scorer: Scorer,
    /// Negative examples, row-major (`best_score` and groups; folded into the query for
    /// `average`).
    negative: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
enum Scorer {
    /// Cosine to one unit query vector.
    Average(Vec<f32>),
    /// The positives, row-major.
    BestScore(Vec<f32>),
    /// The members' preferences row-major (positives included), and their unit centroid.
    Group {
        members: Vec<f32>,
        centroid: Vec<f32>,
    },
}

/// Appends each vector to `rows` after checking its dimension and values.
fn push_rows(rows: &mut Vec<f32>, dims: usize, what: &str, vectors: &[&[f32]]) -> Result<()> {
    for (i, v) in vectors.iter().enumerate() {
        check_vector(dims, v).map_err(|e| about(format_args!("{what} {i}"), e))?;
        rows.extend_from_slice(v);
    }
    Ok(())
}

/// Err for the zero vector: examples or members that cancel out leave nothing to search near.
fn unit_direction(mut v: Vec<f32>) -> Result<Vec<f32>> {
    normalize_in_place(&mut v)?;
    if v.iter().all(|&x| x == 0.0) {
        return Err(Error::InvalidArgument(
            "the examples cancel out: no direction to search in".into(),
        ));
    }
    Ok(v)
}

/// The mean of the rows (at least one).
fn mean(rows: &[f32], dims: usize) -> Vec<f32> {
    let mut sum = vec![0.0f32; dims];
    for row in rows.chunks_exact(dims) {
        for d in 0..dims {
            sum[d] += row[d];
        }
    }
    let n = (rows.len() / dims) as f32;
    for x in &mut sum {
        *x /= n;
    }
    sum
}

/// The best cosine of `candidate` to any row; −∞ without rows.
fn best_similarity(candidate: &[f32], rows: &[f32], dims: usize) -> f32 {
    let mut best = f32::NEG_INFINITY;
    for row in rows.chunks_exact(dims) {
        best = best.max(cosine_unchecked(candidate, row));
    }
    best
}

impl Objective {
    /// Err for no positive and no member, mixed dimensions, non-finite values, a confidence
    /// outside [0, 1] (or all 0), `best_score` with a group (a group has its own formula), or
    /// examples that cancel out.
    pub fn new(r: &Recommendation<'_>) -> Result<Objective> {
        let dims = match (r.positive.first(), r.members.first()) {
            (Some(p), _) => p.len(),
            (None, Some((m, _))) => m.len(),
            (None, None) => {
                return Err(Error::InvalidArgument(
                    "a recommendation needs a positive example or a group".into(),
                ))
            }
        };
        let mut positive = Vec::new();
        push_rows(&mut positive, dims, "positive example", &r.positive)?;
        let mut negative = Vec::new();
        push_rows(&mut negative, dims, "negative example", &r.negative)?;
        let scorer = if r.members.is_empty() {
            match r.strategy {
                Strategy::Average => {
                    let mut query = mean(&positive, dims);
                    if !negative.is_empty() {
                        let away = mean(&negative, dims);
                        for d in 0..dims {
                            query[d] = 2.0 * query[d] - away[d];
                        }
                    }
                    Scorer::Average(unit_direction(query)?)
                }
                Strategy::BestScore => Scorer::BestScore(positive),
            }
        } else {
            if r.strategy == Strategy::BestScore {
                return Err(Error::InvalidArgument(
                    "a group is scored by the group formula; strategy best_score applies to \
                     examples alone"
                        .into(),
                ));
            }
            // The centroid: normalize(Σ confidence·preference), positives at confidence 1.
            let mut members = Vec::new();
            let mut centroid = vec![0.0f32; dims];
            let mut any_weight = !r.positive.is_empty();
            for (i, &(preference, confidence)) in r.members.iter().enumerate() {
                check_vector(dims, preference)
                    .and_then(|()| check_unit_interval("confidence", confidence))
                    .map_err(|e| about(format_args!("member {i}"), e))?;
                members.extend_from_slice(preference);
                any_weight |= confidence > 0.0;
                for d in 0..dims {
                    centroid[d] += confidence * preference[d];
                }
            }
            if !any_weight {
                return Err(Error::InvalidArgument(
                    "every group member has confidence 0; the centroid is undefined".into(),
                ));
            }
            for row in positive.chunks_exact(dims) {
                for d in 0..dims {
                    centroid[d] += row[d];
                }
            }
            members.extend_from_slice(&positive);
            Scorer::Group {
                members,
                centroid: unit_direction(centroid)?,
            }
        };
        Ok(Objective {
            dims,
            scorer,
            negative,
        })
    }

    /// The vectors whose nearest neighbours are the candidates: the average query, each
    /// positive for `best_score`, or the group's centroid.
    pub fn probes(&self) -> Vec<&[f32]> {
        match &self.scorer {
            Scorer::Average(query) => vec![query],
            Scorer::BestScore(positive) => positive.chunks_exact(self.dims).collect(),
            Scorer::Group { centroid, .. } => vec![centroid],
        }
    }

    /// One vector that stands for the whole request (the search log's query vector).
    pub fn query(&self) -> &[f32] {
        match &self.scorer {
            Scorer::Average(v) | Scorer::BestScore(v) => &v[..self.dims],
            Scorer::Group { centroid, .. } => centroid,
        }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The candidate's score; higher is better. `candidate` must have the examples' dimension
    /// and be finite (the callers hold validated vectors).
    pub fn score(&self, candidate: &[f32]) -> f32 {
        let (best_positive, score) = match &self.scorer {
            Scorer::Average(query) => return cosine_unchecked(query, candidate),
            Scorer::BestScore(positive) => {
                let best = best_similarity(candidate, positive, self.dims);
                (best, best)
            }
            Scorer::Group { members, .. } => {
                let (mut min, mut sum, mut best) = (f32::INFINITY, 0.0f32, f32::NEG_INFINITY);
                for preference in members.chunks_exact(self.dims) {
                    let satisfaction = cosine_unchecked(candidate, preference);
                    min = min.min(satisfaction);
                    best = best.max(satisfaction);
                    sum += satisfaction;
                }
                let n = (members.len() / self.dims) as f32;
                (best, 0.6 * min + 0.4 * sum / n)
            }
        };
        // Closer to a negative than to anything wanted: −(that similarity)², as Qdrant does.
        let best_negative = best_similarity(candidate, &self.negative, self.dims);
        if best_positive > best_negative {
            score
        } else {
            -(best_negative * best_negative)
        }
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

    fn group(members: Vec<(&[f32], f32)>) -> Objective {
        Objective::new(&Recommendation {
            members,
            ..Default::default()
        })
        .unwrap()
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
        assert_eq!(objective.probes(), vec![&A[..], &C[..]]);
        assert!(close(objective.score(&A), 1.0));
        // AB: 0.6 to A, 0.8 to B: the negative wins, −0.64.
        assert!(close(objective.score(&AB), -0.64));
        assert!(close(objective.score(&B), -1.0));
    }

    #[test]
    fn a_group_scores_by_the_design_formula_with_positives_as_members() {
        let objective = group(vec![(&A, 0.5), (&B, 1.0)]);
        // satisfactions 0.6 and 0.8: 0.6·0.6 + 0.4·0.7
        assert!(close(objective.score(&AB), 0.36 + 0.28));
        // One member: 0.6·s + 0.4·s = s.
        assert!(close(group(vec![(&C, 0.5)]).score(&AB), 0.0));
        // The centroid weighs by confidence: normalize(0.5·A + 1·B).
        let norm = (0.25f32 + 1.0).sqrt();
        let centroid = objective.query();
        assert!(close(centroid[0], 0.5 / norm) && close(centroid[1], 1.0 / norm));
        // A member of confidence 0 does not pull the centroid, but still must be satisfied.
        let zero = group(vec![(&A, 0.0), (&B, 0.3)]);
        assert_eq!(zero.query(), &B[..]);
        assert!(close(zero.score(&B), 0.6 * 0.0 + 0.4 * 0.5));

        let with_positive = Objective::new(&Recommendation {
            positive: vec![&C],
            members: vec![(&A, 0.5)],
            ..Default::default()
        })
        .unwrap();
        // Members A and C: satisfactions 0.6 and 0 for AB.
        assert!(close(with_positive.score(&AB), 0.4 * 0.3));
        let with_negative = Objective::new(&Recommendation {
            negative: vec![&B],
            members: vec![(&A, 1.0)],
            ..Default::default()
        })
        .unwrap();
        assert!(close(with_negative.score(&AB), -0.64));
        assert!(close(with_negative.score(&A), 1.0));
    }

    #[test]
    fn rank_orders_and_thresholds() {
        let objective = group(vec![(&A, 1.0)]);
        let rows: [&[f32]; 3] = [&B, &A, &AB];
        let ranked = objective
            .rank(rows.iter().copied().enumerate(), 2, Some(0.5))
            .unwrap();
        let order: Vec<usize> = ranked.iter().map(|s| s.index).collect();
        assert_eq!(order, [1, 2]);
        assert!(objective
            .rank(rows.iter().copied().enumerate(), 2, Some(f32::NAN))
            .is_err());
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
            members: vec![(&A, 0.5), (&short, 0.5)],
            ..Default::default()
        })
        .contains("member 1"));
        assert!(message(Recommendation {
            members: vec![(&A, 1.5)],
            ..Default::default()
        })
        .contains("member 0: confidence"));
        assert!(message(Recommendation {
            members: vec![(&A, 0.0), (&C, 0.0)],
            ..Default::default()
        })
        .contains("confidence 0"));
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
