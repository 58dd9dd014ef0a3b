//! Compact vector encodings: int8 with a per-vector symmetric scale, and binary sign codes.

use crate::kernels::I8QueryLayout;
use crate::kernels::{check_finite, cosine_from_parts, dot_i8_query_unchecked, dot_i8_unchecked};
use crate::Result;

/// An int8 vector: `value[i] ≈ codes[i] as f32 * scale`, codes in [-127, 127].
#[derive(Debug, Clone, PartialEq)]
pub struct I8Vector {
    pub scale: f32,
    pub codes: Vec<i8>,
}

impl I8Vector {
    /// Quantizes `v`. Err on non-finite input. A zero vector gets scale 0.
    pub fn quantize(v: &[f32]) -> Result<Self> {
        check_finite(v)?;
        let mut codes = vec![0i8; v.len()];
        let scale = quantize_into(v, &mut codes);
        Ok(I8Vector { scale, codes })
    }

    pub fn dims(&self) -> usize {
        self.codes.len()
    }

    /// Approximate f32 values.
    pub fn dequantize(&self) -> Vec<f32> {
        self.codes.iter().map(|&c| c as f32 * self.scale).collect()
    }

    /// Inner product, computed in integers and then scaled.
    pub fn dot(&self, other: &I8Vector) -> Result<f32> {
        crate::kernels::check_dims(self.dims(), other.dims())?;
        Ok(dot_i8_unchecked(&self.codes, &other.codes) as f32 * self.scale * other.scale)
    }

    /// Cosine similarity, computed in integers (the scales cancel); 0 for a zero vector.
    pub fn cosine(&self, other: &I8Vector) -> Result<f32> {
        crate::kernels::check_dims(self.dims(), other.dims())?;
        Ok(cosine_i8_unchecked(&self.codes, &other.codes))
    }
}

/// Writes the int8 codes of `v` into `out` (same length) and returns the scale.
/// `v` must be finite.
pub fn quantize_into(v: &[f32], out: &mut [i8]) -> f32 {
    debug_assert_eq!(v.len(), out.len());
    let max = v.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if max == 0.0 {
        out.fill(0);
        return 0.0;
    }
    let inv = 127.0 / max;
    for (o, &x) in out.iter_mut().zip(v) {
        *o = (x * inv).round().clamp(-127.0, 127.0) as i8;
    }
    max / 127.0
}

/// A query quantized as rows are ([`quantize_into`]), its codes laid out once for the platform's
/// fastest dot product against many rows ([`I8Query::dot`]).
#[derive(Debug, Clone, Default)]
pub struct I8Query {
    codes: Vec<i8>,
    scale: f32,
    layout: I8QueryLayout,
}

impl I8Query {
    /// Quantizes `v`, which must be finite.
    pub fn quantize(v: &[f32]) -> Self {
        let mut codes = vec![0i8; v.len()];
        let scale = quantize_into(v, &mut codes);
        I8Query {
            layout: I8QueryLayout::new(&codes),
            codes,
            scale,
        }
    }

    pub fn codes(&self) -> &[i8] {
        &self.codes
    }

    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The integer dot product with a row of the same length: `dot_i8_unchecked(codes, row)`.
    #[inline(always)]
    pub fn dot(&self, row: &[i8]) -> i32 {
        dot_i8_query_unchecked(&self.layout, &self.codes, row)
    }
}

/// Squared norm of int8 codes, in integer units.
#[inline]
pub fn norm_squared_i8(codes: &[i8]) -> i32 {
    dot_i8_unchecked(codes, codes)
}

/// Cosine of two equal-length int8 code slices.
#[inline]
pub fn cosine_i8_unchecked(a: &[i8], b: &[i8]) -> f32 {
    let ab = dot_i8_unchecked(a, b) as f32;
    cosine_from_parts(ab, norm_squared_i8(a) as f32, norm_squared_i8(b) as f32)
}

/// Binary sign code: bit i is set when component i is > 0. Packed little-endian into u64 words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryCode {
    pub dims: usize,
    pub words: Vec<u64>,
}

impl BinaryCode {
    /// Sign code of `v`. Err on non-finite input.
    pub fn from_vector(v: &[f32]) -> Result<Self> {
        check_finite(v)?;
        let mut words = vec![0u64; v.len().div_ceil(64)];
        for (i, &x) in v.iter().enumerate() {
            if x > 0.0 {
                words[i / 64] |= 1 << (i % 64);
            }
        }
        Ok(BinaryCode {
            dims: v.len(),
            words,
        })
    }

