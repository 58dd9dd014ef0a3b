//! The exhaustive scan a piece at a time. A host that keeps the index behind a lock can let
//! writers in between pieces (a long scan would otherwise hold them, and every reader queued
//! behind them, for its whole length), and can stop a scan that has run out of time.
//!
//! Slots are never rewritten in place (an upsert tombstones the old slot and appends a new one),
//! so what a piece scored stays true; a candidate deleted since is dropped at the end (spare
//! candidates stand in for it), and a compaction in between (which renumbers slots) restarts
//! the scan.

use crate::topk::TopK;
use crate::Result;

use super::search::{Candidate, SearchHit, SearchOptions};
use super::vectors::PreparedQuery;
use super::HnswIndex;

/// An exact scan under way: the best matches so far and the next slot to score.
#[derive(Debug, Clone)]
pub struct ExactScan {
    k: usize,
    top: TopK,
    next: u32,
    compactions: u64,
}

impl ExactScan {
    /// Whether every slot has been scored.
    pub fn is_done(&self, index: &HnswIndex) -> bool {
        self.compactions == index.compactions && self.next as usize >= index.ids.len()
    }
}

impl HnswIndex {
    /// A scan for the `k` best matching items, to run with [`HnswIndex::exact_scan_step`].
    pub fn exact_scan_begin(&self, k: usize) -> ExactScan {
        // Spares stand in for candidates deleted before the scan ends.
        let spares = 8 + k / 8;
        ExactScan {
            k,
            top: TopK::new(k.saturating_add(spares), f32::NEG_INFINITY),
            next: 0,
            compactions: self.compactions,
        }
    }

    /// Scores up to `rows` more slots against `query`, keeping those that pass `options`' filter
    /// and predicate (its `ef` and `stop` play no part). Call until [`ExactScan::is_done`].
    pub fn exact_scan_step(
        &self,
        scan: &mut ExactScan,
        query: &[f32],
        options: &SearchOptions<'_>,
        rows: u32,
    ) -> Result<()> {
        self.check_query(query)?;
        if scan.compactions != self.compactions {
            *scan = self.exact_scan_begin(scan.k);
        }
        let mut scratch = self.take_scratch();
        let prepared = self.vectors.prepare(query, &mut scratch.query);
        if prepared.is_ok() {
            self.scan_rows(scan, &scratch.query, options, rows);
        }
        self.return_scratch(scratch);
        prepared
    }

    /// Scores up to `rows` slots from where `scan` stopped.
    pub(super) fn scan_rows(
        &self,
        scan: &mut ExactScan,
        query: &PreparedQuery,
        options: &SearchOptions<'_>,
        rows: u32,
    ) {
        let end = (self.ids.len() as u32).min(scan.next.saturating_add(rows.max(1)));
        for slot in scan.next..end {
            if self.matches(slot, options) {
                scan.top
                    .push(slot as usize, self.vectors.exact_score(query, slot));
            }
        }
        scan.next = end;
    }

    /// The scan's hits, best first, as [`HnswIndex::exact_search`] gives them; items deleted
    /// while it ran are left out.
    pub fn exact_scan_finish(&self, scan: ExactScan) -> Vec<SearchHit> {
        let same_slots = scan.compactions == self.compactions;
        self.hits(
            scan.top
                .into_sorted_vec()
                .into_iter()
                .map(|s| Candidate {
                    score: s.score,
                    node: s.index as u32,
                })
                .filter(|c| same_slots && self.is_live(c.node))
                .take(scan.k),
        )
    }
}
