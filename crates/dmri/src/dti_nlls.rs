//! Non-linear least squares on the signal for the tensor model (DIPY's `nlls_fit_tensor`
//! objective), [`M`] voxels (two vectors of [`L`] lanes) at a time.
//!
//! The objective of a voxel with clipped signal `s`, per-volume weights `w >= 0` and design `X`
//! is DIPY's
//! $$F(p) = \sum_i w_i \left(s_i - e^{X_i p}\right)^2,$$
//! whose gradient and Hessian are analytic: with $y_i = e^{X_i p}$ and $r_i = s_i - y_i$,
//! $\nabla F / 2 = -\sum_i w_i r_i y_i X_i$ and
//! $\nabla^2 F / 2 = \sum_i w_i y_i (2 y_i - s_i) X_i X_i^T$.
//!
//! DIPY minimises it with MINPACK's Levenberg–Marquardt (`scipy.optimize.leastsq`, default
//! tolerances) from the OLS fit. voxelkit minimises the same objective from the same start by a
//! damped Newton method (Levenberg damping of the exact Hessian on unit-norm columns):
//! * a trial step solves $(H + \lambda \bar g I)\,\delta = b$ by Cholesky, where $\bar g$ is
//!   the mean diagonal of the Gauss–Newton matrix (so `lambda` is scale-free); `lambda` starts
//!   at 0 (pure Newton), is raised (1e-3, then x10) when the matrix is not positive definite or
//!   the step does not decrease `F`, and lowered (x0.1, to 0 below 1e-6) after a decrease;
//! * a step is accepted when `F` does not increase, so `F` never exceeds its value at the start;
//! * it stops, converged, after an undamped step of at most [`STEP_TOL`] of the largest scaled
//!   parameter (Newton's step is the distance to the optimum to first order, and the next one
//!   is quadratically smaller), after two accepted undamped steps below [`FLOOR_TOL`] in a row
//!   or an undamped step below it that does not decrease `F` (the rounding floor of an
//!   ill-conditioned voxel), or when `lambda` exceeds 1e10 without a decrease (no descent left
//!   at rounding level); otherwise after [`MAX_ITER`] steps, not converged.
//!
//! Lanes iterate in lock step but independently: a lane's arithmetic never depends on the
//! others', so a voxel's result does not depend on which voxels share its vector, nor on when
//! it enters one: a lane whose voxel stops takes the next voxel of the stream
//! ([`DtiModel::nlls_stream`]). The stream steps [`M`] lanes (two vectors): the Newton matrix's
//! build, most of an iteration, then loads each design-matrix product once for two vectors and
//! runs twice as many independent multiply-add chains.

use crate::dti::DtiModel;
use crate::eig3::L;
use crate::lanesolve::{cholesky_lanes, pk};
use voxelkit_core::vmath::{exp_fused, exp_fused_lanes};

/// The lanes of the stream: two vectors of [`L`].
pub(crate) const M: usize = 2 * L;
/// One value per stream lane.
pub(crate) type W = [f64; M];

/// Iteration limit of one non-linear fit (a well-posed voxel converges in 3-8).
pub const MAX_ITER: u32 = 100;
/// An undamped step at most this fraction of the largest scaled parameter ends the fit.
pub const STEP_TOL: f64 = 1e-9;
/// Undamped steps below this fraction that stop decreasing `F` are at the rounding floor.
pub const FLOOR_TOL: f64 = 1e-7;
/// A step whose predicted successor (quadratic convergence) is below this fraction of the
/// largest scaled parameter is the last one.
pub const PREDICT_TOL: f64 = 1e-12;
/// Raises the damping: 1e-3 from none, else x10.
#[inline(always)]
fn up(x: f64) -> f64 {
    if x == 0.0 {
        1e-3
    } else {
        x * 10.0
    }
}
/// Damping up to which a step counts as a Newton step for the convergence tests.
const NEAR_NEWTON: f64 = 1e-3;
/// Damping above which a lane that still cannot decrease `F` stops.
const LAMBDA_MAX: f64 = 1e10;

/// How a lane's non-linear fit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NllsEnd {
    /// Not fitted (the lane was inactive): the start is returned.
    Inactive,
    /// The convergence test passed.
    Converged,
    /// [`MAX_ITER`] steps without passing it: the best point found.
    NotConverged,
}

