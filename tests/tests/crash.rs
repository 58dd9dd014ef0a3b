//! PostgreSQL crashes (SIGKILL to the postmaster and every backend) in the middle of a stream of
//! upserts and searches through `vecgate serve`, then restarts with crash recovery.
//!
//! ruvector's HNSW index is not WAL-logged, so after recovery it is broken: an INSERT into it
//! hangs for good and searches behind it too (`tests/tests/ruvector.rs` pins that). vecgate
//! must notice the crash (the UNLOGGED sentinel is empty), never send a statement that can reach
//! the index until it is rebuilt, answer searches exactly meanwhile, refuse writes with a fast
//! 503, and have one node rebuild it however many run. pgvector's index is WAL-logged: the same
//! crash needs no rebuild.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_core::filter::Filter;
use vecgate_edge::native::pg::PgClient;
use vecgate_edge::sql::{sentinel, Dialect, Route, SqlClient};
use vecgate_edge::store::postgres::{PostgresStore, INDEX_REBUILDING};
use vecgate_edge::store::{SearchBreadth, SearchQuery};
use vecgate_tests::server::Server;
use vecgate_tests::suite::{
    assert_no_secrets, key_env, with_db_password, Api, READ_KEY, WRITE_KEY,
};
use vecgate_tests::timed::{self, timed, Outcome, Round, Stream};
use vecgate_tests::{assert_ruvector_installed, connect, PgCluster};

/// The configured per-request timeout of every server here.
const TIMEOUT_MS: u64 = 2_000;
/// What a response may take beyond the timeout: scheduling, the error reply, a loaded machine.
const SLACK: Duration = Duration::from_millis(1_500);
const BATCH: usize = 20;
const DIMS: usize = 16;
/// Batches written before the stream starts.
const PRELOAD: usize = 40;
const K: usize = 10;
/// How long any awaited state change may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(90);

/// Deterministic pseudo-random vectors (SplitMix64), components in [-0.5, 0.5): no ties.
fn vector(seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..DIMS)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn batch_body(batch: usize) -> Value {
    let items: Vec<Value> = (0..BATCH)
        .map(|i| {
            let n = batch * BATCH + i;
            json!({"id": format!("b{batch:04}-{i:02}"), "media_type": "movie",
                   "vector": vector(n as u64), "metadata": {"batch": batch, "group": n % 4}})
        })
        .collect();
    json!({ "items": items })
}

/// The search of stream round `round`.
fn search_body(round: usize) -> Value {
    json!({"vector": vector(1_000_000 + round as u64), "k": K})
}

