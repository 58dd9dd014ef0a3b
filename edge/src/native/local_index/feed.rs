//! Following Postgres: the initial load, then the `content_changes` feed (migration 0007) in
//! commit order, woken by NOTIFY and polled as a fallback. What has been applied is recorded in
//! `replica.json` after the index holds it, so a restart re-applies at most the last batch (each
//! change sets a row to its current state, so applying one twice changes nothing). A feed this
//! copy can't continue from (pruned past it, or another database) is handed to [`super::resync`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use super::super::pg::PgClient;
use super::LiveCopy;
use crate::sql::{parse_vector_literal, Param, Route, Row, SqlClient};
use crate::store::embedded::EmbeddedStore;
use crate::store::{ContentItem, MediaType, Store, StoreError};

/// The NOTIFY channel of migration 0007.
const CHANNEL: &str = "vecgate_content_changes";
/// Rows per round trip, for the initial load and for changes.
const BATCH: usize = 1000;
/// How long the follower sleeps when no NOTIFY arrives: the staleness bound if NOTIFY is lost.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1000);
/// After a failure (Postgres down), the wait before trying again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// What `replica.json` records: which database the index copies, and how far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub database_id: String,
    pub dims: usize,
    pub applied_seq: u64,
    /// Where that database is: hosts, ports and name, never credentials ([`database_target`]).
    /// A node that starts while the database is unreachable trusts its copy only when the URL
    /// it is given still names this place.
    #[serde(default)]
    pub target: Option<String>,
    /// The database's dialect, for such a start.
    #[serde(default)]
    pub dialect: Option<crate::sql::Dialect>,
    /// The copy's directory under `local-index/`: a resync builds the next one beside it and
    /// switches by rewriting this file.
    #[serde(default = "first_copy")]
    pub copy: String,
    /// When the copy last held every change of the database (Unix ms; 0: not known).
    #[serde(default)]
    pub confirmed_at_ms: u64,
    /// The last change applied, as the feed had it: after a failover the feed must still have
    /// it, or the copy holds changes the database lost.
    #[serde(default)]
    pub last_change: Option<ChangeMark>,
}

/// One change of the feed, to recognise it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeMark {
    pub seq: u64,
    pub id: String,
    /// `changed_at` in microseconds since the epoch (as text, the way it is read).
    pub changed_at_us: String,
}

fn first_copy() -> String {
    "index".into()
}

/// The database `url` names, as recorded in [`Position::target`]: `host:port,…/dbname`.
pub fn database_target(url: &str) -> Result<String, String> {
    let target = crate::native::tls::PgTarget::parse(url)?;
    let config = &target.config;
    Ok(format!(
        "{}/{}",
        crate::native::tls::hosts(config),
        config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or_default()
    ))
}

pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Position {
    pub fn load(path: &Path) -> Option<Position> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Written to a temp file, fsynced and renamed: a crash leaves the old or the new one.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// How far the local index is, shared by the follower, the store and `/metrics`.
pub struct FeedState {
    pub applied_seq: AtomicU64,
    /// The newest change the database had at the last successful poll.
    pub head_seq: AtomicU64,
    /// When the follower last confirmed it held every change (a poll that found nothing new),
    /// as Unix ms: wall-clock time, so a snapshot's age carries across restarts.
    caught_up_unix_ms: AtomicU64,
    /// Started from its snapshot while the database was unreachable, and not caught up since:
    /// the copy is not yet validated against the database.
    pub unvalidated: AtomicBool,
    /// Why the copy is being rebuilt (a resync in progress), for `/health`.
    pub rebuilding: Mutex<Option<String>>,
    /// Resyncs completed since start.
    pub resyncs_total: AtomicU64,
    /// The last attempt to rebuild the copy failed because the data directory is full.
    pub rebuild_disk_full: AtomicBool,
    pub applied_total: AtomicU64,
    /// Wakes the follower: a NOTIFY, or a write of this node waiting to read it back.
    pub wake: Notify,
    /// Signalled after every applied batch.
    pub advanced: Notify,
}

impl FeedState {
    /// At `applied_seq`, last known to hold every change at `confirmed_at_ms` (Unix ms; 0:
    /// now).
    pub fn new(applied_seq: u64, confirmed_at_ms: u64) -> FeedState {
        let confirmed = if confirmed_at_ms == 0 {
            unix_ms_now()
        } else {
            confirmed_at_ms
        };
        FeedState {
            applied_seq: AtomicU64::new(applied_seq),
            head_seq: AtomicU64::new(applied_seq),
            caught_up_unix_ms: AtomicU64::new(confirmed),
            unvalidated: AtomicBool::new(false),
            rebuilding: Mutex::new(None),
            resyncs_total: AtomicU64::new(0),
            rebuild_disk_full: AtomicBool::new(false),
            applied_total: AtomicU64::new(0),
            wake: Notify::new(),
            advanced: Notify::new(),
        }
    }

    /// Changes the database had that the index does not yet hold, as of the last poll.
    pub fn behind_changes(&self) -> u64 {
        self.head_seq
            .load(Ordering::Relaxed)
            .saturating_sub(self.applied_seq.load(Ordering::Relaxed))
    }

    /// Time since the node last knew it held every change: its staleness bound right now.
    pub fn lag(&self) -> Duration {
        Duration::from_millis(unix_ms_now().saturating_sub(self.caught_up_unix_ms()))
    }

    /// When the copy last held every change, as Unix ms.
    pub fn caught_up_unix_ms(&self) -> u64 {
        self.caught_up_unix_ms.load(Ordering::Relaxed)
    }

    fn caught_up(&self) {
        self.caught_up_unix_ms
            .store(unix_ms_now(), Ordering::Relaxed);
        self.unvalidated.store(false, Ordering::Relaxed);
    }

    /// Why the copy can't be trusted as current whatever its lag: not yet validated against
    /// the database, or being rebuilt.
    pub fn degraded_reason(&self) -> Option<String> {
        if let Some(why) = self.rebuilding.lock().ok().and_then(|r| r.clone()) {
            return Some(format!(
                "the local index is rebuilding its copy ({why}); answering from the old one, \
                 which held every change {:.1} s ago",
                self.lag().as_secs_f64()
            ));
        }
        self.unvalidated.load(Ordering::Relaxed).then(|| {
            format!(
                "the database has been unreachable since this node started; answering from its \
                 snapshot, which held every change {:.1} s ago",
                self.lag().as_secs_f64()
            )
        })
    }

    /// Waits until every change up to `seq` is applied, or `deadline`. Whether it got there.
    pub async fn wait_for(&self, seq: u64, deadline: Instant) -> bool {
        loop {
            let advanced = self.advanced.notified();
            if self.applied_seq.load(Ordering::Acquire) >= seq {
                return true;
            }
            self.wake.notify_one();
            if tokio::time::timeout_at(deadline.into(), advanced)
                .await
                .is_err()
            {
                return self.applied_seq.load(Ordering::Acquire) >= seq;
            }
        }
    }
}

fn text(row: &Row, i: usize) -> Option<&str> {
    row.get(i).and_then(|v| v.as_deref())
}

fn unavailable(e: impl std::fmt::Display) -> String {
    format!("local index: {e}")
}

/// Where the database's change feed stands.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedExtent {
    /// Migration 0007's `vecgate_instance` id.
    pub database_id: String,
    /// The newest change (0: none yet).
    pub head: u64,
    /// The oldest change still kept (older ones were pruned); `None` when the feed is empty.
    pub oldest: Option<u64>,
}

