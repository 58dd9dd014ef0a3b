//! Kernel throughput on a 10k × 768 scan: ours on every path this CPU has (scalar, AVX2, AVX-512,
//! with VNNI where present), f32 and int8, against simsimd (which picks its own best path).
//! Prints figures and same-run ratios; asserts nothing. Run: `cargo bench -p vecgate-core --bench kernels`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aligned_vec::{AVec, ConstAlign};
use simsimd::SpatialSimilarity;
use vecgate_core::kernels::{self, I8QueryLayout};
use vecgate_core::quant::{cosine_i8_unchecked, quantize_into};
use vecgate_core::topk::I8Matrix;

/// Rows and dimensions of the scanned matrix: `VECGATE_KERNELS_ROWS` (default 10,000, 30 MB of
/// f32: bound by memory bandwidth) and `VECGATE_KERNELS_DIMS` (default 768). A small matrix
/// (say 1,000 × 384, 1.5 MB) stays in cache and shows the arithmetic instead.
fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random data in [-1, 1).
fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Best-of-5 time for one full scan, each sample repeating the scan for at least 200 ms.
fn time_scan(mut scan: impl FnMut() -> f32) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut reps = 0u32;
        while start.elapsed() < Duration::from_millis(200) {
            black_box(scan());
            reps += 1;
        }
        best = best.min(start.elapsed() / reps);
    }
    best
}

/// A closure that scores `query` against every row of `matrix` once.
fn scan<'a, T>(
    dims: usize,
    query: &'a [T],
    matrix: &'a [T],
    score: fn(&[T], &[T]) -> f32,
) -> impl FnMut() -> f32 + 'a {
    move || matrix.chunks_exact(dims).map(|r| score(query, r)).sum()
}

struct Row {
    name: &'static str,
    time: Duration,
    bytes: usize,
}

