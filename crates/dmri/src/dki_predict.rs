//! Signal prediction with DIPY's `dki_prediction`:
//! `S = exp(X . (D_lt, MD^2 W, -log S0))` with the tensor rebuilt from the eigenvalues and
//! eigenvectors and `MD = trace(D) / 3` of that tensor. Unlike the DTI prediction, DIPY does
//! not floor S0 here: S0 = 0 predicts 0.

use crate::dki::design_matrix;
use crate::gradients::GradientTable;
use crate::maps::{fitted_voxels, lower_triangular_at};
use crate::predict::{predict_voxels, S0};
use voxelkit_core::{Control, Error, Result};

/// Predicted signal, volume-major `n * nvox` (`out[k * nvox + v]`). Voxels that were not
/// fitted (all eigenvalues zero: a fitted voxel's are floored at the minimum diffusivity)
/// predict 0, as DIPY's multi-voxel fit does for voxels outside the mask.
pub fn predict_dki(
    evals: &[f64],
    evecs: &[f64],
    kt: &[f64],
    gtab: &GradientTable,
    s0: S0<'_>,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let mut out = vec![0.0; gtab.bvals.len() * (evals.len() / 3)];
    predict_dki_into(evals, evecs, kt, gtab, s0, threads, ctl, &mut out)?;
    Ok(out)
}

/// [`predict_dki`] into a caller's buffer of `n * nvox` values (e.g. memory the JS engine
/// owns), so the output is never allocated twice. Voxels that were not fitted are set to 0.
pub fn predict_dki_into(
    evals: &[f64],
    evecs: &[f64],
    kt: &[f64],
    gtab: &GradientTable,
    s0: S0<'_>,
    threads: Option<usize>,
    ctl: &Control,
    out: &mut [f64],
) -> Result<()> {
    let nvox = fitted_voxels(evals, evecs, Some(kt))?;
    s0.check(nvox)?;
    if let S0::PerVoxel(s) = s0 {
        if s.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(Error::setting("s0 values must be finite numbers >= 0"));
        }
    }
    let x = design_matrix(gtab);
    predict_voxels(evals, &x, threads, ctl, out, |v| {
        let lt = lower_triangular_at(evals, evecs, nvox, v);
        let md = (lt[0] + lt[2] + lt[5]) / 3.0;
        let mut p = [0.0; 22];
        p[..6].copy_from_slice(&lt);
        for k in 0..15 {
            p[6 + k] = kt[k * nvox + v] * md * md;
        }
        p[21] = -s0.at(v).ln();
        x.iter().map(move |xr| {
            let mut e = 0.0;
            for c in 0..22 {
                e += xr[c] * p[c];
            }
            e.exp()
        })
    })
}
