//! The byte format: load an index without rebuilding it.
//!
//! Little-endian throughout, CRC-32 of everything before it at the end:
//!
//! | field | type |
//! |---|---|
//! | magic | `b"VGHNSW\r\n"` |
//! | version | u32 (1) |
//! | metric, storage | u8, u8 (metric: 0 cosine, 1 dot, 2 l2; storage: 0 f32, 1 int8, 2 int8 + f32) |
//! | reserved | u16 (0) |
//! | dims, m, ef_construction, ef_search | u32 × 4 |
//! | seed | u64 |
//! | slots, entry (`u32::MAX` = none), upper-list words | u32 × 3 |
//! | levels, tombstone flags | u8 × slots, u8 × slots |
//! | level-0 lists | u32 × slots·(2m+1): a count, then 2m neighbour slots |
//! | upper lists | u32 × upper-list words: per node and level ≥ 1, a count then m slots |
//! | f32 rows (f32 storage, or int8 + f32) | f32 × slots·dims |
//! | int8 codes, scales (int8 storage) | i8 × slots·dims, f32 × slots |
//! | ids, metadata | per slot: u32 length + UTF-8 bytes; then per slot: u32 length + JSON (0 = none) |
//! | checksum | u32 CRC-32 |
//!
//! Loading checks every length against the bytes left before allocating, and validates every
//! value a search could trip on; bad bytes give [`Error::Format`], never a panic.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::json::{JsonCodec, SerdeJson};

use crate::bytes::{Reader, Writer};
use crate::kernels::Metric;
use crate::{Error, Quoted, Result};

use super::graph::{Graph, MAX_LEVEL};
use super::vectors::Vectors;
use super::{HnswConfig, HnswIndex, Storage};

const MAGIC: &[u8; 8] = b"VGHNSW\r\n";
const VERSION: u32 = 1;
const NO_ENTRY: u32 = u32::MAX;

fn metric_code(metric: Metric) -> u8 {
    match metric {
        Metric::Cosine => 0,
        Metric::Dot => 1,
        Metric::L2 => 2,
    }
}

fn storage_code(storage: Storage) -> u8 {
    match storage {
        Storage::F32 => 0,
        Storage::Int8 {
            keep_f32_for_rescore: false,
        } => 1,
        Storage::Int8 {
            keep_f32_for_rescore: true,
        } => 2,
    }
}

fn format_error(message: impl Into<String>) -> Error {
    Error::Format(message.into())
}

const WHAT: &str = "HNSW index";

impl HnswIndex {
    /// Serializes the index, tombstones included (call [`HnswIndex::compact`] first to drop them).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with(&SerdeJson)
    }

    /// [`HnswIndex::to_bytes`] with metadata written by `json`.
    pub fn to_bytes_with(&self, json: &dyn JsonCodec) -> Vec<u8> {
        let c = &self.config;
        let mut w = Writer::with_capacity(self.memory_bytes() + 64);
        w.bytes(MAGIC);
        w.u32(VERSION);
        w.u8(metric_code(c.metric));
        w.u8(storage_code(c.storage));
        w.u16(0);
        // The config was validated and slot ids are u32, so these all fit.
        for value in [c.dims, c.m, c.ef_construction, c.ef_search] {
            w.u32(value as u32);
        }
        w.u64(c.seed);
        w.u32(self.ids.len() as u32);
        w.u32(self.graph.entry().unwrap_or(NO_ENTRY));
        w.u32(self.graph.upper_raw().len() as u32);
        w.bytes(self.graph.levels());
        w.buf.extend(self.deleted.iter().map(|&d| u8::from(d)));
        for &word in self.graph.level0_raw().iter().chain(self.graph.upper_raw()) {
            w.u32(word);
        }
        w.f32s(self.vectors.rows());
        w.i8s(self.vectors.codes());
        w.f32s(self.vectors.scales());
        for id in &self.ids {
            w.blob(id.as_bytes());
        }
        for metadata in &self.metadata {
            w.blob(
                metadata
                    .as_ref()
                    .map_or(String::new(), |m| json.write(m))
                    .as_bytes(),
            );
        }
        w.finish_with_crc()
    }

    /// Loads an index written by [`HnswIndex::to_bytes`]. Err([`Error::Format`]) for bytes that
    /// are truncated, corrupted, from another version, or inconsistent in any way.
    pub fn from_bytes(bytes: &[u8]) -> Result<HnswIndex> {
        Self::from_bytes_with(bytes, &SerdeJson)
    }

    /// [`HnswIndex::from_bytes`] with metadata parsed by `json`.
    pub fn from_bytes_with(bytes: &[u8], json: &dyn JsonCodec) -> Result<HnswIndex> {
        let mut header = Reader::new(bytes, WHAT);
        if header.take(MAGIC.len()).ok() != Some(MAGIC.as_slice()) {
            return Err(format_error("not a vecgate HNSW index (bad magic)"));
        }
        let version = header.u32()?;
        if version != VERSION {
            return Err(format_error(format!(
                "unsupported HNSW format version {version} (this build reads {VERSION})"
            )));
        }
        let mut r = Reader::with_crc(bytes, WHAT)?;
        r.take(MAGIC.len() + 4)?;
        load_body(&mut r, json)
    }
}

