//! TLS to Postgres against a real PostgreSQL 15 (the ruvector build has OpenSSL) with `ssl=on`
//! and a certificate from a CA made in the test: `verify-full` with the right CA works for
//! `serve` (primary and read replica pools), `import` and a `--local-index` node's change feed;
//! a wrong CA, a wrong host name, and `require` against a server without TLS fail at start with
//! the host and the reason; `sslmode=disable` is refused by a `hostssl`-only server.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use vecgate_tests::data::movies;
use vecgate_tests::pki::pki;
use vecgate_tests::server::{vecgate_bin, Server};
use vecgate_tests::suite::{Api, ADMIN_KEY};
use vecgate_tests::{assert_ruvector_installed, empty_temp_dir, PgCluster};

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn url(host: &str, port: u16, db: &str, params: &str) -> String {
    format!("postgres://postgres@{host}:{port}/{db}?{params}")
}

fn env<'a>(database_url: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("VECGATE_DATABASE_URL", database_url),
        ("VECGATE_MIGRATE", "true"),
        ("VECGATE_DIALECT", "ruvector"),
        ("VECGATE_DIMENSIONS", "384"),
        ("VECGATE_LOCAL_MODEL", "off"),
        ("VECGATE_API_KEYS_ADMIN", ADMIN_KEY),
        ("VECGATE_RECALL_SAMPLE_RATE", "0"),
    ];
    env.extend_from_slice(extra);
    env
}

/// `vecgate serve` that must refuse to start; returns what it printed.
fn refused(database_url: &str) -> String {
    let output = Command::new(vecgate_bin())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .envs(env(
            database_url,
            &[("VECGATE_DATA_DIR", "/nonexistent/never-used")],
        ))
        .output()
        .expect("run vecgate serve");
    assert!(
        !output.status.success(),
        "vecgate serve started with {database_url}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn search_works(api: &Api) {
    let m = movies();
    let (status, v) = api.call(
        "POST",
        "/v1/content",
        Some(ADMIN_KEY),
        Some(&json!({"items": &m.items[..20]})),
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = api.call(
        "POST",
        "/v1/search",
        Some(ADMIN_KEY),
        Some(&json!({"vector": m.vector(3), "k": 3})),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["results"][0]["id"], m.ids[3]);
}

#[test]
fn tls_to_postgres_honours_sslmode_like_psql() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    pg.create_database("tls");
    pg.psql("tls", "CREATE EXTENSION IF NOT EXISTS ruvector");
    let good = pki("good");
    let other = pki("other");
    pg.enable_tls(&good.cert, &good.key, true);
    let dir = empty_temp_dir("tls");
    let ca = write(&dir, "ca.pem", &good.ca);
    let wrong_ca = write(&dir, "other-ca.pem", &other.ca);
    let port = pg.port();
    let full = |ca: &Path| {
        url(
            "localhost",
            port,
            "tls",
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        )
    };

    // verify-full with the right CA: serve (primary and replica pools), then import, then a
    // local-index node (its change feed has its own connection).
    let good_url = full(&ca);
    let data = dir.join("serve");
    let data_s = data.display().to_string();
    let server = Server::start(
        &[],
        &env(
            &good_url,
            &[
                ("VECGATE_DATABASE_READ_URLS", &good_url),
                ("VECGATE_DATA_DIR", &data_s),
            ],
        ),
    );
    search_works(&Api::new(&server.base));
    let in_tls = pg.psql(
        "tls",
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'vecgate'",
    );
    let counts: Vec<i64> = in_tls
        .trim()
        .split('|')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        counts[1] > 0 && counts[0] == counts[1],
        "vecgate's sessions over TLS: {in_tls}"
    );
    drop(server);

    let m = movies();
    let file = dir.join("import.jsonl");
    let lines: Vec<String> = m.items[20..40].iter().map(|i| i.to_string()).collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let output = Command::new(vecgate_bin())
        .arg("import")
        .arg(&file)
        .envs(env(&good_url, &[]))
        .output()
        .expect("run vecgate import");
    assert!(
        output.status.success(),
        "import over TLS: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        pg.psql("tls", "SELECT count(id) FROM content_vectors")
            .trim(),
        "40"
    );

    let li = dir.join("local-index").display().to_string();
    let node = Server::start(
        &[],
        &env(
            &good_url,
            &[("VECGATE_LOCAL_INDEX", "1"), ("VECGATE_DATA_DIR", &li)],
        ),
    );
    let api = Api::new(&node.base);
    // A write through the database reaches the node through its feed.
    pg.psql(
        "tls",
        &format!(
            "INSERT INTO content_vectors (id, media_type, vector) SELECT 'tls-feed-1', 'movie', vector \
             FROM content_vectors WHERE id = '{}'",
            m.ids[5]
        ),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while api
        .call("GET", "/v1/content/tls-feed-1", Some(ADMIN_KEY), None)
        .0
        != 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the feed never delivered over TLS"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(node);

    // verify-ca checks the chain only: 127.0.0.1 (not in the certificate) is accepted.
    let ca_only = url(
        "127.0.0.1",
        port,
        "tls",
        &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
    );
    let server = Server::start(&[], &env(&ca_only, &[("VECGATE_DATA_DIR", &data_s)]));
    search_works(&Api::new(&server.base));
    drop(server);

    // Failures, each a clear start-up error naming the host and the reason.
    let err = refused(&full(&wrong_ca));
    eprintln!("[tls] verify-full, another CA: {err}");
    assert!(
        err.contains(&format!("localhost:{port}")) && err.contains("UnknownIssuer"),
        "{err}"
    );
    let wrong_name = url(
        "127.0.0.1",
        port,
        "tls",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let err = refused(&wrong_name);
    eprintln!("[tls] verify-full, 127.0.0.1 for a localhost certificate: {err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("not valid for name"),
        "{err}"
    );
    let err = refused(&url("localhost", port, "tls", "sslmode=disable"));
    eprintln!("[tls] disable against hostssl-only: {err}");
    assert!(
        err.contains("no encryption") || err.contains("pg_hba.conf"),
        "{err}"
    );
    let err = refused(&url("localhost", port, "tls", "sslmode=verify-full"));
    assert!(err.contains("sslrootcert"), "{err}");

    // require against a server without TLS.
    let plain = PgCluster::start();
    let err = refused(&url(
        "127.0.0.1",
        plain.port(),
        "postgres",
        "sslmode=require",
    ));
    eprintln!("[tls] require against ssl=off: {err}");
    assert!(
        err.contains("does not support TLS") || err.contains("TLS"),
        "{err}"
    );
}
