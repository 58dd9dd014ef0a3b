//! The alert rules and the dashboard (`deploy/`): promtool accepts the rules and fires each alert
//! on its synthetic series, and every metric they name is one vecgate exports: live from an
//! embedded server, or (for Postgres and local-index nodes) written in the edge's source.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use vecgate_tests::server::Server;
use vecgate_tests::suite::{key_env, Api, READ_KEY};
use vecgate_tests::{data::movies, empty_temp_dir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(repo().join("deploy"))
        .output()
        .expect(
            "promtool (Debian's prometheus package, scripts/install-deps.sh) must be installed",
        );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn promtool_accepts_the_rules_and_fires_every_alert() {
    let rules = std::fs::read_to_string(repo().join("deploy/alerts.yml")).unwrap();
    let alerts = rules.matches("- alert: ").count();
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(
        checked.contains(&format!("SUCCESS: {alerts} rules found")),
        "{checked}"
    );
    let tested = promtool(&["test", "rules", "alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a test that fires it.
    let tests = std::fs::read_to_string(repo().join("deploy/alerts.test.yml")).unwrap();
    for line in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {line}")),
            "no promtool test fires {line}"
        );
    }
}

/// `vecgate_*` names in `text`, without the histogram suffixes.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("vecgate_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(base.to_owned());
        rest = &tail[end..];
    }
    names
}

fn sources(dir: &Path, into: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_metric_the_rules_and_dashboard_name_is_exported() {
    let deploy = repo().join("deploy");
    let mut wanted = metric_names(&std::fs::read_to_string(deploy.join("alerts.yml")).unwrap());
    let dashboard = std::fs::read_to_string(deploy.join("grafana-dashboard.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 8));
    wanted.extend(metric_names(&dashboard));

    // Live: an embedded server after some traffic.
    let dir = empty_temp_dir("alerts-metrics");
    let mut env = key_env();
    env.extend([
        ("VECGATE_DATA_DIR", dir.display().to_string()),
        ("VECGATE_DIMENSIONS", "384".into()),
        ("VECGATE_LOCAL_MODEL", "off".into()),
        ("VECGATE_RECALL_SAMPLE_RATE", "1".into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&[], &env);
    let api = Api::new(&server.base);
    vecgate_tests::suite::load_movies(&api);
    for i in 0..5 {
        api.search(serde_json::json!({"vector": movies().vector(i), "k": 5}));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let live = api
        .send("GET", "/metrics", Some(READ_KEY), None)
        .text()
        .unwrap();
    let exported = metric_names(&live);
    for name in [
        "vecgate_data_dir_free_bytes",
        "vecgate_data_dir_size_bytes",
        "vecgate_search_recall",
    ] {
        assert!(exported.contains(name), "{name} not in /metrics:\n{live}");
    }
    let mut source = String::new();
    sources(&repo().join("edge/src"), &mut source);
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|n| {
            !exported.contains(*n)
                && !source.contains(&format!("\"{n}\""))
                && !source.contains(&format!("# TYPE {n} "))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "named in deploy/ but exported nowhere: {missing:?}"
    );
}
