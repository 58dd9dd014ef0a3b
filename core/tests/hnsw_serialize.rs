//! HNSW byte format: round trips, and truncated, corrupted or hostile bytes give an error
//! (never a panic).

mod hnsw_support;

use std::path::PathBuf;

use hnsw_support::{clustered, Rng};
use serde_json::json;
use vecgate_core::checksum::crc32;
use vecgate_core::hnsw::{HnswConfig, HnswIndex, HnswItem, SearchOptions, Storage};
use vecgate_core::kernels::Metric;
use vecgate_core::Error;

const STORAGES: [Storage; 3] = [
    Storage::F32,
    Storage::Int8 {
        keep_f32_for_rescore: false,
    },
    Storage::Int8 {
        keep_f32_for_rescore: true,
    },
];

/// A small index with metadata, a deleted item and an upserted one (so it has tombstones).
fn small_index(n: usize, dims: usize, metric: Metric, storage: Storage) -> HnswIndex {
    let data = clustered(n, 0, dims, 4).data;
    let config = HnswConfig {
        metric,
        storage,
        m: 4,
        ..HnswConfig::new(dims)
    };
    let mut index = HnswIndex::new(config).unwrap();
    let items = data
        .chunks_exact(dims)
        .enumerate()
        .map(|(i, v)| HnswItem {
            id: format!("movie-{i}"),
            vector: v.to_vec(),
            metadata: (i % 3 != 0)
                .then(|| json!({"year": 1990 + i, "genres": ["Drama"], "t": "é"})),
        })
        .collect();
    index.upsert_batch(items).unwrap();
    if n > 3 {
        index.delete("movie-1").unwrap();
        index
            .upsert("movie-2", &data[..dims], Some(json!({"replaced": true})))
            .unwrap();
    }
    index
}

/// Recomputes the trailing checksum, so the loader's other checks are what reject the bytes.
fn reseal(bytes: &mut [u8]) {
    let body = bytes.len() - 4;
    let crc = crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

// Header offsets (see the table in `hnsw/serialize.rs`).
const DIMS_AT: usize = 16;
const M_AT: usize = 20;
const SLOTS_AT: usize = 40;
const ENTRY_AT: usize = 44;
const UPPER_AT: usize = 48;
const LEVELS_AT: usize = 52;

#[test]
fn round_trip_keeps_results_and_bytes() {
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        for storage in STORAGES {
            let index = small_index(400, 16, metric, storage);
            let bytes = index.to_bytes();
            let loaded = HnswIndex::from_bytes(&bytes).unwrap();
            assert_eq!(loaded.to_bytes(), bytes, "{metric:?} {storage:?}");
            assert_eq!(loaded.len(), index.len());
            assert_eq!(loaded.config(), index.config());
            assert_eq!(loaded.get("movie-5"), index.get("movie-5"));
            assert!(!loaded.contains("movie-1"));
            let queries = clustered(0, 20, 16, 99).queries;
            for q in queries.chunks_exact(16) {
                let options = SearchOptions {
                    ef: Some(16),
                    ..Default::default()
                };
                assert_eq!(
                    loaded.search(q, 10, &options).unwrap(),
                    index.search(q, 10, &options).unwrap()
                );
            }
        }
    }
    let empty = HnswIndex::new(HnswConfig::new(3)).unwrap();
    let loaded = HnswIndex::from_bytes(&empty.to_bytes()).unwrap();
    assert!(loaded.is_empty());
    // A loaded index keeps accepting inserts.
    let mut loaded =
        HnswIndex::from_bytes(&small_index(50, 8, Metric::Cosine, Storage::F32).to_bytes())
            .unwrap();
    loaded.insert("new", &[1.0; 8], None).unwrap();
    assert_eq!(
        loaded
            .search(&[1.0; 8], 1, &SearchOptions::default())
            .unwrap()[0]
            .id,
        "new"
    );
}

