//! Similarity kernels on f32 and int8 slices.
//!
//! Two layers:
//! - checked functions ([`dot`], [`cosine`], [`l2_squared`], [`normalize`]) validate lengths and
//!   finiteness and are what adapters call with user input;
//! - `*_unchecked` functions assume validated input and dispatch to the fastest available path
//!   (AVX2+FMA detected at run time on x86_64, NEON on aarch64, simd128 on wasm32 when compiled
//!   with that target feature — plus relaxed SIMD's int8 dot product with `relaxed-simd`, same
//!   results —, scalar otherwise). Indexes and batch scans use these.

use crate::{Error, Result};

pub mod scalar;

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm;

/// How vectors are compared. Scores are "higher is better" for every metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine similarity in [-1, 1].
    Cosine,
    /// Inner product.
    Dot,
    /// Euclidean; the score is the negated squared distance.
    L2,
}

impl Metric {
    /// Score of `a` against `b` (higher is better). Inputs must be validated.
    #[inline]
    pub fn score_unchecked(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::Cosine => cosine_unchecked(a, b),
            Metric::Dot => dot_unchecked(a, b),
            Metric::L2 => -l2_squared_unchecked(a, b),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2 => "l2",
        }
    }
}

/// Name of the SIMD path the dispatched kernels use on this machine.
pub fn active_backend() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if x86::available() {
            return "avx2+fma";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return "neon";
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return wasm::BACKEND; // "simd128", or "relaxed-simd" where that target feature is on too
    }
    #[allow(unreachable_code)]
    "scalar"
}

/// Err unless both lengths are equal; the message names both.
#[inline]
pub fn check_dims(expected: usize, actual: usize) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::DimensionMismatch { expected, actual })
    }
}

/// Err on the first NaN or infinite component.
pub fn check_finite(v: &[f32]) -> Result<()> {
    // A branch-free exponent test per block vectorizes; `position` per element does not,
    // and this check runs over whole matrices.
    const EXP: u32 = 0x7f80_0000;
    for (block, chunk) in v.chunks(256).enumerate() {
        let bad = chunk
            .iter()
            .fold(false, |bad, x| bad | (x.to_bits() & EXP == EXP));
        if bad {
            let offset = chunk.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(Error::NonFinite {
                index: block * 256 + offset,
            });
        }
    }
    Ok(())
}

fn check_pair(a: &[f32], b: &[f32]) -> Result<()> {
    check_dims(a.len(), b.len())?;
    check_finite(a)?;
    check_finite(b)
}

/// A float as error messages show it, written without core's float formatting: `{}` on a float
/// links about 10 KB of exact float-to-decimal code into the npm package's .wasm (wasm/README.md,
/// "Size"). Whole numbers print exactly (`2024`), others rounded to 6 decimals (`1.5`), large and
/// tiny magnitudes in e-notation (`3.4e38`), and `NaN`, `inf`, `-inf` as Rust prints them.
#[derive(Debug, Clone, Copy)]
pub struct FloatText(pub f64);

impl std::fmt::Display for FloatText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        if x.is_nan() {
            return f.write_str("NaN");
        }
        let sign = if x < 0.0 { "-" } else { "" };
        let mut magnitude = x.abs();
        if magnitude.is_infinite() {
            return write!(f, "{sign}inf");
        }
        // Outside [1e-3, 1e12) the mantissa is scaled into [1, 10); inside, 6 decimals fit a u64.
        let mut exponent = 0i32;
        if magnitude != 0.0 && !(1e-3..1e12).contains(&magnitude) {
            while magnitude >= 10.0 {
                magnitude /= 10.0;
                exponent += 1;
            }
            while magnitude < 1.0 {
                magnitude *= 10.0;
                exponent -= 1;
            }
        }
        let micros = (magnitude * 1e6).round() as u64;
        write!(f, "{sign}{}", micros / 1_000_000)?;
        let fraction = micros % 1_000_000;
        if fraction != 0 {
            let digits = format!("{fraction:06}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        if exponent != 0 {
            write!(f, "e{exponent}")?;
        }
        Ok(())
    }
}

