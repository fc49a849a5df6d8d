//! The diffusion kurtosis model with DIPY 1.12 `DiffusionKurtosisModel` semantics.
//!
//! The log-signal is linear in 22 unknowns: the six diffusion-tensor elements, the fifteen
//! independent elements of `MD^2 W` and `-log S0` (DIPY's `dki_design_matrix`). OLS applies the
//! pseudo-inverse of the design; WLS (the default) weights each volume by the signal that the
//! OLS fit predicts and solves the weighted problem, as DIPY's `ls_fit_dki` does with
//! `pinv(W X) W y`. The parameters are then converted like `params_to_dki_params`: eigen-
//! decomposition of the tensor with the minimum-diffusivity floor, and the kurtosis elements
//! divided by the square of the mean of the floored eigenvalues.
//!
//! ## Numerics
//! The design's columns differ by up to seven orders of magnitude (1, b, b²). Every solve runs
//! on unit-norm columns. The weighted normal matrix is formed from 95 moments
//! `sum_i w_i^2 b_i^P g^alpha` (the products of two design columns are monomials of the
//! gradient direction times a power of b, and only 95 distinct ones occur among the 253 packed
//! entries), then solved by Cholesky with the condition certificate of the DTI fit: when
//! `tr(N) tr(N^-1)` (a bound on cond(N) = cond(scaled W X)^2) exceeds 1e8, the voxel is solved
//! as DIPY solves it, by the SVD pseudo-inverse of the unscaled weighted design with numpy's
//! cut-off (status [`FitStatus::PinvFallback`]). The normal
//! equations lose about cond(N) * eps <= 1e-8 relative accuracy in the scaled unknowns; DIPY's
//! own SVD of the unscaled system loses about cond(X) * eps, which is of the same order for
//! real schemes (cond(X) ~ 1e6..1e7), so the two agree far inside the 1e-5 of the fixtures.
//!
//! Groups of [`L`] voxels are fitted in lockstep with sequential per-lane reductions, so every
//! voxel's result has the same bits however voxels are grouped, tiled or threaded.

use crate::dki_cls::ClsSetup;
use crate::eig3::{L, V};
use crate::fit::{
    design_rank, diffusivity_floor, fit_model, pinv, unit_columns, FitModel, FitStatus,
    COND2_CERTIFICATE, PINV_RCOND,
};
use crate::gradients::GradientTable;
use crate::lanesolve::{
    cholesky_solve_refined_lanes, pk, squared_weights_lanes, tmul_lanes, unscale_or_fallback,
};
use nalgebra::{DMatrix, DVector};
use std::collections::HashMap;
use voxelkit_core::{Control, Error, Result, Sample};

/// Unknowns of the linear DKI problem.
pub const NP: usize = 22;
/// Packed lower triangle of the 22 x 22 normal matrix.
const NPK: usize = NP * (NP + 1) / 2;
/// Distinct moments among the normal-matrix entries.
const NM: usize = 95;

/// Fit method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DkiMethod {
    #[default]
    Wls,
    Ols,
    /// OLS constrained by DIPY's LMI (see [`crate::dki_cls`]).
    Cls,
    /// WLS constrained by DIPY's LMI.
    Cwls,
}

impl DkiMethod {
    /// CLS or CWLS.
    pub fn constrained(self) -> bool {
        matches!(self, DkiMethod::Cls | DkiMethod::Cwls)
    }
}

impl std::str::FromStr for DkiMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "WLS" | "WLLS" | "UWLLS" => Ok(DkiMethod::Wls),
            "OLS" | "ULLS" | "LS" | "LLS" | "OLLS" => Ok(DkiMethod::Ols),
            "CLS" => Ok(DkiMethod::Cls),
            "CWLS" => Ok(DkiMethod::Cwls),
            "NLS" | "NLLS" | "RESTORE" | "IRLS" | "RWLS" | "RNLLS" => Err(Error::unsupported(
                format!("DKI fit method '{s}' is not built yet (available: 'WLS', 'OLS', 'CLS', 'CWLS')"),
            )),
            _ => Err(Error::setting(format!(
                "unknown DKI fit method '{s}': expected 'WLS', 'OLS', 'CLS' or 'CWLS'"
            ))),
        }
    }
}

