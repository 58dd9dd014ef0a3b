//! `vecgate serve --local-index`: Postgres stays the system of record, and this node answers
//! reads from an in-memory copy of the content (the embedded store's HNSW, snapshot and log,
//! under `--data-dir/local-index/`), kept current by following the database's change feed.
//! Writes go to Postgres and return once this node's copy holds them (read your writes).
//! Search logs are batched to Postgres; while it is down they wait in memory and in a journal.

mod feed;
mod journal;
mod resync;
mod search_log;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;
use vecgate_core::preference::{UserPreference, WatchEvent};

use super::pg::PgClient;
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::store::postgres::PostgresStore;
use crate::store::{
    ContentItem, Erased, Hit, SearchOutcome, SearchQuery, Stats, Store, StoreError,
};
use feed::{FeedState, Follower, Position};
use search_log::SearchLogBuffer;

/// The copy searches read: replaced whole when a resync has built a fresh one.
pub struct LiveCopy(RwLock<Arc<EmbeddedStore>>);

impl LiveCopy {
    fn new(store: EmbeddedStore) -> LiveCopy {
        LiveCopy(RwLock::new(Arc::new(store)))
    }

    pub fn get(&self) -> Arc<EmbeddedStore> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `fresh` in place; returns the copy it replaces.
    pub fn replace(&self, fresh: EmbeddedStore) -> Arc<EmbeddedStore> {
        let mut current = self.0.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, Arc::new(fresh))
    }
}

/// How a node starts: with the database, or from its snapshot while the database is down.
pub enum Start {
    Online,
    /// The database is unreachable; this copy (validated by [`LocalIndexStore::trusted_copy`])
    /// serves until it answers.
    Offline(Position),
}

pub struct LocalIndexStore {
    copy: Arc<LiveCopy>,
    /// `--data-dir/local-index`.
    root: PathBuf,
    remote: PostgresStore<PgClient>,
    feed: Arc<FeedState>,
    position: Arc<Mutex<Position>>,
    logs: Arc<SearchLogBuffer>,
    /// `/health` is degraded (503) beyond this staleness.
    max_lag: Duration,
    /// How long a write waits for this node's copy to hold it.
    write_wait: Duration,
}

impl LocalIndexStore {
    /// The copy under `data_dir` a node may serve while the database at `url` is unreachable:
    /// one of `dims` dimensions that was following a database at the place `url` names. Else
    /// why not.
    pub fn trusted_copy(data_dir: &Path, url: &str, dims: usize) -> Result<Position, String> {
        let root = feed::root(data_dir);
        let saved = Position::load(&root.join(feed::POSITION_FILE))
            .ok_or_else(|| format!("{} holds no copy", root.display()))?;
        let target = feed::database_target(url)?;
        if saved.dims != dims {
            return Err(format!(
                "its copy has {} dimensions, not {dims}",
                saved.dims
            ));
        }
        match &saved.target {
            Some(t) if *t == target => {}
            Some(t) => return Err(format!("its copy is of the database at {t}, not {target}")),
            None => return Err("its copy does not record which database it is of".into()),
        }
        if saved.dialect.is_none() || !root.join(&saved.copy).is_dir() {
            return Err(format!("its copy in {} is incomplete", root.display()));
        }
        Ok(saved)
    }

