//! Every kernel path this machine can run (`kernels::available_paths`: on x86_64 AVX2, AVX-VNNI,
//! AVX-512 and AVX-512 VNNI where the CPU has them) agrees with the scalar reference, and so do
//! the dispatched kernels.

use proptest::prelude::*;
use vecgate_core::kernels::{self, scalar, I8QueryLayout, KernelPath, PathKernels};

/// Every path this machine runs, scalar included.
fn paths() -> Vec<PathKernels> {
    kernels::available_paths()
        .into_iter()
        .map(|p| p.kernels().expect("an available path has kernels"))
        .collect()
}

fn i8_query_pair(max_len: usize) -> impl Strategy<Value = (Vec<i8>, Vec<i8>)> {
    (0..max_len).prop_flat_map(|n| {
        (
            prop::collection::vec(-127i8..=127, n),
            prop::collection::vec(any::<i8>(), n),
        )
    })
}

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
    fn every_path_agrees_on_floats((a, b) in vec_pair(1100)) {
        let mag: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
        let (rab, raa, rbb) = scalar::cosine_parts(&a, &b);
        let l2 = scalar::l2_squared(&a, &b);
        for k in paths() {
            let name = k.path().name();
            prop_assert!(close(k.dot(&a, &b), scalar::dot(&a, &b), mag), "{name} dot");
            prop_assert!(close(k.l2_squared(&a, &b), l2, l2), "{name} l2");
            let (ab, aa, bb) = k.cosine_parts(&a, &b);
            prop_assert!(close(ab, rab, mag) && close(aa, raa, raa) && close(bb, rbb, rbb), "{name} cosine");
        }
    }

    #[test]
    fn every_path_is_exact_on_int8((a, b) in i8_pair(1100)) {
        let reference = scalar::dot_i8(&a, &b);
        for k in paths() {
            prop_assert_eq!(k.dot_i8(&a, &b), reference, "{}", k.path().name());
        }
    }

    #[test]
    fn every_path_is_exact_on_a_laid_out_query((q, row) in i8_query_pair(1100)) {
        let layout = I8QueryLayout::new(&q);
        let reference = scalar::dot_i8(&q, &row);
        for k in paths() {
            prop_assert_eq!(k.dot_i8_query(&layout, &q, &row), reference, "{}", k.path().name());
        }
        prop_assert_eq!(kernels::dot_i8_query_unchecked(&layout, &q, &row), reference);
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

#[test]
fn every_path_is_exact_at_the_extremes_of_int8() {
    // The longest vectors the int8 kernels promise to be exact for, at the largest codes: the
    // VNNI paths' shifted sums pass i32::MAX on the way and must wrap back.
    let n = 131_072;
    let (high, low) = (vec![127i8; n], vec![-127i8; n]);
    let min = vec![i8::MIN; 1000];
    let layout = I8QueryLayout::new(&high);
    for k in paths() {
        let name = k.path().name();
        assert_eq!(k.dot_i8(&high, &low), -127 * 127 * n as i32, "{name}");
        assert_eq!(k.dot_i8(&min, &min), 128 * 128 * 1000, "{name}");
        assert_eq!(
            k.dot_i8_query(&layout, &high, &high),
            127 * 127 * n as i32,
            "{name}"
        );
        assert_eq!(
            k.dot_i8_query(&layout, &high, &low),
            -127 * 127 * n as i32,
            "{name}"
        );
        let row_of_min = vec![i8::MIN; n];
        let short = I8QueryLayout::new(&high[..1000]);
        let product = k.dot_i8_query(&short, &high[..1000], &row_of_min[..1000]);
        assert_eq!(product, -128 * 127 * 1000, "{name}");
    }
}

#[test]
fn every_length_up_to_two_blocks_of_the_widest_path() {
    // Every tail: full blocks, masked remainders, and the scalar loops after them.
    let a: Vec<f32> = (0..300)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
        .collect();
    let b: Vec<f32> = (0..300)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 5.0)
        .collect();
    let ca: Vec<i8> = (0..300).map(|i| (i * 37 % 255) as u8 as i8).collect();
    let cb: Vec<i8> = (0..300).map(|i: i32| (i * 53 % 255 - 127) as i8).collect();
    for k in paths() {
        for n in 0..300 {
            let name = k.path().name();
            let mag: f32 = a[..n].iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            assert!(
                close(k.dot(&a[..n], &b[..n]), scalar::dot(&a[..n], &b[..n]), mag),
                "{name} {n}"
            );
            let l2 = scalar::l2_squared(&a[..n], &b[..n]);
            assert!(close(k.l2_squared(&a[..n], &b[..n]), l2, l2), "{name} {n}");
            assert_eq!(
                k.dot_i8(&ca[..n], &cb[..n]),
                scalar::dot_i8(&ca[..n], &cb[..n]),
                "{name} {n}"
            );
            let layout = I8QueryLayout::new(&cb[..n]);
            assert_eq!(
                k.dot_i8_query(&layout, &cb[..n], &ca[..n]),
                scalar::dot_i8(&cb[..n], &ca[..n]),
                "{name} {n}"
            );
        }
    }
}

#[test]
fn the_paths_that_ran_match_what_the_cpu_reports() {
    let ran: Vec<&str> = kernels::available_paths()
        .iter()
        .map(|p| p.name())
        .collect();
    // Printed so that a CI log says which paths were tested (`--nocapture` shows it).
    println!("kernel paths tested on this machine: {}", ran.join(", "));
    assert!(ran.contains(&"scalar"));
    assert_eq!(
        kernels::active_backend(),
        *ran.last().unwrap(),
        "the fastest runs by default"
    );
    #[cfg(target_arch = "x86_64")]
    {
        let cpu = |f: &str| {
            std::fs::read_to_string("/proc/cpuinfo")
                .unwrap()
                .contains(f)
        };
        // From the kernel's own flags, not the detection under test.
        assert_eq!(ran.contains(&"avx2+fma"), cpu(" avx2 ") && cpu(" fma "));
        assert_eq!(
            ran.contains(&"avx512+vnni"),
            cpu(" avx512f ") && cpu(" avx512bw ") && cpu(" avx512vl ") && cpu(" avx512_vnni ")
        );
        assert_eq!(
            ran.contains(&"avx2+fma+avx-vnni"),
            cpu(" avx2 ") && cpu(" avx_vnni ")
        );
    }
}

#[test]
fn a_path_the_machine_lacks_is_refused_by_name() {
    for path in KernelPath::ALL {
        assert_eq!(KernelPath::parse(path.name()).unwrap(), path);
        if !path.is_available() {
            let err = kernels::use_path(path).unwrap_err().to_string();
            assert!(err.contains(path.name()) && err.contains("scalar"), "{err}");
        }
    }
    assert_eq!(KernelPath::parse("AVX2").unwrap(), KernelPath::Avx2);
    assert_eq!(
        KernelPath::parse("avx512-vnni").unwrap(),
        KernelPath::Avx512Vnni
    );
    let err = KernelPath::parse("sse9").unwrap_err().to_string();
    assert!(err.contains("\"sse9\"") && err.contains("avx512"), "{err}");
}