/// Options of a DKI fit.
pub type DkiOptions = crate::fit::FitOptions<DkiMethod>;

/// A fitted kurtosis volume. Component-major layouts (component `c` of voxel `v` at `c*nvox+v`).
#[derive(Debug, Clone, PartialEq)]
pub struct DkiFit {
    pub nvox: usize,
    /// `3 * nvox`: eigenvalues, descending, floored at the minimum diffusivity.
    pub evals: Vec<f64>,
    /// `9 * nvox`: component `i` of eigenvector `j` at `(i + 3 j) * nvox + v`.
    pub evecs: Vec<f64>,
    /// `15 * nvox`: the kurtosis tensor elements in DIPY's order (W1111, W2222, W3333, W1112,
    /// W1113, W1222, W2223, W1333, W2333, W1122, W1133, W2233, W1123, W1223, W1233).
    pub kt: Vec<f64>,
    /// `nvox`: fitted S0 when requested.
    pub s0: Option<Vec<f64>>,
    /// `nvox`: [`FitStatus`] codes.
    pub status: Vec<u8>,
}

/// Column `j` of the design is `COEF[j] * b^POW[j] * gx^E[j][0] gy^E[j][1] gz^E[j][2]`.
const POW: [u32; NP] = [
    1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0,
];
const EXPS: [[u32; 3]; NP] = [
    [2, 0, 0],
    [1, 1, 0],
    [0, 2, 0],
    [1, 0, 1],
    [0, 1, 1],
    [0, 0, 2],
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
    [0, 0, 0],
];
const COEF: [f64; NP] = [
    -1.0,
    -2.0,
    -1.0,
    -2.0,
    -2.0,
    -1.0,
    1.0 / 6.0,
    1.0 / 6.0,
    1.0 / 6.0,
    4.0 / 6.0,
    4.0 / 6.0,
    4.0 / 6.0,
    4.0 / 6.0,
    4.0 / 6.0,
    4.0 / 6.0,
    1.0,
    1.0,
    1.0,
    2.0,
    2.0,
    2.0,
    -1.0,
];

/// DIPY's `dki_design_matrix`: one row of 22 per volume (same expressions, same order).
pub fn design_matrix(gtab: &GradientTable) -> Vec<[f64; NP]> {
    gtab.bvals
        .iter()
        .zip(&gtab.bvecs)
        .map(|(&b, g)| {
            let (x, y, z) = (g[0], g[1], g[2]);
            let bb = b * b;
            [
                -b * x * x,
                -2.0 * b * x * y,
                -b * y * y,
                -2.0 * b * x * z,
                -2.0 * b * y * z,
                -b * z * z,
                bb * x.powi(4) / 6.0,
                bb * y.powi(4) / 6.0,
                bb * z.powi(4) / 6.0,
                4.0 * b * b * x.powi(3) * y / 6.0,
                4.0 * b * b * x.powi(3) * z / 6.0,
                4.0 * b * b * y.powi(3) * x / 6.0,
                4.0 * b * b * y.powi(3) * z / 6.0,
                4.0 * b * b * z.powi(3) * x / 6.0,
                4.0 * b * b * z.powi(3) * y / 6.0,
                bb * x.powi(2) * y.powi(2),
                bb * x.powi(2) * z.powi(2),
                bb * y.powi(2) * z.powi(2),
                2.0 * b * b * x.powi(2) * y * z,
                2.0 * b * b * y.powi(2) * x * z,
                2.0 * b * b * z.powi(2) * x * y,
                -1.0,
            ]
        })
        .collect()
}

