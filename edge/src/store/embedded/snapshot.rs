//! Snapshots of the embedded store: the core HNSW byte format plus the preferences, written
//! atomically (`files::write_atomic`).

use std::collections::HashMap;
use std::path::Path;

use vecgate_core::bytes::{Reader, Writer};
use vecgate_core::hnsw::HnswIndex;
use vecgate_core::preference::UserPreference;

use super::State;

pub const FILE: &str = "snapshot.bin";
const MAGIC: &[u8; 4] = b"VGES";
const VERSION: u16 = 1;

pub fn write(
    path: &Path,
    index: &HnswIndex,
    preferences: &HashMap<String, UserPreference>,
    seq: u64,
) -> Result<(), String> {
    let index_bytes = index.to_bytes();
    let prefs = serde_json::to_vec(preferences).map_err(|e| e.to_string())?;
    let mut w = Writer::with_capacity(index_bytes.len() + prefs.len() + 64);
    w.bytes(MAGIC);
    w.u16(VERSION);
    w.u64(seq);
    w.u64(index_bytes.len() as u64);
    w.bytes(&index_bytes);
    w.u64(prefs.len() as u64);
    w.bytes(&prefs);
    let bytes = w.finish_with_crc();
    super::files::write_atomic(path, &bytes).map_err(|e| format!("snapshot: {e}"))
}

/// The state in the snapshot at `path`, or None when there is none. A damaged snapshot is an
/// error naming the file: starting empty would silently drop its data.
pub fn load(path: &Path, dims: usize) -> Result<Option<State>, String> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read snapshot {}: {e}", path.display())),
    };
    let damaged = |e: String| {
        format!(
            "snapshot {} is damaged ({e}); restore it from a backup, or move it away to start from the log alone",
            path.display()
        )
    };
    if data.len() < 4 || &data[..4] != MAGIC {
        return Err(damaged("not a vecgate snapshot".into()));
    }
    let mut r = Reader::with_crc(&data, "snapshot").map_err(|e| damaged(e.to_string()))?;
    let parse = |r: &mut Reader| -> vecgate_core::Result<State> {
        r.take(4)?;
        let version = r.u16()?;
        if version != VERSION {
            return Err(r.error(format!("unsupported version {version}")));
        }
        let seq = r.u64()?;
        let n = r.u64()? as usize;
        let index = HnswIndex::from_bytes(r.take(n)?)?;
        let n = r.u64()? as usize;
        let preferences =
            serde_json::from_slice(r.take(n)?).map_err(|e| r.error(format!("preferences: {e}")))?;
        r.finish()?;
        Ok(State {
            index,
            preferences,
            seq,
        })
    };
    let state = parse(&mut r).map_err(|e| damaged(e.to_string()))?;
    if state.index.dims() != dims {
        return Err(format!(
            "snapshot {} holds {}-dimensional vectors but dimensions is {dims}",
            path.display(),
            state.index.dims()
        ));
    }
    Ok(Some(state))
}
