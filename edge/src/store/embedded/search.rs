//! Searches run off the async workers, whose other requests they would stall, and are
//! bounded by the query's deadline:
//! - a graph walk is short (about `ef` × M rows): it runs at once on tokio's blocking pool, told
//!   to stop at the deadline should it fall back to a scan;
//! - an exact scan of a large index (a selective filter, the recall monitor's re-runs, a filter
//!   too costly even to plan with) grows with the index: it runs in the scan lane, a few
//!   threads (half the cores) under SCHED_IDLE, so ordinary searches keep their latency
//!   whatever the scans do; and it reads the index in pieces, letting writers (a
//!   `--local-index` node's change feed) and the readers queued behind them in between.
//!
//! A search still at work at its deadline stops and answers 503.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;
use vecgate_core::hnsw::{HnswIndex, SearchHit, SearchOptions};

use super::{from_document, unavailable, State};
use crate::store::{Hit, SearchBreadth, SearchQuery, StoreError};

/// The work an exact scan does per hold of the read lock, so that a writer (and the readers
/// queued behind it) waits no longer than that, however costly the filter is per row.
const SCAN_PIECE: Duration = Duration::from_millis(2);
/// Rows of a scan's first piece; later pieces are sized from its pace to take [`SCAN_PIECE`].
const FIRST_PIECE_ROWS: u32 = 1024;

/// Below this many items a scan is cheaper than a trip to the lane.
const SCAN_LANE_MIN_ITEMS: usize = 20_000;

/// Filters with more conditions than this cost real work even to plan (the plan tests a sample
/// of 512 rows): on a large index their whole search goes to the lane.
const HEAVY_FILTER_NODES: usize = 32;

type Job = Box<dyn FnOnce() + Send>;

/// Threads for exact scans, at idle priority; jobs queue for them.
pub(super) struct ScanLane {
    jobs: Mutex<Sender<Job>>,
}

impl ScanLane {
    pub(super) fn start() -> ScanLane {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("vecgate-scan-{i}"))
                .spawn(move || run_jobs(&queue));
            if let Err(e) = spawned {
                eprintln!("vecgate: WARNING could not start a scan thread: {e}");
            }
        }
        ScanLane {
            jobs: Mutex::new(jobs),
        }
    }

    /// Runs `work` on a lane thread and waits for it.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        self.jobs
            .lock()
            .map_err(unavailable)?
            .send(job)
            .map_err(|_| StoreError::Internal("the scan lane has stopped".into()))?;
        answered
            .await
            .map_err(|_| StoreError::Internal("a scan failed".into()))?
    }
}

fn run_jobs(queue: &Mutex<Receiver<Job>>) {
    // SCHED_IDLE: the thread runs only on CPU time nothing else wants, and a waking ordinary
    // search preempts it at once (a nice value still shares, and waits for a scheduler tick).
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    if let Err(e) = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    ) {
        eprintln!("vecgate: WARNING could not lower the scan thread's priority: {e:?}");
    }
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

fn out_of_time() -> StoreError {
    StoreError::Unavailable(
        "the search did not finish within the request timeout (request_timeout_ms); a \
         narrower filter or a smaller k is cheaper"
            .into(),
    )
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|at| Instant::now() >= at)
}

/// The hits for `q` (the graph walk, or the exhaustive scan when `exact` or `q` asks for it)
/// that pass its threshold, shaped as `q` asks (metadata, vector).
pub(super) async fn find(
    state: &Arc<RwLock<State>>,
    lane: &ScanLane,
    q: &SearchQuery,
    exact: bool,
) -> Result<Vec<Hit>, StoreError> {
    let exact = exact || q.breadth == SearchBreadth::Exact;
    let large = items(state)? >= SCAN_LANE_MIN_ITEMS;
    let heavy = q
        .filter
        .as_ref()
        .is_some_and(|f| f.node_count() > HEAVY_FILTER_NODES);
    let (state, q) = (state.clone(), q.clone());
    if large && (exact || heavy) {
        return lane.run(move || search(&state, &q, exact)).await;
    }
    let (q, answered) = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let scans = exact || plans_scan(&state, &q)?;
            if scans && large {
                return Ok((q, None));
            }
            let hits = if scans {
                scan_in_pieces(&state, &q)?
            } else {
                walk(&state, &q)?
            };
            Ok((q, Some(hits)))
        })
        .await
        .map_err(|e| StoreError::Internal(format!("search task failed: {e}")))??
    };
    match answered {
        Some(hits) => Ok(hits),
        None => lane.run(move || scan_in_pieces(&state, &q)).await,
    }
}

/// The walk, or the scan when `exact` or when the plan says so.
fn search(state: &RwLock<State>, q: &SearchQuery, exact: bool) -> Result<Vec<Hit>, StoreError> {
    if past(q.deadline) {
        return Err(out_of_time());
    }
    if exact || plans_scan(state, q)? {
        scan_in_pieces(state, q)
    } else {
        walk(state, q)
    }
}

fn plans_scan(state: &RwLock<State>, q: &SearchQuery) -> Result<bool, StoreError> {
    let exclude = q.exclude_id.as_deref();
    let not_excluded = |id: &str, _: Option<&Value>| Some(id) != exclude;
    let state = state.read().map_err(unavailable)?;
    Ok(state
        .index
        .plans_exact_scan(q.k, &options(q, &not_excluded, None)))
}

fn items(state: &RwLock<State>) -> Result<usize, StoreError> {
    Ok(state.read().map_err(unavailable)?.index.len())
}

fn options<'a>(
    q: &'a SearchQuery,
    not_excluded: &'a dyn Fn(&str, Option<&Value>) -> bool,
    stop: Option<&'a dyn Fn() -> bool>,
) -> SearchOptions<'a> {
    SearchOptions {
        ef: q.breadth.ef(),
        filter: q.filter.as_ref(),
        // Without an id to leave out there is no predicate, so an unfiltered search plans free.
        predicate: q.exclude_id.is_some().then_some(not_excluded),
        stop,
    }
}

fn walk(state: &RwLock<State>, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
    let exclude = q.exclude_id.as_deref();
    let not_excluded = |id: &str, _: Option<&Value>| Some(id) != exclude;
    let past_deadline = || past(q.deadline);
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

/// The exact scan, a piece of about [`SCAN_PIECE`] at a time.
fn scan_in_pieces(state: &RwLock<State>, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
    let exclude = q.exclude_id.as_deref();
    let not_excluded = |id: &str, _: Option<&Value>| Some(id) != exclude;
    let options = options(q, &not_excluded, None);
    let mut scan = None;
    let mut rows = FIRST_PIECE_ROWS;
    loop {
        let state = state.read().map_err(unavailable)?;
        let index = &state.index;
        let current = scan.get_or_insert_with(|| index.exact_scan_begin(q.k));
        if current.is_done(index) {
            let found = index.exact_scan_finish(scan.take().expect("begun above"));
            return Ok(shape(index, q, found));
        }
        if past(q.deadline) {
            return Err(out_of_time());
        }
        let started = Instant::now();
        index
            .exact_scan_step(current, &q.vector, &options, rows)
            .map_err(search_error)?;
        let took = started.elapsed().as_secs_f64().max(1e-6);
        let paced = f64::from(rows) * SCAN_PIECE.as_secs_f64() / took;
        rows = paced.clamp(64.0, 1_048_576.0) as u32;
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
