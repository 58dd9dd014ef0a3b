//! Similarity kernels on f32 and int8 slices.
//!
//! Two layers:
//! - checked functions ([`dot`], [`cosine`], [`l2_squared`], [`normalize`]) validate lengths and
//!   finiteness and are what adapters call with user input;
//! - `*_unchecked` functions assume validated input and run on the active [`KernelPath`]: the
//!   fastest the CPU has, chosen once at run time (AVX-512, AVX2+FMA, each with VNNI for int8
//!   where present, on x86_64; NEON on aarch64), or fixed when compiled (simd128 on wasm32, plus
//!   relaxed SIMD's int8 dot product with `relaxed-simd`, same results), scalar otherwise.
//!   [`use_path`] pins a slower path for a whole process (the CLI's `VECGATE_SIMD`), and
//!   [`PathKernels`] runs any available path beside the others, as tests and benchmarks do.

#[cfg(not(target_arch = "wasm32"))]
use std::sync::atomic::{AtomicU8, Ordering};

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

/// Name of the SIMD path the dispatched kernels use in this process.
pub fn active_backend() -> &'static str {
    active_path().name()
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

/// One set of kernels, by the instructions it uses. Every path gives the same int8 results and,
/// up to f32 summation order, the same float results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum KernelPath {
    /// Portable Rust: the reference every other path is tested against.
    Scalar,
    /// x86_64 AVX2 + FMA; int8 by widening multiply-adds.
    Avx2,
    /// x86_64 AVX2 + FMA, int8 by AVX-VNNI's 256-bit `vpdpbusd`.
    AvxVnni,
    /// x86_64 AVX-512 F, BW and VL; int8 by widening multiply-adds.
    Avx512,
    /// x86_64 AVX-512, int8 by AVX-512 VNNI's `vpdpbusd`.
    Avx512Vnni,
    /// aarch64 NEON.
    Neon,
    /// wasm32 simd128, fixed when compiled.
    Simd128,
    /// wasm32 simd128 with relaxed SIMD's int8 dot product, fixed when compiled.
    RelaxedSimd,
}

impl KernelPath {
    /// Every path; among those one machine has, later ones are faster.
    pub const ALL: [KernelPath; 8] = [
        KernelPath::Scalar,
        KernelPath::Avx2,
        KernelPath::AvxVnni,
        KernelPath::Avx512,
        KernelPath::Avx512Vnni,
        KernelPath::Neon,
        KernelPath::Simd128,
        KernelPath::RelaxedSimd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Scalar => "scalar",
            KernelPath::Avx2 => "avx2+fma",
            KernelPath::AvxVnni => "avx2+fma+avx-vnni",
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx512Vnni => "avx512+vnni",
            KernelPath::Neon => "neon",
            KernelPath::Simd128 => "simd128",
            KernelPath::RelaxedSimd => "relaxed-simd",
        }
    }

    /// The path called `name`: its [`KernelPath::name`], or that name with `-` for `+` and
    /// without `+fma` (`avx2`, `avx2-avx-vnni`, `avx512-vnni`).
    pub fn parse(name: &str) -> Result<KernelPath> {
        let wanted = name.trim().to_ascii_lowercase().replace('-', "+");
        KernelPath::ALL
            .into_iter()
            .find(|p| {
                let full = p.name().replace('-', "+");
                wanted == full || wanted == full.replace("+fma", "")
            })
            .ok_or_else(|| {
                let names: Vec<&str> = KernelPath::ALL.iter().map(|p| p.name()).collect();
                Error::InvalidArgument(format!(
                    "unknown kernel path {}; one of: {}",
                    crate::error::Quoted(name),
                    names.join(", ")
                ))
            })
    }

    /// Whether this build can run the path on this CPU.
    pub fn is_available(self) -> bool {
        match self {
            KernelPath::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            KernelPath::AvxVnni => x86::has_avx_vnni(),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => x86::has_avx512(),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512Vnni => x86::has_avx512_vnni(),
            #[cfg(target_arch = "aarch64")]
            KernelPath::Neon => true,
            #[cfg(all(
                target_arch = "wasm32",
                target_feature = "simd128",
                not(target_feature = "relaxed-simd")
            ))]
            KernelPath::Simd128 => true,
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            KernelPath::RelaxedSimd => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// This path's kernels, if this build can run them on this CPU.
    pub fn kernels(self) -> Option<PathKernels> {
        self.is_available().then_some(PathKernels { path: self })
    }
}

/// The paths this build can run on this CPU, slowest first.
pub fn available_paths() -> Vec<KernelPath> {
    KernelPath::ALL
        .into_iter()
        .filter(|p| p.is_available())
        .collect()
}

