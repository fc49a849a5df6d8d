//! Metamorphic properties of the DTI and DKI fits that no fixture covers, on seeded random
//! schemes, tensors and noise:
//!
//! * rotating every gradient direction by one rotation R (the signals unchanged) is the same
//!   problem in a rotated frame: the OLS/WLS fits are equivariant (the 6 + 15 parameters
//!   transform linearly and invertibly, the WLS weights come from the rotation-invariant OLS
//!   prediction), so FA, MD, AD, RD and MK, AK, RK, MKT, KFA are unchanged;
//! * permuting the volumes together with their b-values and b-vectors changes only the order
//!   of the sums: every map is unchanged;
//! * scaling the signal by c > 0 adds ln c to the intercept only: S0 scales by c, the
//!   diffusivities and kurtosis are unchanged;
//! * noise-free signals are fitted back to the generating tensors within a bound derived per
//!   voxel from the weighted design's singular values (`param_bounds`). Measured: errors up to
//!   3.4e-2 (DTI) and 5.7e-4 (DKI) of their bounds, which are 1e-10 (DTI) and 1e-8 (DKI) of the
//!   largest eigenvalue, so any wrong coefficient or sign would fail by orders of magnitude.
//!
//! The constrained CLS/CWLS fits are left out of the rotation property on purpose: DIPY's
//! constraint samples a fixed set of directions (`get_sphere('repulsion100')`), so a rotated
//! problem is a different problem there.
//!
//! Tolerances: the properties hold exactly in real arithmetic; the computed fits differ by the
//! rounding of a least-squares solve, about κ·n·ε relative (κ = condition number of the
//! column-scaled design, ≤ 1e3 on these schemes, n ≤ 100 volumes, ε = 2.2e-16: ≈ 2e-11). The
//! maps are checked at 1e-9 of their largest value, 50x that estimate, and each test prints the
//! largest difference seen.

use voxelkit_core::rng::SplitMix64;
use voxelkit_core::Control;
use voxelkit_dmri::dki_maps::{kurtosis_map, KurtosisMap};
use voxelkit_dmri::maps::{scalar_map, ScalarMap};
use voxelkit_dmri::{
    fit_dki, fit_dti, DkiFit, DkiMethod, DkiOptions, DtiFit, DtiMethod, DtiOptions, FitStatus,
    GradientTable,
};

type M3 = [[f64; 3]; 3];

/// A uniformly random rotation (from a normalised Gaussian quaternion).
fn rotation(r: &mut SplitMix64) -> M3 {
    let q = [r.normal(), r.normal(), r.normal(), r.normal()];
    let n = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    let [w, x, y, z] = [q[0] / n, q[1] / n, q[2] / n, q[3] / n];
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

fn apply(m: &M3, g: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| m[i][0] * g[0] + m[i][1] * g[1] + m[i][2] * g[2])
}

fn unit(r: &mut SplitMix64) -> [f64; 3] {
    let g = [r.normal(), r.normal(), r.normal()];
    let n = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt();
    [g[0] / n, g[1] / n, g[2] / n]
}

/// `nb0` b = 0 volumes then `ndir` random directions on each shell.
fn scheme(
    r: &mut SplitMix64,
    nb0: usize,
    shells: &[f64],
    ndir: usize,
) -> (Vec<f64>, Vec<[f64; 3]>) {
    let mut b = vec![0.0; nb0];
    let mut g = vec![[0.0; 3]; nb0];
    for &s in shells {
        for _ in 0..ndir {
            b.push(s);
            g.push(unit(r));
        }
    }
    (b, g)
}

/// A random diffusion tensor: eigenvalues in [0.1, 2.5] x 1e-3 mm²/s, random orientation.
fn tensor(r: &mut SplitMix64) -> M3 {
    let e = [0, 1, 2].map(|_| (0.1 + 2.4 * r.uniform()) * 1e-3);
    let q = rotation(r);
    let mut d = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            d[i][j] = (0..3).map(|k| q[i][k] * e[k] * q[j][k]).sum();
        }
    }
    d
}

fn quad(d: &M3, g: [f64; 3]) -> f64 {
    (0..3)
        .map(|i| (0..3).map(|j| g[i] * d[i][j] * g[j]).sum::<f64>())
        .sum()
}

