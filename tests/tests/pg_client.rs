//! `PgClient` against a real PostgreSQL 15: text rows, error mapping, read routing, timeouts,
//! and recovery after Postgres restarts.

use std::time::Duration;

use vecgate_edge::native::pg::{PgClient, PgOptions};
use vecgate_edge::sql::{DbError, Route, SqlClient};
use vecgate_tests::PgCluster;

fn single(options: PgOptions) -> PgOptions {
    PgOptions {
        pool_size: 1,
        ..options
    }
}

async fn value(client: &PgClient, route: Route, sql: &str) -> Result<Option<String>, DbError> {
    let rows = client.query(route, sql, &[]).await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next().flatten()))
}

#[tokio::test]
async fn rows_come_back_as_text_with_nulls() {
    let cluster = PgCluster::start();
    let client = PgClient::new(&cluster.url(), &[]).unwrap();
    let rows = client
        .query(
            Route::Write,
            "SELECT $1::text, $2::text, ($3::text::int + 1)::text, NULL::text FROM generate_series(1, 2)",
            &[Some("é'\"\\".into()), None, Some("41".into())],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        vec![Some("é'\"\\".to_owned()), None, Some("42".to_owned()), None]
    );
    let rows = client
        .query(Route::Write, "CREATE TABLE t (x int)", &[])
        .await
        .unwrap();
    assert!(rows.is_empty());
    match client.query(Route::Write, "SELECT 1", &[]).await {
        Err(DbError::Rejected(message)) => assert!(message.contains("::text"), "{message}"),
        other => panic!("a non-text column must be rejected with a hint, got {other:?}"),
    }
}

#[tokio::test]
async fn sql_errors_are_rejected_with_the_message_and_sqlstate() {
    let cluster = PgCluster::start();
    let client = PgClient::new(&cluster.url(), &[]).unwrap();
    match client.query(Route::Write, "SELEC 1", &[]).await {
        Err(DbError::Rejected(message)) => assert!(message.contains("SQLSTATE 42601"), "{message}"),
        other => panic!("syntax error: {other:?}"),
    }
    client
        .batch("CREATE TABLE u (id text PRIMARY KEY); INSERT INTO u VALUES ('a')")
        .await
        .unwrap();
    match client
        .query(
            Route::Write,
            "INSERT INTO u VALUES ($1::text)",
            &[Some("a".into())],
        )
        .await
    {
        Err(DbError::Rejected(message)) => {
            assert!(
                message.contains("SQLSTATE 23505") && message.contains("duplicate key"),
                "{message}"
            )
        }
        other => panic!("unique violation: {other:?}"),
    }
    // A failed batch inside BEGIN … COMMIT leaves the (only) pooled connection usable.
    let client = PgClient::with_options(&cluster.url(), &[], single(PgOptions::default())).unwrap();
    let error = client
        .batch("BEGIN; INSERT INTO u VALUES ('b'); INSERT INTO u VALUES ('a'); COMMIT;")
        .await
        .expect_err("duplicate key");
    assert!(matches!(error, DbError::Rejected(_)), "{error:?}");
    assert_eq!(
        value(
            &client,
            Route::Write,
            "SELECT string_agg(id, ',' ORDER BY id) FROM u"
        )
        .await
        .unwrap()
        .as_deref(),
        Some("a"),
        "the batch was all or nothing"
    );
}

#[tokio::test]
async fn reads_round_robin_over_replicas_and_writes_go_to_the_primary() {
    let cluster = PgCluster::start();
    let mut urls = Vec::new();
    for name in ["primary_db", "replica_a", "replica_b"] {
        let url = cluster.create_database(name);
        let client = PgClient::new(&url, &[]).unwrap();
        client
            .batch(&format!(
                "CREATE TABLE whoami (name text); INSERT INTO whoami VALUES ('{name}')"
            ))
            .await
            .unwrap();
        urls.push(url);
    }
    let client = PgClient::new(&urls[0], &urls[1..]).unwrap();
    let mut reads = Vec::new();
    for _ in 0..4 {
        reads.push(
            value(&client, Route::Read, "SELECT name FROM whoami")
                .await
                .unwrap()
                .unwrap(),
        );
    }
    reads.sort();
    assert_eq!(reads, ["replica_a", "replica_a", "replica_b", "replica_b"]);
    for _ in 0..3 {
        assert_eq!(
            value(&client, Route::Write, "SELECT name FROM whoami")
                .await
                .unwrap()
                .as_deref(),
            Some("primary_db")
        );
    }
    let without_replicas = PgClient::new(&urls[0], &[]).unwrap();
    assert_eq!(
        value(&without_replicas, Route::Read, "SELECT name FROM whoami")
            .await
            .unwrap()
            .as_deref(),
        Some("primary_db")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_is_unavailable_and_the_client_recovers_after_restart() {
    let mut cluster = PgCluster::start();
    let options = PgOptions {
        pool_size: 2,
        connect_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(5),
    };
    let client = PgClient::with_options(&cluster.url(), &[], options).unwrap();
    client
        .batch("CREATE TABLE kv (k text PRIMARY KEY, v text)")
        .await
        .unwrap();
    client.ping().await.unwrap();

    cluster.stop();
    for _ in 0..3 {
        match client.query(Route::Write, "SELECT 1::text", &[]).await {
            Err(DbError::Unavailable(_)) => {}
            other => panic!("a stopped database must be unavailable, got {other:?}"),
        }
    }
    assert!(matches!(client.ping().await, Err(DbError::Unavailable(_))));

    cluster.start_again();
    client
        .query(Route::Write, "INSERT INTO kv VALUES ('a', 'b')", &[])
        .await
        .expect("the first statement after the restart succeeds");
    assert_eq!(
        value(&client, Route::Read, "SELECT v FROM kv")
            .await
            .unwrap()
            .as_deref(),
        Some("b")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_timeout_is_unavailable_and_cancelled_on_the_server() {
    let cluster = PgCluster::start();
    let options = PgOptions {
        pool_size: 1,
        connect_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_millis(500),
    };
    let client = PgClient::with_options(&cluster.url(), &[], options).unwrap();
    match client
        .query(Route::Write, "SELECT pg_sleep(60)::text", &[])
        .await
    {
        Err(DbError::Unavailable(message)) => assert!(message.contains("no answer"), "{message}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let observer = PgClient::new(&cluster.url(), &[]).unwrap();
    let mut still_running = None;
    for _ in 0..100 {
        still_running = value(
            &observer,
            Route::Write,
            "SELECT count(*)::text FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(60)%'",
        )
        .await
        .unwrap();
        if still_running.as_deref() == Some("0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        still_running.as_deref(),
        Some("0"),
        "the timed-out statement was cancelled"
    );
    // The one slot reconnects for the next statement.
    assert_eq!(
        value(&client, Route::Write, "SELECT 'ok'::text")
            .await
            .unwrap()
            .as_deref(),
        Some("ok")
    );
}
