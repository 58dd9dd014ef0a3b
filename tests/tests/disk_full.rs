//! A full disk under the embedded store: its data directory on a size-limited tmpfs (mounted
//! here; the test needs root, as CI has, and fails loudly without it). Writes are refused with a
//! JSON 503 `storage_full`, reads and searches go on, nothing acknowledged is lost (through a
//! graceful restart on the full disk, whose shutdown snapshot fails), no temp file is left, and
//! writes resume once there is space.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use vecgate_tests::server::Server;
use vecgate_tests::suite::{key_env, Api, READ_KEY, WRITE_KEY};
use vecgate_tests::synthetic::Rng;
use vecgate_tests::tmpfs::{fill, Tmpfs};

const DIMS: usize = 64;

fn start(data: &Path) -> Server {
    let mut env = key_env();
    env.extend([
        ("VECGATE_DATA_DIR", data.display().to_string()),
        ("VECGATE_DIMENSIONS", DIMS.to_string()),
        ("VECGATE_LOCAL_MODEL", "off".into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&[], &env)
}

fn batch(rng: &mut Rng, first: usize, n: usize) -> Value {
    let items: Vec<Value> = (first..first + n)
        .map(|i| {
            let v: Vec<f32> = (0..DIMS).map(|_| rng.next_f32()).collect();
            json!({"id": format!("i{i}"), "media_type": "movie", "metadata": {"n": i}, "vector": v})
        })
        .collect();
    json!({ "items": items })
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(temp_files(&path));
        } else if path.extension().is_some_and(|e| e == "tmp") {
            found.push(path);
        }
    }
    found
}

fn assert_all_there(api: &Api, acknowledged: usize, context: &str) {
    let (status, stats) = api.call("GET", "/v1/stats", Some(READ_KEY), None);
    assert_eq!(status, 200, "{context}: {stats}");
    assert_eq!(
        stats["content_count"].as_u64(),
        Some(acknowledged as u64),
        "{context}"
    );
    for i in (0..acknowledged).step_by(37).chain([acknowledged - 1]) {
        let (status, _) = api.call("GET", &format!("/v1/content/i{i}"), Some(READ_KEY), None);
        assert_eq!(status, 200, "{context}: acknowledged i{i} is missing");
    }
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_loses_nothing() {
    let disk = Tmpfs::mount("disk-full", "6m");
    let data = disk.0.join("data");
    // Most of the space taken by something else, so that the store fills it soon.
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![1u8; 4 * 1024 * 1024]).unwrap();

    let mut rng = Rng(0xd15c_f011);
    let mut server = start(&data);
    let api = Api::new(&server.base);
    const BATCH: usize = 200;
    let mut acknowledged = 0;
    let refusal = loop {
        let (status, body) = api.call(
            "POST",
            "/v1/content",
            Some(WRITE_KEY),
            Some(&batch(&mut rng, acknowledged, BATCH)),
        );
        match status {
            200 => acknowledged += BATCH,
            _ => break (status, body),
        }
        assert!(acknowledged < 50_000, "6 MB never filled up");
    };
    eprintln!("the disk filled after {acknowledged} items: {}", refusal.1);
    assert_eq!(refusal.0, 503, "{}", refusal.1);
    assert_eq!(refusal.1["error"]["code"], "storage_full", "{}", refusal.1);
    assert!(acknowledged > 0);

    // Not a byte left (a refused batch may leave room for a short line).
    let rest = disk.0.join("rest");
    fill(&rest);
    // Reads and searches go on; the search-log line that can't be written is counted.
    assert_all_there(&api, acknowledged, "full");
    let query: Vec<f32> = (0..DIMS).map(|_| rng.next_f32()).collect();
    let hits = api.search(json!({"vector": query, "k": 5}));
    assert_eq!(hits["results"].as_array().map(Vec::len), Some(5), "{hits}");
    assert!(api.metric("vecgate_search_log_lines_dropped_total") >= 1.0);
    let (status, health) = api.call("GET", "/health", None, None);
    assert_eq!(status, 503, "{health}");
    assert!(
        health["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("data directory is full")),
        "{health}"
    );
    assert_eq!(api.metric("vecgate_storage_full"), 1.0);
    assert!(temp_files(&disk.0).is_empty(), "{:?}", temp_files(&disk.0));

    // A graceful restart on the full disk: the shutdown snapshot can't be written, the log has
    // everything.
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(30)).is_some());
    assert!(temp_files(&disk.0).is_empty(), "{:?}", temp_files(&disk.0));
    let server = start(&data);
    let api = Api::new(&server.base);
    assert_all_there(&api, acknowledged, "restarted on the full disk");

    // Space returns: writes resume, with no restart.
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&rest).unwrap();
    let (status, body) = api.call(
        "POST",
        "/v1/content",
        Some(WRITE_KEY),
        Some(&batch(&mut rng, acknowledged, BATCH)),
    );
    assert_eq!(status, 200, "{body}");
    acknowledged += BATCH;
    assert_eq!(api.call("GET", "/health", None, None).0, 200);
    assert_eq!(api.metric("vecgate_storage_full"), 0.0);
    assert_all_there(&api, acknowledged, "after space returned");
}
