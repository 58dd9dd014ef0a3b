//! The Postgres store: ruvector-postgres or pgvector, through any [`SqlClient`].
//!
//! ruvector's HNSW scan has known bugs (wrong order, short results), so every search overfetches,
//! re-scores the returned rows with exact cosine in `vecgate-core`, and when the index returned
//! fewer rows than match (a selective filter, or a scan that ran dry), repeats the search as an
//! exact scan. The search-log row is written by the same statement that produced the results.
//!
//! ruvector's index is not WAL-logged, so a crash restart of the server leaves it broken. On
//! ruvector, every statement that can reach it runs only where the crash sentinel vouches for
//! it (`sql::sentinel`); while it is suspect, searches take the exact scan and upserts get a
//! 503, and nothing is ever sent that could hang in the index.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use vecgate_core::breadth::{ClassBreadth, QueryClass};
use vecgate_core::kernels::cosine_unchecked;
use vecgate_core::preference::{UserPreference, WatchEvent};

use super::{
    ContentItem, Erased, Hit, MediaType, SearchBreadth, SearchLog, SearchOutcome, SearchPath,
    SearchQuery, Stats, Store, StoreError,
};
use crate::metrics::IndexHealth;
use crate::sql::breadth::{self, Breadth};
use crate::sql::{
    filter::compile, parse_vector_literal, sentinel, vector_literal, DbError, Dialect, Param,
    Route, Row, Scope, SqlClient,
};

/// The 503 message for a write while the index is suspect.
pub const INDEX_REBUILDING: &str = "the vector index is being rebuilt after a database crash \
     (ruvector's index is not WAL-logged); writes resume when the rebuild is done, retry later";

/// Rows fetched from the index per requested result, before exact re-scoring.
const OVERFETCH_FACTOR: usize = 2;
const OVERFETCH_MIN_EXTRA: usize = 20;
/// ruvector's scan yields at most 1,000 rows whatever the LIMIT.
const MAX_INDEX_FETCH: usize = 1000;
/// Search-log rows deleted per retention statement.
const PRUNE_BATCH: usize = 5_000;
/// Compare-and-swap attempts for a preference update before answering 409.
const EVENT_RETRIES: usize = 5;

pub struct PostgresStore<C> {
    client: C,
    dialect: Dialect,
    dims: usize,
    /// Searches run on the read replicas (their log rows then go to the primary separately).
    search_replicas: bool,
    /// Set once a replica could not read the vector index: ruvector's HNSW index is not
    /// WAL-logged, so a streaming replica has an empty index file (sql/RUVECTOR.md).
    replica_index_unreadable: AtomicBool,
    /// Whether the index is suspect after a crash, and what that cost (ruvector only).
    index: Arc<IndexHealth>,
    /// Searches without a breadth of their own read their class's from the table.
    learned_breadth: bool,
}

impl<C: SqlClient> PostgresStore<C> {
    pub fn new(client: C, dialect: Dialect, dims: usize, has_read_replicas: bool) -> Self {
        PostgresStore {
            client,
            dialect,
            dims,
            search_replicas: has_read_replicas,
            replica_index_unreadable: AtomicBool::new(false),
            index: Arc::new(IndexHealth::default()),
            learned_breadth: false,
        }
    }

    /// The index state, for `/metrics` and the native rebuild task.
    pub fn index_health(&self) -> Arc<IndexHealth> {
        self.index.clone()
    }

    /// Whether index statements are guarded by the crash sentinel: ruvector's index is not
    /// WAL-logged, pgvector's is.
    pub fn guards_index(&self) -> bool {
        self.dialect == Dialect::Ruvector
    }

    /// A statement that can reach the HNSW index, under `settings` (its breadth) when given.
    /// On ruvector's primary it runs only where the sentinel vouches for the index; `None` (not
    /// sent) while the index is suspect. A replica cannot read an unlogged table, and its copy
    /// of ruvector's index is unreadable anyway (`search` then moves to the primary).
    async fn index_query(
        &self,
        route: Route,
        settings: Option<&(String, Vec<Param>)>,
        sql: &str,
        params: &[Param],
    ) -> Result<Option<Vec<Row>>, DbError> {
        let guarded = self.guards_index() && !(route == Route::Read && self.search_replicas);
        let scope = Scope {
            guard: guarded.then_some(sentinel::GUARD),
            settings: settings.map(|(sql, params)| (sql.as_str(), params.as_slice())),
        };
        let rows = self.client.query_scoped(route, &scope, sql, params).await?;
        if !guarded {
            return Ok(rows);
        }
        let suspect = rows.is_none();
        if self.index.set_suspect(suspect) {
            if suspect {
                eprintln!(
                    "vecgate: WARNING the vector index is suspect: the database restarted after \
                     a crash since it was built (ruvector's index is not WAL-logged). Searches \
                     use the exact scan and writes get 503 until it is rebuilt."
                );
            } else {
                eprintln!("vecgate: the vector index is good; index searches and writes resume");
            }
        }
        Ok(rows)
    }

