//! Writing a file whole or not at all: a temp file beside it, fsynced, renamed over it, and the
//! directory fsynced, so a crash leaves the old file or the new one, never half of either.

use std::io::Write;
use std::path::Path;

/// On failure (a full disk) the temp file is removed: nothing half-written stays behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let fail = |what: &str, e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        format!("{what} {}: {e}", tmp.display())
    };
    let mut file = std::fs::File::create(&tmp).map_err(|e| fail("create", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("write", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| fail("rename", e))?;
    sync_dir(path)
}

/// Fsyncs the directory holding `path`, so a rename or unlink in it is durable.
pub fn sync_dir(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("fsync {}: {e}", dir.display())),
        None => Ok(()),
    }
}
