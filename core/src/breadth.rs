//! Search breadth from measured recall (`target_recall`): for each class of query, the smallest
//! HNSW breadth (`ef`) whose recall@k, measured by exact re-runs of sampled searches, meets a
//! target with confidence.
//!
//! A class keeps only the samples taken at its current breadth. Their mean recall, with a
//! one-sided 95% normal interval from the sample variance of per-search recall (the mean of
//! i.i.d. per-query recalls; a class is never called good on fewer than [`SETTLE_SAMPLES`]),
//! decides:
//! - **raise at once** (×1.5) when the upper bound is below the target, or the mean is clearly
//!   below it after a few samples; the breadth left is remembered as failing;
//! - **lower slowly** (×0.8) only after twice the settling samples with the lower bound at or
//!   above the target, and never to a breadth known to fail, so it does not oscillate; where
//!   ×0.8 would reach a failing breadth, halfway between the two instead (bisection), while that
//!   step is at least 5%, so a class ends close to the least breadth that suffices;
//! - a failed probe below a breadth known to pass goes **back** to that breadth, not ×1.5 up;
//! - **raise** too when [`JUDGE_SAMPLES`] at one breadth still can't show the target met: a
//!   breadth whose recall sits on the target would otherwise never be judged, and stay sampled
//!   at the unsettled rate for good; the safe side is more breadth;
//! - **unreachable** when the target is still missed at `max_ef`: the host says so.
//!
//! Pure bookkeeping: hosts sample, re-run exactly, apply the breadth and keep the state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The one-sided 95% normal quantile.
const Z: f64 = 1.645;
/// Samples at a breadth before it can be judged good.
pub const SETTLE_SAMPLES: u32 = 50;
/// Samples after which a mean this far below the target raises the breadth without waiting for
/// confidence.
const QUICK_SAMPLES: u32 = 5;
const QUICK_MARGIN: f64 = 0.05;
/// Samples at one breadth after which a class not shown to meet the target counts as missing
/// it. Per-search recall@10 scatters by ~0.1, so this judges to within ~0.007 of the target.
pub const JUDGE_SAMPLES: u32 = 10 * SETTLE_SAMPLES;
const RAISE: f64 = 1.5;
const LOWER: f64 = 0.8;
/// While a class is unsettled its searches are sampled this many times more often.
pub const UNSETTLED_SAMPLE_BOOST: f64 = 8.0;

/// How many results a search asks for, in the buckets breadth is learned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KBucket {
    UpTo10,
    UpTo100,
    Over100,
}

/// The searches one breadth is learned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueryClass {
    pub k: KBucket,
    pub filtered: bool,
}

impl QueryClass {
    pub fn of(k: usize, filtered: bool) -> QueryClass {
        let k = match k {
            0..=10 => KBucket::UpTo10,
            11..=100 => KBucket::UpTo100,
            _ => KBucket::Over100,
        };
        QueryClass { k, filtered }
    }

    /// The k bucket as a label: `10`, `100` or `more` (k up to 10, up to 100, above).
    pub fn k_label(self) -> &'static str {
        match self.k {
            KBucket::UpTo10 => "10",
            KBucket::UpTo100 => "100",
            KBucket::Over100 => "more",
        }
    }
}

/// What is known of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassBreadth {
    /// The breadth searches of the class use now.
    pub ef: usize,
    /// Recall samples taken at `ef`: their count, sum and sum of squares.
    pub samples: u32,
    pub recall_sum: f64,
    #[serde(default)]
    pub recall_sq_sum: f64,
    /// The largest breadth seen to miss the target (0: none); never lowered to again.
    pub failing: usize,
    /// The least breadth seen to meet the target with confidence (0: none); a probe below it
    /// that fails returns to it.
    #[serde(default)]
    pub passing: usize,
    /// The target is missed at the ceiling.
    pub unreachable: bool,
}

impl ClassBreadth {
    fn at(ef: usize) -> ClassBreadth {
        ClassBreadth {
            ef,
            samples: 0,
            recall_sum: 0.0,
            recall_sq_sum: 0.0,
            failing: 0,
            passing: 0,
            unreachable: false,
        }
    }

