//! Crash detection for ruvector's HNSW index, which is not WAL-logged: after a crash restart
//! of the server it is garbage (an indexed `INSERT` hangs for good, an indexed search fails or
//! hangs, or silently misses every row written since the last checkpoint; `sql/RUVECTOR.md`,
//! "After a crash").
//!
//! Migration 0006 creates `vecgate_index_sentinel`, an UNLOGGED table with one row. Crash
//! recovery empties unlogged tables; a clean restart keeps them. So an empty sentinel means the
//! server crashed since the index was last built, and only a rebuild fills it again. (A
//! promoted standby or a restored base backup also starts with it empty, and their copy of
//! the index is not to be trusted either.)
//!
//! Every statement that can reach the index (the index search, upserts into `content_vectors`)
//! goes through [`crate::sql::SqlClient::query_guarded`] with [`GUARD`]: it runs only on a
//! connection that saw the sentinel filled. A crash ends every connection, so a connection
//! that passed once stays good for its life, and any connection opened after a crash checks
//! again before its first index statement. pgvector's index is WAL-logged: its dialect never
//! guards or rebuilds.

/// The guard: `'true'` when the sentinel has its row. `count(id)`, not `EXISTS (SELECT 1 …)`:
/// a query reading no column is the kind ruvector mis-plans (RUVECTOR.md), although this table
/// has no HNSW index.
pub const GUARD: &str = "SELECT (count(id) > 0)::text FROM vecgate_index_sentinel";

/// The session advisory lock a node holds while it rebuilds, so that one node rebuilds
/// however many run ("vecgate-ix").
pub const REBUILD_LOCK_KEY: i64 = 0x7665_6367_6174_6978;

/// The index vecgate rebuilds, and the name its replacement is built under.
pub const INDEX: &str = "content_vectors_vector_hnsw";
pub const REBUILD_INDEX: &str = "content_vectors_vector_hnsw_rebuild";

/// A replacement left by an interrupted rebuild; it may predate another crash, so it is
/// never reused.
pub const DROP_LEFTOVER: &str = "DROP INDEX IF EXISTS content_vectors_vector_hnsw_rebuild";

/// The rebuild: a new index beside the old one rather than `REINDEX`. `REINDEX` holds an
/// ACCESS EXCLUSIVE lock on the index for the whole build, and every query on the table,
/// even the fenced exact scan, takes a lock on each of its indexes while planning, so reads
/// would wait minutes. `CREATE INDEX` takes a SHARE lock on the table: reads go on, writes
/// wait (vecgate refuses them anyway). `REINDEX … CONCURRENTLY` is refused by ruvector 2.0.6.
pub const BUILD: &str = "CREATE INDEX content_vectors_vector_hnsw_rebuild ON content_vectors \
                         USING hnsw (vector ruvector_cosine_ops)";

/// Swaps the new index in and marks it good, in one transaction: the DROP waits only for
/// statements in flight (milliseconds under the rebuild's `lock_timeout`).
pub const SWAP: &str = "BEGIN; \
     DROP INDEX IF EXISTS content_vectors_vector_hnsw; \
     ALTER INDEX content_vectors_vector_hnsw_rebuild RENAME TO content_vectors_vector_hnsw; \
     INSERT INTO vecgate_index_sentinel (id) VALUES (1) ON CONFLICT DO NOTHING; \
     COMMIT";

/// The backends holding a lock on `content_vectors` other than the caller: what a rebuild
/// that timed out on its lock waited for. A backend stuck in the broken index ignores cancel
/// and terminate; only `kill -9` of it (a crash restart) or an immediate shutdown ends it.
pub const LOCK_HOLDERS: &str = "SELECT DISTINCT a.pid::text, coalesce(a.state, ''), \
       coalesce(a.wait_event_type || '/' || a.wait_event, ''), \
       coalesce(extract(epoch FROM now() - a.query_start)::int::text, ''), \
       left(coalesce(a.query, ''), 80) \
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
     WHERE l.relation = 'content_vectors'::regclass AND l.pid <> pg_backend_pid()";