    /// Index searches from now on use the breadth native nodes learned for their class
    /// (`vecgate_search_breadth`) when the search brings none of its own: for the Spin
    /// component, which keeps no state and does not sample.
    pub fn with_learned_breadth(mut self) -> Self {
        self.learned_breadth = true;
        self
    }

    /// The settings statement an index search of `q` fetching `fetch` rows runs under: the
    /// breadth it brings, or the class's learned one; `None`: the database's own settings.
    fn breadth_settings(&self, q: &SearchQuery, fetch: usize) -> Option<(String, Vec<Param>)> {
        let breadth = match q.breadth {
            SearchBreadth::Ef(ef) => Breadth::Given(ef),
            SearchBreadth::Backend if self.learned_breadth => {
                Breadth::Learned(QueryClass::of(q.k, q.filter.is_some()))
            }
            SearchBreadth::Backend | SearchBreadth::Exact => return None,
        };
        Some(breadth::settings(self.dialect, breadth, fetch))
    }

    /// The breadths native nodes learned for this database, by class.
    pub async fn learned_breadths(&self) -> Result<Vec<(QueryClass, ClassBreadth)>, StoreError> {
        let rows = self.client.query(Route::Read, breadth::READ, &[]).await?;
        Ok(rows.iter().filter_map(breadth::parse_row).collect())
    }

    /// Keeps what was learned for `class`, for restarts and the Spin component.
    pub async fn keep_breadth(
        &self,
        class: QueryClass,
        state: &ClassBreadth,
        target: f64,
    ) -> Result<(), StoreError> {
        let params = breadth::write_params(class, state, target);
        self.client
            .query(Route::Write, breadth::WRITE, &params)
            .await?;
        Ok(())
    }

    /// How many items the table holds (for re-measuring breadth as it grows).
    pub async fn content_count(&self) -> Result<u64, StoreError> {
        let rows = self
            .client
            .query(
                Route::Read,
                "SELECT count(id)::text FROM content_vectors",
                &[],
            )
            .await?;
        Ok(count(&rows, 0))
    }