/// Per-thread buffers of the non-linear fits (one row per volume, [`M`] lanes): the lanes'
/// clipped signals and weights, and the per-volume factors of the Newton matrix and of the
/// right-hand side at the last evaluated point.
#[derive(Debug, Clone)]
pub struct NllsWork {
    pub(crate) sig: Vec<W>,
    pub(crate) w: Vec<W>,
    c: Vec<W>,
    e: Vec<W>,
}

impl NllsWork {
    pub(crate) fn new(n: usize) -> Self {
        NllsWork {
            sig: vec![[0.0; M]; n],
            w: vec![[1.0; M]; n],
            c: vec![[0.0; M]; n],
            e: vec![[0.0; M]; n],
        }
    }
}

/// A stream of non-linear fits for [`DtiModel::nlls_stream`]: voxels by index.
pub(crate) trait NllsJobs {
    /// The next voxel to fit, or `None` when there is none (yet: [`Self::done`] may add some).
    fn next(&mut self) -> Option<usize>;
    /// Puts voxel `k`'s clipped signal and weights into lane `lane` of `sig` and `w`
    /// (lane-major, one row per volume) and returns its unscaled start.
    fn load(&mut self, k: usize, lane: usize, sig: &mut [W], w: &mut [W]) -> [f64; 7];
    /// Voxel `k`'s unscaled result and how its fit ended.
    fn done(&mut self, k: usize, p: [f64; 7], end: NllsEnd);
}

impl DtiModel {
    /// At the scaled parameters `ps`: the objective `F = sum w (s - y)^2` of each lane (summed
    /// over volumes in order, `y = exp(X_s ps)`), the per-volume factors `c = w y (2y - s)` of
    /// the Newton matrix and `e = w y (s - y)` of the right-hand side into `work`, and the mean
    /// diagonal of the Gauss–Newton matrix `sum w y^2 xs xs'`.
    #[inline(always)]
    fn nlls_eval(&self, ps: &[W; 7], work: &mut NllsWork) -> (W, W) {
        // three passes over the volumes (the same arithmetic per volume and lane as one fused
        // loop): small independent bodies let the CPU overlap many volumes' latency chains
        // (the exponential's polynomial is a chain of 12 dependent multiply-adds)
        for (yi, xi) in work.c.iter_mut().zip(&self.xs) {
            let mut eta = [0.0; M];
            for j in 0..7 {
                for l in 0..M {
                    eta[l] = xi[j].mul_add(ps[j][l], eta[l]);
                }
            }
            *yi = eta;
        }
        for yi in work.c.iter_mut() {
            *yi = exp_fused_lanes(yi);
        }
        let mut f = [0.0; M];
        let mut gbar = [0.0; M];
        for ((((ci, ei), si), wi), rq) in work
            .c
            .iter_mut()
            .zip(work.e.iter_mut())
            .zip(&work.sig)
            .zip(&work.w)
            .zip(&self.rowsq)
        {
            let y: W = *ci;
            let r: W = std::array::from_fn(|l| si[l] - y[l]);
            let wy: W = std::array::from_fn(|l| wi[l] * y[l]);
            let wr: W = std::array::from_fn(|l| wi[l] * r[l]);
            for l in 0..M {
                f[l] = wr[l].mul_add(r[l], f[l]);
            }
            *ci = std::array::from_fn(|l| wy[l] * (y[l] - r[l]));
            *ei = std::array::from_fn(|l| wy[l] * r[l]);
            let wyy: W = std::array::from_fn(|l| wy[l] * y[l]);
            for l in 0..M {
                gbar[l] = wyy[l].mul_add(*rq, gbar[l]);
            }
        }
        for g in gbar.iter_mut() {
            *g *= 1.0 / 7.0;
        }
        (f, gbar)
    }

    /// The packed Newton matrix `H = sum c xs xs'` and the right-hand side `b = sum e xs` of the
    /// factors in `work` (in order of volumes).
    #[inline(always)]
    fn nlls_system(&self, work: &NllsWork) -> ([W; 28], [W; 7]) {
        let (c, e) = (&work.c[..self.n], &work.e[..self.n]);
        let mut h = [[0.0; M]; 28];
        fma_pass::<0, 4, 28>(&self.q, c, &mut h);
        fma_pass::<4, 4, 28>(&self.q, c, &mut h);
        fma_pass::<8, 4, 28>(&self.q, c, &mut h);
        fma_pass::<12, 4, 28>(&self.q, c, &mut h);
        fma_pass::<16, 4, 28>(&self.q, c, &mut h);
        fma_pass::<20, 4, 28>(&self.q, c, &mut h);
        fma_pass::<24, 4, 28>(&self.q, c, &mut h);
        let mut b = [[0.0; M]; 7];
        fma_pass::<0, 4, 7>(&self.xs, e, &mut b);
        fma_pass::<4, 3, 7>(&self.xs, e, &mut b);
        (h, b)
    }

