//! Pins the ruvector-postgres behaviour that `edge/src/sql/RUVECTOR.md` records and the search
//! SQL relies on. If an upgrade changes one of these facts, this fails: update RUVECTOR.md and
//! revisit the search SQL.

use std::time::Duration;

use vecgate_edge::native::pg::PgClient;
use vecgate_edge::sql::{vector_literal, Param, Route, SqlClient};
use vecgate_tests::{assert_ruvector_installed, connect, PgCluster};

const ROWS: usize = 600;
const DIMS: usize = 8;

/// Deterministic pseudo-random vectors (SplitMix64), components in [-0.5, 0.5).
fn vectors(seed: u64, n: usize) -> Vec<Vec<f32>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..n)
        .map(|_| (0..DIMS).map(|_| next()).collect())
        .collect()
}

struct Fixture {
    cluster: PgCluster,
    client: PgClient,
    items: Vec<Vec<f32>>,
}

/// `items(id int, cat int, v ruvector(8))` with an HNSW cosine index; `cat = id % 100`.
async fn fixture() -> Fixture {
    assert_ruvector_installed();
    let cluster = PgCluster::start();
    let client = PgClient::new(&cluster.url(), &[]).unwrap();
    client
        .batch(&format!(
            "CREATE EXTENSION ruvector; CREATE TABLE items (id int PRIMARY KEY, cat int NOT NULL, v ruvector({DIMS}) NOT NULL)"
        ))
        .await
        .unwrap();
    let items = vectors(42, ROWS);
    let literals: Vec<String> = items.iter().map(|v| vector_literal(v)).collect();
    client
        .query(
            Route::Write,
            "INSERT INTO items SELECT (n - 1)::int, ((n - 1) % 100)::int, v::ruvector \
             FROM jsonb_array_elements_text($1::text::jsonb) WITH ORDINALITY AS a(v, n)",
            &[Some(serde_json::to_string(&literals).unwrap())],
        )
        .await
        .unwrap();
    client
        .batch("CREATE INDEX items_hnsw ON items USING hnsw (v ruvector_cosine_ops); ANALYZE items")
        .await
        .unwrap();
    Fixture {
        cluster,
        client,
        items,
    }
}

/// `(id, distance)` rows of `sql`, whose `$1` is the query vector as text.
async fn run(client: &PgClient, sql: &str, query: &[f32]) -> Vec<(usize, f64)> {
    let params: Vec<Param> = vec![Some(vector_literal(query))];
    let rows = client
        .query(Route::Read, sql, &params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            let field = |i: usize| r[i].as_deref().expect("not null");
            (field(0).parse().unwrap(), field(1).parse().unwrap())
        })
        .collect()
}

fn ids(rows: &[(usize, f64)]) -> Vec<usize> {
    rows.iter().map(|(id, _)| *id).collect()
}

/// Cosine distance in f64.
fn exact_distance(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    1.0 - ab / (aa.sqrt() * bb.sqrt())
}

/// The true nearest `k` ids among those `keep` accepts, sorted.
fn exact_top(
    items: &[Vec<f32>],
    query: &[f32],
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut by_distance: Vec<(usize, f64)> = (0..items.len())
        .filter(|&id| keep(id))
        .map(|id| (id, exact_distance(query, &items[id])))
        .collect();
    by_distance.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut top: Vec<usize> = by_distance.into_iter().take(k).map(|(id, _)| id).collect();
    top.sort_unstable();
    top
}

fn sorted_ids(rows: &[(usize, f64)]) -> Vec<usize> {
    let mut ids = ids(rows);
    ids.sort_unstable();
    ids
}

const THROUGH_INDEX: &str = "SELECT id::text, (v <=> $1::text::ruvector)::text FROM items \
                             ORDER BY v <=> $1::text::ruvector LIMIT 10";
const FENCED: &str = "SELECT id::text, d::text FROM \
                      (SELECT id, v <=> $1::text::ruvector AS d FROM items WHERE cat < 3 OFFSET 0) s \
                      ORDER BY d LIMIT 10";

#[tokio::test]
async fn parameterized_index_scans_return_sorted_rows_close_to_exact() {
    let f = fixture().await;
    for query in vectors(7, 10) {
        let rows = run(&f.client, THROUGH_INDEX, &query).await;
        assert_eq!(rows.len(), 10);
        assert!(
            rows.windows(2).all(|w| w[0].1 <= w[1].1),
            "sorted by distance: {rows:?}"
        );
        for (id, distance) in &rows {
            let exact = exact_distance(&query, &f.items[*id]);
            assert!(
                (distance - exact).abs() < 1e-6,
                "<=> {distance} vs exact {exact}"
            );
        }
        let truth = exact_top(&f.items, &query, 10, |_| true);
        let found = ids(&rows).iter().filter(|id| truth.contains(id)).count();
        assert!(found >= 8, "recall@10 {found}/10");
    }
}

