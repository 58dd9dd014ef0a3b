//! Bounds-checked little-endian reading and writing for the binary formats.
//! Every read checks the remaining length first, so hostile input yields `Error::Format`.

use crate::{Error, Result};

/// Appends little-endian values to a byte vector.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f32s(&mut self, v: &[f32]) {
        self.buf.reserve(v.len() * 4);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    pub fn i8s(&mut self, v: &[i8]) {
        self.buf.extend(v.iter().map(|&x| x as u8));
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// A u32 length followed by the bytes.
    pub fn blob(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.bytes(v);
    }
    /// Appends the CRC-32 of everything written so far and returns the buffer.
    pub fn finish_with_crc(mut self) -> Vec<u8> {
        let crc = crate::checksum::crc32(&self.buf);
        self.u32(crc);
        self.buf
    }
}

/// Reads little-endian values from a byte slice; `what` names the structure in errors.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, pos: 0, what }
    }

    /// Verifies and strips a trailing CRC-32 over everything before it.
    pub fn with_crc(data: &'a [u8], what: &'static str) -> Result<Self> {
        if data.len() < 4 {
            return Err(Error::Format(format!(
                "{what}: truncated ({} bytes)",
                data.len()
            )));
        }
        let (body, tail) = data.split_at(data.len() - 4);
        let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        if crate::checksum::crc32(body) != stored {
            return Err(Error::Format(format!("{what}: checksum mismatch")));
        }
        Ok(Reader::new(body, what))
    }

    pub fn error(&self, msg: impl std::fmt::Display) -> Error {
        Error::Format(format!("{}: {msg} (at byte {})", self.what, self.pos))
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "truncated: need {n} bytes, {} left",
                self.remaining()
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `count` items of `item_size` bytes, checked against what is left before anything is allocated.
    pub fn take_items(&mut self, count: usize, item_size: usize) -> Result<&'a [u8]> {
        let n = count
            .checked_mul(item_size)
            .ok_or_else(|| self.error("length overflows"))?;
        self.take(n)
    }

    pub fn f32s(&mut self, count: usize) -> Result<Vec<f32>> {
        let raw = self.take_items(count, 4)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    pub fn i8s(&mut self, count: usize) -> Result<Vec<i8>> {
        Ok(self.take(count)?.iter().map(|&b| b as i8).collect())
    }

    /// A u32 length followed by that many bytes.
    pub fn blob(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub fn str(&mut self) -> Result<&'a str> {
        let raw = self.blob()?;
        std::str::from_utf8(raw).map_err(|_| self.error("string is not UTF-8"))
    }

    /// Err unless every byte was consumed.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(self.error(format!("{} trailing bytes", self.remaining())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut w = Writer::default();
        w.u8(7);
        w.u16(513);
        w.u32(70_000);
        w.u64(1 << 40);
        w.f32s(&[1.5, -2.0]);
        w.i8s(&[-128, 127]);
        w.blob(b"movie-603");
        let bytes = w.finish_with_crc();
        let mut r = Reader::with_crc(&bytes, "test").unwrap();
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 513);
        assert_eq!(r.u32().unwrap(), 70_000);
        assert_eq!(r.u64().unwrap(), 1 << 40);
        assert_eq!(r.f32s(2).unwrap(), vec![1.5, -2.0]);
        assert_eq!(r.i8s(2).unwrap(), vec![-128, 127]);
        assert_eq!(r.str().unwrap(), "movie-603");
        r.finish().unwrap();
        assert!(r.u8().is_err());

        let mut flipped = bytes.clone();
        flipped[3] ^= 1;
        assert!(Reader::with_crc(&flipped, "test").is_err());
        let mut r = Reader::new(&bytes, "test");
        assert!(r.take_items(usize::MAX, 4).is_err());
        assert!(r.f32s(1 << 30).is_err());
    }
}