    /// Minimises DIPY's NLLS objective for a stream of voxels (`jobs`), [`M`] at a time: a lane
    /// whose voxel has stopped takes the next voxel at once (its start is evaluated with the
    /// other lanes' trial points), so no lane waits for the slowest voxel of a group. The lanes'
    /// signals and weights are `work.sig` and `work.w` (lane-major, one row per volume), which
    /// [`NllsJobs::load`] fills for each new voxel. Each voxel does exactly the operations it
    /// would do alone (every step is lane-wise), so its result does not depend on the stream.
    #[inline(always)]
    pub(crate) fn nlls_stream(&self, work: &mut NllsWork, jobs: &mut impl NllsJobs) {
        let n = self.n;
        // the voxel of each lane (usize::MAX: none) and whether it is still iterating
        let mut job = [usize::MAX; M];
        let mut running = [false; M];
        let mut end = [NllsEnd::Inactive; M];
        let mut ps = [[0.0f64; M]; 7];
        let mut f = [0.0; M];
        let mut gbar = [0.0; M];
        let mut h = [[0.0; M]; 28];
        let mut b = [[0.0; M]; 7];
        let mut lam = [0.0f64; M];
        let mut streak = [0u8; M];
        let mut iters = [0u32; M];
        // the last accepted undamped step of each lane (0: none), for the quadratic prediction
        let mut prev = [0.0f64; M];
        loop {
            let mut pt = ps;
            let mut need_eval = [false; M];
            let mut accepted = [false; M];
            let mut dns = [0.0f64; M];
            let mut pns = [0.0f64; M];
            if running.iter().any(|&a| a) {
                let mut a = h;
                for j in 0..7 {
                    for l in 0..M {
                        a[pk(j, j)][l] += lam[l] * gbar[l];
                    }
                }
                let (d, ok) = cholesky_lanes(&a, &b);
                for l in 0..M {
                    if !running[l] {
                        continue;
                    }
                    iters[l] += 1;
                    if !ok[l] {
                        lam[l] = up(lam[l]);
                        prev[l] = 0.0;
                        continue;
                    }
                    let mut dn = 0.0f64;
                    let mut pn = 0.0f64;
                    for j in 0..7 {
                        pt[j][l] = ps[j][l] + d[j][l];
                        dn = dn.max(d[j][l].abs());
                        pn = pn.max(ps[j][l].abs());
                    }
                    (dns[l], pns[l]) = (dn, pn);
                    // a mildly damped step is within a factor ~1 + 1e-3 of Newton's
                    let undamped = lam[l] <= NEAR_NEWTON;
                    let small = dn <= STEP_TOL * pn;
                    // Newton's steps shrink quadratically: after this one, the distance to the
                    // optimum is about the next step, dn (dn / prev)^2
                    let ratio = if prev[l] > 0.0 { dn / prev[l] } else { 1.0 };
                    let predicted = dn <= FLOOR_TOL * pn && dn * ratio * ratio <= PREDICT_TOL * pn;
                    if undamped && (small || predicted) {
                        // the last step: taken without evaluating F (its change is below F's
                        // rounding)
                        for j in 0..7 {
                            ps[j][l] = pt[j][l];
                        }
                        running[l] = false;
                        end[l] = NllsEnd::Converged;
                    } else {
                        need_eval[l] = true;
                    }
                }
            }
            // the lanes that stopped hand their voxel back and take the next one, whose start
            // is evaluated below with the other lanes' trial points
            let mut fresh = [false; M];
            for l in 0..M {
                if running[l] {
                    continue;
                }
                if job[l] != usize::MAX {
                    let p = std::array::from_fn(|j| ps[j][l] * self.scale[j]);
                    jobs.done(job[l], p, end[l]);
                    job[l] = usize::MAX;
                }
                let Some(k) = jobs.next() else {
                    continue;
                };
                let p0 = jobs.load(k, l, &mut work.sig[..n], &mut work.w[..n]);
                for j in 0..7 {
                    ps[j][l] = p0[j] / self.scale[j];
                    pt[j][l] = ps[j][l];
                }
                job[l] = k;
                running[l] = true;
                fresh[l] = true;
                need_eval[l] = true;
                end[l] = NllsEnd::Inactive;
                lam[l] = 0.0;
                streak[l] = 0;
                iters[l] = 0;
                prev[l] = 0.0;
            }
            if !running.iter().any(|&a| a) {
                break;
            }
            let mut gt = [0.0; M];
            if need_eval.iter().any(|&x| x) {
                let ft;
                (ft, gt) = self.nlls_eval(&pt, work);
                for l in 0..M {
                    if !need_eval[l] {
                        continue;
                    }
                    if fresh[l] {
                        f[l] = ft[l];
                        continue;
                    }
                    let (dn, pn) = (dns[l], pns[l]);
                    let undamped = lam[l] <= NEAR_NEWTON;
                    let tiny = dn <= FLOOR_TOL * pn;
                    // near the optimum the change of F is below its rounding: an undamped
                    // (Newton, positive definite) tiny step is taken whatever F's last bits say
                    if ft[l] <= f[l] || (undamped && tiny && ft[l].is_finite()) {
                        accepted[l] = true;
                        for j in 0..7 {
                            ps[j][l] = pt[j][l];
                        }
                        f[l] = ft[l];
                        if undamped {
                            prev[l] = dn;
                            streak[l] = if tiny { streak[l] + 1 } else { 0 };
                            if streak[l] >= 3 {
                                // tiny steps that do not shrink: the rounding floor
                                running[l] = false;
                                end[l] = NllsEnd::Converged;
                            }
                        } else {
                            prev[l] = 0.0;
                        }
                        lam[l] = if lam[l] < 1e-6 { 0.0 } else { lam[l] * 0.1 };
                    } else {
                        streak[l] = 0;
                        prev[l] = 0.0;
                        lam[l] = up(lam[l]);
                    }
                }
            }
            for l in 0..M {
                if running[l] && lam[l] > LAMBDA_MAX {
                    running[l] = false;
                    end[l] = NllsEnd::Converged;
                }
                if running[l] && iters[l] >= MAX_ITER {
                    running[l] = false;
                    end[l] = NllsEnd::NotConverged;
                }
            }
            let rebuild: [bool; M] =
                std::array::from_fn(|l| (accepted[l] || fresh[l]) && running[l]);
            if rebuild.iter().any(|&r| r) {
                // the factors in `work` are the evaluated points': the lanes that moved (or
                // started) take the system they give, the others keep theirs
                let (h2, b2) = self.nlls_system(work);
                for l in 0..M {
                    if rebuild[l] {
                        for k in 0..28 {
                            h[k][l] = h2[k][l];
                        }
                        for j in 0..7 {
                            b[j][l] = b2[j][l];
                        }
                        gbar[l] = gt[l];
                    }
                }
            }
        }
    }

