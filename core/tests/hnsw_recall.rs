//! HNSW recall@10 against exact search at the default `ef_search`.

mod hnsw_support;

use hnsw_support::{
    clustered, ground_truth, items, movie_queries, movies, recall, row_ids, search_ids,
};
use vecgate_core::hnsw::{HnswConfig, HnswIndex, HnswItem, SearchOptions, Storage};

/// The issue asks for 100k×768; building that takes minutes in the test profile on two shared
/// cores, so the test uses 20k×768 and the benchmark (`bench/run-hnsw.sh`) covers 100k×768.
const SYNTHETIC_ROWS: usize = 20_000;
const DIMS: usize = 768;
const QUERIES: usize = 100;

#[test]
fn synthetic_clustered_768d_recall_at_default_ef() {
    let data = clustered(SYNTHETIC_ROWS, QUERIES, DIMS, 42);
    let truth = row_ids(&ground_truth(&data.data, &data.queries, DIMS, 10));
    for storage in [
        Storage::F32,
        Storage::Int8 {
            keep_f32_for_rescore: true,
        },
        Storage::Int8 {
            keep_f32_for_rescore: false,
        },
    ] {
        let mut index = HnswIndex::new(HnswConfig {
            storage,
            ..HnswConfig::new(DIMS)
        })
        .unwrap();
        index.upsert_batch(items(&data.data, DIMS)).unwrap();
        let found = search_ids(&index, &data.queries, 10, &SearchOptions::default());
        let r = recall(&found, &truth);
        println!(
            "{storage:?}: recall@10 {r:.4}, {:.0} bytes/vector",
            index.bytes_per_vector()
        );
        assert!(r >= 0.95, "{storage:?}: recall@10 {r:.4}");
    }
}

#[test]
fn movie_set_recall_at_default_ef() {
    let movies = movies();
    let dims = movies[0].vector.len();
    assert_eq!((movies.len(), dims), (3200, 384));
    let matrix: Vec<f32> = movies
        .iter()
        .flat_map(|m| m.vector.iter().copied())
        .collect();
    let mut index = HnswIndex::new(HnswConfig::new(dims)).unwrap();
    index
        .upsert_batch(
            movies
                .iter()
                .map(|m| HnswItem {
                    id: m.id.clone(),
                    vector: m.vector.clone(),
                    metadata: Some(m.metadata.clone()),
                })
                .collect(),
        )
        .unwrap();
    let to_ids = |rows: Vec<Vec<usize>>| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|&i| movies[i].id.clone()).collect())
            .collect()
    };

    // The 12 text queries shipped with the data set.
    let queries: Vec<f32> = movie_queries().concat();
    assert_eq!(queries.len(), 12 * dims);
    let truth = to_ids(ground_truth(&matrix, &queries, dims, 10));
    let r = recall(
        &search_ids(&index, &queries, 10, &SearchOptions::default()),
        &truth,
    );
    println!("movie text queries: recall@10 {r:.4}");
    assert!(r >= 0.95, "text queries: recall@10 {r:.4}");

    // Every 16th film as a query (find-similar); 200 queries give a steadier figure.
    let films: Vec<f32> = matrix
        .chunks_exact(dims)
        .step_by(16)
        .flatten()
        .copied()
        .collect();
    let truth = to_ids(ground_truth(&matrix, &films, dims, 10));
    let r = recall(
        &search_ids(&index, &films, 10, &SearchOptions::default()),
        &truth,
    );
    println!("movie find-similar queries: recall@10 {r:.4}");
    assert!(r >= 0.95, "film queries: recall@10 {r:.4}");
}

/// One build thread is the classic build: one batch of N equals N single upserts, byte for byte.
/// Every core (with the `parallel` feature, as in `vecgate import`) keeps the recall of that
/// build: at a low ef, where a worse graph shows, within 0.01 on the movie set.
#[test]
fn build_threads_one_is_the_classic_build_and_more_keep_its_recall() {
    let movies = movies();
    let dims = movies[0].vector.len();
    let all: Vec<HnswItem> = movies
        .iter()
        .map(|m| HnswItem {
            id: m.id.clone(),
            vector: m.vector.clone(),
            metadata: None,
        })
        .collect();
    let build = |threads: usize, items: &[HnswItem], one_by_one: bool| {
        let mut index = HnswIndex::new(HnswConfig::new(dims)).unwrap();
        index.set_build_threads(threads);
        if one_by_one {
            for item in items {
                index.upsert_batch(vec![item.clone()]).unwrap();
            }
        } else {
            index.upsert_batch(items.to_vec()).unwrap();
        }
        index
    };
    let first = &all[..800];
    assert_eq!(
        build(1, first, false).to_bytes(),
        build(1, first, true).to_bytes(),
        "one build thread must link one node at a time"
    );

    let classic = build(1, &all, false);
    let threaded = build(4, &all, false);
    if cfg!(feature = "parallel") {
        assert_eq!(threaded.build_threads(), 4);
    } else {
        assert_eq!(threaded.build_threads(), 1, "no threads without `parallel`");
    }
    let matrix: Vec<f32> = movies.iter().flat_map(|m| m.vector.clone()).collect();
    let queries: Vec<f32> = matrix
        .chunks_exact(dims)
        .step_by(16)
        .flatten()
        .copied()
        .collect();
    let truth: Vec<Vec<String>> = ground_truth(&matrix, &queries, dims, 10)
        .iter()
        .map(|r| r.iter().map(|&i| movies[i].id.clone()).collect())
        .collect();
    let low_ef = SearchOptions {
        ef: Some(16),
        ..SearchOptions::default()
    };
    let classic_recall = recall(&search_ids(&classic, &queries, 10, &low_ef), &truth);
    let threaded_recall = recall(&search_ids(&threaded, &queries, 10, &low_ef), &truth);
    println!("ef 16: recall@10 classic {classic_recall:.4}, 4 build threads {threaded_recall:.4}");
    assert!(
        threaded_recall >= classic_recall - 0.01,
        "4 build threads {threaded_recall:.4} against classic {classic_recall:.4}"
    );
}
