//! Where content, preferences and search logs live. Two implementations answer the same API:
//! [`postgres::PostgresStore`] (ruvector or pgvector, through any [`crate::sql::SqlClient`]) and
//! the embedded on-disk index (native only).

#[cfg(not(target_arch = "wasm32"))]
pub mod embedded;
pub mod postgres;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vecgate_core::filter::Filter;
use vecgate_core::preference::{UserPreference, WatchEvent};

/// One item of content: the shape of `POST /v1/content` items and of `movies.jsonl` lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentItem {
    pub id: String,
    #[serde(default)]
    pub content_id: Option<i64>,
    pub media_type: MediaType,
    #[serde(default = "empty_object")]
    pub metadata: Value,
    pub vector: Vec<f32>,
    /// Accepted (the sample data carries the embedded text) but not stored.
    #[serde(default, skip_serializing)]
    pub text: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Movie,
    Tv,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Movie => "movie",
            MediaType::Tv => "tv",
        }
    }

    pub fn parse(s: &str) -> Option<MediaType> {
        match s {
            "movie" => Some(MediaType::Movie),
            "tv" => Some(MediaType::Tv),
            _ => None,
        }
    }
}

/// The document the in-memory filter evaluator sees: metadata plus the `media_type` and
/// `content_id` columns, exactly what the SQL compiler maps those keys to.
pub fn filter_document(
    item_metadata: &Value,
    media_type: MediaType,
    content_id: Option<i64>,
) -> Value {
    let mut doc = match item_metadata {
        Value::Object(m) => m.clone(),
        _ => Default::default(),
    };
    doc.insert("media_type".into(), media_type.as_str().into());
    match content_id {
        Some(c) => doc.insert("content_id".into(), c.into()),
        None => doc.remove("content_id"),
    };
    Value::Object(doc)
}

/// Who asked and why, for the search log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchLog {
    pub user_id: Option<String>,
    /// `vector`, `text`, `similar`, `candidates` or `recommend`.
    pub search_type: &'static str,
    /// The filter as the client sent it.
    pub filter: Option<Value>,
    /// The query as the client gave it (or its text's embedding), before personalization;
    /// `None` when the query came from a user's preference, which is never logged.
    pub query_vector: Option<Vec<f32>>,
}

/// What erasing a user removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// Preference vectors (0 or 1). Watch events are folded into it and not kept apart.
    pub preferences: u64,
    pub search_logs: u64,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// Unit length.
    pub vector: Vec<f32>,
    pub k: usize,
    pub threshold: Option<f32>,
    pub filter: Option<Filter>,
    /// Find-similar leaves out the item itself, by its full id.
    pub exclude_id: Option<String>,
    pub include_metadata: bool,
    pub include_vector: bool,
    /// `None`: not logged (a recommendation's probes; it logs once, itself).
    pub log: Option<SearchLog>,
    /// How hard to look: the backend's own breadth, one chosen toward `target_recall`, or an
    /// exact scan.
    pub breadth: SearchBreadth,
    /// When the answer is no longer wanted (the request's timeout): the embedded index stops its
    /// work then. `None`: no limit (the recall monitor's background re-runs).
    pub deadline: Option<std::time::Instant>,
}

/// How hard a search looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SearchBreadth {
    /// The backend's own HNSW breadth.
    #[default]
    Backend,
    /// This HNSW breadth (`ef`).
    Ef(usize),
    /// An exact scan of every matching item: the search asked for it, or for a recall the index
    /// is not known to meet.
    Exact,
}

