//! The recall monitor: a share of searches (`recall_sample_rate`) is run again exactly after its
//! reply has gone, off the request path, and recall@k of the reply is recorded.
//!
//! The handler only queues checks (a small bounded queue; when it is full the check is skipped
//! and counted); a host that can work between requests runs them ([`Handler::run_recall_check`]
//! on the native host's background task). A host without one (Spin: an instance lives for one
//! request) never samples.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};
use vecgate_core::breadth::{BreadthChange, BreadthControl, ClassBreadth, QueryClass};

use super::Handler;
use crate::embed::EmbedHost;
use crate::store::{Hit, SearchBreadth, SearchQuery, Store};

/// Checks waiting at most; more are skipped (and counted) rather than queued.
const QUEUE_CAPACITY: usize = 16;
/// Buckets of the recall histogram.
const RECALL_BUCKETS: [f64; 8] = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1.0];

/// One search to re-run exactly: the query as answered, the ids the reply held, and the
/// breadth its class had (when a recall target is kept).
pub struct RecallCheck {
    query: SearchQuery,
    answered: Vec<String>,
    class_ef: Option<usize>,
}

/// Saves what the breadth control learned, at each change (the native host: a file).
pub type KeepBreadth = Box<dyn Fn(&BTreeMap<QueryClass, ClassBreadth>) + Send + Sync>;

struct Breadth {
    control: BreadthControl,
    keep: KeepBreadth,
    /// `exact_when_unreachable`.
    exact_when_unreachable: bool,
}

/// What a search asks of recall.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum RecallWish {
    /// Its class's `target_recall`.
    #[default]
    Target,
    /// At least this recall@k (`min_recall`): the class's breadth when its measured lower
    /// bound meets it, else an exact scan.
    AtLeast(f64),
    /// An exact scan (`exact: true`).
    Exact,
}

/// How a search runs: its breadth, and the breadth its class had (for the check).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchPlan {
    pub breadth: SearchBreadth,
    pub class_ef: Option<usize>,
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
    /// `search_ef`: the breadth searches use when no target is kept.
    fixed_ef: Option<usize>,
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
    /// Each class's search breadth, learned from the checks toward `target_recall`.
    breadth: OnceLock<Mutex<Breadth>>,
}

impl RecallMonitor {
    pub fn new(rate: f64, backend: &'static str) -> Self {
        RecallMonitor {
            rate,
            fixed_ef: None,
            backend,
            worker: AtomicBool::new(false),
            credit: Mutex::new(0.0),
            queue: Mutex::new(VecDeque::new()),
            tallies: Mutex::new(BTreeMap::new()),
            breadth: OnceLock::new(),
        }
    }

    /// Without a recall target, every search uses breadth `ef` (`search_ef`).
    pub fn with_fixed_ef(mut self, ef: Option<usize>) -> Self {
        self.fixed_ef = ef;
        self
    }

    /// From now on each class of search uses the breadth `control` learns from the checks;
    /// `keep` saves it at every change. With `exact_when_unreachable`, a class out of reach
    /// at the ceiling is searched exactly.
    pub fn enable_breadth(
        &self,
        control: BreadthControl,
        keep: KeepBreadth,
        exact_when_unreachable: bool,
    ) {
        let _ = self.breadth.set(Mutex::new(Breadth {
            control,
            keep,
            exact_when_unreachable,
        }));
    }

