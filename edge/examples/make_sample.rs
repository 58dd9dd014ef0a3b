//! Converts the shared movie set (`../shared/data/movies/movies.jsonl`) into the compact sample
//! that `vecgate serve --sample` loads and the demo page falls back to: a candidate set with
//! int8 vectors, whose per-item metadata is `{content_id, media_type, metadata}`.
//!
//! One cleaning step: the source parsed some two-digit years into the future (a 1936 film as
//! 2036); years after [`LAST_YEAR`] move back a century, so recency means something in the demo.
//!
//! Run: `cargo run -p vecgate-edge --example make_sample [-- IN.jsonl OUT.vgcs]`

use std::path::PathBuf;

use serde_json::{json, Value};
use vecgate_core::candidates::{CandidateSet, Encoding};

/// The source (vega-datasets' movies) ends in 2011: every later year is a two-digit-year error.
const LAST_YEAR: i64 = 2011;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../../shared/data/movies/movies.jsonl"));
    let output = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("sample/movies.vgcs"));
    let text = std::fs::read_to_string(&input)
        .map_err(|e| format!("cannot read {}: {e}", input.display()))?;
    let mut set: Option<CandidateSet> = None;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let item: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let vector: Vec<f32> = serde_json::from_value(item["vector"].clone())?;
        let set = match &mut set {
            Some(s) => s,
            None => set.insert(CandidateSet::new(vector.len(), Encoding::Int8)?),
        };
        let id = item["id"]
            .as_str()
            .ok_or(format!("line {}: no id", n + 1))?;
        let mut metadata = item["metadata"].clone();
        if let Some(year) = metadata["year"].as_i64().filter(|y| *y > LAST_YEAR) {
            metadata["year"] = json!(year - 100);
        }
        let meta = json!({
            "content_id": item["content_id"],
            "media_type": item["media_type"],
            "metadata": metadata,
        });
        set.push(id, &vector, Some(meta))?;
    }
    let set = set.ok_or("no items in the input")?;
    let bytes = set.to_bytes();
    std::fs::write(&output, &bytes)?;
    println!(
        "wrote {} items × {} dims ({} bytes) to {}",
        set.len(),
        set.dims(),
        bytes.len(),
        output.display()
    );
    Ok(())
}
