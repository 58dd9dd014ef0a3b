//! Every dispatched (SIMD) kernel agrees with the scalar reference.

use proptest::prelude::*;
use vecgate_core::kernels::{self, scalar};

fn vec_pair(max_len: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (0..max_len).prop_flat_map(|n| {
        (
            prop::collection::vec(-10.0f32..10.0, n),
            prop::collection::vec(-10.0f32..10.0, n),
        )
    })
}

fn i8_pair(max_len: usize) -> impl Strategy<Value = (Vec<i8>, Vec<i8>)> {
    (0..max_len).prop_flat_map(|n| {
        (
            prop::collection::vec(any::<i8>(), n),
            prop::collection::vec(any::<i8>(), n),
        )
    })
}

/// Relative error measured against Σ|terms|: the scale at which f32 summation order matters.
fn close(fast: f32, reference: f32, magnitude: f32) -> bool {
    (fast - reference).abs() <= 1e-5 * magnitude.max(1e-6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dot_agrees((a, b) in vec_pair(1100)) {
        let mag: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
        prop_assert!(close(kernels::dot_unchecked(&a, &b), scalar::dot(&a, &b), mag));
    }

    #[test]
    fn l2_agrees((a, b) in vec_pair(1100)) {
        let reference = scalar::l2_squared(&a, &b);
        prop_assert!(close(kernels::l2_squared_unchecked(&a, &b), reference, reference));
    }

    #[test]
    fn cosine_agrees((a, b) in vec_pair(1100)) {
        let (ab, aa, bb) = kernels::cosine_parts_unchecked(&a, &b);
        let (rab, raa, rbb) = scalar::cosine_parts(&a, &b);
        let mag: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
        prop_assert!(close(ab, rab, mag));
        prop_assert!(close(aa, raa, raa));
        prop_assert!(close(bb, rbb, rbb));
        let c = kernels::cosine_unchecked(&a, &b);
        prop_assert!((-1.0..=1.0).contains(&c));
        prop_assert!((c - scalar::cosine(&a, &b)).abs() <= 1e-5);
    }

    #[test]
    fn int8_dot_is_exact((a, b) in i8_pair(1100)) {
        prop_assert_eq!(kernels::dot_i8_unchecked(&a, &b), scalar::dot_i8(&a, &b));
    }

    #[test]
    fn normalize_gives_unit_or_zero(v in prop::collection::vec(-1e3f32..1e3, 0..800)) {
        let n = kernels::normalize(&v).unwrap();
        let norm: f32 = n.iter().map(|x| x * x).sum::<f32>().sqrt();
        if v.iter().all(|&x| x == 0.0) {
            prop_assert_eq!(norm, 0.0);
        } else {
            prop_assert!((norm - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn checked_kernels_reject_mismatched_lengths(n in 1usize..100, m in 1usize..100) {
        prop_assume!(n != m);
        let (a, b) = (vec![1.0f32; n], vec![1.0f32; m]);
        let msg = kernels::cosine(&a, &b).unwrap_err().to_string();
        prop_assert!(msg.contains(&n.to_string()) && msg.contains(&m.to_string()));
    }
}
