//! Kurtosis maps of a fitted [`crate::DkiFit`] with DIPY 1.12 semantics (its compiled
//! `dkispeed` formulas, which `DiffusionKurtosisFit.mk()`/`ak()`/`rk()`/`kfa` use by default):
//! MK, AK and RK from Tabesh et al.'s analytical solutions (Carlson's elliptic integrals R_F
//! and R_D) or DIPY's numerical estimators (directional kurtoses averaged over a 45-direction
//! t-design or 10 perpendicular directions), MKT, RTK and KFA. Voxels whose eigenvalues are not all above 2e-7 get MK = AK = RK
//! = 0 (unclipped) and RTK = 0 (clipped), as in DIPY. Computed in parallel on the default pool;
//! each voxel's value does not depend on the thread count.

use crate::maps::{fitted_voxels, per_voxel};
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

    /// All eigenvalues above 2e-7 (DIPY's condition for the kurtosis maps).
    #[inline]
    fn positive(&self) -> bool {
        let [l1, l2, l3] = self.evals;
        positive_evals(l1, l2, l3)
    }

    /// Mean diffusivity.
    #[inline]
    fn md(&self) -> f64 {
        let [l1, l2, l3] = self.evals;
        (l1 + l2 + l3) / 3.0
    }

    /// The principal eigenvector.
    #[inline]
    fn principal(&self) -> [f64; 3] {
        [self.b[0][0], self.b[1][0], self.b[2][0]]
    }

    /// Element (i, j, k, l) of the kurtosis tensor in the eigenvector frame ([`wrotate`]).
    #[inline]
    fn w(&self, i: usize, j: usize, k: usize, l: usize) -> f64 {
        wrotate(&self.kt, &self.b, i, j, k, l)
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

/// Carlson's duplication with DIPY's stopping rule, from `(x, y, z, a0)`: with
/// `q = c^(-1/6) max(|a0 - x|, |a0 - y|, |a0 - z|)`, replaces each of `x, y, z, a` by
/// `(v + lamda) / 4`, `lamda = sqrt(x) (sqrt(y) + sqrt(z)) + sqrt(y) sqrt(z)`, while
/// `4^-n q > |a|` (at most 201 steps: a non-finite input never loops forever). `step(n, z,
/// sqrt(z), lamda)` sees each step before its update. Returns the final `(x, y, z, a, n)`.
#[inline]
fn carlson_duplication(
    (mut xn, mut yn, mut zn, mut an): (f64, f64, f64, f64),
    c: f64,
    mut step: impl FnMut(i32, f64, f64, f64),
) -> (f64, f64, f64, f64, i32) {
    let q = c.powf(-1.0 / 6.0) * (an - xn).abs().max((an - yn).abs()).max((an - zn).abs());
    let mut n = 0;
    while 4f64.powi(-n) * q > an.abs() {
        let (xr, yr, zr) = (xn.sqrt(), yn.sqrt(), zn.sqrt());
        let lamda = xr * (yr + zr) + yr * zr;
        step(n, zn, zr, lamda);
        n += 1;
        xn = (xn + lamda) * 0.25;
        yn = (yn + lamda) * 0.25;
        zn = (zn + lamda) * 0.25;
        an = (an + lamda) * 0.25;
        if n > 200 {
            break;
        }
    }
    (xn, yn, zn, an, n)
}

/// Carlson's R_F by duplication with DIPY's stopping rule (errtol 3e-4).
pub fn carlson_rf(x: f64, y: f64, z: f64) -> f64 {
    let errtol: f64 = 3e-4;
    let (xn, yn, _, an, _) =
        carlson_duplication((x, y, z, (x + y + z) / 3.0), 3.0 * errtol, |_, _, _, _| {});
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
    let a0 = (x + y + 3.0 * z) / 5.0;
    let mut sum = 0.0;
    let (_, _, _, an, n) = carlson_duplication((x, y, z, a0), errtol / 4.0, |n, zn, zr, lamda| {
        sum += 4f64.powi(-n) / (zr * (zn + lamda));
    });
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
    if !v.positive() {
        return 0.0;
    }
    let [l1, l2, l3] = v.evals;
    let (wxxxx, wyyyy, wzzzz) = (v.w(0, 0, 0, 0), v.w(1, 1, 1, 1), v.w(2, 2, 2, 2));
    let (wxxyy, wxxzz, wyyzz) = (v.w(0, 0, 1, 1), v.w(0, 0, 2, 2), v.w(1, 1, 2, 2));
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
    if !v.positive() {
        return 0.0;
    }
    let l1 = v.evals[0];
    let md = v.md();
    clip(v.w(0, 0, 0, 0) * (md * md) / (l1 * l1), lo, hi)
}

/// Radial kurtosis (analytical), clipped to `[lo, hi]`.
pub fn rk(v: &Voxel, lo: f64, hi: f64) -> f64 {
    if !v.positive() {
        return 0.0;
    }
    let [l1, l2, l3] = v.evals;
    let r = g1m(l1, l2, l3) * v.w(1, 1, 1, 1)
        + g1m(l1, l3, l2) * v.w(2, 2, 2, 2)
        + g2m(l1, l2, l3) * v.w(1, 1, 2, 2);
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
    if !v.positive() {
        return clip(0.0, lo, hi);
    }
    let wtk = 3.0 / 8.0 * (v.w(1, 1, 1, 1) + v.w(2, 2, 2, 2) + 2.0 * v.w(1, 1, 2, 2));
    let md = v.md();
    let rd = (v.evals[1] + v.evals[2]) / 2.0;
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

/// The voxel's diffusion tensor `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz]` rebuilt from its eigen-system.
#[inline]
fn tensor(v: &Voxel) -> [f64; 6] {
    let q = |r: usize, c: usize| {
        (0..3)
            .map(|j| v.b[r][j] * v.evals[j] * v.b[c][j])
            .sum::<f64>()
    };
    [q(0, 0), q(1, 0), q(1, 1), q(2, 0), q(2, 1), q(2, 2)]
}

/// DIPY's `directional_kurtosis` along unit direction `n`: `adv (MD / adc)^2` with the ADC
/// floored at 0, clipped below at `lo`.
#[inline]
fn directional_kurtosis(dt: &[f64; 6], md: f64, kt: &[f64; 15], n: [f64; 3], lo: f64) -> f64 {
    let [x, y, z] = n;
    let adc = x * x * dt[0]
        + 2.0 * x * y * dt[1]
        + y * y * dt[2]
        + 2.0 * x * z * dt[3]
        + 2.0 * y * z * dt[4]
        + z * z * dt[5];
    let adc = if adc < 0.0 { 0.0 } else { adc };
    let adv = x * x * x * x * kt[0]
        + y * y * y * y * kt[1]
        + z * z * z * z * kt[2]
        + 4.0 * x * x * x * y * kt[3]
        + 4.0 * x * x * x * z * kt[4]
        + 4.0 * x * y * y * y * kt[5]
        + 4.0 * y * y * y * z * kt[6]
        + 4.0 * x * z * z * z * kt[7]
        + 4.0 * y * z * z * z * kt[8]
        + 6.0 * x * x * y * y * kt[9]
        + 6.0 * x * x * z * z * kt[10]
        + 6.0 * y * y * z * z * kt[11]
        + 12.0 * x * x * y * z * kt[12]
        + 12.0 * x * y * y * z * kt[13]
        + 12.0 * x * y * z * z * kt[14];
    let r = md / adc;
    let k = adv * (r * r);
    if k < lo {
        lo
    } else {
        k
    }
}

/// The mean of the directional kurtoses (each clipped below at `lo`) along `dirs`, normalised
/// again as DIPY does.
fn mean_directional_kurtosis(v: &Voxel, dirs: &[[f64; 3]], lo: f64) -> f64 {
    let dt = tensor(v);
    let md = v.md();
    let mut s = 0.0;
    for d in dirs {
        let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        s += directional_kurtosis(&dt, md, &v.kt, [d[0] / n, d[1] / n, d[2] / n], lo);
    }
    s / dirs.len() as f64
}

/// Mean kurtosis, numerical: the mean of the directional kurtoses (each clipped below at `lo`)
/// over the 45-direction t-design, then clipped to `[lo, hi]` (DIPY `mk(analytical=False)`).
pub fn mk_numerical(v: &Voxel, lo: f64, hi: f64) -> f64 {
    let m = if v.positive() {
        mean_directional_kurtosis(v, &T_DESIGN_45, lo)
    } else {
        0.0
    };
    clip(m, lo, hi)
}

/// Axial kurtosis, numerical: the directional kurtosis along the principal eigenvector (clipped
/// below at -3/7 as DIPY's default does), then clipped to `[lo, hi]`.
pub fn ak_numerical(v: &Voxel, lo: f64, hi: f64) -> f64 {
    let a = if v.positive() {
        directional_kurtosis(&tensor(v), v.md(), &v.kt, v.principal(), MIN_KURTOSIS)
    } else {
        0.0
    };
    clip(a, lo, hi)
}

/// DIPY's `perpendicular_directions(e, num, half=True)`: `num` unit vectors perpendicular to
/// `e`, evenly spaced over a half circle.
fn perpendicular_directions(e: [f64; 3], num: usize) -> Vec<[f64; 3]> {
    let er = f64::EPSILON * 1e3;
    (0..num)
        .map(|i| {
            let a = std::f64::consts::PI * i as f64 / num as f64;
            let (sina, cosa) = (a.sin(), a.cos());
            if (e[0] - 1.0).abs() > er {
                let sq = (e[1] * e[1] + e[2] * e[2]).sqrt();
                [
                    -sq * sina,
                    (e[0] * e[1] * sina - e[2] * cosa) / sq,
                    (e[0] * e[2] * sina + e[1] * cosa) / sq,
                ]
            } else {
                let sq = (e[0] * e[0] + e[2] * e[2]).sqrt();
                [
                    -(e[2] * cosa + e[0] * e[1] * sina) / sq,
                    sina * sq,
                    (e[0] * cosa - e[2] * e[1] * sina) / sq,
                ]
            }
        })
        .collect()
}

/// Radial kurtosis, numerical: the mean directional kurtosis (each clipped below at `lo`) over
/// 10 directions perpendicular to the principal eigenvector, then clipped to `[lo, hi]`.
pub fn rk_numerical(v: &Voxel, lo: f64, hi: f64) -> f64 {
    let r = if v.positive() {
        mean_directional_kurtosis(v, &perpendicular_directions(v.principal(), 10), lo)
    } else {
        0.0
    };
    clip(r, lo, hi)
}

/// The 45-direction spherical t-design (Hardin & Sloane) that DIPY's numerical MK averages
/// over (DIPY's data file `tdesign45.txt`, values as published).
pub const T_DESIGN_45: [[f64; 3]; 45] = [
    [0.182043913928168, -0.092704804144403, 0.978910533547506],
    [-0.340163392047712, 0.096636276573202, 0.935387778817247],
    [0.070029642399186, 0.438017065762302, 0.896234846056783],
    [0.406299198650681, -0.392222958109974, 0.825276991262495],
    [-0.502052907475803, -0.31340317724547, 0.806052930388282],
    [-0.16617037551611, -0.631581895003208, 0.757292358475241],
    [0.564556833080451, 0.431566519046806, 0.703580785596079],
    [-0.251657165573272, 0.700420116996234, 0.667892454458507],
    [0.761073783409344, 0.033839495303313, 0.647782050356911],
    [-0.689166959924956, 0.470041103540143, 0.551461931896082],
    [-0.844458834701971, 0.083211203206454, 0.529117351969035],
    [0.166790153281689, -0.837963969697513, 0.519612769528479],
    [-3.38142653e-07, -0.999999999999941, 5.1139543e-08],
    [0.825320355156326, 0.562747972020442, 0.046486894406017],
    [0.428784758863538, 0.788094723683671, 0.441645035145077],
    [0.837982165758089, -0.397841299131732, 0.373507952494399],
    [-0.725354257065087, -0.581937343505558, 0.367709300931116],
    [0.599978001694085, -0.748095908264377, 0.283511744944137],
    [0.0102962118216, 0.960455871268593, 0.278241814556712],
    [-0.411173677134327, -0.883129935666437, 0.225871033914555],
    [0.970146316615112, 0.18989712938566, 0.150848283414881],
    [-0.959916320194799, -0.237455188580304, 0.148915048399982],
    [-0.489078081085307, 0.861410026680515, 0.137023343033908],
    [0.489078344268034, 0.861409858586197, -0.137023460394736],
    [0.95991614251061, -0.237455655978974, -0.1489154484637],
    [-0.970146211755088, 0.189897463353104, -0.150848537378749],
    [0.411173207992671, -0.883130286541791, -0.225870516052072],
    [-0.010295830674582, 0.960455843866905, -0.278241923247795],
    [-0.599978278931395, -0.748095830083596, -0.283511364537749],
    [0.725353857661064, -0.581937941842743, -0.367709141877171],
    [-0.837982111762402, -0.397841173160007, -0.373508207814628],
    [-0.428784489739221, 0.788094864863886, -0.441645044503219],
    [-0.825320203561851, 0.562748203022905, -0.046486789382754],
    [-0.166790526681298, -0.837963935497204, -0.519612704824865],
    [0.844458855699995, 0.083210985600961, -0.529117352678185],
    [0.689167026286208, 0.470041028019343, -0.551461913334315],
    [-0.761073594089126, 0.033839581719348, -0.647782268273315],
    [0.251657227336896, 0.700419874521606, -0.667892685469936],
    [-0.564556780777004, 0.431566700950479, -0.70358071598746],
    [0.166170307198945, -0.631582184981924, -0.757292131623502],
    [0.502052846325575, -0.313403501155645, -0.806052842535632],
    [-0.406299099983909, -0.39222299219588, -0.82527702363823],
    [-0.070029629255691, 0.438016891948409, -0.896234932031868],
    [0.340163643018865, 0.096636011872206, -0.935387714895577],
    [-0.182043726883572, -0.092704831005997, -0.978910565787544],
];

/// One kurtosis map of `nvox` voxels (component-major inputs), with `[lo, hi]` clipping where
/// the map is clipped; `analytical = false` selects DIPY's numerical estimators of MK, AK and RK
/// (the other maps have one definition). Errors: inconsistent lengths, `lo > hi` or NaN bounds
/// (`ERR_SETTING`).
pub fn kurtosis_map(
    map: KurtosisMap,
    analytical: bool,
    evals: &[f64],
    evecs: &[f64],
    kt: &[f64],
    lo: f64,
    hi: f64,
) -> Result<Vec<f64>> {
    let nvox = fitted_voxels(evals, evecs, Some(kt))?;
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return Err(Error::setting(format!(
            "minKurtosis must be <= maxKurtosis (both numbers), got {lo} and {hi}"
        )));
    }
    Ok(per_voxel::<1>(nvox, |v| {
        let vx = Voxel::at(evals, evecs, kt, nvox, v);
        [match map {
            KurtosisMap::Mk if analytical => mk(&vx, lo, hi),
            KurtosisMap::Ak if analytical => ak(&vx, lo, hi),
            KurtosisMap::Rk if analytical => rk(&vx, lo, hi),
            KurtosisMap::Mk => mk_numerical(&vx, lo, hi),
            KurtosisMap::Ak => ak_numerical(&vx, lo, hi),
            KurtosisMap::Rk => rk_numerical(&vx, lo, hi),
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