    /// `Start::Online`: opens the copy under `data_dir` when it belongs to this database and
    /// dimension, else builds it afresh from every content row; then follows the change feed,
    /// and returns once caught up. `Start::Offline`: opens the copy as it is, and follows from
    /// when the database answers. Either way search logs are flushed from then on. `remote`
    /// has been migrated, or will be checked once it answers (offline).
    pub async fn start(
        url: &str,
        remote: PostgresStore<PgClient>,
        data_dir: &Path,
        options: EmbeddedOptions,
        max_lag: Duration,
        write_wait: Duration,
        how: Start,
    ) -> Result<LocalIndexStore, String> {
        let root = feed::root(data_dir);
        // Its own connections: following and log batches never queue behind requests.
        let client = Arc::new(
            PgClient::new(url, &[]).map_err(|e| format!("the local index's connection: {e}"))?,
        );
        let started = Instant::now();
        let online = matches!(how, Start::Online);
        let (local, position) = match how {
            Start::Online => {
                Self::open_online(url, &client, &root, remote.dialect(), options).await?
            }
            Start::Offline(position) => {
                let local = EmbeddedStore::open(&root.join(&position.copy), options)?;
                eprintln!(
                    "vecgate: WARNING local index: the database is unreachable; answering from \
                     the snapshot in {} ({} rows at change {}) until it answers",
                    local.dir().display(),
                    local.len(),
                    position.applied_seq
                );
                (local, position)
            }
        };
        let head = position.applied_seq;
        let confirmed_at_ms = if online { 0 } else { position.confirmed_at_ms };
        let feed = Arc::new(FeedState::new(head, confirmed_at_ms));
        feed.unvalidated.store(!online, Ordering::Relaxed);
        let copy = Arc::new(LiveCopy::new(local));
        let position = Arc::new(Mutex::new(position));
        tokio::spawn(feed::follow(Follower {
            url: url.to_owned(),
            client: client.clone(),
            copy: copy.clone(),
            state: feed.clone(),
            position: position.clone(),
            root: root.clone(),
            options,
        }));
        let logs = Arc::new(SearchLogBuffer::open(&root));
        let flusher = logs.clone();
        let dialect = remote.dialect();
        let pruner = client.clone();
        tokio::spawn(async move { flusher.flush_forever(&client, dialect).await });
        tokio::spawn(async move {
            loop {
                match feed::prune(&pruner).await {
                    Ok(0) | Err(_) => {}
                    Ok(n) => eprintln!(
                        "vecgate: pruned {n} changes older than {} days from the feed",
                        feed::RETENTION_DAYS
                    ),
                }
                tokio::time::sleep(Duration::from_secs(600)).await;
            }
        });
        let store = LocalIndexStore {
            copy,
            root,
            remote,
            feed,
            position,
            logs,
            max_lag,
            write_wait,
        };
        if !online {
            return Ok(store);
        }
        // Serve once caught up, so a restart never answers from a stale copy it could update.
        let deadline = Instant::now() + Duration::from_secs(600);
        let target = store.head().await.unwrap_or(head);
        if !store.feed.wait_for(target, deadline).await {
            return Err("the local index could not catch up with the database".into());
        }
        eprintln!(
            "vecgate: local index ready: {} rows at change {target} ({:.1} s)",
            store.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(store)
    }

    /// The copy to follow from with the database reachable: the saved one when the feed
    /// continues it, else a fresh load.
    async fn open_online(
        url: &str,
        client: &PgClient,
        root: &Path,
        dialect: crate::sql::Dialect,
        options: EmbeddedOptions,
    ) -> Result<(EmbeddedStore, Position), String> {
        let position_path = root.join(feed::POSITION_FILE);
        let extent = feed::feed_extent(client)
            .await
            .map_err(|e| format!("reading the database's change feed: {e}"))?;
        let head = extent.head;
        let saved = Position::load(&position_path);
        let reusable = match &saved {
            Some(p) if p.dims != options.dims => false,
            Some(p) if !root.join(&p.copy).is_dir() => false,
            Some(p) => match extent.continues(&p.database_id, p.applied_seq) {
                Ok(()) => true,
                Err(why) => {
                    eprintln!("vecgate: local index: {why}");
                    false
                }
            },
            None => false,
        };
        let target = Some(feed::database_target(url)?);
        if reusable {
            let mut position = saved.expect("checked above");
            let local = EmbeddedStore::open(&root.join(&position.copy), options)?;
            eprintln!(
                "vecgate: local index: {} rows from the snapshot at change {}; catching up to {head}",
                local.len(),
                position.applied_seq
            );
            // Older files lack where the database is; this one is.
            if position.target != target || position.dialect != Some(dialect) {
                position.target = target;
                position.dialect = Some(dialect);
                position.save(&position_path)?;
            }
            return Ok((local, position));
        }
        if let Some(p) = &saved {
            eprintln!(
                "vecgate: local index: the copy in {} belongs to another database or dimension \
                 ({} / {}d at change {}); rebuilding it",
                root.display(),
                p.database_id,
                p.dims,
                p.applied_seq
            );
        }
        let _ = std::fs::remove_file(&position_path);
        for copy in resync::COPIES {
            let dir = root.join(copy);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("clearing {}: {e}", dir.display()))?;
            }
        }
        let started = Instant::now();
        let position = Position {
            database_id: extent.database_id,
            dims: options.dims,
            applied_seq: head,
            target,
            dialect: Some(dialect),
            copy: resync::COPIES[0].to_owned(),
            confirmed_at_ms: 0,
            last_change: None,
        };
        let local = EmbeddedStore::open(&root.join(&position.copy), options)?;
        // The feed position is read before the rows: changes made during the load are applied
        // again afterwards, which sets those rows to the state they already have.
        let n = feed::load_all(client, &local, options.dims)
            .await
            .map_err(|e| format!("loading the local index: {e}"))?;
        local.snapshot()?;
        position.save(&position_path)?;
        eprintln!(
            "vecgate: local index: loaded {n} rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok((local, position))
    }

