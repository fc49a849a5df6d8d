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
use crate::compose::{compose_voxel, coords, lane_coords, planes_of, step, Premult};
use crate::interp::Dims;
use crate::lanes::{avx2_or_baseline, compose4, has_avx2, lanes_ok, L};
use crate::{Field, Real};
use std::ops::Range;
use voxelkit_core::{Control, Error, Result};

/// Options of [`invert_field`] (DIPY's names in brackets).
#[derive(Debug, Clone, Copy)]
pub struct InvertOptions {
    /// Maximum number of iterations (`max_iter`). DIPY's `SyN` default: 20.
    pub max_iter: usize,
    /// Stop when the mean residual norm, in voxels, is at most this (`tol`). Default 1e-3.
    pub tolerance: f64,
    pub threads: Option<usize>,
    /// Use the AVX2 build where the CPU has it (same bits either way; off only for tests).
    pub simd: bool,
}

impl Default for InvertOptions {
    fn default() -> Self {
        InvertOptions {
            max_iter: 20,
            tolerance: 1e-3,
            threads: None,
            simd: true,
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
    invert_field_spacing(d, start, o, None, ctl)
}

/// [`invert_field`] with the voxel sizes of the residual norms given (DIPY's `spacing`
/// argument; SyN passes its scale space's spacings) instead of the grid's column norms.
pub fn invert_field_spacing<T: Real>(
    d: Field<'_, T>,
    start: Option<&[T]>,
    o: &InvertOptions,
    spacing: Option<[f64; 3]>,
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
    let start = start.map(|s| Field::new(s, d.grid, "start")).transpose()?;
    let w = d.grid.affine.inverse("field")?;
    let pool = chunks::pool(o.threads)?;
    pool.install(|| {
        d.check_finite("field")?;
        start.map_or(Ok(()), |s| s.check_finite("start"))
    })?;
    let mut p = match start {
        Some(s) => s.data.to_vec(),
        None => chunks::zeroed::<T>(d.data.len()),
    };
    let stats = if d.grid.ndim == 3 {
        invert_impl::<T, 3>(&d, &mut p, w, spacing, o, &pool, ctl)?
    } else {
        invert_impl::<T, 2>(&d, &mut p, w, spacing, o, &pool, ctl)?
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

/// Everything one pass over a chunk needs.
struct Ctx<'a, T, const D: usize> {
    dims: [usize; 3],
    grid: Dims,
    spacing: [f64; 3],
    /// `1 / spacing[k]` where that is exact (a power of two): dividing by the spacing and
    /// multiplying by it give the same correctly rounded number, and a product is cheaper.
    recip: [Option<f64>; 3],
    planes: [&'a [T]; D],
    pm: Premult,
    p: Planes<T, D>,
    q: Planes<T, D>,
    norms: Planes<f64, 1>,
}

/// `1 / s` when it is exact, i.e. `s` and `1 / s` are normal powers of two (then `x / s` and
/// `x * (1 / s)` are the correct rounding of the same real number, for every `x`).
fn exact_recip(s: f64) -> Option<f64> {
    const MANTISSA: u64 = (1 << 52) - 1;
    let r = 1.0 / s;
    (s.is_normal() && r.is_normal() && s.to_bits() & MANTISSA == 0).then_some(r)
}

/// `p -= σ q` at voxel `v` with the step of DIPY's rule for the stored norm.
#[inline(always)]
fn step_factor(mag: f64, eps: f64, maxlen: f64) -> f64 {
    if mag > maxlen {
        eps * maxlen / mag
    } else {
        eps
    }
}

/// One voxel of an iteration (the scalar path): pending update, then composition and norm.
/// Returns the new norm.
///
/// # Safety
/// `v` lies in a chunk range checked against the planes and owned by the caller.
#[inline(always)]
unsafe fn voxel<T: Real, const D: usize>(
    x: &Ctx<'_, T, D>,
    v: usize,
    c: [usize; 3],
    pending: Option<(f64, f64)>,
) -> f64 {
    // SAFETY: per the contract
    unsafe {
        let mut pv: [T; D] = std::array::from_fn(|k| x.p.get(k, v));
        if let Some((eps, maxlen)) = pending {
            let sf = step_factor(x.norms.get(0, v), eps, maxlen);
            for k in 0..D {
                pv[k] = T::from_f64(pv[k].to_f64() - sf * x.q.get(k, v).to_f64());
                x.p.set(k, v, pv[k]);
            }
        }
        let xyz = [c[0] as f64, c[1] as f64, c[2] as f64];
        let qn = compose_voxel(pv, xyz, &x.pm, &x.planes, &x.grid).unwrap_or([T::default(); D]);
        for k in 0..D {
            x.q.set(k, v, qn[k]);
        }
        let mag = norm_vox(&qn, &x.spacing);
        x.norms.set(0, v, mag);
        mag
    }
}

/// One iteration over a chunk: `(Σ norms, max norm)`, summed in voxel order.
#[inline(always)]
fn chunk<T: Real, const D: usize, const AVX: bool>(
    x: &Ctx<'_, T, D>,
    r: Range<usize>,
    pending: Option<(f64, f64)>,
) -> (f64, f64) {
    x.p.check(&r);
    x.q.check(&r);
    x.norms.check(&r);
    let mut c = coords(r.start, x.dims);
    let (mut sum, mut mx) = (0.0f64, 0.0f64);
    let mut v = r.start;
    if D == 3 && lanes_ok(&x.grid) {
        let planes: &[&[T]; 3] = x.planes[..3].try_into().expect("3 planes");
        while v + L <= r.end {
            let xyz = lane_coords(&mut c, x.dims);
            let mut pv = [[0.0f64; L]; 3];
            // SAFETY: v..v + L lies in this chunk's range (checked above)
            unsafe {
                for k in 0..3 {
                    for l in 0..L {
                        pv[k][l] = x.p.get(k, v + l).to_f64();
                    }
                }
                if let Some((eps, maxlen)) = pending {
                    // all loads, then the arithmetic, then the stores (so that the lanes
                    // vectorise); the step of every lane is computed and the rule's branch
                    // picked per lane: step_factor's operations and results
                    let mut qv = [[0.0f64; L]; 3];
                    let mut mag = [0.0f64; L];
                    for l in 0..L {
                        mag[l] = x.norms.get(0, v + l);
                        for k in 0..3 {
                            qv[k][l] = x.q.get(k, v + l).to_f64();
                        }
                    }
                    let em = eps * maxlen;
                    let mut sf = [0.0f64; L];
                    for l in 0..L {
                        let clipped = em / mag[l];
                        sf[l] = if mag[l] > maxlen { clipped } else { eps };
                    }
                    let mut nv = [[T::default(); L]; 3];
                    for k in 0..3 {
                        for l in 0..L {
                            nv[k][l] = T::from_f64(pv[k][l] - sf[l] * qv[k][l]);
                            pv[k][l] = nv[k][l].to_f64();
                        }
                    }
                    for k in 0..3 {
                        for l in 0..L {
                            x.p.set(k, v + l, nv[k][l]);
                        }
                    }
                }
            }
            let (qn, _) = compose4::<T, AVX>(&pv, &xyz, &x.pm, planes, &x.grid);
            let mut u = [[0.0f64; L]; 3];
            for k in 0..3 {
                match x.recip[k] {
                    // q / s and q * (1 / s) are the same number when 1 / s is exact
                    Some(r) => {
                        for l in 0..L {
                            u[k][l] = qn[k][l] * r;
                        }
                    }
                    None => {
                        for l in 0..L {
                            u[k][l] = qn[k][l] / x.spacing[k];
                        }
                    }
                }
            }
            let mut mag = [0.0f64; L];
            for l in 0..L {
                let mut a = 0.0;
                for k in 0..3 {
                    a += u[k][l] * u[k][l];
                }
                mag[l] = a.sqrt();
            }
            // SAFETY: as above
            unsafe {
                for k in 0..3 {
                    for l in 0..L {
                        x.q.set(k, v + l, T::from_f64(qn[k][l]));
                    }
                }
                for l in 0..L {
                    x.norms.set(0, v + l, mag[l]);
                }
            }
            for m in mag {
                sum += m;
                if mx < m {
                    mx = m;
                }
            }
            v += L;
        }
    }
    while v < r.end {
        // SAFETY: v lies in this chunk's range (checked above)
        let m = unsafe { voxel(x, v, c, pending) };
        sum += m;
        if mx < m {
            mx = m;
        }
        step(&mut c, x.dims);
        v += 1;
    }
    (sum, mx)
}

/// [`chunk`] compiled for AVX2 (same bits: no FMA contraction, IEEE operations only).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chunk_avx2<T: Real, const D: usize>(
    x: &Ctx<'_, T, D>,
    r: Range<usize>,
    pending: Option<(f64, f64)>,
) -> (f64, f64) {
    chunk::<T, D, true>(x, r, pending)
}

fn run_chunk<T: Real, const D: usize>(
    avx2: bool,
    x: &Ctx<'_, T, D>,
    r: Range<usize>,
    pending: Option<(f64, f64)>,
) -> (f64, f64) {
    avx2_or_baseline!(
        avx2,
        chunk_avx2(x, r, pending),
        chunk::<T, D, false>(x, r, pending)
    )
}

fn invert_impl<T: Real, const D: usize>(
    d: &Field<'_, T>,
    p: &mut [T],
    w: crate::Affine,
    spacing: Option<[f64; 3]>,
    o: &InvertOptions,
    pool: &rayon::ThreadPool,
    ctl: &Control,
) -> Result<InvertStats> {
    let n = d.grid.nvox();
    let mut q = chunks::zeroed::<T>(D * n);
    let mut norms = chunks::zeroed::<f64>(n);
    let spacing = spacing.unwrap_or_else(|| d.grid.spacing());
    let x = Ctx {
        dims: d.grid.dims,
        grid: Dims::new(d.grid.dims),
        spacing,
        recip: spacing.map(exact_recip),
        planes: planes_of(d),
        pm: Premult {
            index: None,
            disp: w,
            t: 1.0,
        },
        p: Planes::<T, D>::new(p, n),
        q: Planes::<T, D>::new(&mut q, n),
        norms: Planes::<f64, 1>::new(&mut norms, n),
    };
    let avx2 = o.simd && has_avx2();
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
        let parts = chunks::run(pool, n, ctl, |r| Ok(run_chunk(avx2, &x, r, pending)))?;
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
            x.p.check(&r);
            x.q.check(&r);
            x.norms.check(&r);
            for v in r {
                // SAFETY: v lies in this chunk's range (checked above)
                unsafe {
                    let sf = step_factor(x.norms.get(0, v), eps, maxlen);
                    for k in 0..D {
                        let pv = x.p.get(k, v).to_f64();
                        x.p.set(k, v, T::from_f64(pv - sf * x.q.get(k, v).to_f64()));
                    }
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
