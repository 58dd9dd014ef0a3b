//! Search: greedy descent through the upper levels, a beam search on level 0, filters applied
//! during the walk, and an exact scan when the filter is selective or the walk runs dry.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde_json::Value;

use crate::filter::Filter;
use crate::kernels::{check_dims, check_finite};
use crate::{Error, Result};

use super::graph::Graph;
use super::vectors::{check_magnitude, PreparedQuery};
use super::{HnswIndex, MAX_EF};

/// Below this estimated fraction of matching items, a filtered search scans the matches exactly
/// instead of walking the graph (the walk would visit about `ef / fraction` nodes).
const EXACT_SCAN_FRACTION: f64 = 0.03;

/// Live items sampled to estimate how many match a filter.
const SELECTIVITY_SAMPLE: usize = 512;

/// One result: the item's id and its score (higher is better).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchHit {
    pub id: String,
    pub score: f32,
}

/// A search predicate: gets an item's id and metadata, returns whether the item may be returned.
pub type ItemPredicate<'a> = &'a dyn Fn(&str, Option<&Value>) -> bool;

/// Per-search options. `Default` gives the index's `ef_search` and no filter.
///
/// `filter` and `predicate` both restrict the results (an item must pass both). Non-matching
/// items are still walked through, just not returned.
#[derive(Clone, Copy, Default)]
pub struct SearchOptions<'a> {
    /// Beam width for this search; raised to `k` when smaller.
    pub ef: Option<usize>,
    /// Keeps only items whose metadata matches (an item without metadata is matched as `null`).
    pub filter: Option<&'a Filter>,
    /// Keeps only items for which this returns true; it gets the id and the metadata.
    pub predicate: Option<ItemPredicate<'a>>,
    /// Asked every [`STOP_CHECK_ROWS`] rows of an exact scan (the unbounded part of a search):
    /// `true` ends the search with [`Error::Stopped`]. Hosts pass a deadline check, so a search
    /// that outlives its request stops working instead of holding a core.
    pub stop: Option<&'a dyn Fn() -> bool>,
}

/// Rows an exact scan scores between two `stop` checks (a few hundred microseconds of work).
pub const STOP_CHECK_ROWS: u32 = 4096;

impl std::fmt::Debug for SearchOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchOptions")
            .field("ef", &self.ef)
            .field("filter", &self.filter)
            .field("predicate", &self.predicate.is_some())
            .field("stop", &self.stop.is_some())
            .finish()
    }
}

/// A node and its score during a walk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub score: f32,
    pub node: u32,
}

impl Candidate {
    /// Best first: higher score, then lower node id (so ties are deterministic).
    #[inline(always)]
    pub fn best_first(a: &Candidate, b: &Candidate) -> Ordering {
        total_order(b.score)
            .cmp(&total_order(a.score))
            .then(a.node.cmp(&b.node))
    }
}

/// `f32::total_cmp`'s order as an integer key, written out so that it is inlined into the walk's
/// comparisons in the npm package too (built for size, where LLVM leaves `total_cmp` a call).
#[inline(always)]
fn total_order(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

/// Max-heap wrapper whose top is the best candidate.
#[derive(Debug, Clone, Copy)]
struct Best(Candidate);

/// Max-heap wrapper whose top is the worst kept result.
#[derive(Debug, Clone, Copy)]
struct Worst(Candidate);

macro_rules! heap_order {
    ($t:ident, |$a:ident, $b:ident| $cmp:expr) => {
        // Every comparison the heaps make is inlined (see `total_order`).
        impl Ord for $t {
            #[inline(always)]
            fn cmp(&self, other: &Self) -> Ordering {
                let ($a, $b) = (&self.0, &other.0);
                $cmp
            }
        }
        impl PartialOrd for $t {
            #[inline(always)]
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
            #[inline(always)]
            fn lt(&self, other: &Self) -> bool {
                self.cmp(other) == Ordering::Less
            }
            #[inline(always)]
            fn le(&self, other: &Self) -> bool {
                self.cmp(other) != Ordering::Greater
            }
            #[inline(always)]
            fn gt(&self, other: &Self) -> bool {
                self.cmp(other) == Ordering::Greater
            }
            #[inline(always)]
            fn ge(&self, other: &Self) -> bool {
                self.cmp(other) != Ordering::Less
            }
        }
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == Ordering::Equal
            }
        }
        impl Eq for $t {}
    };
}
heap_order!(Best, |a, b| Candidate::best_first(b, a));
heap_order!(Worst, |a, b| Candidate::best_first(a, b));

