//! Searches run on tokio's blocking pool, never on the async workers whose other requests they
//! would stall, and bounded by the query's deadline:
//! - a graph walk is short (about `ef` × M rows) and runs at once, told to stop at the deadline
//!   should it fall back to a scan;
//! - an exact scan (a selective filter, the recall monitor's re-runs) grows with the index: on a
//!   large index it first takes a place in the scan lane, so such scans never take more than
//!   half the cores and ordinary searches keep the rest; and it reads the index in pieces,
//!   letting writers (a `--local-index` node's change feed) and the readers queued behind them
//!   in between, so it holds up neither.
//!
//! A search still at work at its deadline stops and answers 503.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vecgate_core::hnsw::{HnswIndex, SearchHit, SearchOptions};

use super::{from_document, unavailable, State};
use crate::store::{Hit, SearchQuery, StoreError};

/// Rows an exact scan scores per hold of the read lock: a few milliseconds of work, so a writer
/// (and the readers queued behind it) waits no longer than that.
const SCAN_PIECE_ROWS: u32 = 16_384;

/// Below this many items a scan is cheaper than queueing for the lane.
const SCAN_LANE_MIN_ITEMS: usize = 20_000;

/// Exact scans of large indexes, at most half the cores at once.
pub(super) fn scan_lane() -> Arc<Semaphore> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    Arc::new(Semaphore::new((cores / 2).max(1)))
}

fn out_of_time() -> StoreError {
    StoreError::Unavailable(
        "the search did not finish within the request timeout (request_timeout_ms); a \
         narrower filter or a smaller k is cheaper"
            .into(),
    )
}

/// The hits for `q` (the graph walk, or the exhaustive scan when `exact`) that pass its
/// threshold, shaped as `q` asks (metadata, vector).
pub(super) async fn find(
    state: &Arc<RwLock<State>>,
    lane: &Arc<Semaphore>,
    q: &SearchQuery,
    exact: bool,
) -> Result<Vec<Hit>, StoreError> {
    let (scans, items) = {
        let state = state.read().map_err(unavailable)?;
        let exclude = q.exclude_id.as_deref();
        let not_excluded = |id: &str, _: Option<&Value>| Some(id) != exclude;
        let options = options(q, &not_excluded, None);
        let scans = exact || state.index.plans_exact_scan(q.k, &options);
        (scans, state.index.len())
    };
    let _place = if scans && items >= SCAN_LANE_MIN_ITEMS {
        Some(enter_lane(lane, q.deadline).await?)
    } else {
        None
    };
    let state = state.clone();
    let q = q.clone();
    tokio::task::spawn_blocking(move || {
        if scans {
            scan_in_pieces(&state, &q)
        } else {
            walk(&state, &q)
        }
    })
    .await
    .map_err(|e| StoreError::Internal(format!("search task failed: {e}")))?
}

async fn enter_lane(
    lane: &Arc<Semaphore>,
    deadline: Option<Instant>,
) -> Result<OwnedSemaphorePermit, StoreError> {
    let place = lane.clone().acquire_owned();
    let place = match deadline {
        Some(at) => tokio::time::timeout_at(at.into(), place)
            .await
            .map_err(|_| out_of_time())?,
        None => place.await,
    };
    place.map_err(|_| StoreError::Internal("the scan lane is closed".into()))
}

fn options<'a>(
    q: &'a SearchQuery,
    not_excluded: &'a dyn Fn(&str, Option<&Value>) -> bool,
    stop: Option<&'a dyn Fn() -> bool>,
) -> SearchOptions<'a> {
    SearchOptions {
        ef: None,
        filter: q.filter.as_ref(),
        predicate: Some(not_excluded),
        stop,
    }
}

fn walk(state: &RwLock<State>, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
    let exclude = q.exclude_id.as_deref();
    let not_excluded = |id: &str, _: Option<&Value>| Some(id) != exclude;
    let past_deadline = || q.deadline.is_some_and(|at| Instant::now() >= at);
    let state = state.read().map_err(unavailable)?;
    let found = state
        .index
        .search(
            &q.vector,
            q.k,
            &options(q, &not_excluded, Some(&past_deadline)),
        )
        .map_err(search_error)?;
    Ok(shape(&state.index, q, found))
}

fn scan_in_pieces(state: &RwLock<State>, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
    let exclude = q.exclude_id.as_deref();
    let not_excluded = |id: &str, _: Option<&Value>| Some(id) != exclude;
    let options = options(q, &not_excluded, None);
    let mut scan = None;
    loop {
        let state = state.read().map_err(unavailable)?;
        let index = &state.index;
        let current = scan.get_or_insert_with(|| index.exact_scan_begin(q.k));
        if current.is_done(index) {
            let found = index.exact_scan_finish(scan.take().expect("begun above"));
            return Ok(shape(index, q, found));
        }
        if q.deadline.is_some_and(|at| Instant::now() >= at) {
            return Err(out_of_time());
        }
        index
            .exact_scan_step(current, &q.vector, &options, SCAN_PIECE_ROWS)
            .map_err(search_error)?;
    }
}

fn search_error(e: vecgate_core::Error) -> StoreError {
    match e {
        vecgate_core::Error::Stopped => out_of_time(),
        other => StoreError::Invalid(other.to_string()),
    }
}

/// The hits that pass `q`'s threshold, with what it asked to include, read while the index is
/// locked.
fn shape(index: &HnswIndex, q: &SearchQuery, found: Vec<SearchHit>) -> Vec<Hit> {
    found
        .into_iter()
        .filter(|h| q.threshold.is_none_or(|t| h.score >= t))
        .map(|h| Hit {
            metadata: q
                .include_metadata
                .then(|| from_document(index.metadata(&h.id)).0),
            // Decoding a vector costs a copy (and dequantization for int8): only on request.
            vector: q
                .include_vector
                .then(|| index.get(&h.id).map(|s| s.vector).unwrap_or_default()),
            id: h.id,
            score: h.score,
        })
        .collect()
}
