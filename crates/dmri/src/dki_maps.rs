//! Kurtosis maps of a fitted [`crate::DkiFit`] with DIPY 1.12 semantics (its compiled
//! `dkispeed` formulas, which `DiffusionKurtosisFit.mk()`/`ak()`/`rk()`/`kfa` use by default):
//! MK, AK and RK from Tabesh et al.'s analytical solutions (Carlson's elliptic integrals R_F
//! and R_D), MKT, RTK and KFA. Voxels whose eigenvalues are not all above 2e-7 get MK = AK = RK
//! = 0 (unclipped) and RTK = 0 (clipped), as in DIPY. Computed in parallel on the default pool;
//! each voxel's value does not depend on the thread count.

use crate::maps::per_voxel;
use voxelkit_core::{Error, Result};

/// Which kurtosis map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KurtosisMap {
    /// Mean kurtosis.
    Mk,
    /// Axial kurtosis.
    Ak,
    /// Radial kurtosis.
    Rk,
    /// Mean of the kurtosis tensor.
    Mkt,
    /// Rescaled radial tensor kurtosis.
    Rtk,
    /// Kurtosis fractional anisotropy (never clipped).
    Kfa,
}

impl std::str::FromStr for KurtosisMap {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "mk" => KurtosisMap::Mk,
            "ak" => KurtosisMap::Ak,
            "rk" => KurtosisMap::Rk,
            "mkt" => KurtosisMap::Mkt,
            "rtk" => KurtosisMap::Rtk,
            "kfa" => KurtosisMap::Kfa,
            _ => return Err(Error::setting(format!("unknown kurtosis map '{s}'"))),
        })
    }
}

/// DIPY's defaults: `min_kurtosis = -3/7` (water in spherical pores), `max_kurtosis = 10`.
pub const MIN_KURTOSIS: f64 = -3.0 / 7.0;
pub const MAX_KURTOSIS: f64 = 10.0;

/// One voxel's parameters: eigenvalues (descending), eigenvector matrix `b[i][j]` = component
/// `i` of eigenvector `j`, and the 15 kurtosis-tensor elements.
#[derive(Debug, Clone, Copy)]
pub struct Voxel {
    pub evals: [f64; 3],
    pub b: [[f64; 3]; 3],
    pub kt: [f64; 15],
}

impl Voxel {
    /// Voxel `v` of component-major `evals` (3n), `evecs` (9n), `kt` (15n).
    #[inline]
    pub fn at(evals: &[f64], evecs: &[f64], kt: &[f64], nvox: usize, v: usize) -> Voxel {
        Voxel {
            evals: std::array::from_fn(|j| evals[j * nvox + v]),
            b: std::array::from_fn(|i| std::array::from_fn(|j| evecs[(i + 3 * j) * nvox + v])),
            kt: std::array::from_fn(|k| kt[k * nvox + v]),
        }
    }
}

/// Index in the 15-element kurtosis vector of W_ijkl, by (i+1)(j+1)(k+1)(l+1).
#[inline(always)]
fn kt_index(key: usize) -> usize {
    match key {
        1 => 0,
        16 => 1,
        81 => 2,
        2 => 3,
        3 => 4,
        8 => 5,
        24 => 6,
        27 => 7,
        54 => 8,
        4 => 9,
        9 => 10,
        36 => 11,
        6 => 12,
        12 => 13,
        18 => 14,
        _ => 0,
    }
}

/// Element (i, j, k, l) of the kurtosis tensor rotated into the eigenvector frame.
#[inline]
pub fn wrotate(kt: &[f64; 15], b: &[[f64; 3]; 3], i: usize, j: usize, k: usize, l: usize) -> f64 {
    let mut w = 0.0;
    for a in 0..3 {
        for bb in 0..3 {
            for c in 0..3 {
                for d in 0..3 {
                    let key = (a + 1) * (bb + 1) * (c + 1) * (d + 1);
                    w += b[a][i] * b[bb][j] * b[c][k] * b[d][l] * kt[kt_index(key)];
                }
            }
        }
    }
    w
}

