//! The diffusion tensor model with DIPY 1.12 `TensorModel` semantics.
//!
//! Model: $\log S_i = X_i \cdot p$ with DIPY's design matrix
//! $X_i = -(b g_x^2,\ 2 b g_x g_y,\ b g_y^2,\ 2 b g_x g_z,\ 2 b g_y g_z,\ b g_z^2,\ 1)$ and
//! $p = (D_{xx}, D_{xy}, D_{yy}, D_{xz}, D_{yz}, D_{zz}, -\log S_0)$.
//!
//! * Signals are clipped below at `min_signal` (DIPY's `MIN_POSITIVE_SIGNAL = 1e-4` by default).
//! * `OLS`: $p = X^+ \log s$ with DIPY's `pinv(X)` (numpy's rcond 1e-15), computed once per scheme.
//! * `WLS` (default): DIPY's two passes: the OLS fit predicts $w = \exp(X p_{OLS})$, then
//!   $p = (\mathrm{diag}(w) X)^+ (w \odot \log s)$ (numpy's pinv, rcond 1e-15). We solve the 7x7
//!   weighted normal equations with Cholesky on unit-norm scaled columns; when a bound on the
//!   condition number of the scaled system cannot certify that the normal equations keep ~1e-8
//!   relative accuracy, the voxel is solved by an SVD pseudo-inverse with numpy's cut-off
//!   instead (exactly DIPY's pinv semantics), and flagged [`FitStatus::PinvFallback`].
//! * `NLLS`: DIPY's `nlls_fit_tensor`: least squares on the clipped signal itself,
//!   `sum w (s - exp(X p))^2` with optional per-volume weights, from the OLS start, minimised by
//!   a damped Newton method to the float64 rounding floor (see [`crate::dti_nlls`]).
//! * `RESTORE`: DIPY's `restore_fit_tensor`: NLLS, the 3-sigma outlier test, Geman–McClure
//!   reweighted rounds and the refit without the outliers, with the rejected volumes returned
//!   (see [`crate::dti_restore`]); its eigenvalues are floored at 0 as DIPY's.
//!
//! Voxels are fitted four at a time, one per SIMD lane ([`L`]): every lane performs exactly the
//! operations a single voxel needs, reductions run sequentially per lane, so a voxel's result
//! does not depend on which voxels share its group, on tiling or on the thread count.
//! * Eigenvalues are sorted in decreasing order and clipped below at
//!   `min_diffusivity = 1e-6 / max|X|` (DIPY's `tol / -design_matrix.min()`).
//!
//! Deliberate differences from DIPY (documented in the README):
//! * Voxels with a NaN or +inf signal are not fitted ([`FitStatus::NonFinite`], zero outputs);
//!   DIPY fails the whole call (`LinAlgError`, or NaN parameters for NLLS). -inf is clipped to
//!   `min_signal` as in DIPY.
//! * float32 data are clipped and logged in float32, as numpy does for DIPY, with numpy's own
//!   float32 log kernel on the CPUs where numpy uses it (bit-for-bit tested).
//! * A scheme whose design matrix is rank-deficient (for example a single shell with no b=0
//!   volume, or coplanar directions) is rejected with `ERR_GRADIENTS`; DIPY returns a
//!   minimum-norm pseudo-inverse solution that does not determine the tensor.

use crate::dti_nlls::NllsWork;
use crate::dti_restore::{NonlinearBatch, NONLINEAR_BATCH};
use crate::eig3::{L, V};
use crate::fit::{
    design_rank, diffusivity_floor, fit_model, pinv, unit_columns, FitModel, COND2_CERTIFICATE,
};
use crate::gradients::GradientTable;
use crate::lanesolve::{
    cholesky_solve_lanes, pk, squared_weights_lanes, tmul_lanes, unscale_or_fallback,
};
use nalgebra::{DMatrix, DVector};
use voxelkit_core::{Control, Error, Result, Sample};

pub use crate::fit::{
    numpy_uses_simd_logf, FitOptions, FitStatus, MIN_DIFFUSIVITY_TOL, MIN_POSITIVE_SIGNAL,
    PINV_RCOND,
};

/// Fit method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtiMethod {
    #[default]
    Wls,
    Ols,
    /// DIPY's `nlls_fit_tensor`: least squares on the signal (see [`crate::dti_nlls`]).
    Nlls,
    /// DIPY's `restore_fit_tensor`: NLLS with outlier rejection (see [`crate::dti_restore`]).
    Restore,
}

impl std::str::FromStr for DtiMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "WLS" | "WLLS" => Ok(DtiMethod::Wls),
            "OLS" | "LS" | "LLS" | "OLLS" => Ok(DtiMethod::Ols),
            "NLLS" | "NLS" => Ok(DtiMethod::Nlls),
            "RESTORE" => Ok(DtiMethod::Restore),
            "IRLS" | "RWLS" | "RNLLS" => Err(Error::unsupported(format!(
                "fit method '{s}' is not built yet (available: 'WLS', 'OLS', 'NLLS', 'RESTORE')"
            ))),
            _ => Err(Error::setting(format!(
                "unknown fit method '{s}': expected 'WLS', 'OLS', 'NLLS' or 'RESTORE'"
            ))),
        }
    }
}

impl DtiMethod {
    /// Whether the method fits the signal (not its log) by non-linear least squares.
    pub fn nonlinear(self) -> bool {
        matches!(self, DtiMethod::Nlls | DtiMethod::Restore)
    }
}

/// Options of a DTI fit.
pub type DtiOptions = FitOptions<DtiMethod>;

/// A fitted tensor volume. Component-major layouts (component `c` of voxel `v` at `c*nvox+v`).
#[derive(Debug, Clone, PartialEq)]
pub struct DtiFit {
    pub nvox: usize,
    /// `3 * nvox`: eigenvalues, descending.
    pub evals: Vec<f64>,
    /// `9 * nvox`: component `i` of eigenvector `j` at `(i + 3 j) * nvox + v` (DIPY's `evecs[..., i, j]`).
    pub evecs: Vec<f64>,
    /// `nvox`: fitted S0 when requested.
    pub s0: Option<Vec<f64>>,
    /// `nvox`: [`FitStatus`] codes.
    pub status: Vec<u8>,
    /// RESTORE: `rejected_bytes * nvox` bytes, voxel-major: bit `k % 8` of byte
    /// `v * rejected_bytes + k / 8` is set when voxel `v` rejected volume `k` (DIPY's `robust`
    /// mask is the complement, 0 outside the mask). Empty for the other methods.
    pub rejected: Vec<u8>,
    /// Bytes per voxel of [`DtiFit::rejected`]: `ceil(volumes / 8)` for RESTORE, else 0.
    pub rejected_bytes: usize,
}

