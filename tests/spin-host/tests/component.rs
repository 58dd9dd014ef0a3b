//! The real Spin component (`vecgate_spin.wasm`, run by the wasmtime test host): what it imports,
//! and the shared API suite through it against PostgreSQL 15 with ruvector, with text queries
//! through a remote provider and through Spin's LLM interface. One test binary, so the component
//! is compiled once.

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

/// The suite through the component on a fresh PostgreSQL with ruvector. `provider`: text
/// queries through the fake OpenAI-compatible provider; `None`: no `embedding_url`, so through
/// Spin's LLM interface (the host's all-MiniLM-L6-v2).
fn run_suite(name: &'static str, provider: Option<&FakeEmbeddings>) {
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

    // No `dialect`: the component detects it, through the same pg interface.
    let mut variables = key_variables();
    variables.extend([
        ("database_url".to_owned(), url.clone()),
        ("dimensions".to_owned(), "384".to_owned()),
    ]);
    if let Some(embeddings) = provider {
        variables.extend([
            ("embedding_url".to_owned(), embeddings.url.clone()),
            (
                "embedding_api_key".to_owned(),
                suite::EMBEDDING_KEY.to_owned(),
            ),
        ]);
    }
    let variables: Vec<(&str, &str)> = variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The models spin.toml gives the component, as Spin would.
    let host = SpinHost::start(&variables);
    load_movies(&Api::new(&host.base));

    let client = rt.block_on(connect(&url));
    let logs = || suite::postgres_logs(&rt, &client);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        suite::run(&Target {
            name,
            base: host.base.clone(),
            logs: &logs,
            text: match provider {
                Some(embeddings) => suite::TextSource::Provider(embeddings),
                None => suite::TextSource::LocalModel,
            },
            keeps_state: false,
        })
    }));
    if let Err(failure) = run {
        // What the component printed (its internal errors go there, not to clients).
        eprintln!("[{name}] component output:\n{}", host.output());
        std::panic::resume_unwind(failure);
    }
    suite::assert_no_secrets(&host.output());
}

#[test]
fn api_suite_through_the_spin_component_on_ruvector() {
    let embeddings = FakeEmbeddings::start();
    run_suite("spin", Some(&embeddings));
}

#[test]
fn api_suite_through_the_spin_component_with_spins_llm_interface() {
    run_suite("spin-llm", None);
}

/// A Spin that does not give the component the model (no `ai_models`): text queries answer 502,
/// and the message says what to fix. No database is reached: embedding comes first.
#[test]
fn text_queries_say_so_when_spin_withholds_the_model() {
    let mut variables = key_variables();
    variables.extend([
        // Nothing listens there; the component opens connections lazily.
        (
            "database_url".to_owned(),
            "postgres://postgres@127.0.0.1:9/vecgate".to_owned(),
        ),
        ("dialect".to_owned(), "ruvector".to_owned()),
        ("dimensions".to_owned(), "384".to_owned()),
    ]);
    let variables: Vec<(&str, &str)> = variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let host = SpinHost::start_with_ai_models(&variables, &[]);
    let (status, body) = Api::new(&host.base).call(
        "POST",
        "/v1/embed",
        Some(suite::READ_KEY),
        Some(&serde_json::json!({"texts": ["toys"]})),
    );
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "embedding_unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'ai_models'") && message.contains("all-minilm-l6-v2"),
        "{message}"
    );
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
        "fermyon:spin/llm@2.0.0",
    ] {
        assert!(
            imports.iter().any(|i| i == needed),
            "{needed} not in {imports:?}"
        );
    }
    // WASI 0.2 from Rust's std, WASI 0.3 from the SDK, and the three Spin interfaces; nothing
    // else (no key-value, no SQLite, no sockets), so any Spin with those versions can run it.
    for import in &imports {
        let known = import.starts_with("spin:postgres/postgres@4.2.0")
            || import.starts_with("spin:variables/variables@3.0.0")
            || import == "fermyon:spin/llm@2.0.0"
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

/// With no keys or tokens the component would be open to the internet: it refuses every
/// request with a JSON 503, unless `insecure_open` says otherwise. No database is reached.
#[test]
fn an_open_component_refuses_unless_told_to_be_open() {
    let base = [
        ("database_url", "postgres://postgres@127.0.0.1:9/vecgate"),
        ("dialect", "ruvector"),
        ("dimensions", "384"),
    ];
    let host = SpinHost::start_with_ai_models(&base, &[]);
    for path in ["/openapi.json", "/health", "/v1/stats"] {
        let (status, body) = Api::new(&host.base).call("GET", path, None, None);
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_configured", "{body}");
    }
    drop(host);
    let mut open = base.to_vec();
    open.push(("insecure_open", "true"));
    let host = SpinHost::start_with_ai_models(&open, &[]);
    let (status, body) = Api::new(&host.base).call("GET", "/openapi.json", None, None);
    assert_eq!(status, 200, "{body}");
}

/// The component reaches Postgres over TLS through the host, with `verify-full` against a CA
/// made in the test, as the native server does; a wrong CA is a 503 whose body names no cause.
#[test]
fn the_component_reaches_postgres_over_tls() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    pg.create_database("tls");
    let good = vecgate_tests::pki::pki("spin");
    let other = vecgate_tests::pki::pki("spin-other");
    pg.enable_tls(&good.cert, &good.key, true);
    let dir = vecgate_tests::empty_temp_dir("spin-tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, wrong) = (dir.join("ca.pem"), dir.join("other.pem"));
    std::fs::write(&ca, &good.ca).unwrap();
    std::fs::write(&wrong, &other.ca).unwrap();
    let url = |ca: &std::path::Path| {
        format!(
            "postgres://postgres@localhost:{}/tls?sslmode=verify-full&sslrootcert={}",
            pg.port(),
            ca.display()
        )
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = PgClient::new(&url(&ca), &[]).expect("database URL");
        migrate(&client, Dialect::Ruvector, 384)
            .await
            .expect("migrate over TLS");
    });
    let start = |database_url: String| {
        let mut variables = key_variables();
        variables.extend([
            ("database_url".to_owned(), database_url),
            ("dimensions".to_owned(), "384".to_owned()),
        ]);
        let variables: Vec<(&str, &str)> = variables
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        SpinHost::start_with_ai_models(&variables, &[])
    };
    let host = start(url(&ca));
    let api = Api::new(&host.base);
    load_movies(&api);
    let (status, stats) = api.call("GET", "/v1/stats", Some(suite::ADMIN_KEY), None);
    assert_eq!(
        (status, stats["content_count"].as_u64()),
        (200, Some(3200)),
        "{stats}"
    );
    drop(host);

    let host = start(url(&wrong));
    let (status, body) =
        Api::new(&host.base).call("GET", "/v1/stats", Some(suite::ADMIN_KEY), None);
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["request_id"].is_string(), "{body}");
    assert!(
        !body.to_string().contains("UnknownIssuer"),
        "driver text reached a client: {body}"
    );
    assert!(
        host.output().contains("UnknownIssuer"),
        "the cause is in the log"
    );
}