/// Which nodes a walk has seen: a bit per node, so the set stays in L1 for a 100k-node graph
/// (12.5 KB) and in L2 for a million (125 KB), where a 4-byte stamp per node took 400 KB and
/// 4 MB. Only the words a walk touched are cleared before the next one, so starting a walk
/// costs what the last one visited, not the graph's size.
#[derive(Debug, Clone, Default)]
struct Visited {
    bits: Vec<u64>,
    touched: Vec<u32>,
}

impl Visited {
    fn begin(&mut self, nodes: usize) {
        for &word in &self.touched {
            self.bits[word as usize] = 0;
        }
        self.touched.clear();
        let words = nodes.div_ceil(64);
        if self.bits.len() < words {
            self.bits.resize(words, 0);
        }
    }

    /// True when `node` had not been seen in this walk.
    #[inline(always)]
    fn insert(&mut self, node: u32) -> bool {
        let (word, bit) = ((node / 64) as usize, 1u64 << (node % 64));
        let bits = &mut self.bits[word];
        if *bits & bit != 0 {
            return false;
        }
        if *bits == 0 {
            self.touched.push(word as u32);
        }
        *bits |= bit;
        true
    }
}

/// Buffers of one graph walk, reused across walks.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    visited: Visited,
    candidates: BinaryHeap<Best>,
    results: BinaryHeap<Worst>,
    /// Unvisited neighbours of the node being expanded.
    fresh: Vec<u32>,
    /// The outcome of the last [`search_layer`]: best first.
    pub found: Vec<Candidate>,
}

/// Everything a search needs besides the index; pooled by the index.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    pub query: PreparedQuery,
    pub walk: Walk,
}

/// What a walk asks of the index about a node. A trait, not closures, so that its methods are
/// `#[inline(always)]` in the walk: the npm build is optimized for size, and there LLVM leaves
/// every closure call a call (~15% of a search's time).
pub trait WalkTarget {
    /// The node's score against what is being searched for (higher is better).
    fn score(&self, node: u32) -> f32;
    /// Called on a node shortly before it is scored.
    fn prefetch(&self, node: u32);
    /// Whether the node may enter the results (it is walked through either way).
    fn accept(&self, node: u32) -> bool;
}

/// A search for a query vector, with the search's filter and predicate.
struct QueryTarget<'a> {
    index: &'a HnswIndex,
    query: &'a PreparedQuery,
    options: &'a SearchOptions<'a>,
}

impl WalkTarget for QueryTarget<'_> {
    #[inline(always)]
    fn score(&self, node: u32) -> f32 {
        self.index.vectors.score(self.query, node)
    }
    #[inline(always)]
    fn prefetch(&self, node: u32) {
        self.index.vectors.prefetch(node)
    }
    #[inline(always)]
    fn accept(&self, node: u32) -> bool {
        self.index.matches(node, self.options)
    }
}

/// Greedy descent from `entry` at `from_level` down to (not including) `to_level`, moving to a
/// better neighbour until none is better; returns the node reached with its score.
pub fn descend(
    graph: &Graph,
    entry: u32,
    from_level: u8,
    to_level: u8,
    target: &impl WalkTarget,
) -> Candidate {
    let mut best = Candidate {
        score: target.score(entry),
        node: entry,
    };
    for level in (to_level + 1..=from_level).rev() {
        let mut improved = true;
        while improved {
            improved = false;
            for &nb in graph.neighbors(best.node, level) {
                let s = target.score(nb);
                if s > best.score {
                    best = Candidate { score: s, node: nb };
                    improved = true;
                }
            }
        }
    }
    best
}

/// How many rows ahead of the one being scored the walk asks the CPU to load: scoring a row
/// takes less time than fetching one from memory. On 102,500 × 384 real embeddings (f32, EPYC
/// with AVX-512) two ahead gave ~12% more QPS and a ~10% faster build than one ahead; three or
/// four ahead were slower again (more loads in flight than the core tracks).
const PREFETCH_AHEAD: usize = 2;