/// Inner product. Err on a length mismatch or non-finite input.
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32> {
    check_pair(a, b)?;
    Ok(finite_or(dot_unchecked(a, b), || scalar::dot_f64(a, b)))
}

/// Cosine similarity. A zero vector scores 0. Err on a length mismatch or non-finite input.
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32> {
    check_pair(a, b)?;
    Ok(finite_or(cosine_unchecked(a, b), || {
        scalar::cosine_f64(a, b)
    }))
}

/// Squared Euclidean distance. Err on a length mismatch or non-finite input.
pub fn l2_squared(a: &[f32], b: &[f32]) -> Result<f32> {
    check_pair(a, b)?;
    Ok(finite_or(l2_squared_unchecked(a, b), || {
        scalar::l2_squared_f64(a, b)
    }))
}

/// Unit-length copy of `v`; a zero vector stays zero. Err on non-finite input.
pub fn normalize(v: &[f32]) -> Result<Vec<f32>> {
    let mut out = v.to_vec();
    normalize_in_place(&mut out)?;
    Ok(out)
}

/// Scales `v` to unit length in place; a zero vector stays zero. Err on non-finite input.
pub fn normalize_in_place(v: &mut [f32]) -> Result<()> {
    check_finite(v)?;
    // f64 so that huge-but-finite components don't overflow the norm.
    let norm = v
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (*x as f64 / norm) as f32;
        }
    }
    Ok(())
}

/// f32 accumulation overflows only for components near f32::MAX; recompute in f64 then.
#[inline]
fn finite_or(fast: f32, exact: impl FnOnce() -> f32) -> f32 {
    if fast.is_finite() {
        fast
    } else {
        exact()
    }
}

