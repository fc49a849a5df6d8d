//! Scalar and colour maps of fitted tensors, with DIPY 1.12 formulas, computed in parallel on
//! the default pool.
//!
//! Inputs are the component-major arrays of a [`crate::DtiFit`]. A voxel whose three
//! eigenvalues are all zero was not fitted (outside the mask or non-finite input): every map is
//! 0 there (DIPY gives 0 for FA/MD/… and NaN for mode/linearity/… on such voxels).

use voxelkit_core::{Error, Result, TILE};

/// Which scalar map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarMap {
    Fa,
    Md,
    Ad,
    Rd,
    Trace,
    Mode,
    Ga,
    Linearity,
    Planarity,
    Sphericity,
}

impl std::str::FromStr for ScalarMap {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "fa" => ScalarMap::Fa,
            "md" => ScalarMap::Md,
            "ad" => ScalarMap::Ad,
            "rd" => ScalarMap::Rd,
            "trace" => ScalarMap::Trace,
            "mode" => ScalarMap::Mode,
            "ga" => ScalarMap::Ga,
            "linearity" => ScalarMap::Linearity,
            "planarity" => ScalarMap::Planarity,
            "sphericity" => ScalarMap::Sphericity,
            _ => return Err(Error::setting(format!("unknown tensor map '{s}'"))),
        })
    }
}

/// DIPY `fractional_anisotropy`.
#[inline]
pub fn fa(e: [f64; 3]) -> f64 {
    let [l1, l2, l3] = e;
    let all_zero = if l1 == 0.0 && l2 == 0.0 && l3 == 0.0 {
        1.0
    } else {
        0.0
    };
    (0.5 * ((l1 - l2).powi(2) + (l2 - l3).powi(2) + (l3 - l1).powi(2))
        / ((l1 * l1 + l2 * l2 + l3 * l3) + all_zero))
        .sqrt()
}

/// Value of one scalar map for eigenvalues `e` (descending).
#[inline]
pub fn scalar(map: ScalarMap, e: [f64; 3]) -> f64 {
    let [l1, l2, l3] = e;
    if l1 == 0.0 && l2 == 0.0 && l3 == 0.0 {
        return 0.0;
    }
    let sum = l1 + l2 + l3;
    match map {
        ScalarMap::Fa => fa(e),
        ScalarMap::Md => sum / 3.0,
        ScalarMap::Ad => l1,
        ScalarMap::Rd => (l2 + l3) / 2.0,
        ScalarMap::Trace => sum,
        ScalarMap::Mode => {
            // 3 sqrt(6) det(A~ / |A~|), A~ the deviatoric tensor; rotation invariant, so computed
            // on the eigenvalues (more accurate than DIPY's rebuilt quadratic form).
            let m = sum / 3.0;
            let (d1, d2, d3) = (l1 - m, l2 - m, l3 - m);
            let nrm = (d1 * d1 + d2 * d2 + d3 * d3).sqrt();
            if nrm == 0.0 {
                return 0.0; // DIPY: 0 where the deviatoric norm is 0
            }
            3.0 * 6f64.sqrt() * ((d1 / nrm) * (d2 / nrm) * (d3 / nrm))
        }
        ScalarMap::Ga => {
            // DIPY `geodesic_anisotropy`: logs are 0 where ev1 == 0
            let det = (l1 * l2 * l3).powf(1.0 / 3.0);
            let lg = |l: f64| (l / det).ln();
            (lg(l1).powi(2) + lg(l2).powi(2) + lg(l3).powi(2)).sqrt()
        }
        ScalarMap::Linearity => (l1 - l2) / sum,
        ScalarMap::Planarity => 2.0 * (l2 - l3) / sum,
        ScalarMap::Sphericity => (3.0 * l3) / sum,
    }
}

/// Runs `f(v)` for every voxel on the default pool, in fixed chunks (each output depends only
/// on its own voxel, so the result does not depend on the thread count).
pub(crate) fn per_voxel<const C: usize>(
    nvox: usize,
    f: impl Fn(usize) -> [f64; C] + Sync,
) -> Vec<f64> {
    use rayon::prelude::*;
    let mut out = vec![0.0; C * nvox];
    let run = |out: &mut [f64]| {
        let o = voxelkit_core::par::SharedOut::new(out);
        (0..nvox.div_ceil(TILE)).into_par_iter().for_each(|t| {
            for v in t * TILE..((t + 1) * TILE).min(nvox) {
                let r = f(v);
                for (c, x) in r.iter().enumerate() {
                    // SAFETY: index c * nvox + v belongs to voxel v of tile t only
                    unsafe { o.write(c * nvox + v, *x) };
                }
            }
        });
    };
    match voxelkit_core::par::pool(None) {
        Ok(p) => p.install(|| run(&mut out)),
        Err(_) => run(&mut out),
    }
    out
}

