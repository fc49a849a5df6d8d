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

use crate::lanes::{avx2_or_baseline, has_avx2};
use rayon::prelude::*;

/// SciPy's `truncate` default.
pub const TRUNCATE: f64 = 4.0;
/// Largest Gaussian sigma (voxels) a registration may smooth with: a kernel of `2 * 4 * sigma + 1`
/// weights, 800,001 at this limit. DIPY's defaults reach 6,553 (`ss_sigma_factor` 0.2 at the
/// 16th pyramid level); far larger sigmas (`sigmaDiff` 1e300) made the kernel's length overflow
/// (a capacity-overflow panic, found by the `syn_options` fuzz target).
pub const MAX_SIGMA: f64 = 1e5;

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

/// Rows of [`correlate_axis`] handled per task along the slower axes.
const ROW: usize = 512;

/// One line along axis 0: `ext` holds the line extended by `r = weights.len() / 2` reflected
/// values on each side, `acc` is scratch of the line's length. Every output is
/// `x₀ w₀ + Σ_{j = r..1} (x₋ⱼ + xⱼ) wⱼ` in that order; the outputs of the line are computed
/// side by side (term by term across the line), which vectorises without changing any value.
#[inline(always)]
fn line_x(ext: &[f64], acc: &mut [f64], weights: &[f64], o: &mut [f32]) {
    let r = weights.len() / 2;
    let n = o.len();
    let acc = &mut acc[..n];
    let wr = weights[r];
    for (a, e) in acc.iter_mut().zip(&ext[r..r + n]) {
        *a = *e * wr;
    }
    for j in (1..=r).rev() {
        let w = weights[r - j];
        let lo = &ext[r - j..r - j + n];
        let hi = &ext[r + j..r + j + n];
        for ((a, l), h) in acc.iter_mut().zip(lo).zip(hi) {
            *a += (*l + *h) * w;
        }
    }
    for (ov, a) in o.iter_mut().zip(acc.iter()) {
        *ov = *a as f32;
    }
}

/// One row segment along a slower axis: output row `k` of block `(o, x0..x0 + len)` from the
/// input rows `k ± j` (reflected), the same sum as [`line_x`] per value.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_seg(
    src: &[f32],
    acc: &mut [f64],
    weights: &[f64],
    n: usize,
    inner: usize,
    o: usize,
    k: usize,
    x0: usize,
    out: &mut [f32],
) {
    let r = weights.len() / 2;
    let len = out.len();
    let row = |kk: usize| {
        let s = (o * n + kk) * inner + x0;
        &src[s..s + len]
    };
    let acc = &mut acc[..len];
    let wr = weights[r];
    for (a, v) in acc.iter_mut().zip(row(k)) {
        *a = *v as f64 * wr;
    }
    for j in (1..=r).rev() {
        let lo = row(reflect(k as i64 - j as i64, n as i64));
        let hi = row(reflect((k + j) as i64, n as i64));
        let w = weights[r - j];
        for ((a, l), h) in acc.iter_mut().zip(lo).zip(hi) {
            *a += (*l as f64 + *h as f64) * w;
        }
    }
    for (ov, a) in out.iter_mut().zip(acc.iter()) {
        *ov = *a as f32;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn line_x_avx2(ext: &[f64], acc: &mut [f64], weights: &[f64], o: &mut [f32]) {
    line_x(ext, acc, weights, o)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn row_seg_avx2(
    src: &[f32],
    acc: &mut [f64],
    weights: &[f64],
    n: usize,
    inner: usize,
    o: usize,
    k: usize,
    x0: usize,
    out: &mut [f32],
) {
    row_seg(src, acc, weights, n, inner, o, k, x0, out)
}

fn run_line_x(avx2: bool, ext: &[f64], acc: &mut [f64], weights: &[f64], o: &mut [f32]) {
    avx2_or_baseline!(
        avx2,
        line_x_avx2(ext, acc, weights, o),
        line_x(ext, acc, weights, o)
    )
}

#[allow(clippy::too_many_arguments)]
fn run_row_seg(
    avx2: bool,
    src: &[f32],
    acc: &mut [f64],
    weights: &[f64],
    n: usize,
    inner: usize,
    o: usize,
    k: usize,
    x0: usize,
    out: &mut [f32],
) {
    avx2_or_baseline!(
        avx2,
        row_seg_avx2(src, acc, weights, n, inner, o, k, x0, out),
        row_seg(src, acc, weights, n, inner, o, k, x0, out)
    )
}

/// One pass of the symmetric `weights` along `axis` of the `dims` array `data` (first axis
/// fastest), in place, float32 storage. Along axis 0 each line is extended into a buffer; along
/// the other axes whole rows of the faster axes are combined at once (the same operations in
/// the same order for every value, so the same bits, vectorised across the row).
pub fn correlate_axis(data: &mut [f32], dims: [usize; 3], axis: usize, weights: &[f64]) {
    let n = dims[axis];
    if n == 0 || data.is_empty() || weights.len() / 2 == 0 && weights[0] == 1.0 {
        return;
    }
    let mut out = vec![0.0f32; data.len()];
    correlate_axis_into(data, &mut out, dims, axis, weights);
    data.copy_from_slice(&out);
}

/// [`correlate_axis`] from `src` into `out` (same length; `weights` not the identity).
fn correlate_axis_into(
    src: &[f32],
    out: &mut [f32],
    dims: [usize; 3],
    axis: usize,
    weights: &[f64],
) {
    let n = dims[axis];
    let r = weights.len() / 2;
    let inner: usize = dims[..axis].iter().product();
    let avx2 = has_avx2();
    if inner == 1 {
        // contiguous lines
        out.par_chunks_mut(n)
            .with_min_len(16)
            .enumerate()
            .for_each_init(
                || (Vec::new(), vec![0.0f64; n]),
                |(ext, acc): &mut (Vec<f64>, Vec<f64>), (l, o)| {
                    let line = &src[l * n..(l + 1) * n];
                    ext.clear();
                    ext.extend(
                        (-(r as i64)..(n + r) as i64).map(|i| line[reflect(i, n as i64)] as f64),
                    );
                    run_line_x(avx2, ext, acc, weights, o);
                },
            );
    } else {
        // rows of `inner` values: output row (o, k) from input rows (o, k ± j), in segments of
        // at most ROW values
        let blocks = inner.div_ceil(ROW);
        out.par_chunks_mut(inner)
            .with_min_len(8 / blocks.min(8))
            .enumerate()
            .for_each_init(
                || vec![0.0f64; ROW],
                |acc, (ob, orow)| {
                    let (o, k) = (ob / n, ob % n);
                    for (b, seg) in orow.chunks_mut(ROW).enumerate() {
                        run_row_seg(avx2, src, acc, weights, n, inner, o, k, b * ROW, seg);
                    }
                },
            );
    }
}

/// `scipy.ndimage.gaussian_filter(data, sigmas)` for a float32 array with `ndim` axes.
pub fn gaussian_filter(data: &mut [f32], dims: [usize; 3], ndim: usize, sigmas: &[f64]) {
    let mut tmp: Vec<f32> = Vec::new();
    for (axis, &s) in sigmas.iter().enumerate().take(ndim) {
        if s > 1e-15 && dims[axis] > 0 && !data.is_empty() {
            let w = kernel(s);
            if w.len() / 2 == 0 && w[0] == 1.0 {
                continue;
            }
            if tmp.is_empty() {
                tmp = vec![0.0f32; data.len()];
            }
            correlate_axis_into(data, &mut tmp, dims, axis, &w);
            data.copy_from_slice(&tmp);
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
