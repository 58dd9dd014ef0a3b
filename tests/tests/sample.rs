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
    let reply: Value = reqwest::blocking::Client::new()
        .post(url)
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
