//! NEON kernels (always present on aarch64).

use std::arch::aarch64::*;

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: NEON is part of the aarch64 baseline; every load stays below `n`.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let mut i = 0;
        while i + 8 <= n {
            s0 = vfmaq_f32(s0, vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
            s1 = vfmaq_f32(s1, vld1q_f32(pa.add(i + 4)), vld1q_f32(pb.add(i + 4)));
            i += 8;
        }
        let mut s = vaddvq_f32(vaddq_f32(s0, s1));
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }
}

pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: as in `dot`.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let (mut s0, mut s1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let mut i = 0;
        while i + 8 <= n {
            let d0 = vsubq_f32(vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
            let d1 = vsubq_f32(vld1q_f32(pa.add(i + 4)), vld1q_f32(pb.add(i + 4)));
            s0 = vfmaq_f32(s0, d0, d0);
            s1 = vfmaq_f32(s1, d1, d1);
            i += 8;
        }
        let mut s = vaddvq_f32(vaddq_f32(s0, s1));
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
        let (mut ab, mut aa, mut bb) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let mut i = 0;
        while i + 4 <= n {
            let x = vld1q_f32(pa.add(i));
            let y = vld1q_f32(pb.add(i));
            ab = vfmaq_f32(ab, x, y);
            aa = vfmaq_f32(aa, x, x);
            bb = vfmaq_f32(bb, y, y);
            i += 4;
        }
        let (mut ab, mut aa, mut bb) = (vaddvq_f32(ab), vaddvq_f32(aa), vaddvq_f32(bb));
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
        let mut acc = vdupq_n_s32(0);
        let mut i = 0;
        while i + 16 <= n {
            let x = vld1q_s8(pa.add(i));
            let y = vld1q_s8(pb.add(i));
            let lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
            let hi = vmull_high_s8(x, y);
            acc = vpadalq_s16(acc, lo);
            acc = vpadalq_s16(acc, hi);
            i += 16;
        }
        let mut s = vaddvq_s32(acc);
        while i < n {
            s += *pa.add(i) as i32 * *pb.add(i) as i32;
            i += 1;
        }
        s
    }
}
