//! Figures for `bench/embed.sh` (not a test): per-query latency of a short and a 32-token text,
//! texts embedded per second in batches, and the memory a loaded model takes.
//!
//! `cargo bench -p vecgate-embed --bench embed -- latency|throughput|ids`. Model files from
//! `$VECGATE_MODEL_DIR` or `~/.cache/vecgate/models/all-minilm-l6-v2`; the sample texts from
//! `$VECGATE_SAMPLE_DIR` or `../shared/data/movies`. Thread count: rayon's `RAYON_NUM_THREADS`.

use std::path::PathBuf;
use std::time::Instant;

use vecgate_embed::TextEmbedder;

const SHORT: &str = "animated film for kids about toys";
const MEDIUM: &str = "A retired detective and his estranged daughter chase a jewel thief across \
    the rooftops of Paris in this stylish heist thriller";

fn model_dir() -> PathBuf {
    std::env::var_os("VECGATE_MODEL_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME");
            PathBuf::from(home).join(".cache/vecgate/models/all-minilm-l6-v2")
        },
        PathBuf::from,
    )
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn p50_ms(embedder: &TextEmbedder, text: &str, runs: usize) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            embedder.embed(text).expect("embed");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// The 3,200 film texts of the sample.
fn film_texts() -> Vec<String> {
    let sample = std::env::var_os("VECGATE_SAMPLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/movies")
        });
    let lines = std::fs::read_to_string(sample.join("movies.jsonl")).expect("movies.jsonl");
    lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect()
}

fn main() {
    let mode = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "latency".into());
    let dir = model_dir();
    let model =
        std::fs::read(dir.join("model.onnx")).expect("model.onnx (scripts/install-model.sh)");
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).expect("tokenizer.json");
    if mode == "ids" {
        // The token ids, for running the same inputs through ONNX Runtime.
        let t = vecgate_embed::Tokenizer::from_json(&tokenizer).expect("tokenizer");
        let films: Vec<Vec<u32>> = film_texts().iter().map(|text| t.encode(text)).collect();
        let ids = serde_json::json!({"short": t.encode(SHORT), "medium": t.encode(MEDIUM), "films": films});
        println!("{ids}");
        return;
    }
    let before = rss_kb();
    let start = Instant::now();
    let embedder = TextEmbedder::new(model, &tokenizer).expect("load");
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "model load {load_ms:.0} ms; RSS +{:.1} MB after load and one query; kernel {}",
        (rss_kb().saturating_sub(before)) as f64 / 1024.0,
        embedder.kernel_name()
    );
    match mode.as_str() {
        "latency" => {
            for (name, text) in [("short", SHORT), ("medium", MEDIUM)] {
                for _ in 0..20 {
                    embedder.embed(text).unwrap();
                }
                let tokens = embedder.token_count(text);
                let p50 = p50_ms(&embedder, text, 300);
                println!("vecgate-embed {name} ({tokens} tokens): p50 {p50:.3} ms");
            }
        }
        "throughput" => {
            let texts = film_texts();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let start = Instant::now();
            for chunk in refs.chunks(500) {
                embedder.embed_batch(chunk).unwrap();
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "vecgate-embed batch throughput: {} texts in {secs:.1} s = {:.0} texts/s (RSS {:.0} MB)",
                refs.len(),
                refs.len() as f64 / secs,
                rss_kb() as f64 / 1024.0
            );
        }
        other => panic!("unknown mode {other:?}: latency or throughput"),
    }
}
