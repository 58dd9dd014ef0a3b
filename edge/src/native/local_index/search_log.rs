//! Search-log rows of a `--local-index` node: buffered in memory and written to
//! `vector_search_logs` in batches (every 100 ms, or as soon as 500 are waiting). While Postgres
//! is down they wait, up to `MAX_BUFFERED` rows; beyond that the oldest are dropped and counted.
//!
//! Each row gets its id (`log_id`, a UUIDv7) when it is queued, and the insert skips ids the
//! table has: a batch whose commit succeeded but whose reply was lost is sent again, and
//! written once. Queued rows are also appended to the node's journal ([`super::journal`]), so
//! a node killed before they reached the database sends them when it starts again.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;

use super::super::pg::PgClient;
use super::journal::Journal;
use crate::sql::{Dialect, Route, SqlClient};
use crate::store::{Hit, SearchQuery};

/// Rows per INSERT, and the count that triggers a flush before the interval ends.
pub const FLUSH_ROWS: usize = 500;
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Rows kept while Postgres is down: at ~1 KB each (a 384-d vector as text), about 100 MB.
pub const MAX_BUFFERED: usize = 100_000;
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// One row, kept as values: the text forms are made by the flusher, off the request path.
#[derive(Serialize, Deserialize)]
struct Row {
    id: uuid::Uuid,
    /// The query before personalization; `None` for a preference, which is never logged.
    q: Option<Vec<f32>>,
    ids: Vec<String>,
    scores: Vec<f32>,
    user_id: Option<String>,
    search_type: Cow<'static, str>,
    filter: Option<Value>,
    k: usize,
    took_ms: f64,
    at_ms: u64,
}

#[derive(Default)]
pub struct SearchLogBuffer {
    rows: Mutex<VecDeque<Row>>,
    /// Rows of the batch being written (still counted as buffered until it succeeds).
    in_flight: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    full: Notify,
    /// Held while a batch is written, so an erasure sees no batch half-way to the database.
    writing: tokio::sync::Mutex<()>,
    /// Locked after `rows`, while it is held: the journal's lines follow the queue.
    journal: Mutex<Option<Journal>>,
}

impl SearchLogBuffer {
    /// A buffer journaled in `dir`, holding the rows an earlier run left unwritten.
    pub fn open(dir: &Path) -> SearchLogBuffer {
        let (journal, replay) = Journal::open(dir);
        for unreadable in &replay.unreadable {
            eprintln!("vecgate: WARNING search-log journal: {unreadable}");
        }
        let total = replay.lines.len();
        let mut rows: VecDeque<Row> = replay
            .lines
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        if rows.len() < total {
            eprintln!(
                "vecgate: WARNING search-log journal: {} unreadable rows skipped",
                total - rows.len()
            );
        }
        let dropped = rows.len().saturating_sub(MAX_BUFFERED);
        rows.drain(..dropped);
        if !rows.is_empty() {
            eprintln!(
                "vecgate: {} search-log rows from before the restart wait for the database",
                rows.len()
            );
        }
        SearchLogBuffer {
            rows: Mutex::new(rows),
            dropped: AtomicU64::new(dropped as u64),
            journal: Mutex::new(Some(journal)),
            ..SearchLogBuffer::default()
        }
    }

    /// Journal appends that failed (a full disk): those rows wait in memory only.
    pub fn journal_failures(&self) -> u64 {
        self.journal
            .lock()
            .ok()
            .and_then(|j| j.as_ref().map(|j| j.failed_appends))
            .unwrap_or(0)
    }

