//! The real Spin component (`vecgate_spin.wasm`, run by the wasmtime test host): what it imports,
//! and the shared API suite through it against PostgreSQL 15 with ruvector. One test binary, so
//! the component is compiled once.

use vecgate_edge::native::pg::PgClient;
use vecgate_edge::sql::migrate::migrate;
use vecgate_edge::sql::Dialect;
use vecgate_spin_host::SpinHost;
use vecgate_tests::embeddings::FakeEmbeddings;
use vecgate_tests::suite::{self, key_env, load_movies, Api, Target};
use vecgate_tests::{assert_ruvector_installed, connect, PgCluster};

/// The suite's key settings, as Spin variables (`VECGATE_API_KEYS_READ` → `api_keys_read`).
fn key_variables() -> Vec<(String, String)> {
    key_env()
        .into_iter()
        .map(|(name, value)| {
            let name = name.trim_start_matches("VECGATE_").to_ascii_lowercase();
            (name, value)
        })
        .collect()
}

#[test]
fn api_suite_through_the_spin_component_on_ruvector() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    let url = pg.create_database("vecgate");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The component never migrates (`vecgate migrate` does, in production).
    rt.block_on(async {
        let client = PgClient::new(&url, &[]).expect("database URL");
        migrate(&client, Dialect::Ruvector, 384)
            .await
            .expect("migrate");
    });

    let embeddings = FakeEmbeddings::start();
    // No `dialect`: the component detects it, through the same pg interface.
    let mut variables = key_variables();
    variables.extend([
        ("database_url".to_owned(), url.clone()),
        ("dimensions".to_owned(), "384".to_owned()),
        ("embedding_url".to_owned(), embeddings.url.clone()),
        (
            "embedding_api_key".to_owned(),
            suite::EMBEDDING_KEY.to_owned(),
        ),
    ]);
    let variables: Vec<(&str, &str)> = variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let host = SpinHost::start(&variables);
    load_movies(&Api::new(&host.base));

    let client = rt.block_on(connect(&url));
    let logs = || suite::postgres_logs(&rt, &client);
    suite::run(&Target {
        name: "spin",
        base: host.base.clone(),
        logs: &logs,
        text: suite::TextSource::Provider(&embeddings),
        keeps_state: false,
    });
    suite::assert_no_secrets(&host.output());
}

/// What the shipped component asks of its host: Spin must provide exactly these interfaces.
#[test]
fn the_component_imports_only_wasi_and_the_spin_interfaces_it_uses() {
    let imports = vecgate_spin_host::component_imports();
    for needed in [
        "spin:postgres/postgres@4.2.0",
        "spin:variables/variables@3.0.0",
        "wasi:http/types@0.3.0",
        "wasi:http/client@0.3.0",
    ] {
        assert!(
            imports.iter().any(|i| i == needed),
            "{needed} not in {imports:?}"
        );
    }
    // WASI 0.2 from Rust's std, WASI 0.3 from the SDK, and the two Spin interfaces; nothing else
    // (no key-value, no SQLite, no sockets), so any Spin with those versions can run it.
    for import in &imports {
        let known = import.starts_with("spin:postgres/postgres@4.2.0")
            || import.starts_with("spin:variables/variables@3.0.0")
            || import.starts_with("wasi:http/")
            || [
                "wasi:cli/",
                "wasi:io/",
                "wasi:clocks/",
                "wasi:random/",
                "wasi:filesystem/",
            ]
            .iter()
            .any(|p| import.starts_with(p));
        assert!(known, "unexpected import {import} (all: {imports:?})");
        assert!(!import.contains("wasi:sockets"), "{import}");
    }
}