    /// Number of differing signs. Err when the dimensions differ.
    pub fn hamming(&self, other: &BinaryCode) -> Result<u32> {
        crate::kernels::check_dims(self.dims, other.dims)?;
        Ok(hamming_unchecked(&self.words, &other.words))
    }
}

/// Hamming distance of two equal-length packed codes.
#[inline]
pub fn hamming_unchecked(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_round_trip_is_close() {
        let v: Vec<f32> = (0..384).map(|i| ((i as f32) * 0.37).sin()).collect();
        let q = I8Vector::quantize(&v).unwrap();
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        for (a, b) in v.iter().zip(q.dequantize()) {
            assert!((a - b).abs() <= max / 254.0 + 1e-6);
        }
    }

    #[test]
    fn int8_dot_and_cosine_track_f32() {
        let a: Vec<f32> = (0..768).map(|i| ((i as f32) * 0.11).cos()).collect();
        let b: Vec<f32> = (0..768).map(|i| ((i as f32) * 0.07 + 1.0).sin()).collect();
        let (qa, qb) = (
            I8Vector::quantize(&a).unwrap(),
            I8Vector::quantize(&b).unwrap(),
        );
        let exact_dot = crate::kernels::dot(&a, &b).unwrap();
        let exact_cos = crate::kernels::cosine(&a, &b).unwrap();
        assert!((qa.dot(&qb).unwrap() - exact_dot).abs() < 0.01 * exact_dot.abs().max(1.0));
        assert!((qa.cosine(&qb).unwrap() - exact_cos).abs() < 0.01);
    }

    #[test]
    fn int8_integer_dot_is_exact() {
        let a: Vec<i8> = (0..1000).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..1000).map(|i| ((i * 91) % 256 - 128) as i8).collect();
        let expect: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
        assert_eq!(dot_i8_unchecked(&a, &b), expect);
    }

    #[test]
    fn query_dot_is_the_plain_dot() {
        // Every length class (whole blocks of 16, a tail) against rows holding both extremes.
        for n in [0, 5, 16, 31, 48, 384, 389] {
            let v: Vec<f32> = (0..n).map(|i| ((i * 37) % 255) as f32 - 127.0).collect();
            let row: Vec<i8> = (0..n as i32)
                .map(|i| ((i * 91) % 256 - 128) as i8)
                .collect();
            let query = I8Query::quantize(&v);
            let expect: i32 = query
                .codes()
                .iter()
                .zip(&row)
                .map(|(&q, &r)| q as i32 * r as i32)
                .sum();
            assert_eq!(query.dot(&row), expect, "{n}");
            assert_eq!(
                query.dot(&vec![i8::MIN; n]),
                -128 * query.codes().iter().map(|&q| q as i32).sum::<i32>()
            );
        }
    }

    #[test]
    fn int8_edge_cases() {
        let z = I8Vector::quantize(&[0.0; 8]).unwrap();
        assert_eq!(z.scale, 0.0);
        let v = I8Vector::quantize(&[1.0; 8]).unwrap();
        assert_eq!(z.cosine(&v).unwrap(), 0.0);
        assert!(I8Vector::quantize(&[1.0, f32::NAN]).is_err());
        let w = I8Vector::quantize(&[1.0; 4]).unwrap();
        let err = v.dot(&w).unwrap_err().to_string();
        assert!(err.contains('8') && err.contains('4'), "{err}");
    }

    #[test]
    fn binary_codes_and_hamming() {
        let a = BinaryCode::from_vector(&[1.0, -1.0, 0.5, 0.0, 2.0]).unwrap();
        let b = BinaryCode::from_vector(&[1.0, 1.0, -0.5, 0.0, 2.0]).unwrap();
        assert_eq!(a.words, vec![0b10101]);
        assert_eq!(a.hamming(&b).unwrap(), 2);
        assert_eq!(a.hamming(&a).unwrap(), 0);
        let long: Vec<f32> = (0..130)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let neg: Vec<f32> = long.iter().map(|x| -x).collect();
        let (l, n) = (
            BinaryCode::from_vector(&long).unwrap(),
            BinaryCode::from_vector(&neg).unwrap(),
        );
        assert_eq!(l.words.len(), 3);
        assert_eq!(l.hamming(&n).unwrap(), 130);
        assert!(l.hamming(&a).is_err());
    }
}