#[inline]
fn positive_evals(l1: f64, l2: f64, l3: f64) -> bool {
    l1 > 2e-7 && l2 > 2e-7 && l3 > 2e-7
}

/// Carlson's R_F by duplication with DIPY's stopping rule (errtol 3e-4).
pub fn carlson_rf(x: f64, y: f64, z: f64) -> f64 {
    let errtol: f64 = 3e-4;
    let (mut xn, mut yn, mut zn) = (x, y, z);
    let mut an = (xn + yn + zn) / 3.0;
    let q =
        (3.0 * errtol).powf(-1.0 / 6.0) * (an - xn).abs().max((an - yn).abs()).max((an - zn).abs());
    let mut n = 0;
    while 4f64.powi(-n) * q > an.abs() {
        let (xr, yr, zr) = (xn.sqrt(), yn.sqrt(), zn.sqrt());
        let lamda = xr * (yr + zr) + yr * zr;
        n += 1;
        xn = (xn + lamda) * 0.25;
        yn = (yn + lamda) * 0.25;
        zn = (zn + lamda) * 0.25;
        an = (an + lamda) * 0.25;
        if n > 200 {
            break; // non-finite input: never loop forever
        }
    }
    let xx = 1.0 - xn / an;
    let yy = 1.0 - yn / an;
    let zz = -xx - yy;
    let e2 = xx * yy - zz * zz;
    let e3 = xx * yy * zz;
    an.powf(-0.5) * (1.0 - e2 / 10.0 + e3 / 14.0 + (e2 * e2) / 24.0 - 3.0 / 44.0 * e2 * e3)
}

/// Carlson's R_D by duplication with DIPY's stopping rule (errtol 1e-4).
pub fn carlson_rd(x: f64, y: f64, z: f64) -> f64 {
    let errtol: f64 = 1e-4;
    let (mut xn, mut yn, mut zn) = (x, y, z);
    let a0 = (xn + yn + 3.0 * zn) / 5.0;
    let mut an = a0;
    let q =
        (errtol / 4.0).powf(-1.0 / 6.0) * (an - xn).abs().max((an - yn).abs()).max((an - zn).abs());
    let mut sum = 0.0;
    let mut n = 0;
    while 4f64.powi(-n) * q > an.abs() {
        let (xr, yr, zr) = (xn.sqrt(), yn.sqrt(), zn.sqrt());
        let lamda = xr * (yr + zr) + yr * zr;
        sum += 4f64.powi(-n) / (zr * (zn + lamda));
        n += 1;
        xn = (xn + lamda) * 0.25;
        yn = (yn + lamda) * 0.25;
        zn = (zn + lamda) * 0.25;
        an = (an + lamda) * 0.25;
        if n > 200 {
            break;
        }
    }
    let p4n = 4f64.powi(n);
    let xx = (a0 - x) / (p4n * an);
    let yy = (a0 - y) / (p4n * an);
    let zz = -(xx + yy) / 3.0;
    let e2 = xx * yy - 6.0 * zz * zz;
    let e3 = (3.0 * xx * yy - 8.0 * zz * zz) * zz;
    let e4 = 3.0 * (xx * yy - zz * zz) * zz * zz;
    let e5 = xx * yy * zz * zz * zz;
    4f64.powi(-n)
        * an.powf(-1.5)
        * (1.0 - 3.0 / 14.0 * e2 + 1.0 / 6.0 * e3 + 9.0 / 88.0 * (e2 * e2)
            - 3.0 / 22.0 * e4
            - 9.0 / 52.0 * e2 * e3
            + 3.0 / 26.0 * e5)
        + 3.0 * sum
}

