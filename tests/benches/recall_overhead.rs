//! What the recall monitor costs a search: `vecgate serve` (release) on the embedded store with
//! the 3,200 films at `recall_sample_rate` 0, 0.01 (the default) and 1, in one run. The monitor's
//! exact re-run happens after the reply, on another thread; this measures that the replies do
//! not wait for it.
//!
//! For each rate: one-at-a-time search p50 / p99 over the same queries (three interleaved
//! rounds, so drift on a noisy machine hits every rate alike), and wrk requests/s at
//! concurrency 32 (`VECGATE_RECALL_BENCH_SECONDS`, default 5). Ratios are to rate 0. On two
//! cores, rate 1 shows the price of the checks themselves competing for the CPU under load;
//! the default rate should stay within noise. Asserts nothing about speed.
//! Run: `bash bench/recall-overhead.sh`.

use std::time::Instant;

use serde_json::json;
use vecgate_tests::data::movies;
use vecgate_tests::server::{vecgate_release_bin, Server};
use vecgate_tests::suite::{key_env, load_movies, Api, READ_KEY};
use vecgate_tests::wrk;

const RATES: [&str; 3] = ["0", "0.01", "1"];
const QUERIES_PER_ROUND: usize = 400;
const ROUNDS: usize = 3;

fn start(rate: &str) -> Server {
    let dir = vecgate_tests::empty_temp_dir(&format!("recall-bench-{rate}"));
    let mut env = key_env();
    env.extend([
        ("VECGATE_DIMENSIONS", movies().dims.to_string()),
        ("VECGATE_DATA_DIR", dir.display().to_string()),
        ("VECGATE_RECALL_SAMPLE_RATE", rate.to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_bin(&vecgate_release_bin(), &[], &env);
    load_movies(&Api::new(&server.base));
    server
}

fn main() {
    let m = movies();
    let servers: Vec<Server> = RATES.iter().map(|rate| start(rate)).collect();
    let apis: Vec<Api> = servers.iter().map(|s| Api::new(&s.base)).collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); RATES.len()];
    for round in 0..ROUNDS {
        for (r, api) in apis.iter().enumerate() {
            for i in 0..QUERIES_PER_ROUND {
                let item = (round * QUERIES_PER_ROUND + i) * 7919 % m.ids.len();
                let body = json!({"vector": m.vector(item), "k": 10});
                let start = Instant::now();
                let (status, v) = api.call("POST", "/v1/search", Some(READ_KEY), Some(&body));
                samples[r].push(start.elapsed().as_secs_f64() * 1e3);
                assert_eq!(status, 200, "{v}");
            }
        }
    }
    let seconds = std::env::var("VECGATE_RECALL_BENCH_SECONDS")
        .ok()
        .map(|v| v.parse().expect("a whole number of seconds"))
        .unwrap_or(5);
    let requests = std::env::temp_dir().join(format!("vecgate-recall-{}.tsv", std::process::id()));
    let filters = [
        json!({"genres": ["Comedy"]}),
        json!({"year": {"$gte": 2000}}),
    ];
    std::fs::write(&requests, wrk::request_lines(&m.items, &filters)).expect("write the cycle");
    let loads: Vec<wrk::WrkOutcome> = servers
        .iter()
        .zip(RATES)
        .map(|(s, rate)| wrk::run(&format!("rate {rate}"), &s.base, &requests, seconds))
        .collect();
    let _ = std::fs::remove_file(&requests);

    println!("\n| recall_sample_rate | checks done / skipped | search p50 ms | p99 ms | p50 ratio | load req/s | load ratio |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let base_p50 = {
        let mut s = samples[0].clone();
        s.sort_by(f64::total_cmp);
        vecgate_tests::percentile(&s, 0.5)
    };
    for (r, rate) in RATES.iter().enumerate() {
        let mut s = samples[r].clone();
        s.sort_by(f64::total_cmp);
        let (_, stats) = apis[r].call("GET", "/v1/stats", Some(READ_KEY), None);
        let p50 = vecgate_tests::percentile(&s, 0.5);
        println!(
            "| {rate} | {} / {} | {p50:.3} | {:.3} | {:.2} | {:.0} | {:.2} |",
            stats["recall"]["samples"],
            stats["recall"]["skipped"],
            vecgate_tests::percentile(&s, 0.99),
            p50 / base_p50,
            loads[r].per_second(),
            loads[r].per_second() / loads[0].per_second(),
        );
        assert_eq!(
            loads[r].errors, 0,
            "errors under load: {}",
            loads[r].error_detail
        );
    }
}