/// DIPY's order of the 15 distinct kurtosis elements, their index triples... as exponents of
/// (gx, gy, gz) and multiplicities in the full 81-term sum.
const KT_POW: [[i32; 3]; 15] = [
    [4, 0, 0],
    [0, 4, 0],
    [0, 0, 4],
    [3, 1, 0],
    [3, 0, 1],
    [1, 3, 0],
    [0, 3, 1],
    [1, 0, 3],
    [0, 1, 3],
    [2, 2, 0],
    [2, 0, 2],
    [0, 2, 2],
    [2, 1, 1],
    [1, 2, 1],
    [1, 1, 2],
];
const KT_MULT: [f64; 15] = [
    1., 1., 1., 4., 4., 4., 4., 4., 4., 6., 6., 6., 12., 12., 12.,
];

/// A random kurtosis tensor near that of a mildly restricted tissue (W1111 etc. in [0.4, 1.2],
/// cross terms in [0.1, 0.4], the odd ones within ±0.05).
fn kurtosis(r: &mut SplitMix64) -> [f64; 15] {
    let mut w = [0.0; 15];
    for (i, x) in w.iter_mut().enumerate() {
        *x = match i {
            0..=2 => 0.4 + 0.8 * r.uniform(),
            9..=11 => 0.1 + 0.3 * r.uniform(),
            _ => 0.1 * (r.uniform() - 0.5),
        };
    }
    w
}

fn kt_sum(w: &[f64; 15], g: [f64; 3]) -> f64 {
    (0..15)
        .map(|k| {
            let p = KT_POW[k];
            KT_MULT[k] * w[k] * g[0].powi(p[0]) * g[1].powi(p[1]) * g[2].powi(p[2])
        })
        .sum()
}

/// DIPY's DKI signal: `S0 exp(-b gᵀDg + b²/6 MD² Σ W g g g g)`.
fn dki_signal(s0: f64, d: &M3, w: &[f64; 15], b: f64, g: [f64; 3]) -> f64 {
    let md = (d[0][0] + d[1][1] + d[2][2]) / 3.0;
    s0 * (-b * quad(d, g) + b * b / 6.0 * md * md * kt_sum(w, g)).exp()
}

/// Volume-major data of `nvox` voxels with random tensors (and kurtosis when `dki`), S0 in
/// [500, 1500], Gaussian noise of standard deviation `sigma` (floored at 1 so that the log
/// fit sees positive signals). Returns the data and, per voxel, (S0, D, W).
#[allow(clippy::type_complexity)]
fn volume(
    r: &mut SplitMix64,
    bvals: &[f64],
    bvecs: &[[f64; 3]],
    nvox: usize,
    dki: bool,
    sigma: f64,
) -> (Vec<f64>, Vec<(f64, M3, [f64; 15])>) {
    let n = bvals.len();
    let mut data = vec![0.0; n * nvox];
    let mut truth = Vec::with_capacity(nvox);
    for v in 0..nvox {
        let s0 = 500.0 + 1000.0 * r.uniform();
        let d = tensor(r);
        let w = if dki { kurtosis(r) } else { [0.0; 15] };
        for k in 0..n {
            let s = dki_signal(s0, &d, &w, bvals[k], bvecs[k]) + sigma * r.normal();
            data[k * nvox + v] = s.max(1.0);
        }
        truth.push((s0, d, w));
    }
    (data, truth)
}

fn gtab(b: &[f64], g: &[[f64; 3]]) -> GradientTable {
    GradientTable::new(b, g, 50.0, 1e-2).unwrap()
}

fn dti(data: &[f64], nvox: usize, b: &[f64], g: &[[f64; 3]], method: DtiMethod) -> DtiFit {
    let opts = DtiOptions {
        method,
        return_s0: true,
        threads: Some(2),
        ..Default::default()
    };
    fit_dti(data, nvox, &gtab(b, g), None, &opts, &Control::new()).unwrap()
}

fn dki(data: &[f64], nvox: usize, b: &[f64], g: &[[f64; 3]], method: DkiMethod) -> DkiFit {
    let opts = DkiOptions {
        method,
        return_s0: true,
        threads: Some(2),
        ..Default::default()
    };
    fit_dki(data, nvox, &gtab(b, g), None, &opts, &Control::new()).unwrap()
}

const DTI_MAPS: [ScalarMap; 4] = [ScalarMap::Fa, ScalarMap::Md, ScalarMap::Ad, ScalarMap::Rd];
const DKI_MAPS: [KurtosisMap; 5] = [
    KurtosisMap::Mk,
    KurtosisMap::Ak,
    KurtosisMap::Rk,
    KurtosisMap::Mkt,
    KurtosisMap::Kfa,
];

