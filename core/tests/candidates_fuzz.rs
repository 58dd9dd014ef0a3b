//! The candidate-set decoder against what `fuzz/fuzz_targets/candidates_decode.rs` found, and
//! its committed seeds: valid current-format sets (`VECGATE_WRITE_FUZZ_SEEDS=1` rewrites them
//! after a format change).

use serde_json::json;
use vecgate_core::candidates::{CandidateQuery, CandidateSet, Encoding};
use vecgate_core::checksum::crc32;
use vecgate_core::rerank::Weights;

/// Found by the fuzzer: the code -128 times a scale at the limit dequantized to infinity, and
/// the set decoded but could not rerank. It is refused now.
#[test]
fn an_int8_code_that_dequantizes_to_infinity_is_refused() {
    let mut bytes = include_bytes!("fuzz_regressions/candidates_huge_scale_rerank.bin").to_vec();
    // The fuzzer mutated the body; the harness recomputes the checksum, as here.
    let body = bytes.len() - 4;
    let crc = crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    let err = CandidateSet::from_bytes(&bytes).unwrap_err().to_string();
    assert!(err.contains("NaN or infinite"), "{err}");
}

/// Found by the fuzzer: an item whose `metadata.year` (1e92) is beyond f32 made the whole set
/// fail to rerank. Such a year now gives no recency signal, like a missing one.
#[test]
fn a_year_beyond_f32_does_not_stop_reranking() {
    let mut bytes = include_bytes!("fuzz_regressions/candidates_year_out_of_f32.bin").to_vec();
    let body = bytes.len() - 4;
    let crc = crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    let set = CandidateSet::from_bytes(&bytes).expect("the input decodes");
    assert_eq!(set.metadata(2).unwrap()["year"], 1e92);
    let query = vec![0.25f32; set.dims()];
    let hits = set.rerank(&request(&query, None)).expect("the set reranks");
    assert_eq!(hits.len(), set.len());

    let mut set = CandidateSet::new(2, Encoding::F32).unwrap();
    set.push("movie-1", &[1.0, 0.0], Some(json!({"year": 1e92})))
        .unwrap();
    set.push("movie-2", &[1.0, 0.0], None).unwrap();
    let recency_only = CandidateQuery {
        weights: Weights {
            similarity: 0.0,
            personalization: 0.0,
            recency: 1.0,
            popularity: 0.0,
        },
        ..request(&[1.0, 0.0], None)
    };
    let hits = set.rerank(&recency_only).unwrap();
    assert!(hits.iter().all(|h| h.score == 0.0), "{hits:?}");
}

fn request(query: &[f32], mmr_lambda: Option<f32>) -> CandidateQuery<'_> {
    CandidateQuery {
        query,
        preference: Some(query),
        k: 5,
        threshold: None,
        filter: None,
        weights: Weights::default(),
        mmr_lambda,
        current_year: 2026.0,
    }
}

/// Huge but finite vectors (squared norms overflow f32) still rerank to finite scores.
#[test]
fn huge_finite_vectors_rerank() {
    let big = f32::MAX / 4.0;
    for encoding in [Encoding::F32, Encoding::Int8] {
        let mut set = CandidateSet::new(3, encoding).unwrap();
        set.push("movie-1", &[big, big, 0.0], None).unwrap();
        set.push("movie-2", &[-big, 0.0, big], Some(json!({"year": 1999})))
            .unwrap();
        let set = CandidateSet::from_bytes(&set.to_bytes()).unwrap();
        let query = [1.0, 1.0, 0.0];
        for mmr_lambda in [None, Some(0.5)] {
            let hits = set
                .rerank(&request(&query, mmr_lambda))
                .expect("huge vectors rerank");
            assert_eq!(hits.len(), 2);
            assert_eq!(hits[0].index, 0, "movie-1 points the query's way");
            assert!(hits.iter().all(|h| h.score.is_finite()), "{hits:?}");
        }
    }
}

/// Found by the fuzzer: an int8 scale near `f32::MAX` decoded, and its vectors dequantized to
/// infinity, which reranking then refused.
#[test]
fn an_int8_scale_that_dequantizes_to_infinity_is_refused() {
    let mut set = CandidateSet::new(2, Encoding::Int8).unwrap();
    set.push("movie-1", &[1.0, -1.0], None).unwrap();
    let mut bytes = set.to_bytes();
    // Header (16 bytes), then the id (4 + 7 bytes), then the one scale.
    let scale_at = 16 + 4 + "movie-1".len();
    assert_eq!(
        bytes[scale_at..scale_at + 4],
        (1.0f32 / 127.0).to_le_bytes()
    );
    bytes[scale_at..scale_at + 4].copy_from_slice(&(f32::MAX / 2.0).to_le_bytes());
    let body = bytes.len() - 4;
    let crc = crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    let err = CandidateSet::from_bytes(&bytes).unwrap_err().to_string();
    assert!(err.contains("scale"), "{err}");
}

fn seeds() -> Vec<(&'static str, CandidateSet)> {
    let mut f32_set = CandidateSet::new(4, Encoding::F32).unwrap();
    f32_set
        .push(
            "movie-1",
            &[1.0, 0.0, 0.5, -0.5],
            Some(json!({"title": "A", "year": 1999, "rating": 7.5, "genres": ["Drama"]})),
        )
        .unwrap();
    f32_set.push("tv-2", &[0.0, 0.6, 0.8, 0.0], None).unwrap();
    f32_set
        .push(
            "movie-3",
            &[0.0, 0.0, 0.0, 0.0],
            Some(json!({"popularity": 0.9})),
        )
        .unwrap();
    let mut int8_set = CandidateSet::new(3, Encoding::Int8).unwrap();
    for i in 0..5 {
        let x = i as f32;
        int8_set
            .push(
                &format!("movie-{i}"),
                &[x, 1.0 - x, 0.25 * x],
                Some(json!({"year": 1990 + i})),
            )
            .unwrap();
    }
    vec![
        ("f32_metadata.bin", f32_set),
        ("int8.bin", int8_set),
        ("empty.bin", CandidateSet::new(2, Encoding::F32).unwrap()),
    ]
}

#[test]
fn fuzz_seed_corpus_is_valid() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/candidates_decode");
    let seeds = seeds();
    if std::env::var_os("VECGATE_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, set) in &seeds {
            std::fs::write(dir.join(name), set.to_bytes()).unwrap();
        }
    }
    for (name, set) in &seeds {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            bytes,
            set.to_bytes(),
            "{name} is stale; rewrite it (see the module doc)"
        );
        assert_eq!(&CandidateSet::from_bytes(&bytes).unwrap(), set);
    }
}
