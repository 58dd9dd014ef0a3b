//! A compact HNSW (hierarchical navigable small world) index: string ids, incremental insert and
//! upsert, deletes with neighbour repair, filtered search with an exact fallback, f32 or int8
//! storage, and a checked byte format. It runs the same natively, in wasm and in the Spin
//! component (no threads unless the `parallel` feature is on).
//!
//! ```
//! use vecgate_core::hnsw::{HnswConfig, HnswIndex, SearchOptions};
//!
//! let mut index = HnswIndex::new(HnswConfig::new(3)).unwrap();
//! index.insert("movie-603", &[0.9, 0.1, 0.0], None).unwrap();
//! index.insert("movie-604", &[0.0, 1.0, 0.0], None).unwrap();
//! let hits = index.search(&[1.0, 0.0, 0.0], 1, &SearchOptions::default()).unwrap();
//! assert_eq!(hits[0].id, "movie-603");
//! let copy = HnswIndex::from_bytes(&index.to_bytes()).unwrap();
//! assert_eq!(copy.len(), 2);
//! ```
//!
//! The code is split by phase, like pgvector's `hnsw*.c`:
//! - `graph`: node levels and flat neighbour arrays; `vectors`: the f32/int8 rows and scores;
//! - `insert`: insert, upsert and the batch build; `neighbors`: the selection heuristic;
//! - `search`: greedy descent, beam search, filters and the exact-scan fallback;
//! - `delete`: tombstones, neighbour repair and compaction;
//! - `serialize`: the byte format and its validation.
//!
//! Scores are "higher is better": cosine similarity for [`Metric::Cosine`] (vectors are stored
//! normalized and compared by inner product), the inner product for [`Metric::Dot`], and the
//! negated squared distance for [`Metric::L2`].

mod delete;
mod graph;
mod insert;
mod neighbors;
mod scan;
mod search;
mod serialize;
mod vectors;

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::kernels::Metric;
use crate::{Error, Result};

use graph::Graph;
use search::Scratch;
use vectors::Vectors;

pub use insert::HnswItem;
pub use scan::ExactScan;
pub use search::{ItemPredicate, SearchHit, SearchOptions, STOP_CHECK_ROWS};

/// How vectors are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// Full-precision rows (4 bytes per dimension).
    F32,
    /// int8 codes with one scale per row (1 byte per dimension). The graph is built and walked
    /// with integer inner products. With `keep_f32_for_rescore`, f32 copies are kept too and the
    /// final candidates are rescored exactly (better ranking, 5 bytes per dimension).
    Int8 { keep_f32_for_rescore: bool },
}

/// Index parameters. The dimension is fixed when the index is created.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HnswConfig {
    pub dims: usize,
    /// Neighbours per node on the upper levels; level 0 keeps up to `2·m`.
    pub m: usize,
    /// Beam width while inserting: larger builds a better graph, more slowly.
    pub ef_construction: usize,
    /// Default beam width while searching (raised to `k` when smaller).
    pub ef_search: usize,
    pub metric: Metric,
    pub storage: Storage,
    /// Seeds the level assignment, so the same inserts build the same graph.
    pub seed: u64,
}

/// Largest accepted `m` (level 0 then holds 256 neighbours).
pub const MAX_M: usize = 128;
/// Largest accepted dimension (int8 inner products stay exact in i32 up to 131,072).
pub const MAX_DIMS: usize = 65_536;
/// Largest accepted beam width.
pub const MAX_EF: usize = 1 << 20;

impl HnswConfig {
    /// Defaults for `dims` dimensions: cosine, f32, `m` 16, `ef_construction` 200 and
    /// `ef_search` 64 (recall@10 ≥ 0.99 on the movie set and on clustered 768-d data; see
    /// `bench/README.md`).
    pub fn new(dims: usize) -> Self {
        HnswConfig {
            dims,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            metric: Metric::Cosine,
            storage: Storage::F32,
            seed: 0x5EED,
        }
    }

    /// Err when a parameter is out of range.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, msg: String| {
            if ok {
                Ok(())
            } else {
                Err(Error::InvalidArgument(msg))
            }
        };
        check(
            (1..=MAX_DIMS).contains(&self.dims),
            format!("dims must be between 1 and {MAX_DIMS}, got {}", self.dims),
        )?;
        check(
            (2..=MAX_M).contains(&self.m),
            format!("m must be between 2 and {MAX_M}, got {}", self.m),
        )?;
        check(
            (1..=MAX_EF).contains(&self.ef_construction),
            format!(
                "ef_construction must be between 1 and {MAX_EF}, got {}",
                self.ef_construction
            ),
        )?;
        check(
            (1..=MAX_EF).contains(&self.ef_search),
            format!(
                "ef_search must be between 1 and {MAX_EF}, got {}",
                self.ef_search
            ),
        )
    }
}

/// A stored item as returned by [`HnswIndex::get`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem<'a> {
    /// The vector as the index holds it: unit length for cosine, and dequantized (approximate)
    /// for int8 storage without f32 copies.
    pub vector: Vec<f32>,
    pub metadata: Option<&'a Value>,
}

