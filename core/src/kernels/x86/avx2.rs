//! AVX2 + FMA kernels (8 f32 lanes), and the 256-bit AVX-VNNI int8 dot products.

use std::arch::x86_64::*;

use super::hsum_i32_256;

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps(v, 1);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    _mm_cvtss_f32(s)
}

/// # Safety
/// Requires AVX2 and FMA; `a.len() == b.len()`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let x = _mm256_loadu_ps(pa.add(i + 8 * j));
            let y = _mm256_loadu_ps(pb.add(i + 8 * j));
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(
            _mm256_loadu_ps(pa.add(i)),
            _mm256_loadu_ps(pb.add(i)),
            acc[0],
        );
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut s = hsum(sum);
    while i < n {
        s += *pa.add(i) * *pb.add(i);
        i += 1;
    }
    s
}

/// # Safety
/// Requires AVX2 and FMA; `a.len() == b.len()`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, acc) in acc.iter_mut().enumerate() {
            let d = _mm256_sub_ps(
                _mm256_loadu_ps(pa.add(i + 8 * j)),
                _mm256_loadu_ps(pb.add(i + 8 * j)),
            );
            *acc = _mm256_fmadd_ps(d, d, *acc);
        }
        i += 32;
    }
    while i + 8 <= n {
        let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
        acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
        i += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut s = hsum(sum);
    while i < n {
        let d = *pa.add(i) - *pb.add(i);
        s += d * d;
        i += 1;
    }
    s
}

/// # Safety
/// Requires AVX2 and FMA; `a.len() == b.len()`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn cosine_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut ab0, mut aa0, mut bb0) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let (mut ab1, mut aa1, mut bb1) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut i = 0;
    while i + 16 <= n {
        let x0 = _mm256_loadu_ps(pa.add(i));
        let y0 = _mm256_loadu_ps(pb.add(i));
        let x1 = _mm256_loadu_ps(pa.add(i + 8));
        let y1 = _mm256_loadu_ps(pb.add(i + 8));
        ab0 = _mm256_fmadd_ps(x0, y0, ab0);
        aa0 = _mm256_fmadd_ps(x0, x0, aa0);
        bb0 = _mm256_fmadd_ps(y0, y0, bb0);
        ab1 = _mm256_fmadd_ps(x1, y1, ab1);
        aa1 = _mm256_fmadd_ps(x1, x1, aa1);
        bb1 = _mm256_fmadd_ps(y1, y1, bb1);
        i += 16;
    }
    if i + 8 <= n {
        let x = _mm256_loadu_ps(pa.add(i));
        let y = _mm256_loadu_ps(pb.add(i));
        ab0 = _mm256_fmadd_ps(x, y, ab0);
        aa0 = _mm256_fmadd_ps(x, x, aa0);
        bb0 = _mm256_fmadd_ps(y, y, bb0);
        i += 8;
    }
    let mut ab = hsum(_mm256_add_ps(ab0, ab1));
    let mut aa = hsum(_mm256_add_ps(aa0, aa1));
    let mut bb = hsum(_mm256_add_ps(bb0, bb1));
    while i < n {
        let (x, y) = (*pa.add(i), *pb.add(i));
        ab += x * y;
        aa += x * x;
        bb += y * y;
        i += 1;
    }
    (ab, aa, bb)
}

/// # Safety
/// Requires AVX2; `a.len() == b.len()`.
#[target_feature(enable = "avx2")]
pub unsafe fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_si256();
    let mut acc1 = _mm256_setzero_si256();
    let mut i = 0;
    // Sign-extend 16 lanes to i16, then madd pairs into i32: exact, and correct for -128 too.
    while i + 32 <= n {
        let x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(i) as *const __m128i));
        let y0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(i) as *const __m128i));
        let x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(i + 16) as *const __m128i));
        let y1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(i + 16) as *const __m128i));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x0, y0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(x1, y1));
        i += 32;
    }
    if i + 16 <= n {
        let x = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(i) as *const __m128i));
        let y = _mm256_cvtepi8_epi16(_mm_loadu_si128(pb.add(i) as *const __m128i));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x, y));
        i += 16;
    }
    let mut s = hsum_i32_256(_mm256_add_epi32(acc0, acc1));
    while i < n {
        s += *pa.add(i) as i32 * *pb.add(i) as i32;
        i += 1;
    }
    s
}

/// `dot_i8` with AVX-VNNI: Σ (b ^ 0x80)·a − 128·Σ a, the second sum by `vpdpbusd` with ones.
///
/// # Safety
/// Requires AVX2 and AVX-VNNI; `a.len() == b.len()`.
#[target_feature(enable = "avx2,avxvnni")]
pub unsafe fn dot_i8_vnni(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (flip, ones) = (_mm256_set1_epi8(i8::MIN), _mm256_set1_epi8(1));
    let (mut acc, mut sum_a) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i + 32 <= n {
        let x = _mm256_loadu_si256(pa.add(i) as *const __m256i);
        let y = _mm256_xor_si256(_mm256_loadu_si256(pb.add(i) as *const __m256i), flip);
        acc = _mm256_dpbusd_avx_epi32(acc, y, x);
        sum_a = _mm256_dpbusd_avx_epi32(sum_a, ones, x);
        i += 32;
    }
    let mut s = hsum_i32_256(acc).wrapping_sub(hsum_i32_256(sum_a).wrapping_mul(128));
    while i < n {
        s = s.wrapping_add(*pa.add(i) as i32 * *pb.add(i) as i32);
        i += 1;
    }
    s
}

/// A query's dot product with a row by AVX-VNNI; `bias` is [`super::vnni_query_bias`] of `q`.
///
/// # Safety
/// Requires AVX2 and AVX-VNNI; `q.len() == row.len()`.
#[target_feature(enable = "avx2,avxvnni")]
pub unsafe fn dot_i8_query_vnni(bias: i32, q: &[i8], row: &[i8]) -> i32 {
    let n = q.len().min(row.len());
    let (pq, pr) = (q.as_ptr(), row.as_ptr());
    let flip = _mm256_set1_epi8(i8::MIN);
    let (mut acc0, mut acc1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i + 64 <= n {
        let r0 = _mm256_xor_si256(_mm256_loadu_si256(pr.add(i) as *const __m256i), flip);
        let r1 = _mm256_xor_si256(_mm256_loadu_si256(pr.add(i + 32) as *const __m256i), flip);
        acc0 = _mm256_dpbusd_avx_epi32(acc0, r0, _mm256_loadu_si256(pq.add(i) as *const __m256i));
        acc1 = _mm256_dpbusd_avx_epi32(
            acc1,
            r1,
            _mm256_loadu_si256(pq.add(i + 32) as *const __m256i),
        );
        i += 64;
    }
    while i < n {
        // The last partial block through zero-padded copies: a zero query code adds nothing
        // whatever the row's code, so the bias stays that of the whole query.
        let len = (n - i).min(32);
        let (mut qt, mut rt) = ([0i8; 32], [0i8; 32]);
        qt[..len].copy_from_slice(&q[i..i + len]);
        rt[..len].copy_from_slice(&row[i..i + len]);
        let r = _mm256_xor_si256(_mm256_loadu_si256(rt.as_ptr() as *const __m256i), flip);
        acc0 = _mm256_dpbusd_avx_epi32(acc0, r, _mm256_loadu_si256(qt.as_ptr() as *const __m256i));
        i += len;
    }
    hsum_i32_256(_mm256_add_epi32(acc0, acc1)).wrapping_sub(bias)
}
