//! Migrations against ruvector (a real PostgreSQL 15 cluster) and pgvector (native PostgreSQL 16
//! and 18).

use vecgate_edge::native::pg::PgClient;
use vecgate_edge::sql::migrate::{detect_dialect, migrate, MigrateError, MIGRATIONS};
use vecgate_edge::sql::{DbError, Dialect, Route, SqlClient};
use vecgate_tests::{assert_ruvector_installed, PgCluster};

fn all_versions() -> Vec<String> {
    MIGRATIONS.iter().map(|(v, _)| (*v).to_owned()).collect()
}

async fn one_value(client: &PgClient, sql: &str) -> Option<String> {
    let rows = client
        .query(Route::Write, sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .next()
        .and_then(|row| row.into_iter().next().flatten())
}

async fn rejected(client: &PgClient, sql: &str) -> String {
    match client.query(Route::Write, sql, &[]).await {
        Err(DbError::Rejected(message)) => message,
        other => panic!("expected {sql} to be rejected, got {other:?}"),
    }
}

/// Applying twice, refusing other settings, and the resulting schema, for one dialect.
async fn check_dialect(client: &PgClient, dialect: Dialect) {
    assert_eq!(
        detect_dialect(client).await.unwrap(),
        Some(dialect),
        "available extension"
    );
    assert_eq!(migrate(client, dialect, 8).await.unwrap(), all_versions());
    assert_eq!(
        migrate(client, dialect, 8).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        detect_dialect(client).await.unwrap(),
        Some(dialect),
        "installed extension"
    );
    let recorded = one_value(
        client,
        "SELECT string_agg(version || ':' || dialect || ':' || dims, ',' ORDER BY version) FROM schema_migrations",
    )
    .await
    .unwrap();
    let name = if dialect == Dialect::Ruvector {
        "ruvector"
    } else {
        "pgvector"
    };
    let expected: Vec<String> = all_versions()
        .iter()
        .map(|v| format!("{v}:{name}:8"))
        .collect();
    assert_eq!(recorded, expected.join(","));

    match migrate(client, dialect, 768).await {
        Err(MigrateError::Mismatch {
            recorded_dims: 8,
            dims: 768,
            ref recorded_dialect,
            ..
        }) => {
            assert_eq!(recorded_dialect, name);
        }
        other => panic!("other dims must be refused, got {other:?}"),
    }
    let other = if dialect == Dialect::Ruvector {
        Dialect::Pgvector
    } else {
        Dialect::Ruvector
    };
    let error = migrate(client, other, 8)
        .await
        .expect_err("another dialect must be refused");
    assert!(matches!(error, MigrateError::Mismatch { .. }), "{error:?}");
    assert!(error.to_string().contains(name), "{error}");
    assert!(matches!(
        migrate(client, dialect, 0).await,
        Err(MigrateError::InvalidDims { dims: 0, .. })
    ));
    assert!(matches!(
        migrate(client, dialect, 16_001).await,
        Err(MigrateError::InvalidDims { .. })
    ));

    // The schema: dimension, media type and metadata shape are enforced.
    let vt = dialect.vector_type();
    client
        .query(
            Route::Write,
            &format!(
                "INSERT INTO content_vectors (id, vector, content_id, media_type, metadata) \
                 VALUES ('movie-1', $1::text::{vt}, 1, 'movie', '{{\"genres\": [\"Drama\"]}}')"
            ),
            &[Some("[1,0,0,0,0,0,0,0]".into())],
        )
        .await
        .expect("a valid row");
    let message = rejected(
        client,
        &format!("INSERT INTO content_vectors (id, vector, media_type) VALUES ('movie-2', '[1,0,0]'::{vt}, 'movie')"),
    )
    .await;
    assert!(message.contains("SQLSTATE"), "{message}");
    rejected(
        client,
        &format!("INSERT INTO content_vectors (id, vector, media_type) VALUES ('movie-3', '[1,0,0,0,0,0,0,0]'::{vt}, 'book')"),
    )
    .await;
    rejected(
        client,
        &format!(
            "INSERT INTO content_vectors (id, vector, media_type, metadata) \
             VALUES ('movie-4', '[1,0,0,0,0,0,0,0]'::{vt}, 'tv', '[1]')"
        ),
    )
    .await;
    let nearest = one_value(
        client,
        &format!(
            "SELECT id FROM content_vectors ORDER BY vector <=> '[1,1,0,0,0,0,0,0]'::{vt} LIMIT 1"
        ),
    )
    .await;
    assert_eq!(nearest.as_deref(), Some("movie-1"));
    client
        .query(
            Route::Write,
            &format!(
                "INSERT INTO user_preference_vectors (user_id, vector, confidence) \
                 VALUES ('u1', '[0,1,0,0,0,0,0,0]'::{vt}, 0.5)"
            ),
            &[],
        )
        .await
        .expect("a preference row");
    assert_eq!(
        one_value(
            client,
            "SELECT version::text || genre_affinities::text FROM user_preference_vectors"
        )
        .await
        .as_deref(),
        Some("0{}")
    );
    client
        .query(
            Route::Write,
            &format!(
                "INSERT INTO vector_search_logs (query_vector, result_ids, scores, search_type, k) \
                 VALUES ('[0,1,0,0,0,0,0,0]'::{vt}, ARRAY['movie-1'], ARRAY[0.5::real], 'vector', 10)"
            ),
            &[],
        )
        .await
        .expect("a log row");
    let indexes = one_value(
        client,
        "SELECT string_agg(indexname || ' ' || split_part(split_part(indexdef, 'USING ', 2), ' ', 1), ',' ORDER BY indexname) \
         FROM pg_indexes WHERE tablename IN ('content_vectors', 'vector_search_logs')",
    )
    .await
    .unwrap();
    for expected in [
        "content_vectors_vector_hnsw hnsw",
        "content_vectors_content_id btree",
        "content_vectors_media_type btree",
        "content_vectors_metadata gin",
        "vector_search_logs_timestamp btree",
        "vector_search_logs_user_id btree",
    ] {
        assert!(
            indexes.contains(expected),
            "missing index {expected}: {indexes}"
        );
    }
}

#[tokio::test]
async fn ruvector_migrations_apply_once_and_refuse_other_settings() {
    assert_ruvector_installed();
    let cluster = PgCluster::start();
    let client = PgClient::new(&cluster.url(), &[]).unwrap();
    check_dialect(&client, Dialect::Ruvector).await;
    // ruvector(n) itself does not enforce n; the migration's CHECK does.
    let message = rejected(
        &client,
        "INSERT INTO user_preference_vectors (user_id, vector, confidence) VALUES ('u2', '[1,2]'::ruvector, 0.5)",
    )
    .await;
    assert!(
        message.contains("user_preference_vectors_vector_dims"),
        "{message}"
    );
}

#[tokio::test]
async fn concurrent_migrators_apply_each_migration_once() {
    assert_ruvector_installed();
    let cluster = PgCluster::start();
    let first = PgClient::new(&cluster.url(), &[]).unwrap();
    let second = PgClient::new(&cluster.url(), &[]).unwrap();
    let (a, b) = tokio::join!(
        migrate(&first, Dialect::Ruvector, 16),
        migrate(&second, Dialect::Ruvector, 16)
    );
    let (a, b) = (a.expect("first migrator"), b.expect("second migrator"));
    let mut applied: Vec<String> = a.iter().chain(&b).cloned().collect();
    applied.sort();
    assert_eq!(
        applied,
        all_versions(),
        "each migration applied by exactly one migrator"
    );
}

#[tokio::test]
async fn a_failing_migration_is_reported_and_leaves_nothing_behind() {
    assert_ruvector_installed();
    let cluster = PgCluster::start();
    let client = PgClient::with_options(
        &cluster.url(),
        &[],
        vecgate_edge::native::pg::PgOptions {
            pool_size: 1,
            ..Default::default()
        },
    )
    .unwrap();
    client
        .batch("CREATE TABLE user_preference_vectors (user_id text)")
        .await
        .expect("a conflicting table");
    match migrate(&client, Dialect::Ruvector, 8).await {
        Err(MigrateError::Failed {
            ref version,
            error: DbError::Rejected(ref message),
        }) => {
            assert_eq!(version, "0003_user_preference_vectors");
            assert!(message.contains("already exists"), "{message}");
        }
        other => panic!("expected migration 0003 to fail, got {other:?}"),
    }
    // 0001 and 0002 stay applied; 0003 left no record and no partial schema; the one pooled
    // connection is usable (its aborted transaction was rolled back).
    assert_eq!(
        one_value(
            &client,
            "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations"
        )
        .await
        .as_deref(),
        Some("0001_extension,0002_content_vectors")
    );
    assert_eq!(
        one_value(&client, "SELECT to_regclass('content_vectors')::text")
            .await
            .as_deref(),
        Some("content_vectors")
    );
    client
        .batch("DROP TABLE user_preference_vectors")
        .await
        .unwrap();
    assert_eq!(
        migrate(&client, Dialect::Ruvector, 8).await.unwrap(),
        all_versions()[2..].to_vec(),
        "the rest, from 0003 on"
    );
}

#[tokio::test]
async fn pgvector_migrations_apply_once_on_postgres_18() {
    let cluster = PgCluster::start_pgvector_18();
    let client = PgClient::new(&cluster.url(), &[]).unwrap();
    check_dialect(&client, Dialect::Pgvector).await;
    assert!(matches!(
        migrate(&client, Dialect::Pgvector, 2_001).await,
        Err(MigrateError::InvalidDims { max: 2_000, .. })
    ));
}

#[tokio::test]
async fn pgvector_migrations_on_native_postgres_set_the_index_search() {
    let cluster = PgCluster::start_pgvector();
    let url = cluster.create_database("vecgate");
    let client = PgClient::new(&url, &[]).unwrap();
    check_dialect(&client, Dialect::Pgvector).await;
    // A new session of the database gets the search settings (0005_search_settings).
    let fresh = PgClient::new(&url, &[]).unwrap();
    assert_eq!(
        one_value(&fresh, "SHOW hnsw.ef_search").await.as_deref(),
        Some("200")
    );
    assert_eq!(
        one_value(&fresh, "SHOW hnsw.iterative_scan")
            .await
            .as_deref(),
        Some("relaxed_order")
    );
}
