//! With a read replica configured (a real hot-standby streaming replica), reads go to the replica
//! and writes to the primary. ruvector's HNSW index is not WAL-logged, so the replica's copy of it
//! is empty: the first search that hits it falls back to the primary, once, with a warning.

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
            ("VECGATE_DATABASE_READ_URLS", replica_url.as_str()),
            ("VECGATE_DIMENSIONS", "384"),
        ],
    );
    let api = Api::new(&server.base);
    load_movies(&api);
    let deadline = Instant::now() + Duration::from_secs(60);
    while replica
        .psql("vecgate", "SELECT count(id) FROM content_vectors")
        .trim()
        != "3200"
    {
        assert!(Instant::now() < deadline, "the replica never caught up");
        std::thread::sleep(Duration::from_millis(200));
    }
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
    std::thread::sleep(Duration::from_secs(1));
    let (primary_before, replica_before) = (scans(&primary), scans(&replica));
    for id in ["movie-17", "movie-18", "movie-19"] {
        let (status, _) = api.call("GET", &format!("/v1/content/{id}"), None, None);
        assert_eq!(status, 200);
    }
    // Idle backends flush their statistics within about 10 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while scans(&replica) == replica_before {
        assert!(Instant::now() < deadline, "GET did not read the replica");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(scans(&primary), primary_before, "GET read the primary");
}
