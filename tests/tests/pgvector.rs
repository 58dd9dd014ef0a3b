//! Search quality on the native pgvector (PostgreSQL 16, `scripts/install-pgvector.sh`): with
//! the search settings of migration 0005, the index answers filtered and unfiltered searches at
//! recall@10 ≥ 0.99 on the movies, and `/metrics` says which path answered.

use serde_json::{json, Value};
use vecgate_core::filter::Filter;
use vecgate_tests::data::movies;
use vecgate_tests::server::Server;
use vecgate_tests::suite::{key_env, load_movies, Api, READ_KEY};
use vecgate_tests::PgCluster;

/// The sample's 12 queries and 20 blends of two films: none of them is a stored vector.
fn queries() -> Vec<Vec<f32>> {
    let m = movies();
    let mut queries: Vec<Vec<f32>> = m.queries.iter().map(|(_, v)| v.clone()).collect();
    for i in 0..20 {
        let (a, b) = ((i * 157) % m.ids.len(), (i * 911 + 40) % m.ids.len());
        queries.push(
            m.vector(a)
                .iter()
                .zip(m.vector(b))
                .map(|(x, y)| x + y)
                .collect(),
        );
    }
    queries
}

fn path_count(api: &Api, path: &str) -> u64 {
    let text = api
        .send("GET", "/metrics", Some(READ_KEY), None)
        .text()
        .unwrap();
    let needle = format!("vecgate_search_path_total{{path=\"{path}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn native_pgvector_index_recall_and_search_paths() {
    let m = movies();
    let pg = PgCluster::start_pgvector();
    let url = pg.create_database("vecgate");
    let mut env = key_env();
    env.extend([
        ("VECGATE_DATABASE_URL", url),
        ("VECGATE_MIGRATE", "true".to_owned()),
        ("VECGATE_DIMENSIONS", "384".to_owned()),
        ("VECGATE_LOCAL_MODEL", "off".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&[], &env);
    let api = Api::new(&server.base);
    load_movies(&api);

    let filters: [Option<Value>; 3] = [
        None,
        Some(json!({"year": {"$gte": 1990}})),
        // About 2% of the films.
        Some(json!({"genres": ["Western"]})),
    ];
    for filter_json in filters {
        let filter = filter_json
            .as_ref()
            .map(|f| Filter::parse(f).expect("a valid filter"));
        let (index_before, exact_before) = (
            path_count(&api, "index"),
            path_count(&api, "exact_fallback"),
        );
        let mut recall_sum = 0.0;
        let queries = queries();
        for q in &queries {
            let mut body = json!({"vector": q, "k": 10});
            if let Some(f) = &filter_json {
                body["filter"] = f.clone();
            }
            let got: Vec<String> = api.search(body)["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["id"].as_str().unwrap().to_owned())
                .collect();
            let exact = m.exact(q, 10, filter.as_ref(), None);
            let found = exact.iter().filter(|(id, _)| got.contains(id)).count();
            recall_sum += found as f64 / exact.len() as f64;
        }
        let recall = recall_sum / queries.len() as f64;
        let index = path_count(&api, "index") - index_before;
        let exact = path_count(&api, "exact_fallback") - exact_before;
        eprintln!("pgvector filter {filter_json:?}: recall@10 {recall:.4}; paths: {index} index, {exact} exact fallback");
        assert!(recall >= 0.99, "filter {filter_json:?}: recall@10 {recall}");
        assert_eq!(
            index + exact,
            queries.len() as u64,
            "every search is counted once"
        );
        // Iterative scans fill k from the index: no exact fallback even for the selective filter.
        assert_eq!(exact, 0, "filter {filter_json:?}: exact fallbacks");
    }
    // A filter no row matches: the index's empty answer is complete (nothing could match).
    let before = path_count(&api, "index");
    let none =
        api.search(json!({"vector": m.vector(0), "k": 5, "filter": {"year": {"$gt": 3000}}}));
    assert_eq!(none["results"].as_array().map(Vec::len), Some(0));
    assert_eq!(path_count(&api, "index"), before + 1);
}