    pub fn client(&self) -> &C {
        &self.client
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// One search statement. `exact` scans the filtered rows instead of walking the index.
    /// Parameters: $1 query, $2 excluded id, $3 rows to fetch, $4 threshold, $5 k, $6 user,
    /// $7 search type, $8 filter JSON, $9 the logged query (before personalization), then the
    /// filter's own.
    ///
    /// The query is written as `$1::text::<type>` wherever it is used: the index is only chosen
    /// for `ORDER BY vector <=> <constant or parameter>` (see `sql/RUVECTOR.md`).
    fn search_sql(&self, filter_sql: &str, exact: bool, log: bool) -> String {
        let q = format!("$1::text::{}", self.dialect.vector_type());
        let matching = format!("({filter_sql}) AND ($2::text IS NULL OR c.id <> $2::text)");
        let candidates = if exact {
            // OFFSET 0 fences the distance into a subquery: a sequential scan and a sort, exact.
            format!(
                "SELECT id, metadata, media_type, content_id, vector FROM (\
                   SELECT c.*, c.vector <=> {q} AS d FROM content_vectors c \
                   WHERE {matching} OFFSET 0) s \
                 ORDER BY d LIMIT $3::text::int"
            )
        } else {
            format!(
                "SELECT c.id, c.metadata, c.media_type, c.content_id, c.vector \
                 FROM content_vectors c WHERE {matching} \
                 ORDER BY c.vector <=> {q} LIMIT $3::text::int"
            )
        };
        // The index walk is good enough when it returned every row that could be among the k:
        // HNSW scans stop after `ef` candidates and filters apply after the scan.
        let enough = if exact {
            "TRUE".to_owned()
        } else {
            // count(m.id), not count(*): a query that reads no column lets the planner pick an
            // index-only scan of the HNSW index, which returns no rows (sql/RUVECTOR.md).
            format!(
                "(SELECT count(*) FROM cand) >= \
                 (SELECT count(m.id) FROM (SELECT c.id FROM content_vectors c WHERE {matching} \
                  LIMIT $5::text::int) m)"
            )
        };
        let log_cte = if log {
            format!(
                ", log AS (\
                   INSERT INTO vector_search_logs \
                     (query_vector, result_ids, scores, user_id, search_type, filter, k, took_ms) \
                   SELECT $9::text::{vt}, \
                     coalesce((SELECT array_agg(id ORDER BY score DESC, id) FROM top), '{{}}'), \
                     coalesce((SELECT array_agg(score::real ORDER BY score DESC, id) FROM top), '{{}}'), \
                     $6::text, $7::text, $8::text::jsonb, $5::text::int, \
                     (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::real \
                   WHERE (SELECT ok FROM enough) RETURNING 1)",
                vt = self.dialect.vector_type()
            )
        } else {
            String::new()
        };
        let logged = if log {
            "(SELECT count(*) FROM log)"
        } else {
            "0"
        };
        format!(
            "WITH cand AS MATERIALIZED ({candidates}), \
             scored AS (SELECT cand.*, 1 - (cand.vector <=> {q})::float8 AS score FROM cand), \
             top AS (SELECT id, score FROM scored \
                     WHERE $4::text IS NULL OR score >= $4::text::float8 \
                     ORDER BY score DESC, id LIMIT $5::text::int), \
             enough AS (SELECT {enough} AS ok){log_cte} \
             SELECT s.id, s.metadata::text, s.media_type, s.content_id::text, s.vector::text, \
                    e.ok::text, {logged}::text, s.score::text \
             FROM enough e LEFT JOIN scored s ON TRUE"
        )
    }

    /// The SQL and parameters of one search statement (public so benchmarks can send the very
    /// same statement directly).
    pub fn search_statement(&self, q: &SearchQuery, exact: bool) -> (String, Vec<Param>) {
        self.statement(q, exact, true)
    }

    /// Rows an index search fetches for `k` results, before exact re-scoring.
    fn index_fetch(k: usize) -> usize {
        (k * OVERFETCH_FACTOR)
            .max(k + OVERFETCH_MIN_EXTRA)
            .min(MAX_INDEX_FETCH)
    }

    /// `log`: the statement writes `q.log`'s row itself (only possible on the primary).
    fn statement(&self, q: &SearchQuery, exact: bool, log: bool) -> (String, Vec<Param>) {
        let log = log && q.log.is_some();
        let fetch = if exact { q.k } else { Self::index_fetch(q.k) };
        let mut params: Vec<Param> = vec![
            Some(vector_literal(&q.vector)),
            q.exclude_id.clone(),
            Some(fetch.to_string()),
            q.threshold.map(|t| t.to_string()),
            Some(q.k.to_string()),
        ];
        // $6..$9 only when the statement uses them: a server may refuse unused parameters.
        if let (true, Some(l)) = (log, &q.log) {
            params.extend([
                l.user_id.clone(),
                Some(l.search_type.to_owned()),
                l.filter.as_ref().map(Value::to_string),
                l.query_vector.as_deref().map(vector_literal),
            ]);
        }
        let filter_sql = match &q.filter {
            Some(f) => compile(f, &mut params),
            None => "TRUE".to_owned(),
        };
        (self.search_sql(&filter_sql, exact, log), params)
    }

    /// One statement; its log row rides along unless it runs on a replica or `log` is false.
    async fn search_once(
        &self,
        q: &SearchQuery,
        exact: bool,
        on_replica: bool,
    ) -> Result<Option<(Vec<Hit>, bool)>, StoreError> {
        self.run_search(q, exact, on_replica, !on_replica && q.log.is_some())
            .await
    }

    /// `None`: the index search was not sent, the index is suspect (never for `exact`).
    async fn run_search(
        &self,
        q: &SearchQuery,
        exact: bool,
        on_replica: bool,
        log: bool,
    ) -> Result<Option<(Vec<Hit>, bool)>, StoreError> {
        let (sql, params) = self.statement(q, exact, log);
        let route = if on_replica {
            Route::Read
        } else {
            Route::Write
        };
        let rows = if exact {
            self.client.query(route, &sql, &params).await?
        } else {
            let settings = self.breadth_settings(q, Self::index_fetch(q.k));
            match self
                .index_query(route, settings.as_ref(), &sql, &params)
                .await?
            {
                Some(rows) => rows,
                None => return Ok(None),
            }
        };
        self.hits_from(q, &rows).map(Some)
    }

    /// The rows of a search statement as (hits, whether the index gave enough).
    fn hits_from(&self, q: &SearchQuery, rows: &[Row]) -> Result<(Vec<Hit>, bool), StoreError> {
        // Always at least one row: the `enough` flag, with a NULL id when nothing matched.
        let enough = rows.first().and_then(|r| text(r, 5)) == Some("true");
        let rows: Vec<(&Row, f64)> = rows
            .iter()
            .filter(|r| text(r, 0).is_some())
            .map(|r| (r, sql_score(r)))
            .collect();
        let cutoff = rescore_cutoff(rows.iter().map(|&(_, score)| score), q.k);
        let mut scored = Vec::with_capacity(rows.len().min(q.k + 8));
        for (row, score) in rows {
            if score >= cutoff {
                scored.push(self.rescore(q, row)?);
            }
        }
        scored.retain(|(_, h)| q.threshold.is_none_or(|t| h.score >= t));
        scored.sort_by(|(_, a), (_, b)| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        scored.truncate(q.k);
        let hits = scored
            .into_iter()
            .map(|(row, mut hit)| {
                if !q.include_vector {
                    hit.vector = None;
                }
                if q.include_metadata {
                    hit.metadata = text(row, 1).and_then(|m| serde_json::from_str(m).ok());
                }
                hit
            })
            .collect();
        Ok((hits, enough))
    }

    /// Exact cosine from the returned vector, so a wrong distance or order from the index
    /// cannot reach the client. The metadata is left for the rows that make the top k.
    fn rescore<'r>(&self, q: &SearchQuery, row: &'r Row) -> Result<(&'r Row, Hit), StoreError> {
        let id = text(row, 0).ok_or_else(|| internal("search row without id"))?;
        let vector = text(row, 4)
            .and_then(parse_vector_literal)
            .filter(|v| v.len() == self.dims)
            .ok_or_else(|| internal(format!("stored vector of {id} is unreadable")))?;
        let hit = Hit {
            id: id.to_owned(),
            score: cosine_unchecked(&q.vector, &vector),
            metadata: None,
            vector: Some(vector),
        };
        Ok((row, hit))
    }

    /// The log row as a statement of its own, on the primary: for searches on a replica, where
    /// it cannot ride along, and for answers made of several searches.
    async fn write_log(
        &self,
        q: &SearchQuery,
        log: &SearchLog,
        hits: &[Hit],
        took_ms: f64,
    ) -> Result<(), StoreError> {
        let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        let scores: Vec<f32> = hits.iter().map(|h| h.score).collect();
        let sql = format!(
            "INSERT INTO vector_search_logs \
               (query_vector, result_ids, scores, user_id, search_type, filter, k, took_ms) \
             SELECT $1::text::{vt}, ARRAY(SELECT jsonb_array_elements_text($2::text::jsonb)), \
               ARRAY(SELECT x::real FROM jsonb_array_elements_text($3::text::jsonb) x), \
               $4::text, $5::text, $6::text::jsonb, $7::text::int, $8::text::real",
            vt = self.dialect.vector_type()
        );
        let params = vec![
            log.query_vector.as_deref().map(vector_literal),
            Some(serde_json::to_string(&ids).unwrap_or_default()),
            Some(serde_json::to_string(&scores).unwrap_or_default()),
            log.user_id.clone(),
            Some(log.search_type.to_owned()),
            log.filter.as_ref().map(Value::to_string),
            Some(q.k.to_string()),
            Some(took_ms.to_string()),
        ];
        self.client.query(Route::Write, &sql, &params).await?;
        Ok(())
    }

    async fn read_preference(
        &self,
        user_id: &str,
    ) -> Result<Option<(UserPreference, i64)>, StoreError> {
        let rows = self
            .client
            .query(
                Route::Read,
                "SELECT vector::text, confidence::text, genre_affinities::text, version::text \
                 FROM user_preference_vectors WHERE user_id = $1::text",
                &[Some(user_id.to_owned())],
            )
            .await?;
        rows.first().map(|r| self.preference_from(r, 0)).transpose()
    }

    /// Reads (vector, confidence, genre_affinities, version) starting at column `at`.
    fn preference_from(&self, row: &Row, at: usize) -> Result<(UserPreference, i64), StoreError> {
        let vector = text(row, at)
            .and_then(parse_vector_literal)
            .ok_or_else(|| internal("unreadable preference vector"))?;
        let confidence = text(row, at + 1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| internal("unreadable confidence"))?;
        let genre_affinities = text(row, at + 2)
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| internal(format!("unreadable genre_affinities: {e}")))?
            .unwrap_or_default();
        let version = text(row, at + 3).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            UserPreference {
                vector,
                confidence,
                genre_affinities,
            },
            version,
        ))
    }

    /// Writes `pref` if the stored version is still `expected` (None: unconditionally).
    async fn write_preference(
        &self,
        user_id: &str,
        pref: &UserPreference,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "INSERT INTO user_preference_vectors \
               (user_id, vector, confidence, genre_affinities, version, updated_at) \
             VALUES ($1::text, $2::text::{vt}, $3::text::float8, $4::text::jsonb, 1, now()) \
             ON CONFLICT (user_id) DO UPDATE SET vector = EXCLUDED.vector, \
               confidence = EXCLUDED.confidence, genre_affinities = EXCLUDED.genre_affinities, \
               version = user_preference_vectors.version + 1, updated_at = now() \
             WHERE $5::text IS NULL OR user_preference_vectors.version = $5::text::bigint \
             RETURNING version::text",
            vt = self.dialect.vector_type()
        );
        let params = vec![
            Some(user_id.to_owned()),
            Some(vector_literal(&pref.vector)),
            Some(pref.confidence.to_string()),
            Some(serde_json::to_string(&pref.genre_affinities).unwrap_or_else(|_| "{}".into())),
            expected.map(|v| v.to_string()),
        ];
        let rows = self.client.query(Route::Write, &sql, &params).await?;
        Ok(!rows.is_empty())
    }
}