/// Per-scheme precomputation: design matrix, its pseudo-inverse, products of scaled columns.
#[derive(Debug, Clone)]
pub struct DtiModel {
    pub(crate) n: usize,
    /// Row-major n x 7 design matrix (DIPY's sign convention).
    pub(crate) x: Vec<[f64; 7]>,
    /// Row-major n x 7 transposed pseudo-inverse of `x` (numpy's rcond 1e-15).
    pinv_t: Vec<[f64; 7]>,
    /// Row-major n x 7 design matrix with unit-norm columns.
    pub(crate) xs: Vec<[f64; 7]>,
    /// Row-major n x 28: products `xs[i][r] * xs[i][c]`, c <= r, packed by row (see [`pk`]).
    pub(crate) q: Vec<[f64; 28]>,
    /// Squared row norms of `xs`.
    pub(crate) rowsq: Vec<f64>,
    /// Column scales: `xs[i][j] = x[i][j] * scale[j]`.
    pub(crate) scale: [f64; 7],
    /// DIPY's eigenvalue floor.
    pub min_diffusivity: f64,
}

/// DIPY's `design_matrix(gtab)`.
pub fn design_matrix(gtab: &GradientTable) -> Vec<[f64; 7]> {
    gtab.bvals
        .iter()
        .zip(&gtab.bvecs)
        .map(|(&b, g)| {
            [
                -(g[0] * g[0] * 1.0 * b),
                -(g[0] * g[1] * 2.0 * b),
                -(g[1] * g[1] * 1.0 * b),
                -(g[0] * g[2] * 2.0 * b),
                -(g[1] * g[2] * 2.0 * b),
                -(g[2] * g[2] * 1.0 * b),
                -1.0,
            ]
        })
        .collect()
}

