//! The embedded store's search log: one JSON line per search, in one file per UTC day under
//! `search-logs/`, so retention deletes whole files and start-up reads no old log.
//!
//! Today's file is `YYYY-MM-DD.jsonl`. Once its day is over it is sealed: renamed to
//! `YYYY-MM-DD.N.jsonl`, N being its line count, so a restart counts every row by reading file
//! names and today's file only. A file left unsealed by a crash is counted and sealed at start.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::files::{sync_dir, write_atomic};

pub const DIR: &str = "search-logs";
/// The single file of earlier versions, moved into `search-logs/` at start.
const LEGACY_FILE: &str = "search-log.jsonl";

pub struct SearchLogFiles {
    dir: PathBuf,
    /// Today's file: its day, handle and line count.
    current: Option<(String, File, u64)>,
    /// Lines in every file.
    total: u64,
}

/// `YYYY-MM-DD` (UTC) of a time.
fn day_of(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// A log file's day and, when sealed, its line count.
fn parse_name(name: &str) -> Option<(String, Option<u64>)> {
    let stem = name.strip_suffix(".jsonl")?;
    let (day, rest) = stem.split_at_checked(10)?;
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    match rest.strip_prefix('.') {
        None if rest.is_empty() => Some((day.to_owned(), None)),
        Some(n) => n.parse().ok().map(|n| (day.to_owned(), Some(n))),
        None => None,
    }
}

fn count_lines(path: &Path) -> Result<u64, String> {
    std::fs::read(path)
        .map(|data| data.iter().filter(|&&b| b == b'\n').count() as u64)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

impl SearchLogFiles {
    /// Opens `data_dir/search-logs`, sealing past days' files.
    pub fn open(data_dir: &Path) -> Result<SearchLogFiles, String> {
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|e| io("cannot create", &dir, e))?;
        let legacy = data_dir.join(LEGACY_FILE);
        if legacy.exists() {
            let day = std::fs::metadata(&legacy)
                .and_then(|m| m.modified())
                .map_or_else(|_| day_of(SystemTime::now()), day_of);
            let n = count_lines(&legacy)?;
            let to = dir.join(format!("{day}.{n}.jsonl"));
            std::fs::rename(&legacy, &to).map_err(|e| io("cannot move", &legacy, e))?;
        }
        let mut files = SearchLogFiles {
            dir,
            current: None,
            total: 0,
        };
        let today = day_of(SystemTime::now());
        for (path, day, sealed) in files.list()? {
            match sealed {
                Some(n) => files.total += n,
                None if day == today && files.current.is_none() => {
                    let n = count_lines(&path)?;
                    let file = OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .map_err(|e| io("cannot open", &path, e))?;
                    files.total += n;
                    files.current = Some((day, file, n));
                }
                None => files.total += seal(&path, &day, count_lines(&path)?)?,
            }
        }
        Ok(files)
    }

    /// Every log file, oldest day first: path, day, and line count when sealed.
    fn list(&self) -> Result<Vec<(PathBuf, String, Option<u64>)>, String> {
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| io("cannot list", &self.dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some((day, sealed)) = name.to_str().and_then(parse_name) {
                found.push((entry.path(), day, sealed));
            }
        }
        found.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(found)
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Appends one line to today's file (sealing yesterday's first). Err(true) when the disk is
    /// full: the file is cut back to its last whole line.
    pub fn append(&mut self, line: &str) -> Result<(), (bool, String)> {
        self.append_line(line).map_err(|e| {
            let full = e.kind() == std::io::ErrorKind::StorageFull;
            (full, format!("writing the search log: {e}"))
        })
    }

    fn append_line(&mut self, line: &str) -> std::io::Result<()> {
        let today = day_of(SystemTime::now());
        if self
            .current
            .as_ref()
            .is_none_or(|(day, _, _)| *day != today)
        {
            if let Some((day, file, n)) = self.current.take() {
                drop(file);
                seal(&self.dir.join(format!("{day}.jsonl")), &day, n)
                    .map_err(std::io::Error::other)?;
            }
            let path = self.dir.join(format!("{today}.jsonl"));
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            self.current = Some((today, file, 0));
        }
        let Some((_, file, n)) = self.current.as_mut() else {
            return Err(std::io::Error::other("no search-log file"));
        };
        let whole = file.metadata()?.len();
        // One write per line: a killed process leaves whole lines in the page cache.
        if let Err(e) = file.write_all(format!("{line}\n").as_bytes()) {
            // A line cut short by a full disk would run into the next one.
            let _ = file.set_len(whole);
            return Err(e);
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    /// Deletes every file whose whole day ended more than `max_age_days` ago; returns the rows.
    pub fn prune(&mut self, max_age_days: f64) -> Result<u64, String> {
        let cutoff = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
            - max_age_days * 86_400.0;
        let mut removed = 0;
        for (path, day, sealed) in self.list()? {
            let day_end = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map_or(f64::MAX, |t| t.and_utc().timestamp() as f64);
            let is_current = self.current.as_ref().is_some_and(|(d, _, _)| *d == day);
            if day_end > cutoff || is_current {
                continue;
            }
            let n = match sealed {
                Some(n) => n,
                None => count_lines(&path)?,
            };
            std::fs::remove_file(&path).map_err(|e| io("cannot delete", &path, e))?;
            sync_dir(&path)?;
            removed += n;
        }
        self.total -= removed.min(self.total);
        Ok(removed)
    }

    /// Rewrites every file without `user_id`'s lines; returns how many were removed.
    pub fn erase_user(&mut self, user_id: &str) -> Result<u64, String> {
        let mut removed = 0;
        for (path, day, sealed) in self.list()? {
            let data = std::fs::read(&path).map_err(|e| io("cannot read", &path, e))?;
            let text = String::from_utf8_lossy(&data);
            let mut kept = String::with_capacity(text.len());
            let (mut kept_lines, mut dropped) = (0u64, 0u64);
            for line in text.lines() {
                let theirs = serde_json::from_str::<Value>(line)
                    .is_ok_and(|v| v["user_id"].as_str() == Some(user_id));
                if theirs {
                    dropped += 1;
                } else {
                    kept.push_str(line);
                    kept.push('\n');
                    kept_lines += 1;
                }
            }
            if dropped == 0 {
                continue;
            }
            let is_current =
                sealed.is_none() && self.current.as_ref().is_some_and(|(d, _, _)| *d == day);
            match sealed {
                // The count is in the name: write the new file, then drop the old name.
                Some(_) => {
                    let to = self.dir.join(format!("{day}.{kept_lines}.jsonl"));
                    write_atomic(&to, kept.as_bytes())?;
                    if to != path {
                        std::fs::remove_file(&path).map_err(|e| io("cannot delete", &path, e))?;
                        sync_dir(&path)?;
                    }
                }
                None => {
                    write_atomic(&path, kept.as_bytes())?;
                    if is_current {
                        let file = OpenOptions::new()
                            .append(true)
                            .open(&path)
                            .map_err(|e| io("cannot open", &path, e))?;
                        self.current = Some((day, file, kept_lines));
                    }
                }
            }
            removed += dropped;
        }
        self.total -= removed.min(self.total);
        Ok(removed)
    }
}

/// Renames a finished day's file to carry its count; returns the count.
fn seal(path: &Path, day: &str, n: u64) -> Result<u64, String> {
    let to = path.with_file_name(format!("{day}.{n}.jsonl"));
    std::fs::rename(path, &to).map_err(|e| io("cannot seal", path, e))?;
    sync_dir(&to)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vecgate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            parse_name("2026-12-06.jsonl"),
            Some(("2026-12-06".into(), None))
        );
        assert_eq!(
            parse_name("2026-12-06.42.jsonl"),
            Some(("2026-12-06".into(), Some(42)))
        );
        assert_eq!(parse_name("2026-13-06.jsonl"), None);
        assert_eq!(parse_name("notes.jsonl"), None);
        assert_eq!(day_of(UNIX_EPOCH), "1970-01-01");
    }

    #[test]
    fn old_days_are_sealed_pruned_and_erased() {
        let data = temp("search-log-files");
        let dir = data.join(DIR);
        std::fs::create_dir_all(&dir).unwrap();
        // A day left unsealed by a crash, and a sealed one, both long past.
        std::fs::write(
            dir.join("2020-01-01.jsonl"),
            "{\"user_id\":\"a\"}\n{\"user_id\":\"b\"}\n",
        )
        .unwrap();
        std::fs::write(dir.join("2020-01-02.1.jsonl"), "{\"user_id\":\"a\"}\n").unwrap();
        let mut files = SearchLogFiles::open(&data).unwrap();
        assert_eq!(files.total(), 3);
        assert!(dir.join("2020-01-01.2.jsonl").exists());
        files.append("{\"user_id\":\"a\"}").unwrap();
        files.append("{\"user_id\":\"c\"}").unwrap();
        assert_eq!(files.erase_user("a").unwrap(), 3);
        assert_eq!(files.total(), 2);
        assert!(
            dir.join("2020-01-01.1.jsonl").exists() && !dir.join("2020-01-02.1.jsonl").exists()
        );
        files.append("{\"user_id\":\"d\"}").unwrap();
        // Reopening counts the same rows.
        drop(files);
        let mut files = SearchLogFiles::open(&data).unwrap();
        assert_eq!(files.total(), 3);
        assert_eq!(files.prune(30.0).unwrap(), 1);
        assert_eq!(files.total(), 2);
        let today =
            std::fs::read_to_string(dir.join(format!("{}.jsonl", day_of(SystemTime::now()))))
                .unwrap();
        assert_eq!(today.lines().count(), 2);
        let _ = std::fs::remove_dir_all(data);
    }
}