#[test]
fn every_truncation_is_an_error() {
    for storage in STORAGES {
        let bytes = small_index(12, 4, Metric::Cosine, storage).to_bytes();
        for len in 0..bytes.len() {
            let err = HnswIndex::from_bytes(&bytes[..len]).unwrap_err();
            assert!(matches!(err, Error::Format(_)), "prefix {len}: {err}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(HnswIndex::from_bytes(&longer).is_err());
    }
}

#[test]
fn random_byte_flips_are_errors() {
    let bytes = small_index(
        40,
        6,
        Metric::L2,
        Storage::Int8 {
            keep_f32_for_rescore: true,
        },
    )
    .to_bytes();
    let mut rng = Rng::new(1234);
    for _ in 0..3000 {
        let mut corrupted = bytes.clone();
        let at = rng.below(corrupted.len());
        corrupted[at] ^= 1 + rng.below(255) as u8;
        assert!(HnswIndex::from_bytes(&corrupted).is_err(), "flip at {at}");
    }
}

#[test]
fn resealed_random_corruption_never_panics() {
    // With the checksum recomputed, the structural checks must catch what the CRC would have.
    let bytes = small_index(40, 6, Metric::Cosine, Storage::F32).to_bytes();
    let mut rng = Rng::new(99);
    let mut rejected = 0;
    for round in 0..3000 {
        let mut corrupted = bytes.clone();
        for _ in 0..1 + round % 4 {
            let at = rng.below(corrupted.len() - 4);
            corrupted[at] = rng.next_u64() as u8;
        }
        reseal(&mut corrupted);
        if let Ok(index) = HnswIndex::from_bytes(&corrupted) {
            // Whatever loads must be usable.
            index
                .search(&[0.5; 6], 5, &SearchOptions::default())
                .unwrap();
        } else {
            rejected += 1;
        }
    }
    assert!(rejected > 1000, "{rejected}");
}

#[test]
fn hostile_bytes_are_errors() {
    let good = small_index(20, 4, Metric::Cosine, Storage::F32).to_bytes();
    HnswIndex::from_bytes(&good).unwrap();
    let slots = u32::from_le_bytes(good[SLOTS_AT..SLOTS_AT + 4].try_into().unwrap()) as usize;
    let level0_at = LEVELS_AT + 2 * slots;
    // The id section starts with slot 0's id, "movie-0"; the f32 rows end right before it.
    let ids_at = good
        .windows(11)
        .position(|w| w == b"\x07\0\0\0movie-0")
        .unwrap();
    let rows_at = ids_at - slots * 4 * 4;
    // Slots 1 and 2 are tombstones (empty ids), so slot 3's id "movie-3" starts here.
    let movie_3 = ids_at + (4 + 7) + 4 + 4 + 4;
    assert_eq!(&good[movie_3..movie_3 + 7], b"movie-3");
    type Corrupt = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, &str, Corrupt)> = vec![
        ("magic", "magic", Box::new(|b| b[0] = b'X')),
        ("version", "version 2", Box::new(|b| put_u32(b, 8, 2))),
        ("metric", "metric", Box::new(|b| b[12] = 9)),
        ("storage", "storage", Box::new(|b| b[13] = 3)),
        ("reserved", "reserved", Box::new(|b| b[14] = 1)),
        (
            "huge slot count",
            "truncated",
            Box::new(|b| put_u32(b, SLOTS_AT, u32::MAX)),
        ),
        (
            "huge dims",
            "dims",
            Box::new(|b| put_u32(b, DIMS_AT, u32::MAX)),
        ),
        ("zero dims", "dims", Box::new(|b| put_u32(b, DIMS_AT, 0))),
        (
            "huge m",
            "m must be",
            Box::new(|b| put_u32(b, M_AT, 1 << 30)),
        ),
        (
            "entry out of range",
            "entry point",
            Box::new(|b| put_u32(b, ENTRY_AT, 1_000_000)),
        ),
        (
            "no entry",
            "entry point",
            Box::new(|b| put_u32(b, ENTRY_AT, u32::MAX)),
        ),
        (
            "deleted entry",
            "entry point",
            Box::new(|b| put_u32(b, ENTRY_AT, 1)),
        ),
        (
            "upper words",
            "upper-list",
            Box::new(|b| put_u32(b, UPPER_AT, u32::MAX - 1)),
        ),
        ("level too high", "level", Box::new(|b| b[LEVELS_AT] = 200)),
        (
            "tombstone flag",
            "tombstone",
            Box::new(move |b| b[LEVELS_AT + slots] = 7),
        ),
        (
            "neighbour count",
            "neighbours",
            Box::new(move |b| put_u32(b, level0_at, 1000)),
        ),
        (
            "neighbour id",
            "invalid neighbour",
            Box::new(move |b| put_u32(b, level0_at + 4, 5000)),
        ),
        (
            "self loop",
            "invalid neighbour",
            Box::new(move |b| put_u32(b, level0_at + 4, 0)),
        ),
        (
            "NaN vector",
            "NaN",
            Box::new(move |b| b[rows_at..rows_at + 4].copy_from_slice(&f32::NAN.to_le_bytes())),
        ),
        (
            "huge vector",
            "too long",
            Box::new(move |b| b[rows_at..rows_at + 4].copy_from_slice(&1e30f32.to_le_bytes())),
        ),
        (
            "bad UTF-8 id",
            "UTF-8",
            Box::new(move |b| b[ids_at + 4] = 0xFF),
        ),
        (
            "duplicate id",
            "duplicate",
            Box::new(move |b| b[movie_3 + 6] = b'0'),
        ),
        (
            "id on a tombstone",
            "deleted",
            Box::new(move |b| put_u32(b, ids_at + 11, 1)),
        ),
        (
            "bad JSON",
            "JSON",
            Box::new(|b| {
                let at = b.windows(6).position(|w| w == b"\"year\"").unwrap();
                b[at] = b'{';
            }),
        ),
    ];
    for (name, expect, corrupt) in cases {
        let mut bytes = good.clone();
        corrupt(&mut bytes);
        reseal(&mut bytes);
        match HnswIndex::from_bytes(&bytes) {
            Err(Error::Format(message)) => {
                assert!(message.contains(expect), "{name}: {message}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/hnsw_load")
}

/// The committed fuzz seeds are valid current-format indexes. `VECGATE_WRITE_FUZZ_SEEDS=1`
/// rewrites them (after a format change).
#[test]
fn fuzz_seed_corpus_is_valid() {
    let seeds = [
        (
            "f32_cosine.bin",
            small_index(12, 4, Metric::Cosine, Storage::F32),
        ),
        (
            "int8_l2.bin",
            small_index(
                10,
                3,
                Metric::L2,
                Storage::Int8 {
                    keep_f32_for_rescore: true,
                },
            ),
        ),
        ("empty.bin", HnswIndex::new(HnswConfig::new(2)).unwrap()),
    ];
    if std::env::var_os("VECGATE_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(corpus_dir()).unwrap();
        for (name, index) in &seeds {
            std::fs::write(corpus_dir().join(name), index.to_bytes()).unwrap();
        }
    }
    for (name, index) in &seeds {
        let path = corpus_dir().join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            bytes,
            index.to_bytes(),
            "{name} is stale: rerun with VECGATE_WRITE_FUZZ_SEEDS=1"
        );
        HnswIndex::from_bytes(&bytes).unwrap();
    }
}
