//! `Square`, `SquareRoot`, `Logarithm` and `Exponential` (PyRadiomics' `getSquareImage` …):
//! float64 voxel maps scaled by `m`, the largest absolute value of the whole image.
//!
//! - square: `(x / sqrt(m))²` as `(c x)²` with `c = 1 / sqrt(m)`;
//! - square root: `sqrt(x m)` for `x > 0`, `-sqrt(-x m)` for `x < 0`, 0 stays 0;
//! - logarithm: `log(x + 1)` for `x > 0`, `-log(1 - x)` for `x < 0`, then times
//!   `m / max|log image|`;
//! - exponential: `exp(c x)` with `c = log(m) / m`.

use super::Source;
use rayon::prelude::*;
use voxelkit_core::{Error, Result};

/// Which voxel map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointFilter {
    Square,
    SquareRoot,
    Logarithm,
    Exponential,
}

/// The largest absolute value of the whole image (order-free, so thread-independent).
fn abs_max(src: &Source<'_>) -> Result<f64> {
    let m = (0..src.len())
        .into_par_iter()
        .with_min_len(1 << 14)
        .map(|i| (src.values)(i).abs())
        .reduce(
            || 0.0,
            |a, b| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.max(b)
                }
            },
        );
    if !m.is_finite() {
        return Err(Error::setting(
            "the image holds non-finite values (NaN or infinity); the filters need finite ones",
        ));
    }
    Ok(m)
}

/// The filtered bounding box (see the module docs).
pub fn point_filter(src: &Source<'_>, f: PointFilter) -> Result<Vec<f64>> {
    let m = abs_max(src)?;
    if m == 0.0 {
        return Err(Error::setting(format!(
            "image type {f:?}: the image is zero everywhere (PyRadiomics scales by its largest \
             absolute value and would divide by zero)"
        )));
    }
    let [nx, ny, _] = src.shape;
    let [ox, oy, oz] = src.box_origin;
    let [bx, by, bz] = src.box_size;
    let at = |j: usize| -> f64 {
        let (x, y, z) = (j % bx, (j / bx) % by, j / (bx * by));
        (src.values)(((z + oz) * ny + y + oy) * nx + x + ox)
    };
    let n = bx * by * bz;
    let mut out: Vec<f64> = (0..n).into_par_iter().map(at).collect();
    match f {
        PointFilter::Square => {
            let c = 1.0 / m.sqrt();
            out.par_iter_mut().for_each(|v| {
                let t = c * *v;
                *v = t * t
            });
        }
        PointFilter::SquareRoot => out.par_iter_mut().for_each(|v| {
            if *v > 0.0 {
                *v = (*v * m).sqrt()
            } else if *v < 0.0 {
                *v = -(-*v * m).sqrt()
            }
        }),
        PointFilter::Logarithm => {
            // max |log image| is reached at the voxel of largest |x| (log is increasing)
            let lmax = (m + 1.0).ln();
            let k = m / lmax;
            out.par_iter_mut().for_each(|v| {
                if *v > 0.0 {
                    *v = (*v + 1.0).ln() * k
                } else if *v < 0.0 {
                    *v = -(-(*v - 1.0)).ln() * k
                }
            })
        }
        PointFilter::Exponential => {
            let c = m.ln() / m;
            out.par_iter_mut().for_each(|v| *v = (c * *v).exp());
        }
    }
    Ok(out)
}
