//! Gaussian smoothing as `scipy.ndimage.gaussian_filter` (SciPy 1.17) on float32 arrays, the
//! way DIPY's scale space and CC metric call it.
//!
//! * kernel radius `int(truncate * sigma + 0.5)` with `truncate = 4`; weights
//!   `exp(-x² / (2σ²))` normalised by their sum, the sum taken in numpy's order (the first
//!   weight plus the pairwise sum of the rest);
//! * one 1-D pass per axis (axes with `sigma <= 1e-15` skipped), each pass reading the float32
//!   line into float64, extending it with `mode='reflect'` (`d c b a | a b c d | d c b a`) and
//!   rounding the result to float32 before the next axis, as SciPy does for a float32 output;
//! * each output value summed as SciPy's symmetric-kernel loop:
//!   `x₀ w₀ + Σ_{j = r..1} (x₋ⱼ + xⱼ) wⱼ`.
//!
//! Lines are independent, so the passes run in parallel and give the same bits at any thread
//! count.

use rayon::prelude::*;

/// SciPy's `truncate` default.
pub const TRUNCATE: f64 = 4.0;

/// numpy's `add.reduce` of a contiguous float64 vector: the first element plus the pairwise
/// sum of the others (8 accumulators for blocks up to 128 values).
pub fn np_sum(a: &[f64]) -> f64 {
    match a.split_first() {
        None => 0.0,
        Some((first, rest)) => first + pairwise(rest),
    }
}

fn pairwise(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut s = 0.0;
        for v in a {
            s += v;
        }
        s
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            s += a[i];
            i += 1;
        }
        s
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise(&a[..n2]) + pairwise(&a[n2..])
    }
}

/// The normalised Gaussian weights of SciPy's `_gaussian_kernel1d(sigma, 0, radius)`.
pub fn kernel(sigma: f64) -> Vec<f64> {
    let r = (TRUNCATE * sigma + 0.5) as i64;
    let c = -0.5 / (sigma * sigma);
    let phi: Vec<f64> = (-r..=r).map(|x| (c * (x * x) as f64).exp()).collect();
    let s = np_sum(&phi);
    phi.iter().map(|p| p / s).collect()
}

/// SciPy's `reflect` extension: index `i` (any integer) of a line of `n` values.
#[inline]
fn reflect(i: i64, n: i64) -> usize {
    let m = i.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

/// One pass of the symmetric `weights` along `axis` of the `dims` array `data` (first axis
/// fastest), in place, float32 storage.
pub fn correlate_axis(data: &mut [f32], dims: [usize; 3], axis: usize, weights: &[f64]) {
    let n = dims[axis];
    let r = weights.len() / 2;
    if n == 0 || r == 0 && weights[0] == 1.0 {
        return;
    }
    let stride = match axis {
        0 => 1,
        1 => dims[0],
        _ => dims[0] * dims[1],
    };
    let nlines = data.len() / n;
    // line l: its first element's index
    let start = |l: usize| -> usize {
        match axis {
            0 => l * dims[0],
            1 => (l % dims[0]) + (l / dims[0]) * dims[0] * dims[1],
            _ => l,
        }
    };
    let src: &[f32] = data;
    let lines: Vec<Vec<f32>> = (0..nlines)
        .into_par_iter()
        .with_min_len(64)
        .map(|l| {
            let s0 = start(l);
            let ext: Vec<f64> = (-(r as i64)..(n + r) as i64)
                .map(|i| src[s0 + reflect(i, n as i64) * stride] as f64)
                .collect();
            (0..n)
                .map(|k| {
                    let c = k + r;
                    let mut o = ext[c] * weights[r];
                    for j in (1..=r).rev() {
                        o += (ext[c - j] + ext[c + j]) * weights[r - j];
                    }
                    o as f32
                })
                .collect()
        })
        .collect();
    for (l, line) in lines.iter().enumerate() {
        let s0 = start(l);
        for (k, v) in line.iter().enumerate() {
            data[s0 + k * stride] = *v;
        }
    }
}

/// `scipy.ndimage.gaussian_filter(data, sigmas)` for a float32 array with `ndim` axes.
pub fn gaussian_filter(data: &mut [f32], dims: [usize; 3], ndim: usize, sigmas: &[f64]) {
    for (axis, &s) in sigmas.iter().enumerate().take(ndim) {
        if s > 1e-15 {
            correlate_axis(data, dims, axis, &kernel(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sums_to_one_and_has_scipy_radius() {
        for (s, r) in [(0.2, 1), (0.6, 2), (1.4, 6), (2.0, 8)] {
            let k = kernel(s);
            assert_eq!(k.len(), 2 * r + 1, "sigma {s}");
            assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn reflect_extension() {
        let got: Vec<usize> = (-4..7).map(|i| reflect(i, 3)).collect();
        assert_eq!(got, vec![2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]);
    }

    #[test]
    fn constant_stays_constant() {
        let dims = [5, 4, 3];
        let mut d = vec![0.75f32; 60];
        gaussian_filter(&mut d, dims, 3, &[1.0, 2.0, 0.5]);
        assert!(d.iter().all(|v| (v - 0.75).abs() < 1e-6));
    }
}