    pub fn mean(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.recall_sum / f64::from(self.samples))
    }

    /// The one-sided 95% bounds of the mean recall: (lower, upper), from the sample variance of
    /// the per-search recalls; (0, 1) with fewer than two samples.
    pub fn bounds(&self) -> (f64, f64) {
        if self.samples < 2 {
            return (0.0, 1.0);
        }
        let n = f64::from(self.samples);
        let mean = self.recall_sum / n;
        let variance = ((self.recall_sq_sum - n * mean * mean) / (n - 1.0)).max(0.0);
        let half = Z * (variance / n).sqrt();
        ((mean - half).max(0.0), (mean + half).min(1.0))
    }

    /// Settled: enough samples at this breadth, and the lower bound meets `target`.
    pub fn settled(&self, target: f64) -> bool {
        self.samples >= SETTLE_SAMPLES && self.bounds().0 >= target
    }
}

/// A change of a class's breadth, for the host's log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreadthChange {
    Raised {
        from: usize,
        to: usize,
        mean: f64,
    },
    Lowered {
        from: usize,
        to: usize,
        lower_bound: f64,
    },
    /// Missed at the ceiling.
    Unreachable {
        ef: usize,
        mean: f64,
    },
}

/// The breadth of every class, learned toward `target`.
#[derive(Debug, Clone, PartialEq)]
pub struct BreadthControl {
    target: f64,
    start_ef: usize,
    min_ef: usize,
    max_ef: usize,
    classes: BTreeMap<QueryClass, ClassBreadth>,
    /// The index's size when the classes were last measured afresh.
    measured_at_size: Option<usize>,
}

/// Growth of the index by this share since the last fresh measurement measures every class
/// again: a breadth that sufficed may no longer.
pub const RECHECK_GROWTH: f64 = 0.1;

impl BreadthControl {
    /// `target` in (0, 1]; new classes start at `start_ef`; breadth stays in `min_ef..=max_ef`.
    pub fn new(target: f64, start_ef: usize, min_ef: usize, max_ef: usize) -> BreadthControl {
        let min_ef = min_ef.max(1);
        let max_ef = max_ef.max(min_ef);
        BreadthControl {
            target,
            start_ef: start_ef.clamp(min_ef, max_ef),
            min_ef,
            max_ef,
            classes: BTreeMap::new(),
            measured_at_size: None,
        }
    }

