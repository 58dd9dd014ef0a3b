//! The recall monitor: a share of searches (`recall_sample_rate`) is run again exactly after its
//! reply has gone, off the request path, and recall@k of the reply is recorded.
//!
//! The handler only queues checks (a small bounded queue; when it is full the check is skipped
//! and counted); a host that can work between requests runs them ([`Handler::run_recall_check`]
//! on the native host's background task). A host without one (Spin: an instance lives for one
//! request) never samples.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use super::Handler;
use crate::embed::EmbedHost;
use crate::store::{Hit, SearchQuery, Store};

/// Checks waiting at most; more are skipped (and counted) rather than queued.
const QUEUE_CAPACITY: usize = 16;
/// Buckets of the recall histogram.
const RECALL_BUCKETS: [f64; 8] = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1.0];

/// One search to re-run exactly: the query as answered, and the ids the reply held.
pub struct RecallCheck {
    query: SearchQuery,
    answered: Vec<String>,
}

#[derive(Default)]
struct Tally {
    /// Cumulative counts per bucket, the sum and the count of recall values.
    buckets: [u64; RECALL_BUCKETS.len()],
    sum: f64,
    done: u64,
    skipped: u64,
    failed: u64,
}

pub struct RecallMonitor {
    rate: f64,
    /// `backend` label: the dialect, or "embedded".
    backend: &'static str,
    /// Whether a worker runs the checks; without one nothing is sampled.
    worker: AtomicBool,
    /// Sampling credit: each search adds `rate`; a whole unit takes a sample. Deterministic,
    /// so a rate of 0.25 checks exactly every fourth search.
    credit: Mutex<f64>,
    queue: Mutex<VecDeque<RecallCheck>>,
    /// Keyed by whether the search was filtered.
    tallies: Mutex<BTreeMap<bool, Tally>>,
}

impl RecallMonitor {
    pub fn new(rate: f64, backend: &'static str) -> Self {
        RecallMonitor {
            rate,
            backend,
            worker: AtomicBool::new(false),
            credit: Mutex::new(0.0),
            queue: Mutex::new(VecDeque::new()),
            tallies: Mutex::new(BTreeMap::new()),
        }
    }

    /// Called by a host that will run [`Handler::run_recall_check`] from now on.
    pub fn enable_worker(&self) {
        self.worker.store(true, Ordering::Relaxed);
    }

    fn take_sample(&self) -> bool {
        if self.rate <= 0.0 || !self.worker.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(mut credit) = self.credit.lock() else {
            return false;
        };
        *credit += self.rate;
        if *credit >= 1.0 {
            *credit -= 1.0;
            true
        } else {
            false
        }
    }

    /// Queues a check of this answered search when it is sampled; never blocks.
    pub fn offer(&self, query: &SearchQuery, hits: &[Hit]) {
        if !self.take_sample() {
            return;
        }
        let filtered = query.filter.is_some();
        let queued = self.queue.lock().is_ok_and(|mut queue| {
            if queue.len() >= QUEUE_CAPACITY {
                return false;
            }
            queue.push_back(RecallCheck {
                // A background re-run, after the request's deadline.
                query: SearchQuery {
                    deadline: None,
                    ..query.clone()
                },
                answered: hits.iter().map(|h| h.id.clone()).collect(),
            });
            true
        });
        if !queued {
            self.tally(filtered, |t| t.skipped += 1);
        }
    }

    fn tally(&self, filtered: bool, update: impl FnOnce(&mut Tally)) {
        if let Ok(mut tallies) = self.tallies.lock() {
            update(tallies.entry(filtered).or_default());
        }
    }

    fn record(&self, filtered: bool, recall: f64) {
        self.tally(filtered, |t| {
            for (count, bound) in t.buckets.iter_mut().zip(RECALL_BUCKETS) {
                if recall <= bound {
                    *count += 1;
                }
            }
            t.sum += recall;
            t.done += 1;
        });
    }

    /// `/v1/stats`' `recall`: the running mean over every check, and the counts.
    pub fn stats(&self) -> Value {
        let tallies = self.tallies.lock().map(|t| {
            t.values().fold((0.0, 0, 0), |(sum, done, skipped), t| {
                (sum + t.sum, done + t.done, skipped + t.skipped)
            })
        });
        let (sum, done, skipped) = tallies.unwrap_or((0.0, 0, 0));
        json!({
            "sample_rate": self.rate,
            "mean": (done > 0).then(|| sum / done as f64),
            "samples": done,
            "skipped": skipped,
        })
    }

