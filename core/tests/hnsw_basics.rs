//! HNSW index: API behaviour on small inputs and edge cases.

mod hnsw_support;

use hnsw_support::{clustered, items, Rng};
use serde_json::json;
use vecgate_core::hnsw::{HnswConfig, HnswIndex, HnswItem, SearchOptions, Storage};
use vecgate_core::kernels::Metric;
use vecgate_core::Error;

const INT8: Storage = Storage::Int8 {
    keep_f32_for_rescore: false,
};
const INT8_RESCORED: Storage = Storage::Int8 {
    keep_f32_for_rescore: true,
};

fn index(dims: usize) -> HnswIndex {
    HnswIndex::new(HnswConfig::new(dims)).unwrap()
}

fn ids(hits: &[vecgate_core::hnsw::SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

fn random_index(n: usize, dims: usize, config: HnswConfig) -> (HnswIndex, Vec<f32>) {
    let data = clustered(n, 0, dims, 11).data;
    let mut idx = HnswIndex::new(config).unwrap();
    idx.upsert_batch(items(&data, dims)).unwrap();
    (idx, data)
}

#[test]
fn empty_index_returns_nothing() {
    let idx = index(4);
    assert!(idx.is_empty());
    assert_eq!(idx.len(), 0);
    assert_eq!(idx.bytes_per_vector(), 0.0);
    let hits = idx
        .search(&[1.0, 0.0, 0.0, 0.0], 10, &SearchOptions::default())
        .unwrap();
    assert!(hits.is_empty());
    assert!(idx.get("a").is_none());
    assert!(!idx.contains("a"));
    assert!(matches!(
        idx.search(&[1.0], 1, &SearchOptions::default()),
        Err(Error::DimensionMismatch { .. })
    ));
}

#[test]
fn single_item_and_k_larger_than_the_index() {
    let mut idx = index(3);
    idx.insert("a", &[1.0, 0.0, 0.0], None).unwrap();
    let hits = idx
        .search(&[1.0, 0.1, 0.0], 5, &SearchOptions::default())
        .unwrap();
    assert_eq!(ids(&hits), vec!["a"]);
    idx.insert("b", &[0.0, 1.0, 0.0], None).unwrap();
    idx.insert("c", &[-1.0, 0.0, 0.0], None).unwrap();
    let hits = idx
        .search(&[1.0, 0.2, 0.0], 50, &SearchOptions::default())
        .unwrap();
    assert_eq!(ids(&hits), vec!["a", "b", "c"]);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(
        (hits[0].score - 1.0 / 1.04f32.sqrt()).abs() < 1e-5,
        "cosine similarity"
    );
    assert!(idx
        .search(&[1.0, 0.0, 0.0], 0, &SearchOptions::default())
        .unwrap()
        .is_empty());

    let (big, data) = random_index(300, 16, HnswConfig::new(16));
    let hits = big
        .search(&data[..16], 1000, &SearchOptions::default())
        .unwrap();
    assert_eq!(hits.len(), 300);
    assert_eq!(hits[0].id, "v0");
}

#[test]
fn duplicate_vectors_are_all_found() {
    let dims = 8;
    let mut idx = index(dims);
    let dup = [0.5f32, -0.25, 1.0, 0.0, 0.3, 0.3, -0.7, 0.1];
    let mut rng = Rng::new(3);
    let mut batch = Vec::new();
    for i in 0..60 {
        batch.push(HnswItem {
            id: format!("dup{i}"),
            vector: dup.to_vec(),
            metadata: None,
        });
        let other: Vec<f32> = (0..dims).map(|_| rng.normal()).collect();
        batch.push(HnswItem {
            id: format!("other{i}"),
            vector: other,
            metadata: None,
        });
    }
    idx.upsert_batch(batch).unwrap();
    let hits = idx.search(&dup, 60, &SearchOptions::default()).unwrap();
    assert_eq!(hits.len(), 60);
    assert!(
        hits.iter()
            .all(|h| h.id.starts_with("dup") && (h.score - 1.0).abs() < 1e-5),
        "{hits:?}"
    );
    // Equal scores come back in insertion order.
    let expect: Vec<String> = (0..60).map(|i| format!("dup{i}")).collect();
    assert_eq!(
        hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>(),
        expect
    );
}

#[test]
fn upserting_the_same_id_twice_replaces_it() {
    let mut idx = index(2);
    idx.upsert("x", &[1.0, 0.0], Some(json!({"v": 1}))).unwrap();
    idx.upsert("y", &[0.0, 1.0], None).unwrap();
    idx.upsert("x", &[-1.0, 0.0], Some(json!({"v": 2})))
        .unwrap();
    assert_eq!(idx.len(), 2);
    let x = idx.get("x").unwrap();
    assert_eq!(x.vector, vec![-1.0, 0.0]);
    assert_eq!(x.metadata, Some(&json!({"v": 2})));
    assert_eq!(idx.metadata("x"), Some(&json!({"v": 2})));
    assert_eq!(idx.metadata("y"), None);
    assert_eq!(idx.metadata("nope"), None);
    let hits = idx
        .search(&[1.0, 0.0], 2, &SearchOptions::default())
        .unwrap();
    assert_eq!(ids(&hits), vec!["y", "x"]);
    assert!((hits[1].score + 1.0).abs() < 1e-6);
    let err = idx.insert("x", &[1.0, 1.0], None).unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
    let dup_batch = vec![
        HnswItem {
            id: "z".into(),
            vector: vec![1.0, 0.0],
            metadata: None,
        },
        HnswItem {
            id: "z".into(),
            vector: vec![0.0, 1.0],
            metadata: None,
        },
    ];
    assert!(idx.upsert_batch(dup_batch).is_err());
    assert!(!idx.contains("z"), "a rejected batch adds nothing");
}

#[test]
fn bad_vectors_and_configs_are_errors() {
    let mut idx = index(3);
    assert_eq!(
        idx.insert("a", &[1.0, 2.0], None),
        Err(Error::DimensionMismatch {
            expected: 3,
            actual: 2
        })
    );
    assert_eq!(
        idx.insert("a", &[1.0, f32::NAN, 0.0], None),
        Err(Error::NonFinite { index: 1 })
    );
    assert!(idx.insert("", &[1.0, 0.0, 0.0], None).is_err());
    // Finite but so long that scores could overflow to infinity and then NaN.
    assert!(matches!(
        idx.insert("huge", &[1e20, 1e20, 0.0], None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(idx.is_empty());
    idx.insert("a", &[1.0, 0.0, 0.0], None).unwrap();
    assert_eq!(
        idx.search(&[f32::INFINITY, 0.0, 0.0], 1, &SearchOptions::default()),
        Err(Error::NonFinite { index: 0 })
    );
    let zero_ef = SearchOptions {
        ef: Some(0),
        ..Default::default()
    };
    assert!(idx.search(&[1.0, 0.0, 0.0], 1, &zero_ef).is_err());
    assert_eq!(
        idx.delete("missing"),
        Err(Error::NotFound("missing".into()))
    );

    for bad in [
        HnswConfig {
            dims: 0,
            ..HnswConfig::new(1)
        },
        HnswConfig {
            m: 1,
            ..HnswConfig::new(4)
        },
        HnswConfig {
            m: 1000,
            ..HnswConfig::new(4)
        },
        HnswConfig {
            ef_construction: 0,
            ..HnswConfig::new(4)
        },
        HnswConfig {
            ef_search: 0,
            ..HnswConfig::new(4)
        },
    ] {
        assert!(matches!(
            HnswIndex::new(bad),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn deleting_everything_then_inserting_again() {
    let (mut idx, data) = random_index(200, 8, HnswConfig::new(8));
    for i in 0..200 {
        idx.delete(&format!("v{i}")).unwrap();
    }
    assert!(idx.is_empty());
    assert!(idx
        .search(&data[..8], 5, &SearchOptions::default())
        .unwrap()
        .is_empty());
    idx.insert("fresh", &data[8..16], None).unwrap();
    let hits = idx
        .search(&data[..8], 5, &SearchOptions::default())
        .unwrap();
    assert_eq!(ids(&hits), vec!["fresh"]);
    idx.compact();
    assert_eq!(idx.slot_count(), 1);
    assert_eq!(
        ids(&idx
            .search(&data[..8], 5, &SearchOptions::default())
            .unwrap()),
        vec!["fresh"]
    );
}

#[test]
fn every_metric_and_storage_finds_the_exact_neighbour() {
    let dims = 24;
    let data = clustered(500, 0, dims, 5).data;
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        for storage in [Storage::F32, INT8, INT8_RESCORED] {
            let config = HnswConfig {
                metric,
                storage,
                ..HnswConfig::new(dims)
            };
            let mut idx = HnswIndex::new(config).unwrap();
            idx.upsert_batch(items(&data, dims)).unwrap();
            let mut found_self = 0;
            for (i, q) in data.chunks_exact(dims).enumerate().take(50) {
                let hits = idx.search(q, 3, &SearchOptions::default()).unwrap();
                assert_eq!(hits.len(), 3);
                found_self += usize::from(hits[0].id == format!("v{i}"));
                if storage != INT8 && metric != Metric::Dot {
                    // The query itself: similarity 1, or distance 0.
                    let expect = if metric == Metric::Cosine { 1.0 } else { 0.0 };
                    assert!(
                        (hits[0].score - expect).abs() < 1e-3,
                        "{metric:?} {storage:?}"
                    );
                }
            }
            // Dot favours long vectors over the query itself; the others find it.
            if metric != Metric::Dot {
                assert!(found_self >= 48, "{metric:?} {storage:?}: {found_self}/50");
            }
        }
    }
}

#[test]
fn same_seed_same_results_and_memory_is_reported() {
    let dims = 32;
    let cfg = HnswConfig {
        seed: 99,
        ..HnswConfig::new(dims)
    };
    let (a, data) = random_index(1500, dims, cfg.clone());
    let (b, _) = random_index(1500, dims, cfg);
    for q in data.chunks_exact(dims).step_by(100) {
        let opts = SearchOptions {
            ef: Some(10),
            ..Default::default()
        };
        assert_eq!(
            a.search(q, 10, &opts).unwrap(),
            b.search(q, 10, &opts).unwrap()
        );
    }
    // 32 f32s + a 33-word level-0 list + id bytes and map, at least.
    let per = a.bytes_per_vector();
    assert!(per > (32 * 4 + 33 * 4) as f64 && per < 1000.0, "{per}");
    let (small, _) = random_index(
        1500,
        dims,
        HnswConfig {
            storage: INT8,
            ..HnswConfig::new(dims)
        },
    );
    assert!(
        small.bytes_per_vector() < per - 90.0,
        "int8 saves 3 bytes per dimension"
    );
}

#[test]
fn the_index_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<HnswIndex>();
    let (idx, data) = random_index(500, 8, HnswConfig::new(8));
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (idx, data) = (&idx, &data);
                s.spawn(move || {
                    idx.search(&data[t * 8..(t + 1) * 8], 3, &SearchOptions::default())
                        .unwrap()
                })
            })
            .collect();
        for (t, w) in workers.into_iter().enumerate() {
            assert_eq!(w.join().unwrap()[0].id, format!("v{t}"));
        }
    });
}