/// DIPY's `check_multi_b(gtab, 3, non_zero=False)`: b-values rounded to one order of magnitude
/// below the largest, then counted.
pub fn distinct_bvalues(bvals: &[f64]) -> usize {
    let bmax = bvals.iter().fold(f64::NEG_INFINITY, |m, &b| m.max(b));
    if !(bmax > 0.0) {
        return 1;
    }
    let bmag = bmax.log10() as i32 - 1; // Python's int() truncates toward zero
    let unit = 10f64.powi(bmag);
    let mut r: Vec<f64> = bvals
        .iter()
        .map(|&b| (b / unit).round_ties_even() * unit)
        .collect();
    r.sort_by(f64::total_cmp);
    r.dedup();
    r.len()
}

/// Per-scheme precomputation for the DKI fit.
#[derive(Debug, Clone)]
pub struct DkiModel {
    n: usize,
    /// Row-major n x 22 design (DIPY's).
    x: Vec<[f64; NP]>,
    /// Row-major n x 22 transposed pseudo-inverse of `x`.
    pinv_t: Vec<[f64; NP]>,
    /// Row-major n x 22 design with unit-norm columns.
    xs: Vec<[f64; NP]>,
    /// Row-major n x 95: the moment basis `b^P g^alpha` of each volume.
    q: Vec<[f64; NM]>,
    /// Packed normal-matrix entry k = `nfac[k] * moment[nidx[k]]` (scaled columns).
    nidx: [u8; NPK],
    nfac: [f64; NPK],
    scale: [f64; NP],
    /// DIPY's eigenvalue floor `1e-6 / -min(X)`.
    pub min_diffusivity: f64,
}

impl DkiModel {
    /// Precomputes the model; rejects schemes that cannot determine the kurtosis model.
    pub fn new(gtab: &GradientTable) -> Result<Self> {
        let nb = distinct_bvalues(&gtab.bvals);
        if nb < 3 {
            return Err(Error::gradients(format!(
                "DKI requires at least 3 distinct b-values (which can include b=0); the gradient \
                 table has {nb}"
            )));
        }
        let x = design_matrix(gtab);
        let n = x.len();
        if n < NP {
            return Err(Error::gradients(format!(
                "the kurtosis model has 22 unknowns and needs at least 22 volumes; the gradient \
                 table has {n}"
            )));
        }
        let (scale, xs) = unit_columns(&x);
        let a = DMatrix::from_fn(n, NP, |i, j| xs[i][j]);
        let (p, sv) = pinv(&a, PINV_RCOND)?;
        let rank = design_rank(&sv);
        if rank < NP || scale.contains(&0.0) {
            return Err(Error::gradients(format!(
                "the gradient scheme cannot determine the kurtosis model: its design matrix has \
                 rank {rank} < 22 (DKI needs at least 15 non-coplanar directions spread over at \
                 least two non-zero b-values)"
            )));
        }
        // pinv of the scaled design, rescaled: X^+ = S (X S)^+ for a full-rank X
        let pinv_t = (0..n)
            .map(|i| std::array::from_fn(|r| p[(r, i)] * scale[r]))
            .collect();
        // moments: the product of columns j and k is COEF_j COEF_k b^(Pj+Pk) g^(Ej+Ek)
        let mut key_of = HashMap::new();
        let mut keys: Vec<(u32, [u32; 3])> = Vec::new();
        let mut nidx = [0u8; NPK];
        let mut nfac = [0.0; NPK];
        for r in 0..NP {
            for c in 0..=r {
                let key = (
                    POW[r] + POW[c],
                    [
                        EXPS[r][0] + EXPS[c][0],
                        EXPS[r][1] + EXPS[c][1],
                        EXPS[r][2] + EXPS[c][2],
                    ],
                );
                let idx = *key_of.entry(key).or_insert_with(|| {
                    keys.push(key);
                    keys.len() - 1
                });
                nidx[pk(r, c)] = idx as u8;
                nfac[pk(r, c)] = COEF[r] * COEF[c] * scale[r] * scale[c];
            }
        }
        debug_assert_eq!(keys.len(), NM);
        let q = gtab
            .bvals
            .iter()
            .zip(&gtab.bvecs)
            .map(|(&b, g)| {
                std::array::from_fn(|m| {
                    let (pw, e) = keys[m];
                    b.powi(pw as i32)
                        * g[0].powi(e[0] as i32)
                        * g[1].powi(e[1] as i32)
                        * g[2].powi(e[2] as i32)
                })
            })
            .collect();
        let min_diffusivity = diffusivity_floor(&x);
        Ok(DkiModel {
            n,
            x,
            pinv_t,
            xs,
            q,
            nidx,
            nfac,
            scale,
            min_diffusivity,
        })
    }

