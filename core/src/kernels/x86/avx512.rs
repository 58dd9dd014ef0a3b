//! AVX-512 kernels: 16 f32 lanes with FMA, and int8 dot products by AVX-512 VNNI's `vpdpbusd`
//! (or, without VNNI, AVX-512BW's widening multiply-add). Tails use masked loads, which read
//! nothing past the slice and give zeros, so no scalar loop is left over.

use std::arch::x86_64::*;

/// The mask selecting the first `n` (< 16) of 16 lanes.
#[inline(always)]
fn mask16(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

/// The mask selecting the first `n` (< 64) of 64 byte lanes.
#[inline(always)]
fn mask64(n: usize) -> __mmask64 {
    (1u64 << n) - 1
}

/// # Safety
/// Requires AVX-512 F; `a.len() == b.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // Four accumulators hide the FMA latency; 64 floats per round (384 = 6 rounds).
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let x = _mm512_loadu_ps(pa.add(i + 16 * j));
            let y = _mm512_loadu_ps(pb.add(i + 16 * j));
            *acc = _mm512_fmadd_ps(x, y, *acc);
        }
        i += 64;
    }
    while i + 16 <= n {
        acc[0] = _mm512_fmadd_ps(
            _mm512_loadu_ps(pa.add(i)),
            _mm512_loadu_ps(pb.add(i)),
            acc[0],
        );
        i += 16;
    }
    if i < n {
        let m = mask16(n - i);
        let x = _mm512_maskz_loadu_ps(m, pa.add(i));
        let y = _mm512_maskz_loadu_ps(m, pb.add(i));
        acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc[0], acc[1]),
        _mm512_add_ps(acc[2], acc[3]),
    ))
}

/// # Safety
/// Requires AVX-512 F; `a.len() == b.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let d = _mm512_sub_ps(
                _mm512_loadu_ps(pa.add(i + 16 * j)),
                _mm512_loadu_ps(pb.add(i + 16 * j)),
            );
            *acc = _mm512_fmadd_ps(d, d, *acc);
        }
        i += 64;
    }
    while i + 16 <= n {
        let d = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
        acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
        i += 16;
    }
    if i < n {
        let m = mask16(n - i);
        let d = _mm512_sub_ps(
            _mm512_maskz_loadu_ps(m, pa.add(i)),
            _mm512_maskz_loadu_ps(m, pb.add(i)),
        );
        acc[1] = _mm512_fmadd_ps(d, d, acc[1]);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(acc[0], acc[1]),
        _mm512_add_ps(acc[2], acc[3]),
    ))
}

/// # Safety
/// Requires AVX-512 F; `a.len() == b.len()`.
#[target_feature(enable = "avx512f")]
pub unsafe fn cosine_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let zero = _mm512_setzero_ps();
    let (mut ab0, mut aa0, mut bb0) = (zero, zero, zero);
    let (mut ab1, mut aa1, mut bb1) = (zero, zero, zero);
    let mut i = 0;
    while i + 32 <= n {
        let x0 = _mm512_loadu_ps(pa.add(i));
        let y0 = _mm512_loadu_ps(pb.add(i));
        let x1 = _mm512_loadu_ps(pa.add(i + 16));
        let y1 = _mm512_loadu_ps(pb.add(i + 16));
        ab0 = _mm512_fmadd_ps(x0, y0, ab0);
        aa0 = _mm512_fmadd_ps(x0, x0, aa0);
        bb0 = _mm512_fmadd_ps(y0, y0, bb0);
        ab1 = _mm512_fmadd_ps(x1, y1, ab1);
        aa1 = _mm512_fmadd_ps(x1, x1, aa1);
        bb1 = _mm512_fmadd_ps(y1, y1, bb1);
        i += 32;
    }
    if i + 16 <= n {
        let (x, y) = (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
        ab0 = _mm512_fmadd_ps(x, y, ab0);
        aa0 = _mm512_fmadd_ps(x, x, aa0);
        bb0 = _mm512_fmadd_ps(y, y, bb0);
        i += 16;
    }
    if i < n {
        let m = mask16(n - i);
        let (x, y) = (
            _mm512_maskz_loadu_ps(m, pa.add(i)),
            _mm512_maskz_loadu_ps(m, pb.add(i)),
        );
        ab1 = _mm512_fmadd_ps(x, y, ab1);
        aa1 = _mm512_fmadd_ps(x, x, aa1);
        bb1 = _mm512_fmadd_ps(y, y, bb1);
    }
    (
        _mm512_reduce_add_ps(_mm512_add_ps(ab0, ab1)),
        _mm512_reduce_add_ps(_mm512_add_ps(aa0, aa1)),
        _mm512_reduce_add_ps(_mm512_add_ps(bb0, bb1)),
    )
}

