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
//! * Eigenvalues are sorted in decreasing order and clipped below at
//!   `min_diffusivity = 1e-6 / max|X|` (DIPY's `tol / -design_matrix.min()`).
//!
//! Deliberate differences from DIPY (documented in the README):
//! * Voxels with a NaN or +inf signal are not fitted ([`FitStatus::NonFinite`], zero outputs);
//!   DIPY fails the whole call (`LinAlgError`). -inf is clipped to `min_signal` as in DIPY.
//! * float32 data are clipped and logged in float32, as numpy does for DIPY.
//! * A scheme whose design matrix is rank-deficient (for example a single shell with no b=0
//!   volume, or coplanar directions) is rejected with `ERR_GRADIENTS`; DIPY returns a
//!   minimum-norm pseudo-inverse solution that does not determine the tensor.

use crate::eig3::eigh_lower;
use crate::gradients::GradientTable;
use nalgebra::{DMatrix, DVector};
use voxelkit_core::par::{for_each_tile, SharedOut};
use voxelkit_core::vmath::{dot, exp_in_place};
use voxelkit_core::{Control, Error, Result, Sample};

/// DIPY's `MIN_POSITIVE_SIGNAL`.
pub const MIN_POSITIVE_SIGNAL: f64 = 1e-4;
/// numpy's default `pinv` cut-off (`rcond = 1e-15`), which DIPY's fits use.
pub const PINV_RCOND: f64 = 1e-15;
/// The numerator of DIPY's minimum-diffusivity rule (`tol / -design_matrix.min()`).
pub const MIN_DIFFUSIVITY_TOL: f64 = 1e-6;
/// A design whose singular values span more than this ratio is rejected as rank-deficient.
const DESIGN_RANK_RCOND: f64 = 1e-10;
/// Normal equations on unit-norm columns lose about cond^2 * eps of relative accuracy. When
/// `tr(N) tr(N^-1)` (an upper bound on cond(N) = cond(wX)^2 of the scaled system) exceeds 1e8,
/// the voxel is solved by SVD instead, which keeps the error near eps * cond.
const COND2_CERTIFICATE: f64 = 1e8;

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

/// Options of a fit.
#[derive(Debug, Clone, Default)]
pub struct DtiOptions {
    pub method: DtiMethod,
    /// Lower clip of the signal; `None` = DIPY's default 1e-4. Must be > 0.
    pub min_signal: Option<f64>,
    /// Also return the fitted S0.
    pub return_s0: bool,
    /// Threads; `None` = the default (see `voxelkit_core::par::set_default_threads`).
    pub threads: Option<usize>,
}

/// Per-voxel outcome, reported as a status map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FitStatus {
    /// Fitted by the regular path.
    Ok = 0,
    /// The weighted system was ill-conditioned; solved with DIPY's pinv semantics (SVD).
    PinvFallback = 1,
    /// The signal had NaN or infinite values; not fitted, outputs are zero.
    NonFinite = 2,
    /// Outside the mask; not fitted, outputs are zero.
    Masked = 3,
}

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

