//! `vecgate import`: a JSONL file of content items (the `movies.jsonl` format) sent through the
//! API handler in-process, so an import is validated exactly like `POST /v1/content`, batch by
//! batch, each batch all or nothing.
//!
//! A reader thread splits the file into batches and finds the lines that need an embedding
//! while the handler writes the batch before: reading and scanning then overlap the index build
//! instead of adding to it.

use std::io::BufRead;
use std::path::Path;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::server::NativeHandler;
use crate::http::{Method, Request};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// A batch as the reader thread hands it over.
struct Batch {
    /// The file's line number of the first item.
    first_line: usize,
    lines: Vec<String>,
    /// (index in `lines`, text) of the items with a `text` and no `vector`.
    texts: Vec<(usize, String)>,
    /// Bytes of the file the batch covers, for the progress bar.
    bytes: u64,
}

/// What the reader needs to know of a line: whether it has a vector, and its text. The vector
/// is skipped, not parsed (the handler parses it once).
#[derive(Deserialize)]
struct LineProbe {
    #[serde(default)]
    vector: Option<IgnoredAny>,
    #[serde(default)]
    text: Option<serde_json::Value>,
}

/// Imports `file` through `handler` in batches of `batch` items (at most the API's batch limit).
pub async fn import(handler: &NativeHandler, file: &Path, batch: usize) -> Fallible<()> {
    let batch = batch.clamp(1, crate::api::MAX_BATCH_ITEMS);
    let total = std::fs::metadata(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
        .len();
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?,
    );
    let bar =
        indicatif::ProgressBar::new(total).with_style(indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )?);
    // One batch ahead: enough to hide the reading, and memory stays at two batches.
    let (sender, mut batches) = tokio::sync::mpsc::channel::<Result<Batch, String>>(1);
    let reader_thread = std::thread::spawn(move || read_batches(reader, batch, &sender));
    let mut imported = 0usize;
    let mut embedded = 0usize;
    while let Some(next) = batches.recv().await {
        let mut next = next?;
        embedded += embed_missing_vectors(handler, &mut next).await?;
        imported += send(handler, &next).await?;
        bar.inc(next.bytes);
        bar.set_message(format!("{imported} items, {embedded} embedded"));
    }
    // The channel closed: the reader is done (its errors came through the channel).
    let _ = reader_thread.join();
    bar.finish_with_message(format!("{imported} items, {embedded} embedded"));
    println!(
        "imported {imported} items from {} ({embedded} embedded from their text)",
        file.display()
    );
    Ok(())
}

/// The reader thread: batches of `batch` non-empty lines, each line probed. Stops at the first
/// error, or when the receiver is gone.
fn read_batches(
    reader: impl BufRead,
    batch: usize,
    sender: &tokio::sync::mpsc::Sender<Result<Batch, String>>,
) {
    let mut current = Batch::starting_at(1, batch);
    for (index, line) in reader.lines().enumerate() {
        let line_no = index + 1;
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                let _ = sender.blocking_send(Err(format!("line {line_no}: {e}")));
                return;
            }
        };
        current.bytes += line.len() as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        if current.lines.is_empty() {
            current.first_line = line_no;
        }
        if let Err(e) = current.push(line, line_no) {
            let _ = sender.blocking_send(Err(e));
            return;
        }
        if current.lines.len() == batch {
            let full = std::mem::replace(&mut current, Batch::starting_at(line_no + 1, batch));
            if sender.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if !current.lines.is_empty() {
        let _ = sender.blocking_send(Ok(current));
    }
}

impl Batch {
    fn starting_at(first_line: usize, capacity: usize) -> Batch {
        Batch {
            first_line,
            lines: Vec::with_capacity(capacity),
            texts: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds a line, noting its text when it has no vector.
    fn push(&mut self, line: String, line_no: usize) -> Result<(), String> {
        match serde_json::from_str::<LineProbe>(&line) {
            Ok(LineProbe {
                vector: None,
                text: Some(serde_json::Value::String(text)),
            }) => {
                crate::api::check_text("text", &text)
                    .map_err(|e| format!("line {line_no}: {}", e.message))?;
                self.texts.push((self.lines.len(), text));
            }
            Ok(_) => {}
            // JSON of another shape goes on to the handler, which says what is wrong with it.
            Err(e) => {
                serde_json::from_str::<IgnoredAny>(&line)
                    .map_err(|_| format!("line {line_no}: not JSON: {e}"))?;
            }
        }
        self.lines.push(line);
        Ok(())
    }
}

/// Gives every line that has a `text` and no `vector` the embedding of its text (the
/// configured provider: the local model by default). Returns how many were embedded.
async fn embed_missing_vectors(handler: &NativeHandler, batch: &mut Batch) -> Fallible<usize> {
    if batch.texts.is_empty() {
        return Ok(0);
    }
    let texts: Vec<String> = batch.texts.iter().map(|(_, t)| t.clone()).collect();
    let vectors = handler.embedder.embed_many(&texts).await.map_err(|e| {
        format!(
            "embedding the batch starting at line {}: {e}",
            batch.first_line
        )
    })?;
    for ((i, _), vector) in batch.texts.iter().zip(vectors) {
        let mut item: serde_json::Value = serde_json::from_str(&batch.lines[*i])?;
        item["vector"] = serde_json::json!(vector);
        batch.lines[*i] = item.to_string();
    }
    Ok(texts.len())
}

/// `POST /v1/content` with the batch; returns how many items were upserted.
async fn send(handler: &NativeHandler, batch: &Batch) -> Fallible<usize> {
    let body = format!("{{\"items\":[{}]}}", batch.lines.join(","));
    let mut req = Request::new(Method::Post, "/v1/content");
    req.body = body.into_bytes();
    let response = handler.handle_internal(req).await;
    if response.status != 200 {
        return Err(format!(
            "batch starting at line {} rejected ({}): {}",
            batch.first_line,
            response.status,
            String::from_utf8_lossy(&response.body)
        )
        .into());
    }
    let v: serde_json::Value = serde_json::from_slice(&response.body)?;
    Ok(v["upserted"].as_u64().unwrap_or(0) as usize)
}
