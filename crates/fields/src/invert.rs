//! Fixed-point inversion of a displacement field (Chen et al. 2008), DIPY's
//! `invert_vector_field_fixed_point_3d` / `_2d`.
//!
//! Starting from `p = start` (or zero), each iteration `t` computes the residual
//! `q = p + d(x + W p)` (the composition of `p` with `d`, `W` the field's world-to-grid matrix
//! applied to vectors; `q = 0` where the target is not interior to the grid), its norm in voxel
//! units `|q|_v = sqrt(Σ (q_c / s_c)²)` (`s` the voxel sizes), the mean `e_t` and the maximum
//! `m_t` of those norms, and updates
//!
//! $$ p \leftarrow p - \sigma\, q,\qquad \sigma = \begin{cases} \epsilon\, (\epsilon m_t) / |q|_v & |q|_v > \epsilon m_t \\ \epsilon & \text{otherwise}\end{cases} $$
//!
//! with `ε = 0.75` at the first iteration and `0.5` after. It stops after `maxIter` iterations,
//! when `e_t <= tolerance`, or (3D only, as DIPY) when `m_t <= 0.1` voxel.
//!
//! Passes are fused: the update of iteration `t` is applied voxel by voxel at the start of the
//! composition of iteration `t + 1` (it only needs the voxel's own `q` and the global `ε m_t`),
//! so each iteration reads and writes `p` and `q` once, where DIPY makes three passes.
//! Norms are recomputed from `q` with the same arithmetic, so the update is DIPY's, bit for bit.

use crate::chunks::{self, Planes};
use crate::compose::{compose_voxel, coords, planes_of, step, Premult};
use crate::interp::Dims;
use crate::{Field, Real};
use voxelkit_core::{Control, Error, Result};

/// Options of [`invert_field`] (DIPY's names in brackets).
#[derive(Debug, Clone, Copy)]
pub struct InvertOptions {
    /// Maximum number of iterations (`max_iter`). DIPY's `SyN` default: 20.
    pub max_iter: usize,
    /// Stop when the mean residual norm, in voxels, is at most this (`tol`). Default 1e-3.
    pub tolerance: f64,
    pub threads: Option<usize>,
}

impl Default for InvertOptions {
    fn default() -> Self {
        InvertOptions {
            max_iter: 20,
            tolerance: 1e-3,
            threads: None,
        }
    }
}

/// Largest accepted `max_iter`.
pub const MAX_ITER: usize = 1_000_000;

/// What the inversion reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvertStats {
    /// Mean residual norm (voxels) at the last iteration (DIPY's `stats[0]`); NaN when no
    /// iteration ran.
    pub error: f64,
    /// Iterations run (DIPY's `stats[1]`).
    pub iterations: usize,
    /// Largest residual norm (voxels) at the last iteration; NaN when no iteration ran.
    pub max_residual: f64,
}

/// Inverts `d` on its own grid. `start`, when given, is the initial inverse (same layout and
/// length as `d`). Returns the inverse (same type as `d`) and the statistics.
pub fn invert_field<T: Real>(
    d: Field<'_, T>,
    start: Option<&[T]>,
    o: &InvertOptions,
    ctl: &Control,
) -> Result<(Vec<T>, InvertStats)> {
    if o.max_iter > MAX_ITER {
        return Err(Error::setting(format!(
            "maxIter must be an integer from 0 to {MAX_ITER}, got {}",
            o.max_iter
        )));
    }
    if !(o.tolerance.is_finite() && o.tolerance >= 0.0) {
        return Err(Error::setting(format!(
            "tolerance must be a finite number >= 0, got {}",
            o.tolerance
        )));
    }
    let mut p = match start {
        Some(s) => {
            let s = Field::new(s, d.grid, "start")?;
            s.data.to_vec()
        }
        None => vec![T::default(); d.data.len()],
    };
    let w = d.grid.affine.inverse("field")?;
    let pool = chunks::pool(o.threads)?;
    let stats = if d.grid.ndim == 3 {
        invert_impl::<T, 3>(&d, &mut p, w, o, &pool, ctl)?
    } else {
        invert_impl::<T, 2>(&d, &mut p, w, o, &pool, ctl)?
    };
    Ok((p, stats))
}

