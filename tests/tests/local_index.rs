//! `vecgate serve --local-index`: nodes that answer reads from a live copy of the central
//! database, against real ruvector (PostgreSQL 15) and native pgvector (PostgreSQL 16).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_tests::data::movies;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{self, key_env, load_movies, Api, Target, READ_KEY, WRITE_KEY};
use vecgate_tests::{assert_ruvector_installed, empty_temp_dir, PgCluster};

/// How long a change may take to reach the other node (the bound).
const MAX_P99: Duration = Duration::from_secs(1);

fn start_node(url: &str, dialect: &str, data_dir: &std::path::Path) -> Server {
    start_node_with(url, dialect, data_dir, &[])
}

fn start_node_with(
    url: &str,
    dialect: &str,
    data_dir: &std::path::Path,
    extra: &[(&'static str, &str)],
) -> Server {
    let env = node_env(url, dialect, data_dir, extra);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&[], &env)
}

fn node_env(
    url: &str,
    dialect: &str,
    data_dir: &std::path::Path,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env = key_env();
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env.extend([
        ("VECGATE_DATABASE_URL", url.to_owned()),
        ("VECGATE_MIGRATE", "true".to_owned()),
        ("VECGATE_DIALECT", dialect.to_owned()),
        ("VECGATE_DIMENSIONS", movies().dims.to_string()),
        ("VECGATE_DATA_DIR", data_dir.display().to_string()),
        ("VECGATE_LOCAL_INDEX", "true".to_owned()),
        ("VECGATE_RECALL_SAMPLE_RATE", "0".to_owned()),
    ]);
    env
}

fn cluster(dialect: &str) -> PgCluster {
    match dialect {
        "ruvector" => {
            assert_ruvector_installed();
            PgCluster::start()
        }
        _ => PgCluster::start_pgvector(),
    }
}

fn item(id: &str, vector: &[f32]) -> Value {
    json!({"id": id, "media_type": "movie", "metadata": {"title": id}, "vector": vector})
}

/// Items `<prefix><i>` for `range`, each near film i (`nudged(i, salt)`).
fn items(prefix: &str, range: std::ops::Range<usize>, salt: usize) -> Vec<Value> {
    range
        .map(|i| item(&format!("{prefix}{i}"), &nudged(i, salt)))
        .collect()
}

fn upsert(api: &Api, items: Vec<Value>) {
    let (status, v) = api.call(
        "POST",
        "/v1/content",
        Some(WRITE_KEY),
        Some(&json!({"items": items})),
    );
    assert_eq!(status, 200, "{v}");
}

/// Polls `ready` every 2 ms until it holds; the time it took. Fails after 30 s.
fn time_until(what: &str, ready: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: never happened"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    start.elapsed()
}

fn percentiles(mut delays: Vec<Duration>) -> (Duration, Duration) {
    delays.sort();
    let at = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

fn content_count(api: &Api) -> u64 {
    let (status, s) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(status, 200, "{s}");
    s["content_count"].as_u64().expect("content_count")
}

fn status_of(api: &Api, id: &str) -> u16 {
    api.call("GET", &format!("/v1/content/{id}"), Some(READ_KEY), None)
        .0
}

fn search_ids(api: &Api, vector: &[f32], k: usize) -> Vec<String> {
    let v = api.search(json!({"vector": vector, "k": k}));
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A unit vector near film `i`'s, but not equal to any stored one.
fn nudged(i: usize, salt: usize) -> Vec<f32> {
    let m = movies();
    let mut v = m.vector(i % m.ids.len()).to_vec();
    let at = salt % v.len();
    v[at] += 0.05;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// The node holds exactly the database's rows: the same count, every id, every vector.
fn assert_same_rows(api: &Api, rows: &[(String, Vec<f32>)], context: &str) {
    if let Err(e) = suite::same_rows(api, rows.iter().map(|(id, v)| (id, v))) {
        panic!("{context}: {e}");
    }
}

fn two_nodes_follow(dialect: &str) {
    let pg = cluster(dialect);
    let url = pg.create_database("follow");
    let (dir_a, dir_b) = (
        empty_temp_dir(&format!("li-a-{dialect}")),
        empty_temp_dir(&format!("li-b-{dialect}")),
    );
    let a = start_node(&url, dialect, &dir_a);
    let b = start_node(&url, dialect, &dir_b);
    let (api_a, api_b) = (Api::new(&a.base), Api::new(&b.base));
    load_movies(&api_a);
    let total = movies().ids.len() as u64;
    time_until("B holds the films", || content_count(&api_b) == total);

    // 200 inserts through A: A reads each back at once; B within the bound.
    let mut inserts = Vec::new();
    for i in 0..200 {
        let id = format!("follow-{i}");
        upsert(&api_a, vec![item(&id, &nudged(i * 13, i))]);
        assert_eq!(status_of(&api_a, &id), 200, "A reads its own write");
        inserts.push(time_until("an insert reaches B", || {
            status_of(&api_b, &id) == 200
        }));
    }
    // Updates: the item moves to a film's place in B's results.
    let mut updates = Vec::new();
    for i in 0..50 {
        let id = format!("follow-{i}");
        let target = movies().vector(1000 + i * 31).to_vec();
        upsert(&api_a, vec![item(&id, &target)]);
        updates.push(time_until("an update reaches B's results", || {
            search_ids(&api_b, &target, 3).contains(&id)
        }));
    }
    let mut deletes = Vec::new();
    for i in 150..200 {
        let id = format!("follow-{i}");
        let (status, v) = api_a.call(
            "DELETE",
            &format!("/v1/content/{id}"),
            Some(WRITE_KEY),
            None,
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(status_of(&api_a, &id), 404, "A reads its own delete");
        deletes.push(time_until("a delete reaches B", || {
            status_of(&api_b, &id) == 404
        }));
    }
    for (what, delays) in [
        ("insert", inserts),
        ("update", updates),
        ("delete", deletes),
    ] {
        let n = delays.len();
        let (p50, p99) = percentiles(delays);
        println!(
            "[{dialect}] {what}: {n} changes through A, seen by B after p50 {p50:?}, p99 {p99:?}"
        );
        assert!(
            p99 <= MAX_P99,
            "[{dialect}] {what}s reach B in p99 {p99:?}, over {MAX_P99:?}"
        );
    }
    assert_same_rows(&api_b, &pg.content_rows("follow"), "node B");
    // B's searches reached the search log, in batches.
    logs_flushed(&api_b);
    assert!(
        log_rows(&pg, "follow") >= 50,
        "B's search-log rows are in the table"
    );
    let (_, stats) = api_b.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(stats["backend"], "local_index", "{stats}");
    assert_eq!(stats["local_index"]["behind_changes"], 0, "{stats}");
}

#[test]
fn two_ruvector_nodes_see_each_others_writes_within_a_second() {
    two_nodes_follow("ruvector");
}

#[test]
fn two_pgvector_nodes_see_each_others_writes_within_a_second() {
    two_nodes_follow("pgvector");
}

#[test]
fn a_node_restarts_from_its_snapshot_and_survives_kill_9_while_applying() {
    let pg = cluster("ruvector");
    let url = pg.create_database("restart");
    let (dir_a, dir_b) = (
        empty_temp_dir("li-restart-a"),
        empty_temp_dir("li-restart-b"),
    );
    let a = start_node(&url, "ruvector", &dir_a);
    let api_a = Api::new(&a.base);
    load_movies(&api_a);
    let b = start_node(&url, "ruvector", &dir_b);
    b.kill9();

    // 500 writes while B is down: inserts, updates of films, deletes.
    for i in 0..400 {
        upsert(
            &api_a,
            vec![item(&format!("while-down-{i}"), &nudged(i * 7, i))],
        );
    }
    let films = &movies().ids;
    upsert(
        &api_a,
        (0..50)
            .map(|i| item(&films[i], &nudged(i + 100, i)))
            .collect(),
    );
    for id in &films[50..100] {
        let (status, _) = api_a.call(
            "DELETE",
            &format!("/v1/content/{id}"),
            Some(WRITE_KEY),
            None,
        );
        assert_eq!(status, 200);
    }
    let mut b = start_node(&url, "ruvector", &dir_b);
    let output = b.output_containing("local index ready");
    assert!(
        output.contains("from the snapshot"),
        "B did not start from its snapshot:\n{output}"
    );
    assert_same_rows(
        &Api::new(&b.base),
        &pg.content_rows("restart"),
        "restarted B",
    );

    // kill -9 while B applies a stream of batches, then restart: it converges.
    let writer = std::thread::spawn({
        let base = a.base.clone();
        move || {
            let api = Api::new(&base);
            for batch in 0..20 {
                upsert(
                    &api,
                    (0..250)
                        .map(|i| item(&format!("stream-{batch}-{i}"), &nudged(batch * 250 + i, i)))
                        .collect(),
                );
            }
        }
    });
    let api_b = Api::new(&b.base);
    time_until("B applies part of the stream", || {
        content_count(&api_b) > 3_600
    });
    b.kill9();
    writer.join().expect("the writer");
    let b = start_node(&url, "ruvector", &dir_b);
    assert_same_rows(
        &Api::new(&b.base),
        &pg.content_rows("restart"),
        "B after kill -9",
    );
}

/// Waits until the node has written every buffered search-log row.
fn logs_flushed(api: &Api) {
    time_until("search logs flushed", || {
        api.metric("vecgate_search_logs_buffered") == 0.0
    });
}

fn log_rows(pg: &PgCluster, db: &str) -> u64 {
    pg.psql(db, "SELECT count(id) FROM vector_search_logs")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn with_postgres_stopped_nodes_keep_answering_and_catch_up_after() {
    let mut pg = cluster("ruvector");
    let url = pg.create_database("outage");
    let (dir_a, dir_b) = (empty_temp_dir("li-outage-a"), empty_temp_dir("li-outage-b"));
    // /health turns 503 when a node's copy is staler than 1.5 s.
    let lag = [("VECGATE_MAX_LAG_MS", "1500")];
    let a = start_node_with(&url, "ruvector", &dir_a, &lag);
    let b = start_node_with(&url, "ruvector", &dir_b, &lag);
    let apis = [Api::new(&a.base), Api::new(&b.base)];
    load_movies(&apis[0]);
    time_until("B holds the films", || {
        content_count(&apis[1]) == movies().ids.len() as u64
    });
    let queries: Vec<Vec<f32>> = (0..10).map(|i| nudged(i * 97, i)).collect();
    let before: Vec<Vec<String>> = queries
        .iter()
        .map(|q| search_ids(&apis[1], q, 10))
        .collect();
    for api in &apis {
        logs_flushed(api);
    }
    let rows_before = log_rows(&pg, "outage");

    pg.stop();
    let mut searches = 0;
    for api in &apis {
        for (q, expected) in queries.iter().zip(&before) {
            assert_eq!(
                &search_ids(api, q, 10),
                expected,
                "same results with Postgres down"
            );
            searches += 1;
        }
        let started = Instant::now();
        let (status, v) = api.call(
            "POST",
            "/v1/content",
            Some(WRITE_KEY),
            Some(&json!({"items": [item("during-outage", &queries[0])]})),
        );
        assert_eq!(status, 503, "a write with Postgres down: {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the 503 came late"
        );
        assert_eq!(api.metric("vecgate_search_logs_dropped_total"), 0.0);
        assert!(
            api.metric("vecgate_search_logs_buffered") >= 10.0,
            "the outage's rows wait"
        );
    }

    for api in &apis {
        time_until("vecgate_database_up turns 0", || {
            api.metric("vecgate_database_up") == 0.0
        });
        time_until("/health turns degraded", || {
            api.call("GET", "/health", None, None).0 == 503
        });
        let (_, body) = api.call("GET", "/health", None, None);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("behind")),
            "{body}"
        );
    }

    pg.start_again();
    for api in &apis {
        time_until("/health recovers", || {
            api.call("GET", "/health", None, None).0 == 200
        });
        logs_flushed(api);
        assert_eq!(api.metric("vecgate_search_logs_dropped_total"), 0.0);
        time_until("vecgate_database_up is 1 again", || {
            api.metric("vecgate_database_up") == 1.0
        });
    }
    assert_eq!(
        log_rows(&pg, "outage"),
        rows_before + searches,
        "every search-log row buffered during the outage reached the table"
    );
    // Both nodes follow again, with no restart.
    upsert(&apis[0], vec![item("after-outage", &queries[1])]);
    time_until("B sees a write after the outage", || {
        status_of(&apis[1], "after-outage") == 200
    });
}

#[test]
fn the_api_suite_passes_on_a_local_index_node() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    let url = pg.create_database("suite");
    let node = start_node(&url, "ruvector", &empty_temp_dir("li-suite"));
    let api = Api::new(&node.base);
    load_movies(&api);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls))
        .expect("connect");
    rt.spawn(connection);
    let logs = || {
        // Rows are written in batches: read them once the node has flushed.
        logs_flushed(&api);
        suite::postgres_logs(&rt, &client)
    };
    suite::run(&Target {
        name: "local-index",
        base: node.base.clone(),
        logs: &logs,
        text: suite::TextSource::LocalModel,
        keeps_state: true,
    });

    // Retention runs on local-index nodes too (on the central table).
    let younger = logs().len() as i64;
    drop(node);
    suite::plant_old_search_logs(&rt, &client, 3_000);
    let _node = start_node(&url, "ruvector", &empty_temp_dir("li-suite"));
    suite::assert_old_search_logs_pruned(&rt, &client, younger);
}

#[test]
fn local_index_without_a_database_is_a_clear_startup_error() {
    let output = std::process::Command::new(vecgate_tests::server::vecgate_bin())
        .args(["serve", "--local-index", "--addr", "127.0.0.1:0"])
        .env_remove("VECGATE_DATABASE_URL")
        .output()
        .expect("run vecgate");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--local-index") && stderr.contains("--database-url"),
        "{stderr}"
    );
}

