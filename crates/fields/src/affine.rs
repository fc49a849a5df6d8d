//! 4x4 homogeneous matrices, applied with DIPY's operation order.

use voxelkit_core::{Error, Result};

/// A 4x4 homogeneous matrix, row-major.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub m: [[f64; 4]; 4],
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        m: [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ],
    };

    /// From 16 row-major values, all finite.
    pub fn from_slice(a: &[f64], what: &str) -> Result<Affine> {
        if a.len() != 16 {
            return Err(Error::shape(format!(
                "{what}: an affine is 16 numbers (4x4 row-major), got {}",
                a.len()
            )));
        }
        if let Some(v) = a.iter().find(|v| !v.is_finite()) {
            return Err(Error::setting(format!(
                "{what}: the affine holds a non-finite value ({v})"
            )));
        }
        let mut m = [[0.0; 4]; 4];
        for (i, row) in m.iter_mut().enumerate() {
            row.copy_from_slice(&a[4 * i..4 * i + 4]);
        }
        Ok(Affine { m })
    }

    /// The 2D part (x/y block and translation) embedded with an identity z axis.
    pub fn planar(&self) -> Affine {
        let a = &self.m;
        Affine {
            m: [
                [a[0][0], a[0][1], 0.0, a[0][3]],
                [a[1][0], a[1][1], 0.0, a[1][3]],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        }
    }

    /// Row-major values.
    pub fn to_vec(&self) -> Vec<f64> {
        self.m.iter().flatten().copied().collect()
    }

    /// `self * other`.
    pub fn mul(&self, o: &Affine) -> Affine {
        let mut m = [[0.0; 4]; 4];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let mut s = 0.0;
                for k in 0..4 {
                    s += self.m[i][k] * o.m[k][j];
                }
                *v = s;
            }
        }
        Affine { m }
    }

    /// The inverse (Gauss-Jordan with partial pivoting); `ERR_SETTING` when singular.
    pub fn inverse(&self, what: &str) -> Result<Affine> {
        let mut a = self.m;
        let mut inv = Affine::IDENTITY.m;
        let scale = a
            .iter()
            .flatten()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(f64::MIN_POSITIVE);
        for col in 0..4 {
            let piv = (col..4)
                .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
                .unwrap_or(col);
            if !(a[piv][col].abs() > 1e-14 * scale) {
                return Err(Error::setting(format!(
                    "{what}: the affine is singular (not invertible): {:?}",
                    self.m
                )));
            }
            a.swap(col, piv);
            inv.swap(col, piv);
            let p = a[col][col];
            for j in 0..4 {
                a[col][j] /= p;
                inv[col][j] /= p;
            }
            for i in 0..4 {
                if i != col {
                    let f = a[i][col];
                    if f != 0.0 {
                        for j in 0..4 {
                            a[i][j] -= f * a[col][j];
                            inv[i][j] -= f * inv[col][j];
                        }
                    }
                }
            }
        }
        if inv.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::setting(format!(
                "{what}: the affine cannot be inverted in floating point: {:?}",
                self.m
            )));
        }
        Ok(Affine { m: inv })
    }

    /// Row `r` of `self * (x0, x1, x2, h)`, summed as DIPY's `_apply_affine_3d_x*`:
    /// `((a0 x0 + a1 x1) + a2 x2) + h a3`.
    #[inline(always)]
    pub fn apply3(&self, r: usize, x: [f64; 3], h: f64) -> f64 {
        let a = &self.m[r];
        a[0] * x[0] + a[1] * x[1] + a[2] * x[2] + h * a[3]
    }

    /// Row `r` of the 2D product, as DIPY's `_apply_affine_2d_x*`: `(a0 x0 + a1 x1) + h a2`
    /// (the translation is column 3 of the embedded matrix).
    #[inline(always)]
    pub fn apply2(&self, r: usize, x: [f64; 2], h: f64) -> f64 {
        let a = &self.m[r];
        a[0] * x[0] + a[1] * x[1] + h * a[3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_roundtrip() {
        let a = Affine {
            m: [
                [0.9, 0.1, -0.2, 10.0],
                [-0.05, 1.2, 0.3, -4.0],
                [0.02, -0.1, 2.5, 3.5],
                [0.0, 0.0, 0.0, 1.0],
            ],
        };
        let p = a.mul(&a.inverse("t").unwrap());
        for i in 0..4 {
            for j in 0..4 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((p.m[i][j] - e).abs() < 1e-14, "{i} {j} {}", p.m[i][j]);
            }
        }
    }

    #[test]
    fn singular_is_an_error() {
        let mut a = Affine::IDENTITY;
        a.m[1][1] = 0.0;
        assert_eq!(
            a.inverse("t").unwrap_err().code,
            voxelkit_core::Code::Setting
        );
    }
}