/// Beam search of width `ef` on `level` from `start`. Every reached node is expanded, but only
/// nodes the target accepts enter the results, left best first in `walk.found`.
pub fn search_layer(
    graph: &Graph,
    walk: &mut Walk,
    start: Candidate,
    ef: usize,
    level: u8,
    target: &impl WalkTarget,
) {
    let Walk {
        visited,
        candidates,
        results,
        fresh,
        found,
    } = walk;
    visited.begin(graph.len());
    candidates.clear();
    results.clear();
    visited.insert(start.node);
    candidates.push(Best(start));
    if target.accept(start.node) {
        results.push(Worst(start));
    }
    while let Some(Best(current)) = candidates.pop() {
        let floor = match results.peek() {
            Some(Worst(worst)) if results.len() >= ef => worst.score,
            _ => f32::NEG_INFINITY,
        };
        if current.score < floor {
            break;
        }
        fresh.clear();
        // A plain loop, not `extend(filter(..))`: the size-optimized npm build keeps iterator
        // adapters as calls.
        for &nb in graph.neighbors(current.node, level) {
            if visited.insert(nb) {
                fresh.push(nb);
            }
        }
        for &nb in fresh.iter().take(PREFETCH_AHEAD) {
            target.prefetch(nb);
        }
        for (i, &nb) in fresh.iter().enumerate() {
            if let Some(&next) = fresh.get(i + PREFETCH_AHEAD) {
                target.prefetch(next);
            }
            let s = target.score(nb);
            let full = results.len() >= ef;
            if full && s <= results.peek().map_or(f32::NEG_INFINITY, |w| w.0.score) {
                continue;
            }
            let c = Candidate { score: s, node: nb };
            candidates.push(Best(c));
            if target.accept(nb) {
                results.push(Worst(c));
                if results.len() > ef {
                    results.pop();
                }
            }
        }
    }
    found.clear();
    found.extend(results.drain().map(|w| w.0));
    found.sort_by(Candidate::best_first);
}

