//! wrk at a fixed concurrency against a running server, with bench/load.lua's request cycle:
//! shared by the load benchmark and the central-database comparison.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::suite::READ_KEY;

pub const CONCURRENCY: usize = 32;
/// Distinct requests in the cycle wrk sends.
const REQUESTS: usize = 512;

pub struct WrkOutcome {
    pub requests: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub error_detail: String,
}

impl WrkOutcome {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The request cycle over `items` (content items with `id` and `vector`), one
/// `METHOD<TAB>PATH<TAB>BODY` line each (see bench/load.lua): 5/8 k = 10 vector searches, 2/8
/// filtered by `filters` in turn, 1/8 a GET of an item or of its similar items.
pub fn request_lines(items: &[Value], filters: &[Value]) -> String {
    let mut lines = String::new();
    for i in 0..REQUESTS {
        // A stride coprime with the sizes used visits items all over the set.
        let item = &items[(i * 7919) % items.len()];
        let id = item["id"].as_str().expect("id");
        let line = match i % 8 {
            0..=4 => format!(
                "POST\t/v1/search\t{}",
                json!({"vector": item["vector"], "k": 10})
            ),
            5 | 6 => format!(
                "POST\t/v1/search\t{}",
                json!({"vector": item["vector"], "k": 10, "filter": filters[i % filters.len()]})
            ),
            _ if i % 16 == 7 => format!("GET\t/v1/content/{id}\t"),
            _ => format!("GET\t/v1/content/{id}/similar?k=10\t"),
        };
        lines.push_str(&line);
        lines.push('\n');
    }
    lines
}

fn field(result: &str, name: &str) -> u64 {
    result
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("wrk's RESULT line lacks {name}: {result}"))
}

/// Runs wrk for `seconds` against `base` with the cycle in `requests_file`; prints its output.
pub fn run(label: &str, base: &str, requests_file: &Path, seconds: u64) -> WrkOutcome {
    let script = repo_root().join("bench/load.lua");
    let mut wrk = Command::new("wrk");
    wrk.args(["--threads", "2", "--connections", &CONCURRENCY.to_string()])
        .args(["--duration", &format!("{seconds}s"), "--timeout", "10s"])
        .arg("--script")
        .arg(&script)
        .arg(base)
        .arg("--")
        .arg(requests_file)
        .arg(READ_KEY);
    println!("[{label}] {wrk:?}");
    let output = wrk
        .output()
        .expect("run wrk; scripts/install-api-fuzz-deps.sh installs it");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "[{label}] wrk failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stdout}");
    let result = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("[{label}] wrk printed no RESULT line:\n{stdout}"));
    let errors = ["connect", "read", "write", "status", "timeout"];
    WrkOutcome {
        requests: field(result, "requests"),
        seconds: field(result, "duration_us") as f64 / 1e6,
        p50_ms: field(result, "p50_us") as f64 / 1e3,
        p99_ms: field(result, "p99_us") as f64 / 1e3,
        errors: errors.iter().map(|e| field(result, e)).sum(),
        error_detail: errors
            .iter()
            .map(|e| format!("{e} {}", field(result, e)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
