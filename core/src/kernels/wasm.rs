//! wasm32 simd128 kernels, compiled in when the `simd128` target feature is on. With the
//! `relaxed-simd` target feature too (the npm package's second .wasm), `dot_i8` uses relaxed
//! SIMD's int8 dot product; every other kernel, and every result, is the same in both builds.

use core::arch::wasm32::*;

/// What `kernels::active_backend` reports in this build.
#[cfg(not(target_feature = "relaxed-simd"))]
pub const BACKEND: &str = "simd128";
#[cfg(target_feature = "relaxed-simd")]
pub const BACKEND: &str = "relaxed-simd";

#[inline]
fn hsum(v: v128) -> f32 {
    f32x4_extract_lane::<0>(v)
        + f32x4_extract_lane::<1>(v)
        + f32x4_extract_lane::<2>(v)
        + f32x4_extract_lane::<3>(v)
}

#[inline]
unsafe fn load(p: *const f32) -> v128 {
    v128_load(p as *const v128)
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: simd128 is enabled at compile time; every load stays below `n`.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // Four independent accumulators: wasm SIMD has no FMA, and one add chain per 4 lanes
        // would leave the loop waiting on add latency instead of on memory.
        let zero = f32x4_splat(0.0);
        let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
        let (mut s4, mut s5, mut s6, mut s7) = (zero, zero, zero, zero);
        let mut i = 0;
        while i + 32 <= n {
            s0 = f32x4_add(s0, f32x4_mul(load(pa.add(i)), load(pb.add(i))));
            s1 = f32x4_add(s1, f32x4_mul(load(pa.add(i + 4)), load(pb.add(i + 4))));
            s2 = f32x4_add(s2, f32x4_mul(load(pa.add(i + 8)), load(pb.add(i + 8))));
            s3 = f32x4_add(s3, f32x4_mul(load(pa.add(i + 12)), load(pb.add(i + 12))));
            s4 = f32x4_add(s4, f32x4_mul(load(pa.add(i + 16)), load(pb.add(i + 16))));
            s5 = f32x4_add(s5, f32x4_mul(load(pa.add(i + 20)), load(pb.add(i + 20))));
            s6 = f32x4_add(s6, f32x4_mul(load(pa.add(i + 24)), load(pb.add(i + 24))));
            s7 = f32x4_add(s7, f32x4_mul(load(pa.add(i + 28)), load(pb.add(i + 28))));
            i += 32;
        }
        s0 = f32x4_add(s0, s4);
        s1 = f32x4_add(s1, s5);
        s2 = f32x4_add(s2, s6);
        s3 = f32x4_add(s3, s7);
        while i + 16 <= n {
            s0 = f32x4_add(s0, f32x4_mul(load(pa.add(i)), load(pb.add(i))));
            s1 = f32x4_add(s1, f32x4_mul(load(pa.add(i + 4)), load(pb.add(i + 4))));
            s2 = f32x4_add(s2, f32x4_mul(load(pa.add(i + 8)), load(pb.add(i + 8))));
            s3 = f32x4_add(s3, f32x4_mul(load(pa.add(i + 12)), load(pb.add(i + 12))));
            i += 16;
        }
        while i + 4 <= n {
            s0 = f32x4_add(s0, f32x4_mul(load(pa.add(i)), load(pb.add(i))));
            i += 4;
        }
        let mut sum = hsum(f32x4_add(f32x4_add(s0, s1), f32x4_add(s2, s3)));
        while i < n {
            sum += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        sum
    }
}

pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: as in `dot`.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1) = (f32x4_splat(0.0), f32x4_splat(0.0));
        let mut i = 0;
        while i + 8 <= n {
            let d0 = f32x4_sub(load(pa.add(i)), load(pb.add(i)));
            let d1 = f32x4_sub(load(pa.add(i + 4)), load(pb.add(i + 4)));
            s0 = f32x4_add(s0, f32x4_mul(d0, d0));
            s1 = f32x4_add(s1, f32x4_mul(d1, d1));
            i += 8;
        }
        let mut s = hsum(f32x4_add(s0, s1));
        while i < n {
            let d = *pa.add(i) - *pb.add(i);
            s += d * d;
            i += 1;
        }
        s
    }
}

pub fn cosine_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let n = a.len().min(b.len());
    // SAFETY: as in `dot`.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut ab, mut aa, mut bb) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
        let mut i = 0;
        while i + 4 <= n {
            let x = load(pa.add(i));
            let y = load(pb.add(i));
            ab = f32x4_add(ab, f32x4_mul(x, y));
            aa = f32x4_add(aa, f32x4_mul(x, x));
            bb = f32x4_add(bb, f32x4_mul(y, y));
            i += 4;
        }
        let (mut ab, mut aa, mut bb) = (hsum(ab), hsum(aa), hsum(bb));
        while i < n {
            let (x, y) = (*pa.add(i), *pb.add(i));
            ab += x * y;
            aa += x * x;
            bb += y * y;
            i += 1;
        }
        (ab, aa, bb)
    }
}