fn dti_maps(f: &DtiFit) -> Vec<(String, Vec<f64>)> {
    DTI_MAPS
        .iter()
        .map(|&m| (format!("{m:?}"), scalar_map(m, &f.evals)))
        .collect()
}

/// DIPY's default kurtosis clipping range.
const KLO: f64 = -3.0 / 7.0;
const KHI: f64 = 10.0;

fn dki_maps(f: &DkiFit) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(String, Vec<f64>)> = DTI_MAPS
        .iter()
        .map(|&m| (format!("{m:?}"), scalar_map(m, &f.evals)))
        .collect();
    for m in DKI_MAPS {
        out.push((
            format!("{m:?}"),
            kurtosis_map(m, true, &f.evals, &f.evecs, &f.kt, KLO, KHI).unwrap(),
        ));
    }
    out
}

/// The largest difference between two maps relative to the larger map's largest magnitude.
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a
        .iter()
        .chain(b)
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        assert!(x.is_finite() && y.is_finite(), "non-finite map value");
        m.max((x - y).abs() / scale)
    })
}

/// See the module docs: 50x the rounding estimate of the least-squares solve.
const MAP_TOL: f64 = 1e-9;

fn same_maps(what: &str, a: &[(String, Vec<f64>)], b: &[(String, Vec<f64>)]) {
    let mut worst = 0.0f64;
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let d = rel_diff(x, y);
        assert!(
            d <= MAP_TOL,
            "{what}: {name} differs by {d:e} of its largest value (> {MAP_TOL:e})"
        );
        worst = worst.max(d);
    }
    println!("{what}: largest relative map difference {worst:.2e}");
}

fn all_ok(status: &[u8]) {
    assert!(
        status.iter().all(|&s| s == FitStatus::Ok as u8),
        "some voxels not fitted regularly: {status:?}"
    );
}

#[test]
fn dti_maps_are_invariant_under_a_rotation_of_the_gradients() {
    let mut r = SplitMix64::new(11);
    for round in 0..4 {
        let (b, g) = scheme(&mut r, 3, &[1000.0], 30 + 10 * round);
        let nvox = 200;
        let (data, _) = volume(&mut r, &b, &g, nvox, false, 15.0);
        let q = rotation(&mut r);
        let gr: Vec<[f64; 3]> = g.iter().map(|&x| apply(&q, x)).collect();
        for method in [DtiMethod::Ols, DtiMethod::Wls] {
            let a = dti(&data, nvox, &b, &g, method);
            let c = dti(&data, nvox, &b, &gr, method);
            all_ok(&a.status);
            all_ok(&c.status);
            same_maps(
                &format!("DTI {method:?} round {round} rotated"),
                &dti_maps(&a),
                &dti_maps(&c),
            );
            assert!(rel_diff(a.s0.as_ref().unwrap(), c.s0.as_ref().unwrap()) <= MAP_TOL);
        }
    }
}

#[test]
fn dki_maps_are_invariant_under_a_rotation_of_the_gradients() {
    let mut r = SplitMix64::new(12);
    for round in 0..3 {
        let (b, g) = scheme(&mut r, 4, &[1000.0, 2000.0], 30 + 5 * round);
        let nvox = 120;
        let (data, _) = volume(&mut r, &b, &g, nvox, true, 10.0);
        let q = rotation(&mut r);
        let gr: Vec<[f64; 3]> = g.iter().map(|&x| apply(&q, x)).collect();
        for method in [DkiMethod::Ols, DkiMethod::Wls] {
            let a = dki(&data, nvox, &b, &g, method);
            let c = dki(&data, nvox, &b, &gr, method);
            all_ok(&a.status);
            all_ok(&c.status);
            same_maps(
                &format!("DKI {method:?} round {round} rotated"),
                &dki_maps(&a),
                &dki_maps(&c),
            );
        }
    }
}

