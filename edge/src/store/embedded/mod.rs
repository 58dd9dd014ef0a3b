//! The embedded store: the core HNSW index in memory, made durable by a write-ahead log
//! (`wal.log`, fsynced per write) and snapshots (`snapshot.bin`, the core byte format, written to
//! a temp file, fsynced and renamed). Search logs append to daily files (`search_log`).

pub mod files;
mod search;
mod search_log;
mod snapshot;
mod wal;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use serde_json::{json, Value};
use vecgate_core::hnsw::{HnswConfig, HnswIndex, HnswItem, Storage};
use vecgate_core::preference::{UserPreference, WatchEvent};

use super::{
    filter_document, ContentItem, Erased, Hit, MediaType, SearchBreadth, SearchOutcome, SearchPath,
    SearchQuery, Stats, Store, StoreError,
};
use search_log::SearchLogFiles;
use wal::{Record, Wal};

/// A snapshot is taken when the log grows past this.
const SNAPSHOT_AFTER_LOG_BYTES: u64 = 256 * 1024 * 1024;

/// Options of the embedded store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbeddedOptions {
    pub dims: usize,
    /// f32 keeps vectors exact; int8 is 4× smaller with approximate scores.
    pub storage: Storage,
    /// Threads that link a batch of new items into the index (`None`: every core; 1: the
    /// classic one-at-a-time build).
    pub build_threads: Option<usize>,
}

struct State {
    index: HnswIndex,
    preferences: HashMap<String, UserPreference>,
    /// The sequence number of the last applied write.
    seq: u64,
}

pub struct EmbeddedStore {
    dir: PathBuf,
    dims: usize,
    state: Arc<RwLock<State>>,
    /// Where exact scans of a large index run (`search::ScanLane`).
    scan_lane: search::ScanLane,
    /// Held for every write, so log order is apply order.
    wal: Mutex<Wal>,
    search_log: Mutex<SearchLogFiles>,
    /// Why the last write failed for lack of space (ENOSPC), until a write succeeds again:
    /// `/health` and `/metrics` say so.
    storage_full: Mutex<Option<SpaceShortage>>,
    /// Search-log lines not written because the disk was full (the searches were answered).
    search_logs_dropped: std::sync::atomic::AtomicU64,
    /// Holds an exclusive lock on the data directory for the life of the store.
    _lock: File,
}

/// Why the data directory is out of space, and whether a write (not only a search-log line)
/// found it so: only a write that succeeds then ends it.
#[derive(Debug, Clone)]
struct SpaceShortage {
    why: String,
    for_writes: bool,
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

/// File and lock failures: 503, with the detail in the server log only.
fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("embedded store: {e}"))
}