    /// Number of volumes the model expects.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The design matrix (DIPY's `dki_design_matrix`).
    pub fn design(&self) -> &[[f64; NP]] {
        &self.x
    }

    /// OLS for a group: `p = X^+ y`, summed over volumes in order.
    #[inline(always)]
    fn ols(&self, y: &[V]) -> [V; NP] {
        tmul_lanes(&self.pinv_t, y)
    }

    /// Reciprocal norms of the design's columns.
    pub(crate) fn column_scale(&self) -> &[f64; NP] {
        &self.scale
    }

    /// OLS of one voxel, summed in the order of [`Self::ols`] (same bits as its lane).
    pub(crate) fn ols_voxel(&self, y: &[f64]) -> [f64; NP] {
        let mut p = [0.0; NP];
        for (pr, yi) in self.pinv_t.iter().zip(y) {
            for r in 0..NP {
                p[r] += pr[r] * yi;
            }
        }
        p
    }

    /// DIPY's WLS weights `exp(X p0)` of one voxel, with exact exponentials.
    pub(crate) fn exact_weights(&self, p0: &[f64; NP]) -> Vec<f64> {
        self.x
            .iter()
            .map(|xi| xi.iter().zip(p0).map(|(a, b)| a * b).sum::<f64>().exp())
            .collect()
    }

    /// Moments `K0..K0 + W` of `w2`: `sum_i q[i][k] * w2[i]`, in order of i.
    #[inline(always)]
    fn moment_pass<const K0: usize, const W: usize>(&self, w2: &[V], m: &mut [V; NM]) {
        let mut acc = [[0.0; L]; W];
        for (qi, wi) in self.q.iter().zip(w2) {
            for k in 0..W {
                for l in 0..L {
                    acc[k][l] += qi[K0 + k] * wi[l];
                }
            }
        }
        m[K0..K0 + W].copy_from_slice(&acc);
    }

    /// WLS for a group (DIPY's OLS pre-fit, weights from the predicted signal, weighted solve).
    #[inline(always)]
    fn wls(&self, s: &mut DkiScratch) -> ([V; NP], [FitStatus; L]) {
        let n = self.n;
        let p0 = self.ols(&s.y[..n]);
        // w^2 = exp(2 X p0) to about 2 ulp (see `squared_weights_lanes`)
        squared_weights_lanes(&self.x, &p0, &mut s.w[..n]);
        let mut m = [[0.0; L]; NM];
        let w2 = &s.w[..n];
        self.moment_pass::<0, 8>(w2, &mut m);
        self.moment_pass::<8, 8>(w2, &mut m);
        self.moment_pass::<16, 8>(w2, &mut m);
        self.moment_pass::<24, 8>(w2, &mut m);
        self.moment_pass::<32, 8>(w2, &mut m);
        self.moment_pass::<40, 8>(w2, &mut m);
        self.moment_pass::<48, 8>(w2, &mut m);
        self.moment_pass::<56, 8>(w2, &mut m);
        self.moment_pass::<64, 8>(w2, &mut m);
        self.moment_pass::<72, 8>(w2, &mut m);
        self.moment_pass::<80, 8>(w2, &mut m);
        self.moment_pass::<88, 7>(w2, &mut m);
        let mut ne = [[0.0; L]; NPK];
        for k in 0..NPK {
            let (mi, f) = (self.nidx[k] as usize, self.nfac[k]);
            for l in 0..L {
                ne[k][l] = f * m[mi][l];
            }
        }
        let mut rhs = [[0.0; L]; NP];
        for ((xi, wi), yi) in self.xs.iter().zip(w2).zip(&s.y[..n]) {
            let mut b = [0.0; L];
            for l in 0..L {
                b[l] = wi[l] * yi[l];
            }
            for r in 0..NP {
                for l in 0..L {
                    rhs[r][l] += xi[r] * b[l];
                }
            }
        }
        // one step of iterative refinement: the normal equations lose ~cond^2 eps (cond of the
        // weighted scaled design: 40-220 on two- and three-shell schemes), which left the fit
        // farther from the exact solution of DIPY's problem than DIPY's SVD on some voxels;
        // solving again for the weighted residual's correction brings it to ~cond eps
        // (`fixtures/dipy_exact`)
        let ys = &s.y[..n];
        let residual_rhs = |ps: &[V; NP]| {
            let mut rhs = [[0.0; L]; NP];
            for ((xi, wi), yi) in self.xs.iter().zip(w2).zip(ys) {
                let mut r = *yi;
                for c in 0..NP {
                    for l in 0..L {
                        r[l] -= xi[c] * ps[c][l];
                    }
                }
                for l in 0..L {
                    r[l] *= wi[l];
                }
                for c in 0..NP {
                    for l in 0..L {
                        rhs[c][l] += xi[c] * r[l];
                    }
                }
            }
            rhs
        };
        let (ps, ok) =
            cholesky_solve_refined_lanes(&ne, &rhs, COND2_CERTIFICATE, Some(residual_rhs));
        unscale_or_fallback(&ps, &ok, &self.scale, |l| {
            let y: Vec<f64> = s.y[..n].iter().map(|v| v[l]).collect();
            self.wls_svd(&y, &p0.map(|v| v[l]))
        })
    }