fn read_u32s(r: &mut Reader<'_>, count: usize) -> Result<Vec<u32>> {
    Ok(r.take_items(count, 4)?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Finite f32 values.
fn finite_f32s(r: &mut Reader<'_>, count: usize, what: &str) -> Result<Vec<f32>> {
    let values = r.f32s(count)?;
    if values.iter().any(|x| !x.is_finite()) {
        return Err(r.error(format!("{what}: a value is NaN or infinite")));
    }
    Ok(values)
}

fn load_body(r: &mut Reader<'_>, json: &dyn JsonCodec) -> Result<HnswIndex> {
    let metric = match r.u8()? {
        0 => Metric::Cosine,
        1 => Metric::Dot,
        2 => Metric::L2,
        other => return Err(format_error(format!("unknown metric code {other}"))),
    };
    let storage = match r.u8()? {
        0 => Storage::F32,
        1 => Storage::Int8 {
            keep_f32_for_rescore: false,
        },
        2 => Storage::Int8 {
            keep_f32_for_rescore: true,
        },
        other => return Err(format_error(format!("unknown storage code {other}"))),
    };
    if r.u16()? != 0 {
        return Err(format_error("reserved header bytes are not zero"));
    }
    let config = HnswConfig {
        dims: r.u32()? as usize,
        m: r.u32()? as usize,
        ef_construction: r.u32()? as usize,
        ef_search: r.u32()? as usize,
        metric,
        storage,
        seed: r.u64()?,
    };
    config
        .validate()
        .map_err(|e| format_error(format!("bad configuration: {e}")))?;
    let slots = r.u32()? as usize;
    let entry = r.u32()?;
    let upper_words = r.u32()? as usize;

    let levels = r.take(slots)?.to_vec();
    if let Some(level) = levels.iter().find(|&&l| l > MAX_LEVEL) {
        return Err(format_error(format!("level {level} exceeds {MAX_LEVEL}")));
    }
    let deleted = r
        .take(slots)?
        .iter()
        .map(|&b| match b {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format_error(format!("tombstone flag {other}"))),
        })
        .collect::<Result<Vec<bool>>>()?;
    let expected_upper = levels.iter().map(|&l| l as usize).sum::<usize>() * (config.m + 1);
    if upper_words != expected_upper || upper_words >= u32::MAX as usize {
        return Err(format_error(format!(
            "{upper_words} upper-list words for levels that need {expected_upper}"
        )));
    }
    let level0 = read_u32s(r, slots.saturating_mul(2 * config.m + 1))?;
    let upper = read_u32s(r, upper_words)?;
    let mut graph = Graph::from_parts(config.m, levels, level0, upper);
    graph.validate()?;

    let cells = slots.saturating_mul(config.dims);
    let rows = match storage {
        Storage::F32
        | Storage::Int8 {
            keep_f32_for_rescore: true,
        } => finite_f32s(r, cells, "f32 rows")?,
        _ => Vec::new(),
    };
    let (codes, scales) = match storage {
        Storage::Int8 { .. } => {
            let codes = r.i8s(cells)?;
            let scales = finite_f32s(r, slots, "int8 scales")?;
            if scales.iter().any(|&s| s < 0.0) {
                return Err(format_error("int8 scales: a scale is negative"));
            }
            (codes, scales)
        }
        Storage::F32 => (Vec::new(), Vec::new()),
    };
    let vectors = Vectors::from_parts(config.dims, metric, storage, rows, codes, scales);
    vectors.check_rows()?;

    let mut ids = Vec::with_capacity(slots);
    let mut id_slots = HashMap::with_capacity(slots);
    for (slot, &gone) in deleted.iter().enumerate() {
        let id = r.str()?;
        if gone != id.is_empty() {
            return Err(format_error(format!(
                "slot {slot}: ids must be empty exactly for deleted items"
            )));
        }
        if !gone && id_slots.insert(id.to_string(), slot as u32).is_some() {
            return Err(format_error(format!("duplicate id {}", Quoted(id))));
        }
        ids.push(id.to_string());
    }
    let mut metadata = Vec::with_capacity(slots);
    for (slot, &gone) in deleted.iter().enumerate() {
        let raw = r.blob()?;
        if raw.is_empty() {
            metadata.push(None);
            continue;
        }
        if gone {
            return Err(format_error(format!("deleted slot {slot} has metadata")));
        }
        let value = json
            .parse(raw)
            .map_err(|e| format_error(format!("metadata of slot {slot} is not JSON: {e}")))?;
        metadata.push(Some(value));
    }
    r.finish()?;

    let live = id_slots.len();
    let entry = (entry != NO_ENTRY).then_some(entry);
    match entry {
        None if live > 0 => return Err(format_error("a non-empty index has no entry point")),
        Some(e) if e as usize >= slots || deleted[e as usize] => {
            return Err(format_error(format!("entry point {e} is not a live item")))
        }
        Some(e) => {
            let top = graph.level(e);
            if (0..slots).any(|n| !deleted[n] && graph.level(n as u32) > top) {
                return Err(format_error("the entry point is not on the top level"));
            }
        }
        None => {}
    }
    graph.set_entry(entry);

    Ok(HnswIndex {
        config,
        vectors,
        graph,
        ids,
        slots: id_slots,
        metadata,
        deleted,
        live,
        scratch_pool: Mutex::new(Vec::new()),
        build_threads: super::default_build_threads(),
        compactions: 0,
    })
}