/// A plain node on the same database, which writes there directly (no copy of its own).
fn start_writer(url: &str, dialect: &str) -> Server {
    let mut env = key_env();
    env.extend([
        ("VECGATE_DATABASE_URL", url.to_owned()),
        ("VECGATE_DIALECT", dialect.to_owned()),
        ("VECGATE_DIMENSIONS", movies().dims.to_string()),
        ("VECGATE_RECALL_SAMPLE_RATE", "0".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&[], &env)
}

/// The message of a 503 `/health`.
fn degraded_because(api: &Api) -> String {
    let (status, body) = api.call("GET", "/health", None, None);
    assert_eq!(status, 503, "{body}");
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The way back from Postgres is cut after the search-log batch committed: the node can't know
/// it did, and sends the batch again. Each row carries its id, so the table has each once.
#[test]
fn a_search_log_batch_whose_reply_was_lost_is_written_once() {
    use vecgate_tests::proxy::{Mode, Proxy};
    let pg = cluster("pgvector");
    let url = pg.create_database("once");
    let proxy = Proxy::start(pg.port());
    let node = start_node(
        &proxy.url(&url, pg.port()),
        "pgvector",
        &empty_temp_dir("li-once"),
    );
    let api = Api::new(&node.base);
    upsert(&api, items("f", 0..50, 3));
    search_ids(&api, &nudged(1, 1), 5);
    logs_flushed(&api);
    let before = log_rows(&pg, "once");
    assert_eq!(before, 1);

    proxy.set(Mode::LoseReplies);
    const SEARCHES: u64 = 20;
    for i in 0..SEARCHES as usize {
        assert_eq!(search_ids(&api, &nudged(i, 2), 5).len(), 5);
    }
    // Committed (read here, not through the proxy), while the node still holds the rows as
    // unwritten: the ambiguous failure happened.
    time_until("the batch is in the table", || {
        log_rows(&pg, "once") == before + SEARCHES
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        api.metric("vecgate_search_logs_buffered"),
        SEARCHES as f64,
        "the node did not hear that the batch was written"
    );

    proxy.set(Mode::Pass);
    logs_flushed(&api);
    assert_eq!(
        log_rows(&pg, "once"),
        before + SEARCHES,
        "the batch sent again added nothing"
    );
    let ids: u64 = pg
        .psql(
            "once",
            "SELECT count(DISTINCT log_id) FROM vector_search_logs",
        )
        .trim()
        .parse()
        .unwrap();
    assert_eq!(ids, before + SEARCHES, "every row has its own id");
}

/// A node restarted while Postgres is down starts from its snapshot: it answers reads as before,
/// `/health` says why it is degraded and how old the copy is, writes get a JSON 503, and it
/// catches up when Postgres is back. A node with no copy of this database waits for it instead.
#[test]
fn a_node_starts_from_its_snapshot_while_postgres_is_down() {
    let mut pg = cluster("pgvector");
    let url = pg.create_database("offline");
    let dir = empty_temp_dir("li-offline");
    let node = start_node(&url, "pgvector", &dir);
    let api = Api::new(&node.base);
    upsert(&api, items("f", 0..300, 3));
    let queries: Vec<Vec<f32>> = (0..10).map(|i| nudged(i * 29, i)).collect();
    let before: Vec<Vec<String>> = queries.iter().map(|q| search_ids(&api, q, 10)).collect();
    drop(node);
    pg.stop();

    let mut waiting = Server::spawn(
        &[],
        &node_env(&url, "pgvector", &empty_temp_dir("li-offline-new"), &[])
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    let said = waiting.output_containing("waiting for the database");
    assert!(
        said.contains("no copy of it here can be trusted") && !said.contains("listening on"),
        "{said}"
    );

    let started = Instant::now();
    let node = start_node(&url, "pgvector", &dir);
    let api = Api::new(&node.base);
    assert!(started.elapsed() < Duration::from_secs(30));
    for (q, expected) in queries.iter().zip(&before) {
        assert_eq!(&search_ids(&api, q, 10), expected, "the same answers");
    }
    let why = degraded_because(&api);
    assert!(
        why.contains("unreachable since this node started") && why.contains("s ago"),
        "{why}"
    );
    assert_eq!(api.metric("vecgate_local_index_validated"), 0.0);
    let (status, v) = api.call(
        "POST",
        "/v1/content",
        Some(WRITE_KEY),
        Some(&json!({"items": [item("during-outage", &queries[0])]})),
    );
    assert_eq!(status, 503, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");

    pg.start_again();
    time_until("/health recovers", || {
        api.call("GET", "/health", None, None).0 == 200
    });
    assert_eq!(api.metric("vecgate_local_index_validated"), 1.0);
    upsert(&api, vec![item("after-outage", &queries[1])]);
    assert_eq!(status_of(&api, "after-outage"), 200, "read your writes");
    // The node that waited starts once the database answers, with a copy of its own.
    waiting.wait_listening(Duration::from_secs(60));
    let other = Api::new(&waiting.base);
    assert_same_rows(&other, &pg.content_rows("offline"), "the node that waited");
}

/// A node cut off from Postgres while the feed was pruned past it (and the rows changed) can't
/// follow on: it rebuilds a fresh copy in place, answering from the old one meanwhile, switches
/// without a restart, and a later restart starts from the fresh copy.
#[test]
fn a_node_whose_feed_was_pruned_rebuilds_its_copy_in_place() {
    use vecgate_tests::proxy::{Mode, Proxy};
    let pg = cluster("pgvector");
    let url = pg.create_database("resync");
    let proxy = Proxy::start(pg.port());
    let via = proxy.url(&url, pg.port());
    let dir = empty_temp_dir("li-resync");
    let node = start_node(&via, "pgvector", &dir);
    let api = Api::new(&node.base);
    upsert(&api, items("f", 0..300, 3));

    proxy.set(Mode::Refuse);
    let writer = start_writer(&url, "pgvector");
    let direct = Api::new(&writer.base);
    for i in 0..40 {
        let (status, _) = direct.call(
            "DELETE",
            &format!("/v1/content/f{i}"),
            Some(WRITE_KEY),
            None,
        );
        assert_eq!(status, 200);
    }
    upsert(
        &direct,
        (40..80)
            .map(|i| item(&format!("f{i}"), &nudged(i, 7)))
            .chain((0..60).map(|i| item(&format!("n{i}"), &nudged(i + 500, 1))))
            .collect(),
    );
    pg.psql(
        "resync",
        "DELETE FROM content_changes WHERE seq < (SELECT max(seq) FROM content_changes)",
    );
    // Cut off, it answers from what it has.
    assert_eq!(status_of(&api, "f0"), 200, "the old copy still answers");

    proxy.set(Mode::Pass);
    let mut node = node;
    let said = node.output_containing("rebuilt its copy");
    assert!(
        said.contains("were pruned from the feed") && said.contains("rebuilding its copy"),
        "{said}"
    );
    time_until("/health is ok again", || {
        api.call("GET", "/health", None, None).0 == 200
    });
    assert_eq!(api.metric("vecgate_local_index_resyncs_total"), 1.0);
    let rows = pg.content_rows("resync");
    assert_eq!(rows.len(), 320);
    assert_same_rows(&api, &rows, "after the rebuild in place");
    // It follows on from the fresh copy.
    upsert(&direct, vec![item("after-resync", &nudged(9, 9))]);
    time_until("the node sees a write after the rebuild", || {
        status_of(&api, "after-resync") == 200
    });
    drop(node);
    let mut again = start_node(&via, "pgvector", &dir);
    assert!(
        again
            .output_containing("local index ready")
            .contains("rows from the snapshot"),
        "a restart opens the fresh copy"
    );
    assert_same_rows(
        &Api::new(&again.base),
        &pg.content_rows("resync"),
        "after a restart",
    );
}

/// Failover: the node's URL names a primary and its streaming replica, with
/// `target_session_attrs=read-write`. The replica is cut off (stopped) while the node writes a
/// tail it never receives, the primary is SIGKILLed and the replica promoted. Writes get JSON
/// 503s until the new primary is found, then go on without a restart; the follower sees that the
/// database lost changes it had applied and rebuilds its copy to the new primary's rows.
#[test]
fn writers_and_followers_move_to_a_promoted_replica() {
    let mut primary = cluster("pgvector");
    primary.create_database("failover");
    let mut replica = primary.start_replica();
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/failover?target_session_attrs=read-write",
        primary.port(),
        replica.port()
    );
    let node = start_node(&url, "pgvector", &empty_temp_dir("li-failover"));
    let api = Api::new(&node.base);
    upsert(&api, items("f", 0..200, 3));
    time_until("the replica has the rows", || {
        replica
            .psql("failover", "SELECT count(*) FROM content_vectors")
            .trim()
            == "200"
    });

    // The tail the replica never receives: acknowledged by the old primary, lost by the promotion.
    replica.stop();
    upsert(&api, items("tail", 0..20, 5));
    assert_eq!(status_of(&api, "tail0"), 200);
    primary.crash();
    let write = |id: &str| {
        api.call(
            "POST",
            "/v1/content",
            Some(WRITE_KEY),
            Some(&json!({"items": [item(id, &nudged(7, 7))]})),
        )
    };
    for during in ["the primary is down", "the replica is still a replica"] {
        let (status, v) = write("refused");
        assert_eq!(status, 503, "a write while {during}: {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        replica.start_again();
    }
    replica.promote();

    let started = Instant::now();
    let mut refusals = 0;
    loop {
        let (status, v) = write("after-failover");
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "a write during the failover: {v}");
        assert!(v["error"]["message"].is_string(), "{v}");
        refusals += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no write reached the new primary: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "writes moved to the promoted replica after {:?} ({refusals} JSON 503s)",
        started.elapsed()
    );
    let mut node = node;
    let said = node.output_containing("rebuilt its copy");
    assert!(said.contains("lost changes this copy holds"), "{said}");
    let rows = replica.content_rows("failover");
    assert_eq!(
        rows.len(),
        201,
        "the old rows and the write after, not the tail"
    );
    time_until("the node holds the new primary's rows", || {
        content_count(&api) == 201
    });
    assert_same_rows(&api, &rows, "after the failover");
    assert_eq!(
        status_of(&api, "tail0"),
        404,
        "the lost tail is gone from the copy too"
    );
}

/// Search-log rows waiting for an unreachable database are journaled: a node killed with
/// `kill -9` sends them when it starts again, each once.
#[test]
fn search_logs_waiting_for_the_database_survive_kill_9() {
    use vecgate_tests::proxy::{Mode, Proxy};
    let pg = cluster("pgvector");
    let url = pg.create_database("journal");
    let proxy = Proxy::start(pg.port());
    let via = proxy.url(&url, pg.port());
    let dir = empty_temp_dir("li-journal");
    let node = start_node(&via, "pgvector", &dir);
    let api = Api::new(&node.base);
    upsert(&api, items("f", 0..50, 3));
    logs_flushed(&api);

    proxy.set(Mode::Refuse);
    const SEARCHES: u64 = 25;
    for i in 0..SEARCHES as usize {
        assert_eq!(search_ids(&api, &nudged(i, 4), 5).len(), 5);
    }
    assert_eq!(api.metric("vecgate_search_logs_buffered"), SEARCHES as f64);
    node.kill9();
    assert_eq!(log_rows(&pg, "journal"), 0, "nothing reached the table");

    proxy.set(Mode::Pass);
    let mut node = start_node(&via, "pgvector", &dir);
    let said = node.output_containing("search-log rows from before the restart");
    assert!(
        said.contains(&format!(
            "{SEARCHES} search-log rows from before the restart"
        )),
        "{said}"
    );
    logs_flushed(&Api::new(&node.base));
    assert_eq!(log_rows(&pg, "journal"), SEARCHES);
    let ids: u64 = pg
        .psql(
            "journal",
            "SELECT count(DISTINCT log_id) FROM vector_search_logs",
        )
        .trim()
        .parse()
        .unwrap();
    assert_eq!(ids, SEARCHES);
    // Written, the journal is empty: another restart sends nothing again.
    drop(node);
    let node = start_node(&via, "pgvector", &dir);
    logs_flushed(&Api::new(&node.base));
    assert_eq!(log_rows(&pg, "journal"), SEARCHES);
}