impl EmbeddedStore {
    /// Opens (creating) the store in `dir`: loads the snapshot, then replays the log.
    pub fn open(dir: &Path, options: EmbeddedOptions) -> Result<EmbeddedStore, String> {
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io("cannot open", &lock_path, e))?;
        lock.try_lock()
            .map_err(|_| format!("{} is in use by another vecgate process", dir.display()))?;
        let snapshot_path = dir.join(snapshot::FILE);
        let mut state = match snapshot::load(&snapshot_path, options.dims)? {
            Some(s) => s,
            None => {
                let mut config = HnswConfig::new(options.dims);
                config.storage = options.storage;
                State {
                    index: HnswIndex::new(config).map_err(|e| e.to_string())?,
                    preferences: HashMap::new(),
                    seq: 0,
                }
            }
        };
        if let Some(threads) = options.build_threads {
            state.index.set_build_threads(threads);
        }
        let (wal, records) = Wal::open(&dir.join("wal.log"), options.dims)?;
        for (seq, record) in records {
            if seq > state.seq {
                apply(&mut state, &record).map_err(|e| format!("replaying wal.log: {e}"))?;
                state.seq = seq;
            }
        }
        let search_log = SearchLogFiles::open(dir)?;
        Ok(EmbeddedStore {
            dir: dir.to_owned(),
            dims: options.dims,
            state: Arc::new(RwLock::new(state)),
            scan_lane: search::ScanLane::start(),
            wal: Mutex::new(wal),
            search_log: Mutex::new(search_log),
            storage_full: Mutex::new(None),
            search_logs_dropped: Default::default(),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn len(&self) -> usize {
        self.state.read().map(|s| s.index.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of every item, in no particular order.
    pub fn ids(&self) -> Vec<String> {
        self.state
            .read()
            .map(|s| s.index.ids().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    pub fn memory_bytes(&self) -> usize {
        self.state
            .read()
            .map(|s| s.index.memory_bytes())
            .unwrap_or(0)
    }

    /// [`Store::search`] without its search-log line (a `--local-index` node logs to Postgres).
    pub async fn search_unlogged(&self, q: &SearchQuery) -> Result<SearchOutcome, StoreError> {
        let start = Instant::now();
        let hits = search::find(&self.state, &self.scan_lane, q, false).await?;
        let path = match q.breadth {
            SearchBreadth::Exact => SearchPath::Exact,
            _ => SearchPath::Index,
        };
        Ok(SearchOutcome {
            hits,
            store_ms: start.elapsed().as_secs_f64() * 1e3,
            path,
        })
    }

    /// Writes a snapshot of everything applied so far and empties the log.
    pub fn snapshot(&self) -> Result<(), String> {
        let mut wal = self
            .wal
            .lock()
            .map_err(|_| "log lock poisoned".to_owned())?;
        self.snapshot_locked(&mut wal)
    }

    /// Whether writes fail because the data directory is full.
    pub fn storage_full(&self) -> bool {
        self.storage_full.lock().is_ok_and(|f| f.is_some())
    }

    /// Notes whether the data directory had room for the last write; the reason while not.
    fn note_space(&self, full: Option<SpaceShortage>) {
        if let Ok(mut now) = self.storage_full.lock() {
            match (&*now, &full) {
                (None, Some(SpaceShortage { why, .. })) => eprintln!(
                    "vecgate: WARNING the data directory {} is full ({why}): writes get 503 \
                     storage_full until there is space; reads go on",
                    self.dir.display()
                ),
                (Some(_), None) => eprintln!(
                    "vecgate: the data directory {} has room again: writes resume",
                    self.dir.display()
                ),
                _ => {}
            }
            *now = full;
        }
    }

    /// Logs `record` (fsynced), then applies it. The caller holds the log lock. Nothing is
    /// applied when the log can't take it; a full disk leaves no partial record behind.
    fn commit(&self, wal: &mut Wal, record: Record) -> Result<(), StoreError> {
        let mut state = self.state.write().map_err(unavailable)?;
        let seq = state.seq + 1;
        if let Err(e) = wal.append(seq, &record) {
            if e.kind() == std::io::ErrorKind::StorageFull {
                let why = format!("writing {}: {e}", wal.path().display());
                self.note_space(Some(SpaceShortage {
                    why,
                    for_writes: true,
                }));
                return Err(StoreError::StorageFull(
                    "the data directory is full: the write was not made; reads go on, and writes \
                     resume once there is space"
                        .into(),
                ));
            }
            return Err(unavailable(format!("writing the log: {e}")));
        }
        if self.storage_full.lock().is_ok_and(|f| f.is_some()) {
            self.note_space(None);
        }
        apply(&mut state, &record).map_err(StoreError::Internal)?;
        state.seq = seq;
        drop(state);
        if wal.len() > SNAPSHOT_AFTER_LOG_BYTES {
            if let Err(e) = self.snapshot_locked(wal) {
                eprintln!("vecgate: WARNING snapshot failed (the log keeps every write): {e}");
            }
        }
        Ok(())
    }

    fn snapshot_locked(&self, wal: &mut Wal) -> Result<(), String> {
        let state = self
            .state
            .read()
            .map_err(|_| "state lock poisoned".to_owned())?;
        snapshot::write(
            &self.dir.join(snapshot::FILE),
            &state.index,
            &state.preferences,
            state.seq,
        )?;
        wal.truncate()
            .map_err(|e| io("cannot truncate", wal.path(), e))
    }
}

/// The item as the index holds it: its filter document carries media_type and content_id.
fn to_index_item(item: &ContentItem) -> HnswItem {
    HnswItem {
        id: item.id.clone(),
        vector: item.vector.clone(),
        metadata: Some(filter_document(
            &item.metadata,
            item.media_type,
            item.content_id,
        )),
    }
}

/// Splits a filter document back into metadata, media_type and content_id.
fn from_document(doc: Option<&Value>) -> (Value, Option<MediaType>, Option<i64>) {
    let mut map = doc.and_then(Value::as_object).cloned().unwrap_or_default();
    let media = map
        .remove("media_type")
        .and_then(|m| m.as_str().and_then(MediaType::parse));
    let content_id = map.remove("content_id").and_then(|c| c.as_i64());
    (Value::Object(map), media, content_id)
}

fn apply(state: &mut State, record: &Record) -> Result<(), String> {
    match record {
        Record::Upsert(items) => state
            .index
            .upsert_batch(items.iter().map(to_index_item).collect())
            .map_err(|e| e.to_string()),
        Record::Delete(id) => match state.index.delete(id) {
            Ok(()) | Err(vecgate_core::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e.to_string()),
        },
        Record::Preference(user, pref) => {
            state.preferences.insert(user.clone(), pref.clone());
            Ok(())
        }
        Record::ErasePreference(user) => {
            state.preferences.remove(user);
            Ok(())
        }
    }
}

/// Free and total bytes of the filesystem holding `dir` (`vecgate_data_dir_*_bytes`), for the
/// disk-space alert.
pub fn render_disk_space(dir: &Path, out: &mut String) {
    use std::fmt::Write;
    let Ok(fs) = rustix::fs::statvfs(dir) else {
        return;
    };
    let block = fs.f_frsize.max(1);
    let _ = writeln!(
        out,
        "# HELP vecgate_data_dir_free_bytes Bytes free to vecgate on the data directory's filesystem.\n\
         # TYPE vecgate_data_dir_free_bytes gauge\nvecgate_data_dir_free_bytes {}\n\
         # HELP vecgate_data_dir_size_bytes Size of the data directory's filesystem.\n\
         # TYPE vecgate_data_dir_size_bytes gauge\nvecgate_data_dir_size_bytes {}",
        fs.f_bavail.saturating_mul(block),
        fs.f_blocks.saturating_mul(block)
    );
}

impl Store for EmbeddedStore {
    fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        render_disk_space(&self.dir, out);
        let full = self.storage_full();
        let _ = writeln!(
            out,
            "# HELP vecgate_storage_full 1 while writes fail because the data directory is full.\n\
             # TYPE vecgate_storage_full gauge\nvecgate_storage_full {}\n\
             # HELP vecgate_search_log_lines_dropped_total Search-log lines not written because \
             the data directory was full (their searches were answered).\n\
             # TYPE vecgate_search_log_lines_dropped_total counter\n\
             vecgate_search_log_lines_dropped_total {}",
            u8::from(full),
            self.search_logs_dropped
                .load(std::sync::atomic::Ordering::Relaxed)
        );
    }

    async fn log_search(
        &self,
        q: &SearchQuery,
        hits: &[Hit],
        took_ms: f64,
    ) -> Result<(), StoreError> {
        let Some(log) = &q.log else {
            return Ok(());
        };
        let line = json!({
            "timestamp_ms": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            "result_ids": hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            "scores": hits.iter().map(|h| h.score).collect::<Vec<_>>(),
            "user_id": log.user_id,
            "search_type": log.search_type,
            "filter": log.filter,
            "k": q.k,
            "took_ms": took_ms,
        });
        let mut files = self.search_log.lock().map_err(unavailable)?;
        match files.append(&line.to_string()) {
            Ok(()) => {
                // A short line fits where a write's record may not: only a shortage seen by
                // search logs alone ends here.
                if self
                    .storage_full
                    .lock()
                    .is_ok_and(|f| f.as_ref().is_some_and(|s| !s.for_writes))
                {
                    self.note_space(None);
                }
                Ok(())
            }
            // A full disk refuses writes, not searches: the line is counted as dropped.
            Err((true, why)) => {
                self.search_logs_dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let seen_by_writes = self
                    .storage_full
                    .lock()
                    .is_ok_and(|f| f.as_ref().is_some_and(|s| s.for_writes));
                self.note_space(Some(SpaceShortage {
                    why,
                    for_writes: seen_by_writes,
                }));
                Ok(())
            }
            Err((false, why)) => Err(unavailable(why)),
        }
    }

    async fn exact_search(&self, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
        // Ids and scores are what an exact answer is compared by.
        let bare = SearchQuery {
            include_metadata: false,
            include_vector: false,
            ..q.clone()
        };
        search::find(&self.state, &self.scan_lane, &bare, true).await
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchOutcome, StoreError> {
        let outcome = self.search_unlogged(q).await?;
        self.log_search(q, &outcome.hits, outcome.store_ms).await?;
        Ok(outcome)
    }

    async fn get(&self, id: &str) -> Result<Option<ContentItem>, StoreError> {
        let state = self.state.read().map_err(unavailable)?;
        Ok(state.index.get(id).map(|stored| {
            let (metadata, media, content_id) = from_document(stored.metadata);
            ContentItem {
                id: id.to_owned(),
                content_id,
                media_type: media.unwrap_or(MediaType::Movie),
                metadata,
                vector: stored.vector,
                text: None,
            }
        }))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut wal = self.wal.lock().map_err(unavailable)?;
        if !self.state.read().map_err(unavailable)?.index.contains(id) {
            return Ok(false);
        }
        self.commit(&mut wal, Record::Delete(id.to_owned()))?;
        Ok(true)
    }

    async fn upsert(&self, items: &[ContentItem]) -> Result<usize, StoreError> {
        for item in items {
            vecgate_core::kernels::check_dims(self.dims, item.vector.len())
                .and_then(|_| vecgate_core::kernels::check_finite(&item.vector))
                .map_err(|e| StoreError::Invalid(format!("{}: {e}", item.id)))?;
        }
        let mut wal = self.wal.lock().map_err(unavailable)?;
        self.commit(&mut wal, Record::Upsert(items.to_vec()))?;
        Ok(items.len())
    }

    async fn get_preference(&self, user_id: &str) -> Result<Option<UserPreference>, StoreError> {
        let state = self.state.read().map_err(unavailable)?;
        Ok(state.preferences.get(user_id).cloned())
    }

    async fn put_preference(&self, user_id: &str, pref: &UserPreference) -> Result<(), StoreError> {
        let mut wal = self.wal.lock().map_err(unavailable)?;
        self.commit(
            &mut wal,
            Record::Preference(user_id.to_owned(), pref.clone()),
        )
    }

    async fn record_event(
        &self,
        user_id: &str,
        content_id: &str,
        event: &WatchEvent,
    ) -> Result<UserPreference, StoreError> {
        // The log lock makes read, compute and write one step.
        let mut wal = self.wal.lock().map_err(unavailable)?;
        let next = {
            let state = self.state.read().map_err(unavailable)?;
            let stored = state.index.get(content_id).ok_or_else(|| {
                StoreError::NotFound(format!("no content with id {content_id:?}"))
            })?;
            let genres: Vec<String> = stored
                .metadata
                .and_then(|m| m.get("genres"))
                .and_then(Value::as_array)
                .map(|g| {
                    g.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            UserPreference::apply_event(
                state.preferences.get(user_id),
                &stored.vector,
                &genres,
                event,
            )
            .map_err(|e| StoreError::Invalid(e.to_string()))?
        };
        self.commit(
            &mut wal,
            Record::Preference(user_id.to_owned(), next.clone()),
        )?;
        Ok(next)
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        let state = self.state.read().map_err(unavailable)?;
        Ok(Stats {
            backend: "embedded",
            dialect: None,
            dimensions: self.dims,
            content_count: state.index.len() as u64,
            user_count: state.preferences.len() as u64,
            search_log_count: self.search_log.lock().map_err(unavailable)?.total(),
            local_index: None,
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        if let Some(why) = self
            .storage_full
            .lock()
            .ok()
            .and_then(|f| f.as_ref().map(|s| s.why.clone()))
        {
            return Err(StoreError::StorageFull(format!(
                "the data directory is full ({why}): writes are refused until there is space"
            )));
        }
        self.state.read().map(|_| ()).map_err(unavailable)
    }

    async fn erase_user(&self, user_id: &str) -> Result<Erased, StoreError> {
        let search_logs = self
            .search_log
            .lock()
            .map_err(unavailable)?
            .erase_user(user_id)
            .map_err(unavailable)?;
        let mut wal = self.wal.lock().map_err(unavailable)?;
        let had = self
            .state
            .read()
            .map_err(unavailable)?
            .preferences
            .contains_key(user_id);
        if had {
            self.commit(&mut wal, Record::ErasePreference(user_id.to_owned()))?;
            // The log still holds the old preference records: a snapshot drops them from disk.
            self.snapshot_locked(&mut wal).map_err(unavailable)?;
        }
        Ok(Erased {
            preferences: had as u64,
            search_logs,
        })
    }

    async fn prune_search_logs(&self, max_age_days: f64) -> Result<u64, StoreError> {
        self.search_log
            .lock()
            .map_err(unavailable)?
            .prune(max_age_days)
            .map_err(unavailable)
    }
}