/// Integer dot product by sign-extending to i16 and multiply-adding pairs (AVX-512BW): exact for
/// every code, -128 included.
///
/// # Safety
/// Requires AVX-512 F, BW and VL; `a.len() == b.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut acc0, mut acc1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let mut i = 0;
    while i + 64 <= n {
        let x0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(pa.add(i) as *const __m256i));
        let y0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(pb.add(i) as *const __m256i));
        let x1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(pa.add(i + 32) as *const __m256i));
        let y1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(pb.add(i + 32) as *const __m256i));
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(x0, y0));
        acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(x1, y1));
        i += 64;
    }
    while i < n {
        let len = (n - i).min(32);
        let m = if len == 32 {
            u32::MAX
        } else {
            (1u32 << len) - 1
        };
        let x = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, pa.add(i)));
        let y = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, pb.add(i)));
        acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(x, y));
        i += len;
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1))
}

/// `dot_i8` with AVX-512 VNNI: Σ (b ^ 0x80)·a − 128·Σ a, the second sum by `vpdpbusd` with ones.
/// Exact for every code; sums wrap, so the result is right wherever the true one fits an i32.
///
/// # Safety
/// Requires AVX-512 F, BW and VNNI; `a.len() == b.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn dot_i8_vnni(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (flip, ones) = (_mm512_set1_epi8(i8::MIN), _mm512_set1_epi8(1));
    let (mut acc, mut sum_a) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let mut i = 0;
    while i < n {
        let len = (n - i).min(64);
        let (x, y) = if len == 64 {
            (
                _mm512_loadu_si512(pa.add(i) as *const __m512i),
                _mm512_loadu_si512(pb.add(i) as *const __m512i),
            )
        } else {
            let m = mask64(len);
            (
                _mm512_maskz_loadu_epi8(m, pa.add(i)),
                _mm512_maskz_loadu_epi8(m, pb.add(i)),
            )
        };
        // Masked-off lanes hold a = 0, so they add nothing to either sum.
        acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(y, flip), x);
        sum_a = _mm512_dpbusd_epi32(sum_a, ones, x);
        i += len;
    }
    _mm512_reduce_add_epi32(acc).wrapping_sub(_mm512_reduce_add_epi32(sum_a).wrapping_mul(128))
}

/// A query's dot product with a row by AVX-512 VNNI: one `vpdpbusd` per 64 codes, with the row
/// shifted to unsigned and the shift's share, `bias` ([`super::vnni_query_bias`] of `q`), taken
/// off once at the end.
///
/// # Safety
/// Requires AVX-512 F, BW and VNNI; `q.len() == row.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn dot_i8_query_vnni(bias: i32, q: &[i8], row: &[i8]) -> i32 {
    let n = q.len().min(row.len());
    let (pq, pr) = (q.as_ptr(), row.as_ptr());
    let flip = _mm512_set1_epi8(i8::MIN);
    let (mut acc0, mut acc1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let mut i = 0;
    while i + 128 <= n {
        let r0 = _mm512_xor_si512(_mm512_loadu_si512(pr.add(i) as *const __m512i), flip);
        let r1 = _mm512_xor_si512(_mm512_loadu_si512(pr.add(i + 64) as *const __m512i), flip);
        acc0 = _mm512_dpbusd_epi32(acc0, r0, _mm512_loadu_si512(pq.add(i) as *const __m512i));
        acc1 = _mm512_dpbusd_epi32(
            acc1,
            r1,
            _mm512_loadu_si512(pq.add(i + 64) as *const __m512i),
        );
        i += 128;
    }
    while i < n {
        let len = (n - i).min(64);
        let m = if len == 64 { u64::MAX } else { mask64(len) };
        // A masked-off query code is 0, so its lane adds nothing whatever the row's.
        let r = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, pr.add(i)), flip);
        acc0 = _mm512_dpbusd_epi32(acc0, r, _mm512_maskz_loadu_epi8(m, pq.add(i)));
        i += len;
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1)).wrapping_sub(bias)
}