    /// DIPY's NLLS objective `sum w (s - exp(X p))^2` of one voxel at unscaled parameters `p`
    /// (the accurate exponential, summed in order).
    pub fn nlls_objective(&self, p: &[f64; 7], sig: &[f64], w: Option<&[f64]>) -> f64 {
        let mut f = 0.0;
        for (i, (xi, &s)) in self.x.iter().zip(sig).enumerate() {
            let mut eta = 0.0;
            for j in 0..7 {
                eta += xi[j] * p[j];
            }
            let r = s - exp_fused(eta);
            f += w.map_or(1.0, |w| w[i]) * (r * r);
        }
        f
    }
}

/// Entries `K0..K0 + K` of `out = sum_i rows[i][k] * c[i]`, summed in order of i with fused
/// multiply-adds (the non-linear fits' own; WLS keeps its unfused sums). `K` entries of [`M`]
/// lanes are `2 K` independent chains, which stay in registers for `K <= 4` (16 vector registers
/// with AVX2); each entry's sum is the same whichever pass computes it.
#[inline(always)]
fn fma_pass<const K0: usize, const K: usize, const P: usize>(
    rows: &[[f64; P]],
    c: &[W],
    out: &mut [W; P],
) {
    let mut acc = [[0.0; M]; K];
    for (ri, ci) in rows.iter().zip(c) {
        for k in 0..K {
            for l in 0..M {
                acc[k][l] = ri[K0 + k].mul_add(ci[l], acc[k][l]);
            }
        }
    }
    out[K0..K0 + K].copy_from_slice(&acc);
}
