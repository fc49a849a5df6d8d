//! Gradient tables with DIPY 1.12 `gradient_table` semantics.
//!
//! DIPY's `gradient_table_from_bvals_bvecs` reads NaN b-vector entries as 0, requires the
//! b-vectors of diffusion-weighted volumes (`b > b0_threshold`) to have norm 1 within `atol`,
//! zeroes the b-vectors that are not (and multiplies their b-values by 0), and keeps every
//! other b-vector as given (a vector of norm 1.009 is *not* renormalised). `b0s_mask` is
//! `!(b > b0_threshold)` on the b-values as given.

use voxelkit_core::{Error, Result};

/// A validated gradient table.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientTable {
    /// Effective b-values (0 where the b-vector was not unit), s/mm².
    pub bvals: Vec<f64>,
    /// Effective b-vectors (NaN read as 0; non-unit vectors zeroed).
    pub bvecs: Vec<[f64; 3]>,
    /// `true` for b=0 volumes.
    pub b0s: Vec<bool>,
    /// Volumes with `bval <= b0_threshold` are b=0 volumes.
    pub b0_threshold: f64,
}

impl GradientTable {
    /// Builds a table the way DIPY's `gradient_table(bvals, bvecs=bvecs, b0_threshold, atol)` does.
    ///
    /// Errors (`ERR_GRADIENTS`): count mismatch, no volumes, non-finite or negative b-values,
    /// infinite b-vector entries, negative `b0_threshold`, negative or non-finite `atol`, and
    /// b-vectors of diffusion-weighted volumes that are not unit within `atol` (DIPY's rule).
    /// NaN b-vector entries are read as 0, as DIPY does.
    pub fn new(bvals: &[f64], bvecs: &[[f64; 3]], b0_threshold: f64, atol: f64) -> Result<Self> {
        if bvals.len() != bvecs.len() {
            return Err(Error::gradients(format!(
                "bvals and bvecs must have one entry per volume: got {} b-values and {} b-vectors",
                bvals.len(),
                bvecs.len()
            )));
        }
        if bvals.is_empty() {
            return Err(Error::gradients("the gradient table is empty (0 volumes)"));
        }
        if !b0_threshold.is_finite() || b0_threshold < 0.0 {
            return Err(Error::gradients(format!(
                "b0Threshold must be a finite number >= 0, got {b0_threshold}"
            )));
        }
        if !atol.is_finite() || atol < 0.0 {
            return Err(Error::gradients(format!(
                "atol must be a finite number >= 0, got {atol}"
            )));
        }
        for (i, &b) in bvals.iter().enumerate() {
            if !b.is_finite() || b < 0.0 {
                return Err(Error::gradients(format!(
                    "b-value {i} must be a finite number >= 0, got {b}"
                )));
            }
        }
        let mut out_b = Vec::with_capacity(bvals.len());
        let mut out_v = Vec::with_capacity(bvals.len());
        for (i, (&b, v)) in bvals.iter().zip(bvecs).enumerate() {
            if v.iter().any(|c| c.is_infinite()) {
                return Err(Error::gradients(format!(
                    "b-vector {i} has an infinite entry: {v:?}"
                )));
            }
            let g = v.map(|c| if c.is_nan() { 0.0 } else { c });
            let norm = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt();
            let unit = (norm - 1.0).abs() <= atol;
            if b > b0_threshold && !unit {
                return Err(Error::gradients(format!(
                    "the b-vector of volume {i} (b = {b}) must be unit within atol = {atol}: \
                     got [{}, {}, {}] of norm {norm}",
                    g[0], g[1], g[2]
                )));
            }
            out_b.push(if unit { b } else { 0.0 });
            out_v.push(if unit { g } else { [0.0; 3] });
        }
        let b0s = bvals.iter().map(|&b| !(b > b0_threshold)).collect();
        Ok(GradientTable {
            bvals: out_b,
            bvecs: out_v,
            b0s,
            b0_threshold,
        })
    }

    /// Number of volumes.
    pub fn len(&self) -> usize {
        self.bvals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bvals.is_empty()
    }

    /// `true` for b=0 volumes (`bval <= b0_threshold`).
    pub fn b0s_mask(&self) -> Vec<bool> {
        self.b0s.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_nearly_unit_vectors_like_dipy() {
        let g =
            GradientTable::new(&[0.0, 1000.0], &[[0.0; 3], [0.0, 0.0, 0.995]], 50.0, 1e-2).unwrap();
        assert_eq!(g.bvals, vec![0.0, 1000.0]);
        assert_eq!(g.bvecs[1], [0.0, 0.0, 0.995]);
        assert_eq!(g.b0s_mask(), vec![true, false]);
    }

    #[test]
    fn low_b_with_zero_vector_becomes_b0() {
        let g =
            GradientTable::new(&[5.0, 1000.0], &[[0.0; 3], [1.0, 0.0, 0.0]], 50.0, 1e-2).unwrap();
        assert_eq!(g.bvals[0], 0.0);
    }

    #[test]
    fn nan_bvec_entries_read_as_zero() {
        let g = GradientTable::new(&[0.0], &[[f64::NAN; 3]], 50.0, 1e-2).unwrap();
        assert_eq!(g.bvecs[0], [0.0; 3]);
    }

    #[test]
    fn rejects_bad_tables() {
        let code = |r: Result<GradientTable>| r.unwrap_err().code;
        use voxelkit_core::Code::Gradients as G;
        assert_eq!(code(GradientTable::new(&[0.0], &[], 50.0, 1e-2)), G);
        assert_eq!(code(GradientTable::new(&[], &[], 50.0, 1e-2)), G);
        assert_eq!(
            code(GradientTable::new(
                &[f64::NAN],
                &[[1.0, 0.0, 0.0]],
                50.0,
                1e-2
            )),
            G
        );
        assert_eq!(
            code(GradientTable::new(&[-5.0], &[[1.0, 0.0, 0.0]], 50.0, 1e-2)),
            G
        );
        assert_eq!(
            code(GradientTable::new(&[1000.0], &[[0.0; 3]], 50.0, 1e-2)),
            G
        );
        assert_eq!(
            code(GradientTable::new(
                &[1000.0],
                &[[0.5, 0.0, 0.0]],
                50.0,
                1e-2
            )),
            G
        );
        assert_eq!(code(GradientTable::new(&[0.0], &[[0.0; 3]], -1.0, 1e-2)), G);
    }
}
