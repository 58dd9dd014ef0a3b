//! Feeds arbitrary bytes to the HNSW loader: it must return `Err` or a usable index, never
//! panic or read out of bounds. Seeds: `fuzz/corpus/hnsw_load/` (valid indexes written by the
//! `fuzz_seed_corpus_is_valid` test in `core/tests/hnsw_serialize.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vecgate_core::checksum::crc32;
use vecgate_core::hnsw::{HnswIndex, SearchOptions};

fn load(data: &[u8]) {
    if let Ok(index) = HnswIndex::from_bytes(data) {
        // Whatever loads must search, and load again after re-serializing (metadata JSON may
        // be re-formatted, so the bytes themselves can differ).
        let query = vec![0.5f32; index.dims()];
        let hits = index
            .search(&query, 5, &SearchOptions::default())
            .expect("a loaded index searches");
        assert_eq!(hits.len(), index.len().min(5));
        let again = HnswIndex::from_bytes(&index.to_bytes()).expect("re-serialized bytes load");
        assert_eq!(again.len(), index.len());
    }
}

fuzz_target!(|data: &[u8]| {
    load(data);
    // Most mutations break the checksum; with it recomputed they reach the structural checks.
    if let Some(body_len) = data.len().checked_sub(4) {
        let mut sealed = data.to_vec();
        let crc = crc32(&sealed[..body_len]);
        sealed[body_len..].copy_from_slice(&crc.to_le_bytes());
        load(&sealed);
    }
});
