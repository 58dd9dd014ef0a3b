//! The shared API suite against `vecgate serve` on a real PostgreSQL 15 with ruvector, and on
//! pgvector: native PostgreSQL 16 and 18 (scripts/install-pgvector.sh). Text queries: the
//! local model on ruvector and PostgreSQL 16, the fake provider on PostgreSQL 18.

use vecgate_tests::embeddings::FakeEmbeddings;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{self, key_env, load_movies, Api, Target};
use vecgate_tests::{assert_ruvector_installed, connect, PgCluster};

/// `provider`: text queries through the fake OpenAI-compatible provider; `None`: through the
/// local all-MiniLM-L6-v2 (no `embedding_url`).
fn run_suite(name: &'static str, database_url: &str, dialect: &str, provider: bool) {
    let embeddings = FakeEmbeddings::start();
    let mut env: Vec<(&str, String)> = key_env();
    env.extend([
        (
            "VECGATE_DATABASE_URL",
            suite::with_db_password(database_url),
        ),
        ("VECGATE_DIALECT", dialect.to_owned()),
        ("VECGATE_DIMENSIONS", "384".to_owned()),
    ]);
    if provider {
        env.extend([
            ("VECGATE_EMBEDDING_URL", embeddings.url.clone()),
            ("VECGATE_EMBEDDING_API_KEY", suite::EMBEDDING_KEY.to_owned()),
        ]);
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start(&[], &env);
    load_movies(&Api::new(&server.base));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(connect(database_url));
    let logs = || suite::postgres_logs(&rt, &client);
    suite::run(&Target {
        name,
        base: server.base.clone(),
        logs: &logs,
        text: if provider {
            suite::TextSource::Provider(&embeddings)
        } else {
            suite::TextSource::LocalModel
        },
        keeps_state: true,
    });
    suite::assert_no_secrets(&server.output());

    // Retention: rows past log_retention_days (default 30) go when a node starts, in batches.
    drop(server);
    let younger = logs().len() as i64;
    suite::plant_old_search_logs(&rt, &client, 12_000);
    let _server = Server::start(&[], &env);
    suite::assert_old_search_logs_pruned(&rt, &client, younger);
}

#[test]
fn api_suite_on_ruvector() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    let url = pg.create_database("vecgate");
    run_suite("ruvector", &url, "ruvector", false);
}

/// PostgreSQL 18 (the other server of the pgvector wheel), with text queries through an
/// OpenAI-compatible provider instead of the local model.
#[test]
fn api_suite_on_pgvector_18_with_a_provider() {
    let pg = PgCluster::start_pgvector_18();
    let url = pg.create_database("vecgate");
    run_suite("pgvector-18", &url, "pgvector", true);
}

#[test]
fn api_suite_on_native_pgvector() {
    let pg = PgCluster::start_pgvector();
    let url = pg.create_database("vecgate");
    run_suite("pgvector-native", &url, "pgvector", false);
}