fn text(row: &Row, i: usize) -> Option<&str> {
    row.get(i).and_then(|v| v.as_deref())
}

/// How far below the statement's k-th score a row is still rescored. `<=>` is within 1.2e-7 of
/// the exact cosine distance on ruvector (sql/RUVECTOR.md) and computed in f32 by pgvector, so a
/// row further below cannot reach the top k; parsing the vectors of all the over-fetched rows
/// was the edge's largest cost per search (README, "Edge over ruvector-postgres").
const RESCORE_MARGIN: f64 = 1e-4;

/// The score the statement computed for a row (`+inf` when absent: such a row is rescored).
fn sql_score(row: &Row) -> f64 {
    text(row, 7)
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::INFINITY)
}

/// The lowest statement score worth rescoring: [`RESCORE_MARGIN`] under the k-th best.
fn rescore_cutoff(scores: impl Iterator<Item = f64>, k: usize) -> f64 {
    let mut scores: Vec<f64> = scores.collect();
    if scores.len() <= k || k == 0 {
        return f64::NEG_INFINITY;
    }
    scores.sort_by(|a, b| b.total_cmp(a));
    scores[k - 1] - RESCORE_MARGIN
}

fn internal(m: impl Into<String>) -> StoreError {
    StoreError::Internal(m.into())
}

