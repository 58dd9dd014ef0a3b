//! The shared API suite against `vecgate serve` on a real PostgreSQL 15 with ruvector, and on
//! pgvector: native PostgreSQL 16 and 18 (scripts/install-pgvector.sh). Text queries: the
//! local model on ruvector and PostgreSQL 16, the fake provider on PostgreSQL 18. On ruvector the
//! server runs with the least-privilege role of `deploy/roles.sql`, after `vecgate migrate`.

use std::process::Command;

use serde_json::json;
use vecgate_tests::data::movies;
use vecgate_tests::embeddings::FakeEmbeddings;
use vecgate_tests::server::{vecgate_bin, Server};
use vecgate_tests::suite::{self, key_env, load_movies, Api, Target, WRITE_KEY};
use vecgate_tests::{assert_ruvector_installed, connect, PgCluster};

/// How the server reaches the database.
enum Role<'a> {
    /// The owner, applying the migrations itself (`serve --migrate`).
    Owner,
    /// This URL, of a role with only DML rights, on a database already migrated.
    LeastPrivilege(&'a str),
}

/// `provider`: text queries through the fake OpenAI-compatible provider; `None`: through the
/// local all-MiniLM-L6-v2 (no `embedding_url`). `database_url` is the owner's, for the checks.
fn run_suite(name: &'static str, database_url: &str, role: Role, dialect: &str, provider: bool) {
    let embeddings = FakeEmbeddings::start();
    let mut env: Vec<(&str, String)> = key_env();
    let serve_url = match role {
        Role::Owner => {
            env.push(("VECGATE_MIGRATE", "true".to_owned()));
            database_url
        }
        Role::LeastPrivilege(url) => url,
    };
    env.extend([
        ("VECGATE_DATABASE_URL", suite::with_db_password(serve_url)),
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

/// `url` (the owner's, `postgres@`) as `role`: the test clusters trust loopback, so no password.
fn as_role(url: &str, role: &str) -> String {
    url.replacen("postgres@", &format!("{role}@"), 1)
}

/// `vecgate <args>` with the database settings of `url`: its exit status and what it printed.
fn vecgate(args: &[&str], url: &str, extra: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(vecgate_bin())
        .args(args)
        .env("VECGATE_DATABASE_URL", url)
        .env("VECGATE_DIALECT", "ruvector")
        .env("VECGATE_DIMENSIONS", "384")
        .env("VECGATE_LOCAL_MODEL", "off")
        .envs(extra.iter().copied())
        .output()
        .expect("run vecgate");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The least-privilege setup of the README: `serve` refuses a database that is behind; `vecgate
/// migrate` as the owner, `deploy/roles.sql`, and then the whole API suite as `vecgate_app`; a
/// `--local-index` node as `vecgate_reader` answers and logs searches and refuses writes.
#[test]
fn api_suite_on_ruvector_with_least_privilege_roles() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    let url = pg.create_database("vecgate");

    let (started, printed) = vecgate(&["serve", "--addr", "127.0.0.1:0"], &url, &[]);
    assert!(
        !started && printed.contains("schema is behind") && printed.contains("vecgate migrate"),
        "serve on an unmigrated database must refuse to start, saying what to run:\n{printed}"
    );
    let (migrated, printed) = vecgate(&["migrate"], &url, &[]);
    assert!(migrated && printed.contains("applied"), "{printed}");
    let roles = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/roles.sql"),
    )
    .expect("deploy/roles.sql");
    pg.psql("vecgate", &roles);
    pg.psql("vecgate", &roles); // safe to re-run, as compose does at every start
    let (_, printed) = vecgate(&["migrate"], &as_role(&url, "vecgate_app"), &[]);
    assert!(
        printed.contains("schema is up to date"),
        "an up-to-date schema needs no DDL, even from the app role: {printed}"
    );
    assert!(
        pg.psql(
            "vecgate",
            "SELECT has_table_privilege('vecgate_app', 'content_vectors', 'TRUNCATE')::text \
             || has_database_privilege('vecgate_app', 'vecgate', 'CREATE')::text"
        )
        .trim()
            == "falsefalse",
        "the app role may neither truncate nor create"
    );

    run_suite(
        "ruvector",
        &url,
        Role::LeastPrivilege(&as_role(&url, "vecgate_app")),
        "ruvector",
        false,
    );

    let dir = vecgate_tests::empty_temp_dir("roles-reader");
    let mut env = key_env();
    env.extend([
        (
            "VECGATE_DATABASE_URL",
            suite::with_db_password(&as_role(&url, "vecgate_reader")),
        ),
        ("VECGATE_DIALECT", "ruvector".to_owned()),
        ("VECGATE_DIMENSIONS", "384".to_owned()),
        ("VECGATE_LOCAL_MODEL", "off".to_owned()),
        ("VECGATE_DATA_DIR", dir.display().to_string()),
        ("VECGATE_LOCAL_INDEX", "true".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut reader = Server::start(&[], &env);
    let api = Api::new(&reader.base);
    let logged = || {
        pg.psql("vecgate", "SELECT count(*) FROM vector_search_logs")
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let before = logged();
    let m = movies();
    let hits = api.search(json!({"vector": m.items[3]["vector"], "k": 3}));
    assert_eq!(hits["results"][0]["id"], m.items[3]["id"], "{hits}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while logged() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the reader's search-log row never reached the database"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (status, body) = api.call(
        "DELETE",
        &format!("/v1/content/{}", m.items[3]["id"].as_str().unwrap()),
        Some(WRITE_KEY),
        None,
    );
    assert_eq!(status, 503, "a write through the reader role: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("read-write role")),
        "{body}"
    );
    suite::assert_no_secrets(&reader.output());
}

/// PostgreSQL 18 (the other server of the pgvector wheel), with text queries through an
/// OpenAI-compatible provider instead of the local model.
#[test]
fn api_suite_on_pgvector_18_with_a_provider() {
    let pg = PgCluster::start_pgvector_18();
    let url = pg.create_database("vecgate");
    run_suite("pgvector-18", &url, Role::Owner, "pgvector", true);
}

#[test]
fn api_suite_on_native_pgvector() {
    let pg = PgCluster::start_pgvector();
    let url = pg.create_database("vecgate");
    run_suite("pgvector-native", &url, Role::Owner, "pgvector", false);
}