    /// DIPY's `pinv(W X) @ (W y)` with `W = exp(X p0)`, exactly as DIPY forms it (unscaled
    /// columns, exact exponentials, numpy's cut-off) for the rare voxels whose weighted system
    /// fails the condition certificate: there the truncation of tiny singular values decides
    /// the answer, and only DIPY's own formulation truncates the same ones.
    fn wls_svd(&self, y: &[f64], p0: &[f64; NP]) -> [f64; NP] {
        let n = self.n;
        let w = self.exact_weights(p0);
        let a = DMatrix::from_fn(n, NP, |i, j| w[i] * self.x[i][j]);
        let b = DVector::from_fn(n, |i, _| w[i] * y[i]);
        match pinv(&a, PINV_RCOND) {
            Ok((p, _)) => {
                let r = p * b;
                std::array::from_fn(|j| r[j])
            }
            Err(_) => [f64::NAN; NP],
        }
    }
}

/// Per-thread scratch of [`DkiModel`] group fits.
#[derive(Debug, Clone)]
pub struct DkiScratch {
    y: Vec<V>,
    w: Vec<V>,
}

impl FitModel for DkiModel {
    type Method = DkiMethod;
    type Scratch = DkiScratch;
    /// The 22 linear unknowns: tensor, `MD^2 W`, `-log S0`.
    type Params = [V; NP];
    /// The kurtosis tensor elements.
    type Extra = [f64; 15];
    /// The constraint of CLS/CWLS (only for those methods).
    type Aux = Option<ClsSetup>;
    const S0_INDEX: usize = NP - 1;
    const EXTRA: usize = 15;

    fn from_gradients(gtab: &GradientTable) -> Result<Self> {
        DkiModel::new(gtab)
    }

    fn volumes(&self) -> usize {
        self.n
    }

    fn min_diffusivity(&self, _method: DkiMethod) -> f64 {
        self.min_diffusivity
    }

    /// Scratch for one thread.
    fn scratch(&self) -> DkiScratch {
        DkiScratch {
            y: vec![[0.0; L]; self.n],
            w: vec![[0.0; L]; self.n],
        }
    }

