//! CRC-32 (IEEE 802.3, the one zlib, PNG and gzip use) for the binary formats in this crate.
//!
//! Slicing-by-8: eight lookup tables let the loop consume 8 bytes per step, which keeps
//! checksumming a few-hundred-megabyte index well under a second. The tables (8 KiB) are built on
//! first use rather than at compile time: as static data they were a third of the npm package's
//! gzipped .wasm, and building them takes microseconds.

use std::sync::OnceLock;

const POLYNOMIAL: u32 = 0xEDB8_8320;

fn build_tables() -> Box<[[u32; 256]; 8]> {
    let mut tables = Box::new([[0u32; 256]; 8]);
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLYNOMIAL
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
}

static TABLES: OnceLock<Box<[[u32; 256]; 8]>> = OnceLock::new();

/// CRC-32 of `data`; equals `zlib.crc32(data)`.
pub fn crc32(data: &[u8]) -> u32 {
    let t = TABLES.get_or_init(build_tables);
    let mut crc = !0u32;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ b as u32) & 0xFF) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn sliced_loop_matches_bitwise_definition() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 131 % 251) as u8).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 999, 1000] {
            let mut crc = !0u32;
            for &b in &data[..len] {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ POLYNOMIAL
                    } else {
                        crc >> 1
                    };
                }
            }
            assert_eq!(crc32(&data[..len]), !crc, "length {len}");
        }
    }

    #[test]
    fn detects_a_single_bit_flip() {
        let mut data = vec![0x5Au8; 4096];
        let before = crc32(&data);
        data[1234] ^= 0x10;
        assert_ne!(crc32(&data), before);
    }
}
