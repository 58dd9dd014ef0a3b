//! The recall monitor (`recall_sample_rate`): sampled searches are re-run exactly off the
//! request path, and `/v1/stats` and `/metrics` report recall@k.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vecgate_tests::data::movies;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{key_env, load_movies, Api, READ_KEY};
use vecgate_tests::{assert_ruvector_installed, empty_temp_dir, PgCluster};

/// `/v1/stats`' recall once `samples` checks are done (at most 60 s).
fn recall_after(api: &Api, samples: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, stats) = api.call(
            "GET",
            "/v1/stats",
            Some(vecgate_tests::suite::READ_KEY),
            None,
        );
        assert_eq!(status, 200, "{stats}");
        let recall = stats["recall"].clone();
        if recall["samples"].as_u64() >= Some(samples) {
            return recall;
        }
        assert!(
            Instant::now() < deadline,
            "only {recall} recall checks after 60 s, expected {samples}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(extra: &[(&str, String)]) -> Server {
    let mut env = key_env();
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&[], &env)
}

#[test]
fn every_search_checked_on_the_embedded_store_reports_full_recall() {
    let m = movies();
    let dir = empty_temp_dir("recall-embedded");
    let server = start(&[
        ("VECGATE_DATA_DIR", dir.display().to_string()),
        ("VECGATE_DIMENSIONS", "384".into()),
        ("VECGATE_LOCAL_MODEL", "off".into()),
        ("VECGATE_RECALL_SAMPLE_RATE", "1".into()),
    ]);
    let api = Api::new(&server.base);
    load_movies(&api);
    let mut searches = 0;
    for (i, (_, q)) in m.queries.iter().enumerate() {
        let mut body = json!({"vector": q, "k": 10});
        if i % 2 == 1 {
            body["filter"] = json!({"year": {"$gte": 1995}});
        }
        api.search(body);
        searches += 1;
    }
    let recall = recall_after(&api, searches);
    assert_eq!(recall["sample_rate"], 1.0);
    assert!(recall["mean"].as_f64().unwrap() >= 0.99, "{recall}");
    assert_eq!(recall["skipped"], 0, "{recall}");
    let metrics = api
        .send("GET", "/metrics", Some(READ_KEY), None)
        .text()
        .unwrap();
    for filtered in ["false", "true"] {
        assert!(
            metrics.contains(&format!(
                "vecgate_search_recall_count{{backend=\"embedded\",filtered=\"{filtered}\"}} 6"
            )),
            "{metrics}"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// 20,000 rows in tight clusters of near-duplicates with ruvector's search breadth at its
/// floor: the index misses neighbours, and the monitor's mean is what an exact search computed
/// here says it must be.
#[test]
fn the_monitor_sees_what_ruvectors_index_misses() {
    assert_ruvector_installed();
    const DIMS: usize = 32;
    const ROWS: usize = 20_000;
    let pg = PgCluster::start();
    let url = pg.create_database("vecgate");
    // ef_search 1: ruvector raises it to its floor of 100 (sql/RUVECTOR.md).
    let url = format!("{url}?options=-c%20ruvector.hnsw_ef_search%3D1");
    let server = start(&[
        ("VECGATE_DATABASE_URL", url),
        ("VECGATE_MIGRATE", "true".into()),
        ("VECGATE_DIALECT", "ruvector".into()),
        ("VECGATE_DIMENSIONS", DIMS.to_string()),
        ("VECGATE_LOCAL_MODEL", "off".into()),
        ("VECGATE_RECALL_SAMPLE_RATE", "1".into()),
    ]);
    let api = Api::new(&server.base);
    // A deterministic generator: 200 cluster centres, 100 jittered copies each.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..200)
        .map(|_| (0..DIMS).map(|_| next()).collect())
        .collect();
    let mut rows: Vec<(String, Vec<f32>)> = Vec::with_capacity(ROWS);
    for i in 0..ROWS {
        let c = &centres[i % centres.len()];
        let v: Vec<f32> = c.iter().map(|x| x + 0.02 * next()).collect();
        rows.push((format!("r-{i}"), v));
    }
    for chunk in rows.chunks(1000) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|(id, v)| json!({"id": id, "media_type": "movie", "metadata": {}, "vector": v}))
            .collect();
        let (status, v) = api.call(
            "POST",
            "/v1/content",
            Some(vecgate_tests::suite::WRITE_KEY),
            Some(&json!({ "items": items })),
        );
        assert_eq!(status, 200, "{v}");
    }
    let normalize = |v: &[f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let unit: Vec<Vec<f32>> = rows.iter().map(|(_, v)| normalize(v)).collect();
    let k = 50;
    let mut expected_sum = 0.0;
    let queries = 24;
    for _ in 0..queries {
        let q: Vec<f32> = normalize(&(0..DIMS).map(|_| next()).collect::<Vec<_>>());
        let reply = api.search(json!({"vector": q, "k": k}));
        let got: Vec<&str> = reply["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap())
            .collect();
        let mut scored: Vec<(f32, usize)> = unit
            .iter()
            .enumerate()
            .map(|(i, v)| (v.iter().zip(&q).map(|(a, b)| a * b).sum(), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let found = scored[..k]
            .iter()
            .filter(|(_, i)| got.contains(&rows[*i].0.as_str()))
            .count();
        expected_sum += found as f64 / k as f64;
    }
    let expected = expected_sum / queries as f64;
    let recall = recall_after(&api, queries as u64);
    let mean = recall["mean"].as_f64().unwrap();
    eprintln!("ruvector, {ROWS} clustered rows: monitor mean recall@{k} {mean:.4}, computed here {expected:.4}");
    assert!(
        expected < 1.0,
        "the index found everything; the data must make it miss"
    );
    assert!(
        (mean - expected).abs() < 0.01,
        "the monitor says {mean}, the exact search here {expected}"
    );
}
