//! The append-only write-ahead log of the embedded store.
//!
//! Record: `u32 body length, u32 CRC-32 of the body, body`; body: `u64 sequence, u8 kind, payload`.
//! Every record is fsynced before the write it carries is acknowledged. On start, a record cut
//! short at the end of the file (a crash mid-write) is dropped with a warning; a bad record with
//! good data after it is corruption, and refuses to load.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use vecgate_core::bytes::{Reader, Writer};
use vecgate_core::preference::UserPreference;

use crate::store::{ContentItem, MediaType};

const HEADER: usize = 8;
/// Larger records are refused on write and treated as damage on read.
const MAX_RECORD: usize = 256 * 1024 * 1024;

/// One logged write.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Upsert(Vec<ContentItem>),
    Delete(String),
    Preference(String, UserPreference),
    /// A user's preference erased (`DELETE /v1/users/{id}`).
    ErasePreference(String),
}

const KIND_UPSERT: u8 = 1;
const KIND_DELETE: u8 = 2;
const KIND_PREFERENCE: u8 = 3;
const KIND_ERASE_PREFERENCE: u8 = 4;

pub struct Wal {
    path: PathBuf,
    file: File,
    len: u64,
}

impl Wal {
    /// Opens (creating) the log and reads every intact record, truncating a torn tail.
    pub fn open(path: &Path, dims: usize) -> Result<(Wal, Vec<(u64, Record)>), String> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let (records, good) =
            parse(&data, dims).map_err(|e| format!("{} is corrupted: {e}", path.display()))?;
        if good < data.len() {
            eprintln!(
                "vecgate: WARNING {}: dropped a torn record at the end ({} bytes at offset {good}); it was never acknowledged",
                path.display(),
                data.len() - good
            );
            file.set_len(good as u64)
                .and_then(|_| file.sync_all())
                .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| format!("cannot seek {}: {e}", path.display()))?;
        Ok((
            Wal {
                path: path.to_owned(),
                file,
                len: good as u64,
            },
            records,
        ))
    }

    /// Appends and fsyncs one record.
    pub fn append(&mut self, seq: u64, record: &Record) -> std::io::Result<()> {
        let body = encode(seq, record);
        if body.len() > MAX_RECORD {
            return Err(std::io::Error::other("write too large for one log record"));
        }
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&vecgate_core::checksum::crc32(&body).to_le_bytes());
        out.extend_from_slice(&body);
        let result = self
            .file
            .write_all(&out)
            .and_then(|_| self.file.sync_data());
        if result.is_err() {
            // Leave no partial record behind a failed write.
            let _ = self.file.set_len(self.len);
            return result;
        }
        self.len += out.len() as u64;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Empties the log once a snapshot holds everything in it.
    pub fn truncate(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn encode(seq: u64, record: &Record) -> Vec<u8> {
    let mut w = Writer::default();
    w.u64(seq);
    match record {
        Record::Upsert(items) => {
            w.u8(KIND_UPSERT);
            w.u32(items.len() as u32);
            for item in items {
                w.blob(item.id.as_bytes());
                w.u64(item.content_id.map_or(u64::MAX, |c| c as u64));
                w.u8(match item.media_type {
                    MediaType::Movie => 0,
                    MediaType::Tv => 1,
                });
                w.blob(item.metadata.to_string().as_bytes());
                w.f32s(&item.vector);
            }
        }
        Record::Delete(id) => {
            w.u8(KIND_DELETE);
            w.blob(id.as_bytes());
        }
        Record::Preference(user, pref) => {
            w.u8(KIND_PREFERENCE);
            w.blob(user.as_bytes());
            w.blob(serde_json::to_string(pref).unwrap_or_default().as_bytes());
        }
        Record::ErasePreference(user) => {
            w.u8(KIND_ERASE_PREFERENCE);
            w.blob(user.as_bytes());
        }
    }
    w.buf
}

fn decode(body: &[u8], dims: usize) -> vecgate_core::Result<(u64, Record)> {
    let mut r = Reader::new(body, "log record");
    let seq = r.u64()?;
    let record = match r.u8()? {
        KIND_UPSERT => {
            let count = r.u32()? as usize;
            // Each item needs at least its lengths and its vector.
            if count.saturating_mul(dims * 4 + 17) > r.remaining() {
                return Err(r.error("item count does not fit the record"));
            }
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                let id = r.str()?.to_owned();
                let content_id = match r.u64()? {
                    u64::MAX => None,
                    c => Some(c as i64),
                };
                let media_type = match r.u8()? {
                    0 => MediaType::Movie,
                    1 => MediaType::Tv,
                    m => return Err(r.error(format!("unknown media type {m}"))),
                };
                let metadata: Value = serde_json::from_str(r.str()?)
                    .map_err(|e| r.error(format!("metadata: {e}")))?;
                let vector = r.f32s(dims)?;
                items.push(ContentItem {
                    id,
                    content_id,
                    media_type,
                    metadata,
                    vector,
                    text: None,
                });
            }
            Record::Upsert(items)
        }
        KIND_DELETE => Record::Delete(r.str()?.to_owned()),
        KIND_PREFERENCE => {
            let user = r.str()?.to_owned();
            let pref =
                serde_json::from_str(r.str()?).map_err(|e| r.error(format!("preference: {e}")))?;
            Record::Preference(user, pref)
        }
        KIND_ERASE_PREFERENCE => Record::ErasePreference(r.str()?.to_owned()),
        k => return Err(r.error(format!("unknown record kind {k}"))),
    };
    r.finish()?;
    Ok((seq, record))
}

