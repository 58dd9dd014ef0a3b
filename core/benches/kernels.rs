//! Kernel throughput on a 10k × 768 scan: ours (SIMD and scalar, f32 and int8) against simsimd.
//! Prints figures and same-run ratios; asserts nothing. Run: `cargo bench -p vecgate-core --bench kernels`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use simsimd::SpatialSimilarity;
use vecgate_core::kernels::{self, scalar};
use vecgate_core::quant::{cosine_i8_unchecked, quantize_into};
use vecgate_core::topk::I8Matrix;

const ROWS: usize = 10_000;
const DIMS: usize = 768;

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
    query: &'a [T],
    matrix: &'a [T],
    score: fn(&[T], &[T]) -> f32,
) -> impl FnMut() -> f32 + 'a {
    move || matrix.chunks_exact(DIMS).map(|r| score(query, r)).sum()
}

struct Row {
    name: &'static str,
    time: Duration,
    bytes: usize,
}

fn main() {
    let matrix = data(ROWS * DIMS, 1);
    let query = data(DIMS, 2);
    let mut codes = vec![0i8; ROWS * DIMS];
    for (row, out) in matrix.chunks_exact(DIMS).zip(codes.chunks_exact_mut(DIMS)) {
        quantize_into(row, out);
    }
    let mut q8 = vec![0i8; DIMS];
    quantize_into(&query, &mut q8);
    let i8_matrix = I8Matrix::from_f32(&matrix, DIMS).unwrap();
    let f32_bytes = ROWS * DIMS * 4;
    let i8_bytes = ROWS * DIMS;

    let scan_f32 = |f: fn(&[f32], &[f32]) -> f32| scan(&query, &matrix, f);
    let scan_i8 = |f: fn(&[i8], &[i8]) -> f32| scan(&q8, &codes, f);

    let rows = vec![
        Row {
            name: "f32 cosine, ours (dispatched)",
            time: time_scan(scan_f32(kernels::cosine_unchecked)),
            bytes: f32_bytes,
        },
        Row {
            name: "f32 cosine, ours (scalar)",
            time: time_scan(scan_f32(scalar::cosine)),
            bytes: f32_bytes,
        },
        Row {
            name: "f32 cosine, simsimd",
            time: time_scan(scan_f32(|a, b| f32::cosine(a, b).unwrap() as f32)),
            bytes: f32_bytes,
        },
        Row {
            name: "f32 dot, ours (dispatched)",
            time: time_scan(scan_f32(kernels::dot_unchecked)),
            bytes: f32_bytes,
        },
        Row {
            name: "f32 dot, simsimd",
            time: time_scan(scan_f32(|a, b| f32::dot(a, b).unwrap() as f32)),
            bytes: f32_bytes,
        },
        Row {
            name: "int8 cosine, ours (dispatched)",
            time: time_scan(scan_i8(cosine_i8_unchecked)),
            bytes: i8_bytes,
        },
        Row {
            name: "int8 cosine, ours (scalar)",
            time: time_scan(scan_i8(|a, b| {
                let ab = scalar::dot_i8(a, b) as f32;
                kernels::cosine_from_parts(
                    ab,
                    scalar::dot_i8(a, a) as f32,
                    scalar::dot_i8(b, b) as f32,
                )
            })),
            bytes: i8_bytes,
        },
        Row {
            name: "int8 cosine, simsimd",
            time: time_scan(scan_i8(|a, b| i8::cosine(a, b).unwrap() as f32)),
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
                    &matrix,
                    DIMS,
                    kernels::Metric::Cosine,
                    10,
                    f32::NEG_INFINITY,
                )
                .unwrap();
                hits[0].score
            }),
            bytes: f32_bytes,
        },
    ];

    println!(
        "kernels: {ROWS} x {DIMS} scan, backend {}",
        kernels::active_backend()
    );
    println!(
        "{:<38} {:>10} {:>12} {:>8}",
        "kernel", "ms/scan", "ns/vector", "GB/s"
    );
    for r in &rows {
        let secs = r.time.as_secs_f64();
        println!(
            "{:<38} {:>10.3} {:>12.1} {:>8.2}",
            r.name,
            secs * 1e3,
            secs * 1e9 / ROWS as f64,
            r.bytes as f64 / secs / 1e9
        );
    }
    let t = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.time.as_secs_f64())
            .unwrap()
    };
    println!("ratios (speed, higher is better for the first named):");
    let ratio = |label: &str, fast: &str, slow: &str| {
        println!("  {:<44} {:>6.2}x", label, t(slow) / t(fast));
    };
    ratio(
        "f32 cosine SIMD / scalar",
        "f32 cosine, ours (dispatched)",
        "f32 cosine, ours (scalar)",
    );
    ratio(
        "int8 cosine SIMD / scalar",
        "int8 cosine, ours (dispatched)",
        "int8 cosine, ours (scalar)",
    );
    ratio(
        "f32 cosine ours / simsimd (target >= 0.9)",
        "f32 cosine, ours (dispatched)",
        "f32 cosine, simsimd",
    );
    ratio(
        "f32 dot ours / simsimd",
        "f32 dot, ours (dispatched)",
        "f32 dot, simsimd",
    );
    ratio(
        "int8 cosine ours / simsimd",
        "int8 cosine, ours (dispatched)",
        "int8 cosine, simsimd",
    );
    ratio(
        "int8 / f32 cosine, ours (target >= 2)",
        "int8 cosine, ours (dispatched)",
        "f32 cosine, ours (dispatched)",
    );
    ratio(
        "int8 / f32 top-10 scan, ours",
        "int8 top-10 scan, ours (I8Matrix)",
        "f32 top-10 scan, ours (topk::top_k)",
    );
}