/// Tabesh's F2 with DIPY's 2.5 % rule for equal eigenvalues.
fn f2m(a: f64, b: f64, c: f64) -> f64 {
    let er = 2.5e-2;
    if !positive_evals(a, b, c) {
        return 0.0;
    }
    if (b - c).abs() < b * er {
        if (a - b).abs() < b * er {
            return 6.0 / 15.0;
        }
        let l1 = a;
        let l3 = (c + b) / 2.0;
        let x = 1.0 - l1 / l3;
        let alpha = if x > 0.0 {
            let s = x.sqrt();
            1.0 / s * (0.5 * ((1.0 + s) / (1.0 - s)).ln())
        } else {
            let s = (-x).sqrt();
            1.0 / s * s.atan()
        };
        return 6.0 * ((l1 + 2.0 * l3) * (l1 + 2.0 * l3))
            / (144.0 * l3 * l3 * (l1 - l3) * (l1 - l3))
            * (l3 * (l1 + 2.0 * l3) + l1 * (l1 - 4.0 * l3) * alpha);
    }
    let (l1, l2, l3) = (a, b, c);
    let rf = carlson_rf(l1 / l2, l1 / l3, 1.0);
    let rd = carlson_rd(l1 / l2, l1 / l3, 1.0);
    let s = l1 + l2 + l3;
    (s * s) / (3.0 * (l2 - l3) * (l2 - l3))
        * (((l2 + l3) / (l2 * l3).sqrt()) * rf
            + ((2.0 * l1 - l2 - l3) / (3.0 * (l2 * l3).sqrt())) * rd
            - 2.0)
}

/// Tabesh's F1 with DIPY's 2.5 % rule for equal eigenvalues.
fn f1m(a: f64, b: f64, c: f64) -> f64 {
    let er = 2.5e-2;
    if !positive_evals(a, b, c) {
        return 0.0;
    }
    let ab = (a - b).abs() < a * er;
    let ac = (a - c).abs() < a * er;
    if ab && ac {
        return 1.0 / 5.0;
    }
    if ab {
        let l1 = (a + b) / 2.0;
        return f2m(c, l1, l1) / 2.0;
    }
    if ac {
        let l1 = (a + c) / 2.0;
        return f2m(b, l1, l1) / 2.0;
    }
    let (l1, l2, l3) = (a, b, c);
    let rf = carlson_rf(l1 / l2, l1 / l3, 1.0);
    let rd = carlson_rd(l1 / l2, l1 / l3, 1.0);
    let s = l1 + l2 + l3;
    (s * s) / (18.0 * (l1 - l2) * (l1 - l3))
        * (((l2 * l3).sqrt() / l1) * rf
            + ((3.0 * l1 * l1 - l1 * l2 - l1 * l3 - l2 * l3) / (3.0 * l1 * (l2 * l3).sqrt())) * rd
            - 1.0)
}

/// Tabesh's G1 (radial kurtosis) with DIPY's 2.5 % rule.
fn g1m(a: f64, b: f64, c: f64) -> f64 {
    if !positive_evals(a, b, c) {
        return 0.0;
    }
    if (b - c).abs() >= b * 2.5e-2 {
        let s = a + b + c;
        return s * s / (18.0 * b * (b - c) * (b - c))
            * (2.0 * b + (c * c - 3.0 * b * c) / (b * c).sqrt());
    }
    (a + 2.0 * b) * (a + 2.0 * b) / (24.0 * b * b)
}

/// Tabesh's G2 (radial kurtosis) with DIPY's 2.5 % rule.
fn g2m(a: f64, b: f64, c: f64) -> f64 {
    if !positive_evals(a, b, c) {
        return 0.0;
    }
    if (b - c).abs() >= b * 2.5e-2 {
        let s = a + b + c;
        return s * s / (3.0 * (b - c) * (b - c)) * ((b + c) / (b * c).sqrt() - 2.0);
    }
    (a + 2.0 * b) * (a + 2.0 * b) / (12.0 * b * b)
}

#[inline]
fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    // DIPY: `if x < lo: x = lo; if x > hi: x = hi` (NaN passes through)
    let x = if x < lo { lo } else { x };
    if x > hi {
        hi
    } else {
        x
    }
}

