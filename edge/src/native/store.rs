//! The store a native `vecgate` runs on, chosen at start.

use std::path::Path;

use vecgate_core::preference::{UserPreference, WatchEvent};

use super::local_index::LocalIndexStore;
use super::pg::PgClient;
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::store::postgres::PostgresStore;
use crate::store::{
    ContentItem, Erased, Hit, SearchOutcome, SearchQuery, Stats, Store, StoreError,
};

pub enum AnyStore {
    Postgres(PostgresStore<PgClient>),
    /// Boxed: the embedded store is several times larger than the other variants.
    Embedded(Box<EmbeddedStore>),
    LocalIndex(LocalIndexStore),
}

impl AnyStore {
    pub fn embedded(data_dir: &Path, options: EmbeddedOptions) -> Result<AnyStore, String> {
        EmbeddedStore::open(data_dir, options).map(|s| AnyStore::Embedded(Box::new(s)))
    }

    /// For the start-up line.
    pub fn describe(&self) -> String {
        match self {
            AnyStore::Postgres(s) => format!("postgres, {:?}", s.dialect()),
            AnyStore::Embedded(s) => format!("embedded, {}", s.dir().display()),
            AnyStore::LocalIndex(s) => format!("local index of postgres, {}", s.dir().display()),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Postgres($s) => $call.await,
            AnyStore::Embedded($s) => $call.await,
            AnyStore::LocalIndex($s) => $call.await,
        }
    };
}

impl Store for AnyStore {
    async fn search(&self, query: &SearchQuery) -> Result<SearchOutcome, StoreError> {
        delegate!(self, s => s.search(query))
    }
    async fn log_search(
        &self,
        query: &SearchQuery,
        hits: &[Hit],
        took_ms: f64,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.log_search(query, hits, took_ms))
    }
    async fn exact_search(&self, query: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
        delegate!(self, s => s.exact_search(query))
    }
    async fn get(&self, id: &str) -> Result<Option<ContentItem>, StoreError> {
        delegate!(self, s => s.get(id))
    }
    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.delete(id))
    }
    async fn upsert(&self, items: &[ContentItem]) -> Result<usize, StoreError> {
        delegate!(self, s => s.upsert(items))
    }
    async fn get_preference(&self, user_id: &str) -> Result<Option<UserPreference>, StoreError> {
        delegate!(self, s => s.get_preference(user_id))
    }
    async fn put_preference(&self, user_id: &str, pref: &UserPreference) -> Result<(), StoreError> {
        delegate!(self, s => s.put_preference(user_id, pref))
    }
    async fn record_event(
        &self,
        user_id: &str,
        content_id: &str,
        event: &WatchEvent,
    ) -> Result<UserPreference, StoreError> {
        delegate!(self, s => s.record_event(user_id, content_id, event))
    }
    async fn stats(&self) -> Result<Stats, StoreError> {
        delegate!(self, s => s.stats())
    }
    async fn health(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.health())
    }
    async fn erase_user(&self, user_id: &str) -> Result<Erased, StoreError> {
        delegate!(self, s => s.erase_user(user_id))
    }
    async fn prune_search_logs(&self, max_age_days: f64) -> Result<u64, StoreError> {
        delegate!(self, s => s.prune_search_logs(max_age_days))
    }
    fn render_metrics(&self, out: &mut String) {
        match self {
            AnyStore::Postgres(s) => s.render_metrics(out),
            AnyStore::Embedded(s) => s.render_metrics(out),
            AnyStore::LocalIndex(s) => s.render_metrics(out),
        }
    }
}