/// A scalar map over all voxels of a component-major `evals` array (`3 * nvox`).
pub fn scalar_map(map: ScalarMap, evals: &[f64]) -> Vec<f64> {
    let nvox = evals.len() / 3;
    per_voxel::<1>(nvox, |v| {
        [scalar(
            map,
            [evals[v], evals[nvox + v], evals[2 * nvox + v]],
        )]
    })
}

/// DIPY `color_fa`: `|principal eigenvector| * clip(FA, 0, 1)`, component-major `3 * nvox`.
pub fn color_fa(evals: &[f64], evecs: &[f64]) -> Vec<f64> {
    let nvox = evals.len() / 3;
    per_voxel::<3>(nvox, |v| {
        let f = fa([evals[v], evals[nvox + v], evals[2 * nvox + v]]).clamp(0.0, 1.0);
        // evecs[..., c, 0]: component c of the first eigenvector
        std::array::from_fn(|c| evecs[c * nvox + v].abs() * f)
    })
}

/// The voxel count of a fit's component-major outputs: `evals` (3 per voxel), `evecs` (9) and,
/// for kurtosis fits, `kt` (15); an `ERR_SHAPE` error when their lengths disagree.
pub(crate) fn fitted_voxels(evals: &[f64], evecs: &[f64], kt: Option<&[f64]>) -> Result<usize> {
    let nvox = evals.len() / 3;
    match kt {
        None if evals.len() != 3 * nvox || evecs.len() != 9 * nvox => Err(Error::shape(format!(
            "evals must hold 3 and evecs 9 values per voxel: got {} and {}",
            evals.len(),
            evecs.len()
        ))),
        Some(kt) if evals.len() != 3 * nvox || evecs.len() != 9 * nvox || kt.len() != 15 * nvox => {
            Err(Error::shape(format!(
                "evals, evecs and kt must hold 3, 9 and 15 values per voxel: got {}, {} and {}",
                evals.len(),
                evecs.len(),
                kt.len()
            )))
        }
        _ => Ok(nvox),
    }
}

/// The quadratic form `V diag(evals) V^T` of voxel `v`, as `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz]`.
#[inline]
pub fn lower_triangular_at(evals: &[f64], evecs: &[f64], nvox: usize, v: usize) -> [f64; 6] {
    let ev = |j: usize| evals[j * nvox + v];
    let vec = |i: usize, j: usize| evecs[(i + 3 * j) * nvox + v];
    let q = |r: usize, c: usize| (0..3).map(|j| vec(r, j) * ev(j) * vec(c, j)).sum::<f64>();
    [q(0, 0), q(1, 0), q(1, 1), q(2, 0), q(2, 1), q(2, 2)]
}

/// DIPY `TensorFit.lower_triangular()`: component-major `6 * nvox`.
pub fn lower_triangular(evals: &[f64], evecs: &[f64]) -> Vec<f64> {
    let nvox = evals.len() / 3;
    per_voxel::<6>(nvox, |v| lower_triangular_at(evals, evecs, nvox, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        let iso = [1e-3, 1e-3, 1e-3];
        assert_eq!(scalar(ScalarMap::Fa, iso), 0.0);
        assert_eq!(scalar(ScalarMap::Mode, iso), 0.0); // DIPY sets 0 where undefined
        let stick = [1e-3, 0.0, 0.0];
        assert!((scalar(ScalarMap::Fa, stick) - 1.0).abs() < 1e-15);
        let prolate = [2e-3, 1e-3, 1e-3];
        assert!((scalar(ScalarMap::Mode, prolate) - 1.0).abs() < 1e-12);
        let oblate = [2e-3, 2e-3, 1e-3];
        assert!((scalar(ScalarMap::Mode, oblate) + 1.0).abs() < 1e-12);
        assert!((scalar(ScalarMap::Rd, prolate) - 1e-3).abs() < 1e-18);
        let w = [3e-3, 2e-3, 1e-3];
        let s = scalar(ScalarMap::Linearity, w)
            + scalar(ScalarMap::Planarity, w)
            + scalar(ScalarMap::Sphericity, w);
        assert!((s - 1.0).abs() < 1e-15); // Westin measures sum to one
        assert_eq!(scalar(ScalarMap::Mode, [0.0; 3]), 0.0); // unfitted voxel
    }
}