/// Per-scheme precomputation: design matrix, its pseudo-inverse, column scales.
#[derive(Debug, Clone)]
pub struct DtiModel {
    n: usize,
    /// Row-major n x 7 design matrix (DIPY's sign convention).
    x: Vec<[f64; 7]>,
    /// Row-major 7 x n pseudo-inverse of `x` (rcond 1e-6).
    pinv: Vec<f64>,
    /// Column-major design matrix: column `j` is `xcol[j * n..(j + 1) * n]`.
    xcol: Vec<f64>,
    /// Column-major design matrix with unit-norm columns.
    xscol: Vec<f64>,
    /// Column scales: `xscol[j][i] = x[i][j] * scale[j]`.
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

/// Pseudo-inverse with numpy's rule: singular values `<= rcond * max(s)` are dropped.
/// Returns the row-major `cols x rows` matrix and the rank.
fn pinv(a: &DMatrix<f64>, rcond: f64) -> Result<(DMatrix<f64>, usize)> {
    let svd = a.clone().svd(true, true);
    let (u, vt) = match (svd.u, svd.v_t) {
        (Some(u), Some(vt)) => (u, vt),
        _ => return Err(Error::internal("SVD failed to produce singular vectors")),
    };
    let smax = svd.singular_values.iter().fold(0.0f64, |m, &s| m.max(s));
    let cutoff = rcond * smax;
    let mut rank = 0;
    let mut out = DMatrix::<f64>::zeros(a.ncols(), a.nrows());
    for (k, &s) in svd.singular_values.iter().enumerate() {
        if s > cutoff {
            rank += 1;
            let inv = 1.0 / s;
            // out += v_k * inv * u_k^T
            for i in 0..a.ncols() {
                let vi = vt[(k, i)] * inv;
                for j in 0..a.nrows() {
                    out[(i, j)] += vi * u[(j, k)];
                }
            }
        }
    }
    Ok((out, rank))
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
        let (p, _) = pinv(&a, PINV_RCOND)?;
        let (_, rank) = pinv(&a, DESIGN_RANK_RCOND)?;
        if rank < 7 {
            return Err(Error::gradients(format!(
                "the gradient scheme cannot determine a diffusion tensor: its design matrix has rank \
                 {rank} < 7 (a single shell needs b=0 volumes, and at least 6 non-coplanar directions \
                 are needed)"
            )));
        }
        let mut pinv = vec![0.0; 7 * n];
        for i in 0..7 {
            for j in 0..n {
                pinv[i * n + j] = p[(i, j)];
            }
        }
        let mut scale = [0.0; 7];
        for (j, s) in scale.iter_mut().enumerate() {
            let norm = x.iter().map(|r| r[j] * r[j]).sum::<f64>().sqrt();
            *s = 1.0 / norm; // rank 7 implies every column is non-zero
        }
        let xcol: Vec<f64> = (0..7).flat_map(|j| x.iter().map(move |r| r[j])).collect();
        let xscol: Vec<f64> = (0..7)
            .flat_map(|j| x.iter().map(move |r| r[j] * scale[j]))
            .collect();
        let maxabs = x
            .iter()
            .flatten()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(-v));
        Ok(DtiModel {
            n,
            x,
            pinv,
            xcol,
            xscol,
            scale,
            min_diffusivity: MIN_DIFFUSIVITY_TOL / maxabs,
        })
    }

    /// Number of volumes the model expects.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The design matrix rows.
    pub fn design(&self) -> &[[f64; 7]] {
        &self.x
    }

    #[inline]
    fn ols(&self, y: &[f64]) -> [f64; 7] {
        let n = self.n;
        std::array::from_fn(|i| dot(&self.pinv[i * n..(i + 1) * n], y))
    }

    /// Scratch for one thread: reused across voxels, so the hot loop allocates nothing.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            w: vec![0.0; self.n],
            wy: vec![0.0; self.n],
            a: vec![0.0; 7 * self.n],
        }
    }

    /// WLS solve for one voxel given the log-signal `y`.
    fn wls(&self, y: &[f64], s: &mut Scratch) -> ([f64; 7], FitStatus) {
        let n = self.n;
        let p0 = self.ols(y);
        // predicted log-signal eta = X p0, then the weights w = exp(eta) (DIPY's WLS weights)
        let w = &mut s.w[..n];
        w.fill(0.0);
        for j in 0..7 {
            let col = &self.xcol[j * n..(j + 1) * n];
            let pj = p0[j];
            for (wi, &xij) in w.iter_mut().zip(col) {
                *wi += xij * pj;
            }
        }
        exp_in_place(w);
        // A = diag(w) Xs (unit-norm columns), b = w * y; normal equations A^T A p = A^T b
        for j in 0..7 {
            let col = &self.xscol[j * n..(j + 1) * n];
            for ((a, &xij), &wi) in s.a[j * n..(j + 1) * n].iter_mut().zip(col).zip(w.iter()) {
                *a = xij * wi;
            }
        }
        for ((b, &wi), &yi) in s.wy.iter_mut().zip(w.iter()).zip(y) {
            *b = wi * yi;
        }
        let mut ne = [[0.0f64; 7]; 7];
        let mut rhs = [0.0f64; 7];
        for r in 0..7 {
            let ar = &s.a[r * n..(r + 1) * n];
            rhs[r] = dot(ar, &s.wy);
            for c in 0..=r {
                ne[r][c] = dot(ar, &s.a[c * n..(c + 1) * n]);
            }
        }
        match cholesky_solve(&mut ne, &rhs) {
            Some(ps) => (
                std::array::from_fn(|j| ps[j] * self.scale[j]),
                FitStatus::Ok,
            ),
            None => (self.wls_svd(y, &s.w), FitStatus::PinvFallback),
        }
    }

    /// DIPY's `pinv(X * w) @ (w * y)` by SVD (the rare ill-conditioned path). The SVD runs on
    /// unit-norm columns: for a full-rank system the least-squares solution is the same, and
    /// the scaled problem loses far fewer digits when the columns differ by orders of magnitude.
    fn wls_svd(&self, y: &[f64], w: &[f64]) -> [f64; 7] {
        let n = self.n;
        let a = DMatrix::from_fn(n, 7, |i, j| self.xscol[j * n + i] * w[i]);
        let b = DVector::from_fn(n, |i, _| w[i] * y[i]);
        match pinv(&a, PINV_RCOND) {
            Ok((p, _)) => {
                let r = p * b;
                std::array::from_fn(|j| r[j] * self.scale[j])
            }
            Err(_) => [f64::NAN; 7],
        }
    }

    /// Fits one voxel from its (clipped) log-signal. Returns lower-triangular tensor + `-log S0`.
    #[inline]
    pub fn fit_log_signal(
        &self,
        method: DtiMethod,
        y: &[f64],
        s: &mut Scratch,
    ) -> ([f64; 7], FitStatus) {
        match method {
            DtiMethod::Ols => (self.ols(y), FitStatus::Ok),
            DtiMethod::Wls => self.wls(y, s),
        }
    }
}