/// The HNSW index. Internal ids are dense `u32` slots; a deleted slot stays as a tombstone
/// (unreachable after neighbour repair) until [`HnswIndex::compact`].
pub struct HnswIndex {
    config: HnswConfig,
    vectors: Vectors,
    graph: Graph,
    /// The string id of each slot; empty for tombstones.
    ids: Vec<String>,
    slots: HashMap<String, u32>,
    metadata: Vec<Option<Value>>,
    deleted: Vec<bool>,
    live: usize,
    /// Reusable search buffers, so a query does not allocate its visited set.
    scratch_pool: Mutex<Vec<Scratch>>,
    /// Threads a batch build plans with (`parallel` feature); 1 is the classic sequential build.
    build_threads: usize,
    /// How many times [`HnswIndex::compact`] renumbered the slots (a scan in pieces restarts).
    compactions: u64,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("config", &self.config)
            .field("len", &self.live)
            .field("slots", &self.ids.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl HnswIndex {
    /// An empty index. Err when the configuration is invalid.
    pub fn new(config: HnswConfig) -> Result<Self> {
        config.validate()?;
        Ok(HnswIndex {
            vectors: Vectors::new(config.dims, config.metric, config.storage),
            graph: Graph::new(config.m),
            config,
            ids: Vec::new(),
            slots: HashMap::new(),
            metadata: Vec::new(),
            deleted: Vec::new(),
            live: 0,
            scratch_pool: Mutex::new(Vec::new()),
            build_threads: default_build_threads(),
            compactions: 0,
        })
    }

    pub fn config(&self) -> &HnswConfig {
        &self.config
    }

    pub fn dims(&self) -> usize {
        self.config.dims
    }

    /// Number of live (not deleted) items.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Number of slots including tombstones; [`HnswIndex::compact`] brings it down to `len()`.
    pub fn slot_count(&self) -> usize {
        self.ids.len()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.slots.contains_key(id)
    }

    /// The ids of the live items, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    /// The stored vector and metadata of `id`.
    /// The metadata of `id`, without decoding its vector (`None` for an unknown id or none).
    pub fn metadata(&self, id: &str) -> Option<&Value> {
        self.metadata[*self.slots.get(id)? as usize].as_ref()
    }

    pub fn get(&self, id: &str) -> Option<StoredItem<'_>> {
        let slot = *self.slots.get(id)? as usize;
        Some(StoredItem {
            vector: self.vectors.decode(slot),
            metadata: self.metadata[slot].as_ref(),
        })
    }

    /// Heap bytes held by the index: vectors, neighbour lists, levels, ids and the id map,
    /// metadata and tombstone flags (search scratch buffers are not counted).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let ids = self.ids.capacity() * size_of::<String>()
            + self.ids.iter().map(String::capacity).sum::<usize>();
        // hashbrown keeps one control byte per bucket next to each (key, value) bucket.
        let id_map = self.slots.capacity() * (size_of::<(String, u32)>() + 1)
            + self.slots.keys().map(String::capacity).sum::<usize>();
        let metadata = self.metadata.capacity() * size_of::<Option<Value>>()
            + self
                .metadata
                .iter()
                .flatten()
                .map(json_heap_bytes)
                .sum::<usize>();
        self.vectors.heap_bytes()
            + self.graph.heap_bytes()
            + ids
            + id_map
            + metadata
            + self.deleted.capacity()
    }

    /// [`HnswIndex::memory_bytes`] divided by the number of live items (0 when empty).
    pub fn bytes_per_vector(&self) -> f64 {
        if self.live == 0 {
            0.0
        } else {
            self.memory_bytes() as f64 / self.live as f64
        }
    }

    /// Threads [`HnswIndex::upsert_batch`] links new items with. The default is every core with
    /// the `parallel` feature and 1 without it (where larger values are ignored). With 1, nodes
    /// are linked one at a time, each seeing all before it: the classic build, deterministic for
    /// a given seed. Not part of the byte format.
    pub fn set_build_threads(&mut self, threads: usize) {
        self.build_threads = if cfg!(feature = "parallel") {
            threads.max(1)
        } else {
            1
        };
    }

    pub fn build_threads(&self) -> usize {
        self.build_threads
    }

    fn take_scratch(&self) -> Scratch {
        let pooled = self
            .scratch_pool
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop());
        pooled.unwrap_or_default()
    }

    fn return_scratch(&self, scratch: Scratch) {
        if let Ok(mut pool) = self.scratch_pool.lock() {
            pool.push(scratch);
        }
    }

    #[inline(always)]
    fn is_live(&self, slot: u32) -> bool {
        !self.deleted[slot as usize]
    }
}

#[cfg(feature = "parallel")]
fn default_build_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(not(feature = "parallel"))]
fn default_build_threads() -> usize {
    1
}

/// Approximate heap bytes of a JSON value (strings, arrays and object entries).
fn json_heap_bytes(v: &Value) -> usize {
    use std::mem::size_of;
    match v {
        Value::String(s) => s.capacity(),
        Value::Array(a) => {
            a.capacity() * size_of::<Value>() + a.iter().map(json_heap_bytes).sum::<usize>()
        }
        // A B-tree map entry: the key, the value, and about a word of node overhead.
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| {
                size_of::<String>() + k.capacity() + size_of::<Value>() + 8 + json_heap_bytes(v)
            })
            .sum(),
        _ => 0,
    }
}
