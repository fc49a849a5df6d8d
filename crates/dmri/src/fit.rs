//! The fit infrastructure that every model shares: options, per-voxel status, DIPY's numeric
//! constants, input checks, numpy's pseudo-inverse, tile staging with clipped logs, and the
//! CPU-feature dispatch.

use crate::eig3::{L, V};
use nalgebra::DMatrix;
use voxelkit_core::par::SharedOut;
use voxelkit_core::vmath::numpy_simd_logf;
use voxelkit_core::{Error, Result, Sample};

/// DIPY's `MIN_POSITIVE_SIGNAL`.
pub const MIN_POSITIVE_SIGNAL: f64 = 1e-4;
/// numpy's default `pinv` cut-off (`rcond = 1e-15`), which DIPY's fits use.
pub const PINV_RCOND: f64 = 1e-15;
/// The numerator of DIPY's minimum-diffusivity rule (`tol / -design_matrix.min()`).
pub const MIN_DIFFUSIVITY_TOL: f64 = 1e-6;
/// A design whose singular values span more than this ratio is rejected as rank-deficient.
pub(crate) const DESIGN_RANK_RCOND: f64 = 1e-10;
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
    /// CLS/CWLS: the unconstrained solution violated the constraints; the semidefinite program
    /// gave the fit.
    Constrained = 4,
    /// CLS/CWLS: the constrained fit failed (singular weighted design or a solver error); the
    /// parameters are zero, as DIPY returns them.
    SolverFailed = 5,
}

/// Pseudo-inverse with numpy's rule: singular values `<= rcond * max(s)` are dropped.
/// Returns the `cols x rows` matrix and the singular values.
pub(crate) fn pinv(a: &DMatrix<f64>, rcond: f64) -> Result<(DMatrix<f64>, Vec<f64>)> {
    let svd = a.clone().svd(true, true);
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
/// (DIPY's default when `min_signal` is `None`). Shared by the DTI and DKI fits.
pub(crate) fn check_fit_inputs(
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

pub(crate) fn has_avx2_fma() -> bool {
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
pub(crate) struct StagedTile<T> {
    stage: Vec<T>,
    len: usize,
    pub start: usize,
    pub todo: Vec<usize>,
}

/// How raw samples become clipped log-signals (shared by the DTI and DKI fits).
pub(crate) struct LogSpec<'a> {
    pub log_table: Option<&'a [f64]>,
    pub min_signal: f64,
    /// float32 data: log like numpy's SIMD kernel (see [`numpy_uses_simd_logf`]).
    pub numpy_logf: bool,
}

/// 8/16-bit data: `log(max(s, min_signal))` of every possible value, computed once, so the
/// hot loop does a table look-up instead of a logarithm (same function, same bits).
pub(crate) fn log_table<T: Sample>(values: usize, min_signal: f64) -> Option<Vec<f64>> {
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
pub(crate) fn stage_tile<T: Sample>(
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
    /// Gathers the clipped log-signals of the tile-local voxels `local` into the lanes of `y`.
    #[inline(always)]
    pub(crate) fn load_group(&self, local: &[usize; L], y: &mut [V], spec: &LogSpec<'_>) {
        let len = self.len;
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
