//! Signal prediction with DIPY's `dki_prediction`:
//! `S = exp(X . (D_lt, MD^2 W, -log S0))` with the tensor rebuilt from the eigenvalues and
//! eigenvectors and `MD = trace(D) / 3` of that tensor. Unlike the DTI prediction, DIPY does
//! not floor S0 here: S0 = 0 predicts 0.

use crate::dki::design_matrix;
use crate::gradients::GradientTable;
use crate::maps::lower_triangular_at;
use crate::predict::S0;
use voxelkit_core::par::{for_each_tile, SharedOut};
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
    let nvox = evals.len() / 3;
    if evals.len() != 3 * nvox || evecs.len() != 9 * nvox || kt.len() != 15 * nvox {
        return Err(Error::shape(format!(
            "evals, evecs and kt must hold 3, 9 and 15 values per voxel: got {}, {} and {}",
            evals.len(),
            evecs.len(),
            kt.len()
        )));
    }
    match s0 {
        S0::PerVoxel(s) if s.len() != nvox => {
            return Err(Error::shape(format!(
                "s0 has {} voxels, the fit has {nvox}",
                s.len()
            )))
        }
        S0::PerVoxel(s) if s.iter().any(|x| !x.is_finite() || *x < 0.0) => {
            return Err(Error::setting("s0 values must be finite numbers >= 0"))
        }
        S0::Scalar(s) if !s.is_finite() || s < 0.0 => {
            return Err(Error::setting(format!(
                "s0 must be a finite number >= 0, got {s}"
            )))
        }
        _ => {}
    }
    let x = design_matrix(gtab);
    let n = x.len();
    if out.len() != n * nvox {
        return Err(Error::shape(format!(
            "the output holds {} values, expected {nvox} voxels x {n} volumes",
            out.len()
        )));
    }
    let o = SharedOut::new(out);
    for_each_tile(nvox, threads, ctl, |_, range| {
        let mut p = [0.0; 22];
        for v in range {
            if evals[v] == 0.0 && evals[nvox + v] == 0.0 && evals[2 * nvox + v] == 0.0 {
                for k in 0..n {
                    // SAFETY: voxel v belongs to this tile only.
                    unsafe { o.write(k * nvox + v, 0.0) };
                }
                continue;
            }
            let lt = lower_triangular_at(evals, evecs, nvox, v);
            let md = (lt[0] + lt[2] + lt[5]) / 3.0;
            let s0v = match s0 {
                S0::Scalar(s) => s,
                S0::PerVoxel(s) => s[v],
            };
            p[..6].copy_from_slice(&lt);
            for k in 0..15 {
                p[6 + k] = kt[k * nvox + v] * md * md;
            }
            p[21] = -s0v.ln();
            for (k, xr) in x.iter().enumerate() {
                let mut e = 0.0;
                for c in 0..22 {
                    e += xr[c] * p[c];
                }
                // SAFETY: voxel v belongs to this tile only.
                unsafe { o.write(k * nvox + v, e.exp()) };
            }
        }
        Ok(())
    })?;
    Ok(())
}
