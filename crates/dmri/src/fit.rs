//! What every voxel-wise model fit shares: options, per-voxel status, DIPY's numeric constants,
//! input checks, numpy's pseudo-inverse, tile staging with clipped logs, the CPU-feature
//! dispatch, and the one fit driver [`fit_model`] that runs a [`FitModel`] over a volume.
//!
//! ## The driver
//! [`fit_model`] checks the inputs, allocates the outputs, and runs tiles of voxels in parallel
//! (the AVX2+FMA build of the tile kernel where the CPU has it, the same bits as the baseline
//! build). Per tile it stages the signal, and per group of [`L`] voxels it loads the clipped
//! log-signals into the model's scratch, calls [`FitModel::fit_group`] and the optional
//! [`FitModel::post_group`], eigen-decomposes the tensor (parameters 0..6; two groups' tensors
//! at a time, see [`crate::eig3::jacobi_lanes_n`]) with DIPY's
//! minimum-diffusivity floor, and writes eigenvalues, eigenvectors, the model's extra outputs
//! ([`FitModel::extras`]), S0 (from parameter [`FitModel::S0_INDEX`], `-log S0`) and the
//! status. Voxels outside the mask keep [`FitStatus::Masked`] and zero outputs; voxels with a
//! NaN or +inf sample get [`FitStatus::NonFinite`].
//!
//! ## Adding a model
//! A model implements [`FitModel`]: its constructor from a gradient table (rejecting schemes
//! that cannot determine it), its volume count, its eigenvalue floor, a per-thread scratch
//! holding at least the lane-major log-signals, and the lane-group fit, which is the whole of
//! its numerics. Everything else is a type or a constant: the parameter array (tensor first),
//! the per-voxel extra outputs (none for DTI; the 15 kurtosis elements for DKI), and any
//! per-call state its post-step needs (`()` when it has none). Its public fit function is then
//! one call of [`fit_model`] that renames the outputs. For example, DTI's non-linear fit (NLLS)
//! is a [`crate::dti::DtiMethod`] arm of `DtiModel`'s `fit_group` that asks the driver for the
//! clipped signals too ([`FitModel::signals`]) and stages the group with its OLS start; its
//! `post_batch` streams the batch's voxels through the lanes of the iteration. RESTORE's
//! `post_batch` also refits the voxels whose residuals flag outliers (its checked options,
//! `sigma`, in `Aux`), and it returns the rejected volumes as per-voxel flag bytes
//! ([`FitModel::voxel_bytes`]).

use crate::eig3::{jacobi_lanes_n, sorted_lane, L, V};
use crate::gradients::GradientTable;
use nalgebra::DMatrix;
use voxelkit_core::par::{for_each_tile, SharedOut};
use voxelkit_core::vmath::numpy_simd_logf;
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
pub(crate) const COND2_CERTIFICATE: f64 = 1e8;