impl SearchBreadth {
    /// The HNSW breadth asked for, if any.
    pub fn ef(self) -> Option<usize> {
        match self {
            SearchBreadth::Ef(ef) => Some(ef),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// Best first, at most k, every score ≥ threshold.
    pub hits: Vec<Hit>,
    /// Time spent in the store (database round trips or index search), in milliseconds.
    pub store_ms: f64,
    /// How the store found them.
    pub path: SearchPath,
}

/// Which path answered a search (`vecgate_search_path_total` in `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPath {
    /// The HNSW index (Postgres' or the embedded one) gave enough rows.
    Index,
    /// The index fell short of what could match; an exact scan answered.
    ExactFallback,
    /// The search asked for an exact scan.
    Exact,
}

impl SearchPath {
    pub const ALL: [SearchPath; 3] = [
        SearchPath::Index,
        SearchPath::ExactFallback,
        SearchPath::Exact,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SearchPath::Index => "index",
            SearchPath::ExactFallback => "exact_fallback",
            SearchPath::Exact => "exact",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialect: Option<crate::sql::Dialect>,
    pub dimensions: usize,
    pub content_count: u64,
    pub user_count: u64,
    pub search_log_count: u64,
    /// A `--local-index` node: how far its copy is behind the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_index: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    /// The backend can't serve this now, for a reason of ours the client may read (HTTP 503).
    Unavailable(String),
    /// The database driver failed or could not connect (HTTP 503); its text is for the server
    /// log only, never for clients.
    Backend(String),
    /// A referenced item does not exist (HTTP 404).
    NotFound(String),
    /// A concurrent update won (HTTP 409).
    Conflict(String),
    /// The input was rejected by the backend (HTTP 400).
    Invalid(String),
    /// Anything else (HTTP 500); the message is for logs.
    Internal(String),
    /// The data directory's filesystem is full (ENOSPC): the write was not made (HTTP 503,
    /// `storage_full`); reads go on, writes resume once there is space.
    StorageFull(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "store unavailable: {m}"),
            StoreError::Backend(m) => write!(f, "database error: {m}"),
            StoreError::NotFound(m) => write!(f, "not found: {m}"),
            StoreError::Conflict(m) => write!(f, "conflict: {m}"),
            StoreError::Invalid(m) => write!(f, "invalid: {m}"),
            StoreError::Internal(m) => write!(f, "internal error: {m}"),
            StoreError::StorageFull(m) => write!(f, "storage full: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<crate::sql::DbError> for StoreError {
    fn from(e: crate::sql::DbError) -> Self {
        match e {
            crate::sql::DbError::Unavailable(m) => StoreError::Backend(m),
            crate::sql::DbError::Rejected(m) => StoreError::Internal(m),
            crate::sql::DbError::Denied(_) => StoreError::Unavailable(
                "this node's database role may not make this change; send writes to a node \
                 with the read-write role"
                    .into(),
            ),
        }
    }
}

/// The operations the API needs from a backend.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Runs the search and records one search-log entry for it when `query.log` is set.
    async fn search(&self, query: &SearchQuery) -> Result<SearchOutcome, StoreError>;
    /// Records `query.log` (if set) with `hits`, for answers not made by one [`Store::search`].
    async fn log_search(
        &self,
        query: &SearchQuery,
        hits: &[Hit],
        took_ms: f64,
    ) -> Result<(), StoreError>;
    /// The same search by an exhaustive scan, not logged: the reference for recall checks.
    async fn exact_search(&self, query: &SearchQuery) -> Result<Vec<Hit>, StoreError>;
    async fn get(&self, id: &str) -> Result<Option<ContentItem>, StoreError>;
    /// Whether the item existed.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Inserts or replaces all items, or none.
    async fn upsert(&self, items: &[ContentItem]) -> Result<usize, StoreError>;
    async fn get_preference(&self, user_id: &str) -> Result<Option<UserPreference>, StoreError>;
    async fn put_preference(&self, user_id: &str, pref: &UserPreference) -> Result<(), StoreError>;
    /// Applies a watch event of `content_id` to the user's preference atomically; returns the new one.
    async fn record_event(
        &self,
        user_id: &str,
        content_id: &str,
        event: &WatchEvent,
    ) -> Result<UserPreference, StoreError>;
    async fn stats(&self) -> Result<Stats, StoreError>;
    /// Err when the backend can't serve requests.
    async fn health(&self) -> Result<(), StoreError>;
    /// Deletes the user's preference and every search-log row of theirs.
    async fn erase_user(&self, user_id: &str) -> Result<Erased, StoreError>;
    /// Deletes search-log rows older than `max_age_days`, in batches; returns how many.
    async fn prune_search_logs(&self, max_age_days: f64) -> Result<u64, StoreError>;
    /// The store's own lines for `/metrics`, if it has any.
    fn render_metrics(&self, _out: &mut String) {}
}