    /// How a `k`-result search (filtered or not) that wishes `wish` runs: at its class's
    /// learned breadth (at least k), exactly, or, without a recall target, at the backend's
    /// own breadth.
    pub fn plan(&self, k: usize, filtered: bool, wish: RecallWish) -> SearchPlan {
        let exact = SearchPlan {
            breadth: SearchBreadth::Exact,
            class_ef: None,
        };
        let breadth = self.breadth.get().and_then(|b| b.lock().ok());
        let Some(breadth) = breadth.filter(|_| wish != RecallWish::Exact) else {
            return match wish {
                RecallWish::Target => SearchPlan {
                    breadth: self
                        .fixed_ef
                        .map_or(SearchBreadth::Backend, |ef| SearchBreadth::Ef(ef.max(k))),
                    class_ef: None,
                },
                // Without measurements no breadth is known to meet a given recall.
                _ => exact,
            };
        };
        let class = QueryClass::of(k, filtered);
        let state = breadth.control.classes().get(&class);
        let search_exactly = match wish {
            RecallWish::Exact => true,
            RecallWish::AtLeast(recall) => !state.is_some_and(|c| {
                c.samples >= vecgate_core::breadth::SETTLE_SAMPLES && c.bounds().0 >= recall
            }),
            RecallWish::Target => {
                breadth.exact_when_unreachable && state.is_some_and(|c| c.unreachable)
            }
        };
        if search_exactly {
            return exact;
        }
        let class_ef = breadth.control.ef(class);
        SearchPlan {
            breadth: SearchBreadth::Ef(class_ef.max(k)),
            class_ef: Some(class_ef),
        }
    }

    /// Called by a host that will run [`Handler::run_recall_check`] from now on.
    pub fn enable_worker(&self) {
        self.worker.store(true, Ordering::Relaxed);
    }

    /// Whether to check this search: `rate` of them, more for a class still being learned.
    fn take_sample(&self, class: QueryClass) -> bool {
        if self.rate <= 0.0 || !self.worker.load(Ordering::Relaxed) {
            return false;
        }
        let boost = self
            .breadth
            .get()
            .and_then(|b| b.lock().ok().map(|b| b.control.sample_boost(class)))
            .unwrap_or(1.0);
        let Ok(mut credit) = self.credit.lock() else {
            return false;
        };
        *credit += (self.rate * boost).min(1.0);
        if *credit >= 1.0 {
            *credit -= 1.0;
            true
        } else {
            false
        }
    }