#[tokio::test]
async fn an_index_scan_yields_at_most_ef_rows_and_filters_after_the_scan() {
    let f = fixture().await;
    let query = &vectors(9, 1)[0];
    let limited = |limit: usize| {
        format!(
            "SELECT id::text, (v <=> $1::text::ruvector)::text FROM items ORDER BY v <=> $1::text::ruvector LIMIT {limit}"
        )
    };
    // LIMIT above the effective ef (max(setting, 100)) is cut to it.
    assert_eq!(run(&f.client, &limited(200), query).await.len(), 100);
    // The session setting raises it (the pool's connections are not this session: connect).
    let session = connect(&f.cluster.url()).await;
    session
        .batch_execute("SET ruvector.hnsw_ef_search = 300")
        .await
        .unwrap();
    let rows = session
        .query(
            "SELECT count(*) FROM (SELECT id FROM items ORDER BY v <=> $1::text::ruvector LIMIT 500) s",
            &[&vector_literal(query)],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 300);

    // A WHERE clause filters the ef candidates: a 3 % filter finds fewer than 10 through the
    // index, while the fenced exact query finds the true 10.
    let filtered = "SELECT id::text, (v <=> $1::text::ruvector)::text FROM items WHERE cat < 3 \
                    ORDER BY v <=> $1::text::ruvector LIMIT 10";
    let mut short = 0;
    for query in vectors(11, 10) {
        let through_index = run(&f.client, filtered, &query).await;
        let fenced = run(&f.client, FENCED, &query).await;
        assert_eq!(
            sorted_ids(&fenced),
            exact_top(&f.items, &query, 10, |id| id % 100 < 3)
        );
        if through_index.len() < 10 {
            short += 1;
        }
    }
    assert!(
        short >= 5,
        "only {short} of 10 filtered index scans came up short"
    );
}

#[tokio::test]
async fn with_index_scans_off_the_planner_picks_a_bitmap_scan_that_returns_nothing() {
    let f = fixture().await;
    let session = connect(&f.cluster.url()).await;
    session
        .batch_execute("SET enable_indexscan = off")
        .await
        .unwrap();
    let q = vector_literal(&vectors(5, 1)[0]);
    let rows = session
        .query(
            "SELECT id FROM items ORDER BY v <=> $1::text::ruvector LIMIT 10",
            &[&q],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 0);
    session
        .batch_execute("SET enable_bitmapscan = off")
        .await
        .unwrap();
    let rows = session
        .query(
            "SELECT id FROM items ORDER BY v <=> $1::text::ruvector LIMIT 10",
            &[&q],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
}

#[tokio::test]
async fn dead_rows_take_candidate_slots_even_after_vacuum() {
    let f = fixture().await;
    let query = &vectors(13, 1)[0];
    let nearest = exact_top(&f.items, query, 50, |_| true);
    let list = nearest
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    f.client
        .batch(&format!("DELETE FROM items WHERE id IN ({list})"))
        .await
        .unwrap();
    f.client.batch("VACUUM items").await.unwrap();
    let sql = "SELECT id::text, (v <=> $1::text::ruvector)::text FROM items ORDER BY v <=> $1::text::ruvector LIMIT 100";
    let rows = run(&f.client, sql, query).await;
    assert!(
        rows.len() < 100,
        "{} rows although {} match",
        rows.len(),
        ROWS - 50
    );
    // The fence is unaffected.
    let fenced = "SELECT id::text, d::text FROM (SELECT id, v <=> $1::text::ruvector AS d FROM items OFFSET 0) s \
                  ORDER BY d LIMIT 100";
    assert_eq!(run(&f.client, fenced, query).await.len(), 100);
}

#[tokio::test]
async fn the_dimension_in_the_type_is_not_enforced() {
    let f = fixture().await;
    f.client
        .batch(
            "CREATE TABLE loose (v ruvector(3)); INSERT INTO loose VALUES ('[1,2]'), ('[1,2,3,4]')",
        )
        .await
        .expect("ruvector(3) accepts other dimensions");
}

#[tokio::test]
async fn a_query_reading_no_column_counts_nothing() {
    let f = fixture().await;
    let count = |sql: &'static str| {
        let client = &f.client;
        async move {
            let rows = client.query(Route::Read, sql, &[]).await.unwrap();
            rows[0][0].clone().unwrap()
        }
    };
    // Planned as an index-only scan of the HNSW index, which yields no rows.
    assert_eq!(count("SELECT count(*)::text FROM items").await, "0");
    assert_eq!(
        count("SELECT count(id)::text FROM items").await,
        ROWS.to_string()
    );
}

