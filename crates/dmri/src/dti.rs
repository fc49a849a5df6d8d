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
//!
//! Voxels are fitted four at a time, one per SIMD lane ([`L`]): every lane performs exactly the
//! operations a single voxel needs, reductions run sequentially per lane, so a voxel's result
//! does not depend on which voxels share its group, on tiling or on the thread count.
//! * Eigenvalues are sorted in decreasing order and clipped below at
//!   `min_diffusivity = 1e-6 / max|X|` (DIPY's `tol / -design_matrix.min()`).
//!
//! Deliberate differences from DIPY (documented in the README):
//! * Voxels with a NaN or +inf signal are not fitted ([`FitStatus::NonFinite`], zero outputs);
//!   DIPY fails the whole call (`LinAlgError`). -inf is clipped to `min_signal` as in DIPY.
//! * float32 data are clipped and logged in float32, as numpy does for DIPY, with numpy's own
//!   float32 log kernel on the CPUs where numpy uses it (bit-for-bit tested).
//! * A scheme whose design matrix is rank-deficient (for example a single shell with no b=0
//!   volume, or coplanar directions) is rejected with `ERR_GRADIENTS`; DIPY returns a
//!   minimum-norm pseudo-inverse solution that does not determine the tensor.

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
}

impl std::str::FromStr for DtiMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "WLS" => Ok(DtiMethod::Wls),
            "OLS" | "LS" => Ok(DtiMethod::Ols),
            "NLLS" | "RESTORE" | "RT" | "restore" => Err(Error::unsupported(format!(
                "fit method '{s}' is not built yet (available: 'WLS', 'OLS')"
            ))),
            _ => Err(Error::setting(format!(
                "unknown fit method '{s}': expected 'WLS' or 'OLS' ('NLLS' and 'RESTORE' are planned)"
            ))),
        }
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
}

/// Per-scheme precomputation: design matrix, its pseudo-inverse, products of scaled columns.
#[derive(Debug, Clone)]
pub struct DtiModel {
    n: usize,
    /// Row-major n x 7 design matrix (DIPY's sign convention).
    x: Vec<[f64; 7]>,
    /// Row-major n x 7 transposed pseudo-inverse of `x` (numpy's rcond 1e-15).
    pinv_t: Vec<[f64; 7]>,
    /// Row-major n x 7 design matrix with unit-norm columns.
    xs: Vec<[f64; 7]>,
    /// Row-major n x 28: products `xs[i][r] * xs[i][c]`, c <= r, packed by row (see [`pk`]).
    q: Vec<[f64; 28]>,
    /// Column scales: `xs[i][j] = x[i][j] * scale[j]`.
    scale: [f64; 7],
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
        let (p, sv) = pinv(&a, PINV_RCOND)?;
        let rank = design_rank(&sv);
        if rank < 7 {
            return Err(Error::gradients(format!(
                "the gradient scheme cannot determine a diffusion tensor: its design matrix has rank \
                 {rank} < 7 (a single shell needs b=0 volumes, and at least 6 non-coplanar directions \
                 are needed)"
            )));
        }
        let pinv_t = (0..n).map(|i| std::array::from_fn(|r| p[(r, i)])).collect();
        // rank 7 implies every column is non-zero
        let (scale, xs) = unit_columns(&x);
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
        Ok(DtiModel {
            n,
            x,
            pinv_t,
            xs,
            q,
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
        // w^2 = exp(2 X p0) to 5e-10: plenty for weights, as a relative error e in a weight
        // moves the solution by about e times the normalised residual (<= 0.1 on real data),
        // two orders of magnitude below the 1e-8 agreement with DIPY that the tests check
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
    fn ne_pass<const K0: usize>(&self, w2: &[V], ne: &mut [V; 28]) {
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

    /// Fits one voxel from its clipped log-signal `y` (lane 0 of a group; same bits as in a group).
    pub fn fit_log_signal(
        &self,
        method: DtiMethod,
        y: &[f64],
        s: &mut Scratch,
    ) -> ([f64; 7], FitStatus) {
        for l in 0..L {
            s.set_voxel(l, y);
        }
        let (p, st) = self.fit_group(method, s);
        (p.map(|v| v[0]), st[0])
    }
}

/// Per-thread scratch of [`DtiModel`] group fits: signals, weights and products, lane-major.
#[derive(Debug, Clone)]
pub struct Scratch {
    y: Vec<V>,
    w: Vec<V>,
    w2y: Vec<V>,
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
    type Aux = ();
    const S0_INDEX: usize = 6;
    const EXTRA: usize = 0;

    fn from_gradients(gtab: &GradientTable) -> Result<Self> {
        DtiModel::new(gtab)
    }

    fn volumes(&self) -> usize {
        self.n
    }

    fn min_diffusivity(&self) -> f64 {
        self.min_diffusivity
    }

    /// Scratch for one thread: reused across groups, so the hot loop allocates nothing.
    fn scratch(&self) -> Scratch {
        Scratch {
            y: vec![[0.0; L]; self.n],
            w: vec![[0.0; L]; self.n],
            w2y: vec![[0.0; L]; self.n],
        }
    }

    #[inline(always)]
    fn log_signals<'s>(&self, s: &'s mut Scratch) -> &'s mut [V] {
        &mut s.y[..self.n]
    }

    /// Fits a group of [`L`] voxels whose clipped log-signals are in `s` (see
    /// [`Scratch::set_voxel`]). Returns the lower-triangular tensors + `-log S0` per lane.
    #[inline(always)]
    fn fit_group(&self, method: DtiMethod, s: &mut Scratch) -> ([V; 7], [FitStatus; L]) {
        match method {
            DtiMethod::Ols => (self.ols(&s.y[..self.n]), [FitStatus::Ok; L]),
            DtiMethod::Wls => self.wls(s),
        }
    }

    #[inline(always)]
    fn extras(&self, _p: &[V; 7], _lane: usize, _evals: &[f64; 3]) -> [f64; 0] {
        []
    }

    fn aux(&self, _method: DtiMethod) {}
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
    let f = fit_model::<DtiModel, T>(data, nvox, gtab, mask, opts, ctl)?;
    Ok(DtiFit {
        nvox: f.nvox,
        evals: f.evals,
        evecs: f.evecs,
        s0: f.s0,
        status: f.status,
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
        for method in [DtiMethod::Wls, DtiMethod::Ols] {
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
        let run = |t| {
            let o = DtiOptions {
                threads: Some(t),
                return_s0: true,
                ..Default::default()
            };
            fit_dti(&data, nvox, &gtab, None, &o, &Control::new()).unwrap()
        };
        let a = run(1);
        for t in [2, 3, 8] {
            let b = run(t);
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
        for method in [DtiMethod::Wls, DtiMethod::Ols] {
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
            // a voxel's result does not depend on which voxels share its SIMD group
            let masked = run(false, Some(&mask));
            for v in (0..nvox).filter(|v| v % 3 != 0) {
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
}
