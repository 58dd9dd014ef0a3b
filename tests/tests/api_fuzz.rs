//! Schemathesis (scripts/install-api-fuzz-deps.sh) against `vecgate serve`'s own `/openapi.json`,
//! on the embedded store and on PostgreSQL 15 with ruvector, both holding the sample movies.
//! Every check but `positive_data_acceptance` runs: the server validates more than OpenAPI 3.0
//! can state (the filter language's keys and operators, non-zero vectors), so schema-valid
//! requests may rightly get a 400. No embedding provider is configured, so text queries are a
//! clear 400 rather than a 502 from a provider that does not know random text.
//!
//! `VECGATE_API_FUZZ_EXAMPLES` (default 25) is the number of examples per operation,
//! `VECGATE_API_FUZZ_SEED` (default 1) the seed; `scripts/api-fuzz.sh` runs longer.

use std::path::PathBuf;
use std::process::Command;

use vecgate_tests::server::Server;
use vecgate_tests::suite::{key_env, load_movies, Api, ADMIN_KEY};
use vecgate_tests::{assert_ruvector_installed, PgCluster};

const DEFAULT_EXAMPLES: &str = "25";
const DEFAULT_SEED: &str = "1";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn schemathesis() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-tools/bin/schemathesis");
    assert!(
        bin.exists(),
        "{} is missing; run scripts/install-api-fuzz-deps.sh",
        bin.display()
    );
    bin
}

/// Starts `vecgate serve` with the suite's keys plus `env`, loads the movies, and runs
/// schemathesis against it with the admin key (which may call every endpoint).
fn fuzz(name: &str, env: &[(&str, String)]) {
    let mut all_env = key_env();
    all_env.push(("VECGATE_DIMENSIONS", "384".to_owned()));
    all_env.extend(env.iter().cloned());
    let all_env: Vec<(&str, &str)> = all_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start(&[], &all_env);
    load_movies(&Api::new(&server.base));

    let examples = env_or("VECGATE_API_FUZZ_EXAMPLES", DEFAULT_EXAMPLES);
    let seed = env_or("VECGATE_API_FUZZ_SEED", DEFAULT_SEED);
    let output = Command::new(schemathesis())
        .arg("run")
        .arg(server.url("/openapi.json"))
        .args(["--checks", "all"])
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", &examples, "--seed", &seed])
        // One worker: hypothesis' lambda-source parsing is not thread-safe on Python 3.11.
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--header", &format!("Authorization: Bearer {ADMIN_KEY}")])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("[{name}] schemathesis, {examples} examples per operation, seed {seed}:\n{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "[{name}] schemathesis found failures ({}); server output:\n{}",
        output.status,
        server.output()
    );
    let operations = operation_count();
    assert!(
        stdout.contains(&format!("Tested: {operations}")),
        "[{name}] schemathesis did not test all {operations} operations of the spec"
    );
}

/// The operations `edge/openapi.json` declares, but `GET /openapi.json`: schemathesis does not
/// test the document it loaded.
fn operation_count() -> usize {
    let spec: serde_json::Value =
        serde_json::from_str(vecgate_edge::api::OPENAPI_JSON).expect("openapi.json is JSON");
    spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(path, _)| *path != "/openapi.json")
        .flat_map(|(_, item)| item.as_object().expect("path item").keys())
        .filter(|key| *key != "parameters")
        .count()
}

#[test]
fn schemathesis_on_embedded_store() {
    let dir = std::env::temp_dir().join(format!("vecgate-api-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    fuzz(
        "embedded",
        &[("VECGATE_DATA_DIR", dir.display().to_string())],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn schemathesis_on_ruvector() {
    assert_ruvector_installed();
    let pg = PgCluster::start();
    let url = pg.create_database("vecgate");
    fuzz(
        "ruvector",
        &[
            ("VECGATE_DATABASE_URL", url),
            ("VECGATE_MIGRATE", "true".to_owned()),
            ("VECGATE_DIALECT", "ruvector".to_owned()),
        ],
    );
}
