//! With a read replica configured (a real hot-standby streaming replica), reads go to the replica
//! and writes to the primary. ruvector's HNSW index is not WAL-logged, so the replica's copy of it
//! is empty: the first search that hits it falls back to the primary, once, with a warning.
//! pgvector's index is WAL-logged: its replica answers vector searches itself.

use std::time::{Duration, Instant};

use serde_json::json;
use vecgate_tests::data::movies;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{load_movies, Api};
use vecgate_tests::{assert_ruvector_installed, PgCluster};

fn scans(cluster: &PgCluster) -> i64 {
    cluster
        .psql(
            "vecgate",
            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables \
             WHERE relname = 'content_vectors'",
        )
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Waits (up to 60 s) until the replica has every movie.
fn wait_for_replica(replica: &PgCluster) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while replica
        .psql("vecgate", "SELECT count(id) FROM content_vectors")
        .trim()
        != "3200"
    {
        assert!(Instant::now() < deadline, "the replica never caught up");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The scan counter once it has stopped moving: backends that go idle flush their statistics
/// within about 10 s, so writes just made may still be counted later.
fn settled_scans(cluster: &PgCluster) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut since) = (scans(cluster), Instant::now());
    while since.elapsed() < Duration::from_secs(12) {
        assert!(Instant::now() < deadline, "the scan counter never settled");
        std::thread::sleep(Duration::from_millis(500));
        let now = scans(cluster);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

/// Waits until the replica's scan counter passes `before`; idle backends flush their statistics
/// within about 10 s.
fn wait_for_scans(replica: &PgCluster, before: i64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while scans(replica) == before {
        assert!(Instant::now() < deadline, "{what} did not read the replica");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn pgvector_replicas_answer_vector_searches() {
    let primary = PgCluster::start_pgvector();
    let primary_url = primary.create_database("vecgate");
    let replica = primary.start_replica();
    let replica_url = replica.database_url("vecgate");
    let mut server = Server::start(
        &[],
        &[
            ("VECGATE_DATABASE_URL", primary_url.as_str()),
            ("VECGATE_MIGRATE", "true"),
            ("VECGATE_DATABASE_READ_URLS", replica_url.as_str()),
            ("VECGATE_DIALECT", "pgvector"),
            ("VECGATE_DIMENSIONS", "384"),
            ("VECGATE_LOCAL_MODEL", "off"),
        ],
    );
    let api = Api::new(&server.base);
    load_movies(&api);
    wait_for_replica(&replica);
    let m = movies();
    let (primary_before, replica_before) = (settled_scans(&primary), scans(&replica));
    for (text, _) in &m.queries {
        let body = json!({"vector": m.query(text), "k": 10, "filter": {"year": {"$gte": 1980}}});
        let (status, v) = api.call("POST", "/v1/search", None, Some(&body));
        assert_eq!(status, 200, "{v}");
        let got: Vec<&str> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let filter = vecgate_core::filter::Filter::parse(&json!({"year": {"$gte": 1980}})).unwrap();
        let exact: Vec<String> = m
            .exact(m.query(text), 10, Some(&filter), None)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(got, exact, "{text}: the replica's index answers exactly");
    }
    wait_for_scans(&replica, replica_before, "vector search");
    assert_eq!(
        settled_scans(&primary),
        primary_before,
        "a vector search read the primary's content_vectors"
    );
    let out = server.output();
    assert!(
        !out.contains("cannot read the vector index"),
        "pgvector's replica fell back to the primary:\n{out}"
    );
    // The searches' log rows went to the primary.
    let logged = primary.psql("vecgate", "SELECT count(*) FROM vector_search_logs");
    assert_eq!(logged.trim(), m.queries.len().to_string());
}

#[test]
fn searches_go_to_the_replica_and_writes_to_the_primary() {
    assert_ruvector_installed();
    let primary = PgCluster::start();
    let primary_url = primary.create_database("vecgate");
    let replica = primary.start_replica();
    let replica_url = replica.database_url("vecgate");
    let mut server = Server::start(
        &[],
        &[
            ("VECGATE_DATABASE_URL", primary_url.as_str()),
            ("VECGATE_MIGRATE", "true"),
            ("VECGATE_DATABASE_READ_URLS", replica_url.as_str()),
            ("VECGATE_DIMENSIONS", "384"),
        ],
    );
    let api = Api::new(&server.base);
    load_movies(&api);
    wait_for_replica(&replica);
    let m = movies();
    let search = |user: &str| {
        let body = json!({"vector": m.query("animated film for kids about toys"), "k": 4, "user_id": user});
        let (status, v) = api.call("POST", "/v1/search", None, Some(&body));
        assert_eq!(status, 200, "{v}");
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect::<Vec<String>>()
    };
    let first = search("r-1");
    let second = search("r-2");
    assert_eq!(first.len(), 4);
    assert_eq!(first, second);
    let out = server.output_containing("cannot read the vector index");
    assert_eq!(
        out.matches("cannot read the vector index").count(),
        1,
        "expected one fallback warning (ruvector's index is not replicated):\n{out}"
    );
    for user in ["r-1", "r-2"] {
        let logged = primary.psql(
            "vecgate",
            &format!("SELECT array_to_string(result_ids, ',') FROM vector_search_logs WHERE user_id = '{user}'"),
        );
        assert_eq!(
            logged.trim(),
            first.join(","),
            "one log row on the primary for {user}"
        );
    }

    // Plain reads use the replica.
    let (primary_before, replica_before) = (settled_scans(&primary), scans(&replica));
    for id in ["movie-17", "movie-18", "movie-19"] {
        let (status, _) = api.call("GET", &format!("/v1/content/{id}"), None, None);
        assert_eq!(status, 200);
    }
    wait_for_scans(&replica, replica_before, "GET");
    assert_eq!(
        settled_scans(&primary),
        primary_before,
        "GET read the primary"
    );
}