#[inline(always)]
fn norm_vox<T: Real, const D: usize>(q: &[T; D], s: &[f64; 3]) -> f64 {
    let mut a = 0.0;
    for c in 0..D {
        let v = q[c].to_f64() / s[c];
        a += v * v;
    }
    a.sqrt()
}

fn invert_impl<T: Real, const D: usize>(
    d: &Field<'_, T>,
    p: &mut [T],
    w: crate::Affine,
    o: &InvertOptions,
    pool: &rayon::ThreadPool,
    ctl: &Control,
) -> Result<InvertStats> {
    let n = d.grid.nvox();
    let dims = d.grid.dims;
    let dims2 = Dims::new(dims);
    let spacing = d.grid.spacing();
    let planes: [&[T]; D] = planes_of(d);
    let pm = Premult {
        index: None,
        disp: w,
        t: 1.0,
    };
    let mut q = vec![T::default(); D * n];
    let pp = Planes::<T, D>::new(p, n);
    let qq = Planes::<T, D>::new(&mut q, n);
    // one unit per voxel and iteration, plus the final update pass
    ctl.set_total(((o.max_iter + 1) * n) as u64);

    // (epsilon, maxlen) of the update still to apply
    let mut pending: Option<(f64, f64)> = None;
    let mut iter = 0usize;
    let mut difmag = 1.0f64;
    let mut error = 1.0 + o.tolerance;
    let mut ran = false;
    while (D == 2 || 0.1 < difmag) && iter < o.max_iter && o.tolerance < error {
        let epsilon = if iter == 0 { 0.75 } else { 0.5 };
        let parts = chunks::run(pool, n, ctl, |r| {
            pp.check(&r);
            qq.check(&r);
            let mut c = coords(r.start, dims);
            let (mut sum, mut mx) = (0.0f64, 0.0f64);
            for v in r {
                // SAFETY: v lies in this chunk's range (checked above); chunks are disjoint
                let mut pv: [T; D] = std::array::from_fn(|k| unsafe { pp.get(k, v) });
                if let Some((eps, maxlen)) = pending {
                    let qv: [T; D] = std::array::from_fn(|k| unsafe { qq.get(k, v) });
                    let mag = norm_vox(&qv, &spacing);
                    let sf = if mag > maxlen {
                        eps * maxlen / mag
                    } else {
                        eps
                    };
                    for k in 0..D {
                        pv[k] = T::from_f64(pv[k].to_f64() - sf * qv[k].to_f64());
                        unsafe { pp.set(k, v, pv[k]) };
                    }
                }
                let xyz = [c[0] as f64, c[1] as f64, c[2] as f64];
                let qn = compose_voxel(pv, xyz, &pm, &planes, &dims2).unwrap_or([T::default(); D]);
                for k in 0..D {
                    unsafe { qq.set(k, v, qn[k]) };
                }
                let mag = norm_vox(&qn, &spacing);
                sum += mag;
                if mx < mag {
                    mx = mag;
                }
                step(&mut c, dims);
            }
            Ok((sum, mx))
        })?;
        error = 0.0;
        difmag = 0.0;
        for (s, m) in parts {
            error += s;
            if difmag < m {
                difmag = m;
            }
        }
        pending = Some((epsilon, difmag * epsilon));
        error /= n as f64;
        iter += 1;
        ran = true;
    }
    if let Some((eps, maxlen)) = pending {
        chunks::run(pool, n, ctl, |r| {
            pp.check(&r);
            qq.check(&r);
            for v in r {
                // SAFETY: as above
                let qv: [T; D] = std::array::from_fn(|k| unsafe { qq.get(k, v) });
                let mag = norm_vox(&qv, &spacing);
                let sf = if mag > maxlen {
                    eps * maxlen / mag
                } else {
                    eps
                };
                for k in 0..D {
                    let pv = unsafe { pp.get(k, v) };
                    unsafe { pp.set(k, v, T::from_f64(pv.to_f64() - sf * qv[k].to_f64())) };
                }
            }
            Ok(())
        })?;
    }
    let (done, total) = ctl.progress();
    ctl.advance(total.saturating_sub(done));
    Ok(InvertStats {
        error: if ran { error } else { f64::NAN },
        iterations: iter,
        max_residual: if ran { difmag } else { f64::NAN },
    })
}
