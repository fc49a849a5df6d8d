//! `Gradient`: SimpleITK's `GradientMagnitudeImageFilter` (PyRadiomics' `getGradientImage`).
//! Per axis the first-derivative operator `(f[i+1] - f[i-1]) / 2`, its coefficients scaled by
//! `1 / spacing` with `gradientUseSpacing` (ITK's `ScaleCoefficients`), a zero-flux Neumann
//! boundary (the edge voxel repeats); the magnitude `sqrt(gx² + gy² + gz²)` in double, stored as
//! float32 (SimpleITK's output type). Only the bounding box is computed.

use super::Source;
use rayon::prelude::*;

/// The gradient magnitude on the bounding box, float32.
pub fn gradient_magnitude(src: &Source<'_>, use_spacing: bool) -> Vec<f32> {
    let [nx, ny, nz] = src.shape;
    let [ox, oy, oz] = src.box_origin;
    let [bx, by, bz] = src.box_size;
    let c: [f64; 3] = [0, 1, 2].map(|d| {
        if use_spacing {
            0.5 * (1.0 / src.spacing[d])
        } else {
            0.5
        }
    });
    let n = [nx, ny, nz];
    let f = |p: [usize; 3]| (src.values)((p[2] * ny + p[1]) * nx + p[0]);
    (0..bx * by * bz)
        .into_par_iter()
        .with_min_len(1 << 12)
        .map(|j| {
            let p = [j % bx + ox, (j / bx) % by + oy, j / (bx * by) + oz];
            let mut a = 0.0f64;
            for d in 0..3 {
                let (mut lo, mut hi) = (p, p);
                lo[d] = p[d].saturating_sub(1);
                hi[d] = (p[d] + 1).min(n[d] - 1);
                // ITK's inner product: -c f[i-1] + 0 f[i] + c f[i+1]
                let g = -c[d] * f(lo) + c[d] * f(hi);
                a += g * g;
            }
            a.sqrt() as f32
        })
        .collect()
}