impl DtiModel {
    /// Precomputes the model for a gradient table; rejects schemes that cannot determine a tensor.
    pub fn new(gtab: &GradientTable) -> Result<Self> {
        let x = design_matrix(gtab);
        let n = x.len();
        if n < 7 {
            return Err(Error::gradients(format!(
                "a diffusion tensor needs at least 7 volumes, the gradient table has {n}"
            )));
        }
        let a = DMatrix::from_fn(n, 7, |i, j| x[i][j]);
        let (_, sv) = pinv(&a, PINV_RCOND)?;
        let rank = design_rank(&sv);
        if rank < 7 {
            return Err(Error::gradients(format!(
                "the gradient scheme cannot determine a diffusion tensor: its design matrix has rank \
                 {rank} < 7 (a single shell needs b=0 volumes, and at least 6 non-coplanar directions \
                 are needed)"
            )));
        }
        // rank 7 implies every column is non-zero
        let (scale, xs) = unit_columns(&x);
        // the rank is numpy's (singular values of X itself); the pseudo-inverse is that of the
        // scaled design, rescaled: X^+ = S (X S)^+ for a full-rank X. The columns of X differ by
        // ~b (10^3), so X^+ computed directly loses ~cond(X) eps (DIPY's OLS error, up to 1e-12
        // relative); on unit-norm columns the loss is ~cond(X S) eps, two to three orders less
        let (ps, _) = pinv(&DMatrix::from_fn(n, 7, |i, j| xs[i][j]), PINV_RCOND)?;
        let pinv_t = (0..n)
            .map(|i| std::array::from_fn(|r| ps[(r, i)] * scale[r]))
            .collect();
        let q = xs
            .iter()
            .map(|r| {
                let mut o = [0.0; 28];
                for a in 0..7 {
                    for b in 0..=a {
                        o[pk(a, b)] = r[a] * r[b];
                    }
                }
                o
            })
            .collect();
        let min_diffusivity = diffusivity_floor(&x);
        let rowsq = xs.iter().map(|r| r.iter().map(|v| v * v).sum()).collect();
        Ok(DtiModel {
            n,
            x,
            pinv_t,
            xs,
            q,
            rowsq,
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

    /// OLS for a group: `p0 = X^+ y`, summed over volumes in order.
    #[inline(always)]
    fn ols(&self, y: &[V]) -> [V; 7] {
        tmul_lanes(&self.pinv_t, y)
    }

    /// WLS for a group (DIPY's two passes). `s.w` holds the squared weights afterwards.
    #[inline(always)]
    fn wls(&self, s: &mut Scratch) -> ([V; 7], [FitStatus; L]) {
        let n = self.n;
        let p0 = self.ols(&s.y[..n]);
        // w^2 = exp(2 X p0) to about 2 ulp (see `squared_weights_lanes`)
        squared_weights_lanes(&self.x, &p0, &mut s.w[..n]);
        let mut ne = [[0.0; L]; 28];
        // four passes of seven accumulators (constant indices keep them in registers)
        self.ne_pass::<0>(&s.w[..n], &mut ne);
        self.ne_pass::<7>(&s.w[..n], &mut ne);
        self.ne_pass::<14>(&s.w[..n], &mut ne);
        self.ne_pass::<21>(&s.w[..n], &mut ne);
        // w^2 y for the right-hand side
        for ((o, wi), yi) in s.w2y[..n].iter_mut().zip(&s.w[..n]).zip(&s.y[..n]) {
            for l in 0..L {
                o[l] = wi[l] * yi[l];
            }
        }
        let rhs = tmul_lanes(&self.xs, &s.w2y[..n]);
        let (ps, ok) = cholesky_solve_lanes(&ne, &rhs, COND2_CERTIFICATE);
        unscale_or_fallback(&ps, &ok, &self.scale, |l| {
            let y: Vec<f64> = s.y[..n].iter().map(|v| v[l]).collect();
            let w: Vec<f64> = s.w[..n].iter().map(|v| v[l].sqrt()).collect();
            self.wls_svd(&y, &w)
        })
    }

    /// Entries `K0..K0 + 7` of the packed normal matrix: `sum_i q[i][k] * w2[i]`, in order of i.
    #[inline(always)]
    pub(crate) fn ne_pass<const K0: usize>(&self, w2: &[V], ne: &mut [V; 28]) {
        let mut acc = [[0.0; L]; 7];
        for (qi, wi) in self.q.iter().zip(w2) {
            for k in 0..7 {
                for l in 0..L {
                    acc[k][l] += qi[K0 + k] * wi[l];
                }
            }
        }
        ne[K0..K0 + 7].copy_from_slice(&acc);
    }

    /// DIPY's `pinv(X * w) @ (w * y)` by SVD (the rare ill-conditioned path). The SVD runs on
    /// unit-norm columns: for a full-rank system the least-squares solution is the same, and
    /// the scaled problem loses far fewer digits when the columns differ by orders of magnitude.
    fn wls_svd(&self, y: &[f64], w: &[f64]) -> [f64; 7] {
        let n = self.n;
        let a = DMatrix::from_fn(n, 7, |i, j| self.xs[i][j] * w[i]);
        let b = DVector::from_fn(n, |i, _| w[i] * y[i]);
        match pinv(&a, PINV_RCOND) {
            Ok((p, _)) => {
                let r = p * b;
                std::array::from_fn(|j| r[j] * self.scale[j])
            }
            Err(_) => [f64::NAN; 7],
        }
    }

    /// numpy's `pinv(X * w) @ (w * y)` with 0/1 weights `w` (the OLS of the kept rows), or
    /// `None` when the kept rows cannot determine the tensor (rank below 7).
    pub(crate) fn pinv_solve_checked(&self, y: &[f64], w: &[f64]) -> Option<[f64; 7]> {
        let n = self.n;
        let a = DMatrix::from_fn(n, 7, |i, j| self.xs[i][j] * w[i]);
        let b = DVector::from_fn(n, |i, _| w[i] * y[i]);
        let (p, sv) = pinv(&a, PINV_RCOND).ok()?;
        if design_rank(&sv) < 7 {
            return None;
        }
        let r = p * b;
        Some(std::array::from_fn(|j| r[j] * self.scale[j]))
    }

    /// Fits one voxel from its clipped log-signal `y` (lane 0 of a group; same bits as in a
    /// group) by a linear method (WLS or OLS).
    pub fn fit_log_signal(
        &self,
        method: DtiMethod,
        y: &[f64],
        s: &mut Scratch,
    ) -> ([f64; 7], FitStatus) {
        assert!(!method.nonlinear(), "fit_log_signal fits WLS or OLS");
        for l in 0..L {
            s.set_voxel(l, y);
        }
        let aux = DtiAux::linear(method);
        let (p, st) = self.fit_group(method, &aux, s);
        (p.map(|v| v[0]), st[0])
    }

    /// Fits one voxel by a non-linear method (NLLS or RESTORE) from its clipped signal `sig`
    /// (DIPY's `np.maximum(data, min_signal)`; the OLS start uses its logs) with the options'
    /// weights, sigma and `fail_is_nan`. Returns the unscaled parameters (`[Dxx, Dxy, Dyy,
    /// Dxz, Dyz, Dzz, -log S0]`), the status and, for RESTORE, the rejected-volume bytes.
    /// Lane 0 of a group: the same bits as in a volume fit of float64 data.
    pub fn fit_signal(
        &self,
        opts: &DtiOptions,
        sig: &[f64],
        s: &mut Scratch,
    ) -> Result<([f64; 7], FitStatus, Vec<u8>)> {
        let aux = self.aux(opts)?;
        let y: Vec<f64> = sig.iter().map(|v| v.ln()).collect();
        for l in 0..L {
            s.set_voxel(l, &y);
            for (o, &v) in s.sig.iter_mut().zip(sig) {
                o[l] = v;
            }
        }
        let (mut p, mut st) = self.fit_group(opts.method, &aux, s);
        let ctl = Control::new();
        self.post_group(opts.method, &aux, &ctl, s, &mut p, &mut st, 1)?;
        let (mut ps, mut sts) = ([p], [st]);
        self.post_batch(opts.method, &aux, &ctl, s, &mut ps, &mut sts)?;
        let mut flags = vec![0u8; self.voxel_bytes(&aux)];
        self.write_voxel_bytes(&aux, s, 0, 0, &mut flags);
        Ok((ps[0].map(|v| v[0]), sts[0][0], flags))
    }
}

/// Per-call state of a DTI fit: the checked options of the non-linear methods.
#[derive(Debug, Clone)]
pub struct DtiAux {
    pub(crate) method: DtiMethod,
    /// NLLS weights (ones when unweighted; RESTORE's first fit is unweighted), one row per
    /// volume, the same in every lane.
    pub(crate) weights: Vec<V>,
    /// RESTORE: the given noise level, one value per volume.
    pub(crate) sigma: Option<Vec<f64>>,
    pub(crate) fail_is_nan: bool,
    /// RESTORE's `1.4826 * sqrt(N / (N - 7))`.
    pub(crate) mad_factor: f64,
    /// NLLS: the given start parameters (component-major, `7 * nvox`) and `nvox`.
    init: Option<(Vec<f64>, usize)>,
}

impl DtiAux {
    fn linear(method: DtiMethod) -> Self {
        DtiAux {
            method,
            weights: Vec::new(),
            sigma: None,
            fail_is_nan: false,
            mad_factor: 0.0,
            init: None,
        }
    }
}

/// Per-thread scratch of [`DtiModel`] group fits: signals, weights and products, lane-major.
#[derive(Debug, Clone)]
pub struct Scratch {
    pub(crate) y: Vec<V>,
    w: Vec<V>,
    pub(crate) w2y: Vec<V>,
    /// Non-linear fits: the clipped signals.
    pub(crate) sig: Vec<V>,
    /// NLLS: the given start parameters of the group's voxels.
    p_init: [V; 7],
    pub(crate) work: NllsWork,
    /// Non-linear fits: per-lane weights.
    pub(crate) wl: Vec<V>,
    /// RESTORE: a selection buffer (keys).
    pub(crate) tmp: Vec<i64>,
    /// Non-linear fits: the voxels of the current batch of groups.
    pub(crate) batch: NonlinearBatch,
}

impl Scratch {
    /// The lane-major log-signals (`y[k][l]`: volume k of lane l).
    #[inline(always)]
    pub fn y_mut(&mut self) -> &mut [V] {
        &mut self.y
    }

    /// Puts one voxel's clipped log-signal into lane `l`.
    #[inline(always)]
    pub fn set_voxel(&mut self, l: usize, y: &[f64]) {
        for (o, &v) in self.y.iter_mut().zip(y) {
            o[l] = v;
        }
    }

    /// The weights of lane `l` after a WLS fit.
    pub fn weights(&self, l: usize) -> Vec<f64> {
        self.w.iter().map(|v| v[l].sqrt()).collect()
    }
}

impl FitModel for DtiModel {
    type Method = DtiMethod;
    type Scratch = Scratch;
    /// The lower-triangular tensor and `-log S0`.
    type Params = [V; 7];
    type Extra = [f64; 0];
    type Aux = DtiAux;
    const S0_INDEX: usize = 6;
    const EXTRA: usize = 0;

    fn from_gradients(gtab: &GradientTable) -> Result<Self> {
        DtiModel::new(gtab)
    }

    fn volumes(&self) -> usize {
        self.n
    }

    /// DIPY's floor (`MIN_DIFFUSIVITY_TOL / -min(design)`); 0 for RESTORE, whose
    /// `decompose_tensor` call DIPY leaves at its default.
    fn min_diffusivity(&self, method: DtiMethod) -> f64 {
        if method == DtiMethod::Restore {
            0.0
        } else {
            self.min_diffusivity
        }
    }

    /// Scratch for one thread: reused across groups, so the hot loop allocates nothing.
    fn scratch(&self) -> Scratch {
        let n = self.n;
        Scratch {
            y: vec![[0.0; L]; n],
            w: vec![[0.0; L]; n],
            w2y: vec![[0.0; L]; n],
            sig: vec![[0.0; L]; n],
            p_init: [[0.0; L]; 7],
            work: NllsWork::new(n),
            wl: vec![[1.0; L]; n],
            tmp: vec![0; n],
            batch: NonlinearBatch::default(),
        }
    }

    #[inline(always)]
    fn log_signals<'s>(&self, s: &'s mut Scratch) -> &'s mut [V] {
        &mut s.y[..self.n]
    }

    #[inline(always)]
    fn signals<'s>(&self, method: DtiMethod, s: &'s mut Scratch) -> Option<&'s mut [V]> {
        method.nonlinear().then(|| &mut s.sig[..self.n])
    }

    /// Fits a group of [`L`] voxels whose clipped log-signals (and, for the non-linear
    /// methods, signals) are in `s` (see [`Scratch::set_voxel`]). Returns the lower-triangular
    /// tensors + `-log S0` per lane.
    #[inline(always)]
    fn fit_group(
        &self,
        method: DtiMethod,
        aux: &DtiAux,
        s: &mut Scratch,
    ) -> ([V; 7], [FitStatus; L]) {
        match method {
            DtiMethod::Ols => (self.ols(&s.y[..self.n]), [FitStatus::Ok; L]),
            DtiMethod::Wls => self.wls(s),
            DtiMethod::Nlls | DtiMethod::Restore => {
                // the given start (copied by `start_group`) or DIPY's default, the OLS fit
                let p0 = match aux.init {
                    Some(_) => s.p_init,
                    None => self.ols(&s.y[..self.n]),
                };
                // fitted with the batch's other groups (see `post_batch`)
                self.nonlinear_stage(method == DtiMethod::Restore, s, &p0);
                (p0, [FitStatus::Ok; L])
            }
        }
    }

    /// NLLS with `init_params`: the start of each lane's voxel into `s.p_init`.
    #[inline(always)]
    fn start_group(&self, aux: &DtiAux, s: &mut Scratch, voxels: &[usize; L]) {
        if let Some((init, nvox)) = &aux.init {
            for (r, row) in s.p_init.iter_mut().enumerate() {
                for (o, &v) in row.iter_mut().zip(voxels) {
                    *o = init[r * nvox + v];
                }
            }
        }
    }

    #[inline(always)]
    fn extras(&self, _p: &[V; 7], _lane: usize, _evals: &[f64; 3]) -> [f64; 0] {
        []
    }

    /// Checks the non-linear methods' options: `weights` (NLLS: one finite value >= 0 per
    /// volume, the positive ones determining the tensor), `sigma` (RESTORE: one finite value
    /// > 0, or one per volume) and `fail_is_nan` (NLLS and RESTORE).
    fn aux(&self, opts: &DtiOptions) -> Result<DtiAux> {
        let n = self.n;
        let m = opts.method;
        let only = |name: &str, methods: &str| {
            Error::setting(format!(
                "{name} is an option of the {methods} fit, not of {m:?} (DIPY's {} takes no {name})",
                match m {
                    DtiMethod::Wls => "wls_fit_tensor",
                    DtiMethod::Ols => "ols_fit_tensor",
                    DtiMethod::Nlls => "nlls_fit_tensor",
                    DtiMethod::Restore => "restore_fit_tensor",
                }
            ))
        };
        if opts.fail_is_nan && !m.nonlinear() {
            return Err(only("failIsNan", "NLLS and RESTORE"));
        }
        let mut weights = vec![[1.0; L]; n];
        if let Some(w) = &opts.weights {
            if m != DtiMethod::Nlls {
                return Err(only("weights", "NLLS"));
            }
            if w.len() != n {
                return Err(Error::shape(format!(
                    "weights must hold one value per volume: got {} for {n} volumes",
                    w.len()
                )));
            }
            if let Some((k, &v)) = w
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
            {
                return Err(Error::setting(format!(
                    "weights must be finite numbers >= 0: weights[{k}] is {v}"
                )));
            }
            let a = DMatrix::from_fn(n, 7, |i, j| if w[i] > 0.0 { self.xs[i][j] } else { 0.0 });
            let (_, sv) = pinv(&a, PINV_RCOND)?;
            let rank = design_rank(&sv);
            if rank < 7 {
                return Err(Error::setting(format!(
                    "the volumes with a positive weight cannot determine a diffusion tensor \
                     (their design matrix has rank {rank} < 7)"
                )));
            }
            for (o, &v) in weights.iter_mut().zip(w) {
                *o = [v; L];
            }
        }
        let sigma = match &opts.sigma {
            None => None,
            Some(_) if m != DtiMethod::Restore => return Err(only("sigma", "RESTORE")),
            Some(sg) => {
                if sg.len() != 1 && sg.len() != n {
                    return Err(Error::shape(format!(
                        "sigma must be one number or one per volume: got {} values for {n} volumes",
                        sg.len()
                    )));
                }
                if let Some(&v) = sg.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
                    return Err(Error::setting(format!(
                        "sigma must be a finite number > 0 (a noise standard deviation), got {v}"
                    )));
                }
                Some(if sg.len() == 1 {
                    vec![sg[0]; n]
                } else {
                    sg.clone()
                })
            }
        };
        let init = match &opts.init_params {
            None => None,
            Some(_) if m != DtiMethod::Nlls => return Err(only("initParams", "NLLS")),
            Some(ip) => {
                if ip.is_empty() || ip.len() % 7 != 0 {
                    return Err(Error::shape(format!(
                        "initParams must hold 7 values per voxel (Dxx, Dxy, Dyy, Dxz, Dyz, Dzz,                          -log S0), got {} values",
                        ip.len()
                    )));
                }
                if let Some(k) = ip.iter().position(|v| !v.is_finite()) {
                    return Err(Error::setting(format!(
                        "initParams must be finite numbers: value {k} (component {} of voxel {}) \
                         is {}",
                        k / (ip.len() / 7),
                        k % (ip.len() / 7),
                        ip[k]
                    )));
                }
                Some((ip.clone(), ip.len() / 7))
            }
        };
        Ok(DtiAux {
            method: m,
            weights,
            sigma,
            fail_is_nan: opts.fail_is_nan,
            mad_factor: 1.4826 * (n as f64 / (n as f64 - 7.0)).sqrt(),
            init,
        })
    }

    fn voxel_bytes(&self, aux: &DtiAux) -> usize {
        if aux.method == DtiMethod::Restore {
            self.n.div_ceil(8)
        } else {
            0
        }
    }

    #[inline(always)]
    fn write_voxel_bytes(
        &self,
        aux: &DtiAux,
        s: &Scratch,
        group: usize,
        lane: usize,
        out: &mut [u8],
    ) {
        if aux.method == DtiMethod::Restore {
            out.copy_from_slice(s.batch.rejected(group, lane, self.n.div_ceil(8)));
        }
    }

    /// The non-linear fits stream the voxels of this many groups through the lanes.
    #[inline(always)]
    fn batch_groups(&self, method: DtiMethod) -> usize {
        if method.nonlinear() {
            NONLINEAR_BATCH
        } else {
            2
        }
    }

    /// The non-linear fits: the voxels in use of the group just staged.
    #[inline(always)]
    fn post_group(
        &self,
        method: DtiMethod,
        aux: &DtiAux,
        ctl: &Control,
        s: &mut Scratch,
        p: &mut [V; 7],
        st: &mut [FitStatus; L],
        lanes: usize,
    ) -> Result<()> {
        let _ = (aux, p, st);
        if method.nonlinear() {
            ctl.check()?;
            s.batch.set_lanes(lanes);
        }
        Ok(())
    }

    /// The non-linear fits of the batch's voxels: NLLS, or all of RESTORE (see
    /// [`crate::dti_restore`]).
    #[inline(always)]
    fn post_batch(
        &self,
        method: DtiMethod,
        aux: &DtiAux,
        ctl: &Control,
        s: &mut Scratch,
        p: &mut [[V; 7]],
        st: &mut [[FitStatus; L]],
    ) -> Result<()> {
        if method.nonlinear() {
            ctl.check()?;
            self.nonlinear_batch(aux, s, p, st);
        }
        Ok(())
    }
}

