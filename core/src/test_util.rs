//! Assertions shared by the unit tests.

/// Within 1e-6: the precision the hand-computed expectations are written to.
pub fn close(actual: f32, expected: f32) -> bool {
    (actual - expected).abs() < 1e-6
}

pub fn assert_vec_close(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(close(*a, *e), "{actual:?} vs {expected:?}");
    }
}
