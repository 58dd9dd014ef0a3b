//! Data for the HNSW tests and benchmark: a seeded clustered-Gaussian generator, the movie set,
//! exact ground truth and recall. Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;
use vecgate_core::hnsw::{HnswIndex, HnswItem, SearchOptions};
use vecgate_core::kernels::Metric;
use vecgate_core::topk::top_k;

/// xorshift64* with Box–Muller normals: reproducible data without a `rand` dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }

    pub fn normal(&mut self) -> f32 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// Gaussian clusters shaped like real embeddings: each cluster has a random centre and spreads
/// mostly along its own random low-dimensional subspace (so neighbourhoods have structure),
/// plus a little isotropic noise. `rows + queries` points, row-major; the first `rows` are the
/// data, the rest the queries (drawn from the same clusters, not in the data).
pub struct Clustered {
    pub dims: usize,
    pub data: Vec<f32>,
    pub queries: Vec<f32>,
}

pub const CLUSTERS: usize = 100;
const SUBSPACE: usize = 32;
const SPREAD: f32 = 0.5;
const NOISE: f32 = 0.3;

pub fn clustered(rows: usize, queries: usize, dims: usize, seed: u64) -> Clustered {
    let mut rng = Rng::new(seed);
    let centres: Vec<f32> = (0..CLUSTERS * dims).map(|_| rng.normal()).collect();
    let bases: Vec<f32> = (0..CLUSTERS * SUBSPACE * dims)
        .map(|_| rng.normal() * SPREAD)
        .collect();
    let point = |rng: &mut Rng, out: &mut Vec<f32>| {
        let c = rng.below(CLUSTERS);
        let z: Vec<f32> = (0..SUBSPACE).map(|_| rng.normal()).collect();
        let start = out.len();
        out.extend_from_slice(&centres[c * dims..(c + 1) * dims]);
        for (j, zj) in z.iter().enumerate() {
            let b = &bases[(c * SUBSPACE + j) * dims..(c * SUBSPACE + j + 1) * dims];
            for (x, bx) in out[start..].iter_mut().zip(b) {
                *x += zj * bx;
            }
        }
        for x in &mut out[start..] {
            *x += NOISE * rng.normal();
        }
    };
    let mut data = Vec::with_capacity(rows * dims);
    for _ in 0..rows {
        point(&mut rng, &mut data);
    }
    let mut qs = Vec::with_capacity(queries * dims);
    for _ in 0..queries {
        point(&mut rng, &mut qs);
    }
    Clustered {
        dims,
        data,
        queries: qs,
    }
}

/// Ids `v0`, `v1`, … for the rows of a row-major matrix.
pub fn items(matrix: &[f32], dims: usize) -> Vec<HnswItem> {
    matrix
        .chunks_exact(dims)
        .enumerate()
        .map(|(i, v)| HnswItem {
            id: format!("v{i}"),
            vector: v.to_vec(),
            metadata: None,
        })
        .collect()
}

/// One line of `movies.jsonl`.
pub struct Movie {
    pub id: String,
    pub media_type: String,
    pub metadata: Value,
    pub vector: Vec<f32>,
}

pub fn movies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/movies")
}

fn read_jsonl(name: &str) -> Vec<Value> {
    let path = movies_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn vector_of(v: &Value) -> Vec<f32> {
    v["vector"]
        .as_array()
        .expect("a vector array")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

pub fn movies() -> Vec<Movie> {
    read_jsonl("movies.jsonl")
        .into_iter()
        .map(|v| Movie {
            id: v["id"].as_str().expect("an id").to_string(),
            media_type: v["media_type"].as_str().unwrap_or_default().to_string(),
            vector: vector_of(&v),
            metadata: v["metadata"].clone(),
        })
        .collect()
}

/// The query vectors of `queries.jsonl`.
pub fn movie_queries() -> Vec<Vec<f32>> {
    read_jsonl("queries.jsonl").iter().map(vector_of).collect()
}

/// Exact top-`k` row numbers of `matrix` for each query (cosine).
pub fn ground_truth(matrix: &[f32], queries: &[f32], dims: usize, k: usize) -> Vec<Vec<usize>> {
    queries
        .chunks_exact(dims)
        .map(|q| {
            top_k(q, matrix, dims, Metric::Cosine, k, f32::NEG_INFINITY)
                .expect("valid input")
                .into_iter()
                .map(|s| s.index)
                .collect()
        })
        .collect()
}

/// Mean fraction of the exact top-k ids found in the returned ids.
pub fn recall(found: &[Vec<String>], truth: &[Vec<String>]) -> f64 {
    let total: usize = truth.iter().map(Vec::len).sum();
    let hit: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| t.iter().filter(|id| f.contains(id)).count())
        .sum();
    hit as f64 / total.max(1) as f64
}

/// The ids the index returns for each query.
pub fn search_ids(
    index: &HnswIndex,
    queries: &[f32],
    k: usize,
    options: &SearchOptions<'_>,
) -> Vec<Vec<String>> {
    queries
        .chunks_exact(index.dims())
        .map(|q| {
            index
                .search(q, k, options)
                .expect("search")
                .into_iter()
                .map(|h| h.id)
                .collect()
        })
        .collect()
}

/// Row numbers turned into `v{row}` ids.
pub fn row_ids(rows: &[Vec<usize>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|i| format!("v{i}")).collect())
        .collect()
}

/// CPU seconds this thread has run (`CLOCK_THREAD_CPUTIME_ID`, exact to the nanosecond): the
/// benchmark builds and searches on one thread. The process's tick-based figure (10 ms steps),
/// and `/proc/thread-self/schedstat` (updated only at scheduler ticks), were too coarse for
/// rounds of a few milliseconds.
pub fn thread_cpu_seconds() -> Option<f64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0;
    ok.then(|| now.tv_sec as f64 + now.tv_nsec as f64 / 1e9)
}

/// Writes a row-major i32 matrix as `.npy`.
pub fn write_npy_i32(path: &std::path::Path, matrix: &[i32], cols: usize) -> std::io::Result<()> {
    write_npy_raw(
        path,
        "<i4",
        matrix.len() / cols.max(1),
        cols,
        &matrix
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

/// Writes a row-major f32 matrix as a NumPy `.npy` file (format 1.0, little-endian).
pub fn write_npy(path: &std::path::Path, matrix: &[f32], dims: usize) -> std::io::Result<()> {
    let raw: Vec<u8> = matrix.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy_raw(path, "<f4", matrix.len() / dims, dims, &raw)
}

fn write_npy_raw(
    path: &std::path::Path,
    descr: &str,
    rows: usize,
    cols: usize,
    raw: &[u8],
) -> std::io::Result<()> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + raw.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(raw);
    std::fs::write(path, out)
}