impl HnswIndex {
    /// The `k` best items for `query`, best first (ties by insertion order).
    ///
    /// Always returns `min(k, number of matching items)` hits: when the graph walk finds fewer
    /// (a selective filter, a disconnected region), the matching items are scanned exactly.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<SearchHit>> {
        self.check_query(query)?;
        let ef = options.ef.unwrap_or(self.config.ef_search);
        if !(1..=MAX_EF).contains(&ef) {
            return Err(Error::InvalidArgument(format!(
                "ef must be between 1 and {MAX_EF}, got {ef}"
            )));
        }
        if k == 0 || self.live == 0 {
            return Ok(Vec::new());
        }
        let mut scratch = self.take_scratch();
        let hits = self.search_with(&mut scratch, query, k, ef.max(k), options);
        self.return_scratch(scratch);
        hits
    }

    /// The `k` best matching items by an exhaustive scan, best first: what [`HnswIndex::search`]
    /// is measured against (the edge's recall monitor).
    pub fn exact_search(
        &self,
        query: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<SearchHit>> {
        self.check_query(query)?;
        if k == 0 || self.live == 0 {
            return Ok(Vec::new());
        }
        let mut scratch = self.take_scratch();
        let prepared = self.vectors.prepare(query, &mut scratch.query);
        let hits = prepared.and_then(|()| self.exact_scan(&scratch.query, k, options));
        self.return_scratch(scratch);
        hits
    }

    /// Whether [`HnswIndex::search`] with these `k` and `options` will score every matching
    /// row instead of walking the graph (a selective filter, or `k` at least the live count):
    /// work that grows with the index, which hosts may schedule apart from ordinary searches.
    pub fn plans_exact_scan(&self, k: usize, options: &SearchOptions<'_>) -> bool {
        if k >= self.live {
            return self.live > 0 && k > 0;
        }
        let filtered = options.filter.is_some() || options.predicate.is_some();
        filtered
            && self.estimated_match_fraction(&|slot: u32| self.matches(slot, options))
                < EXACT_SCAN_FRACTION
    }

    /// A query vector this index can score: its dimension, finite, not too large.
    pub(super) fn check_query(&self, query: &[f32]) -> Result<()> {
        check_dims(self.config.dims, query.len())?;
        check_finite(query)?;
        check_magnitude(query)
    }

    /// Whether `slot` is live and passes the search's filter and predicate.
    #[inline(always)]
    pub(super) fn matches(&self, slot: u32, options: &SearchOptions<'_>) -> bool {
        if !self.is_live(slot) {
            return false;
        }
        // Metadata is read only when asked about: an unfiltered walk would otherwise touch one
        // more cache line per node it reaches.
        let metadata = || self.metadata[slot as usize].as_ref();
        options
            .filter
            .is_none_or(|f| f.matches(metadata().unwrap_or(&Value::Null)))
            && options
                .predicate
                .is_none_or(|p| p(&self.ids[slot as usize], metadata()))
    }

    fn search_with(
        &self,
        scratch: &mut Scratch,
        query: &[f32],
        k: usize,
        ef: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<SearchHit>> {
        self.vectors.prepare(query, &mut scratch.query)?;
        let matches = |slot: u32| self.matches(slot, options);
        let filtered = options.filter.is_some() || options.predicate.is_some();
        let selective = filtered && self.estimated_match_fraction(&matches) < EXACT_SCAN_FRACTION;
        if k < self.live
            && !selective
            && self.walk(scratch, ef, options)
            && scratch.walk.found.len() >= k
        {
            return Ok(self.hits(scratch.walk.found[..k].iter().copied()));
        }
        self.exact_scan(&scratch.query, k, options)
    }

    /// Graph walk leaving the best `ef` matching nodes in `scratch.walk.found`, rescored exactly
    /// when int8 rows have f32 copies. False when the graph has no entry point.
    fn walk(&self, scratch: &mut Scratch, ef: usize, options: &SearchOptions<'_>) -> bool {
        let Some(entry) = self.graph.entry() else {
            return false;
        };
        let Scratch { query, walk } = scratch;
        let target = QueryTarget {
            index: self,
            query,
            options,
        };
        let start = descend(&self.graph, entry, self.graph.max_level(), 0, &target);
        search_layer(&self.graph, walk, start, ef, 0, &target);
        if self.rescores() {
            for c in &mut walk.found {
                c.score = self.vectors.exact_score(query, c.node);
            }
            walk.found.sort_by(Candidate::best_first);
        }
        true
    }

    /// True for int8 storage with f32 copies: the walk's int8 scores get replaced by exact ones.
    fn rescores(&self) -> bool {
        matches!(
            self.config.storage,
            super::Storage::Int8 {
                keep_f32_for_rescore: true
            }
        )
    }

    /// Fraction of a strided sample of live items that match.
    fn estimated_match_fraction(&self, matches: &impl Fn(u32) -> bool) -> f64 {
        let slots = self.ids.len();
        let stride = (slots / SELECTIVITY_SAMPLE).max(1);
        let (mut sampled, mut matched) = (0usize, 0usize);
        for slot in (0..slots as u32).step_by(stride) {
            if self.is_live(slot) {
                sampled += 1;
                matched += usize::from(matches(slot));
            }
        }
        if sampled == 0 {
            0.0
        } else {
            matched as f64 / sampled as f64
        }
    }

    /// Scores every matching item: the exact answer, `min(k, matching)` hits; `stop` is asked
    /// every [`STOP_CHECK_ROWS`] rows.
    fn exact_scan(
        &self,
        query: &PreparedQuery,
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<SearchHit>> {
        let mut scan = self.exact_scan_begin(k);
        while !scan.is_done(self) {
            if options.stop.is_some_and(|stop| stop()) {
                return Err(Error::Stopped);
            }
            self.scan_rows(&mut scan, query, options, STOP_CHECK_ROWS);
        }
        Ok(self.exact_scan_finish(scan))
    }

    pub(super) fn hits(&self, found: impl Iterator<Item = Candidate>) -> Vec<SearchHit> {
        found
            .map(|c| SearchHit {
                id: self.ids[c.node as usize].clone(),
                score: c.score,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heaps_order_best_and_worst_with_deterministic_ties() {
        let c = |score, node| Candidate { score, node };
        let mut best: BinaryHeap<Best> = [c(0.5, 3), c(0.9, 7), c(0.9, 2), c(0.1, 1)]
            .into_iter()
            .map(Best)
            .collect();
        let order: Vec<u32> = std::iter::from_fn(|| best.pop().map(|b| b.0.node)).collect();
        assert_eq!(order, vec![2, 7, 3, 1]);
        let mut worst: BinaryHeap<Worst> = [c(0.5, 3), c(0.9, 7), c(0.9, 2), c(0.1, 1)]
            .into_iter()
            .map(Worst)
            .collect();
        let order: Vec<u32> = std::iter::from_fn(|| worst.pop().map(|w| w.0.node)).collect();
        assert_eq!(order, vec![1, 3, 7, 2]);
    }

    #[test]
    fn total_order_is_total_cmp() {
        let values = [
            f32::NEG_INFINITY,
            -1.5,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            f32::MIN_POSITIVE,
            0.25,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        for a in values {
            for b in values {
                assert_eq!(
                    total_order(a).cmp(&total_order(b)),
                    a.total_cmp(&b),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn visited_is_cleared_between_walks_and_grows() {
        let mut v = Visited::default();
        v.begin(100);
        assert!(v.insert(2));
        assert!(v.insert(66));
        assert!(!v.insert(2));
        assert!(!v.insert(66));
        v.begin(100);
        assert!(v.insert(2), "a new walk starts empty");
        assert!(v.insert(66));
        v.begin(1000);
        assert!(v.insert(999));
        assert!(!v.insert(999));
        assert!(v.bits.len() >= 1000 / 64);
    }
}