    #[inline(always)]
    fn log_signals<'s>(&self, s: &'s mut DkiScratch) -> &'s mut [V] {
        &mut s.y[..self.n]
    }

    /// Fits a group of [`L`] voxels whose clipped log-signals are in `s`. Returns the 22 linear
    /// unknowns per lane (tensor, `MD^2 W`, `-log S0`); CLS and CWLS start from OLS and WLS.
    #[inline(always)]
    fn fit_group(
        &self,
        method: DkiMethod,
        _aux: &Option<ClsSetup>,
        s: &mut DkiScratch,
    ) -> ([V; NP], [FitStatus; L]) {
        match method {
            DkiMethod::Ols | DkiMethod::Cls => (self.ols(&s.y[..self.n]), [FitStatus::Ok; L]),
            DkiMethod::Wls | DkiMethod::Cwls => self.wls(s),
        }
    }

    /// DIPY's `params_to_dki_params`: `W = (MD^2 W) / MD^2` with `MD` the mean of the floored
    /// eigenvalues (0 where `MD = 0`).
    #[inline(always)]
    fn extras(&self, p: &[V; NP], lane: usize, evals: &[f64; 3]) -> [f64; 15] {
        let md = (evals[0] + evals[1] + evals[2]) / 3.0;
        let md2 = md * md;
        std::array::from_fn(|k| {
            if md2 != 0.0 {
                p[6 + k][lane] / md2
            } else {
                0.0
            }
        })
    }

    fn aux(&self, opts: &DkiOptions) -> Result<Option<ClsSetup>> {
        for (set, name) in [
            (opts.weights.is_some(), "weights"),
            (opts.sigma.is_some(), "sigma"),
            (opts.fail_is_nan, "failIsNan"),
            (opts.init_params.is_some(), "initParams"),
        ] {
            if set {
                return Err(Error::setting(format!(
                    "{name} is an option of the non-linear DTI fits (NLLS, RESTORE); the DKI fits \
                     do not take it"
                )));
            }
        }
        Ok(opts.method.constrained().then(|| ClsSetup::new(self)))
    }

    /// CLS/CWLS: the constrained step (seconds per tile: an abort is honoured between groups).
    #[inline(always)]
    fn post_group(
        &self,
        method: DkiMethod,
        cls: &Option<ClsSetup>,
        ctl: &Control,
        s: &mut DkiScratch,
        p: &mut [V; NP],
        st: &mut [FitStatus; L],
        lanes: usize,
    ) -> Result<()> {
        if method.constrained() {
            ctl.check()?;
            if let Some(cls) = cls {
                self.constrain_group(cls, method == DkiMethod::Cwls, s, p, st, lanes);
            }
        }
        Ok(())
    }
}

impl DkiModel {
    /// The constrained step of CLS/CWLS for the `lanes` voxels of a group, replacing their
    /// unconstrained parameters (kept out of line: it runs in the baseline instruction set
    /// whatever the tile kernel's).
    #[inline(never)]
    fn constrain_group(
        &self,
        cls: &ClsSetup,
        weighted: bool,
        s: &DkiScratch,
        p: &mut [V; NP],
        st: &mut [FitStatus; L],
        lanes: usize,
    ) {
        for l in 0..lanes {
            let y: Vec<f64> = s.y[..self.n].iter().map(|v| v[l]).collect();
            let h: [f64; NP] = std::array::from_fn(|r| p[r][l]);
            let (h, status) = cls.constrain(self, &y, weighted, &h);
            for r in 0..NP {
                p[r][l] = h[r];
            }
            if status != FitStatus::Ok {
                st[l] = status;
            }
        }
    }
}

/// Fits the kurtosis model to `data` (`n` volumes of `nvox` voxels, `data[k * nvox + v]`).
/// `mask` (length `nvox`, non-zero = fit) restricts the fit; voxels outside get zero outputs.
pub fn fit_dki<T: Sample>(
    data: &[T],
    nvox: usize,
    gtab: &GradientTable,
    mask: Option<&[u8]>,
    opts: &DkiOptions,
    ctl: &Control,
) -> Result<DkiFit> {
    let f = fit_model::<DkiModel, T>(data, nvox, gtab, mask, opts, ctl)?;
    Ok(DkiFit {
        nvox: f.nvox,
        evals: f.evals,
        evecs: f.evecs,
        kt: f.extra,
        s0: f.s0,
        status: f.status,
    })
}
