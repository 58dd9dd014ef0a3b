//! What the chaos run's clients did, and what that allows the system to answer.
//!
//! Every write is recorded as a version of its id when it is sent, and marked acknowledged when
//! it is answered 200. A version may be visible from the moment it is sent until the next
//! acknowledged write of that id; a write that failed (503, cut connection) may or may not have
//! happened, so it neither ends the version before it nor is it certain. From that, a search
//! answer is checked exactly: every result must be a version that could have been visible during
//! the search's window, with the score of that version's vector, and an exact search must hold
//! every row that was certainly there for the whole window and scores above its last result.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// One write of an id: its vector, or `None` for a delete.
struct Version {
    vector: Option<Arc<Vec<f32>>>,
    sent: Instant,
    acked: Option<Instant>,
}

/// Scores are compared with this much slack: Postgres computes them in its own precision.
const SCORE_SLACK: f32 = 2e-3;

#[derive(Default)]
pub struct Ledger {
    ids: HashMap<String, Vec<Version>>,
    /// Ids whose last write was acknowledged and left a row: the ones updates and deletes pick.
    live: Vec<String>,
    live_at: HashMap<String, usize>,
}

/// How the database's row of an id compares with what the clients were told.
#[derive(Debug, PartialEq, Eq)]
pub enum Held {
    /// The last acknowledged state, or a later write that failed (it may have happened).
    AsAcknowledged,
    /// An older state: an acknowledged write is missing.
    Lost,
    /// A state no client ever wrote.
    Foreign,
}

impl Ledger {
    /// Records a write of `id` about to be sent.
    pub fn begin(&mut self, id: &str, vector: Option<Arc<Vec<f32>>>, now: Instant) {
        self.ids.entry(id.to_owned()).or_default().push(Version {
            vector,
            sent: now,
            acked: None,
        });
        self.refresh(id);
    }

    /// Records the answer to the last write of `id`: acknowledged (200) or not.
    pub fn settle(&mut self, id: &str, acknowledged: bool, now: Instant) {
        if acknowledged {
            if let Some(last) = self.ids.get_mut(id).and_then(|v| v.last_mut()) {
                last.acked = Some(now);
            }
        }
        self.refresh(id);
    }

    /// Records what the database was found to hold at `now` for `id` after a failover that
    /// began at `since` (when what it held became uncertain): an acknowledged write from then.
    pub fn rebase(
        &mut self,
        id: &str,
        vector: Option<Arc<Vec<f32>>>,
        since: Instant,
        now: Instant,
    ) {
        self.ids.entry(id.to_owned()).or_default().push(Version {
            vector,
            sent: since,
            acked: Some(now),
        });
        self.refresh(id);
    }

    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// An id whose row is certainly there, picked by `index` (any number).
    pub fn pick_live(&self, index: usize) -> Option<&str> {
        (!self.live.is_empty()).then(|| self.live[index % self.live.len()].as_str())
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.keys().map(String::as_str)
    }

    /// Whether the database's row of `id` (`held`: its vector, or `None` for no row) is what
    /// the clients were told, an older state (lost), or something nobody wrote.
    pub fn compare(&self, id: &str, held: Option<&[f32]>) -> Held {
        let versions = self.ids.get(id).map(Vec::as_slice).unwrap_or_default();
        let same = |v: &Version| match (&v.vector, held) {
            (None, None) => true,
            (Some(a), Some(b)) => same_vector(a, b),
            _ => false,
        };
        let last_acked = versions.iter().rposition(|v| v.acked.is_some());
        let current = match last_acked {
            Some(i) => &versions[i..],
            None => versions,
        };
        if current.iter().any(same) || (last_acked.is_none() && held.is_none()) {
            return Held::AsAcknowledged;
        }
        let earlier = &versions[..last_acked.unwrap_or(0)];
        if earlier.iter().any(same) || held.is_none() {
            Held::Lost
        } else {
            Held::Foreign
        }
    }

    /// Checks one search answer (`results`: id and score, in the order given) for `query`,
    /// against every state the rows could have had between `from` and `received`.
    pub fn check_answer(
        &self,
        query: &[f32],
        k: usize,
        exact: bool,
        from: Instant,
        received: Instant,
        results: &[(String, f32)],
    ) -> Result<(), String> {
        if results.len() > k {
            return Err(format!("{} results for k = {k}", results.len()));
        }
        for pair in results.windows(2) {
            if pair[1].1 > pair[0].1 + 1e-4 {
                return Err(format!("results out of order: {pair:?}"));
            }
        }
        for (id, score) in results {
            let versions = self
                .ids
                .get(id)
                .ok_or_else(|| format!("result {id} was never written (score {score})"))?;
            let fits = (0..versions.len()).any(|i| {
                versions[i].vector.as_ref().is_some_and(|v| {
                    (cosine(query, v) - score).abs() <= SCORE_SLACK
                        && possibly_visible(versions, i, from, received)
                })
            });
            if !fits {
                return Err(format!(
                    "result {id} with score {score}: no version of it that scores so could be \
                     seen by this search ({} writes of it)",
                    versions.len()
                ));
            }
        }
        if !exact {
            return Ok(());
        }
        let floor = if results.len() == k {
            results.last().map_or(f32::NEG_INFINITY, |r| r.1)
        } else {
            f32::NEG_INFINITY
        };
        for id in &self.live {
            let versions = &self.ids[id];
            let Some(vector) = certainly_visible(versions, from, received) else {
                continue;
            };
            let score = cosine(query, vector);
            if score > floor + SCORE_SLACK && !results.iter().any(|(r, _)| r == id) {
                return Err(format!(
                    "exact search missed {id} (score {score}, above its last result {floor}), \
                     which was there the whole time"
                ));
            }
        }
        Ok(())
    }