/// Waits up to `wait` for `task`; None when it has not finished by then.
async fn within<T>(wait: Duration, task: &mut tokio::task::JoinHandle<T>) -> Option<T> {
    tokio::time::timeout(wait, task)
        .await
        .ok()
        .map(|joined| joined.expect("task panicked"))
}

/// `(state, wait event)` of backend `pid` in `pg_stat_activity`, None when it is gone.
async fn backend(observer: &tokio_postgres::Client, pid: i32) -> Option<(String, String)> {
    observer
        .query_opt(
            "SELECT coalesce(state, ''), coalesce(wait_event_type || '/' || wait_event, '') \
             FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

/// The crash, pinned (RUVECTOR.md, "After a crash"): the HNSW index is not WAL-logged,
/// so after crash recovery its file is whatever reached the disk. An INSERT hangs on a buffer
/// lock it holds itself, ignoring statement_timeout, cancel and terminate, and every indexed
/// search then hangs behind it (an indexed search before any write may fail or answer: it
/// depends on which pages reached the disk, so it is not pinned). The fenced exact scan still answers. Only ending the stuck backends (a second
/// crash) and `REINDEX` as the first statement repair it. If an upgrade fixes this, this test
/// fails: update RUVECTOR.md and reconsider `sql::sentinel`.
#[tokio::test]
async fn after_a_crash_inserts_and_indexed_searches_hang_until_rebuilt() {
    let mut f = fixture().await;
    f.cluster.enable_synchronous_commit();
    // Writes after the build, as in the issue (a stream of upserts), then the crash.
    for batch in 0..5 {
        let rows = vectors(100 + batch, 20);
        let literals: Vec<String> = rows.iter().map(|v| vector_literal(v)).collect();
        // Ids go on from ROWS, so `f.items[id]` stays the vector of `id`.
        f.client
            .query(
                Route::Write,
                "INSERT INTO items SELECT $2::text::int + n::int - 1, 0, v::ruvector \
                 FROM jsonb_array_elements_text($1::text::jsonb) WITH ORDINALITY AS a(v, n)",
                &[
                    Some(serde_json::to_string(&literals).unwrap()),
                    Some(f.items.len().to_string()),
                ],
            )
            .await
            .unwrap();
        f.items.extend(rows);
    }
    f.cluster.crash();
    f.cluster.start_again();
    let url = f.cluster.url();
    let query = vectors(17, 1)[0].clone();
    let q = vector_literal(&query);
    let client = PgClient::new(&url, &[]).unwrap();
    let exact = "SELECT id::text, d::text FROM \
                 (SELECT id, v <=> $1::text::ruvector AS d FROM items OFFSET 0) s \
                 ORDER BY d LIMIT 10";
    assert_eq!(
        sorted_ids(&run(&client, exact, &query).await),
        exact_top(&f.items, &query, 10, |_| true),
        "the fenced exact scan answers after the crash"
    );
    let counted = client
        .query(Route::Read, "SELECT count(id)::text FROM items", &[])
        .await
        .unwrap();
    assert_eq!(counted[0][0].as_deref(), Some("700"), "no row was lost");

    let observer = connect(&url).await;
    let inserter = connect(&url).await;
    inserter
        .batch_execute("SET statement_timeout = '1s'")
        .await
        .unwrap();
    let insert_pid: i32 = inserter
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let row = q.clone();
    let mut insert = tokio::spawn(async move {
        inserter
            .execute(
                "INSERT INTO items VALUES (1000, 0, $1::text::ruvector)",
                &[&row],
            )
            .await
            .map_err(|e| e.to_string())
    });
    assert_eq!(
        within(Duration::from_secs(5), &mut insert).await,
        None,
        "the INSERT returned despite statement_timeout = 1s"
    );
    let (state, waiting) = backend(&observer, insert_pid).await.expect("the inserter");
    assert_eq!(state, "active");
    assert_eq!(
        waiting, "LWLock/BufferContent",
        "a buffer lock it holds itself"
    );
    observer
        .batch_execute(&format!(
            "SELECT pg_cancel_backend({insert_pid}); SELECT pg_terminate_backend({insert_pid})"
        ))
        .await
        .unwrap();
    assert_eq!(
        within(Duration::from_secs(3), &mut insert).await,
        None,
        "cancel and terminate ended the INSERT"
    );
    assert_eq!(
        backend(&observer, insert_pid)
            .await
            .map(|(s, _)| s)
            .as_deref(),
        Some("active"),
        "the stuck backend survives pg_terminate_backend"
    );

    let searcher = connect(&url).await;
    searcher
        .batch_execute("SET statement_timeout = '1s'")
        .await
        .unwrap();
    let mut search = tokio::spawn(async move {
        searcher
            .query(
                "SELECT id FROM items ORDER BY v <=> $1::text::ruvector LIMIT 10",
                &[&q],
            )
            .await
            .map(|rows| rows.len())
            .map_err(|e| e.to_string())
    });
    assert_eq!(
        within(Duration::from_secs(3), &mut search).await,
        None,
        "an indexed search behind the stuck INSERT returned"
    );

    // A second crash ends the stuck backends; REINDEX, before anything touches the index, fixes it.
    f.cluster.crash();
    f.cluster.start_again();
    insert.abort();
    search.abort();
    let client = PgClient::new(&url, &[]).unwrap();
    client.batch("REINDEX INDEX items_hnsw").await.unwrap();
    let rows = run(&client, THROUGH_INDEX, &query).await;
    let truth = exact_top(&f.items, &query, 10, |_| true);
    let found = ids(&rows).iter().filter(|id| truth.contains(id)).count();
    assert!(found >= 8, "recall@10 {found}/10 after REINDEX");
    let fresh = connect(&url).await;
    let mut insert = tokio::spawn(async move {
        fresh
            .execute(
                "INSERT INTO items VALUES (1000, 0, $1::text::ruvector)",
                &[&vector_literal(&query)],
            )
            .await
            .map_err(|e| e.to_string())
    });
    assert_eq!(
        within(Duration::from_secs(10), &mut insert).await,
        Some(Ok(1)),
        "an INSERT after REINDEX"
    );
}

/// Why vecgate's rebuild builds a second index and swaps it in (sql/sentinel.rs): ruvector
/// refuses `REINDEX … CONCURRENTLY` and leaves an invalid `_ccnew` index behind, and a plain
/// `REINDEX` locks out even the fenced exact scan (planning locks every index of the table),
/// while `CREATE INDEX` of another index does not.
#[tokio::test]
async fn reindex_concurrently_is_refused_and_plain_reindex_blocks_fenced_reads() {
    let f = fixture().await;
    let error = f
        .client
        .batch("REINDEX INDEX CONCURRENTLY items_hnsw")
        .await
        .expect_err("REINDEX CONCURRENTLY");
    assert!(
        error
            .to_string()
            .contains("CREATE INDEX CONCURRENTLY is not supported"),
        "{error}"
    );
    let indexes = f
        .client
        .query(
            Route::Write,
            "SELECT string_agg(indexrelid::regclass::text || ':' || indisvalid, ',' \
             ORDER BY indexrelid::regclass::text) \
             FROM pg_index WHERE indrelid = 'items'::regclass",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        indexes[0][0].as_deref(),
        Some("items_hnsw:true,items_hnsw_ccnew:false,items_pkey:true"),
        "an invalid leftover"
    );
    f.client.batch("DROP INDEX items_hnsw_ccnew").await.unwrap();

    let query = vectors(19, 1)[0].clone();
    let exact = "SELECT id::text, d::text FROM \
                 (SELECT id, v <=> $1::text::ruvector AS d FROM items OFFSET 0) s \
                 ORDER BY d LIMIT 10";
    let reader = connect(&f.cluster.url()).await;
    reader
        .batch_execute("SET lock_timeout = '500ms'")
        .await
        .unwrap();
    let read = || {
        let reader = &reader;
        let q = vector_literal(&query);
        async move { reader.query(exact, &[&q]).await.map(|rows| rows.len()) }
    };
    // Each statement's locks are held until its transaction ends.
    let builder = connect(&f.cluster.url()).await;
    builder
        .batch_execute("BEGIN; REINDEX INDEX items_hnsw")
        .await
        .unwrap();
    let blocked = read().await.expect_err("a fenced read during REINDEX");
    assert_eq!(
        blocked.code(),
        Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE),
        "{blocked}"
    );
    builder.batch_execute("ROLLBACK").await.unwrap();
    builder
        .batch_execute(
            "BEGIN; CREATE INDEX items_hnsw_rebuild ON items USING hnsw (v ruvector_cosine_ops)",
        )
        .await
        .unwrap();
    assert_eq!(
        read().await.unwrap(),
        10,
        "a fenced read during CREATE INDEX"
    );
    builder.batch_execute("ROLLBACK").await.unwrap();
}
