//! Signal prediction with DIPY's `tensor_prediction`: $S = \exp(X \cdot (D_{lt}, -\log S_0))$,
//! using the tensor rebuilt from the (clipped) eigenvalues and eigenvectors, with S0 floored
//! at 1e-4 as DIPY does.

use crate::dti::design_matrix;
use crate::gradients::GradientTable;
use crate::maps::{fitted_voxels, lower_triangular_at};
use voxelkit_core::par::{for_each_tile, SharedOut};
use voxelkit_core::{Control, Error, Result};

/// Where S0 comes from.
#[derive(Debug, Clone, Copy)]
pub enum S0<'a> {
    /// One value for every voxel (DIPY's default is 1).
    Scalar(f64),
    /// One value per voxel (e.g. the fit's S0).
    PerVoxel(&'a [f64]),
}

impl S0<'_> {
    /// S0 of voxel `v`.
    #[inline]
    pub fn at(&self, v: usize) -> f64 {
        match *self {
            S0::Scalar(s) => s,
            S0::PerVoxel(s) => s[v],
        }
    }

    /// Checks a per-voxel S0's length against `nvox` and a scalar S0's value (finite, >= 0).
    pub(crate) fn check(&self, nvox: usize) -> Result<()> {
        match *self {
            S0::PerVoxel(s) if s.len() != nvox => Err(Error::shape(format!(
                "s0 has {} voxels, the fit has {nvox}",
                s.len()
            ))),
            S0::Scalar(s) if !s.is_finite() || s < 0.0 => Err(Error::setting(format!(
                "s0 must be a finite number >= 0, got {s}"
            ))),
            _ => Ok(()),
        }
    }
}

/// Predicted signal, volume-major `n * nvox` (`out[k * nvox + v]`). Voxels that were not fitted
/// (all eigenvalues zero) predict 0.
pub fn predict(
    evals: &[f64],
    evecs: &[f64],
    gtab: &GradientTable,
    s0: S0<'_>,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let mut out = vec![0.0; gtab.bvals.len() * (evals.len() / 3)];
    predict_into(evals, evecs, gtab, s0, threads, ctl, &mut out)?;
    Ok(out)
}

/// [`predict`] into a caller's buffer of `n * nvox` values (e.g. memory the JS engine owns), so
/// the output is never allocated twice. Voxels that were not fitted are set to 0.
pub fn predict_into(
    evals: &[f64],
    evecs: &[f64],
    gtab: &GradientTable,
    s0: S0<'_>,
    threads: Option<usize>,
    ctl: &Control,
    out: &mut [f64],
) -> Result<()> {
    let nvox = fitted_voxels(evals, evecs, None)?;
    s0.check(nvox)?;
    let x = design_matrix(gtab);
    predict_voxels(evals, &x, threads, ctl, out, |v| {
        let lt = lower_triangular_at(evals, evecs, nvox, v);
        let s0v = s0.at(v);
        // DIPY: -log(where(S0 > 1e-4, S0, 1e-4))
        let l6 = -(if s0v > 1e-4 { s0v } else { 1e-4 }).ln();
        x.iter().map(move |xr| {
            let mut e = 0.0;
            for c in 0..6 {
                e += lt[c] * xr[c];
            }
            e += l6 * xr[6];
            e.exp()
        })
    })
}

/// The prediction driver shared by the models: checks that `out` holds `n * nvox` values
/// (`n = design.len()`), then, tile by tile in parallel, writes `signal(v)` (the `n` predicted
/// values of voxel `v`) at `out[k * nvox + v]`, and 0 for voxels that were not fitted (all
/// eigenvalues zero).
pub(crate) fn predict_voxels<R, I>(
    evals: &[f64],
    design: &[R],
    threads: Option<usize>,
    ctl: &Control,
    out: &mut [f64],
    signal: impl Fn(usize) -> I + Sync,
) -> Result<()>
where
    I: Iterator<Item = f64>,
{
    let nvox = evals.len() / 3;
    let n = design.len();
    if out.len() != n * nvox {
        return Err(Error::shape(format!(
            "the output holds {} values, expected {nvox} voxels x {n} volumes",
            out.len()
        )));
    }
    let o = SharedOut::new(out);
    for_each_tile(nvox, threads, ctl, |_, range| {
        for v in range {
            if evals[v] == 0.0 && evals[nvox + v] == 0.0 && evals[2 * nvox + v] == 0.0 {
                for k in 0..n {
                    // SAFETY: voxel v belongs to this tile only.
                    unsafe { o.write(k * nvox + v, 0.0) };
                }
                continue;
            }
            for (k, s) in signal(v).enumerate() {
                // SAFETY: voxel v belongs to this tile only.
                unsafe { o.write(k * nvox + v, s) };
            }
        }
        Ok(())
    })
}