/// On WebAssembly the build's target features fix the path (there is no run-time detection),
/// and hot loops that carry only that path keep the npm package within its size budget.
#[cfg(target_arch = "wasm32")]
const BUILD_PATH: KernelPath = if cfg!(target_feature = "relaxed-simd") {
    KernelPath::RelaxedSimd
} else if cfg!(target_feature = "simd128") {
    KernelPath::Simd128
} else {
    KernelPath::Scalar
};

#[cfg(not(target_arch = "wasm32"))]
const UNCHOSEN: u8 = u8::MAX;
/// The active path as its `repr(u8)`, or `UNCHOSEN` until the first kernel call.
#[cfg(not(target_arch = "wasm32"))]
static ACTIVE: AtomicU8 = AtomicU8::new(UNCHOSEN);

/// The path the `*_unchecked` kernels run on in this process.
#[inline(always)]
pub fn active_path() -> KernelPath {
    #[cfg(target_arch = "wasm32")]
    return BUILD_PATH;
    #[cfg(not(target_arch = "wasm32"))]
    match ACTIVE.load(Ordering::Relaxed) {
        UNCHOSEN => choose_fastest(),
        code => KernelPath::ALL[code as usize],
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[cold]
fn choose_fastest() -> KernelPath {
    let fastest = available_paths()
        .pop()
        .expect("the scalar path is always available");
    // A racing `use_path` wins: only an unchosen path is replaced.
    let _ = ACTIVE.compare_exchange(
        UNCHOSEN,
        fastest as u8,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    KernelPath::ALL[ACTIVE.load(Ordering::Relaxed) as usize]
}

/// Runs every later `*_unchecked` kernel in this process on `path` (a slower one than the
/// fastest, to compare or to rule a path out). Err if this CPU or build can't run it.
pub fn use_path(path: KernelPath) -> Result<()> {
    if !path.is_available() {
        let names: Vec<&str> = available_paths().iter().map(|p| p.name()).collect();
        return Err(Error::InvalidArgument(format!(
            "this machine can't run the {} kernels; it can run: {}",
            path.name(),
            names.join(", ")
        )));
    }
    #[cfg(target_arch = "wasm32")]
    {
        if path != BUILD_PATH {
            return Err(Error::InvalidArgument(format!(
                "a WebAssembly build runs the path it was built for ({}); \
                 KernelPath::kernels runs {} directly",
                BUILD_PATH.name(),
                path.name()
            )));
        }
        Ok(())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        ACTIVE.store(path as u8, Ordering::Relaxed);
        Ok(())
    }
}

/// The kernels of one path this machine can run; only [`KernelPath::kernels`] makes one, which
/// is what makes calling its instructions sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathKernels {
    path: KernelPath,
}

impl PathKernels {
    /// The kernels of the process's active path.
    #[inline(always)]
    pub fn active() -> PathKernels {
        PathKernels {
            path: active_path(),
        }
    }

    pub fn path(self) -> KernelPath {
        self.path
    }

    /// Inner product of two equal-length slices.
    #[inline(always)]
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY (each arm): `self.path` is available on this CPU (see the type).
        match self.path {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 | KernelPath::Avx512Vnni => unsafe { x86::avx512::dot(a, b) },
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 | KernelPath::AvxVnni => unsafe { x86::avx2::dot(a, b) },
            #[cfg(target_arch = "aarch64")]
            KernelPath::Neon => neon::dot(a, b),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelPath::Simd128 | KernelPath::RelaxedSimd => wasm::dot(a, b),
            _ => scalar::dot(a, b),
        }
    }

    /// Squared Euclidean distance of two equal-length slices.
    #[inline(always)]
    pub fn l2_squared(self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY (each arm): `self.path` is available on this CPU (see the type).
        match self.path {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 | KernelPath::Avx512Vnni => unsafe { x86::avx512::l2_squared(a, b) },
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 | KernelPath::AvxVnni => unsafe { x86::avx2::l2_squared(a, b) },
            #[cfg(target_arch = "aarch64")]
            KernelPath::Neon => neon::l2_squared(a, b),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelPath::Simd128 | KernelPath::RelaxedSimd => wasm::l2_squared(a, b),
            _ => scalar::l2_squared(a, b),
        }
    }

    /// (a·b, a·a, b·b) in one pass.
    #[inline(always)]
    pub fn cosine_parts(self, a: &[f32], b: &[f32]) -> (f32, f32, f32) {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY (each arm): `self.path` is available on this CPU (see the type).
        match self.path {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 | KernelPath::Avx512Vnni => unsafe {
                x86::avx512::cosine_parts(a, b)
            },
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 | KernelPath::AvxVnni => unsafe { x86::avx2::cosine_parts(a, b) },
            #[cfg(target_arch = "aarch64")]
            KernelPath::Neon => neon::cosine_parts(a, b),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelPath::Simd128 | KernelPath::RelaxedSimd => wasm::cosine_parts(a, b),
            _ => scalar::cosine_parts(a, b),
        }
    }

    /// Integer inner product of two equal-length int8 slices (exact for up to 131,072
    /// dimensions, -128 included).
    #[inline(always)]
    pub fn dot_i8(self, a: &[i8], b: &[i8]) -> i32 {
        debug_assert_eq!(a.len(), b.len());
        // SAFETY (each arm): `self.path` is available on this CPU (see the type).
        match self.path {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512Vnni => unsafe { x86::avx512::dot_i8_vnni(a, b) },
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => unsafe { x86::avx512::dot_i8(a, b) },
            #[cfg(target_arch = "x86_64")]
            KernelPath::AvxVnni => unsafe { x86::avx2::dot_i8_vnni(a, b) },
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => unsafe { x86::avx2::dot_i8(a, b) },
            #[cfg(target_arch = "aarch64")]
            KernelPath::Neon => neon::dot_i8(a, b),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            KernelPath::Simd128 | KernelPath::RelaxedSimd => wasm::dot_i8(a, b),
            _ => scalar::dot_i8(a, b),
        }
    }

    /// `self.dot_i8(codes, row)` for a query's `codes` laid out as `layout`: the same exact sum.
    #[inline(always)]
    pub fn dot_i8_query(self, layout: &I8QueryLayout, codes: &[i8], row: &[i8]) -> i32 {
        debug_assert_eq!(codes.len(), row.len());
        // SAFETY (each arm): `self.path` is available on this CPU (see the type).
        match self.path {
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512Vnni => unsafe {
                x86::avx512::dot_i8_query_vnni(layout.vnni_bias, codes, row)
            },
            #[cfg(target_arch = "x86_64")]
            KernelPath::AvxVnni => unsafe {
                x86::avx2::dot_i8_query_vnni(layout.vnni_bias, codes, row)
            },
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            KernelPath::RelaxedSimd => wasm::dot_i8_query(&layout.halves, codes, row),
            _ => {
                let _ = layout;
                self.dot_i8(codes, row)
            }
        }
    }
}

/// Inner product of two equal-length slices.
#[inline(always)]
pub fn dot_unchecked(a: &[f32], b: &[f32]) -> f32 {
    PathKernels::active().dot(a, b)
}

/// Squared Euclidean distance of two equal-length slices.
#[inline(always)]
pub fn l2_squared_unchecked(a: &[f32], b: &[f32]) -> f32 {
    PathKernels::active().l2_squared(a, b)
}

/// (a·b, a·a, b·b) in one pass.
#[inline]
pub fn cosine_parts_unchecked(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    PathKernels::active().cosine_parts(a, b)
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
    PathKernels::active().dot_i8(a, b)
}

/// A quantized query's codes prepared once for the fastest dot product against many rows
/// ([`dot_i8_query_unchecked`]): for VNNI on x86_64, the share of the row's shift to unsigned
/// that is taken off each product; for wasm's relaxed SIMD, two 7-bit halves, so that a row
/// needs no per-lane work before the int8 dot instruction. The codes must be in the quantizer's
/// range, [-127, 127]: `quant::I8Query` holds the two together.
#[derive(Debug, Clone, Default)]
pub struct I8QueryLayout {
    #[cfg(target_arch = "x86_64")]
    vnni_bias: i32,
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    halves: wasm::QueryHalves,
}

impl I8QueryLayout {
    pub fn new(codes: &[i8]) -> Self {
        debug_assert!(!codes.contains(&i8::MIN));
        I8QueryLayout {
            #[cfg(target_arch = "x86_64")]
            vnni_bias: x86::vnni_query_bias(codes),
            #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
            halves: wasm::QueryHalves::new(codes),
        }
    }
}

/// `dot_i8_unchecked(codes, row)` for `codes` laid out as `layout`: the same exact sum.
#[inline(always)]
pub fn dot_i8_query_unchecked(layout: &I8QueryLayout, codes: &[i8], row: &[i8]) -> i32 {
    PathKernels::active().dot_i8_query(layout, codes, row)
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
        assert!(KernelPath::ALL.iter().any(|p| p.name() == b), "{b}");
    }
}
