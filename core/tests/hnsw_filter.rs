//! HNSW filtered search: results always number min(k, matching), and selective filters give
//! exactly the exact answer.

mod hnsw_support;

use hnsw_support::{clustered, movies, recall};
use serde_json::{json, Value};
use vecgate_core::filter::Filter;
use vecgate_core::hnsw::{HnswConfig, HnswIndex, HnswItem, SearchHit, SearchOptions};
use vecgate_core::kernels::cosine;

const ROWS: usize = 20_000;
const DIMS: usize = 64;
const K: usize = 10;

/// Each row gets `{"bucket": row % 1000}`, so `bucket < b` matches b/1000 of the items.
fn bucketed_index() -> (HnswIndex, Vec<f32>, Vec<f32>) {
    let data = clustered(ROWS, 40, DIMS, 21);
    let mut index = HnswIndex::new(HnswConfig::new(DIMS)).unwrap();
    let items = data
        .data
        .chunks_exact(DIMS)
        .enumerate()
        .map(|(i, v)| HnswItem {
            id: format!("v{i}"),
            vector: v.to_vec(),
            metadata: Some(json!({ "bucket": i % 1000 })),
        })
        .collect();
    index.upsert_batch(items).unwrap();
    (index, data.data, data.queries)
}

/// Exact filtered top-k ids: every matching row scored, best first, ties by row.
fn exact_filtered(
    data: &[f32],
    query: &[f32],
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<String> {
    let mut scored: Vec<(f32, usize)> = data
        .chunks_exact(query.len())
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, row)| (cosine(query, row).unwrap(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(k)
        .map(|(_, i)| format!("v{i}"))
        .collect()
}

fn ids(hits: &[SearchHit]) -> Vec<String> {
    hits.iter().map(|h| h.id.clone()).collect()
}

#[test]
fn filters_matching_50_5_and_0_1_percent() {
    let (index, data, queries) = bucketed_index();
    for (buckets, min_recall) in [(500, 0.95), (50, 0.95), (1, 1.0)] {
        let filter = Filter::parse(&json!({ "bucket": { "$lt": buckets } })).unwrap();
        let options = SearchOptions {
            filter: Some(&filter),
            ..Default::default()
        };
        let matching = ROWS * buckets / 1000;
        let (mut found, mut truth) = (Vec::new(), Vec::new());
        for q in queries.chunks_exact(DIMS) {
            let hits = index.search(q, K, &options).unwrap();
            assert_eq!(hits.len(), K.min(matching), "{buckets}/1000 buckets");
            for h in &hits {
                let row: usize = h.id[1..].parse().unwrap();
                assert!(row % 1000 < buckets, "{} does not match", h.id);
            }
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
            found.push(ids(&hits));
            truth.push(exact_filtered(&data, q, K, |i| i % 1000 < buckets));
        }
        let r = recall(&found, &truth);
        println!(
            "filter matching {:.1}%: recall@10 {r:.4}",
            buckets as f64 / 10.0
        );
        assert!(r >= min_recall, "{buckets}/1000 buckets: recall {r:.4}");
        if min_recall == 1.0 {
            assert_eq!(found, truth, "a selective filter gives the exact answer");
        }
    }
}

#[test]
fn k_beyond_the_matching_items_returns_all_of_them() {
    let (index, data, queries) = bucketed_index();
    let q = &queries[..DIMS];
    // 0.1%: 20 items. 5%, asked for more than match: 1000 items.
    for (buckets, k) in [(1, 50), (50, 1500)] {
        let filter = Filter::parse(&json!({ "bucket": { "$lt": buckets } })).unwrap();
        let options = SearchOptions {
            filter: Some(&filter),
            ..Default::default()
        };
        let hits = index.search(q, k, &options).unwrap();
        let matching = ROWS * buckets / 1000;
        assert_eq!(hits.len(), matching);
        assert_eq!(
            ids(&hits),
            exact_filtered(&data, q, k, |i| i % 1000 < buckets)
        );
    }
    let nothing = Filter::parse(&json!({ "bucket": { "$gt": 5000 } })).unwrap();
    let options = SearchOptions {
        filter: Some(&nothing),
        ..Default::default()
    };
    assert!(index.search(q, K, &options).unwrap().is_empty());
}

#[test]
fn closure_predicates_and_filters_combine() {
    let (index, data, queries) = bucketed_index();
    let q = &queries[DIMS..2 * DIMS];
    let even_rows = |id: &str, _: Option<&Value>| id[1..].parse::<usize>().unwrap() & 1 == 0;
    let filter = Filter::parse(&json!({ "bucket": { "$lt": 100 } })).unwrap();
    let options = SearchOptions {
        filter: Some(&filter),
        predicate: Some(&even_rows),
        ..Default::default()
    };
    let hits = index.search(q, K, &options).unwrap();
    assert_eq!(hits.len(), K);
    let truth = exact_filtered(&data, q, K, |i| i % 1000 < 100 && i & 1 == 0);
    assert!(recall(&[ids(&hits)], &[truth]) >= 0.9);
    for h in &hits {
        let row: usize = h.id[1..].parse().unwrap();
        assert!(row & 1 == 0 && row % 1000 < 100, "{}", h.id);
    }
    // Excluding the query item itself by id (find-similar).
    let not_v0 = |id: &str, _: Option<&Value>| id != "v0";
    let options = SearchOptions {
        predicate: Some(&not_v0),
        ..Default::default()
    };
    let hits = index.search(&data[..DIMS], K, &options).unwrap();
    assert_eq!(hits.len(), K);
    assert!(hits.iter().all(|h| h.id != "v0"));
}

#[test]
fn movie_filters_by_genre_and_media_type() {
    let movies = movies();
    let dims = movies[0].vector.len();
    let mut index = HnswIndex::new(HnswConfig::new(dims)).unwrap();
    let items = movies
        .iter()
        .map(|m| {
            let mut metadata = m.metadata.clone();
            metadata["media_type"] = json!(m.media_type);
            HnswItem {
                id: m.id.clone(),
                vector: m.vector.clone(),
                metadata: Some(metadata),
            }
        })
        .collect();
    index.upsert_batch(items).unwrap();
    let query = &movies[0].vector;
    for filter_json in [
        json!({"genres": ["Comedy"]}),
        json!({"genres": ["Documentary"], "year": {"$gte": 2000}}),
        json!({"media_type": "movie", "rating": {"$gte": 8.5}}),
        json!({"$or": [{"genres": ["Horror"]}, {"rating": {"$lt": 2}}]}),
    ] {
        let filter = Filter::parse(&filter_json).unwrap();
        let options = SearchOptions {
            filter: Some(&filter),
            ..Default::default()
        };
        let hits = index.search(query, K, &options).unwrap();
        let with_meta = |m: &hnsw_support::Movie| {
            let mut meta = m.metadata.clone();
            meta["media_type"] = json!(m.media_type);
            meta
        };
        let matching: Vec<usize> = (0..movies.len())
            .filter(|&i| filter.matches(&with_meta(&movies[i])))
            .collect();
        assert_eq!(hits.len(), K.min(matching.len()), "{filter_json}");
        let mut exact: Vec<(f32, &str)> = matching
            .iter()
            .map(|&i| {
                (
                    cosine(query, &movies[i].vector).unwrap(),
                    movies[i].id.as_str(),
                )
            })
            .collect();
        exact.sort_by(|a, b| b.0.total_cmp(&a.0));
        let truth: Vec<String> = exact.iter().take(K).map(|e| e.1.to_string()).collect();
        let r = recall(&[ids(&hits)], &[truth]);
        assert!(r >= 0.9, "{filter_json}: recall {r}");
    }
}

#[test]
fn exact_search_is_the_exhaustive_filtered_answer() {
    let (index, data, queries) = bucketed_index();
    let filter = Filter::parse(&json!({ "bucket": { "$lt": 300 } })).unwrap();
    let odd = |id: &str, _: Option<&Value>| id.ends_with(['1', '3', '5', '7', '9']);
    for options in [
        SearchOptions::default(),
        SearchOptions {
            filter: Some(&filter),
            predicate: Some(&odd),
            ..Default::default()
        },
    ] {
        for q in queries.chunks_exact(DIMS).take(5) {
            let got = index.exact_search(q, K, &options).unwrap();
            let keep = |i: usize| options.filter.is_none() || (i % 1000 < 300 && i % 2 == 1);
            assert_eq!(ids(&got), exact_filtered(&data, q, K, keep));
        }
    }
    assert!(index
        .exact_search(&[1.0], K, &SearchOptions::default())
        .is_err());
    assert!(index
        .exact_search(&queries[..DIMS], 0, &SearchOptions::default())
        .unwrap()
        .is_empty());
}

/// A scan in pieces (what a host holding a lock runs) gives exactly the one-piece answer, and
/// sees what changed between pieces: deleted items leave, appended ones join.
#[test]
fn an_exact_scan_in_pieces_matches_the_whole_scan_and_follows_changes() {
    let (mut index, _, queries) = bucketed_index();
    let filter = Filter::parse(&json!({"bucket": {"$lt": 30}})).unwrap();
    let options = SearchOptions {
        filter: Some(&filter),
        ..Default::default()
    };
    let pieces = |index: &HnswIndex, query: &[f32], rows: u32| {
        let mut scan = index.exact_scan_begin(K);
        while !scan.is_done(index) {
            index
                .exact_scan_step(&mut scan, query, &options, rows)
                .unwrap();
        }
        index.exact_scan_finish(scan)
    };
    for (q, rows) in queries
        .chunks_exact(DIMS)
        .take(5)
        .zip([1, 7, 1000, 4096, 50_000])
    {
        let whole = index.exact_search(q, K, &options).unwrap();
        assert_eq!(pieces(&index, q, rows), whole, "{rows} rows a piece");
    }

    let q = &queries[..DIMS];
    let whole = index.exact_search(q, K, &options).unwrap();
    let mut scan = index.exact_scan_begin(K);
    while !scan.is_done(&index) {
        index.exact_scan_step(&mut scan, q, &options, 4096).unwrap();
    }
    // The best hit is deleted and an exact copy of the query appended before the scan ends.
    index.delete(&whole[0].id).unwrap();
    index.insert("copy", q, Some(json!({"bucket": 1}))).unwrap();
    assert!(
        !scan.is_done(&index),
        "the appended row is still to be scored"
    );
    while !scan.is_done(&index) {
        index.exact_scan_step(&mut scan, q, &options, 4096).unwrap();
    }
    let found = ids(&index.exact_scan_finish(scan));
    assert_eq!(found[0], "copy");
    assert!(!found.contains(&whole[0].id), "{found:?}");
    assert_eq!(found.len(), K);
}

/// `stop` ends an exact scan (a selective filter's, or `exact_search`) with `Error::Stopped`;
/// a walk is short and does not ask. `plans_exact_scan` says beforehand which it will be.
#[test]
fn stop_ends_a_scan_and_plans_say_which_searches_scan() {
    let (index, _, queries) = bucketed_index();
    let q = &queries[..DIMS];
    let selective = Filter::parse(&json!({"bucket": 7})).unwrap();
    let broad = Filter::parse(&json!({"bucket": {"$lt": 900}})).unwrap();
    let stop_now = || true;
    let with = |filter: &'static Filter| SearchOptions {
        filter: Some(filter),
        ..Default::default()
    };
    let selective: &'static Filter = Box::leak(Box::new(selective));
    let broad: &'static Filter = Box::leak(Box::new(broad));
    assert!(index.plans_exact_scan(K, &with(selective)));
    assert!(!index.plans_exact_scan(K, &with(broad)));
    assert!(!index.plans_exact_scan(K, &SearchOptions::default()));
    assert!(index.plans_exact_scan(ROWS, &SearchOptions::default()));

    let stopped = SearchOptions {
        stop: Some(&stop_now),
        ..with(selective)
    };
    assert_eq!(
        index.search(q, K, &stopped),
        Err(vecgate_core::Error::Stopped)
    );
    assert_eq!(
        index.exact_search(q, K, &stopped),
        Err(vecgate_core::Error::Stopped)
    );
    let walked = SearchOptions {
        stop: Some(&stop_now),
        ..with(broad)
    };
    assert_eq!(index.search(q, K, &walked).unwrap().len(), K);
    let never = || false;
    let unstopped = SearchOptions {
        stop: Some(&never),
        ..with(selective)
    };
    assert_eq!(
        index.search(q, K, &unstopped).unwrap(),
        index.exact_search(q, K, &with(selective)).unwrap()
    );
}
