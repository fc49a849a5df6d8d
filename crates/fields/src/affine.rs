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

    /// `self * other`, as numpy's `A.dot(B)` computes it (OpenBLAS's dgemm kernel): per entry
    /// a fused multiply-add chain over k = 0..3 from +0.
    pub fn mul(&self, o: &Affine) -> Affine {
        let mut m = [[0.0; 4]; 4];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let mut s = 0.0f64;
                for k in 0..4 {
                    s = self.m[i][k].mul_add(o.m[k][j], s);
                }
                *v = s;
            }
        }
        Affine { m }
    }

    /// The inverse as numpy's `linalg.inv` computes it (LAPACK `dgesv` on the identity): LU
    /// with partial pivoting (the first largest pivot; the column below it scaled by the
    /// pivot's reciprocal), then forward and back substitution with the reciprocal diagonal;
    /// `ERR_SETTING` when singular.
    pub fn inverse(&self, what: &str) -> Result<Affine> {
        let mut a = self.m;
        let scale = a
            .iter()
            .flatten()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(f64::MIN_POSITIVE);
        let mut perm = [0usize, 1, 2, 3];
        for k in 0..4 {
            let mut piv = k;
            for i in k + 1..4 {
                if a[i][k].abs() > a[piv][k].abs() {
                    piv = i;
                }
            }
            if !(a[piv][k].abs() > 1e-14 * scale) {
                return Err(Error::setting(format!(
                    "{what}: the affine is singular (not invertible): {:?}",
                    self.m
                )));
            }
            a.swap(k, piv);
            perm.swap(k, piv);
            let r = 1.0 / a[k][k];
            for row in a.iter_mut().skip(k + 1) {
                row[k] *= r;
            }
            for i in k + 1..4 {
                let l = a[i][k];
                for j in k + 1..4 {
                    a[i][j] = (-l).mul_add(a[k][j], a[i][j]);
                }
            }
        }
        let mut inv = [[0.0f64; 4]; 4];
        for c in 0..4 {
            let mut b = [0.0f64; 4];
            for (i, v) in b.iter_mut().enumerate() {
                if perm[i] == c {
                    *v = 1.0;
                }
            }
            for k in 0..4 {
                for i in k + 1..4 {
                    b[i] = (-b[k]).mul_add(a[i][k], b[i]);
                }
            }
            for k in (0..4).rev() {
                b[k] *= 1.0 / a[k][k];
                for i in 0..k {
                    b[i] = (-b[k]).mul_add(a[i][k], b[i]);
                }
            }
            for (i, row) in inv.iter_mut().enumerate() {
                row[c] = b[i];
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

    /// Products and inverses numpy 2.4.6 (OpenBLAS) formed in DIPY 1.12.1's SyN on the
    /// full-resolution brain pair (the prealign times a level's grid-to-world; a level's
    /// grid-to-world inverted; the prealign inverted), as bits: voxelkit's equal them (zeros up
    /// to sign). The plain sum and Gauss-Jordan differ from numpy in the last bit of some
    /// entries, which made the 256x256x25 registration drift from DIPY's.
    #[test]
    fn products_and_inverses_equal_numpys() {
        let m = |b: [u64; 16]| Affine::from_slice(&b.map(f64::from_bits), "t").unwrap();
        let same = |a: &Affine, b: &Affine| a.to_vec().iter().zip(b.to_vec()).all(|(x, y)| *x == y);
        let p = m([
            0x3ff011d8d9571c72,
            0x3faa150f95293b7a,
            0xbfad6befe15031d8,
            0xbff8f8520bcdd00b,
            0xbfaf006369c53198,
            0x3fee77ed0b399de4,
            0xbf945996e329a568,
            0xbfdf72cb3c9caffe,
            0x3fb30c3b74dc449d,
            0xbf9cae2480f6e71b,
            0x3fee2d122c546fe3,
            0x40242440c3d7eedd,
            0x0,
            0x0,
            0x0,
            0x3ff0000000000000,
        ]);
        let s = m([
            0xc008ffffffffffff,
            0x0,
            0x0,
            0x4058e6ffffffffff,
            0x0,
            0x4008ffffffffffff,
            0x0,
            0xc058e6ffffffffff,
            0x0,
            0x0,
            0x4008fffffffffffe,
            0xc0537ffffffffffd,
            0x0,
            0x0,
            0x0,
            0x3ff0000000000000,
        ]);
        assert!(same(
            &p.mul(&s),
            &m([
                0xc0091be2d3981c71,
                0x3fc460742c883676,
                0xbfc6fc536806a6ef,
                0x40587900cfe46017,
                0x3fc8384daaa20ebe,
                0x4007cdb130c50359,
                0xbfafcbfbc2f11270,
                0xc058f422e10ce6cb,
                0xbfcdc31ce6982b34,
                0xbfb6680c84c0e48c,
                0x4007933632a1f767,
                0xc04aa4187456f804,
                0x0,
                0x0,
                0x0,
                0x3ff0000000000000
            ])
        ));
        let g = m([
            0xbfe8ffffffffffff,
            0x0,
            0x0,
            0x405b7fffffffffff,
            0x0,
            0x3fe8ffffffffffff,
            0x0,
            0xc059daccbffffffc,
            0x0,
            0x0,
            0x4019fffffffffffe,
            0xc04f59999ffffffd,
            0x0,
            0x0,
            0x0,
            0x3ff0000000000000,
        ]);
        assert!(same(
            &g.inverse("t").unwrap(),
            &m([
                0xbff47ae147ae147c,
                0x8000000000000000,
                0x8000000000000000,
                0x406199999999999a,
                0x0,
                0x3ff47ae147ae147c,
                0x0,
                0x40608c0828f5c28e,
                0x0,
                0x0,
                0x3fc3b13b13b13b15,
                0x40234ad4b13b13b1,
                0x0,
                0x0,
                0x0,
                0x3ff0000000000000
            ])
        ));
        let q = m([
            0x3ff011d8d9571c72,
            0x3faa150f95293b79,
            0xbfad6befe15031d8,
            0xbff8f8520bcdd00b,
            0xbfaf006369c53196,
            0x3fee77ed0b399de4,
            0xbf945996e329a567,
            0xbfdf72cb3c9caffc,
            0x3fb30c3b74dc449e,
            0xbf9cae2480f6e71b,
            0x3fee2d122c546fe3,
            0x40242440c3d7eedd,
            0x0,
            0x0,
            0x0,
            0x3ff0000000000000,
        ]);
        assert!(same(
            &q.inverse("t").unwrap(),
            &m([
                0x3fef9f51141af267,
                0xbfaa2de79511996c,
                0x3fae47b062ec68ab,
                0x3fed7cd1f08d2500,
                0x3faf5c9d85f2288c,
                0x3ff0c393e8028e98,
                0x3f9a6ebf01fae791,
                0x3fd66e409d681d30,
                0xbfb37eb5eb5994a4,
                0x3fa1ffa5019c8878,
                0x3ff0e79a4e439ae4,
                0xc0257bcf8f9f1b24,
                0x0,
                0x0,
                0x0,
                0x3ff0000000000000
            ])
        ));
    }
}
