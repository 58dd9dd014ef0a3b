//! wasm32 simd128 kernels, compiled in when the `simd128` target feature is on. With the
//! `relaxed-simd` target feature too (the npm package's second .wasm), a query's int8 dot
//! product against rows uses relaxed SIMD's (`dot_i8_query`); every other kernel, and every
//! result, is the same in both builds.

use core::arch::wasm32::*;

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

/// The integer dot product: each half of the 16 lanes sign-extended to i16, then
/// `i32x4.dot_i16x8_s`. Exact for every i8 input. (The relaxed-SIMD build uses it too, for
/// everything but a query against rows: see `QueryHalves`.)
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    // SAFETY: as in `dot`.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // 64 lanes a turn, four accumulators: V8 puts a stack check and two counter updates in
        // every loop turn (8 of ~20 x64 instructions for one block of 16), so fewer turns are
        // most of what can be saved.
        let [mut a0, mut a1, mut a2, mut a3] = [i32x4_splat(0); 4];
        let mut i = 0;
        while i + 64 <= n {
            a0 = widened_step(a0, pa.add(i), pb.add(i));
            a1 = widened_step(a1, pa.add(i + 16), pb.add(i + 16));
            a2 = widened_step(a2, pa.add(i + 32), pb.add(i + 32));
            a3 = widened_step(a3, pa.add(i + 48), pb.add(i + 48));
            i += 64;
        }
        while i + 16 <= n {
            a0 = widened_step(a0, pa.add(i), pb.add(i));
            i += 16;
        }
        let mut s = hsum_i32(i32x4_add(i32x4_add(a0, a1), i32x4_add(a2, a3)));
        while i < n {
            s += *pa.add(i) as i32 * *pb.add(i) as i32;
            i += 1;
        }
        s
    }
}

/// One block of 16 lanes of `dot_i8`: both inputs sign-extended to i16, multiplied, and the
/// pairs of products added into the accumulator.
#[inline(always)]
unsafe fn widened_step(acc: v128, a: *const i8, b: *const i8) -> v128 {
    let x = v128_load(a as *const v128);
    let y = v128_load(b as *const v128);
    let low = i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y));
    let high = i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y));
    i32x4_add(acc, i32x4_add(low, high))
}

#[inline]
fn hsum_i32(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v)
        .wrapping_add(i32x4_extract_lane::<1>(v))
        .wrapping_add(i32x4_extract_lane::<2>(v))
        .wrapping_add(i32x4_extract_lane::<3>(v))
}

/// A query's codes split once into two 7-bit halves, `max(q, 0)` and `max(−q, 0)`, 16 lanes of
/// each in turn, so that a row needs no per-lane work before `i16x8.relaxed_dot_i8x16_i7x16_s`:
/// the row is the signed operand (any i8, −128 included) and a half the 7-bit one, whose result
/// is the same on every engine. For each pair of lanes the two halves' dots differ by exactly the
/// pair's Σ q·r (one half is zero per lane), which fits i16 (|Σ| ≤ 2·127·128), so the wrapping
/// subtraction is exact. The codes are in [-127, 127] (see `I8QueryLayout`).
#[cfg(target_feature = "relaxed-simd")]
#[derive(Debug, Clone, Default)]
pub struct QueryHalves(Vec<i8>);

#[cfg(target_feature = "relaxed-simd")]
impl QueryHalves {
    pub fn new(codes: &[i8]) -> Self {
        let mut halves = Vec::with_capacity(2 * codes.len());
        for block in codes.chunks_exact(16) {
            halves.extend(block.iter().map(|&c| c.max(0)));
            halves.extend(block.iter().map(|&c| (-c).max(0)));
        }
        QueryHalves(halves)
    }
}

#[cfg(target_feature = "relaxed-simd")]
pub fn dot_i8_query(halves: &QueryHalves, codes: &[i8], row: &[i8]) -> i32 {
    let n = codes.len().min(row.len());
    // SAFETY: simd128 and relaxed-simd are enabled at compile time; the halves hold 32 lanes per
    // whole block of 16 codes, and every load stays below `n` (row) or `2 * n` (halves).
    unsafe {
        let (ph, pr) = (halves.0.as_ptr(), row.as_ptr());
        // 64 lanes a turn, as in `dot_i8`.
        let [mut a0, mut a1, mut a2, mut a3] = [i32x4_splat(0); 4];
        let mut i = 0;
        while i + 64 <= n {
            a0 = halves_step(a0, ph.add(2 * i), pr.add(i));
            a1 = halves_step(a1, ph.add(2 * i + 32), pr.add(i + 16));
            a2 = halves_step(a2, ph.add(2 * i + 64), pr.add(i + 32));
            a3 = halves_step(a3, ph.add(2 * i + 96), pr.add(i + 48));
            i += 64;
        }
        while i + 16 <= n {
            a0 = halves_step(a0, ph.add(2 * i), pr.add(i));
            i += 16;
        }
        let mut s = hsum_i32(i32x4_add(i32x4_add(a0, a1), i32x4_add(a2, a3)));
        while i < n {
            s += codes[i] as i32 * *pr.add(i) as i32;
            i += 1;
        }
        s
    }
}

/// One block of 16 lanes of `dot_i8_query`: the row against each half (the block's 32 bytes at
/// `h`), the difference of the two (the pairs of Σ q·r), widened into the accumulator.
/// (`extadd_pairwise`, not `dot_i16x8` with a splat of ones: V8 rebuilds that constant in
/// every loop turn.)
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
unsafe fn halves_step(acc: v128, h: *const i8, row: *const i8) -> v128 {
    let y = v128_load(row as *const v128);
    let positive = v128_load(h as *const v128);
    let negative = v128_load(h.add(16) as *const v128);
    let pairs = i16x8_sub(
        i16x8_relaxed_dot_i8x16_i7x16(y, positive),
        i16x8_relaxed_dot_i8x16_i7x16(y, negative),
    );
    i32x4_add(acc, i32x4_extadd_pairwise_i16x8(pairs))
}