/// Fits the tensor model to `data` (`n` volumes of `nvox` voxels, `data[k * nvox + v]`).
///
/// `mask` (length `nvox`, non-zero = fit) restricts the fit; voxels outside get zero outputs.
pub fn fit_dti<T: Sample>(
    data: &[T],
    nvox: usize,
    gtab: &GradientTable,
    mask: Option<&[u8]>,
    opts: &DtiOptions,
    ctl: &Control,
) -> Result<DtiFit> {
    if let Some(ip) = &opts.init_params {
        if opts.method == DtiMethod::Nlls && Some(ip.len()) != nvox.checked_mul(7) {
            return Err(Error::shape(format!(
                "initParams must hold 7 values per voxel: got {} for {nvox} voxels",
                ip.len()
            )));
        }
    }
    let f = fit_model::<DtiModel, T>(data, nvox, gtab, mask, opts, ctl)?;
    Ok(DtiFit {
        nvox: f.nvox,
        evals: f.evals,
        evecs: f.evecs,
        s0: f.s0,
        status: f.status,
        rejected: f.flags,
        rejected_bytes: f.voxel_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eig3::eigh_lower;
    use voxelkit_core::rng::SplitMix64;

    pub(crate) fn scheme(nb0: usize, ndir: usize, bvals: &[f64], seed: u64) -> GradientTable {
        let mut r = SplitMix64::new(seed);
        let mut b = vec![0.0; nb0];
        let mut v = vec![[0.0; 3]; nb0];
        for &bv in bvals {
            for _ in 0..ndir {
                let g = [r.normal(), r.normal(), r.normal()];
                let nrm = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt();
                b.push(bv);
                v.push([g[0] / nrm, g[1] / nrm, g[2] / nrm]);
            }
        }
        GradientTable::new(&b, &v, 50.0, 1e-2).unwrap()
    }

    fn signal(gtab: &GradientTable, lt: &[f64; 6], s0: f64) -> Vec<f64> {
        let x = design_matrix(gtab);
        x.iter()
            .map(|r| s0 * (r[..6].iter().zip(lt).map(|(a, b)| a * b).sum::<f64>()).exp())
            .collect()
    }

    #[test]
    fn noiseless_signal_is_recovered() {
        let gtab = scheme(3, 30, &[1000.0], 1);
        let lt = [1.7e-3, 0.1e-3, 0.4e-3, -0.05e-3, 0.02e-3, 0.35e-3];
        let s = signal(&gtab, &lt, 800.0);
        let nvox = 1;
        let data: Vec<f64> = s.clone();
        for method in [
            DtiMethod::Wls,
            DtiMethod::Ols,
            DtiMethod::Nlls,
            DtiMethod::Restore,
        ] {
            let opts = DtiOptions {
                method,
                return_s0: true,
                ..Default::default()
            };
            let fit = fit_dti(&data, nvox, &gtab, None, &opts, &Control::new()).unwrap();
            let (vals, _) = eigh_lower(&lt);
            for c in 0..3 {
                assert!(
                    (fit.evals[c] - vals[c]).abs() < 1e-12,
                    "{method:?} {:?}",
                    fit.evals
                );
            }
            assert!((fit.s0.as_ref().unwrap()[0] - 800.0).abs() < 1e-8);
            assert_eq!(fit.status[0], FitStatus::Ok as u8);
        }
    }

    #[test]
    fn rank_deficient_scheme_is_an_error() {
        // single shell, no b0: trace and S0 are confounded
        let gtab = scheme(0, 30, &[1000.0], 2);
        assert_eq!(
            DtiModel::new(&gtab).unwrap_err().code,
            voxelkit_core::Code::Gradients
        );
        // multi-shell without b0 is fine
        let gtab = scheme(0, 20, &[1000.0, 2000.0], 3);
        assert!(DtiModel::new(&gtab).is_ok());
    }

    #[test]
    fn mask_non_finite_and_shapes() {
        let gtab = scheme(2, 12, &[1000.0], 4);
        let n = gtab.len();
        let nvox = 3;
        let mut data = vec![100.0f32; n * nvox];
        data[nvox + 1] = f32::NAN; // voxel 1, volume 1
        let mask = [1u8, 1, 0];
        let fit = fit_dti(
            &data,
            nvox,
            &gtab,
            Some(&mask),
            &DtiOptions::default(),
            &Control::new(),
        )
        .unwrap();
        assert_eq!(
            fit.status,
            vec![0, FitStatus::NonFinite as u8, FitStatus::Masked as u8]
        );
        assert_eq!(fit.evals[1], 0.0);
        assert_eq!(fit.evals[2], 0.0);
        let e = fit_dti(
            &data[1..],
            nvox,
            &gtab,
            None,
            &DtiOptions::default(),
            &Control::new(),
        );
        assert_eq!(e.unwrap_err().code, voxelkit_core::Code::Shape);
        let e = fit_dti(
            &data,
            nvox,
            &gtab,
            Some(&mask[..2]),
            &DtiOptions::default(),
            &Control::new(),
        );
        assert_eq!(e.unwrap_err().code, voxelkit_core::Code::Shape);
        let o = DtiOptions {
            min_signal: Some(0.0),
            ..Default::default()
        };
        assert_eq!(
            fit_dti(&data, nvox, &gtab, None, &o, &Control::new())
                .unwrap_err()
                .code,
            voxelkit_core::Code::Setting
        );
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let gtab = scheme(4, 40, &[1000.0, 2500.0], 5);
        let n = gtab.len();
        let nvox = 3 * voxelkit_core::TILE + 77;
        let mut r = SplitMix64::new(9);
        let data: Vec<i16> = (0..n * nvox)
            .map(|_| (200.0 + 800.0 * r.uniform()) as i16)
            .collect();
        for method in [DtiMethod::Wls, DtiMethod::Nlls, DtiMethod::Restore] {
            let run = |t| {
                let o = DtiOptions {
                    method,
                    threads: Some(t),
                    return_s0: true,
                    ..Default::default()
                };
                fit_dti(&data, nvox, &gtab, None, &o, &Control::new()).unwrap()
            };
            let a = run(1);
            for t in [2, 3, 8] {
                let b = run(t);
                assert_eq!(a.rejected, b.rejected);
                assert!(a
                    .evals
                    .iter()
                    .zip(&b.evals)
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
                assert!(a
                    .evecs
                    .iter()
                    .zip(&b.evecs)
                    .all(|(x, y)| x.to_bits() == y.to_bits()));
                assert_eq!(a.s0, b.s0);
                assert_eq!(a.status, b.status);
            }
        }
    }

    #[test]
    fn log_table_path_matches_direct_logs() {
        // enough values that 16-bit data use the table; negatives and zeros included
        let gtab = scheme(2, 30, &[1000.0], 21);
        let n = gtab.len();
        let nvox = 4 * 65536 / n + 7;
        let mut r = SplitMix64::new(22);
        let d16: Vec<i16> = (0..n * nvox)
            .map(|i| {
                if i % 97 == 0 {
                    -((r.uniform() * 30000.0) as i16)
                } else {
                    (r.uniform() * 2000.0) as i16
                }
            })
            .collect();
        let d32: Vec<i32> = d16.iter().map(|&x| x as i32).collect();
        let du16: Vec<u16> = d16.iter().map(|&x| x.max(0) as u16).collect();
        let d32p: Vec<i32> = du16.iter().map(|&x| x as i32).collect();
        for method in [DtiMethod::Wls, DtiMethod::Ols] {
            let o = DtiOptions {
                method,
                return_s0: true,
                ..Default::default()
            };
            let a = fit_dti(&d16, nvox, &gtab, None, &o, &Control::new()).unwrap();
            let b = fit_dti(&d32, nvox, &gtab, None, &o, &Control::new()).unwrap();
            assert_eq!(a, b);
            let a = fit_dti(&du16, nvox, &gtab, None, &o, &Control::new()).unwrap();
            let b = fit_dti(&d32p, nvox, &gtab, None, &o, &Control::new()).unwrap();
            assert_eq!(a, b);
            // a mask that breaks groups into non-consecutive voxels (the table's gather path)
            let mask: Vec<u8> = (0..nvox).map(|v| u8::from(v % 5 != 2)).collect();
            let a = fit_dti(&d16, nvox, &gtab, Some(&mask), &o, &Control::new()).unwrap();
            let b = fit_dti(&d32, nvox, &gtab, Some(&mask), &o, &Control::new()).unwrap();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn instruction_set_and_grouping_do_not_change_bits() {
        let gtab = scheme(3, 33, &[800.0, 2000.0], 11);
        let n = gtab.len();
        let nvox = 2 * voxelkit_core::TILE + 13;
        let mut r = SplitMix64::new(12);
        let data: Vec<f32> = (0..n * nvox)
            .map(|_| (50.0 + 900.0 * r.uniform()) as f32)
            .collect();
        // every third voxel masked out, so groups are formed from different voxel sets
        let mask: Vec<u8> = (0..nvox).map(|v| u8::from(v % 3 != 0)).collect();
        for method in [
            DtiMethod::Wls,
            DtiMethod::Ols,
            DtiMethod::Nlls,
            DtiMethod::Restore,
        ] {
            let run = |force_baseline_isa, mask: Option<&[u8]>| {
                let o = DtiOptions {
                    method,
                    return_s0: true,
                    force_baseline_isa,
                    ..Default::default()
                };
                fit_dti(&data, nvox, &gtab, mask, &o, &Control::new()).unwrap()
            };
            let fast = run(false, None);
            let base = run(true, None);
            assert!(fast
                .evals
                .iter()
                .zip(&base.evals)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(fast
                .evecs
                .iter()
                .zip(&base.evecs)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            assert_eq!(fast.s0, base.s0);
            assert_eq!(fast.rejected, base.rejected);
            // a voxel's result does not depend on which voxels share its SIMD group
            let masked = run(false, Some(&mask));
            let nb = fast.rejected_bytes;
            for v in (0..nvox).filter(|v| v % 3 != 0) {
                assert_eq!(
                    masked.rejected[v * nb..(v + 1) * nb],
                    fast.rejected[v * nb..(v + 1) * nb]
                );
                for c in 0..3 {
                    assert_eq!(
                        masked.evals[c * nvox + v].to_bits(),
                        fast.evals[c * nvox + v].to_bits()
                    );
                }
            }
        }
    }

    #[test]
    fn fallback_matches_normal_equations_when_both_apply() {
        // a well-conditioned voxel solved both ways agrees to rounding
        let gtab = scheme(2, 20, &[1000.0], 6);
        let m = DtiModel::new(&gtab).unwrap();
        let lt = [1.2e-3, 0.2e-3, 0.6e-3, 0.0, 0.1e-3, 0.5e-3];
        let y: Vec<f64> = signal(&gtab, &lt, 500.0)
            .iter()
            .map(|s| s.ln() + 0.0)
            .collect();
        let mut s = m.scratch();
        let (p, st) = m.fit_log_signal(DtiMethod::Wls, &y, &mut s);
        assert_eq!(st, FitStatus::Ok);
        let q = m.wls_svd(&y, &s.weights(0));
        // tensor entries ~1e-3 and -log S0 ~ 6: compare each group at its own scale
        for j in 0..7 {
            let s = if j < 6 { 1e-3 } else { p[6].abs() };
            assert!((p[j] - q[j]).abs() <= 1e-10 * s, "{j}: {} {}", p[j], q[j]);
        }
    }

    fn restore_opts(sigma: Option<Vec<f64>>, fail_is_nan: bool) -> DtiOptions {
        DtiOptions {
            method: DtiMethod::Restore,
            sigma,
            fail_is_nan,
            return_s0: true,
            ..Default::default()
        }
    }

    #[test]
    fn restore_rejects_outliers_and_falls_back_like_dipy() {
        // 2 b0 + 40 directions, SNR 50, two volumes dropped to 20 %
        let gtab = scheme(2, 40, &[1000.0], 31);
        let lt = [1.4e-3, 0.2e-3, 0.6e-3, 0.1e-3, -0.05e-3, 0.5e-3];
        let clean = signal(&gtab, &lt, 1000.0);
        let mut r = SplitMix64::new(32);
        let mut s: Vec<f64> = clean.iter().map(|&v| v + 20.0 * r.normal()).collect();
        s[7] *= 0.2;
        s[23] *= 0.2;
        let m = DtiModel::new(&gtab).unwrap();
        let mut sc = m.scratch();
        for sigma in [None, Some(vec![20.0])] {
            let (p, st, flags) = m
                .fit_signal(&restore_opts(sigma, false), &s, &mut sc)
                .unwrap();
            assert_eq!(st, FitStatus::Ok);
            let rejected: Vec<usize> = (0..s.len())
                .filter(|&k| flags[k / 8] & (1 << (k % 8)) != 0)
                .collect();
            assert_eq!(rejected, vec![7, 23]);
            // the final fit ignores them: close to the truth
            for j in 0..6 {
                assert!((p[j] - lt[j]).abs() < 0.1e-3, "{j}: {} vs {}", p[j], lt[j]);
            }
        }
        // 1 b0 + 9 directions, noise-free, 4 volumes dropped: the reweighted fit interpolates
        // 6, the 4 left over are rejected, 6 volumes are left for 7 parameters (where DIPY's
        // optimiser raises)
        let gtab = scheme(1, 9, &[1000.0], 44);
        let lt = [1.5e-3, 0.2e-3, 0.5e-3, 0.1e-3, 0.05e-3, 0.4e-3];
        let mut s = signal(&gtab, &lt, 1000.0);
        for k in [2, 4, 6, 8] {
            s[k] *= 0.1;
        }
        let m = DtiModel::new(&gtab).unwrap();
        let mut sc = m.scratch();
        let (p, st, flags) = m
            .fit_signal(&restore_opts(None, false), &s, &mut sc)
            .unwrap();
        assert_eq!(st, FitStatus::StartFallback);
        assert_eq!(flags, vec![0b0100_0110, 0b0000_0001]); // volumes 1, 2, 6, 8
        assert!(p.iter().all(|v| v.is_finite()));
        let (p, st, _) = m
            .fit_signal(&restore_opts(None, true), &s, &mut sc)
            .unwrap();
        assert_eq!(st, FitStatus::StartFallback);
        assert!(p.iter().all(|v| v.is_nan()));
        // through the volume fit: NaN maps and S0, the status and the rejected bits kept
        let f = fit_dti(
            &s,
            1,
            &gtab,
            None,
            &restore_opts(None, true),
            &Control::new(),
        )
        .unwrap();
        assert_eq!(f.status, vec![FitStatus::StartFallback as u8]);
        assert!(f.evals.iter().chain(&f.evecs).all(|v| v.is_nan()));
        assert!(f.s0.unwrap()[0].is_nan());
        assert_eq!(f.rejected, flags);
        // a constant signal (all zeros clipped to min_signal): exact fit, no outliers
        let z = vec![0.0f64; gtab.len()];
        let f = fit_dti(
            &z,
            1,
            &gtab,
            None,
            &restore_opts(None, false),
            &Control::new(),
        )
        .unwrap();
        assert_eq!(f.status, vec![FitStatus::Ok as u8]);
        assert_eq!(f.rejected, vec![0, 0]);
        assert!((f.s0.unwrap()[0] - 1e-4).abs() < 1e-16);
    }

    #[test]
    fn nlls_reaches_the_minimum_and_honours_weights() {
        let gtab = scheme(2, 30, &[1000.0, 2000.0], 41);
        let lt = [1.7e-3, 0.1e-3, 0.4e-3, -0.05e-3, 0.02e-3, 0.35e-3];
        let clean = signal(&gtab, &lt, 800.0);
        let mut r = SplitMix64::new(42);
        let s: Vec<f64> = clean
            .iter()
            .map(|&v| (v + 40.0 * r.normal()).max(1.0))
            .collect();
        let m = DtiModel::new(&gtab).unwrap();
        let mut sc = m.scratch();
        let o = DtiOptions {
            method: DtiMethod::Nlls,
            ..Default::default()
        };
        let (p, st, flags) = m.fit_signal(&o, &s, &mut sc).unwrap();
        assert_eq!(st, FitStatus::Ok);
        assert!(flags.is_empty());
        // a minimum: no coordinate step of 1e-7 (relative) lowers the objective
        let f0 = m.nlls_objective(&p, &s, None);
        for j in 0..7 {
            for sgn in [-1.0, 1.0] {
                let mut q = p;
                q[j] += sgn * 1e-6 * if j < 6 { 1e-3 } else { p[6].abs() };
                assert!(m.nlls_objective(&q, &s, None) >= f0, "{j} {sgn}");
            }
        }
        // the WLS fit is a different estimator with a larger objective
        let y: Vec<f64> = s.iter().map(|v| v.ln()).collect();
        let (pw, _) = m.fit_log_signal(DtiMethod::Wls, &y, &mut sc);
        assert!(m.nlls_objective(&pw, &s, None) > f0);
        // weights: zero weight on a corrupted volume ignores it
        let mut bad = s.clone();
        bad[10] *= 5.0;
        let mut w = vec![1.0; s.len()];
        w[10] = 0.0;
        let ow = DtiOptions {
            method: DtiMethod::Nlls,
            weights: Some(w.clone()),
            ..Default::default()
        };
        let (pb, _, _) = m.fit_signal(&ow, &bad, &mut sc).unwrap();
        let (pg, _, _) = m.fit_signal(&ow, &s, &mut sc).unwrap();
        for j in 0..7 {
            assert!(
                (pb[j] - pg[j]).abs() <= 1e-12 * pg[j].abs().max(1e-3),
                "{j}"
            );
        }
    }

    #[test]
    fn nonlinear_options_are_checked() {
        let gtab = scheme(2, 12, &[1000.0], 51);
        let n = gtab.len();
        let data = vec![100.0f64; n * 2];
        let code = |o: DtiOptions| {
            fit_dti(&data, 2, &gtab, None, &o, &Control::new())
                .err()
                .map(|e| e.code)
        };
        use voxelkit_core::Code;
        let nl = |weights: Option<Vec<f64>>| DtiOptions {
            method: DtiMethod::Nlls,
            weights,
            ..Default::default()
        };
        assert_eq!(code(nl(Some(vec![1.0; 3]))), Some(Code::Shape));
        let mut w = vec![1.0; n];
        w[2] = -1.0;
        assert_eq!(code(nl(Some(w.clone()))), Some(Code::Setting));
        w[2] = f64::NAN;
        assert_eq!(code(nl(Some(w))), Some(Code::Setting));
        let few: Vec<f64> = (0..n).map(|i| if i < 6 { 1.0 } else { 0.0 }).collect();
        assert_eq!(code(nl(Some(few))), Some(Code::Setting));
        assert_eq!(code(nl(Some(vec![2.0; n]))), None);
        for sg in [vec![0.0], vec![-1.0], vec![f64::NAN], vec![f64::INFINITY]] {
            assert_eq!(code(restore_opts(Some(sg), false)), Some(Code::Setting));
        }
        assert_eq!(
            code(restore_opts(Some(vec![1.0, 2.0]), false)),
            Some(Code::Shape)
        );
        assert_eq!(code(restore_opts(Some(vec![]), false)), Some(Code::Shape));
        assert_eq!(code(restore_opts(Some(vec![3.0; n]), false)), None);
        let wls = |o: DtiOptions| DtiOptions {
            method: DtiMethod::Wls,
            ..o
        };
        assert_eq!(
            code(wls(restore_opts(Some(vec![1.0]), false))),
            Some(Code::Setting)
        );
        assert_eq!(code(wls(nl(Some(vec![1.0; n])))), Some(Code::Setting));
        assert_eq!(code(wls(restore_opts(None, true))), Some(Code::Setting));
        let r = |o: DtiOptions| DtiOptions {
            method: DtiMethod::Restore,
            ..o
        };
        assert_eq!(code(r(nl(Some(vec![1.0; n])))), Some(Code::Setting));
        assert_eq!("NLS".parse::<DtiMethod>().unwrap(), DtiMethod::Nlls);
        assert_eq!("RESTORE".parse::<DtiMethod>().unwrap(), DtiMethod::Restore);
        assert_eq!(
            "IRLS".parse::<DtiMethod>().unwrap_err().code,
            Code::Unsupported
        );
    }
}