    /// Queues the row of `q` (when it is logged) with its results.
    pub fn push(&self, q: &SearchQuery, hits: &[Hit], took_ms: f64) {
        let Some(log) = &q.log else {
            return;
        };
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let row = Row {
            id: uuid::Uuid::now_v7(),
            q: log.query_vector.clone(),
            ids: hits.iter().map(|h| h.id.clone()).collect(),
            scores: hits.iter().map(|h| h.score).collect(),
            user_id: log.user_id.clone(),
            search_type: Cow::Borrowed(log.search_type),
            filter: log.filter.clone(),
            k: q.k,
            took_ms,
            at_ms,
        };
        // Made before the lock: the journal's line costs the request, not the queue.
        let line = serde_json::to_string(&row).ok();
        let Ok(mut rows) = self.rows.lock() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let (Ok(mut journal), Some(line)) = (self.journal.lock(), line) {
            if let Some(journal) = journal.as_mut() {
                journal.append(&line);
            }
        }
        if rows.len() >= MAX_BUFFERED {
            rows.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        rows.push_back(row);
        if rows.len() >= FLUSH_ROWS {
            self.full.notify_one();
        }
    }

    /// Rows accepted but not yet in the database.
    pub fn buffered(&self) -> u64 {
        let queued = self.rows.lock().map(|r| r.len()).unwrap_or(0) as u64;
        queued + self.in_flight.load(Ordering::Acquire)
    }

    /// Stops batches from being written while the guard lives (an erasure holds it, so no row
    /// of the user is on its way to the database while its DELETE runs).
    pub async fn pause(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writing.lock().await
    }

    /// Drops the queued rows of `user_id` (an erasure, under [`Self::pause`]).
    pub fn forget_user(&self, user_id: &str) -> u64 {
        let Ok(mut rows) = self.rows.lock() else {
            return 0;
        };
        let before = rows.len();
        rows.retain(|r| r.user_id.as_deref() != Some(user_id));
        let forgotten = (before - rows.len()) as u64;
        if forgotten > 0 {
            if let Ok(mut journal) = self.journal.lock() {
                if let Some(journal) = journal.as_mut() {
                    let lines = rows.iter().filter_map(|r| serde_json::to_string(r).ok());
                    if let Err(e) = journal.rewrite(lines) {
                        eprintln!("vecgate: WARNING search-log journal not rewritten: {e}");
                    }
                }
            }
        }
        forgotten
    }

    /// Waits (nudging the flusher) until every buffered row is in the database, or `within`
    /// passes; returns the rows still waiting.
    pub async fn drain(&self, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = self.buffered();
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            self.full.notify_one();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes batches for the life of the process; a failed batch goes back to the front.
    pub async fn flush_forever(&self, client: &PgClient, dialect: Dialect) {
        let sql = format!(
            "INSERT INTO vector_search_logs \
               (log_id, query_vector, result_ids, scores, user_id, search_type, filter, k, \
                took_ms, \"timestamp\") \
             SELECT (r->>'id')::uuid, nullif(r->'q', 'null'::jsonb)::text::{vt}, \
               ARRAY(SELECT jsonb_array_elements_text(r->'ids')), \
               ARRAY(SELECT x::real FROM jsonb_array_elements_text(r->'scores') x), \
               r->>'user_id', r->>'search_type', nullif(r->'filter', 'null'::jsonb), \
               (r->>'k')::int, (r->>'took_ms')::real, \
               to_timestamp((r->>'at_ms')::float8 / 1000) \
             FROM jsonb_array_elements($1::text::jsonb) r \
             ON CONFLICT (log_id) DO NOTHING",
            vt = dialect.vector_type()
        );
        let mut failing = false;
        loop {
            let _ = tokio::time::timeout(FLUSH_INTERVAL, self.full.notified()).await;
            loop {
                let _writing = self.writing.lock().await;
                // Taking every queued row seals the journal's segment: once this batch is in,
                // no row in it or before it is waiting.
                let (batch, sealed): (Vec<Row>, Option<u64>) = match self.rows.lock() {
                    Ok(mut rows) => {
                        let n = rows.len().min(FLUSH_ROWS);
                        self.in_flight.store(n as u64, Ordering::Release);
                        let sealed = if n > 0 && n == rows.len() {
                            self.journal
                                .lock()
                                .ok()
                                .and_then(|mut j| j.as_mut().and_then(Journal::seal))
                        } else {
                            None
                        };
                        (rows.drain(..n).collect(), sealed)
                    }
                    Err(_) => return,
                };
                if batch.is_empty() {
                    break;
                }
                let n = batch.len();
                match client
                    .query(Route::Write, &sql, &[serde_json::to_string(&batch).ok()])
                    .await
                {
                    Ok(_) => {
                        if let (Some(sealed), Ok(journal)) = (sealed, self.journal.lock()) {
                            if let Some(journal) = journal.as_ref() {
                                journal.release(sealed);
                            }
                        }
                        self.written.fetch_add(n as u64, Ordering::Relaxed);
                        self.in_flight.store(0, Ordering::Release);
                        if failing {
                            eprintln!("vecgate: search logs reach the database again");
                            failing = false;
                        }
                        if n < FLUSH_ROWS {
                            break;
                        }
                    }
                    Err(e) => {
                        if !failing {
                            eprintln!(
                                "vecgate: WARNING search logs wait in memory ({} rows): {e}",
                                self.buffered()
                            );
                            failing = true;
                        }
                        if let Ok(mut rows) = self.rows.lock() {
                            for row in batch.into_iter().rev() {
                                rows.push_front(row);
                            }
                            self.in_flight.store(0, Ordering::Release);
                            while rows.len() > MAX_BUFFERED {
                                rows.pop_front();
                                self.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        tokio::time::sleep(RETRY_AFTER).await;
                        break;
                    }
                }
            }
        }
    }
}