impl FeedExtent {
    /// Whether a copy that holds every change up to `applied` can catch up from this feed: the
    /// same database, not rolled back behind it, and nothing after it pruned. (A rolled-back
    /// transaction's seq right after `applied` makes this say no, which only costs a reload.)
    pub fn continues(&self, database_id: &str, applied: u64) -> Result<(), String> {
        if self.database_id != database_id {
            return Err(format!(
                "the database is another one now ({} instead of {database_id})",
                self.database_id
            ));
        }
        if self.head < applied {
            return Err(format!(
                "the database's change feed ends at {}, before this copy ({applied}): it was \
                 restored from a backup, or failed over and lost changes this copy holds",
                self.head
            ));
        }
        if self.oldest.is_some_and(|oldest| oldest > applied + 1) {
            return Err(format!(
                "changes after {applied} were pruned from the feed (it starts at {})",
                self.oldest.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

pub async fn feed_extent(client: &PgClient) -> Result<FeedExtent, StoreError> {
    let rows = client
        .query(
            Route::Write,
            "SELECT (SELECT id FROM vecgate_instance LIMIT 1), \
                    (SELECT coalesce(max(seq), 0)::text FROM content_changes), \
                    (SELECT min(seq)::text FROM content_changes)",
            &[],
        )
        .await?;
    let row = rows.first();
    let id = row
        .and_then(|r| text(r, 0))
        .ok_or_else(|| StoreError::Internal("vecgate_instance is empty".into()))?;
    let number = |i| row.and_then(|r| text(r, i)).and_then(|s| s.parse().ok());
    Ok(FeedExtent {
        database_id: id.to_owned(),
        head: number(1).unwrap_or(0),
        oldest: number(2),
    })
}

/// How long changes stay in the feed: a node stopped longer than this rebuilds its copy.
pub const RETENTION_DAYS: u32 = 7;

/// Deletes changes older than [`RETENTION_DAYS`], always keeping the newest (the feed's head).
pub async fn prune(client: &PgClient) -> Result<u64, StoreError> {
    let rows = client
        .query(
            Route::Write,
            "WITH gone AS (DELETE FROM content_changes \
               WHERE changed_at < now() - make_interval(days => $1::text::int) \
                 AND seq < (SELECT max(seq) FROM content_changes) RETURNING 1) \
             SELECT count(*)::text FROM gone",
            &[Some(RETENTION_DAYS.to_string())],
        )
        .await?;
    Ok(rows
        .first()
        .and_then(|r| text(r, 0))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

fn item_from(row: &Row, at: usize, dims: usize) -> Result<ContentItem, StoreError> {
    let id = text(row, at).unwrap_or_default().to_owned();
    let bad = |what: &str| StoreError::Internal(format!("change of {id}: unreadable {what}"));
    Ok(ContentItem {
        content_id: text(row, at + 1).and_then(|c| c.parse().ok()),
        media_type: text(row, at + 2)
            .and_then(MediaType::parse)
            .ok_or_else(|| bad("media_type"))?,
        metadata: text(row, at + 3)
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_else(|| Value::Object(Default::default())),
        vector: text(row, at + 4)
            .and_then(parse_vector_literal)
            .filter(|v| v.len() == dims)
            .ok_or_else(|| bad("vector"))?,
        id,
        text: None,
    })
}

/// Copies every content row into `local` (keyset pages by id), logging progress.
pub async fn load_all(
    client: &PgClient,
    local: &EmbeddedStore,
    dims: usize,
) -> Result<usize, StoreError> {
    let start = Instant::now();
    let mut last_id: Param = None;
    let mut loaded = 0;
    loop {
        let rows = client
            .query(
                Route::Write,
                "SELECT id, content_id::text, media_type, metadata::text, vector::text \
                 FROM content_vectors WHERE $1::text IS NULL OR id > $1::text \
                 ORDER BY id LIMIT $2::text::int",
                &[last_id.clone(), Some(BATCH.to_string())],
            )
            .await?;
        let items = rows
            .iter()
            .map(|r| item_from(r, 0, dims))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = items.last() else {
            break;
        };
        last_id = Some(last.id.clone());
        local.upsert(&items).await?;
        loaded += items.len();
        if loaded % 10_000 < BATCH {
            eprintln!(
                "vecgate: local index: loaded {loaded} rows ({:.1} s)",
                start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(loaded)
}

/// Why following stopped.
#[derive(Debug)]
pub enum FollowError {
    /// The database is unreachable or failed: retried.
    Unavailable(String),
    /// The feed can't continue this copy (pruned past it, another database): it is rebuilt.
    Discontinued(String),
}

impl From<String> for FollowError {
    fn from(e: String) -> FollowError {
        FollowError::Unavailable(e)
    }
}

/// What the follower works with: the database, the copy it keeps, and where it records that.
pub struct Follower {
    pub url: String,
    pub client: Arc<PgClient>,
    pub copy: Arc<LiveCopy>,
    pub state: Arc<FeedState>,
    pub position: Arc<Mutex<Position>>,
    /// `--data-dir/local-index`.
    pub root: PathBuf,
    pub options: crate::store::embedded::EmbeddedOptions,
}

impl Follower {
    pub fn position_path(&self) -> PathBuf {
        self.root.join(POSITION_FILE)
    }

    fn position(&self) -> Result<Position, String> {
        self.position
            .lock()
            .map(|p| p.clone())
            .map_err(|_| "position lock poisoned".into())
    }

    /// Records `update`d position in `replica.json`, then in memory.
    pub fn record(&self, update: impl FnOnce(&mut Position)) -> Result<(), String> {
        let mut next = self.position()?;
        update(&mut next);
        next.save(&self.position_path())?;
        *self
            .position
            .lock()
            .map_err(|_| "position lock poisoned".to_owned())? = next;
        Ok(())
    }

    /// Applies every change after `state.applied_seq`, a batch at a time, until none is left.
    /// Returns how many changes were applied.
    ///
    /// Each batch is read with the change at `applied_seq` itself, which must be as this copy
    /// applied it ([`Position::last_change`]): after a failover to a replica that lost the tail
    /// of the old primary's WAL (asynchronous replication), that seq may be missing or another
    /// change's, and the copy holds changes the database no longer has. Checked in every batch,
    /// since any statement may be the first on a new server.
    async fn catch_up(&self) -> Result<u64, FollowError> {
        let (client, state, dims) = (&self.client, &self.state, self.options.dims);
        let database_id = self.position()?.database_id;
        let extent = feed_extent(client).await.map_err(unavailable)?;
        extent
            .continues(&database_id, state.applied_seq.load(Ordering::Acquire))
            .map_err(FollowError::Discontinued)?;
        let mut applied = 0u64;
        loop {
            let after = state.applied_seq.load(Ordering::Acquire);
            // The current row of each changed id: applying a change sets the row as it is now,
            // and any later change to it comes after in the feed.
            let batch = client
                .query(
                    Route::Write,
                    "SELECT c.seq::text, c.op, v.id, v.content_id::text, v.media_type, \
                            v.metadata::text, v.vector::text, c.id, \
                            (SELECT coalesce(max(seq), 0)::text FROM content_changes), \
                            (extract(epoch FROM c.changed_at) * 1000000)::bigint::text \
                     FROM content_changes c LEFT JOIN content_vectors v ON v.id = c.id \
                     WHERE c.seq >= $1::text::bigint ORDER BY c.seq LIMIT $2::text::int",
                    &[Some(after.to_string()), Some((BATCH + 1).to_string())],
                )
                .await
                .map_err(unavailable)?;
            let rows = self.after_the_applied_change(&batch, after, &extent)?;
            if rows.is_empty() {
                // Nothing after `after`: read the head again, a change may have committed since.
                let head = feed_extent(client).await.map_err(unavailable)?.head;
                state.head_seq.store(head, Ordering::Relaxed);
                if head == after {
                    state.caught_up();
                    return Ok(applied);
                }
                continue;
            }
            if let Some(head) = rows
                .first()
                .and_then(|r| text(r, 8))
                .and_then(|h| h.parse().ok())
            {
                state.head_seq.store(head, Ordering::Relaxed);
            }
            let local = self.copy.get();
            let mut last_seq = after;
            // Consecutive upserts go in as one batch (the last state of each id); a delete or a
            // truncate applies in its place in the order.
            let mut upserts: HashMap<String, ContentItem> = HashMap::new();
            for row in rows {
                last_seq = text(row, 0)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(last_seq);
                let changed_id = text(row, 7).unwrap_or_default();
                match (text(row, 1), text(row, 2)) {
                    (Some("upsert"), Some(_)) => {
                        let item = item_from(row, 2, dims).map_err(unavailable)?;
                        upserts.insert(item.id.clone(), item);
                    }
                    (Some("truncate"), _) => {
                        flush(&local, &mut upserts).await?;
                        for id in local.ids() {
                            local.delete(&id).await.map_err(unavailable)?;
                        }
                    }
                    // A delete, or an upsert whose row is gone again (its delete follows).
                    _ => {
                        flush(&local, &mut upserts).await?;
                        local.delete(changed_id).await.map_err(unavailable)?;
                    }
                }
            }
            flush(&local, &mut upserts).await?;
            let mark = rows.last().map(|r| ChangeMark {
                seq: last_seq,
                id: text(r, 7).unwrap_or_default().to_owned(),
                changed_at_us: text(r, 9).unwrap_or_default().to_owned(),
            });
            self.record(|p| {
                p.applied_seq = last_seq;
                p.last_change = mark;
            })?;
            applied += rows.len() as u64;
            state
                .applied_total
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            state.applied_seq.store(last_seq, Ordering::Release);
            state.advanced.notify_waiters();
        }
    }
}

impl Follower {
    /// `batch` (read from `after` on) without the change at `after`, once it is known to be the
    /// one this copy applied last; Discontinued if the feed lost it or has another there.
    fn after_the_applied_change<'b>(
        &self,
        batch: &'b [Row],
        after: u64,
        extent: &FeedExtent,
    ) -> Result<&'b [Row], FollowError> {
        let seq_of = |r: &Row| text(r, 0).and_then(|s| s.parse::<u64>().ok());
        let (at_after, rest) = match batch.split_first() {
            Some((first, rest)) if seq_of(first) == Some(after) => (Some(first), rest),
            _ => (None, batch),
        };
        let mark = self.position()?.last_change.filter(|m| m.seq == after);
        let Some(mark) = mark else {
            return Ok(rest);
        };
        let same = at_after.is_some_and(|r| {
            text(r, 7) == Some(mark.id.as_str()) && text(r, 9) == Some(mark.changed_at_us.as_str())
        });
        // Missing because pruned (older than what the feed keeps) is not a loss.
        let pruned = at_after.is_none() && extent.oldest.is_none_or(|oldest| oldest > after);
        if same || pruned {
            return Ok(rest);
        }
        Err(FollowError::Discontinued(format!(
            "the database's change feed no longer has change {after} as this copy applied it: it \
             failed over and lost changes this copy holds"
        )))
    }
}

async fn flush(
    local: &EmbeddedStore,
    upserts: &mut HashMap<String, ContentItem>,
) -> Result<(), FollowError> {
    if upserts.is_empty() {
        return Ok(());
    }
    let items: Vec<ContentItem> = upserts.drain().map(|(_, item)| item).collect();
    local.upsert(&items).await.map_err(unavailable)?;
    Ok(())
}

/// A connection that LISTENs on the change channel; each NOTIFY wakes the follower. The
/// client must be kept: the session (and its LISTEN) lasts as long as it does.
struct Listener {
    _client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<()>,
}

impl Listener {
    async fn start(url: &str, state: std::sync::Arc<FeedState>) -> Result<Listener, String> {
        let (client, mut connection) = crate::native::tls::connect(url)
            .await
            .map_err(|e| unavailable(format!("LISTEN connection: {e}")))?;
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => state.wake.notify_one(),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        });
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
            driver.abort();
            return Err(unavailable(format!("LISTEN: {e}")));
        }
        Ok(Listener {
            _client: client,
            driver,
        })
    }

    fn is_closed(&self) -> bool {
        self.driver.is_finished()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// How often a caught-up follower records that in `replica.json`: the age a snapshot reports
/// when the node next starts without the database is at most this much too old.
const CONFIRM_EVERY: Duration = Duration::from_secs(10);

/// The follower: for the life of the process, LISTEN, catch up, and wait for the next change.
/// Any failure (Postgres down) is logged once per outage and retried; a feed that can't
/// continue the copy starts a resync, in place.
pub async fn follow(follower: Follower) {
    let state = follower.state.clone();
    let mut failing = false;
    let mut confirmed_at = follower.position().map(|p| p.confirmed_at_ms).unwrap_or(0);
    loop {
        let listener = match Listener::start(&follower.url, state.clone()).await {
            Ok(l) => l,
            Err(e) => {
                if !failing {
                    eprintln!("vecgate: WARNING {e}; serving from the local index, retrying");
                    failing = true;
                }
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        loop {
            let woken = state.wake.notified();
            match follower.catch_up().await {
                Ok(_) => {
                    if failing {
                        eprintln!("vecgate: local index caught up with the database again");
                        failing = false;
                    }
                    let now = state.caught_up_unix_ms();
                    if now.saturating_sub(confirmed_at) >= CONFIRM_EVERY.as_millis() as u64 {
                        match follower.record(|p| p.confirmed_at_ms = now) {
                            Ok(()) => confirmed_at = now,
                            Err(e) => eprintln!("vecgate: WARNING {e}"),
                        }
                    }
                }
                Err(FollowError::Discontinued(why)) => {
                    super::resync::rebuild_in_place(&follower, &why).await;
                    break;
                }
                Err(FollowError::Unavailable(e)) => {
                    if !failing {
                        eprintln!("vecgate: WARNING {e}; serving from the local index, retrying");
                        failing = true;
                    }
                    tokio::time::sleep(RETRY_AFTER).await;
                    break;
                }
            }
            if listener.is_closed() {
                break;
            }
            let _ = tokio::time::timeout(POLL_INTERVAL, woken).await;
        }
    }
}

/// `replica.json`, under `--data-dir/local-index`.
pub const POSITION_FILE: &str = "replica.json";

/// `--data-dir/local-index`: the copies and `replica.json`.
pub fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("local-index")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_continues_only_from_its_own_unpruned_feed() {
        let extent = FeedExtent {
            database_id: "db-1".into(),
            head: 100,
            oldest: Some(40),
        };
        assert!(extent.continues("db-1", 39).is_ok());
        assert!(extent.continues("db-1", 100).is_ok());
        assert!(extent
            .continues("db-2", 50)
            .unwrap_err()
            .contains("another one"));
        assert!(extent
            .continues("db-1", 101)
            .unwrap_err()
            .contains("restored"));
        assert!(extent.continues("db-1", 20).unwrap_err().contains("pruned"));
        let empty = FeedExtent {
            oldest: None,
            head: 0,
            ..extent
        };
        assert!(empty.continues("db-1", 0).is_ok());
    }

    #[test]
    fn the_position_round_trips_atomically() {
        let dir = std::env::temp_dir().join(format!("vecgate-position-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("replica.json");
        assert_eq!(Position::load(&path), None);
        let p = Position {
            database_id: "abc".into(),
            dims: 384,
            applied_seq: 42,
            target: Some("db.example:5432/vecgate".into()),
            dialect: Some(crate::sql::Dialect::Pgvector),
            copy: "index".into(),
            confirmed_at_ms: 1_700_000_000_000,
            last_change: Some(ChangeMark {
                seq: 42,
                id: "f1".into(),
                changed_at_us: "1796641200123456".into(),
            }),
        };
        p.save(&path).unwrap();
        assert_eq!(Position::load(&path), Some(p));
        assert!(!path.with_extension("json.tmp").exists());
        // A file from before the copy, target and dialect were recorded.
        std::fs::write(
            &path,
            r#"{"database_id": "abc", "dims": 384, "applied_seq": 7}"#,
        )
        .unwrap();
        let old = Position::load(&path).unwrap();
        assert_eq!(
            (
                old.copy.as_str(),
                old.target,
                old.dialect,
                old.confirmed_at_ms
            ),
            ("index", None, None, 0)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
