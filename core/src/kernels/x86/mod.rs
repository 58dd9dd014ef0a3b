//! x86_64 kernels, each set chosen at run time from what the CPU reports: AVX2+FMA (8 lanes) and
//! AVX-512 (16 lanes, masked tails). Int8 dot products use VNNI's `vpdpbusd` where the CPU has it,
//! in its 512-bit (AVX-512 VNNI) or 256-bit (AVX-VNNI) form, else widening multiply-adds.

pub mod avx2;
pub mod avx512;

use std::arch::x86_64::*;

/// True when the CPU has AVX2 and FMA.
pub fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// True when the CPU has AVX2, FMA and the 256-bit VNNI (`avxvnni`).
pub fn has_avx_vnni() -> bool {
    has_avx2() && is_x86_feature_detected!("avxvnni")
}

/// True when the CPU has AVX-512 F, BW and VL (what the masked tails and byte loads need).
pub fn has_avx512() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
}

/// True when the CPU has AVX-512 (as [`has_avx512`]) with VNNI.
pub fn has_avx512_vnni() -> bool {
    has_avx512() && is_x86_feature_detected!("avx512vnni")
}

/// What `vpdpbusd` adds beyond the true dot product when a query's codes `q` are the signed
/// operand and a row's codes, shifted to unsigned (`r ^ 0x80` = r + 128), the other:
/// Σ (r + 128)·q = Σ r·q + 128·Σ q. Computed once per query; sums wrap as the kernels' do.
pub fn vnni_query_bias(codes: &[i8]) -> i32 {
    codes
        .iter()
        .fold(0i32, |s, &c| s.wrapping_add(c as i32))
        .wrapping_mul(128)
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn hsum_i32_256(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}
