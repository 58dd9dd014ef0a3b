//! Neighbour selection, shared by insert (new nodes and overflowing lists) and delete (repair).

use super::search::Candidate;

/// Malkov's "select neighbours heuristic": walking `candidates` best first, keep one only when
/// it is closer to the base than to every neighbour already kept. Links then point in diverse
/// directions instead of into one cluster, which keeps the graph navigable. At most `m` kept.
///
/// `candidates` must be sorted best first with scores relative to the base;
/// `score_between(a, b)` scores two candidates against each other.
pub fn select_neighbors(
    candidates: &[Candidate],
    m: usize,
    score_between: impl Fn(u32, u32) -> f32,
    out: &mut Vec<u32>,
) {
    out.clear();
    if candidates.len() <= m {
        out.extend(candidates.iter().map(|c| c.node));
        return;
    }
    for c in candidates {
        if out.len() >= m {
            break;
        }
        if out
            .iter()
            .all(|&kept| score_between(c.node, kept) <= c.score)
        {
            out.push(c.node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_diverse_directions() {
        // Points on a line: base at 0, candidates at 1, 2 (behind 1) and -1.5 (the other side).
        let position = |node: u32| [0.0f32, 1.0, 2.0, -1.5][node as usize];
        let score = |a: u32, b: u32| -(position(a) - position(b)).abs();
        let mut candidates: Vec<Candidate> = [1, 2, 3]
            .iter()
            .map(|&node| Candidate {
                score: score(0, node),
                node,
            })
            .collect();
        candidates.sort_by(Candidate::best_first);
        let mut out = Vec::new();
        select_neighbors(&candidates, 2, score, &mut out);
        assert_eq!(out, vec![1, 3], "2 is reached through 1");
        select_neighbors(&candidates, 3, score, &mut out);
        assert_eq!(out, vec![1, 3, 2], "no pruning when everything fits");
    }
}