    fn refresh(&mut self, id: &str) {
        let live = self
            .ids
            .get(id)
            .and_then(|v| v.last())
            .is_some_and(|v| v.acked.is_some() && v.vector.is_some());
        match (live, self.live_at.get(id).copied()) {
            (true, None) => {
                self.live_at.insert(id.to_owned(), self.live.len());
                self.live.push(id.to_owned());
            }
            (false, Some(at)) => {
                self.live_at.remove(id);
                self.live.swap_remove(at);
                if let Some(moved) = self.live.get(at) {
                    self.live_at.insert(moved.clone(), at);
                }
            }
            _ => {}
        }
    }
}

/// Version `i` could have been the row at some moment of `[from, received]`: written (sent)
/// by `received`, and not yet replaced by an acknowledged write at `from`.
fn possibly_visible(versions: &[Version], i: usize, from: Instant, received: Instant) -> bool {
    let replaced = versions[i + 1..].iter().find_map(|v| v.acked);
    versions[i].sent <= received && replaced.is_none_or(|at| at >= from)
}

/// The vector the row certainly had for the whole of `[from, received]`: the last write sent
/// by `received` was acknowledged by `from` (writes of one id are sent one after another).
fn certainly_visible(versions: &[Version], from: Instant, received: Instant) -> Option<&[f32]> {
    let last = versions.iter().rfind(|v| v.sent <= received)?;
    if last.acked? > from {
        return None;
    }
    last.vector.as_deref().map(Vec::as_slice)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    vecgate_core::kernels::cosine(a, b).unwrap_or(f32::NAN)
}

fn same_vector(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn unit(x: f32, y: f32) -> Arc<Vec<f32>> {
        let n = (x * x + y * y).sqrt();
        Arc::new(vec![x / n, y / n])
    }

    /// t0 + `ms`.
    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn answers_are_checked_against_what_could_be_seen() {
        let t0 = Instant::now();
        let mut ledger = Ledger::default();
        ledger.begin("a", Some(unit(1.0, 0.0)), at(t0, 0));
        ledger.settle("a", true, at(t0, 10));
        ledger.begin("b", Some(unit(0.0, 1.0)), at(t0, 0));
        ledger.settle("b", true, at(t0, 10));
        // b is deleted at 100 (acknowledged at 110).
        ledger.begin("b", None, at(t0, 100));
        ledger.settle("b", true, at(t0, 110));
        let q = [1.0f32, 1.0];
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let both = [("a".to_owned(), s), ("b".to_owned(), s)];
        // Before the delete both are right; long after it, b is a wrong answer.
        assert!(ledger
            .check_answer(&q, 2, true, at(t0, 50), at(t0, 60), &both)
            .is_ok());
        let stale = ledger.check_answer(&q, 2, false, at(t0, 500), at(t0, 510), &both);
        assert!(stale.unwrap_err().contains("result b"));
        // A score no version has.
        let wrong = [("a".to_owned(), 0.9)];
        assert!(ledger
            .check_answer(&q, 1, false, at(t0, 50), at(t0, 60), &wrong)
            .is_err());
        // An exact search that leaves out a row there the whole time.
        let missed = ledger.check_answer(&q, 2, true, at(t0, 500), at(t0, 510), &[]);
        assert!(missed.unwrap_err().contains("missed a"));
        // A row written during the window may be missing, and may be there.
        ledger.begin("c", Some(unit(1.0, 1.0)), at(t0, 600));
        ledger.settle("c", true, at(t0, 610));
        let a_only = [("a".to_owned(), s)];
        assert!(ledger
            .check_answer(&q, 2, true, at(t0, 590), at(t0, 620), &a_only)
            .is_ok());
        assert!(ledger
            .check_answer(&q, 2, true, at(t0, 700), at(t0, 710), &a_only)
            .is_err());
    }

    #[test]
    fn the_database_is_compared_with_what_was_acknowledged() {
        let t0 = Instant::now();
        let mut ledger = Ledger::default();
        let (v1, v2, v3) = (unit(1.0, 0.0), unit(0.0, 1.0), unit(1.0, 1.0));
        ledger.begin("a", Some(v1.clone()), at(t0, 0));
        ledger.settle("a", true, at(t0, 1));
        ledger.begin("a", Some(v2.clone()), at(t0, 2));
        ledger.settle("a", true, at(t0, 3));
        assert_eq!(ledger.compare("a", Some(&v2)), Held::AsAcknowledged);
        assert_eq!(ledger.compare("a", Some(&v1)), Held::Lost);
        assert_eq!(ledger.compare("a", None), Held::Lost);
        assert_eq!(ledger.compare("a", Some(&v3)), Held::Foreign);
        // A write that failed may or may not have happened.
        ledger.begin("a", Some(v3.clone()), at(t0, 4));
        ledger.settle("a", false, at(t0, 5));
        assert_eq!(ledger.compare("a", Some(&v3)), Held::AsAcknowledged);
        assert_eq!(ledger.compare("a", Some(&v2)), Held::AsAcknowledged);
        assert_eq!(ledger.pick_live(0), None, "an uncertain row is not picked");
        assert_eq!(ledger.compare("never", None), Held::AsAcknowledged);
        assert_eq!(ledger.compare("never", Some(&v1)), Held::Foreign);
    }
}