fn count(rows: &[Row], col: usize) -> u64 {
    rows.first()
        .and_then(|r| text(r, col))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

impl<C: SqlClient> PostgresStore<C> {
    /// The index walk, then the exact scan if the walk fell short or the index is suspect.
    async fn search_on(
        &self,
        q: &SearchQuery,
        replica: bool,
    ) -> Result<(Vec<Hit>, SearchPath), StoreError> {
        if q.breadth == SearchBreadth::Exact {
            let hits = self.search_once(q, true, replica).await?;
            return Ok((
                hits.map_or_else(Vec::new, |(hits, _)| hits),
                SearchPath::Exact,
            ));
        }
        match self.search_once(q, false, replica).await? {
            Some((hits, true)) => return Ok((hits, SearchPath::Index)),
            Some((_, false)) => {}
            None => self.index.count_suspect_search(),
        }
        let hits = self
            .search_once(q, true, replica)
            .await?
            .map_or_else(Vec::new, |(hits, _)| hits);
        Ok((hits, SearchPath::ExactFallback))
    }
}

impl<C: SqlClient> Store for PostgresStore<C> {
    async fn log_search(
        &self,
        q: &SearchQuery,
        hits: &[Hit],
        took_ms: f64,
    ) -> Result<(), StoreError> {
        match &q.log {
            Some(log) => self.write_log(q, log, hits, took_ms).await,
            None => Ok(()),
        }
    }

    async fn exact_search(&self, q: &SearchQuery) -> Result<Vec<Hit>, StoreError> {
        // The fenced exact scan reads no index, so a replica (ruvector's too) can answer it.
        let on_replica = self.search_replicas;
        Ok(self
            .run_search(q, true, on_replica, false)
            .await?
            .map_or_else(Vec::new, |(hits, _)| hits))
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchOutcome, StoreError> {
        let start = Instant::now();
        let replica =
            self.search_replicas && !self.replica_index_unreadable.load(Ordering::Relaxed);
        let ((hits, path), logged) = match self.search_on(q, replica).await {
            // SQLSTATE XX001: the replica's copy of the index is not there; use the primary.
            Err(StoreError::Internal(m)) if replica && m.contains("XX001") => {
                self.replica_index_unreadable.store(true, Ordering::Relaxed);
                eprintln!(
                    "vecgate: WARNING a read replica cannot read the vector index ({m}); \
                     searches go to the primary from now on"
                );
                (self.search_on(q, false).await?, true)
            }
            other => (other?, !replica),
        };
        let store_ms = start.elapsed().as_secs_f64() * 1e3;
        if !logged {
            self.log_search(q, &hits, store_ms).await?;
        }
        Ok(SearchOutcome {
            hits,
            store_ms,
            path,
        })
    }

    async fn get(&self, id: &str) -> Result<Option<ContentItem>, StoreError> {
        let rows = self
            .client
            .query(
                Route::Read,
                "SELECT id, content_id::text, media_type, metadata::text, vector::text \
                 FROM content_vectors WHERE id = $1::text",
                &[Some(id.to_owned())],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(ContentItem {
            id: text(row, 0).unwrap_or(id).to_owned(),
            content_id: text(row, 1).and_then(|c| c.parse().ok()),
            media_type: text(row, 2)
                .and_then(MediaType::parse)
                .ok_or_else(|| internal("unknown media_type"))?,
            metadata: text(row, 3)
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_else(|| Value::Object(Default::default())),
            vector: text(row, 4)
                .and_then(parse_vector_literal)
                .ok_or_else(|| internal("unreadable vector"))?,
            text: None,
        }))
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let rows = self
            .client
            .query(
                Route::Write,
                "DELETE FROM content_vectors WHERE id = $1::text RETURNING 1::text",
                &[Some(id.to_owned())],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn upsert(&self, items: &[ContentItem]) -> Result<usize, StoreError> {
        // One statement: the batch is written whole or not at all.
        let records: Vec<Value> = items
            .iter()
            .map(|i| {
                serde_json::json!({
                    "id": i.id,
                    "content_id": i.content_id,
                    "media_type": i.media_type.as_str(),
                    "metadata": i.metadata,
                    "vector": vector_literal(&i.vector),
                })
            })
            .collect();
        let sql = format!(
            "INSERT INTO content_vectors \
               (id, content_id, media_type, metadata, vector, created_at, updated_at) \
             SELECT x.id, x.content_id, x.media_type, coalesce(x.metadata, '{{}}'::jsonb), \
               x.vector::{vt}, now(), now() \
             FROM jsonb_to_recordset($1::text::jsonb) \
               AS x(id text, content_id int, media_type text, metadata jsonb, vector text) \
             ON CONFLICT (id) DO UPDATE SET content_id = EXCLUDED.content_id, \
               media_type = EXCLUDED.media_type, metadata = EXCLUDED.metadata, \
               vector = EXCLUDED.vector, updated_at = now() \
             RETURNING 1::text",
            vt = self.dialect.vector_type()
        );
        // An INSERT or UPDATE of a vector inserts into the HNSW index: guarded.
        let rows = self
            .index_query(
                Route::Write,
                None,
                &sql,
                &[Some(Value::Array(records).to_string())],
            )
            .await
            .map_err(|e| match e {
                DbError::Rejected(m) => StoreError::Invalid(format!("batch rejected: {m}")),
                other => other.into(),
            })?;
        let Some(rows) = rows else {
            self.index.count_refused_write();
            return Err(StoreError::Unavailable(INDEX_REBUILDING.into()));
        };
        Ok(rows.len())
    }

    async fn get_preference(&self, user_id: &str) -> Result<Option<UserPreference>, StoreError> {
        Ok(self.read_preference(user_id).await?.map(|(p, _)| p))
    }

    async fn put_preference(&self, user_id: &str, pref: &UserPreference) -> Result<(), StoreError> {
        self.write_preference(user_id, pref, None).await?;
        Ok(())
    }

    async fn record_event(
        &self,
        user_id: &str,
        content_id: &str,
        event: &WatchEvent,
    ) -> Result<UserPreference, StoreError> {
        for _ in 0..EVENT_RETRIES {
            let rows = self
                .client
                .query(
                    Route::Write,
                    "SELECT c.vector::text, (c.metadata -> 'genres')::text, \
                       p.vector::text, p.confidence::text, p.genre_affinities::text, p.version::text \
                     FROM content_vectors c \
                     LEFT JOIN user_preference_vectors p ON p.user_id = $2::text \
                     WHERE c.id = $1::text",
                    &[Some(content_id.to_owned()), Some(user_id.to_owned())],
                )
                .await?;
            let row = rows.first().ok_or_else(|| {
                StoreError::NotFound(format!("no content with id {content_id:?}"))
            })?;
            let content = text(row, 0)
                .and_then(parse_vector_literal)
                .ok_or_else(|| internal("unreadable content vector"))?;
            let genres: Vec<String> = text(row, 1)
                .and_then(|g| serde_json::from_str::<Vec<Value>>(g).ok())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect();
            let previous = match text(row, 2) {
                Some(_) => Some(self.preference_from(row, 2)?),
                None => None,
            };
            let next = UserPreference::apply_event(
                previous.as_ref().map(|(p, _)| p),
                &content,
                &genres,
                event,
            )
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
            // Version -1 never matches a stored row: a first preference only goes in if none appeared.
            let expected = previous.as_ref().map_or(-1, |(_, v)| *v);
            if self
                .write_preference(user_id, &next, Some(expected))
                .await?
            {
                return Ok(next);
            }
        }
        Err(StoreError::Conflict(format!(
            "the preference of {user_id:?} kept changing concurrently; retry"
        )))
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        let rows = self
            .client
            .query(
                Route::Read,
                // count(id): see `search_sql` on index-only scans of the HNSW index.
                "SELECT (SELECT count(id) FROM content_vectors)::text, \
                   (SELECT count(*) FROM user_preference_vectors)::text, \
                   (SELECT count(*) FROM vector_search_logs)::text",
                &[],
            )
            .await?;
        Ok(Stats {
            backend: "postgres",
            dialect: Some(self.dialect),
            dimensions: self.dims,
            content_count: count(&rows, 0),
            user_count: count(&rows, 1),
            search_log_count: count(&rows, 2),
            local_index: None,
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.client
            .query(Route::Read, "SELECT 1::text", &[])
            .await?;
        Ok(())
    }

    async fn erase_user(&self, user_id: &str) -> Result<Erased, StoreError> {
        // One statement, so one transaction: both or neither.
        let rows = self
            .client
            .query(
                Route::Write,
                "WITH p AS (DELETE FROM user_preference_vectors WHERE user_id = $1::text \
                            RETURNING 1), \
                      l AS (DELETE FROM vector_search_logs WHERE user_id = $1::text RETURNING 1) \
                 SELECT (SELECT count(*) FROM p)::text, (SELECT count(*) FROM l)::text",
                &[Some(user_id.to_owned())],
            )
            .await?;
        Ok(Erased {
            preferences: count(&rows, 0),
            search_logs: count(&rows, 1),
        })
    }

    async fn prune_search_logs(&self, max_age_days: f64) -> Result<u64, StoreError> {
        // Small batches by primary key: each DELETE is short and locks only its own rows.
        let mut total = 0;
        loop {
            let rows = self
                .client
                .query(
                    Route::Write,
                    "WITH old AS (SELECT id FROM vector_search_logs \
                                  WHERE \"timestamp\" < now() - make_interval(secs => $1::text::float8) \
                                  ORDER BY id LIMIT $2::text::int), \
                          gone AS (DELETE FROM vector_search_logs l USING old \
                                   WHERE l.id = old.id RETURNING 1) \
                     SELECT count(*)::text FROM gone",
                    &[
                        Some((max_age_days * 86_400.0).to_string()),
                        Some(PRUNE_BATCH.to_string()),
                    ],
                )
                .await?;
            let n = count(&rows, 0);
            total += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers the sentinel guard with `filled`, any search with "nothing matched, enough", and
    /// records every statement it is sent.
    struct Fake {
        filled: bool,
        sent: Mutex<Vec<String>>,
    }

    impl Fake {
        fn new(filled: bool) -> Fake {
            Fake {
                filled,
                sent: Mutex::new(Vec::new()),
            }
        }
    }

    impl SqlClient for Fake {
        async fn query(&self, _: Route, sql: &str, _: &[Param]) -> Result<Vec<Row>, DbError> {
            self.sent.lock().unwrap().push(sql.to_owned());
            if sql == sentinel::GUARD {
                return Ok(vec![vec![Some(self.filled.to_string())]]);
            }
            if sql.starts_with("WITH cand") {
                let mut row = vec![None; 5];
                row.extend([Some("true".into()), Some("0".into())]);
                return Ok(vec![row]);
            }
            Ok(Vec::new())
        }

        async fn batch(&self, _: &str) -> Result<(), DbError> {
            Ok(())
        }
    }

    fn query() -> SearchQuery {
        SearchQuery {
            vector: vec![0.6, 0.8],
            k: 3,
            threshold: None,
            filter: None,
            exclude_id: None,
            include_metadata: false,
            include_vector: false,
            log: None,
            breadth: SearchBreadth::Backend,
            deadline: None,
        }
    }

    fn item() -> ContentItem {
        ContentItem {
            id: "a".into(),
            content_id: None,
            media_type: MediaType::Movie,
            metadata: serde_json::json!({}),
            vector: vec![0.6, 0.8],
            text: None,
        }
    }

    fn sent(store: &PostgresStore<Fake>) -> Vec<String> {
        std::mem::take(&mut *store.client().sent.lock().unwrap())
    }

    #[tokio::test]
    async fn a_suspect_ruvector_index_is_never_sent_a_statement() {
        let store = PostgresStore::new(Fake::new(false), Dialect::Ruvector, 2, false);
        let outcome = store.search(&query()).await.unwrap();
        assert_eq!(outcome.path, SearchPath::ExactFallback);
        let statements = sent(&store);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(statements[0], sentinel::GUARD);
        assert!(statements[1].contains("OFFSET 0"), "the exact statement");
        assert!(
            !statements[1].contains("ORDER BY c.vector <=>"),
            "no index walk"
        );

        match store.upsert(&[item()]).await {
            Err(StoreError::Unavailable(m)) => assert_eq!(m, INDEX_REBUILDING),
            other => panic!("expected a 503, got {other:?}"),
        }
        assert_eq!(sent(&store), [sentinel::GUARD], "the INSERT was not sent");
        let health = store.index_health();
        assert!(health.suspect());
        let metrics = crate::metrics::Metrics::default();
        metrics.attach_index(health);
        let text = metrics.render();
        assert!(
            text.contains("\nvecgate_index_suspect_searches_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("\nvecgate_index_suspect_writes_refused_total 1\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_good_ruvector_index_is_searched_and_written_after_the_guard() {
        let store = PostgresStore::new(Fake::new(true), Dialect::Ruvector, 2, false);
        assert_eq!(
            store.search(&query()).await.unwrap().path,
            SearchPath::Index
        );
        let statements = sent(&store);
        assert_eq!(statements[0], sentinel::GUARD);
        assert!(
            statements[1].contains("ORDER BY c.vector <=>"),
            "the index walk"
        );
        assert_eq!(store.upsert(&[item()]).await.unwrap(), 0);
        let statements = sent(&store);
        assert_eq!(statements[0], sentinel::GUARD);
        assert!(statements[1].starts_with("INSERT INTO content_vectors"));
        assert!(!store.index_health().suspect());
    }

    #[tokio::test]
    async fn pgvector_is_never_guarded() {
        let store = PostgresStore::new(Fake::new(false), Dialect::Pgvector, 2, false);
        assert_eq!(
            store.search(&query()).await.unwrap().path,
            SearchPath::Index
        );
        store.upsert(&[item()]).await.unwrap();
        assert!(!sent(&store).iter().any(|s| s == sentinel::GUARD));
    }

    /// The breadth goes with the search, in its own transaction; without one (target_recall
    /// 0) the statement is sent alone, as it always was.
    #[tokio::test]
    async fn a_breadth_is_set_for_its_search_only() {
        let store = PostgresStore::new(Fake::new(true), Dialect::Pgvector, 2, false);
        store.search(&query()).await.unwrap();
        let alone = sent(&store);
        assert_eq!(alone.len(), 1, "{alone:#?}");
        assert!(alone[0].starts_with("WITH cand"));

        let at_300 = SearchQuery {
            breadth: SearchBreadth::Ef(300),
            ..query()
        };
        store.search(&at_300).await.unwrap();
        let statements = sent(&store);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert_eq!(statements[0], "BEGIN");
        assert!(statements[1].contains("set_config('hnsw.ef_search'"));
        assert_eq!(statements[2], alone[0], "the same search statement");
        assert_eq!(statements[3], "COMMIT");

        let exact = SearchQuery {
            breadth: SearchBreadth::Exact,
            ..query()
        };
        assert_eq!(store.search(&exact).await.unwrap().path, SearchPath::Exact);
        let statements = sent(&store);
        assert_eq!(statements.len(), 1, "{statements:#?}");
        assert!(statements[0].contains("OFFSET 0"), "the exact statement");

        // The Spin component: the class's learned breadth, read in the settings statement.
        let learned =
            PostgresStore::new(Fake::new(true), Dialect::Ruvector, 2, false).with_learned_breadth();
        learned.search(&query()).await.unwrap();
        let statements = sent(&learned);
        assert_eq!(statements[0], sentinel::GUARD);
        assert_eq!(statements[1], "BEGIN");
        assert!(statements[2].contains("FROM vecgate_search_breadth"));
        assert!(statements[2].contains("ruvector.hnsw_ef_search"));
    }
}
