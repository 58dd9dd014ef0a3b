//! HNSW deletes: recall after deleting 30% stays close to a fresh build; compaction reclaims
//! memory without changing results.

mod hnsw_support;

use hnsw_support::{clustered, ground_truth, items, recall, search_ids, Rng};
use vecgate_core::hnsw::{HnswConfig, HnswIndex, HnswItem, SearchOptions};

const ROWS: usize = 10_000;
const DIMS: usize = 128;
const QUERIES: usize = 200;

/// Deletes a seeded 30% of `v0..v{ROWS}`; returns the kept row numbers.
fn delete_30_percent(index: &mut HnswIndex) -> Vec<usize> {
    let mut rng = Rng::new(77);
    let mut kept = Vec::new();
    for row in 0..ROWS {
        if rng.uniform() < 0.3 {
            index.delete(&format!("v{row}")).unwrap();
        } else {
            kept.push(row);
        }
    }
    kept
}

#[test]
fn recall_after_deleting_30_percent_matches_a_fresh_build() {
    let data = clustered(ROWS, QUERIES, DIMS, 8);
    let mut index = HnswIndex::new(HnswConfig::new(DIMS)).unwrap();
    index.upsert_batch(items(&data.data, DIMS)).unwrap();
    let kept = delete_30_percent(&mut index);
    assert_eq!(index.len(), kept.len());
    assert!((0.27..0.33).contains(&(1.0 - kept.len() as f64 / ROWS as f64)));

    let remaining: Vec<f32> = kept
        .iter()
        .flat_map(|&r| data.data[r * DIMS..(r + 1) * DIMS].iter().copied())
        .collect();
    let mut fresh = HnswIndex::new(HnswConfig::new(DIMS)).unwrap();
    fresh
        .upsert_batch(
            kept.iter()
                .map(|&r| HnswItem {
                    id: format!("v{r}"),
                    vector: data.data[r * DIMS..(r + 1) * DIMS].to_vec(),
                    metadata: None,
                })
                .collect(),
        )
        .unwrap();
    let truth: Vec<Vec<String>> = ground_truth(&remaining, &data.queries, DIMS, 10)
        .iter()
        .map(|rows| rows.iter().map(|&i| format!("v{}", kept[i])).collect())
        .collect();
    // The default ef, and a narrow beam where a damaged graph would show.
    for ef in [None, Some(12)] {
        let options = SearchOptions {
            ef,
            ..Default::default()
        };
        let after_delete = recall(&search_ids(&index, &data.queries, 10, &options), &truth);
        let rebuilt = recall(&search_ids(&fresh, &data.queries, 10, &options), &truth);
        println!("ef {ef:?}: after deletes {after_delete:.4}, fresh build {rebuilt:.4}");
        assert!(
            after_delete >= rebuilt - 0.02,
            "ef {ef:?}: {after_delete:.4} vs {rebuilt:.4}"
        );
    }
    // Deleted ids are never returned.
    for hits in search_ids(&index, &data.queries, 10, &SearchOptions::default()) {
        for id in hits {
            assert!(index.contains(&id), "{id} was deleted");
        }
    }
}

#[test]
fn compaction_reclaims_memory_and_keeps_results() {
    let data = clustered(3_000, 50, 64, 9);
    let mut index = HnswIndex::new(HnswConfig::new(64)).unwrap();
    index.upsert_batch(items(&data.data, 64)).unwrap();
    let mut rng = Rng::new(5);
    for row in 0..3_000 {
        if rng.uniform() < 0.4 {
            index.delete(&format!("v{row}")).unwrap();
        }
    }
    // Upserts leave tombstones too.
    for row in (1..3_000).step_by(97) {
        let id = format!("v{row}");
        if index.contains(&id) {
            let v = data.data[(row - 1) * 64..row * 64].to_vec();
            index.upsert(&id, &v, None).unwrap();
        }
    }
    let before_bytes = index.memory_bytes();
    let slots_before = index.slot_count();
    let options = SearchOptions {
        ef: Some(20),
        ..Default::default()
    };
    let queries: Vec<&[f32]> = data.queries.chunks_exact(64).collect();
    let before: Vec<_> = queries
        .iter()
        .map(|q| index.search(q, 10, &options).unwrap())
        .collect();

    index.compact();
    assert_eq!(index.slot_count(), index.len());
    assert!(slots_before > index.len());
    let after_bytes = index.memory_bytes();
    assert!(
        (after_bytes as f64) < before_bytes as f64 * 0.75,
        "{before_bytes} -> {after_bytes}"
    );
    let after: Vec<_> = queries
        .iter()
        .map(|q| index.search(q, 10, &options).unwrap())
        .collect();
    assert_eq!(before, after);

    // The compacted index keeps working for inserts and deletes.
    index.insert("new", &data.queries[..64], None).unwrap();
    assert_eq!(
        index.search(&data.queries[..64], 1, &options).unwrap()[0].id,
        "new"
    );
    index.delete("new").unwrap();
    assert!(!index.contains("new"));
}