/// The intact records, and the length of the intact prefix.
fn parse(data: &[u8], dims: usize) -> Result<(Vec<(u64, Record)>, usize), String> {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let rest = &data[at..];
        if rest.len() < HEADER {
            break; // torn header
        }
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
        let end = HEADER + len;
        if len > MAX_RECORD {
            return Err(format!("record at offset {at} claims {len} bytes"));
        }
        if end > rest.len() {
            break; // torn body
        }
        let body = &rest[HEADER..end];
        if vecgate_core::checksum::crc32(body) != crc {
            if end == rest.len() {
                break; // the last record, partly written
            }
            return Err(format!(
                "checksum mismatch in the record at offset {at}, with data after it"
            ));
        }
        let record = decode(body, dims).map_err(|e| format!("record at offset {at}: {e}"))?;
        records.push(record);
        at += end;
    }
    Ok((records, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: &str) -> ContentItem {
        ContentItem {
            id: id.into(),
            content_id: Some(7),
            media_type: MediaType::Tv,
            metadata: json!({"title": id}),
            vector: vec![0.6, 0.8],
            text: None,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vecgate-wal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("wal.log")
    }

    #[test]
    fn round_trip_torn_tail_and_corruption() {
        let path = temp("rt");
        let pref = UserPreference {
            vector: vec![1.0, 0.0],
            confidence: 0.5,
            genre_affinities: Default::default(),
        };
        let written = vec![
            (1, Record::Upsert(vec![item("a"), item("b")])),
            (2, Record::Delete("a".into())),
            (3, Record::Preference("u".into(), pref)),
        ];
        {
            let (mut wal, old) = Wal::open(&path, 2).unwrap();
            assert!(old.is_empty());
            for (seq, r) in &written {
                wal.append(*seq, r).unwrap();
            }
        }
        let (_, read) = Wal::open(&path, 2).unwrap();
        assert_eq!(read, written);

        // Cut the last record short: it is dropped and the file truncated.
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();
        let (wal, read) = Wal::open(&path, 2).unwrap();
        assert_eq!(read, written[..2]);
        assert!(wal.len() < full.len() as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), wal.len());

        // A flipped byte in the first record, with records after it, is corruption.
        let mut bad = full.clone();
        bad[12] ^= 0xff;
        std::fs::write(&path, &bad).unwrap();
        let err = Wal::open(&path, 2).err().unwrap();
        assert!(
            err.contains("corrupted") && err.contains("wal.log"),
            "{err}"
        );

        // A flipped byte in the last record is a torn tail.
        let mut bad = full.clone();
        let n = bad.len();
        bad[n - 2] ^= 0xff;
        std::fs::write(&path, &bad).unwrap();
        let (_, read) = Wal::open(&path, 2).unwrap();
        assert_eq!(read, written[..2]);
    }
}
