//! Feeds arbitrary bytes to the candidate-set decoder (`CandidateSet::from_bytes`, what browsers
//! run on cached server bytes): every input must give an `Err` or a set that reranks and
//! round-trips byte for byte, never a panic. Seeds: `fuzz/corpus/candidates_decode/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vecgate_core::candidates::{CandidateQuery, CandidateSet};
use vecgate_core::checksum::crc32;
use vecgate_core::rerank::Weights;

fn decode(data: &[u8]) {
    let Ok(set) = CandidateSet::from_bytes(data) else {
        return;
    };
    let query = vec![0.25f32; set.dims()];
    let k = 5;
    let request = CandidateQuery {
        query: &query,
        preference: None,
        k,
        threshold: None,
        filter: None,
        weights: Weights::default(),
        mmr_lambda: Some(0.5),
        current_year: 2026.0,
    };
    let hits = set.rerank(&request).expect("a decoded set reranks");
    assert!(hits.len() <= set.len().min(k));
    assert!(hits
        .iter()
        .all(|h| h.index < set.len() && h.score.is_finite()));
    let bytes = set.to_bytes();
    let again = CandidateSet::from_bytes(&bytes).expect("re-encoded bytes decode");
    assert_eq!(again, set);
}

fuzz_target!(|data: &[u8]| {
    decode(data);
    // Most mutations break the checksum; with it recomputed they reach the structural checks.
    if let Some(body_len) = data.len().checked_sub(4) {
        let mut sealed = data.to_vec();
        let crc = crc32(&sealed[..body_len]);
        sealed[body_len..].copy_from_slice(&crc.to_le_bytes());
        decode(&sealed);
    }
});