/// Options of a model fit (DTI or DKI); `M` is the model's method enum.
#[derive(Debug, Clone, Default)]
pub struct FitOptions<M> {
    pub method: M,
    /// Lower clip of the signal; `None` = DIPY's default 1e-4. Must be > 0.
    pub min_signal: Option<f64>,
    /// Also return the fitted S0.
    pub return_s0: bool,
    /// Threads; `None` = the default (see `voxelkit_core::par::set_default_threads`).
    pub threads: Option<usize>,
    /// Non-linear fits (DTI `NLLS`): one weight per volume on the squared residuals (DIPY's
    /// `weights`, the same for every voxel). Finite, >= 0, and the volumes with a positive weight
    /// must determine the model. `None` = unweighted.
    pub weights: Option<Vec<f64>>,
    /// DTI `RESTORE`: the noise level, one value for every volume or one per volume (DIPY's
    /// `sigma`, finite and > 0). `None` = estimated per voxel from the residuals (1.4826 x MAD).
    pub sigma: Option<Vec<f64>>,
    /// Non-linear fits: where DIPY would fall back to the start parameters, return NaN instead
    /// (DIPY's `fail_is_nan`).
    pub fail_is_nan: bool,
    /// DTI `NLLS`: the start of the optimisation per voxel instead of the OLS fit (DIPY's
    /// `init_params` of `nlls_fit_tensor`): `7 * nvox` finite values, component-major (component
    /// `c` of voxel `v` at `c * nvox + v`), in DIPY's parameter layout `[Dxx, Dxy, Dyy, Dxz,
    /// Dyz, Dzz, -log S0]`. Where the optimiser fails, DIPY falls back to this start (NaN with
    /// `fail_is_nan`). `None` = the OLS start.
    pub init_params: Option<Vec<f64>>,
    /// Testing: use the baseline instruction set even where AVX2 is available.
    #[doc(hidden)]
    pub force_baseline_isa: bool,
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
    /// CLS/CWLS: the unconstrained solution violated the constraints (or the feasibility program
    /// that checks them failed); the semidefinite program gave the fit.
    Constrained = 4,
    /// CLS/CWLS: the constrained fit failed (singular weighted design or a solver error in the
    /// constrained program); the parameters are zero, as DIPY returns them.
    SolverFailed = 5,
    /// NLLS/RESTORE: the optimiser reached its iteration limit before its convergence test; the
    /// parameters are the best it found (never worse than the start).
    NotConverged = 6,
    /// NLLS/RESTORE: the non-linear fit could not be run where DIPY's fails (RESTORE: fewer
    /// volumes left than parameters after rejecting the outliers); as DIPY, the start parameters
    /// are returned (RESTORE: those of the last reweighted round), or NaN with `fail_is_nan`.
    StartFallback = 7,
}

/// Numerical rank of a design from its singular values: those above [`DESIGN_RANK_RCOND`]
/// times the largest.
pub(crate) fn design_rank(sv: &[f64]) -> usize {
    let smax = sv.iter().fold(0.0f64, |m, &v| m.max(v));
    sv.iter().filter(|&&v| v > DESIGN_RANK_RCOND * smax).count()
}

/// The reciprocal column norms of a design (0 for a zero column) and the design with unit-norm
/// columns (`xs[i][j] = x[i][j] * scale[j]`), on which the models solve.
pub(crate) fn unit_columns<const P: usize>(x: &[[f64; P]]) -> ([f64; P], Vec<[f64; P]>) {
    let mut scale = [0.0; P];
    for (j, s) in scale.iter_mut().enumerate() {
        let norm = x.iter().map(|r| r[j] * r[j]).sum::<f64>().sqrt();
        *s = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    }
    let xs = x
        .iter()
        .map(|r| std::array::from_fn(|j| r[j] * scale[j]))
        .collect();
    (scale, xs)
}

/// DIPY's eigenvalue floor for a design `x`: `MIN_DIFFUSIVITY_TOL / -min(x)`.
pub(crate) fn diffusivity_floor<const P: usize>(x: &[[f64; P]]) -> f64 {
    let minx = x.iter().flatten().fold(f64::INFINITY, |m, &v| m.min(v));
    MIN_DIFFUSIVITY_TOL / -minx
}

/// The most implicit-shift iterations [`pinv`]'s SVD may take (a converging SVD of a fit's
/// design takes a few per column).
const SVD_MAX_ITER: usize = 100_000;

