//! Signal prediction with DIPY's `tensor_prediction`: $S = \exp(X \cdot (D_{lt}, -\log S_0))$,
//! using the tensor rebuilt from the (clipped) eigenvalues and eigenvectors, with S0 floored
//! at 1e-4 as DIPY does.

use crate::dti::design_matrix;
use crate::gradients::GradientTable;
use crate::maps::lower_triangular_at;
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
    let nvox = evals.len() / 3;
    if evals.len() != 3 * nvox || evecs.len() != 9 * nvox {
        return Err(Error::shape(format!(
            "evals must hold 3 and evecs 9 values per voxel: got {} and {}",
            evals.len(),
            evecs.len()
        )));
    }
    match s0 {
        S0::PerVoxel(s) if s.len() != nvox => {
            return Err(Error::shape(format!(
                "s0 has {} voxels, the fit has {nvox}",
                s.len()
            )))
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
        for v in range {
            if evals[v] == 0.0 && evals[nvox + v] == 0.0 && evals[2 * nvox + v] == 0.0 {
                for k in 0..n {
                    // SAFETY: voxel v belongs to this tile only.
                    unsafe { o.write(k * nvox + v, 0.0) };
                }
                continue;
            }
            let lt = lower_triangular_at(evals, evecs, nvox, v);
            let s0v = match s0 {
                S0::Scalar(s) => s,
                S0::PerVoxel(s) => s[v],
            };
            // DIPY: -log(where(S0 > 1e-4, S0, 1e-4))
            let l6 = -(if s0v > 1e-4 { s0v } else { 1e-4 }).ln();
            for (k, xr) in x.iter().enumerate() {
                let mut e = 0.0;
                for c in 0..6 {
                    e += lt[c] * xr[c];
                }
                e += l6 * xr[6];
                // SAFETY: voxel v belongs to this tile only.
                unsafe { o.write(k * nvox + v, e.exp()) };
            }
        }
        Ok(())
    })?;
    Ok(())
}