/// Mean kurtosis (analytical), clipped to `[lo, hi]`.
pub fn mk(v: &Voxel, lo: f64, hi: f64) -> f64 {
    let [l1, l2, l3] = v.evals;
    if !positive_evals(l1, l2, l3) {
        return 0.0;
    }
    let w = |i, j, k, l| wrotate(&v.kt, &v.b, i, j, k, l);
    let (wxxxx, wyyyy, wzzzz) = (w(0, 0, 0, 0), w(1, 1, 1, 1), w(2, 2, 2, 2));
    let (wxxyy, wxxzz, wyyzz) = (w(0, 0, 1, 1), w(0, 0, 2, 2), w(1, 1, 2, 2));
    let m = f1m(l1, l2, l3) * wxxxx
        + f1m(l2, l1, l3) * wyyyy
        + f1m(l3, l2, l1) * wzzzz
        + f2m(l1, l2, l3) * wyyzz
        + f2m(l2, l1, l3) * wxxzz
        + f2m(l3, l2, l1) * wxxyy;
    clip(m, lo, hi)
}

/// Axial kurtosis (analytical), clipped to `[lo, hi]`.
pub fn ak(v: &Voxel, lo: f64, hi: f64) -> f64 {
    let [l1, l2, l3] = v.evals;
    if !positive_evals(l1, l2, l3) {
        return 0.0;
    }
    let wxxxx = wrotate(&v.kt, &v.b, 0, 0, 0, 0);
    let md = (l1 + l2 + l3) / 3.0;
    clip(wxxxx * (md * md) / (l1 * l1), lo, hi)
}

/// Radial kurtosis (analytical), clipped to `[lo, hi]`.
pub fn rk(v: &Voxel, lo: f64, hi: f64) -> f64 {
    let [l1, l2, l3] = v.evals;
    if !positive_evals(l1, l2, l3) {
        return 0.0;
    }
    let w = |i, j, k, l| wrotate(&v.kt, &v.b, i, j, k, l);
    let r = g1m(l1, l2, l3) * w(1, 1, 1, 1)
        + g1m(l1, l3, l2) * w(2, 2, 2, 2)
        + g2m(l1, l2, l3) * w(1, 1, 2, 2);
    clip(r, lo, hi)
}

/// Mean of the kurtosis tensor, clipped to `[lo, hi]`.
pub fn mkt(v: &Voxel, lo: f64, hi: f64) -> f64 {
    let k = &v.kt;
    clip(
        1.0 / 5.0 * (k[0] + k[1] + k[2] + 2.0 * k[9] + 2.0 * k[10] + 2.0 * k[11]),
        lo,
        hi,
    )
}

/// Rescaled radial tensor kurtosis, clipped to `[lo, hi]` (0 before clipping where the
/// eigenvalues are not all positive).
pub fn rtk(v: &Voxel, lo: f64, hi: f64) -> f64 {
    let [l1, l2, l3] = v.evals;
    if !positive_evals(l1, l2, l3) {
        return clip(0.0, lo, hi);
    }
    let w = |i, j, k, l| wrotate(&v.kt, &v.b, i, j, k, l);
    let wtk = 3.0 / 8.0 * (w(1, 1, 1, 1) + w(2, 2, 2, 2) + 2.0 * w(1, 1, 2, 2));
    let md = (l1 + l2 + l3) / 3.0;
    let rd = (l2 + l3) / 2.0;
    clip(wtk * (md * md) / (rd * rd), lo, hi)
}

/// Kurtosis fractional anisotropy (Glenn et al.), 0 where `B = 0` or `MKT <= 1e-8`.
pub fn kfa(v: &Voxel) -> f64 {
    let [wxxxx, wyyyy, wzzzz, wxxxy, wxxxz, wxyyy, wyyyz, wxzzz, wyzzz, wxxyy, wxxzz, wyyzz, wxxyz, wxyyz, wxyzz] =
        v.kt;
    let w = (1.0 / 5.0) * (wxxxx + wyyyy + wzzzz + 2.0 * wxxyy + 2.0 * wxxzz + 2.0 * wyyzz);
    let off4 = wxxxy * wxxxy
        + wxxxz * wxxxz
        + wxyyy * wxyyy
        + wyyyz * wyyyz
        + wxzzz * wxzzz
        + wyzzz * wyzzz;
    let off12 = wxxyz * wxxyz + wxyyz * wxyyz + wxyzz * wxyzz;
    let w3 = w / 3.0;
    let a = (wxxxx - w) * (wxxxx - w)
        + (wyyyy - w) * (wyyyy - w)
        + (wzzzz - w) * (wzzzz - w)
        + 4.0 * off4
        + 6.0
            * ((wxxyy - w3) * (wxxyy - w3)
                + (wxxzz - w3) * (wxxzz - w3)
                + (wyyzz - w3) * (wyyzz - w3))
        + 12.0 * off12;
    let b = wxxxx * wxxxx
        + wyyyy * wyyyy
        + wzzzz * wzzzz
        + 4.0 * off4
        + 6.0 * (wxxyy * wxxyy + wxxzz * wxxzz + wyyzz * wyyzz)
        + 12.0 * off12;
    if b > 0.0 && w > 1e-8 {
        (a / b).sqrt()
    } else {
        0.0
    }
}