/// `target_recall` in the component: it takes no samples, and searches at the breadth native
/// nodes learned for the same database (`vecgate_search_breadth`), read in the search's own
/// settings statement. Here the table is written by hand, once low and once high, on pgvector:
/// recall@10 measured against an exact scan follows it, and with `target_recall` 0 the
/// database's own breadth applies.
#[test]
fn the_component_searches_at_the_breadth_native_nodes_learned() {
    use serde_json::json;
    use vecgate_tests::synthetic::Rng;
    const DIMS: usize = 64;
    let pg = PgCluster::start_pgvector();
    let url = pg.create_database("vecgate");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = PgClient::new(&url, &[]).expect("database URL");
        migrate(&client, Dialect::Pgvector, DIMS)
            .await
            .expect("migrate");
    });
    let mut rng = Rng(0x5b1_7e57);
    let mut unit = || rng.unit_near(&[0.0; DIMS], 1.0);
    let rows: Vec<Vec<f32>> = (0..5_000).map(|_| unit()).collect();
    let queries: Vec<Vec<f32>> = (0..40).map(|_| unit()).collect();
    let truth: Vec<Vec<usize>> = queries
        .iter()
        .map(|q| {
            let mut scored: Vec<(f32, usize)> = rows
                .iter()
                .enumerate()
                .map(|(i, r)| (r.iter().zip(q).map(|(a, b)| a * b).sum(), i))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored[..10].iter().map(|&(_, i)| i).collect()
        })
        .collect();
    let start = |target: &str| {
        let mut variables = key_variables();
        variables.extend([
            ("database_url".to_owned(), url.clone()),
            ("dimensions".to_owned(), DIMS.to_string()),
            ("target_recall".to_owned(), target.to_owned()),
        ]);
        let variables: Vec<(&str, &str)> = variables
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        SpinHost::start_with_ai_models(&variables, &[])
    };
    let recall = |api: &Api| {
        let found: usize = queries
            .iter()
            .zip(&truth)
            .map(|(q, truth)| {
                let reply = api.search(json!({"vector": q, "k": 10}));
                reply["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|h| truth.iter().any(|i| h["id"] == format!("r{i}")))
                    .count()
            })
            .sum();
        found as f64 / (queries.len() * 10) as f64
    };

    let host = start("0");
    let api = Api::new(&host.base);
    for (n, chunk) in rows.chunks(1000).enumerate() {
        let items: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"id": format!("r{}", n * 1000 + i), "media_type": "movie", "vector": v}))
            .collect();
        let (status, body) = api.call(
            "POST",
            "/v1/content",
            Some(suite::WRITE_KEY),
            Some(&json!({"items": items})),
        );
        assert_eq!(status, 200, "{body}");
    }
    let database_default = recall(&api);
    drop(host);

    let host = start("0.95");
    let api = Api::new(&host.base);
    let nothing_learned = recall(&api);
    let learn = |ef: u32| {
        pg.psql(
            "vecgate",
            &format!(
                "INSERT INTO vecgate_search_breadth (k_bucket, filtered, ef, target) \
                 VALUES ('10', false, {ef}, 0.95) ON CONFLICT (k_bucket, filtered) \
                 DO UPDATE SET ef = EXCLUDED.ef"
            ),
        );
    };
    learn(10);
    let narrow = recall(&api);
    learn(600);
    let wide = recall(&api);
    eprintln!(
        "component recall@10: database default {database_default:.3}, nothing learned \
         {nothing_learned:.3}, learned ef 10 {narrow:.3}, learned ef 600 {wide:.3}"
    );
    assert_eq!(
        nothing_learned, database_default,
        "an empty table changes nothing"
    );
    assert!(
        narrow < database_default - 0.05,
        "the narrow breadth was used"
    );
    assert!(
        wide > narrow + 0.05 && wide >= 0.99,
        "the wide breadth was used"
    );
}