    /// Tells the control how many items the index holds; once it has grown by
    /// [`RECHECK_GROWTH`] since the last fresh measurement, every class is measured again.
    /// True when that happened.
    pub fn observe_size(&mut self, items: usize) -> bool {
        let Some(base) = self.measured_at_size else {
            self.measured_at_size = Some(items);
            return false;
        };
        if items <= base || (items as f64) < base as f64 * (1.0 + RECHECK_GROWTH) {
            return false;
        }
        self.measured_at_size = Some(items);
        self.recheck();
        !self.classes.is_empty()
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    /// The breadth for a search of `class` (hosts raise it to at least k).
    pub fn ef(&self, class: QueryClass) -> usize {
        self.classes.get(&class).map_or(self.start_ef, |c| c.ef)
    }

    /// How much more often than the base rate to sample `class`: more while it is unsettled.
    pub fn sample_boost(&self, class: QueryClass) -> f64 {
        match self.classes.get(&class) {
            Some(c) if c.settled(self.target) || c.unreachable => 1.0,
            _ => UNSETTLED_SAMPLE_BOOST,
        }
    }

    /// Records the recall of a search of `class` run at breadth `ef`. Samples taken at another
    /// breadth than the class's current one (answered before a change) are dropped.
    pub fn record(&mut self, class: QueryClass, ef: usize, recall: f64) -> Option<BreadthChange> {
        let (target, min_ef, max_ef) = (self.target, self.min_ef, self.max_ef);
        let start = self.start_ef;
        let c = self
            .classes
            .entry(class)
            .or_insert_with(|| ClassBreadth::at(start));
        if ef != c.ef || !recall.is_finite() {
            return None;
        }
        let recall = recall.clamp(0.0, 1.0);
        c.samples += 1;
        c.recall_sum += recall;
        c.recall_sq_sum += recall * recall;
        let mean = c.mean().unwrap_or(1.0);
        let (lower, upper) = c.bounds();
        let below = upper < target
            || (c.samples >= QUICK_SAMPLES && mean < target - QUICK_MARGIN)
            || (c.samples >= JUDGE_SAMPLES && lower < target);
        if below {
            c.failing = c.failing.max(c.ef);
            if c.ef >= max_ef {
                let first = !c.unreachable;
                c.unreachable = true;
                *c = ClassBreadth {
                    failing: c.failing,
                    unreachable: true,
                    ..ClassBreadth::at(c.ef)
                };
                return first.then_some(BreadthChange::Unreachable { ef: c.ef, mean });
            }
            let from = c.ef;
            // Back to a breadth that passed, if this was a probe below it; else up by half.
            let (to, passing) = if c.passing > from {
                (c.passing, c.passing)
            } else {
                let up = (from as f64 * RAISE).ceil() as usize;
                (up.clamp(from + 1, max_ef), 0)
            };
            *c = ClassBreadth {
                failing: c.failing,
                passing,
                ..ClassBreadth::at(to)
            };
            return Some(BreadthChange::Raised { from, to, mean });
        }
        if c.samples >= 2 * SETTLE_SAMPLES && lower >= target {
            let from = c.ef;
            let mut to = ((from as f64 * LOWER).floor() as usize).max(min_ef);
            if to <= c.failing {
                // Between a failing breadth and this one: try halfway, while that saves ≥ 5%.
                let half = (c.failing + from) / 2;
                to = if from - half >= (from / 20).max(1) {
                    half
                } else {
                    from
                };
            }
            if to < from && to > c.failing {
                *c = ClassBreadth {
                    failing: c.failing,
                    passing: from,
                    ..ClassBreadth::at(to)
                };
                return Some(BreadthChange::Lowered {
                    from,
                    to,
                    lower_bound: lower,
                });
            }
        }
        None
    }

    /// Every class learned so far.
    pub fn classes(&self) -> &BTreeMap<QueryClass, ClassBreadth> {
        &self.classes
    }

    /// Takes up what an earlier run learned (kept by the host): each class starts at its
    /// breadth, within this run's bounds, and measures it again before trusting it.
    pub fn restore(&mut self, learned: impl IntoIterator<Item = (QueryClass, ClassBreadth)>) {
        for (class, state) in learned {
            let ef = state.ef.clamp(self.min_ef, self.max_ef);
            self.classes.insert(
                class,
                ClassBreadth {
                    failing: state.failing.min(ef.saturating_sub(1)),
                    ..ClassBreadth::at(ef)
                },
            );
        }
    }

    /// Measures every class again from now on (the data has grown or changed): breadths stay,
    /// their samples go.
    pub fn recheck(&mut self) {
        for c in self.classes.values_mut() {
            *c = ClassBreadth {
                failing: 0,
                ..ClassBreadth::at(c.ef)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stand-in for a search's recall at breadth `ef`: the mean rises with ef
    /// as HNSW's does, and single queries scatter around it.
    struct Curve {
        scale: f64,
        state: u64,
    }

    impl Curve {
        fn mean(&self, ef: usize) -> f64 {
            1.0 - (-(ef as f64) / self.scale).exp()
        }

        fn sample(&mut self, ef: usize) -> f64 {
            self.state = self
                .state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((self.state >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
            // recall@10 comes in tenths.
            ((self.mean(ef) + noise * 0.1) * 10.0)
                .round()
                .clamp(0.0, 10.0)
                / 10.0
        }
    }

    fn run(control: &mut BreadthControl, curve: &mut Curve, class: QueryClass, n: usize) -> usize {
        let mut changes = 0;
        for _ in 0..n {
            let ef = control.ef(class);
            if control.record(class, ef, curve.sample(ef)).is_some() {
                changes += 1;
            }
        }
        changes
    }

    #[test]
    fn converges_to_a_breadth_that_meets_the_target_and_stays_there() {
        let class = QueryClass::of(10, false);
        let mut curve = Curve {
            scale: 30.0,
            state: 7,
        };
        let mut control = BreadthControl::new(0.95, 16, 10, 1000);
        let changes = run(&mut control, &mut curve, class, 5_000);
        let ef = control.ef(class);
        // The true mean at the breadth it chose meets the target; much less breadth would not.
        assert!(curve.mean(ef) >= 0.95, "ef {ef}: {}", curve.mean(ef));
        assert!(ef <= 3 * 90, "ef {ef} is far above the ~90 that suffices");
        assert!(changes <= 12, "{changes} changes: it oscillates");
        let after = run(&mut control, &mut curve, class, 5_000);
        assert!(after <= 2, "{after} more changes once settled");
        assert!(
            control.classes()[&class].settled(0.95)
                || control.classes()[&class].samples < SETTLE_SAMPLES
        );
        assert_eq!(
            control.sample_boost(class),
            if control.classes()[&class].settled(0.95) {
                1.0
            } else {
                UNSETTLED_SAMPLE_BOOST
            }
        );
    }

    #[test]
    fn settles_close_to_the_least_breadth_that_suffices() {
        // Least sufficient: mean 0.95 at ef ≈ 90 (scale 30). From 16, ×1.5 steps overshoot to
        // 122; bisection between the failing and the passing breadth brings it back down.
        for seed in [1, 7, 11, 23] {
            let class = QueryClass::of(10, false);
            let mut curve = Curve {
                scale: 30.0,
                state: seed,
            };
            let mut control = BreadthControl::new(0.95, 16, 10, 1000);
            run(&mut control, &mut curve, class, 20_000);
            let ef = control.ef(class);
            assert!(
                curve.mean(ef) >= 0.95,
                "seed {seed}: ef {ef}: {}",
                curve.mean(ef)
            );
            assert!(
                ef <= 110,
                "seed {seed}: ef {ef}, over 1.2× the ~90 that suffices"
            );
            let c = &control.classes()[&class];
            assert!(
                c.failing < ef && (c.passing == 0 || c.passing >= ef),
                "{c:?}"
            );
        }
    }

    #[test]
    fn lowers_a_breadth_that_is_far_more_than_needed() {
        let class = QueryClass::of(10, true);
        let mut curve = Curve {
            scale: 10.0,
            state: 3,
        };
        let mut control = BreadthControl::new(0.9, 400, 10, 1000);
        run(&mut control, &mut curve, class, 20_000);
        let ef = control.ef(class);
        assert!(ef < 100, "still at {ef}");
        assert!(curve.mean(ef) >= 0.9);
    }

    #[test]
    fn a_breadth_whose_recall_sits_on_the_target_is_judged_and_raised() {
        // At ef 40 the searches alternate 0.9 and 1.0: mean exactly 0.95, so the interval
        // straddles the target however many samples come; more breadth gives 1.0.
        let class = QueryClass::of(10, false);
        let mut control = BreadthControl::new(0.95, 40, 10, 1000);
        let mut changes = Vec::new();
        for i in 0..5 * JUDGE_SAMPLES {
            let ef = control.ef(class);
            let recall = if ef > 40 {
                1.0
            } else if i % 2 == 0 {
                0.9
            } else {
                1.0
            };
            changes.extend(control.record(class, ef, recall));
        }
        let Some(&BreadthChange::Raised { from, to, mean }) = changes.first() else {
            panic!("not raised: {changes:?}");
        };
        assert_eq!((from, to), (40, 60), "{changes:?}");
        assert!((mean - 0.95).abs() < 1e-9, "raised at a mean of {mean}");
        let c = &control.classes()[&class];
        assert!(c.ef > 40 && c.failing == 40 && c.settled(0.95), "{c:?}");
    }

    #[test]
    fn a_target_out_of_reach_is_reported_once_at_the_ceiling() {
        let class = QueryClass::of(50, false);
        let mut curve = Curve {
            scale: 1000.0,
            state: 11,
        };
        let mut control = BreadthControl::new(0.99, 40, 10, 200);
        let mut unreachable = 0;
        for _ in 0..2_000 {
            let ef = control.ef(class);
            if let Some(BreadthChange::Unreachable { ef, .. }) =
                control.record(class, ef, curve.sample(ef))
            {
                assert_eq!(ef, 200);
                unreachable += 1;
            }
        }
        assert_eq!(unreachable, 1);
        assert!(control.classes()[&class].unreachable);
        assert_eq!(control.ef(class), 200);
    }

    #[test]
    fn samples_from_an_old_breadth_and_restored_state_are_measured_again() {
        let class = QueryClass::of(10, false);
        let mut control = BreadthControl::new(0.95, 40, 10, 1000);
        assert_eq!(
            control.record(class, 99, 0.0),
            None,
            "not the current breadth"
        );
        assert_eq!(control.classes()[&class].samples, 0);
        let mut learned = control.classes().clone();
        learned.get_mut(&class).unwrap().ef = 5_000;
        learned.get_mut(&class).unwrap().samples = 500;
        let mut restarted = BreadthControl::new(0.95, 40, 10, 1000);
        restarted.restore(learned);
        assert_eq!(restarted.ef(class), 1000, "clamped to this run's ceiling");
        assert_eq!(restarted.classes()[&class].samples, 0, "measured again");
        assert_eq!(restarted.sample_boost(class), UNSETTLED_SAMPLE_BOOST);
    }

    #[test]
    fn growth_of_the_index_measures_every_class_again() {
        let class = QueryClass::of(10, false);
        let mut control = BreadthControl::new(0.9, 40, 10, 1000);
        assert!(!control.observe_size(10_000), "the first size is the base");
        for _ in 0..60 {
            control.record(class, 40, 1.0);
        }
        assert!(control.classes()[&class].settled(0.9));
        assert!(!control.observe_size(10_999), "under 10% more");
        assert!(control.observe_size(11_000));
        let c = &control.classes()[&class];
        assert_eq!(
            (c.ef, c.samples),
            (40, 0),
            "the breadth stays, its samples go"
        );
        assert_eq!(control.sample_boost(class), UNSETTLED_SAMPLE_BOOST);
        assert!(!control.observe_size(11_500), "measured from the new size");
    }

    #[test]
    fn classes_bucket_k_and_filters() {
        assert_eq!(QueryClass::of(10, false).k, KBucket::UpTo10);
        assert_eq!(QueryClass::of(11, true).k, KBucket::UpTo100);
        assert_eq!(QueryClass::of(101, true).k_label(), "more");
        let perfect = ClassBreadth {
            samples: 52,
            recall_sum: 52.0,
            recall_sq_sum: 52.0,
            ..ClassBreadth::at(40)
        };
        assert!(perfect.bounds().0 >= 0.95 && perfect.settled(0.95));
        let few = ClassBreadth {
            samples: 10,
            recall_sum: 10.0,
            recall_sq_sum: 10.0,
            ..ClassBreadth::at(40)
        };
        assert!(!few.settled(0.95), "ten perfect answers are not enough");
        // Half the searches at 0.9, half at 1.0: mean 0.95, standard error 0.05 / √n.
        let mixed = ClassBreadth {
            samples: 100,
            recall_sum: 95.0,
            recall_sq_sum: 50.0 * 0.81 + 50.0,
            ..ClassBreadth::at(40)
        };
        let (lower, upper) = mixed.bounds();
        let half = 1.645 * (0.05f64 * 0.05 * 100.0 / 99.0 / 100.0).sqrt();
        assert!((lower - (0.95 - half)).abs() < 1e-9, "{lower}");
        assert!((upper - (0.95 + half)).abs() < 1e-9, "{upper}");
    }
}