/// One kurtosis map of `nvox` voxels (component-major inputs), with `[lo, hi]` clipping where
/// the map is clipped. Errors: inconsistent lengths, `lo > hi` or NaN bounds (`ERR_SETTING`).
pub fn kurtosis_map(
    map: KurtosisMap,
    evals: &[f64],
    evecs: &[f64],
    kt: &[f64],
    lo: f64,
    hi: f64,
) -> Result<Vec<f64>> {
    let nvox = evals.len() / 3;
    if evals.len() != 3 * nvox || evecs.len() != 9 * nvox || kt.len() != 15 * nvox {
        return Err(Error::shape(format!(
            "evals, evecs and kt must hold 3, 9 and 15 values per voxel: got {}, {} and {}",
            evals.len(),
            evecs.len(),
            kt.len()
        )));
    }
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return Err(Error::setting(format!(
            "minKurtosis must be <= maxKurtosis (both numbers), got {lo} and {hi}"
        )));
    }
    Ok(per_voxel::<1>(nvox, |v| {
        let vx = Voxel::at(evals, evecs, kt, nvox, v);
        [match map {
            KurtosisMap::Mk => mk(&vx, lo, hi),
            KurtosisMap::Ak => ak(&vx, lo, hi),
            KurtosisMap::Rk => rk(&vx, lo, hi),
            KurtosisMap::Mkt => mkt(&vx, lo, hi),
            KurtosisMap::Rtk => rtk(&vx, lo, hi),
            KurtosisMap::Kfa => kfa(&vx),
        }]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carlson_textbook_values() {
        // R_F(0, 1, 2) = 1.3110287771461 and R_D(0, 2, 1) = 1.7972103521034 (Carlson 1995)
        assert!((carlson_rf(1e-300, 1.0, 2.0) - 1.3110287771461).abs() < 1e-4);
        assert!((carlson_rd(1e-300, 2.0, 1.0) - 1.7972103521034).abs() < 1e-4);
        // symmetric point: R_F(x,x,x) = x^-1/2, R_D(x,x,x) = x^-3/2
        assert_eq!(carlson_rf(4.0, 4.0, 4.0), 0.5);
        assert!((carlson_rd(4.0, 4.0, 4.0) - 0.125).abs() < 1e-15);
    }

    #[test]
    fn isotropic_kurtosis_is_exact() {
        // W = K/3 (d_ij d_kl + d_ik d_jl + d_il d_jk) has MK = AK = RK = MKT = K and KFA = 0
        let k = 0.8;
        let mut kt = [0.0; 15];
        kt[0] = k;
        kt[1] = k;
        kt[2] = k;
        kt[9] = k / 3.0;
        kt[10] = k / 3.0;
        kt[11] = k / 3.0;
        let v = Voxel {
            evals: [1e-3; 3],
            b: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            kt,
        };
        for (name, got) in [
            ("mk", mk(&v, -1.0, 10.0)),
            ("ak", ak(&v, -1.0, 10.0)),
            ("rk", rk(&v, -1.0, 10.0)),
            ("mkt", mkt(&v, -1.0, 10.0)),
            ("rtk", rtk(&v, -1.0, 10.0)),
        ] {
            assert!((got - k).abs() < 1e-12, "{name} {got}");
        }
        assert!(kfa(&v).abs() < 1e-12);
    }
}