/// Pseudo-inverse with numpy's rule: singular values `<= rcond * max(s)` are dropped.
/// Returns the `cols x rows` matrix and the singular values.
///
/// A matrix holding NaN or infinity is an error (nalgebra's SVD, unbounded by default, never
/// converges on one: a weighted system whose weights overflowed, e.g. under `minSignal` 1e308,
/// hung the fit; found by scripts/fuzz-options.mjs). The iterations are also capped: nalgebra's
/// default tolerance, so a converging SVD gives the same bits as `svd()`.
pub(crate) fn pinv(a: &DMatrix<f64>, rcond: f64) -> Result<(DMatrix<f64>, Vec<f64>)> {
    if a.iter().any(|v| !v.is_finite()) {
        return Err(Error::internal(
            "pseudo-inverse of a matrix holding NaN or infinity",
        ));
    }
    let svd = a
        .clone()
        .try_svd(true, true, f64::EPSILON * 5.0, SVD_MAX_ITER)
        .ok_or_else(|| Error::internal("SVD did not converge"))?;
    let (u, vt) = match (svd.u, svd.v_t) {
        (Some(u), Some(vt)) => (u, vt),
        _ => return Err(Error::internal("SVD failed to produce singular vectors")),
    };
    let smax = svd.singular_values.iter().fold(0.0f64, |m, &s| m.max(s));
    let cutoff = rcond * smax;
    let mut out = DMatrix::<f64>::zeros(a.ncols(), a.nrows());
    for (k, &s) in svd.singular_values.iter().enumerate() {
        if s > cutoff {
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
    Ok((out, svd.singular_values.iter().copied().collect()))
}

/// Checks a fit's inputs (data length, mask length, `minSignal`) and returns the signal floor
/// (DIPY's default when `min_signal` is `None`).
fn check_fit_inputs(
    data_len: usize,
    nvox: usize,
    n: usize,
    mask: Option<&[u8]>,
    min_signal: Option<f64>,
) -> Result<f64> {
    if nvox.checked_mul(n) != Some(data_len) {
        return Err(Error::shape(format!(
            "the data hold {data_len} values, expected {nvox} voxels x {n} volumes = {}",
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
    match min_signal {
        None => Ok(MIN_POSITIVE_SIGNAL),
        Some(s) if s > 0.0 && s.is_finite() => Ok(s),
        Some(s) => Err(Error::setting(format!(
            "minSignal must be a finite number > 0, got {s}"
        ))),
    }
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether numpy on this CPU logs float32 data with its SIMD kernel (AVX2+FMA3 or AVX-512F);
/// elsewhere it calls the C library's `logf`. The fit follows the same rule.
pub fn numpy_uses_simd_logf() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx2_fma() || std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A tile's input staged for group fits: one contiguous copy per volume, and the tile-local
/// indices of the voxels to fit.
struct StagedTile<T> {
    stage: Vec<T>,
    len: usize,
    start: usize,
    todo: Vec<usize>,
}

/// How raw samples become clipped log-signals.
struct LogSpec<'a> {
    log_table: Option<&'a [f64]>,
    min_signal: f64,
    /// float32 data: log like numpy's SIMD kernel (see [`numpy_uses_simd_logf`]).
    numpy_logf: bool,
}

/// 8/16-bit data: `log(max(s, min_signal))` of every possible value, computed once, so the
/// hot loop does a table look-up instead of a logarithm (same function, same bits).
fn log_table<T: Sample>(values: usize, min_signal: f64) -> Option<Vec<f64>> {
    (T::TABLE_LEN > 0 && values >= 4 * T::TABLE_LEN).then(|| {
        (0..T::TABLE_LEN)
            .map(|i| T::from_table_index(i).max(min_signal).ln())
            .collect()
    })
}

/// Stages one tile of volume-major `data` and selects the voxels to fit: inside the mask, and
/// (float data) free of NaN and +inf, which cannot be fitted (DIPY fails the whole call; -inf is
/// clipped to min_signal like any other negative value, as DIPY does). Non-finite voxels get
/// status [`FitStatus::NonFinite`] in `o_status`.
#[inline(always)]
fn stage_tile<T: Sample>(
    data: &[T],
    nvox: usize,
    n: usize,
    mask: Option<&[u8]>,
    range: std::ops::Range<usize>,
    o_status: &SharedOut<u8>,
) -> StagedTile<T> {
    let start = range.start;
    let len = range.len();
    let mut fit = vec![true; len];
    if let Some(m) = mask {
        for (f, &mv) in fit.iter_mut().zip(&m[range.clone()]) {
            *f = mv != 0;
        }
    }
    // one contiguous copy per volume (prefetch-friendly), so the per-group gathers hit cache
    // however large the volume is
    let mut stage: Vec<T> = Vec::with_capacity(n * len);
    for k in 0..n {
        stage.extend_from_slice(&data[k * nvox + start..k * nvox + range.end]);
    }
    if T::IS_FLOAT {
        let mut bad = vec![false; len];
        for row in stage.chunks_exact(len) {
            for (b, s) in bad.iter_mut().zip(row) {
                let x = s.to_f64();
                *b |= x.is_nan() | (x == f64::INFINITY);
            }
        }
        for (j, (f, &b)) in fit.iter_mut().zip(&bad).enumerate() {
            if *f && b {
                *f = false;
                // SAFETY: voxel start + j belongs to this tile only.
                unsafe { o_status.write(start + j, FitStatus::NonFinite as u8) };
            }
        }
    }
    let todo: Vec<usize> = (0..len).filter(|&j| fit[j]).collect();
    StagedTile {
        stage,
        len,
        start,
        todo,
    }
}

impl<T: Sample> StagedTile<T> {
    /// Gathers the clipped signals (as DIPY's `np.maximum(data, min_signal)`: float32 data stay
    /// float32, the others become float64) of the tile-local voxels `local` into the lanes of
    /// `s`.
    #[inline(always)]
    fn load_signals(&self, local: &[usize; L], s: &mut [V], spec: &LogSpec<'_>) {
        let len = self.len;
        let ms32 = spec.min_signal as f32;
        for (k, sk) in s.iter_mut().enumerate() {
            let row = &self.stage[k * len..(k + 1) * len];
            for l in 0..L {
                let x = row[local[l]];
                sk[l] = if T::IS_F32 {
                    (x.to_f64() as f32).max(ms32) as f64
                } else {
                    x.to_f64().max(spec.min_signal)
                };
            }
        }
    }

    /// Gathers the clipped log-signals of the tile-local voxels `local` into the lanes of `y`.
    #[inline(always)]
    fn load_group(&self, local: &[usize; L], y: &mut [V], spec: &LogSpec<'_>) {
        let len = self.len;
        if let Some(t) = spec.log_table {
            // the table has one entry per value of T (a constant length, so every look-up is
            // in bounds without a check)
            let t = &t[..T::TABLE_LEN];
            let j0 = local[0];
            if local.iter().enumerate().all(|(l, &j)| j == j0 + l) {
                // consecutive voxels (no mask, or a run of the mask): one slice per volume
                for (yk, row) in y.iter_mut().zip(self.stage[j0..].chunks(len)) {
                    for (o, s) in yk.iter_mut().zip(&row[..L]) {
                        *o = t[s.table_index()];
                    }
                }
            } else {
                for (yk, row) in y.iter_mut().zip(self.stage.chunks_exact(len)) {
                    for (o, &j) in yk.iter_mut().zip(local) {
                        *o = t[row[j].table_index()];
                    }
                }
            }
            return;
        }
        let ms32 = spec.min_signal as f32;
        for (k, yk) in y.iter_mut().enumerate() {
            let row = &self.stage[k * len..(k + 1) * len];
            for l in 0..L {
                let s = row[local[l]];
                yk[l] = match spec.log_table {
                    Some(t) => t[s.table_index()],
                    // numpy: maximum(float32, weak float) and log stay float32, and the log
                    // is numpy's own SIMD kernel where numpy uses one
                    None if T::IS_F32 => {
                        let x = (s.to_f64() as f32).max(ms32);
                        (if spec.numpy_logf {
                            numpy_simd_logf(x)
                        } else {
                            x.ln()
                        }) as f64
                    }
                    None => s.to_f64().max(spec.min_signal).ln(),
                };
            }
        }
    }
}

/// A model that [`fit_model`] fits voxel by voxel, [`L`] voxels at a time (one per SIMD lane).
///
/// Every lane must perform exactly the operations a single voxel needs, with reductions run
/// sequentially per lane, so that a voxel's result does not depend on which voxels share its
/// group, on tiling or on the thread count. The group methods are called from the tile kernel,
/// which is compiled for the baseline and the AVX2+FMA instruction sets: mark them
/// `#[inline(always)]` so that they are compiled into both.
pub trait FitModel: Sized + Sync {
    /// The model's fit methods.
    type Method: Copy + Send + Sync;
    /// Per-thread scratch, reused across the groups of a tile.
    type Scratch;
    /// The fitted parameters of a group, one [`V`] per parameter: the six lower-triangular
    /// tensor elements `Dxx, Dxy, Dyy, Dxz, Dyz, Dzz` first, `-log S0` at [`Self::S0_INDEX`].
    type Params: AsRef<[V]>;
    /// The model's extra outputs of one voxel ([`Self::EXTRA`] values).
    type Extra: AsRef<[f64]>;
    /// Per-call state shared by all tiles (built by [`Self::aux`]).
    type Aux: Sync;
    /// Index of `-log S0` in [`Self::Params`].
    const S0_INDEX: usize;
    /// Number of extra output components per voxel.
    const EXTRA: usize;

    /// The model of a gradient scheme; an error when the scheme cannot determine it.
    fn from_gradients(gtab: &GradientTable) -> Result<Self>;
    /// Number of volumes the model expects.
    fn volumes(&self) -> usize;
    /// The eigenvalue floor of `method` (DIPY's `MIN_DIFFUSIVITY_TOL / -min(design)` for most).
    fn min_diffusivity(&self, method: Self::Method) -> f64;
    /// Scratch for one thread.
    fn scratch(&self) -> Self::Scratch;
    /// The lane-major log-signals in `s` (`y[k][l]`: volume `k` of lane `l`, [`Self::volumes`]
    /// rows), which the driver fills before each [`Self::fit_group`].
    fn log_signals<'s>(&self, s: &'s mut Self::Scratch) -> &'s mut [V];
    /// The lane-major clipped signals in `s` (`s[k][l]`, [`Self::volumes`] rows), for the
    /// methods that fit the signal itself rather than its log; the driver fills them before each
    /// [`Self::fit_group`]. `None` (the default): the method needs only the logs.
    #[inline(always)]
    fn signals<'s>(&self, method: Self::Method, s: &'s mut Self::Scratch) -> Option<&'s mut [V]> {
        let _ = (method, s);
        None
    }
    /// Called before each [`Self::fit_group`] with the voxel index (in the whole volume) of each
    /// lane, for per-voxel inputs other than the signal (e.g. DTI NLLS start parameters). Does
    /// nothing by default.
    #[inline(always)]
    fn start_group(&self, aux: &Self::Aux, s: &mut Self::Scratch, voxels: &[usize; L]) {
        let _ = (aux, s, voxels);
    }
    /// Fits the group whose clipped log-signals (and, where [`Self::signals`] asks for them,
    /// clipped signals) are in `s`; returns the parameters and the status of each lane.
    fn fit_group(
        &self,
        method: Self::Method,
        aux: &Self::Aux,
        s: &mut Self::Scratch,
    ) -> (Self::Params, [FitStatus; L]);
    /// The extra outputs of lane `lane` of a fitted group, given its sorted and floored
    /// eigenvalues.
    fn extras(&self, p: &Self::Params, lane: usize, evals: &[f64; 3]) -> Self::Extra;
    /// Per-call state for the options (built once per fit, before any tile); checks the
    /// method-specific options (an error for options the method does not take).
    fn aux(&self, opts: &FitOptions<Self::Method>) -> Result<Self::Aux>;
    /// Bytes of per-voxel flags the fit returns (e.g. RESTORE's rejected volumes); 0 by default.
    fn voxel_bytes(&self, aux: &Self::Aux) -> usize {
        let _ = aux;
        0
    }
    /// Writes the [`Self::voxel_bytes`] flag bytes of lane `lane` of group `group` (its index in
    /// the last batch, see [`Self::batch_groups`]).
    #[inline(always)]
    fn write_voxel_bytes(
        &self,
        aux: &Self::Aux,
        s: &Self::Scratch,
        group: usize,
        lane: usize,
        out: &mut [u8],
    ) {
        let _ = (aux, s, group, lane, out);
    }
    /// Groups fitted before [`Self::post_batch`] runs on them all (an even number; 2 by
    /// default, the pair whose tensors are eigen-decomposed together).
    #[inline(always)]
    fn batch_groups(&self, method: Self::Method) -> usize {
        let _ = method;
        2
    }
    /// An optional step after [`Self::post_group`] on a batch of groups (their parameters and
    /// statuses, in order; the lanes of a short last group beyond its voxels are not written),
    /// which may pack the voxels of several groups into one vector. A slow step should call
    /// `ctl.check()`.
    #[inline(always)]
    fn post_batch(
        &self,
        method: Self::Method,
        aux: &Self::Aux,
        ctl: &Control,
        s: &mut Self::Scratch,
        p: &mut [Self::Params],
        st: &mut [[FitStatus; L]],
    ) -> Result<()> {
        let _ = (method, aux, ctl, s, p, st);
        Ok(())
    }
    /// An optional step after [`Self::fit_group`] on the first `lanes` lanes (the others repeat
    /// the last voxel and are not written); may replace parameters and statuses. A slow step
    /// should call `ctl.check()` so that an abort is honoured between groups.
    #[inline(always)]
    fn post_group(
        &self,
        method: Self::Method,
        aux: &Self::Aux,
        ctl: &Control,
        s: &mut Self::Scratch,
        p: &mut Self::Params,
        st: &mut [FitStatus; L],
        lanes: usize,
    ) -> Result<()> {
        let _ = (method, aux, ctl, s, p, st, lanes);
        Ok(())
    }
}

/// The outputs of [`fit_model`]. Component-major layouts (component `c` of voxel `v` at
/// `c * nvox + v`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFit {
    pub nvox: usize,
    /// `3 * nvox`: eigenvalues, descending, floored at the minimum diffusivity.
    pub evals: Vec<f64>,
    /// `9 * nvox`: component `i` of eigenvector `j` at `(i + 3 j) * nvox + v`.
    pub evecs: Vec<f64>,
    /// `EXTRA * nvox`: the model's extra outputs.
    pub extra: Vec<f64>,
    /// `nvox`: fitted S0 when requested.
    pub s0: Option<Vec<f64>>,
    /// `nvox`: [`FitStatus`] codes.
    pub status: Vec<u8>,
    /// `voxel_bytes * nvox`, voxel-major: the model's per-voxel flag bytes (see
    /// [`FitModel::voxel_bytes`]); zeros where nothing was fitted.
    pub flags: Vec<u8>,
    /// Flag bytes per voxel.
    pub voxel_bytes: usize,
}

/// Fits model `M` to `data` (`n` volumes of `nvox` voxels, `data[k * nvox + v]`). `mask`
/// (length `nvox`, non-zero = fit) restricts the fit; voxels outside get zero outputs.
pub fn fit_model<M: FitModel, T: Sample>(
    data: &[T],
    nvox: usize,
    gtab: &GradientTable,
    mask: Option<&[u8]>,
    opts: &FitOptions<M::Method>,
    ctl: &Control,
) -> Result<ModelFit> {
    let model = M::from_gradients(gtab)?;
    let n = model.volumes();
    let min_signal = check_fit_inputs(data.len(), nvox, n, mask, opts.min_signal)?;
    let mut evals = vec![0.0; 3 * nvox];
    let mut evecs = vec![0.0; 9 * nvox];
    let mut extra = vec![0.0; M::EXTRA * nvox];
    let mut s0 = opts.return_s0.then(|| vec![0.0; nvox]);
    let mut status = vec![FitStatus::Masked as u8; nvox];
    let aux = model.aux(opts)?;
    let voxel_bytes = model.voxel_bytes(&aux);
    let mut flags = vec![0u8; voxel_bytes * nvox];
    {
        let table = log_table::<T>(nvox * n, min_signal);
        let ctx = TileCtx {
            data,
            nvox,
            n,
            mask,
            model: &model,
            spec: LogSpec {
                log_table: table.as_deref(),
                min_signal,
                numpy_logf: numpy_uses_simd_logf(),
            },
            method: opts.method,
            aux: &aux,
            ctl,
            o_evals: SharedOut::new(&mut evals),
            o_evecs: SharedOut::new(&mut evecs),
            o_extra: SharedOut::new(&mut extra),
            o_s0: s0.as_deref_mut().map(SharedOut::new),
            o_status: SharedOut::new(&mut status),
            o_flags: SharedOut::new(&mut flags),
            voxel_bytes,
        };
        let avx2 = !opts.force_baseline_isa && has_avx2_fma();
        for_each_tile(nvox, opts.threads, ctl, |_, range| {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                return unsafe { fit_tile_avx2(&ctx, range) };
            }
            let _ = avx2;
            fit_tile(&ctx, range)
        })?;
    }
    Ok(ModelFit {
        nvox,
        evals,
        evecs,
        extra,
        s0,
        status,
        flags,
        voxel_bytes,
    })
}

/// Everything a tile of a fit needs (shared read-only across threads; outputs are written at
/// the tile's own voxels only).
struct TileCtx<'a, M: FitModel, T> {
    data: &'a [T],
    nvox: usize,
    n: usize,
    mask: Option<&'a [u8]>,
    model: &'a M,
    spec: LogSpec<'a>,
    method: M::Method,
    aux: &'a M::Aux,
    ctl: &'a Control,
    o_evals: SharedOut<f64>,
    o_evecs: SharedOut<f64>,
    o_extra: SharedOut<f64>,
    o_s0: Option<SharedOut<f64>>,
    o_status: SharedOut<u8>,
    o_flags: SharedOut<u8>,
    voxel_bytes: usize,
}