    /// Queues a check of this answered search when it is sampled; never blocks. `class_ef`:
    /// the breadth its class had, when a recall target is kept.
    pub fn offer(&self, query: &SearchQuery, hits: &[Hit], class_ef: Option<usize>) {
        let filtered = query.filter.is_some();
        if !self.take_sample(QueryClass::of(query.k, filtered)) {
            return;
        }
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
                class_ef,
            });
            true
        });
        if !queued {
            self.tally(filtered, |t| t.skipped += 1);
        }
    }

    /// Tells the breadth control the index's size: grown by a tenth since it last measured, it
    /// measures every class again.
    pub fn observe_index_size(&self, items: usize) {
        let Some(Ok(mut breadth)) = self.breadth.get().map(Mutex::lock) else {
            return;
        };
        if breadth.control.observe_size(items) {
            eprintln!(
                "vecgate: the index grew to {items} items: measuring the search breadths again"
            );
        }
    }

    /// Feeds a check's recall to the breadth control; says so when a class's breadth changes.
    fn learn(&self, query: &SearchQuery, class_ef: usize, recall: f64) {
        let Some(Ok(mut breadth)) = self.breadth.get().map(Mutex::lock) else {
            return;
        };
        let class = QueryClass::of(query.k, query.filter.is_some());
        let Some(change) = breadth.control.record(class, class_ef, recall) else {
            return;
        };
        let (backend, target) = (self.backend, breadth.control.target());
        let what = format!(
            "k ≤ {}, {}",
            class.k_label(),
            if class.filtered {
                "filtered"
            } else {
                "unfiltered"
            }
        );
        match change {
            BreadthChange::Raised { from, to, mean } => eprintln!(
                "vecgate: {backend} search breadth for {what} raised {from} → {to} (recall \
                 {mean:.3} < target {target})"
            ),
            BreadthChange::Lowered {
                from,
                to,
                lower_bound,
            } => eprintln!(
                "vecgate: {backend} search breadth for {what} lowered {from} → {to} (recall ≥ \
                 {lower_bound:.3} with 95% confidence, target {target})"
            ),
            BreadthChange::Unreachable { ef, mean } => eprintln!(
                "vecgate: WARNING {backend} searches with {what} reach recall {mean:.3} at \
                 max_ef {ef}, below target_recall {target}: raise max_ef or lower the target"
            ),
        }
        (breadth.keep)(breadth.control.classes());
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
        let mut stats = json!({
            "sample_rate": self.rate,
            "mean": (done > 0).then(|| sum / done as f64),
            "samples": done,
            "skipped": skipped,
        });
        if let Some(breadth) = self.breadth.get().and_then(|b| b.lock().ok()) {
            let target = breadth.control.target();
            stats["target"] = json!(target);
            stats["breadth"] = breadth
                .control
                .classes()
                .iter()
                .map(|(class, c)| {
                    let (lower, upper) = c.bounds();
                    let measured = c.samples >= 2;
                    json!({
                        "k": class.k_label(),
                        "filtered": class.filtered,
                        "ef": c.ef,
                        "samples": c.samples,
                        "mean": c.mean(),
                        "lower_bound": measured.then_some(lower),
                        "upper_bound": measured.then_some(upper),
                        "settled": c.settled(target),
                        "unreachable": c.unreachable,
                    })
                })
                .collect();
        }
        stats
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
        if let Some(breadth) = self.breadth.get().and_then(|b| b.lock().ok()) {
            let _ = writeln!(
                out,
                "# HELP vecgate_recall_target target_recall: the recall@k each class of search is kept at.\n\
                 # TYPE vecgate_recall_target gauge\nvecgate_recall_target{{backend=\"{backend}\"}} {}",
                breadth.control.target()
            );
            let classes = breadth.control.classes();
            let target = breadth.control.target();
            // One gauge per fact of a class: (name, help, value).
            type Fact = fn(&ClassBreadth, f64) -> Option<f64>;
            let facts: [(&str, &str, Fact); 5] = [
                (
                    "vecgate_search_breadth",
                    "The HNSW breadth (ef) each class of search uses, learned toward target_recall.",
                    |c, _| Some(c.ef as f64),
                ),
                (
                    "vecgate_search_breadth_samples",
                    "Recall checks taken at the class's current breadth.",
                    |c, _| Some(f64::from(c.samples)),
                ),
                (
                    "vecgate_search_breadth_recall_lower",
                    "The one-sided 95% lower bound of the class's recall@k at its breadth.",
                    |c, _| (c.samples >= 2).then(|| c.bounds().0),
                ),
                (
                    "vecgate_search_breadth_settled",
                    "1 when the class's lower bound meets target_recall after enough checks.",
                    |c, target| Some(f64::from(u8::from(c.settled(target)))),
                ),
                (
                    "vecgate_search_breadth_unreachable",
                    "1 when a class misses target_recall even at max_ef.",
                    |c, _| Some(f64::from(u8::from(c.unreachable))),
                ),
            ];
            for (name, help, value) in facts {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for (class, c) in classes {
                    if let Some(v) = value(c, target) {
                        let _ = writeln!(
                            out,
                            "{name}{{backend=\"{backend}\",k=\"{}\",filtered=\"{}\"}} {v}",
                            class.k_label(),
                            class.filtered,
                        );
                    }
                }
            }
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
                if let Some(class_ef) = check.class_ef {
                    self.recall.learn(&check.query, class_ef, recall);
                }
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
            breadth: SearchBreadth::Backend,
            deadline: None,
        }
    }

    #[test]
    fn samples_at_the_rate_only_with_a_worker_and_skips_when_full() {
        let m = RecallMonitor::new(0.25, "embedded");
        m.offer(&query(false), &[], None);
        assert!(m.queue.lock().unwrap().is_empty(), "no worker, no sample");
        m.enable_worker();
        for _ in 0..8 {
            m.offer(&query(false), &[], None);
        }
        assert_eq!(m.queue.lock().unwrap().len(), 2, "every fourth search");
        let all = RecallMonitor::new(1.0, "pgvector");
        all.enable_worker();
        for _ in 0..QUEUE_CAPACITY + 3 {
            all.offer(&query(true), &[], None);
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
        off.offer(&query(false), &[], None);
        assert!(off.queue.lock().unwrap().is_empty());
    }
}