/// The integer dot product in the build without relaxed SIMD: each half of the 16 lanes
/// sign-extended to i16, then `i32x4.dot_i16x8_s`. Exact for every i8 input.
#[cfg(not(target_feature = "relaxed-simd"))]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_simd128(a, b)
}

fn dot_i8_simd128(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    // SAFETY: as in `dot`.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = i32x4_splat(0);
        let mut i = 0;
        while i + 16 <= n {
            let x = v128_load(pa.add(i) as *const v128);
            let y = v128_load(pb.add(i) as *const v128);
            let (xl, xh) = (i16x8_extend_low_i8x16(x), i16x8_extend_high_i8x16(x));
            let (yl, yh) = (i16x8_extend_low_i8x16(y), i16x8_extend_high_i8x16(y));
            acc = i32x4_add(acc, i32x4_dot_i16x8(xl, yl));
            acc = i32x4_add(acc, i32x4_dot_i16x8(xh, yh));
            i += 16;
        }
        let mut s = hsum_i32(acc);
        while i < n {
            s += *pa.add(i) as i32 * *pb.add(i) as i32;
            i += 1;
        }
        s
    }
}

#[inline]
fn hsum_i32(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v)
        .wrapping_add(i32x4_extract_lane::<1>(v))
        .wrapping_add(i32x4_extract_lane::<2>(v))
        .wrapping_add(i32x4_extract_lane::<3>(v))
}

/// The integer dot product with relaxed SIMD (the npm package's second .wasm): 16 products per
/// `i16x8.relaxed_dot_i8x16_i7x16_s`, whose result is the same on every engine only when the
/// second operand's bytes are 7-bit (0..=127). So it computes Σ a·b as Σ (a·sign(b))·|b|:
///
/// - `|b|` is 7-bit for every b except −128;
/// - `a·sign(b)` is `a` or `−a`, picked by the mask `b < 0` (all ones or all zeros per lane, so
///   `relaxed_laneselect` is deterministic too), and fits i8 for every a except −128 (−(−128)
///   wraps);
/// - a pair of products fits the instruction's i16 intermediate (2·127·127 < 2¹⁵), so it never
///   saturates or wraps, and `i32x4.dot_i16x8_s` with ones widens the pairs exactly.
///
/// The quantizer never writes −128, but codes from outside can (`Int8Matrix.fromCodes`, an
/// `Index` read from bytes), so the loop keeps the minimum of both inputs and, when a −128 was
/// seen, returns [`dot_i8_simd128`]'s result instead. Either way the result is the exact integer
/// sum, identical to the simd128 build's. (The i16x8 form plus `i32x4.dot_i16x8_s`, not
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s`: Node 20's experimental V8 returns twice the sum from
/// the latter.)
#[cfg(target_feature = "relaxed-simd")]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    // SAFETY: simd128 and relaxed-simd are enabled at compile time; every load stays below `n`.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // Opaque to LLVM, so that `b < 0` stays one `i8x16.lt_s` against a register: with a
        // constant zero LLVM rewrites it as `i8x16.shr_s 7`, which V8 expands to five
        // instructions on x86.
        let zero = core::hint::black_box(i8x16_splat(0));
        let ones = i16x8_splat(1);
        let (mut acc0, mut acc1) = (i32x4_splat(0), i32x4_splat(0));
        let mut low = zero;
        let mut i = 0;
        while i + 32 <= n {
            let x0 = v128_load(pa.add(i) as *const v128);
            let y0 = v128_load(pb.add(i) as *const v128);
            let x1 = v128_load(pa.add(i + 16) as *const v128);
            let y1 = v128_load(pb.add(i + 16) as *const v128);
            low = i8x16_min(low, i8x16_min(i8x16_min(x0, y0), i8x16_min(x1, y1)));
            acc0 = i32x4_add(acc0, relaxed_step(x0, y0, zero, ones));
            acc1 = i32x4_add(acc1, relaxed_step(x1, y1, zero, ones));
            i += 32;
        }
        if i + 16 <= n {
            let x = v128_load(pa.add(i) as *const v128);
            let y = v128_load(pb.add(i) as *const v128);
            low = i8x16_min(low, i8x16_min(x, y));
            acc0 = i32x4_add(acc0, relaxed_step(x, y, zero, ones));
            i += 16;
        }
        if v128_any_true(i8x16_eq(low, i8x16_splat(i8::MIN))) {
            return dot_i8_simd128(a, b);
        }
        let mut s = hsum_i32(i32x4_add(acc0, acc1));
        while i < n {
            s += *pa.add(i) as i32 * *pb.add(i) as i32;
            i += 1;
        }
        s
    }
}

/// Σ x·y of 16 lanes as four i32 pair-of-pairs sums, for `dot_i8` with relaxed SIMD (exact when
/// neither input holds −128).
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn relaxed_step(x: v128, y: v128, zero: v128, ones: v128) -> v128 {
    let signed = i8x16_relaxed_laneselect(i8x16_neg(x), x, i8x16_lt(y, zero));
    i32x4_dot_i16x8(i16x8_relaxed_dot_i8x16_i7x16(signed, i8x16_abs(y)), ones)
}