/// Per-thread scratch of [`DtiModel`] fits.
#[derive(Debug, Clone)]
pub struct Scratch {
    w: Vec<f64>,
    wy: Vec<f64>,
    a: Vec<f64>,
}

/// Cholesky of the packed lower triangle `a` (in place) and solve. Returns `None` when the matrix
/// is not numerically positive definite or when `tr(a) tr(a^-1)` exceeds [`COND2_CERTIFICATE`].
#[inline]
fn cholesky_solve(a: &mut [[f64; 7]; 7], b: &[f64; 7]) -> Option<[f64; 7]> {
    let mut tr = 0.0;
    for j in 0..7 {
        tr += a[j][j];
    }
    for j in 0..7 {
        let mut d = a[j][j];
        for k in 0..j {
            d -= a[j][k] * a[j][k];
        }
        if !(d > 0.0) || !d.is_finite() {
            return None;
        }
        let l = d.sqrt();
        a[j][j] = l;
        for i in j + 1..7 {
            let mut s = a[i][j];
            for k in 0..j {
                s -= a[i][k] * a[j][k];
            }
            a[i][j] = s / l;
        }
    }
    // inverse of L (lower), to bound the condition number: diag(N_s^-1)_i = sum_k Linv[k][i]^2
    let mut linv = [[0.0f64; 7]; 7];
    for i in 0..7 {
        linv[i][i] = 1.0 / a[i][i];
        for j in (0..i).rev() {
            let mut s = 0.0;
            for k in j..i {
                s += a[i][k] * linv[k][j];
            }
            linv[i][j] = -s / a[i][i];
        }
    }
    let mut trinv = 0.0;
    for i in 0..7 {
        let mut d = 0.0;
        for k in i..7 {
            d += linv[k][i] * linv[k][i];
        }
        trinv += d;
    }
    if !(tr * trinv < COND2_CERTIFICATE) {
        return None;
    }
    // forward / back substitution
    let mut z = [0.0f64; 7];
    for i in 0..7 {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i][k] * z[k];
        }
        z[i] = s / a[i][i];
    }
    let mut x = [0.0f64; 7];
    for i in (0..7).rev() {
        let mut s = z[i];
        for k in i + 1..7 {
            s -= a[k][i] * x[k];
        }
        x[i] = s / a[i][i];
    }
    Some(x)
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
    let model = DtiModel::new(gtab)?;
    let n = model.len();
    if nvox.checked_mul(n) != Some(data.len()) {
        return Err(Error::shape(format!(
            "the data hold {} values, expected {nvox} voxels x {n} volumes = {}",
            data.len(),
            nvox.saturating_mul(n)
        )));
    }
    if let Some(m) = mask {
        if m.len() != nvox {
            return Err(Error::shape(format!(
                "the mask has {} voxels, the data have {nvox}",
                m.len()
            )));
        }
    }
    let min_signal = match opts.min_signal {
        None => MIN_POSITIVE_SIGNAL,
        Some(s) if s > 0.0 && s.is_finite() => s,
        Some(s) => {
            return Err(Error::setting(format!(
                "minSignal must be a finite number > 0, got {s}"
            )))
        }
    };
    let mut evals = vec![0.0; 3 * nvox];
    let mut evecs = vec![0.0; 9 * nvox];
    let mut s0 = if opts.return_s0 {
        Some(vec![0.0; nvox])
    } else {
        None
    };
    let mut status = vec![FitStatus::Masked as u8; nvox];
    {
        let o_evals = SharedOut::new(&mut evals);
        let o_evecs = SharedOut::new(&mut evecs);
        let o_s0 = s0.as_deref_mut().map(SharedOut::new);
        let o_status = SharedOut::new(&mut status);
        let model = &model;
        // 8/16-bit data: log(max(s, min_signal)) of every possible value, computed once, so the
        // hot loop does a table look-up instead of a logarithm (same function, same bits).
        let log_table: Option<Vec<f64>> =
            (T::TABLE_LEN > 0 && nvox * n >= 4 * T::TABLE_LEN).then(|| {
                (0..T::TABLE_LEN)
                    .map(|i| (i as f64).max(min_signal).ln())
                    .collect()
            });
        let log_table = log_table.as_deref();
        for_each_tile(nvox, opts.threads, ctl, |_, range| {
            let len = range.len();
            // gather the tile voxel-major: tile[j * n + k], as log-signal when tabulated
            let mut tile = vec![0.0f64; len * n];
            for k in 0..n {
                let src = &data[k * nvox + range.start..k * nvox + range.end];
                match log_table {
                    Some(t) => {
                        for (j, s) in src.iter().enumerate() {
                            tile[j * n + k] = t[s.table_index()];
                        }
                    }
                    None => {
                        for (j, s) in src.iter().enumerate() {
                            tile[j * n + k] = s.to_f64();
                        }
                    }
                }
            }
            let mut scratch = model.scratch();
            for (j, v) in range.clone().enumerate() {
                if let Some(m) = mask {
                    if m[v] == 0 {
                        continue;
                    }
                }
                let y = &mut tile[j * n..(j + 1) * n];
                if log_table.is_none() {
                    // NaN and +inf cannot be fitted (DIPY fails the whole call); -inf is clipped
                    // to min_signal like any other negative value, as DIPY does.
                    if y.iter().any(|s| s.is_nan() || *s == f64::INFINITY) {
                        // SAFETY: v belongs to this tile only.
                        unsafe { o_status.write(v, FitStatus::NonFinite as u8) };
                        continue;
                    }
                    if T::IS_F32 {
                        // numpy: maximum(float32, weak float) and log stay float32
                        let ms = min_signal as f32;
                        for s in y.iter_mut() {
                            *s = (*s as f32).max(ms).ln() as f64;
                        }
                    } else {
                        for s in y.iter_mut() {
                            *s = s.max(min_signal).ln();
                        }
                    }
                }
                let (p, st) = model.fit_log_signal(opts.method, y, &mut scratch);
                if p.iter().any(|x| !x.is_finite()) {
                    // only if an SVD failed to converge: never leak NaN maps
                    // SAFETY: v belongs to this tile only.
                    unsafe { o_status.write(v, FitStatus::NonFinite as u8) };
                    continue;
                }
                let lt = [p[0], p[1], p[2], p[3], p[4], p[5]];
                let (vals, vecs) = eigh_lower(&lt);
                // SAFETY: every index below is derived from v, which belongs to this tile only.
                unsafe {
                    for c in 0..3 {
                        o_evals.write(c * nvox + v, vals[c].max(model.min_diffusivity));
                    }
                    for jv in 0..3 {
                        for i in 0..3 {
                            o_evecs.write((i + 3 * jv) * nvox + v, vecs[jv][i]);
                        }
                    }
                    if let Some(o) = &o_s0 {
                        o.write(v, (-p[6]).exp());
                    }
                    o_status.write(v, st as u8);
                }
            }
            Ok(())
        })?;
    }
    Ok(DtiFit {
        nvox,
        evals,
        evecs,
        s0,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let q = m.wls_svd(&y, &s.w);
        // tensor entries ~1e-3 and -log S0 ~ 6: compare each group at its own scale
        for j in 0..7 {
            let s = if j < 6 { 1e-3 } else { p[6].abs() };
            assert!((p[j] - q[j]).abs() <= 1e-10 * s, "{j}: {} {}", p[j], q[j]);
        }
    }
}
