//! Exact top-k over the sample movie set, f32 and int8, for each sample query.
//! Run: `cargo run --release -p vecgate-core --example movies [-- "query phrase substring"]`.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use vecgate_core::kernels::Metric;
use vecgate_core::topk::{top_k, I8Matrix};

fn read_jsonl(path: &PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

fn vector(v: &Value) -> Vec<f32> {
    v["vector"]
        .as_array()
        .expect("vector array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn main() {
    let dir = std::env::var_os("VECGATE_SAMPLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/movies")
        });
    let movies = read_jsonl(&dir.join("movies.jsonl"));
    let queries = read_jsonl(&dir.join("queries.jsonl"));
    let dims = vector(&movies[0]).len();
    let matrix: Vec<f32> = movies.iter().flat_map(vector).collect();
    let int8 = I8Matrix::from_f32(&matrix, dims).expect("finite vectors");
    let wanted = std::env::args().nth(1).unwrap_or_default();
    println!("{} movies, {dims} dimensions", movies.len());
    for q in queries
        .iter()
        .filter(|q| q["text"].as_str().unwrap_or("").contains(&wanted))
    {
        let qv = vector(q);
        let start = Instant::now();
        let exact = top_k(&qv, &matrix, dims, Metric::Cosine, 5, 0.0).expect("valid query");
        let f32_us = start.elapsed().as_secs_f64() * 1e6;
        let start = Instant::now();
        let approx = int8
            .top_k(&qv, Metric::Cosine, 5, 0.0)
            .expect("valid query");
        let i8_us = start.elapsed().as_secs_f64() * 1e6;
        println!(
            "\n\"{}\"  (f32 scan {f32_us:.0} µs, int8 scan {i8_us:.0} µs)",
            q["text"].as_str().unwrap_or("")
        );
        for (e, a) in exact.iter().zip(&approx) {
            let m = &movies[e.index]["metadata"];
            println!(
                "  {:.3}  {:<40} {}  {}   (int8: {:.3} {})",
                e.score,
                m["title"].as_str().unwrap_or("?"),
                m["year"],
                m["genres"],
                a.score,
                movies[a.index]["metadata"]["title"].as_str().unwrap_or("?"),
            );
        }
    }
}
