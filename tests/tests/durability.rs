//! The embedded store keeps every acknowledged write through `kill -9`, drops a torn log tail,
//! and refuses a damaged snapshot with a message naming the file.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use vecgate_tests::empty_temp_dir;
use vecgate_tests::server::{vecgate_bin, Server};

const DIMS: usize = 16;

fn start(dir: &Path) -> Server {
    let dims = DIMS.to_string();
    Server::start(
        &[],
        &[
            ("VECGATE_DATA_DIR", dir.to_str().unwrap()),
            ("VECGATE_DIMENSIONS", &dims),
            // 16-d test vectors: no text queries, so no local model.
            ("VECGATE_LOCAL_MODEL", "off"),
        ],
    )
}

/// A deterministic pseudo-random generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn vector(&mut self) -> Vec<f32> {
        (0..DIMS)
            .map(|_| self.below(2000) as f32 / 1000.0 - 1.0 + 0.001)
            .collect()
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    vecgate_core::kernels::normalize(v).unwrap()
}

/// What the server acknowledged: the last state of each id and user.
/// One write of an operation: an item's new vector (`None`: deleted) or a user's preference.
#[derive(Clone, Debug)]
enum Write {
    Item(String, Option<Vec<f32>>),
    Preference(String, Vec<f32>),
}

#[derive(Default, Clone)]
struct Acked {
    items: HashMap<String, Option<Vec<f32>>>,
    prefs: HashMap<String, Vec<f32>>,
    /// The writes of the operation in flight when the process died: all of them or none may
    /// have been applied.
    in_flight: Vec<Write>,
}

