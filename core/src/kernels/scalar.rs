//! Portable reference kernels. Every SIMD path is tested against these.

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = x - y;
            d * d
        })
        .sum()
}

#[inline]
pub fn cosine_parts(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (&x, &y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (ab, aa, bb)
}

#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (ab, aa, bb) = cosine_parts(a, b);
    super::cosine_from_parts(ab, aa, bb)
}

#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// f64 versions for inputs whose f32 products overflow.
pub fn dot_f64(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| x as f64 * y as f64)
        .sum::<f64>() as f32
}

pub fn l2_squared_f64(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>() as f32
}

pub fn cosine_f64(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    let denom = (aa * bb).sqrt();
    if denom > 0.0 && denom.is_finite() {
        (ab / denom).clamp(-1.0, 1.0) as f32
    } else if denom.is_infinite() {
        // Rescale by the largest magnitude so the norms fit in f64.
        let m = a
            .iter()
            .chain(b)
            .fold(0.0f64, |m, &x| m.max((x as f64).abs()));
        let scaled = |v: &[f32]| v.iter().map(|&x| x as f64 / m).collect::<Vec<_>>();
        let (sa, sb) = (scaled(a), scaled(b));
        let ab: f64 = sa.iter().zip(&sb).map(|(x, y)| x * y).sum();
        let aa: f64 = sa.iter().map(|x| x * x).sum();
        let bb: f64 = sb.iter().map(|x| x * x).sum();
        (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0) as f32
    } else {
        0.0
    }
}
