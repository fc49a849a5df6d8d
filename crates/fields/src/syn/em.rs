//! DIPY's expectation-maximisation metric kernels (`dipy.align.expectmax`): the quantisation of
//! an image's positive values into equal-width classes and the masked mean and variance of the
//! other image within each class (the EM metric's hidden transfer function). Arrays are in
//! DIPY's C order (see [`super::ssd`]); the class sums are float32 accumulations in that order,
//! as DIPY's, so they run sequentially.

/// `quantize_positive_2d/3d(v, num_levels)`: class 0 for values <= 0; positive values in
/// `num_levels - 1` equal-width classes `1 + floor((v - min) / Δ)` over their range
/// (`Δ = (max - min + 1e-8) / (num_levels - 1)`; all positive values in class 1 when
/// `num_levels - 1 < 2` or `Δ < 1e-8`).
pub fn quantize_positive(v: &[f32], num_levels: usize) -> Vec<i32> {
    let mut min_v = -1.0f64;
    let mut max_v = -1.0f64;
    for &x in v {
        if x > 0.0 {
            let x = x as f64;
            if min_v < 0.0 || x < min_v {
                min_v = x;
            }
            if x > max_v {
                max_v = x;
            }
        }
    }
    let nl = num_levels - 1;
    let eps = 1e-8;
    let delta = (max_v - min_v + eps) / nl as f64;
    if nl < 2 || delta < eps {
        return v.iter().map(|&x| i32::from(x > 0.0)).collect();
    }
    v.iter()
        .map(|&x| {
            if x > 0.0 {
                ((x as f64 - min_v) / delta).floor() as i32 + 1
            } else {
                0
            }
        })
        .collect()
}

/// `compute_masked_class_stats_2d/3d(mask, v, num_labels, labels)`: per class, the mean of `v`
/// over the masked voxels and the variance about it (float32 sums in C order; infinite for
/// classes with fewer than two voxels). DIPY's 3D kernel squares `mean - v` and its 2D one
/// `v - mean`: the same float32 value.
pub fn class_stats(
    mask: &[bool],
    v: &[f32],
    num_labels: usize,
    labels: &[i32],
) -> (Vec<f32>, Vec<f32>) {
    let mut counts = vec![0u32; num_labels];
    let mut means = vec![0.0f32; num_labels];
    let mut vars = vec![0.0f32; num_labels];
    for i in 0..v.len() {
        if mask[i] {
            let l = labels[i] as usize;
            means[l] += v[i];
            counts[l] += 1;
        }
    }
    for (m, &c) in means.iter_mut().zip(&counts) {
        if c > 0 {
            *m /= c as f32;
        }
    }
    for i in 0..v.len() {
        if mask[i] {
            let l = labels[i] as usize;
            let d = v[i] - means[l];
            vars[l] += d * d;
        }
    }
    for (s, &c) in vars.iter_mut().zip(&counts) {
        if c > 1 {
            *s /= c as f32;
        } else {
            *s = f32::INFINITY;
        }
    }
    (means, vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizes_the_positive_range() {
        let v = [0.0f32, 0.1, 0.55, 1.0, -0.2];
        let q = quantize_positive(&v, 4);
        // 3 classes of width 0.3 over [0.1, 1]
        assert_eq!(q, vec![0, 1, 2, 3, 0]);
        // one positive value: every positive voxel in class 1
        assert_eq!(quantize_positive(&[0.0, 0.5, 0.5], 8), vec![0, 1, 1]);
    }

    #[test]
    fn stats_of_classes() {
        let mask = [true, true, true, false];
        let (m, s) = class_stats(&mask, &[1.0, 3.0, 5.0, 7.0], 3, &[1, 1, 2, 1]);
        assert_eq!(m, vec![0.0, 2.0, 5.0]);
        assert_eq!(s[1], 1.0);
        assert!(s[0].is_infinite() && s[2].is_infinite());
    }
}
