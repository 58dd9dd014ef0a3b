//! wasm32 simd128 kernels, compiled in when the `simd128` target feature is on.

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

pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
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
        let mut s = i32x4_extract_lane::<0>(acc)
            + i32x4_extract_lane::<1>(acc)
            + i32x4_extract_lane::<2>(acc)
            + i32x4_extract_lane::<3>(acc);
        while i < n {
            s += *pa.add(i) as i32 * *pb.add(i) as i32;
            i += 1;
        }
        s
    }
}
