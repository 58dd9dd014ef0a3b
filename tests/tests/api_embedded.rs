//! The shared API suite against `vecgate serve` on the embedded store (no database).

use serde_json::Value;
use vecgate_tests::embeddings::FakeEmbeddings;
use vecgate_tests::empty_temp_dir;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{self, key_env, load_movies, Api, LogRow, Target};

#[test]
fn api_suite_on_embedded_store() {
    let dir = empty_temp_dir("api");
    let embeddings = FakeEmbeddings::start();
    let mut env: Vec<(&str, String)> = key_env();
    env.extend([
        ("VECGATE_DATA_DIR", dir.display().to_string()),
        ("VECGATE_DIMENSIONS", "384".to_owned()),
        ("VECGATE_EMBEDDING_URL", embeddings.url.clone()),
        ("VECGATE_EMBEDDING_API_KEY", suite::EMBEDDING_KEY.to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start(&[], &env);
    load_movies(&Api::new(&server.base));
    // One file per UTC day (sealed ones carry their count): read them all, oldest day first.
    let log_dir = dir.join("search-logs");
    let logs = || {
        let mut files: Vec<_> = std::fs::read_dir(&log_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .map(|l| {
                let v: Value = serde_json::from_str(&l).expect("a JSON line");
                LogRow {
                    result_ids: serde_json::from_value(v["result_ids"].clone()).unwrap(),
                    user_id: v["user_id"].as_str().map(str::to_owned),
                    search_type: v["search_type"].as_str().unwrap_or_default().to_owned(),
                }
            })
            .collect()
    };
    suite::run(&Target {
        name: "embedded",
        base: server.base.clone(),
        logs: &logs,
        text: suite::TextSource::Provider(&embeddings),
        keeps_state: true,
    });
    suite::assert_no_secrets(&server.output());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
