//! The README's first command: `vecgate serve --sample` starts with the sample loaded, and the
//! example request it prints finds Toy Story.

use serde_json::Value;
use vecgate_tests::empty_temp_dir;
use vecgate_tests::server::Server;

#[test]
fn serve_sample_prints_a_working_example() {
    let dir = empty_temp_dir("sample");
    let mut server = Server::start(&["--sample", "--data-dir", dir.to_str().unwrap()], &[]);
    let out = server.output_containing("try: curl");
    let example = out
        .lines()
        .find(|l| l.starts_with("try: curl"))
        .unwrap_or_else(|| panic!("no example printed:\n{out}"));
    // The example is `curl -s URL -d 'JSON'`: run the same request.
    let url = example.split_whitespace().nth(3).expect("a URL");
    let body = example
        .split_once("-d '")
        .and_then(|(_, b)| b.strip_suffix('\''))
        .expect("a body");
    assert!(url.starts_with(&server.base), "{url}");
    let content_type = example
        .split_once("-H '")
        .and_then(|(_, h)| h.split_once('\''))
        .and_then(|(h, _)| h.split_once(": "))
        .expect("a Content-Type header in the example");
    let reply: Value = reqwest::blocking::Client::new()
        .post(url)
        .header(content_type.0, content_type.1)
        .body(body.to_owned())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let titles: Vec<&str> = reply["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"))
        .iter()
        .map(|r| r["metadata"]["title"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(titles.len(), 4, "{reply}");
    for t in ["Toy Story", "Toy Story 2", "Toy Story 3"] {
        assert!(titles.contains(&t), "{t} not in {titles:?}");
    }
    let stats: Value = reqwest::blocking::get(server.url("/v1/stats"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stats["content_count"], 3200);
    assert_eq!(stats["backend"], "embedded");
    drop(server);

    // A restart keeps the data and does not load the sample twice.
    let server = Server::start(&["--sample", "--data-dir", dir.to_str().unwrap()], &[]);
    let stats: Value = reqwest::blocking::get(server.url("/v1/stats"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stats["content_count"], 3200);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Found by the npm client's tests: with API keys configured, loading the sample (and `import`)
/// went through the API without a key and failed with 401.
#[test]
fn serve_sample_loads_with_api_keys_configured() {
    let dir = empty_temp_dir("sample-keys");
    let env = vecgate_tests::suite::key_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&["--sample", "--data-dir", dir.to_str().unwrap()], &env);
    let client = reqwest::blocking::Client::new();
    let anonymous = client.get(server.url("/v1/stats")).send().unwrap();
    assert_eq!(anonymous.status().as_u16(), 401, "the keys are in force");
    let stats: Value = client
        .get(server.url("/v1/stats"))
        .bearer_auth(vecgate_tests::suite::READ_KEY)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stats["content_count"], 3200, "{stats}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--simd` (`VECGATE_SIMD`) runs the server on each kernel path this CPU has, and every path
/// finds the same films with the same scores; a path the CPU lacks, or no path at all, is refused.
#[test]
fn every_kernel_path_serves_the_same_answers() {
    let dir = empty_temp_dir("sample-simd");
    let data_dir = dir.to_str().unwrap();
    let query = serde_json::json!({"text": "animated film for kids about toys", "k": 10});
    let search = |server: &Server| -> Vec<(String, f64)> {
        let reply: Value = reqwest::blocking::Client::new()
            .post(server.url("/v1/search"))
            .json(&query)
            .send()
            .unwrap()
            .json()
            .unwrap();
        reply["results"]
            .as_array()
            .unwrap_or_else(|| panic!("{reply}"))
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_owned(),
                    r["score"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let mut server = Server::start(&["--sample", "--data-dir", data_dir], &[]);
    let fastest = vecgate_core::kernels::active_backend();
    let listening = server.output();
    assert!(
        listening.contains(&format!("; {fastest} kernels)")),
        "{listening}"
    );
    let reference = search(&server);
    assert_eq!(reference.len(), 10);
    drop(server);
    for path in vecgate_core::kernels::available_paths() {
        let mut server = Server::start(
            &["--sample", "--data-dir", data_dir],
            &[("VECGATE_SIMD", path.name())],
        );
        let listening = server.output();
        assert!(
            listening.contains(&format!("; {} kernels)", path.name())),
            "{listening}"
        );
        let answers = search(&server);
        let ids = |a: &[(String, f64)]| a.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&answers), ids(&reference), "{}", path.name());
        for ((_, score), (_, expected)) in answers.iter().zip(&reference) {
            assert!(
                (score - expected).abs() < 1e-4,
                "{}: {score} vs {expected}",
                path.name()
            );
        }
    }
    let lacking = vecgate_core::kernels::KernelPath::ALL
        .into_iter()
        .find(|p| !p.is_available())
        .expect("no machine has every path");
    for bad in ["sse9", lacking.name()] {
        let out = std::process::Command::new(vecgate_tests::server::vecgate_bin())
            .args(["serve", "--sample", "--data-dir", data_dir, "--simd", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {stderr}");
        assert!(
            stderr.contains(bad) && stderr.contains("scalar"),
            "{bad}: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