fn main() {
    let n_rows = env_usize("VECGATE_KERNELS_ROWS", 10_000);
    let dims = env_usize("VECGATE_KERNELS_DIMS", 768);
    // On 64-byte lines, as the HNSW index holds its rows; `unaligned` is the same data 16 bytes
    // past a line, where a plain Vec of this size starts.
    let unaligned = data(n_rows * dims, 1);
    let matrix = AVec::<f32, ConstAlign<64>>::from_slice(0, &unaligned);
    let matrix: &[f32] = &matrix;
    let query = data(dims, 2);
    let mut codes = vec![0i8; n_rows * dims];
    for (row, out) in matrix.chunks_exact(dims).zip(codes.chunks_exact_mut(dims)) {
        quantize_into(row, out);
    }
    let mut q8 = vec![0i8; dims];
    quantize_into(&query, &mut q8);
    let q8_layout = I8QueryLayout::new(&q8);
    let i8_matrix = I8Matrix::from_f32(matrix, dims).unwrap();
    let f32_bytes = n_rows * dims * 4;
    let i8_bytes = n_rows * dims;

    let scan_f32 = |f: fn(&[f32], &[f32]) -> f32| scan(dims, &query, matrix, f);
    let scan_i8 = |f: fn(&[i8], &[i8]) -> f32| scan(dims, &q8, &codes, f);

    // Every path this CPU has, each forced in turn, beside simsimd (which picks its own).
    let mut rows = Vec::new();
    for path in kernels::available_paths() {
        let k = path.kernels().expect("available");
        let name = |kernel: &str| -> &'static str {
            Box::leak(format!("{kernel}, ours ({})", path.name()).into_boxed_str())
        };
        rows.push(Row {
            name: name("f32 cosine"),
            time: time_scan(|| {
                matrix
                    .chunks_exact(dims)
                    .map(|r| {
                        let (ab, aa, bb) = k.cosine_parts(&query, r);
                        kernels::cosine_from_parts(ab, aa, bb)
                    })
                    .sum()
            }),
            bytes: f32_bytes,
        });
        rows.push(Row {
            name: name("f32 dot"),
            time: time_scan(|| matrix.chunks_exact(dims).map(|r| k.dot(&query, r)).sum()),
            bytes: f32_bytes,
        });
        rows.push(Row {
            name: name("f32 l2"),
            time: time_scan(|| {
                matrix
                    .chunks_exact(dims)
                    .map(|r| k.l2_squared(&query, r))
                    .sum()
            }),
            bytes: f32_bytes,
        });
        rows.push(Row {
            name: name("int8 cosine"),
            time: time_scan(|| {
                codes
                    .chunks_exact(dims)
                    .map(|r| {
                        let ab = k.dot_i8(&q8, r) as f32;
                        let (aa, bb) = (k.dot_i8(&q8, &q8) as f32, k.dot_i8(r, r) as f32);
                        kernels::cosine_from_parts(ab, aa, bb)
                    })
                    .sum()
            }),
            bytes: i8_bytes,
        });
        rows.push(Row {
            name: name("int8 query dot"),
            time: time_scan(|| {
                codes
                    .chunks_exact(dims)
                    .map(|r| k.dot_i8_query(&q8_layout, &q8, r) as f32)
                    .sum()
            }),
            bytes: i8_bytes,
        });
    }
    rows.extend([
        Row {
            name: "f32 dot, ours (dispatched), rows not on cache lines",
            time: time_scan(scan(dims, &query, &unaligned, kernels::dot_unchecked)),
            bytes: f32_bytes,
        },
        Row {
            name: "f32 cosine, simsimd",
            time: time_scan(scan_f32(|a, b| f32::cosine(a, b).unwrap() as f32)),
            bytes: f32_bytes,
        },
        Row {
            name: "f32 dot, simsimd",
            time: time_scan(scan_f32(|a, b| f32::dot(a, b).unwrap() as f32)),
            bytes: f32_bytes,
        },
        Row {
            name: "f32 l2, simsimd",
            time: time_scan(scan_f32(|a, b| f32::sqeuclidean(a, b).unwrap() as f32)),
            bytes: f32_bytes,
        },
        Row {
            name: "int8 cosine, simsimd",
            time: time_scan(scan_i8(|a, b| i8::cosine(a, b).unwrap() as f32)),
            bytes: i8_bytes,
        },
        Row {
            name: "int8 dot, simsimd",
            time: time_scan(scan_i8(|a, b| i8::dot(a, b).unwrap() as f32)),
            bytes: i8_bytes,
        },
        Row {
            name: "int8 cosine, ours (dispatched, quant::cosine_i8_unchecked)",
            time: time_scan(scan_i8(cosine_i8_unchecked)),
            bytes: i8_bytes,
        },
        Row {
            name: "int8 top-10 scan, ours (I8Matrix)",
            time: time_scan(|| {
                let hits = i8_matrix
                    .top_k(&query, kernels::Metric::Cosine, 10, f32::NEG_INFINITY)
                    .unwrap();
                hits[0].score
            }),
            bytes: i8_bytes,
        },
        Row {
            name: "f32 top-10 scan, ours (topk::top_k)",
            time: time_scan(|| {
                let hits = vecgate_core::topk::top_k(
                    &query,
                    matrix,
                    dims,
                    kernels::Metric::Cosine,
                    10,
                    f32::NEG_INFINITY,
                )
                .unwrap();
                hits[0].score
            }),
            bytes: f32_bytes,
        },
    ]);

    println!(
        "kernels: {n_rows} x {dims} scan; paths {}; default {}",
        kernels::available_paths()
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        kernels::active_backend()
    );
    println!(
        "{:<60} {:>10} {:>12} {:>8}",
        "kernel", "ms/scan", "ns/vector", "GB/s"
    );
    for r in &rows {
        let secs = r.time.as_secs_f64();
        println!(
            "{:<60} {:>10.3} {:>12.1} {:>8.2}",
            r.name,
            secs * 1e3,
            secs * 1e9 / n_rows as f64,
            r.bytes as f64 / secs / 1e9
        );
    }
    let t = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.time.as_secs_f64())
            .unwrap()
    };
    println!("ratios (speed; above 1 means the first named is faster):");
    let ratio = |label: &str, fast: &str, slow: &str| {
        println!("  {:<58} {:>6.2}x", label, t(slow) / t(fast));
    };
    let fastest = kernels::active_backend();
    for path in kernels::available_paths() {
        let p = path.name();
        for (kernel, peer) in [
            ("f32 cosine", "f32 cosine, simsimd"),
            ("f32 dot", "f32 dot, simsimd"),
            ("f32 l2", "f32 l2, simsimd"),
            ("int8 cosine", "int8 cosine, simsimd"),
            ("int8 query dot", "int8 dot, simsimd"),
        ] {
            let ours = format!("{kernel}, ours ({p})");
            ratio(&format!("{kernel} {p} / simsimd"), &ours, peer);
            if p != fastest {
                let best = format!("{kernel}, ours ({fastest})");
                ratio(&format!("{kernel} {fastest} / {p}"), &best, &ours);
            }
        }
    }
    ratio(
        "int8 / f32 cosine, ours (target >= 2)",
        "int8 cosine, ours (dispatched, quant::cosine_i8_unchecked)",
        &format!("f32 cosine, ours ({fastest})"),
    );
    ratio(
        "int8 / f32 top-10 scan, ours",
        "int8 top-10 scan, ours (I8Matrix)",
        "f32 top-10 scan, ours (topk::top_k)",
    );
}