    /// `--data-dir/local-index`: the copy, `replica.json` and what the node learned.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Items in the local copy.
    pub fn len(&self) -> usize {
        self.copy.get().len()
    }

    pub fn is_empty(&self) -> bool {
        self.copy.get().is_empty()
    }

    /// The central database's store, which takes this node's writes.
    pub fn remote(&self) -> &PostgresStore<PgClient> {
        &self.remote
    }

    /// Snapshot on shutdown, so the next start replays no log.
    pub fn snapshot(&self) -> Result<(), String> {
        self.copy.get().snapshot()?;
        // The next start without the database reports the copy's age from this.
        let mut position = self
            .position
            .lock()
            .map_err(|_| "position lock poisoned".to_owned())?;
        position.confirmed_at_ms = self.feed.caught_up_unix_ms();
        position.save(&self.root.join(feed::POSITION_FILE))
    }

    async fn head(&self) -> Result<u64, StoreError> {
        Ok(feed::feed_extent(self.remote.client()).await?.head)
    }

    /// After a write to Postgres: wait until this node's copy holds it (read your writes).
    async fn read_back(&self) {
        let Ok(target) = self.head().await else {
            return;
        };
        if !self
            .feed
            .wait_for(target, Instant::now() + self.write_wait)
            .await
        {
            eprintln!(
                "vecgate: WARNING a write is not in the local index after {:?}; it will be",
                self.write_wait
            );
        }
    }

    /// `/v1/stats`' `local_index` and `/metrics`' gauges.
    fn lag_report(&self) -> serde_json::Value {
        json!({
            "applied_seq": self.feed.applied_seq.load(Ordering::Relaxed),
            "behind_changes": self.feed.behind_changes(),
            "lag_seconds": self.feed.lag().as_secs_f64(),
            "max_lag_ms": self.max_lag.as_millis() as u64,
            "search_logs_buffered": self.logs.buffered(),
            "search_logs_dropped": self.logs.dropped(),
            "degraded": self.feed.degraded_reason(),
            "resyncs": self.feed.resyncs_total.load(Ordering::Relaxed),
        })
    }
}

impl LocalIndexStore {
    /// Whether the central database answers (`vecgate_database_up`).
    pub async fn database_health(&self) -> Result<(), StoreError> {
        self.remote.health().await
    }

    /// At shutdown: waits up to `within` for the buffered search-log rows to reach the database;
    /// returns how many did not.
    pub async fn drain_search_logs(&self, within: Duration) -> u64 {
        self.logs.drain(within).await
    }
}

impl Store for LocalIndexStore {
    async fn search(&self, q: &SearchQuery) -> Result<SearchOutcome, StoreError> {
        let outcome = self.copy.get().search_unlogged(q).await?;
        self.logs.push(q, &outcome.hits, outcome.store_ms);
        Ok(outcome)
    }

    async fn log_search(
        &self,
        q: &SearchQuery,
        hits: &[Hit],
        took_ms: f64,
    ) -> Result<(), StoreError> {
        self.logs.push(q, hits, took_ms);
        Ok(())
    }

    async fn exact_search(&self, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
        self.copy.get().exact_search(q).await
    }

    async fn get(&self, id: &str) -> Result<Option<ContentItem>, StoreError> {
        self.copy.get().get(id).await
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let existed = self.remote.delete(id).await?;
        self.read_back().await;
        Ok(existed)
    }

    async fn upsert(&self, items: &[ContentItem]) -> Result<usize, StoreError> {
        let n = self.remote.upsert(items).await?;
        self.read_back().await;
        Ok(n)
    }

    async fn get_preference(&self, user_id: &str) -> Result<Option<UserPreference>, StoreError> {
        self.remote.get_preference(user_id).await
    }

    async fn put_preference(&self, user_id: &str, pref: &UserPreference) -> Result<(), StoreError> {
        self.remote.put_preference(user_id, pref).await
    }

