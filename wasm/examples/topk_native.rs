//! The native side of `wasm/bench/topk.mjs`: exact top-10 on this machine's best kernels, over the
//! same generated matrix and queries as the Node benchmark, with the same code the package runs
//! (`UnitRows` behind `Float32Matrix`, pruned and exhaustive; core's `I8Matrix` behind
//! `Int8Matrix`) and core's `top_k`.
//!
//! `cargo run --release -p vecgate-wasm --example topk_native -- ROWS DIMS QUERIES ROUNDS`
//! prints one JSON line: milliseconds per query (best round) and the first query's top-10 rows.

use std::time::Instant;

use vecgate_core::kernels::{active_backend, Metric};
use vecgate_core::topk::{top_k, I8Matrix, Scored};
use vecgate_wasm::UnitRows;

/// xorshift32 mapped to [-1, 1) and rounded to f32: bit-identical to the benchmark's JS generator.
fn generate(seed: u32, len: usize) -> Vec<f32> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f64 / 4_294_967_296.0 * 2.0 - 1.0) as f32
        })
        .collect()
}

/// The best of `rounds` rounds, in milliseconds per query (as in the Node benchmark).
fn time_per_query(rounds: usize, queries: &[Vec<f32>], mut search: impl FnMut(&[f32])) -> f64 {
    for q in queries.iter().take(3) {
        search(q);
    }
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for q in queries {
                search(q);
            }
            start.elapsed().as_secs_f64() * 1e3 / queries.len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn indices(hits: &[Scored]) -> Vec<usize> {
    hits.iter().map(|h| h.index).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [rows, dims, query_count, rounds] = args[..] else {
        return Err("usage: topk_native ROWS DIMS QUERIES ROUNDS".into());
    };
    let matrix = generate(1, rows * dims);
    let queries: Vec<Vec<f32>> = (0..query_count)
        .map(|i| generate(1000 + i as u32, dims))
        .collect();
    let unit = UnitRows::new(matrix.clone(), dims)?;
    let int8 = I8Matrix::from_f32(&matrix, dims)?;
    let f32_top = |q: &[f32]| unit.top_k(q, 10, f32::NEG_INFINITY);
    let f32_exhaustive = |q: &[f32]| unit.top_k_exhaustive(q, 10, f32::NEG_INFINITY);
    let int8_top = |q: &[f32]| int8.top_k(q, Metric::Cosine, 10, f32::NEG_INFINITY);
    let core_top = |q: &[f32]| top_k(q, &matrix, dims, Metric::Cosine, 10, f32::NEG_INFINITY);

    let f32_first = indices(&f32_top(&queries[0])?);
    let int8_first = indices(&int8_top(&queries[0])?);
    let f32_ms = time_per_query(rounds, &queries, |q| {
        std::hint::black_box(f32_top(q).ok());
    });
    let f32_exhaustive_ms = time_per_query(rounds, &queries, |q| {
        std::hint::black_box(f32_exhaustive(q).ok());
    });
    let int8_ms = time_per_query(rounds, &queries, |q| {
        std::hint::black_box(int8_top(q).ok());
    });
    let core_top_k_ms = time_per_query(rounds, &queries, |q| {
        std::hint::black_box(core_top(q).ok());
    });
    println!(
        "{{\"backend\":\"{}\",\"f32_ms\":{f32_ms},\"f32_exhaustive_ms\":{f32_exhaustive_ms},\"int8_ms\":{int8_ms},\"core_top_k_ms\":{core_top_k_ms},\"f32_top\":{f32_first:?},\"int8_top\":{int8_first:?}}}",
        active_backend()
    );
    Ok(())
}