/// The tile kernel compiled for AVX2 (+FMA), once per model and sample type. Rust never
/// contracts `a * b + c` into an FMA, and the only fused operations are explicit `mul_add`s
/// (fused in the baseline build too, through the C library's `fmaf`), so every result has the
/// same bits as in the baseline build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fit_tile_avx2<M: FitModel, T: Sample>(
    c: &TileCtx<'_, M, T>,
    range: std::ops::Range<usize>,
) -> Result<()> {
    fit_tile(c, range)
}

/// A fitted group: parameters, statuses, tile-local voxel of each lane, lanes in use.
type Fitted<P> = (P, [FitStatus; L], [usize; L], usize);

/// Fits the voxels of one tile.
#[inline(always)]
fn fit_tile<M: FitModel, T: Sample>(
    c: &TileCtx<'_, M, T>,
    range: std::ops::Range<usize>,
) -> Result<()> {
    let (n, nvox) = (c.n, c.nvox);
    let tile = stage_tile(c.data, nvox, n, c.mask, range, &c.o_status);
    let start = tile.start;
    let min_diffusivity = c.model.min_diffusivity(c.method);
    let mut scratch = c.model.scratch();
    let mut flags = vec![0u8; c.voxel_bytes];
    // groups are fitted a batch at a time (see `FitModel::post_batch`), and the tensors of two
    // groups eigen-decomposed together: the two groups' Jacobi rotations are independent chains
    // of divisions and square roots, which the CPU overlaps (each lane does the same operations
    // as alone, so the bits are the same)
    let groups: Vec<&[usize]> = tile.todo.chunks(L).collect();
    let nb = c.model.batch_groups(c.method).max(2);
    let mut ps: Vec<M::Params> = Vec::with_capacity(nb);
    let mut sts: Vec<[FitStatus; L]> = Vec::with_capacity(nb);
    let mut locals: Vec<([usize; L], usize)> = Vec::with_capacity(nb);
    for batch in groups.chunks(nb) {
        ps.clear();
        sts.clear();
        locals.clear();
        for group in batch {
            // a short last group repeats its last voxel and the copies are not written
            let local: [usize; L] = std::array::from_fn(|l| group[l.min(group.len() - 1)]);
            tile.load_group(&local, c.model.log_signals(&mut scratch), &c.spec);
            if let Some(sig) = c.model.signals(c.method, &mut scratch) {
                tile.load_signals(&local, sig, &c.spec);
            }
            c.model
                .start_group(c.aux, &mut scratch, &local.map(|j| start + j));
            let (mut p, mut st) = c.model.fit_group(c.method, c.aux, &mut scratch);
            c.model.post_group(
                c.method,
                c.aux,
                c.ctl,
                &mut scratch,
                &mut p,
                &mut st,
                group.len(),
            )?;
            ps.push(p);
            sts.push(st);
            locals.push((local, group.len()));
        }
        c.model
            .post_batch(c.method, c.aux, c.ctl, &mut scratch, &mut ps, &mut sts)?;
        if c.voxel_bytes > 0 {
            for (g, (local, len)) in locals.iter().enumerate() {
                for (l, &j) in local.iter().enumerate().take(*len) {
                    let v = start + j;
                    c.model.write_voxel_bytes(c.aux, &scratch, g, l, &mut flags);
                    for (k, &b) in flags.iter().enumerate() {
                        // SAFETY: v belongs to this tile only.
                        unsafe { c.o_flags.write(v * c.voxel_bytes + k, b) };
                    }
                }
            }
        }
        for g0 in (0..ps.len()).step_by(2) {
            let fitted: [Option<Fitted<&M::Params>>; 2] = std::array::from_fn(|k| {
                let g = g0 + k;
                (g < ps.len()).then(|| (&ps[g], sts[g], locals[g].0, locals[g].1))
            });
            // the tensors of both groups (a lone last group fills both halves)
            let second = if fitted[1].is_some() { 1 } else { 0 };
            let lt: [[f64; 2 * L]; 6] = std::array::from_fn(|r| {
                std::array::from_fn(|k| {
                    let (p, ..) = fitted[if k < L { 0 } else { second }].as_ref().unwrap();
                    p.as_ref()[r][k % L]
                })
            });
            let (d, vecs) = jacobi_lanes_n(&lt);
            for (g, f) in fitted.iter().enumerate() {
                let Some((p, st, local, len)) = f else {
                    continue;
                };
                let pr = p.as_ref();
                for (l, &j) in local.iter().enumerate().take(*len) {
                    let v = start + j;
                    if pr.iter().any(|r| !r[l].is_finite()) {
                        // SAFETY: v belongs to this tile only.
                        unsafe {
                            if st[l] == FitStatus::StartFallback {
                                // a failed non-linear fit with fail_is_nan: NaN outputs, as DIPY's
                                for comp in 0..3 {
                                    c.o_evals.write(comp * nvox + v, f64::NAN);
                                }
                                for k in 0..9 {
                                    c.o_evecs.write(k * nvox + v, f64::NAN);
                                }
                                if let Some(o) = &c.o_s0 {
                                    o.write(v, f64::NAN);
                                }
                                c.o_status.write(v, st[l] as u8);
                            } else {
                                // only if an SVD failed to converge: never leak NaN maps
                                c.o_status.write(v, FitStatus::NonFinite as u8);
                            }
                        }
                        continue;
                    }
                    let (vals, vv) = sorted_lane(&d, &vecs, g * L + l);
                    let vals = vals.map(|e| e.max(min_diffusivity));
                    let extra = c.model.extras(p, l, &vals);
                    debug_assert_eq!(extra.as_ref().len(), M::EXTRA);
                    // SAFETY: every index below is derived from v, which belongs to this tile only.
                    unsafe {
                        for (comp, &e) in vals.iter().enumerate() {
                            c.o_evals.write(comp * nvox + v, e);
                        }
                        for (jv, vec) in vv.iter().enumerate() {
                            for (i, &x) in vec.iter().enumerate() {
                                c.o_evecs.write((i + 3 * jv) * nvox + v, x);
                            }
                        }
                        for (k, &x) in extra.as_ref().iter().enumerate() {
                            c.o_extra.write(k * nvox + v, x);
                        }
                        if let Some(o) = &c.o_s0 {
                            o.write(v, (-pr[M::S0_INDEX][l]).exp());
                        }
                        c.o_status.write(v, st[l] as u8);
                    }
                }
            }
        }
    }
    Ok(())
}