fn start_node(url: &str, dialect: &str, rebuild: &str) -> Server {
    let mut env = key_env();
    env.extend([
        ("VECGATE_REQUEST_TIMEOUT_MS", TIMEOUT_MS.to_string()),
        ("VECGATE_LOCAL_MODEL", "off".into()),
        ("VECGATE_RECALL_SAMPLE_RATE", "0".into()),
        ("VECGATE_DATABASE_URL", with_db_password(url)),
        ("VECGATE_MIGRATE", "true".into()),
        ("VECGATE_DIALECT", dialect.into()),
        ("VECGATE_DIMENSIONS", DIMS.to_string()),
        ("VECGATE_INDEX_REBUILD", rebuild.into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&[], &env)
}

fn stream_bodies(batch: usize) -> (Value, Value) {
    (batch_body(batch), search_body(batch))
}

fn ok(o: &Outcome) -> bool {
    o.status == 200
}

/// Every request answered within its timeout, with 200 or a 503 carrying a JSON error.
fn assert_fast_200_or_503(o: &Outcome) {
    timed::assert_fast_200_or_503(o, Duration::from_millis(TIMEOUT_MS) + SLACK);
}

fn refused_for_the_rebuild(o: &Outcome) -> bool {
    o.status == 503 && o.body["error"]["message"].as_str() == Some(INDEX_REBUILDING)
}

/// The table as it is: id → (group, vector), read with a sequential scan.
fn snapshot(pg: &PgCluster) -> HashMap<String, (u64, Vec<f32>)> {
    pg.psql(
        "vecgate",
        "SELECT id, metadata->>'group', vector::text FROM content_vectors",
    )
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(|line| {
        let mut fields = line.splitn(3, '|');
        let (id, group, v) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        let v = vecgate_edge::sql::parse_vector_literal(v).expect("a vector");
        (id.to_owned(), (group.parse().unwrap(), v))
    })
    .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

/// The true top `K` ids, best first, among rows of `group` (all when None).
fn exact(
    rows: &HashMap<String, (u64, Vec<f32>)>,
    query: &[f32],
    group: Option<u64>,
) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = rows
        .iter()
        .filter(|(_, (g, _))| group.is_none_or(|want| *g == want))
        .map(|(id, (_, v))| (cosine(query, v), id))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(K)
        .map(|(_, id)| id.clone())
        .collect()
}

fn result_ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// No backend of the vecgate database is running a statement: none is stuck in the index
/// (nor waiting on anything). Called while no request is in flight.
fn assert_no_stuck_backend(pg: &PgCluster) {
    let active = pg.psql(
        "vecgate",
        "SELECT pid || ' ' || coalesce(wait_event_type || '/' || wait_event, '-') || ' ' || \
           (now() - query_start)::text || ' ' || left(query, 80) \
         FROM pg_stat_activity WHERE datname = 'vecgate' AND backend_type = 'client backend' \
           AND pid <> pg_backend_pid() AND state <> 'idle'",
    );
    assert!(
        active.trim().is_empty(),
        "backends still running a statement:\n{active}"
    );
}

/// Writes `PRELOAD` batches through the API.
fn preload(api: &Api) {
    for batch in 0..PRELOAD {
        let (status, v) = api.call(
            "POST",
            "/v1/content",
            Some(WRITE_KEY),
            Some(&batch_body(batch)),
        );
        assert_eq!(status, 200, "preload batch {batch}: {v}");
    }
}

/// Crashes `pg` under the stream, waits for fast failures, restarts it, and returns how many
/// rounds were recorded by then and when it restarted.
fn crash_under_stream(pg: &mut PgCluster, stream: &Stream) -> (usize, Instant) {
    stream.wait_for("five batches written by the stream", 0, |r| {
        r.iter().filter(|(_, u, _)| ok(u)).count() >= 5
    });
    pg.crash();
    let crashed_at = stream.len();
    stream.wait_for("failures while the database is down", crashed_at, |r| {
        r.iter().filter(|(_, u, s)| !ok(u) && !ok(s)).count() >= 3
    });
    pg.start_again();
    (stream.len(), Instant::now())
}

/// Every batch is all there or not at all; every acknowledged one is all there.
fn assert_batches(rows: &HashMap<String, (u64, Vec<f32>)>, rounds: &[Round]) {
    let mut per_batch: HashMap<usize, usize> = HashMap::new();
    for id in rows.keys() {
        let batch = id[1..5].parse().unwrap();
        *per_batch.entry(batch).or_default() += 1;
    }
    for batch in 0..PRELOAD {
        assert_eq!(
            per_batch.get(&batch),
            Some(&BATCH),
            "preloaded batch {batch}"
        );
    }
    for (batch, upsert, _) in rounds {
        let n = per_batch.get(batch).copied().unwrap_or(0);
        assert!(
            n == 0 || n == BATCH,
            "batch {batch} is half-written: {n} rows"
        );
        if ok(upsert) {
            assert_eq!(n, BATCH, "acknowledged batch {batch} is missing rows");
        }
    }
}

/// The statements vecgate sends while the index is suspect never plan the HNSW index (which
/// would take it there); the index search does (so this check can fail).
fn assert_suspect_statements_avoid_the_index(url: &str, query: &[f32]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = PostgresStore::new(
        PgClient::new(url, &[]).unwrap(),
        Dialect::Ruvector,
        DIMS,
        false,
    );
    let search = |filter: Option<Value>, threshold: Option<f32>| SearchQuery {
        vector: query.to_vec(),
        k: K,
        threshold,
        filter: filter.map(|f| Filter::parse(&f).unwrap()),
        exclude_id: Some("b0001-01".into()),
        include_metadata: true,
        include_vector: false,
        log: Some(Default::default()),
        breadth: SearchBreadth::Backend,
        deadline: None,
    };
    let plan = |sql: &str, params: &[Option<String>]| -> String {
        let rows = rt
            .block_on(
                store
                    .client()
                    .query(Route::Write, &format!("EXPLAIN {sql}"), params),
            )
            .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"));
        rows.iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (sql, params) = store.search_statement(&search(None, None), false);
    assert!(
        plan(&sql, &params).contains(sentinel::INDEX),
        "the index search uses the index"
    );
    let filters = [
        (None, None),
        (Some(json!({"group": 1})), None),
        (
            Some(json!({"batch": {"$gte": 3}, "$or": [{"group": 0}, {"group": 2}]})),
            Some(0.1),
        ),
    ];
    for (filter, threshold) in filters {
        let (sql, params) = store.search_statement(&search(filter.clone(), threshold), true);
        let plan = plan(&sql, &params);
        assert!(
            !plan.contains(sentinel::INDEX),
            "exact search ({filter:?}):\n{plan}"
        );
    }
    // Copies of the other statements that read content_vectors (stats, get, record_event).
    for sql in [
        "SELECT (SELECT count(id) FROM content_vectors)::text",
        "SELECT id, content_id::text, media_type, metadata::text, vector::text \
         FROM content_vectors WHERE id = 'b0001-01'",
        "DELETE FROM content_vectors WHERE id = 'none' RETURNING 1::text",
    ] {
        let plan = plan(sql, &[]);
        assert!(!plan.contains(sentinel::INDEX), "{sql}:\n{plan}");
    }
}

#[test]
fn ruvector_after_a_crash_searches_stay_exact_writes_wait_and_one_node_rebuilds() {
    assert_ruvector_installed();
    let mut pg = PgCluster::start();
    let url = pg.create_database("vecgate");
    pg.enable_synchronous_commit();
    // Node A never rebuilds, so the suspect window lasts until the test lets B or C rebuild.
    let mut a = start_node(&url, "ruvector", "off");
    let api = Api::new(&a.base);
    preload(&api);
    let stream = Stream::start(&a.base, PRELOAD, stream_bodies, PATIENCE);
    let (first_after, restarted) = crash_under_stream(&mut pg, &stream);
    stream.wait_for("a write refused for the rebuild", first_after, |r| {
        r.iter()
            .any(|(_, u, s)| refused_for_the_rebuild(u) && ok(s))
    });
    let rounds = stream.finish();

    for (_, upsert, search) in &rounds {
        assert_fast_200_or_503(upsert);
        assert_fast_200_or_503(search);
    }
    // Writes have been refused since the restart, so the table is what the crash left.
    let rows = snapshot(&pg);
    assert_batches(&rows, &rounds);
    let mut exact_answers = 0;
    // The round in flight at the restart is recorded after it but started before.
    for (batch, upsert, search) in &rounds[first_after.saturating_sub(1)..] {
        if upsert.started >= restarted {
            assert!(
                !ok(upsert),
                "{} was written before the rebuild: {}",
                upsert.what,
                upsert.body
            );
        }
        if ok(search) && search.started >= restarted {
            let want = exact(&rows, &vector(1_000_000 + *batch as u64), None);
            assert_eq!(result_ids(&search.body), want, "{}", search.what);
            exact_answers += 1;
        }
    }
    assert!(exact_answers >= 1, "no search answered after the restart");

    // More searches, filtered too, all exact; writes refused at once.
    for seed in 0..8u64 {
        let q = vector(2_000_000 + seed);
        let group = (seed % 2 == 1).then_some(seed % 4);
        let mut body = json!({"vector": q, "k": K});
        if let Some(g) = group {
            body["filter"] = json!({"group": g});
        }
        let o = timed(
            &api,
            format!("search {seed}"),
            "POST",
            "/v1/search",
            READ_KEY,
            &body,
        );
        assert_eq!(o.status, 200, "{}", o.body);
        assert_eq!(
            result_ids(&o.body),
            exact(&rows, &q, group),
            "search {seed} ({group:?})"
        );
    }
    let refused = timed(
        &api,
        "a write".into(),
        "POST",
        "/v1/content",
        WRITE_KEY,
        &batch_body(9000),
    );
    assert!(refused_for_the_rebuild(&refused), "{refused:?}");
    assert_fast_200_or_503(&refused);
    assert_eq!(Api::new(&a.base).metric("vecgate_index_suspect"), 1.0);
    assert!(Api::new(&a.base).metric("vecgate_index_suspect_searches_total") >= 9.0);
    assert!(Api::new(&a.base).metric("vecgate_index_suspect_writes_refused_total") >= 2.0);
    assert_no_stuck_backend(&pg);
    assert_suspect_statements_avoid_the_index(&url, &vector(7));

    // Two nodes that rebuild, while the test holds the rebuild lock: both wait.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let holder = rt.block_on(connect(&url));
    let lock = |sql: &str| {
        rt.block_on(holder.query(sql, &[&sentinel::REBUILD_LOCK_KEY]))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    lock("SELECT pg_advisory_lock($1)");
    let mut nodes = [
        start_node(&url, "ruvector", "auto"),
        start_node(&url, "ruvector", "auto"),
    ];
    for node in &mut nodes {
        let out = node.output_containing("another vecgate is rebuilding");
        assert!(out.contains("another vecgate is rebuilding"), "{out}");
    }
    // A node started after the crash fences too, from its first statement.
    let fresh = Api::new(&nodes[0].base);
    for (who, api) in [("A", &api), ("B", &fresh)] {
        let refused = timed(
            api,
            format!("a write through {who}"),
            "POST",
            "/v1/content",
            WRITE_KEY,
            &batch_body(9000),
        );
        assert!(refused_for_the_rebuild(&refused), "{refused:?}");
        assert_fast_200_or_503(&refused);
    }
    let q = vector(4_000_000);
    let o = timed(
        &fresh,
        "search through B".into(),
        "POST",
        "/v1/search",
        READ_KEY,
        &json!({"vector": q, "k": K}),
    );
    assert_eq!(o.status, 200, "{}", o.body);
    assert_eq!(result_ids(&o.body), exact(&rows, &q, None));
    assert_eq!(
        Api::new(&nodes[0].base).metric("vecgate_index_suspect"),
        1.0
    );
    assert_eq!(
        Api::new(&nodes[0].base).metric("vecgate_index_rebuilds_total"),
        0.0
    );
    lock("SELECT pg_advisory_unlock($1)");

    // One of them rebuilds; A (which never rebuilds) resumes writing when it is done.
    let deadline = Instant::now() + PATIENCE;
    let written = loop {
        let o = timed(
            &api,
            "a write".into(),
            "POST",
            "/v1/content",
            WRITE_KEY,
            &batch_body(9000),
        );
        assert_fast_200_or_503(&o);
        if ok(&o) {
            break o;
        }
        assert!(refused_for_the_rebuild(&o), "{o:?}");
        assert!(Instant::now() < deadline, "writes never resumed");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(written.body["upserted"], BATCH, "{}", written.body);
    let rebuilds: f64 = nodes
        .iter()
        .map(|n| Api::new(&n.base).metric("vecgate_index_rebuilds_total"))
        .sum();
    assert_eq!(rebuilds, 1.0, "exactly one node rebuilt the index");
    assert_eq!(
        Api::new(&a.base).metric("vecgate_index_rebuilds_total"),
        0.0
    );
    assert_eq!(Api::new(&a.base).metric("vecgate_index_suspect"), 0.0);
    let rebuilder = nodes
        .iter_mut()
        .find(|n| Api::new(&n.base).metric("vecgate_index_rebuilds_total") == 1.0)
        .unwrap();
    assert!(Api::new(&rebuilder.base).metric("vecgate_index_last_rebuild_seconds") > 0.0);
    let out = rebuilder.output_containing("rebuilt the vector index");
    assert!(
        out.contains("rebuilding the vector index after a database crash"),
        "{out}"
    );

    // The rebuilt index has the rows written before the crash: each finds itself first.
    let last_acked = rounds.iter().rev().find(|(_, u, _)| ok(u)).unwrap().0;
    for i in [0, 7, 19] {
        let own = vector((last_acked * BATCH + i) as u64);
        let (status, v) = api.call(
            "POST",
            "/v1/search",
            Some(READ_KEY),
            Some(&json!({"vector": own, "k": 1})),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(result_ids(&v), [format!("b{last_acked:04}-{i:02}")]);
    }
    let before = Api::new(&a.base).metric("vecgate_index_suspect_searches_total");
    let (status, v) = api.call("POST", "/v1/search", Some(READ_KEY), Some(&search_body(1)));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        Api::new(&a.base).metric("vecgate_index_suspect_searches_total"),
        before,
        "the index answered"
    );
    assert_no_stuck_backend(&pg);
    for server in [&mut a, &mut nodes[0]] {
        let out = server.output();
        assert!(!out.contains("panicked"), "{out}");
        assert_no_secrets(&out);
    }
    println!(
        "{} rounds, {exact_answers} exact answers after the restart, {} rows",
        rounds.len(),
        rows.len()
    );
}

#[test]
fn native_pgvector_needs_no_rebuild_after_a_crash() {
    let mut pg = PgCluster::start_pgvector();
    let url = pg.create_database("vecgate");
    pg.enable_synchronous_commit();
    let mut node = start_node(&url, "pgvector", "auto");
    let api = Api::new(&node.base);
    preload(&api);
    let stream = Stream::start(&node.base, PRELOAD, stream_bodies, PATIENCE);
    let (first_after, _) = crash_under_stream(&mut pg, &stream);
    stream.wait_for("writes and searches after the restart", first_after, |r| {
        r.iter().filter(|(_, u, s)| ok(u) && ok(s)).count() >= 3
    });
    let rounds = stream.finish();
    for (_, upsert, search) in &rounds {
        assert_fast_200_or_503(upsert);
        assert_fast_200_or_503(search);
        assert!(!refused_for_the_rebuild(upsert), "{upsert:?}");
    }
    let rows = snapshot(&pg);
    assert_batches(&rows, &rounds);
    // The index survived: rows written just before the crash find themselves first.
    let last_before = rounds[..first_after]
        .iter()
        .rev()
        .find(|(_, u, _)| ok(u))
        .unwrap()
        .0;
    for i in [0, 7, 19] {
        let own = vector((last_before * BATCH + i) as u64);
        let (status, v) = api.call(
            "POST",
            "/v1/search",
            Some(READ_KEY),
            Some(&json!({"vector": own, "k": 1})),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(result_ids(&v), [format!("b{last_before:04}-{i:02}")]);
    }
    // Searches answer as well as before: recall@10 against the exact top 10.
    let mut found = 0;
    for seed in 0..10u64 {
        let q = vector(3_000_000 + seed);
        let (status, v) = api.call(
            "POST",
            "/v1/search",
            Some(READ_KEY),
            Some(&json!({"vector": q, "k": K})),
        );
        assert_eq!(status, 200, "{v}");
        let want: HashSet<String> = exact(&rows, &q, None).into_iter().collect();
        found += result_ids(&v)
            .iter()
            .filter(|id| want.contains(*id))
            .count();
    }
    assert!(found >= 95, "recall@10 {found}/100 after the crash");
    assert_eq!(Api::new(&node.base).metric("vecgate_index_suspect"), 0.0);
    assert_eq!(
        Api::new(&node.base).metric("vecgate_index_rebuilds_total"),
        0.0
    );
    assert_eq!(
        Api::new(&node.base).metric("vecgate_index_suspect_searches_total"),
        0.0
    );
    assert_no_stuck_backend(&pg);
    let out = node.output();
    assert!(!out.contains("rebuild"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert_no_secrets(&out);
}