    /// The Prometheus lines: the recall histogram and the check counters.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let Ok(tallies) = self.tallies.lock() else {
            return;
        };
        let backend = self.backend;
        out.push_str("# HELP vecgate_search_recall recall@k of sampled searches against an exact search of the same query and filter.\n");
        out.push_str("# TYPE vecgate_search_recall histogram\n");
        for (filtered, t) in tallies.iter() {
            let labels = format!("backend=\"{backend}\",filtered=\"{filtered}\"");
            for (bound, count) in RECALL_BUCKETS.iter().zip(t.buckets) {
                let _ = writeln!(
                    out,
                    "vecgate_search_recall_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "vecgate_search_recall_bucket{{{labels},le=\"+Inf\"}} {}",
                t.done
            );
            let _ = writeln!(out, "vecgate_search_recall_sum{{{labels}}} {}", t.sum);
            let _ = writeln!(out, "vecgate_search_recall_count{{{labels}}} {}", t.done);
        }
        out.push_str("# HELP vecgate_recall_checks_total Recall checks by outcome: done, skipped (queue full) or failed (the exact search failed).\n");
        out.push_str("# TYPE vecgate_recall_checks_total counter\n");
        for (filtered, t) in tallies.iter() {
            for (outcome, n) in [
                ("done", t.done),
                ("skipped", t.skipped),
                ("failed", t.failed),
            ] {
                let _ = writeln!(
                    out,
                    "vecgate_recall_checks_total{{backend=\"{backend}\",filtered=\"{filtered}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
    }
}

impl<S: Store, H: EmbedHost> Handler<S, H> {
    /// Runs one queued recall check; false when there was none.
    pub async fn run_recall_check(&self) -> bool {
        let check = self
            .recall
            .queue
            .lock()
            .ok()
            .and_then(|mut q| q.pop_front());
        let Some(check) = check else {
            return false;
        };
        let filtered = check.query.filter.is_some();
        match self.store.exact_search(&check.query).await {
            Ok(exact) => {
                let recall = if exact.is_empty() {
                    // Nothing could match: an empty reply is complete.
                    1.0
                } else {
                    let found = exact
                        .iter()
                        .filter(|h| check.answered.contains(&h.id))
                        .count();
                    found as f64 / exact.len() as f64
                };
                self.recall.record(filtered, recall);
            }
            Err(e) => {
                eprintln!("vecgate: recall check failed: {e:?}");
                self.recall.tally(filtered, |t| t.failed += 1);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(filtered: bool) -> SearchQuery {
        SearchQuery {
            vector: vec![1.0, 0.0],
            k: 2,
            threshold: None,
            filter: filtered.then(|| {
                vecgate_core::filter::Filter::parse(&json!({"year": {"$gt": 1}})).unwrap()
            }),
            exclude_id: None,
            include_metadata: false,
            include_vector: false,
            log: Default::default(),
            deadline: None,
        }
    }

    #[test]
    fn samples_at_the_rate_only_with_a_worker_and_skips_when_full() {
        let m = RecallMonitor::new(0.25, "embedded");
        m.offer(&query(false), &[]);
        assert!(m.queue.lock().unwrap().is_empty(), "no worker, no sample");
        m.enable_worker();
        for _ in 0..8 {
            m.offer(&query(false), &[]);
        }
        assert_eq!(m.queue.lock().unwrap().len(), 2, "every fourth search");
        let all = RecallMonitor::new(1.0, "pgvector");
        all.enable_worker();
        for _ in 0..QUEUE_CAPACITY + 3 {
            all.offer(&query(true), &[]);
        }
        assert_eq!(all.queue.lock().unwrap().len(), QUEUE_CAPACITY);
        assert_eq!(all.stats()["skipped"], 3);
        all.record(true, 0.5);
        all.record(true, 1.0);
        assert_eq!(all.stats()["mean"], 0.75);
        let mut text = String::new();
        all.render(&mut text);
        assert!(text.contains(
            "vecgate_search_recall_bucket{backend=\"pgvector\",filtered=\"true\",le=\"0.5\"} 1"
        ));
        assert!(
            text.contains("vecgate_search_recall_count{backend=\"pgvector\",filtered=\"true\"} 2")
        );
        assert!(text.contains(
            "vecgate_recall_checks_total{backend=\"pgvector\",filtered=\"true\",outcome=\"skipped\"} 3"
        ));
        let off = RecallMonitor::new(0.0, "embedded");
        off.enable_worker();
        off.offer(&query(false), &[]);
        assert!(off.queue.lock().unwrap().is_empty());
    }
}
