//! The search-log journal of a `--local-index` node: each row is appended here as it is queued,
//! so the rows still waiting for the database survive a kill -9 of the node and are sent again
//! when it starts (each keeps its `log_id`, so a row that did reach the table is not written
//! twice). No fsync per search: a power cut may lose the last rows, a process crash does not.
//!
//! Rows go to numbered segments (`search-log.<n>.jsonl`). When the flusher takes every queued
//! row it seals the segment, and once that batch is in the database the sealed segments go.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::store::embedded::files::write_atomic;

const PREFIX: &str = "search-log.";
const SUFFIX: &str = ".jsonl";

pub struct Journal {
    dir: PathBuf,
    current: u64,
    /// The current segment, and its length before the last append (cut back to on failure).
    file: Option<(File, u64)>,
    /// Appends that failed (a full disk): those rows wait in memory only.
    pub failed_appends: u64,
}

/// What [`Journal::open`] found of an earlier run.
pub struct Replay {
    pub lines: Vec<String>,
    /// Segments it could not read.
    pub unreadable: Vec<String>,
}

impl Journal {
    /// The journal in `dir`: the lines earlier runs left (to queue again, oldest first), and a
    /// new segment for what comes.
    pub fn open(dir: &Path) -> (Journal, Replay) {
        let _ = std::fs::create_dir_all(dir);
        let segments = segments(dir);
        let mut replay = Replay {
            lines: Vec::new(),
            unreadable: Vec::new(),
        };
        for (_, path) in &segments {
            match File::open(path) {
                Ok(file) => replay.lines.extend(
                    BufReader::new(file)
                        .lines()
                        .map_while(Result::ok)
                        .filter(|l| !l.is_empty()),
                ),
                Err(e) => replay.unreadable.push(format!("{}: {e}", path.display())),
            }
        }
        let current = segments.last().map_or(0, |(n, _)| n + 1);
        let mut journal = Journal {
            dir: dir.to_owned(),
            current,
            file: None,
            failed_appends: 0,
        };
        journal.file = journal.open_current();
        (journal, replay)
    }

    fn path_of(&self, segment: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{segment}{SUFFIX}"))
    }

    fn open_current(&self) -> Option<(File, u64)> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path_of(self.current))
            .ok()?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        Some((file, len))
    }

    /// Appends one row's line; `false` (and counted) if it could not be written whole.
    pub fn append(&mut self, line: &str) -> bool {
        if self.file.is_none() {
            self.file = self.open_current();
        }
        let Some((file, len)) = &mut self.file else {
            self.failed_appends += 1;
            return false;
        };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match file.write_all(&bytes) {
            Ok(()) => {
                *len += bytes.len() as u64;
                true
            }
            Err(_) => {
                // A torn line would spoil the next one too: cut it off.
                let _ = file.set_len(*len);
                self.failed_appends += 1;
                false
            }
        }
    }

    /// Starts a new segment (unless the current one is empty); every line appended so far is in
    /// a segment up to the one returned.
    pub fn seal(&mut self) -> Option<u64> {
        if self.file.as_ref().is_some_and(|(_, len)| *len == 0) {
            return self.current.checked_sub(1);
        }
        let sealed = self.current;
        self.current += 1;
        self.file = self.open_current();
        Some(sealed)
    }

    /// Removes the segments up to `sealed`: their rows are in the database.
    pub fn release(&self, sealed: u64) {
        for (n, path) in segments(&self.dir) {
            if n <= sealed {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Replaces every segment with one holding just `lines` (an erasure: the erased user's rows
    /// must not come back at the next start).
    pub fn rewrite(&mut self, lines: impl Iterator<Item = String>) -> Result<(), String> {
        let sealed = self.current;
        let next = sealed + 1;
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        write_atomic(&self.path_of(next), &bytes)?;
        self.release(sealed);
        self.current = next;
        self.file = self.open_current();
        Ok(())
    }
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let n = name
                .to_str()?
                .strip_prefix(PREFIX)?
                .strip_suffix(SUFFIX)?
                .parse()
                .ok()?;
            Some((n, entry.path()))
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_until_their_segment_is_released() {
        let dir = std::env::temp_dir().join(format!("vecgate-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (mut journal, replay) = Journal::open(&dir);
        assert!(replay.lines.is_empty());
        assert!(journal.append("a") && journal.append("b"));
        let sealed = journal.seal().unwrap();
        assert_eq!(
            journal.seal(),
            Some(sealed),
            "an empty segment is not sealed"
        );
        assert!(journal.append("c"));
        drop(journal);
        let (mut journal, replay) = Journal::open(&dir);
        assert_eq!(replay.lines, ["a", "b", "c"]);
        journal.release(sealed + 1);
        assert!(journal.append("d"));
        let (_, replay) = Journal::open(&dir);
        assert_eq!(replay.lines, ["d"]);
        let (mut journal, _) = Journal::open(&dir);
        journal.rewrite(["x".to_owned()].into_iter()).unwrap();
        let (_, replay) = Journal::open(&dir);
        assert_eq!(replay.lines, ["x"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