/// Inner product of two equal-length slices.
#[inline(always)]
pub fn dot_unchecked(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if x86::available() {
            // SAFETY: AVX2 and FMA were detected at run time.
            return unsafe { x86::dot(a, b) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return neon::dot(a, b);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return wasm::dot(a, b);
    }
    #[allow(unreachable_code)]
    scalar::dot(a, b)
}

/// Squared Euclidean distance of two equal-length slices.
#[inline(always)]
pub fn l2_squared_unchecked(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if x86::available() {
            // SAFETY: AVX2 and FMA were detected at run time.
            return unsafe { x86::l2_squared(a, b) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return neon::l2_squared(a, b);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return wasm::l2_squared(a, b);
    }
    #[allow(unreachable_code)]
    scalar::l2_squared(a, b)
}

/// (a·b, a·a, b·b) in one pass.
#[inline]
pub fn cosine_parts_unchecked(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if x86::available() {
            // SAFETY: AVX2 and FMA were detected at run time.
            return unsafe { x86::cosine_parts(a, b) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return neon::cosine_parts(a, b);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return wasm::cosine_parts(a, b);
    }
    #[allow(unreachable_code)]
    scalar::cosine_parts(a, b)
}

/// Cosine similarity of two equal-length slices; 0 when either is a zero vector.
#[inline]
pub fn cosine_unchecked(a: &[f32], b: &[f32]) -> f32 {
    let (ab, aa, bb) = cosine_parts_unchecked(a, b);
    cosine_from_parts(ab, aa, bb)
}

/// Cosine from a dot product and two squared norms; 0 for a zero vector, clamped to [-1, 1].
#[inline]
pub fn cosine_from_parts(ab: f32, aa: f32, bb: f32) -> f32 {
    let denom = (aa * bb).sqrt();
    if denom > 0.0 {
        (ab / denom).clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Integer inner product of two equal-length int8 slices (exact for up to 131,072 dimensions).
#[inline(always)]
pub fn dot_i8_unchecked(a: &[i8], b: &[i8]) -> i32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if x86::available() {
            // SAFETY: AVX2 was detected at run time.
            return unsafe { x86::dot_i8(a, b) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return neon::dot_i8(a, b);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return wasm::dot_i8(a, b);
    }
    #[allow(unreachable_code)]
    scalar::dot_i8(a, b)
}

/// A quantized query's codes laid out once for its platform's fastest dot product against many
/// rows ([`dot_i8_query_unchecked`]): for wasm's relaxed SIMD, two 7-bit halves, so that a row
/// needs no per-lane work before the int8 dot instruction; nothing elsewhere. The codes must be
/// in the quantizer's range, [-127, 127]: `quant::I8Query` holds the two together.
#[derive(Debug, Clone, Default)]
pub struct I8QueryLayout {
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    halves: wasm::QueryHalves,
}

impl I8QueryLayout {
    pub fn new(codes: &[i8]) -> Self {
        debug_assert!(!codes.contains(&i8::MIN));
        #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
        return I8QueryLayout {
            halves: wasm::QueryHalves::new(codes),
        };
        #[allow(unreachable_code)]
        I8QueryLayout::default()
    }
}

/// `dot_i8_unchecked(codes, row)` for `codes` laid out as `layout`: the same exact sum.
#[inline(always)]
pub fn dot_i8_query_unchecked(layout: &I8QueryLayout, codes: &[i8], row: &[i8]) -> i32 {
    debug_assert_eq!(codes.len(), row.len());
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    {
        return wasm::dot_i8_query(&layout.halves, codes, row);
    }
    #[allow(unreachable_code)]
    {
        let _ = layout;
        dot_i8_unchecked(codes, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_text_prints_whole_numbers_exactly_and_others_rounded() {
        let cases = [
            (2024.0, "2024"),
            (1.5, "1.5"),
            (-1.0, "-1"),
            (0.0, "0"),
            (f64::from(0.1f32), "0.1"),
            (11.25, "11.25"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (3.4e38, "3.4e38"),
            (1e-5, "1e-5"),
        ];
        for (value, text) in cases {
            assert_eq!(FloatText(value).to_string(), text, "{value:e}");
        }
    }

    #[test]
    fn zero_vector_scores_zero_not_nan() {
        let z = [0.0f32; 5];
        let v = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(cosine(&z, &v).unwrap(), 0.0);
        assert_eq!(cosine(&z, &z).unwrap(), 0.0);
        assert_eq!(normalize(&z).unwrap(), z.to_vec());
    }

    #[test]
    fn non_finite_input_is_an_error() {
        let v = [1.0f32, 2.0, 3.0];
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let w = [1.0f32, bad, 3.0];
            assert_eq!(dot(&v, &w), Err(Error::NonFinite { index: 1 }));
            assert_eq!(cosine(&w, &v), Err(Error::NonFinite { index: 1 }));
            assert_eq!(l2_squared(&v, &w), Err(Error::NonFinite { index: 1 }));
            assert_eq!(normalize(&w), Err(Error::NonFinite { index: 1 }));
        }
    }

    #[test]
    fn dimension_mismatch_names_both_lengths() {
        let err = cosine(&[1.0; 384], &[1.0; 768]).unwrap_err();
        assert_eq!(
            err,
            Error::DimensionMismatch {
                expected: 384,
                actual: 768
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("384") && msg.contains("768"), "{msg}");
    }

    #[test]
    fn known_values() {
        let a = [1.0f32, 0.0, 0.0];
        let b = [0.0f32, 1.0, 0.0];
        let c = [3.0f32, 4.0, 0.0];
        assert_eq!(dot(&a, &c).unwrap(), 3.0);
        assert_eq!(cosine(&a, &b).unwrap(), 0.0);
        assert!((cosine(&a, &c).unwrap() - 0.6).abs() < 1e-6);
        assert_eq!(l2_squared(&a, &b).unwrap(), 2.0);
        assert_eq!(normalize(&c).unwrap(), vec![0.6, 0.8, 0.0]);
        assert_eq!(Metric::L2.score_unchecked(&a, &b), -2.0);
    }

    #[test]
    fn huge_finite_values_do_not_overflow_to_nan() {
        let a = [3.0e30f32; 16];
        let c = cosine(&a, &a).unwrap();
        assert!((c - 1.0).abs() < 1e-6, "{c}");
        assert!(dot(&a, &a).unwrap().is_infinite()); // the true value exceeds f32; no NaN
        let n = normalize(&a).unwrap();
        assert!((n.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn reports_a_backend() {
        let b = active_backend();
        assert!(["avx2+fma", "neon", "simd128", "relaxed-simd", "scalar"].contains(&b));
    }
}