/// A seeded Fisher-Yates permutation of 0..n.
fn permutation(r: &mut SplitMix64, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (r.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

fn permute(
    data: &[f64],
    nvox: usize,
    b: &[f64],
    g: &[[f64; 3]],
    p: &[usize],
) -> (Vec<f64>, Vec<f64>, Vec<[f64; 3]>) {
    let mut d = Vec::with_capacity(data.len());
    for &k in p {
        d.extend_from_slice(&data[k * nvox..(k + 1) * nvox]);
    }
    (
        d,
        p.iter().map(|&k| b[k]).collect(),
        p.iter().map(|&k| g[k]).collect(),
    )
}

#[test]
fn maps_are_invariant_under_a_permutation_of_the_volumes() {
    let mut r = SplitMix64::new(13);
    let (b, g) = scheme(&mut r, 3, &[1000.0], 40);
    let nvox = 150;
    let (data, _) = volume(&mut r, &b, &g, nvox, false, 20.0);
    let p = permutation(&mut r, b.len());
    let (dp, bp, gp) = permute(&data, nvox, &b, &g, &p);
    for method in [DtiMethod::Ols, DtiMethod::Wls] {
        let a = dti(&data, nvox, &b, &g, method);
        let c = dti(&dp, nvox, &bp, &gp, method);
        same_maps(
            &format!("DTI {method:?} permuted"),
            &dti_maps(&a),
            &dti_maps(&c),
        );
    }

    let (b, g) = scheme(&mut r, 4, &[1000.0, 2000.0], 32);
    let (data, _) = volume(&mut r, &b, &g, nvox, true, 10.0);
    let p = permutation(&mut r, b.len());
    let (dp, bp, gp) = permute(&data, nvox, &b, &g, &p);
    for method in [DkiMethod::Ols, DkiMethod::Wls] {
        let a = dki(&data, nvox, &b, &g, method);
        let c = dki(&dp, nvox, &bp, &gp, method);
        same_maps(
            &format!("DKI {method:?} permuted"),
            &dki_maps(&a),
            &dki_maps(&c),
        );
    }
}

#[test]
fn scaling_the_signal_scales_s0_only() {
    let mut r = SplitMix64::new(14);
    let (b, g) = scheme(&mut r, 3, &[1000.0, 2000.0], 30);
    let nvox = 100;
    let (data, _) = volume(&mut r, &b, &g, nvox, true, 10.0);
    for c in [0.37, 3.0, 1234.5] {
        let scaled: Vec<f64> = data.iter().map(|x| x * c).collect();
        for method in [DtiMethod::Ols, DtiMethod::Wls] {
            let a = dti(&data, nvox, &b, &g, method);
            let s = dti(&scaled, nvox, &b, &g, method);
            same_maps(
                &format!("DTI {method:?} x{c}"),
                &dti_maps(&a),
                &dti_maps(&s),
            );
            let s0a: Vec<f64> = a.s0.unwrap().iter().map(|x| x * c).collect();
            let d = rel_diff(&s0a, s.s0.as_ref().unwrap());
            assert!(d <= MAP_TOL, "DTI {method:?}: S0 x{c} off by {d:e}");
        }
        for method in [DkiMethod::Ols, DkiMethod::Wls] {
            let a = dki(&data, nvox, &b, &g, method);
            let s = dki(&scaled, nvox, &b, &g, method);
            same_maps(
                &format!("DKI {method:?} x{c}"),
                &dki_maps(&a),
                &dki_maps(&s),
            );
            let d = rel_diff(&a.kt, &s.kt);
            assert!(
                d <= MAP_TOL,
                "DKI {method:?}: kurtosis tensor x{c} off by {d:e}"
            );
            let s0a: Vec<f64> = a.s0.unwrap().iter().map(|x| x * c).collect();
            let d = rel_diff(&s0a, s.s0.as_ref().unwrap());
            assert!(d <= MAP_TOL, "DKI {method:?}: S0 x{c} off by {d:e}");
        }
    }
}

/// Per-parameter error bounds of a noise-free fit, derived. The fit solves the (weighted)
/// log-linear problem `diag(w) X p ≈ diag(w) y`, by normal equations on unit-norm columns
/// (`A_s = diag(w) X diag(c)`, `p = diag(c) p_s`). Two error sources, to first order:
///
/// * the data: y = ln S carries an absolute error ≤ ε (2 + |y|) per volume (S = S0·exp(…)
///   rounds twice to ε relative, i.e. ε each in ln S, and the log rounds to ε|y|), which moves
///   p_s by at most ‖w ⊙ δy‖₂ / σ_min(A_s);
/// * the solve: normal equations are backward stable with ‖ΔN‖ ≤ n ε ‖N‖, so p_s moves by at
///   most n κ(A_s)² ε ‖p_s‖₂.
///
/// Each parameter's bound is c_j times their sum; a factor 4 covers the second-order terms
/// and the final conversions (exp of ln S0, the eigen-decomposition, ε‖D‖ backward stable).
fn param_bounds(design: &[Vec<f64>], w: &[f64], y: &[f64], p: &[f64]) -> Vec<f64> {
    let (n, np) = (design.len(), design[0].len());
    let mut a = nalgebra::DMatrix::from_fn(n, np, |i, j| w[i] * design[i][j]);
    let mut c = vec![0.0; np];
    for j in 0..np {
        c[j] = 1.0 / a.column(j).norm();
        a.column_mut(j).scale_mut(c[j]);
    }
    let sv = a.singular_values();
    let (smin, smax) = (sv.min(), sv.max());
    let kappa = smax / smin;
    let dy = (0..n)
        .map(|i| (w[i] * f64::EPSILON * (2.0 + y[i].abs())).powi(2))
        .sum::<f64>()
        .sqrt();
    let ps = (0..np).map(|j| (p[j] / c[j]).powi(2)).sum::<f64>().sqrt();
    let dps = dy / smin + n as f64 * kappa * kappa * f64::EPSILON * ps;
    c.iter().map(|cj| 4.0 * cj * dps).collect()
}

/// Bound on the eigenvalue error from bounds on the six tensor elements (DIPY's order Dxx,
/// Dxy, Dyy, Dxz, Dyz, Dzz): Weyl's inequality and ‖ΔD‖₂ ≤ ‖ΔD‖_F.
fn eig_bound(b: &[f64]) -> f64 {
    (b[0] * b[0] + b[2] * b[2] + b[5] * b[5] + 2.0 * (b[1] * b[1] + b[3] * b[3] + b[4] * b[4]))
        .sqrt()
}

fn sorted_evals(d: &M3) -> [f64; 3] {
    let m = nalgebra::Matrix3::from_fn(|i, j| d[i][j]);
    let mut e: Vec<f64> = m.symmetric_eigenvalues().iter().copied().collect();
    e.sort_by(|a, b| b.partial_cmp(a).unwrap());
    [e[0], e[1], e[2]]
}

/// DIPY's design row: the six diffusion columns (2x on the off-diagonals), then for DKI the 15
/// kurtosis columns b²/6 · multiplicity · g⁴ (whose parameters are MD² W), then the intercept.
fn design_row(b: f64, g: [f64; 3], dki: bool) -> Vec<f64> {
    let mut row = vec![
        -b * g[0] * g[0],
        -2.0 * b * g[0] * g[1],
        -b * g[1] * g[1],
        -2.0 * b * g[0] * g[2],
        -2.0 * b * g[1] * g[2],
        -b * g[2] * g[2],
    ];
    if dki {
        for k in 0..15 {
            let p = KT_POW[k];
            row.push(
                b * b / 6.0 * KT_MULT[k] * g[0].powi(p[0]) * g[1].powi(p[1]) * g[2].powi(p[2]),
            );
        }
    }
    row.push(1.0);
    row
}

/// The true parameters of a voxel in the design's order.
fn true_params(s0: f64, d: &M3, w: &[f64; 15], dki: bool) -> Vec<f64> {
    let mut p = vec![d[0][0], d[0][1], d[1][1], d[0][2], d[1][2], d[2][2]];
    if dki {
        let md = (d[0][0] + d[1][1] + d[2][2]) / 3.0;
        p.extend(w.iter().map(|x| md * md * x));
    }
    p.push(s0.ln());
    p
}

/// The voxel's log signal and its row weights: 1 for OLS; for WLS DIPY's weights S² (the
/// noise-free prediction is the signal), i.e. rows scaled by S (normalised: only ratios matter).
fn log_and_weights(
    data: &[f64],
    nvox: usize,
    v: usize,
    n: usize,
    wls: bool,
) -> (Vec<f64>, Vec<f64>) {
    let s: Vec<f64> = (0..n).map(|k| data[k * nvox + v]).collect();
    let smax = s.iter().fold(0.0f64, |m, &x| m.max(x));
    let w = s
        .iter()
        .map(|&x| if wls { x / smax } else { 1.0 })
        .collect();
    (s.iter().map(|x| x.ln()).collect(), w)
}

#[test]
fn noise_free_dti_signals_fit_back_to_their_tensors() {
    let mut r = SplitMix64::new(15);
    let (b, g) = scheme(&mut r, 2, &[1000.0], 30);
    let nvox = 300;
    let (data, truth) = volume(&mut r, &b, &g, nvox, false, 0.0);
    let design: Vec<Vec<f64>> = b
        .iter()
        .zip(&g)
        .map(|(&b, &g)| design_row(b, g, false))
        .collect();
    for method in [DtiMethod::Ols, DtiMethod::Wls] {
        let f = dti(&data, nvox, &b, &g, method);
        all_ok(&f.status);
        let (mut worst, mut loosest) = (0.0f64, 0.0f64); // errors as fractions of their bounds
        for (v, (s0, d, w)) in truth.iter().enumerate() {
            let (y, wt) = log_and_weights(&data, nvox, v, b.len(), method == DtiMethod::Wls);
            let pb = param_bounds(&design, &wt, &y, &true_params(*s0, d, w, false));
            let eb = eig_bound(&pb);
            loosest = loosest.max(eb / sorted_evals(d)[0]);
            for (i, ei) in sorted_evals(d).iter().enumerate() {
                let err = (f.evals[i * nvox + v] - ei).abs();
                assert!(
                    err <= eb,
                    "{method:?} voxel {v}: eigenvalue {i} off by {err:e} (bound {eb:e})"
                );
                worst = worst.max(err / eb);
            }
            let ds0 = (f.s0.as_ref().unwrap()[v] / s0).ln().abs();
            assert!(
                ds0 <= pb[6],
                "{method:?} voxel {v}: ln S0 off by {ds0:e} (bound {:e})",
                pb[6]
            );
            worst = worst.max(ds0 / pb[6]);
        }
        println!(
            "DTI {method:?} noise-free: the largest error is {worst:.2e} of its bound (eigenvalue bounds up to {loosest:.1e} relative)"
        );
    }
}

#[test]
fn noise_free_dki_signals_fit_back_to_their_tensors() {
    let mut r = SplitMix64::new(16);
    let (b, g) = scheme(&mut r, 3, &[1000.0, 2000.0], 30);
    let nvox = 200;
    let (data, truth) = volume(&mut r, &b, &g, nvox, true, 0.0);
    let design: Vec<Vec<f64>> = b
        .iter()
        .zip(&g)
        .map(|(&b, &g)| design_row(b, g, true))
        .collect();
    for method in [DkiMethod::Ols, DkiMethod::Wls] {
        let f = dki(&data, nvox, &b, &g, method);
        all_ok(&f.status);
        let (mut worst, mut loosest) = (0.0f64, 0.0f64);
        for (v, (s0, d, w)) in truth.iter().enumerate() {
            let (y, wt) = log_and_weights(&data, nvox, v, b.len(), method == DkiMethod::Wls);
            let pb = param_bounds(&design, &wt, &y, &true_params(*s0, d, w, true));
            let eb = eig_bound(&pb);
            let e = sorted_evals(d);
            loosest = loosest.max(eb / e[0]);
            for (i, ei) in e.iter().enumerate() {
                let err = (f.evals[i * nvox + v] - ei).abs();
                assert!(
                    err <= eb,
                    "{method:?} voxel {v}: eigenvalue {i} off by {err:e} (bound {eb:e})"
                );
                worst = worst.max(err / eb);
            }
            // W = (MD² W) / MD²: its bound over MD², plus what W inherits from MD's error
            // (relative 2 ΔMD / MD, ΔMD ≤ (b_xx + b_yy + b_zz) / 3), plus rounding.
            let md = (e[0] + e[1] + e[2]) / 3.0;
            let dmd = (pb[0] + pb[2] + pb[5]) / 3.0;
            for k in 0..15 {
                let err = (f.kt[k * nvox + v] - w[k]).abs();
                let tol = pb[6 + k] / (md * md)
                    + 2.0 * dmd / md * w[k].abs()
                    + 4.0 * f64::EPSILON * w[k].abs();
                assert!(
                    err <= tol,
                    "{method:?} voxel {v}: W[{k}] off by {err:e} (bound {tol:e})"
                );
                worst = worst.max(err / tol);
            }
        }
        println!(
            "DKI {method:?} noise-free: the largest error is {worst:.2e} of its bound (eigenvalue bounds up to {loosest:.1e} relative)"
        );
    }
}