impl Acked {
    fn apply(&mut self, writes: &[Write]) {
        for write in writes {
            match write {
                Write::Item(id, v) => {
                    self.items.insert(id.clone(), v.clone());
                }
                Write::Preference(user, v) => {
                    self.prefs.insert(user.clone(), v.clone());
                }
            }
        }
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn close_to(got: &Value, want: &[f32]) -> bool {
    let got: Vec<f32> = serde_json::from_value(got.clone()).unwrap_or_default();
    let want = unit(want);
    got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6)
}

/// Whether the server holds what `write` wrote.
fn holds(c: &reqwest::blocking::Client, base: &str, write: &Write) -> bool {
    let (path, want) = match write {
        Write::Item(id, want) => (format!("/v1/content/{id}"), want.as_deref()),
        Write::Preference(user, want) => (format!("/v1/users/{user}/preference"), Some(&want[..])),
    };
    let r = c.get(format!("{base}{path}")).send().unwrap();
    match want {
        None => r.status().as_u16() == 404,
        Some(want) => {
            r.status().as_u16() == 200 && close_to(&r.json::<Value>().unwrap()["vector"], want)
        }
    }
}

/// Settles the operation that was in flight (applied whole, or not at all: both are fine, a part
/// is not), then checks that the server holds every acknowledged write.
fn settle_and_verify(base: &str, acked: &mut Acked) {
    let c = client();
    let in_flight = std::mem::take(&mut acked.in_flight);
    if !in_flight.is_empty() && in_flight.iter().all(|w| holds(&c, base, w)) {
        acked.apply(&in_flight);
    } else {
        // Not applied: ids it would have created must not exist.
        for write in &in_flight {
            if let Write::Item(id, _) = write {
                acked.items.entry(id.clone()).or_insert(None);
            }
        }
    }
    for (id, state) in &acked.items {
        let write = Write::Item(id.clone(), state.clone());
        assert!(
            holds(&c, base, &write),
            "{id}: the server does not hold the last acknowledged write ({})",
            if state.is_some() {
                "an upsert"
            } else {
                "a delete"
            }
        );
    }
    for (user, vector) in &acked.prefs {
        let write = Write::Preference(user.clone(), vector.clone());
        assert!(holds(&c, base, &write), "{user}: stale or lost preference");
    }
}

/// Writes until told to stop; records every acknowledged write.
fn writer(base: String, seed: u64, acked: Arc<Mutex<Acked>>, stop: Arc<AtomicBool>) {
    let c = client();
    let mut rng = Rng(seed);
    while !stop.load(Ordering::SeqCst) {
        let id = format!("movie-{}", rng.below(60));
        let op = rng.below(10);
        let (request, writes) = if op < 6 {
            // A batch of three, so a batch is checked all-or-nothing as well.
            let mut ids = vec![id];
            while ids.len() < 3 {
                let tv = format!("tv-{}", rng.below(40));
                if !ids.contains(&tv) {
                    ids.push(tv);
                }
            }
            let writes: Vec<Write> = ids
                .into_iter()
                .map(|i| Write::Item(i, Some(rng.vector())))
                .collect();
            let items: Vec<Value> = writes
                .iter()
                .filter_map(|w| match w {
                    Write::Item(i, Some(v)) => Some(json!({"id": i,
                        "media_type": if i.starts_with("tv") {"tv"} else {"movie"}, "vector": v})),
                    _ => None,
                })
                .collect();
            let request = c
                .post(format!("{base}/v1/content"))
                .json(&json!({ "items": items }));
            (request, writes)
        } else if op < 8 {
            let request = c.delete(format!("{base}/v1/content/{id}"));
            (request, vec![Write::Item(id, None)])
        } else {
            let user = format!("user-{}", rng.below(10));
            let v = rng.vector();
            let request = c
                .put(format!("{base}/v1/users/{user}/preference"))
                .json(&json!({"vector": v, "confidence": 0.5}));
            (request, vec![Write::Preference(user, v)])
        };
        acked.lock().unwrap().in_flight = writes.clone();
        match request.send() {
            // A 404 is a delete of an absent id: the state it leaves is the same.
            Ok(r) if r.status().is_success() || r.status().as_u16() == 404 => {
                let mut a = acked.lock().unwrap();
                a.apply(&writes);
                a.in_flight.clear();
            }
            // The server died mid-request: leave the op in flight and stop.
            _ => return,
        }
    }
}

#[test]
fn kill_9_at_random_points_loses_no_acknowledged_write() {
    let dir = empty_temp_dir("kill9");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = Rng(42);
    for round in 0..20 {
        let server = start(&dir);
        settle_and_verify(&server.base, &mut acked.lock().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (base, acked, stop) = (server.base.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || writer(base, 1000 + round, acked, stop))
        };
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        worker.join().unwrap();
    }
    let server = start(&dir);
    let mut a = acked.lock().unwrap().clone();
    settle_and_verify(&server.base, &mut a);
    let written = a.items.values().filter(|v| v.is_some()).count();
    assert!(
        written > 10,
        "the writer acknowledged too little to test anything ({written})"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn upsert(base: &str, id: &str, v: &[f32]) {
    let r = client()
        .post(format!("{base}/v1/content"))
        .json(&json!({"items": [{"id": id, "media_type": "movie", "vector": v}]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

fn status(base: &str, id: &str) -> u16 {
    client()
        .get(format!("{base}/v1/content/{id}"))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_torn_last_log_record_is_dropped_with_a_warning() {
    let dir = empty_temp_dir("torn");
    let server = start(&dir);
    let mut rng = Rng(7);
    for id in ["a-1", "a-2", "a-3"] {
        upsert(&server.base, id, &rng.vector());
    }
    server.kill9();
    let wal = dir.join("wal.log");
    let mut bytes = std::fs::read(&wal).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0x5a;
    std::fs::write(&wal, &bytes).unwrap();
    let mut server = start(&dir);
    assert_eq!(status(&server.base, "a-1"), 200);
    assert_eq!(status(&server.base, "a-2"), 200);
    assert_eq!(
        status(&server.base, "a-3"),
        404,
        "the damaged record must not be applied"
    );
    let out = server.output_containing("torn record");
    assert!(
        out.contains("torn record") && out.contains("wal.log"),
        "no warning:\n{out}"
    );
    drop(server);
    // And a record cut short (a crash mid-write) likewise.
    let len = std::fs::metadata(&wal).unwrap().len();
    let server = start(&dir);
    upsert(&server.base, "a-4", &rng.vector());
    server.kill9();
    let full = std::fs::read(&wal).unwrap();
    assert!(full.len() as u64 > len);
    std::fs::write(&wal, &full[..full.len() - 10]).unwrap();
    let server = start(&dir);
    assert_eq!(status(&server.base, "a-2"), 200);
    assert_eq!(status(&server.base, "a-4"), 404);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_snapshot_refuses_to_start_and_names_the_file() {
    let dir = empty_temp_dir("snap");
    let server = start(&dir);
    upsert(&server.base, "s-1", &Rng(3).vector());
    // A graceful stop writes the snapshot.
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let snapshot = dir.join("snapshot.bin");
    for _ in 0..100 {
        if snapshot.exists() && std::fs::metadata(dir.join("wal.log")).is_ok_and(|m| m.len() == 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);
    assert!(snapshot.exists(), "SIGTERM did not write a snapshot");
    // The snapshot alone restores the data.
    let restarted = start(&dir);
    assert_eq!(self::status(&restarted.base, "s-1"), 200);
    drop(restarted);
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snapshot, &bytes).unwrap();
    let out = Command::new(vecgate_bin())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--dimensions",
            &DIMS.to_string(),
            "--local-model",
            "off",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "started on a damaged snapshot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("snapshot.bin") && stderr.contains("damaged"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