    async fn record_event(
        &self,
        user_id: &str,
        content_id: &str,
        event: &WatchEvent,
    ) -> Result<UserPreference, StoreError> {
        self.remote.record_event(user_id, content_id, event).await
    }

    async fn erase_user(&self, user_id: &str) -> Result<Erased, StoreError> {
        let _paused = self.logs.pause().await;
        let queued = self.logs.forget_user(user_id);
        let mut erased = self.remote.erase_user(user_id).await?;
        erased.search_logs += queued;
        Ok(erased)
    }

    async fn prune_search_logs(&self, max_age_days: f64) -> Result<u64, StoreError> {
        self.remote.prune_search_logs(max_age_days).await
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        let mut stats = self.remote.stats().await?;
        stats.backend = "local_index";
        stats.content_count = self.len() as u64;
        // Rows accepted and on their way count as logged.
        stats.search_log_count += self.logs.buffered();
        stats.local_index = Some(self.lag_report());
        Ok(stats)
    }

    async fn health(&self) -> Result<(), StoreError> {
        if let Err(StoreError::StorageFull(why)) = self.copy.get().health().await {
            return Err(StoreError::Unavailable(format!(
                "{why}; the local index can't apply the database's changes and falls behind"
            )));
        }
        if self.feed.rebuild_disk_full.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(format!(
                "the data directory {} is full: the local index can't rebuild its copy until                  there is space; answering from the old one, which held every change {:.1} s ago",
                self.root.display(),
                self.feed.lag().as_secs_f64()
            )));
        }
        if let Some(why) = self.feed.degraded_reason() {
            return Err(StoreError::Unavailable(why));
        }
        let lag = self.feed.lag();
        if lag > self.max_lag {
            return Err(StoreError::Unavailable(format!(
                "the local index is {:.1} s behind the database (max_lag_ms {}), {} changes known \
                 to be missing",
                lag.as_secs_f64(),
                self.max_lag.as_millis(),
                self.feed.behind_changes()
            )));
        }
        Ok(())
    }

    fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        crate::store::embedded::render_disk_space(&self.root, out);
        let gauges = [
            (
                "vecgate_local_index_lag_seconds",
                "gauge",
                "Time since the local index last held every change of the database.",
                self.feed.lag().as_secs_f64(),
            ),
            (
                "vecgate_local_index_max_lag_seconds",
                "gauge",
                "max_lag_ms: the staleness beyond which /health is degraded.",
                self.max_lag.as_secs_f64(),
            ),
            (
                "vecgate_local_index_behind_changes",
                "gauge",
                "Changes the database had at the last poll that the local index does not hold.",
                self.feed.behind_changes() as f64,
            ),
            (
                "vecgate_local_index_applied_changes_total",
                "counter",
                "Changes applied to the local index since start.",
                self.feed.applied_total.load(Ordering::Relaxed) as f64,
            ),
            (
                "vecgate_local_index_resyncs_total",
                "counter",
                "Copies rebuilt in place because the change feed could not continue them.",
                self.feed.resyncs_total.load(Ordering::Relaxed) as f64,
            ),
            (
                "vecgate_storage_full",
                "gauge",
                "1 while the copy can't apply changes, or be rebuilt, because the data \
                 directory is full.",
                f64::from(u8::from(
                    self.copy.get().storage_full()
                        || self.feed.rebuild_disk_full.load(Ordering::Relaxed),
                )),
            ),
            (
                "vecgate_local_index_validated",
                "gauge",
                "1 once the copy has caught up with the database since start; 0 while a node \
                 started without the database answers from its snapshot, or rebuilds its copy.",
                f64::from(u8::from(self.feed.degraded_reason().is_none())),
            ),
            (
                "vecgate_search_logs_buffered",
                "gauge",
                "Search-log rows waiting to be written to the database.",
                self.logs.buffered() as f64,
            ),
            (
                "vecgate_search_logs_dropped_total",
                "counter",
                "Search-log rows dropped because the buffer was full.",
                self.logs.dropped() as f64,
            ),
            (
                "vecgate_search_log_journal_failures_total",
                "counter",
                "Search-log rows the journal could not hold (a full disk): they wait in memory \
                 only, and a crash before they are written loses them.",
                self.logs.journal_failures() as f64,
            ),
            (
                "vecgate_search_logs_written_total",
                "counter",
                "Search-log rows written to the database in batches.",
                self.logs.written() as f64,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }
}
