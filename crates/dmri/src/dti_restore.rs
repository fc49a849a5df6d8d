//! RESTORE (DIPY 1.12's `restore_fit_tensor`): a robust tensor fit that rejects outlier volumes
//! per voxel, as the post-step of an unweighted NLLS fit.
//!
//! Per voxel, as DIPY:
//! 1. the unweighted NLLS fit from the OLS start (the group fit);
//! 2. its residuals `r = s - exp(X p)` are tested against `3 C`, with `C` the given `sigma`
//!    (one value or one per volume) or, without one, `1.4826 sqrt(N / (N - 7)) MAD(r)` (`MAD`
//!    the median of `|r - median(r)|`, numpy's median; floored, see below); no residual above:
//!    done;
//! 3. else up to 10 rounds: `C` from the MAD of the current residuals (whatever `sigma` was),
//!    Geman–McClure weights `C^2 / (C^2 + r^2)^2` (0 where that denominator is 0), a weighted
//!    NLLS fit from the previous round's parameters (the OLS start in the first round), new
//!    residuals; stop when the parameters moved by less than 0.1 % (`100 |p - p_prev| / |p|`);
//! 4. the volumes with `|r| > 3 C` (the last round's `C`) are rejected; if any, the final fit is
//!    an unweighted NLLS on the others from their own OLS start. With fewer than 7 left DIPY's
//!    optimiser raises and DIPY keeps the last round's parameters (NaN with `fail_is_nan`):
//!    voxelkit returns the same, flagged [`FitStatus::StartFallback`]. Deliberate difference:
//!    when 7 or more are left but they cannot determine the tensor (e.g. coplanar directions),
//!    DIPY's result is one of infinitely many minimisers; voxelkit takes the same fallback.
//!
//! Deliberate difference: the MAD estimate of `C` is floored at [`SIGMA_FLOOR`] times the
//! voxel's largest signal. Where the model fits the signal exactly (noise-free or constant
//! signals, or 6 volumes left for 7 parameters) the residuals are rounding errors, and so is
//! DIPY's `C`: its outlier decisions there are rounding noise (it rejects every volume of an
//! all-zero voxel, for example). With the floor, residuals at rounding level are never outliers.
//!
//! The rejected volumes are the voxel's flag bits (bit `k % 8` of byte `k / 8` set = volume
//! `k` rejected; DIPY's `robust` mask is their complement). Eigenvalues are floored at 0, as
//! DIPY's RESTORE does (its other fits floor at the minimum diffusivity).

use crate::dti::{DtiAux, DtiModel, Scratch};
use crate::dti_nlls::NllsEnd;
use crate::eig3::{L, V};
use crate::fit::{FitStatus, COND2_CERTIFICATE};
use crate::lanesolve::{cholesky_solve_lanes, tmul_lanes};

/// numpy's median of finite values (`total_cmp` order: the same values as numpy's, no panic on
/// NaN): the middle value, or the mean of the two middle values
/// (reorders `v`). The reference for [`median_keys`].
#[cfg(test)]
pub(crate) fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let (lo, mid, _) = v.select_nth_unstable_by(n / 2, |a, b| a.total_cmp(b));
    let mid = *mid;
    if n % 2 == 1 {
        mid
    } else {
        let below = lo.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
        (below + mid) / 2.0
    }
}

/// The integer whose order is `f64::total_cmp`'s (its own inverse: see [`unkey`]).
#[inline(always)]
fn key(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

/// The value of a [`key`].
#[inline(always)]
fn unkey(k: i64) -> f64 {
    f64::from_bits((k ^ (((k >> 63) as u64) >> 1) as i64) as u64)
}

/// The median of the values whose [`key`]s are `v` (reorders `v`): the same value as
/// [`median`]'s `total_cmp` selection, by integer comparisons. The lower half is the same
/// multiset, so its `max` differs at most in the sign of a zero, which the sum with the middle
/// value (at least that zero in `total_cmp` order) does not see.
#[inline(always)]
fn median_keys(v: &mut [i64]) -> f64 {
    let n = v.len();
    let (lo, mid, _) = v.select_nth_unstable(n / 2);
    let mid = unkey(*mid);
    if n % 2 == 1 {
        mid
    } else {
        let below = lo.iter().fold(f64::NEG_INFINITY, |m, &k| m.max(unkey(k)));
        (below + mid) / 2.0
    }
}

/// The noise estimate's floor relative to the voxel's largest signal (see the module docs).
pub const SIGMA_FLOOR: f64 = 1e-12;

/// `factor * MAD(r)`, DIPY's noise estimate from residuals (`tmp` is scratch of `r.len()`),
/// floored at `floor`.
pub(crate) fn mad_sigma(r: &[f64], factor: f64, floor: f64, tmp: &mut [i64]) -> f64 {
    for (t, &x) in tmp.iter_mut().zip(r) {
        *t = key(x);
    }
    let m = median_keys(tmp);
    for (t, &x) in tmp.iter_mut().zip(r) {
        *t = key((x - m).abs());
    }
    (factor * median_keys(tmp)).max(floor)
}

fn lane(p: &[V; 7], l: usize) -> [f64; 7] {
    std::array::from_fn(|j| p[j][l])
}

fn set_lane(p: &mut [V; 7], l: usize, v: &[f64; 7]) {
    for j in 0..7 {
        p[j][l] = v[j];
    }
}

fn status_of(end: NllsEnd) -> FitStatus {
    match end {
        NllsEnd::NotConverged => FitStatus::NotConverged,
        _ => FitStatus::Ok,
    }
}

/// Groups whose voxels a RESTORE batch packs (64 voxels: a pass of the rounds leaves at most
/// three lanes idle out of the batch's voxels still in them).
pub const RESTORE_BATCH: usize = 16;

/// Where a voxel of a RESTORE batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing (left) to do.
    Done,
    /// In the reweighted rounds (step 3).
    Rounds,
    /// Waiting for the refit without its outliers (step 4).
    Refit,
}

/// The state of one voxel of a RESTORE batch.
#[derive(Debug, Clone, Copy)]
struct BatchVoxel {
    phase: Phase,
    /// Reweighted rounds done.
    rounds: u8,
    /// The next round's start (the OLS fit, then the last round's result).
    start: [f64; 7],
    /// The noise estimate of the last round.
    cval: f64,
    /// The floor of the noise estimate.
    floor: f64,
    /// How the last round's NLLS fit ended.
    last_end: NllsEnd,
}

/// RESTORE's per-thread batch: the voxels of several groups whose reweighted rounds and refits
/// are packed [`L`] at a time, whichever group they come from (see [`DtiModel::restore_batch`]).
/// Voxel `k` is lane `k % L` of group `k / L`; its rows are voxel-major (`k * n ..`).
#[derive(Debug, Clone, Default)]
pub struct RestoreBatch {
    groups: usize,
    vox: Vec<BatchVoxel>,
    sig: Vec<f64>,
    y: Vec<f64>,
    res: Vec<f64>,
    rejected: Vec<u8>,
    queue: Vec<usize>,
}

impl RestoreBatch {
    /// The rejected-volume bytes of lane `lane` of group `group` of the last batch.
    pub(crate) fn rejected(&self, group: usize, lane: usize, nb: usize) -> &[u8] {
        let k = group * L + lane;
        &self.rejected[k * nb..(k + 1) * nb]
    }
}

impl DtiModel {
    /// RESTORE's step 2 for the first `lanes` lanes of the group in `s` after its unweighted NLLS
    /// fit `p`: the outlier test, and the voxels that fail it stored into the batch for
    /// [`Self::restore_batch`] (the others keep `p` and reject nothing).
    #[inline(always)]
    pub(crate) fn restore_stage(&self, aux: &DtiAux, s: &mut Scratch, p: &[V; 7], lanes: usize) {
        let n = self.n;
        let nb = n.div_ceil(8);
        let g = s.batch.groups;
        s.batch.groups += 1;
        let b = &mut s.batch;
        let nv = (g + 1) * L;
        if b.vox.len() < nv {
            b.vox.resize(
                nv,
                BatchVoxel {
                    phase: Phase::Done,
                    rounds: 0,
                    start: [0.0; 7],
                    cval: 0.0,
                    floor: 0.0,
                    last_end: NllsEnd::Inactive,
                },
            );
            b.sig.resize(nv * n, 0.0);
            b.y.resize(nv * n, 0.0);
            b.res.resize(nv * n, 0.0);
            b.rejected.resize(nv * nb, 0);
        }
        b.rejected[g * L * nb..nv * nb].fill(0);
        let factor = aux.mad_factor;
        self.residual_lanes(p, &s.sig, &mut s.res, [true; L]);
        for l in 0..L {
            let k = g * L + l;
            b.vox[k].phase = Phase::Done;
            if l >= lanes {
                continue;
            }
            let smax = s.sig[..n].iter().fold(0.0f64, |m, v| m.max(v[l]));
            let floor = SIGMA_FLOOR * smax;
            let res = &s.res[l * n..(l + 1) * n];
            let in_loop = match &aux.sigma {
                Some(sg) => res.iter().zip(sg).any(|(r, c)| r.abs() > 3.0 * c),
                None => {
                    let c = mad_sigma(res, factor, floor, &mut s.tmp[..n]);
                    res.iter().any(|r| r.abs() > 3.0 * c)
                }
            };
            if !in_loop {
                continue;
            }
            b.vox[k] = BatchVoxel {
                phase: Phase::Rounds,
                rounds: 0,
                start: lane(&s.p_ols, l),
                cval: 0.0,
                floor,
                last_end: NllsEnd::Inactive,
            };
            b.res[k * n..(k + 1) * n].copy_from_slice(res);
            for (i, (sv, yv)) in s.sig[..n].iter().zip(&s.y[..n]).enumerate() {
                b.sig[k * n + i] = sv[l];
                b.y[k * n + i] = yv[l];
            }
        }
    }

    /// RESTORE's steps 3 and 4 for the voxels [`Self::restore_stage`] stored from the groups
    /// whose parameters and statuses are `p` and `st`. Each voxel does exactly the operations
    /// of [`Self::restore_group`] (every lane of the NLLS fits and the OLS solves is
    /// independent of the others), but the voxels still in a phase are packed into full
    /// vectors across groups.
    #[inline(always)]
    pub(crate) fn restore_batch(
        &self,
        aux: &DtiAux,
        s: &mut Scratch,
        p: &mut [[V; 7]],
        st: &mut [[FitStatus; L]],
    ) {
        let n = self.n;
        let nv = s.batch.groups * L;
        s.batch.groups = 0;
        let factor = aux.mad_factor;
        // step 3: each pass takes every voxel still in the rounds one round further
        loop {
            let mut queue = std::mem::take(&mut s.batch.queue);
            queue.clear();
            queue.extend((0..nv).filter(|&k| s.batch.vox[k].phase == Phase::Rounds));
            if queue.is_empty() {
                s.batch.queue = queue;
                break;
            }
            for pack in queue.chunks(L) {
                let mut active = [false; L];
                let mut start = [[0.0; L]; 7];
                for l in 0..L {
                    // a short pack repeats its last voxel in inactive lanes
                    let k = pack[l.min(pack.len() - 1)];
                    active[l] = l < pack.len();
                    let b = &mut s.batch;
                    set_lane(&mut start, l, &b.vox[k].start);
                    for (i, sv) in s.sig[..n].iter_mut().enumerate() {
                        sv[l] = b.sig[k * n + i];
                    }
                    if !active[l] {
                        for wi in s.wl[..n].iter_mut() {
                            wi[l] = 1.0;
                        }
                        continue;
                    }
                    let res = &b.res[k * n..(k + 1) * n];
                    let c = mad_sigma(res, factor, b.vox[k].floor, &mut s.tmp[..n]);
                    b.vox[k].cval = c;
                    let c2 = c * c;
                    for (wi, &r) in s.wl[..n].iter_mut().zip(res) {
                        let d = c2 + r * r;
                        let d = d * d;
                        wi[l] = if d != 0.0 { c2 / d } else { 0.0 };
                    }
                }
                let (pn, ends) = self.nlls_lanes(&s.sig, &s.wl, &start, active, &mut s.work);
                self.residual_lanes(&pn, &s.sig, &mut s.res, active);
                for (l, &k) in pack.iter().enumerate() {
                    let b = &mut s.batch;
                    let v = &mut b.vox[k];
                    v.last_end = ends[l];
                    let this = lane(&pn, l);
                    let prev = v.start;
                    let mut dd = 0.0;
                    let mut tt = 0.0;
                    for j in 0..7 {
                        dd += (this[j] - prev[j]) * (this[j] - prev[j]);
                        tt += this[j] * this[j];
                    }
                    let perc = 100.0 * dd.sqrt() / tt.sqrt();
                    v.start = this;
                    v.rounds += 1;
                    b.res[k * n..(k + 1) * n].copy_from_slice(&s.res[l * n..(l + 1) * n]);
                    if perc < 0.1 || v.rounds >= 10 {
                        self.restore_reject(aux, b, k, p, st);
                    }
                }
            }
            s.batch.queue = queue;
        }
        // step 4: the refits without the outliers, packed
        let mut queue = std::mem::take(&mut s.batch.queue);
        queue.clear();
        queue.extend((0..nv).filter(|&k| s.batch.vox[k].phase == Phase::Refit));
        for pack in queue.chunks(L) {
            let mut refit = [false; L];
            for l in 0..L {
                let k = pack[l.min(pack.len() - 1)];
                refit[l] = l < pack.len();
                let b = &s.batch;
                let lim = 3.0 * b.vox[k].cval;
                for i in 0..n {
                    let r = b.res[k * n + i];
                    s.wl[i][l] = if r.abs() > lim { 0.0 } else { 1.0 };
                    s.sig[i][l] = b.sig[k * n + i];
                    s.y[i][l] = b.y[k * n + i];
                }
            }
            // OLS of the kept volumes (0/1 weights) by the normal equations on unit-norm
            // columns; an uncertified lane by numpy's pinv of the kept rows (the zero rows of the
            // rejected volumes change neither its singular values nor its minimum-norm solution)
            let mut ne = [[0.0; L]; 28];
            self.ne_pass::<0>(&s.wl[..n], &mut ne);
            self.ne_pass::<7>(&s.wl[..n], &mut ne);
            self.ne_pass::<14>(&s.wl[..n], &mut ne);
            self.ne_pass::<21>(&s.wl[..n], &mut ne);
            for ((o, wi), yi) in s.w2y[..n].iter_mut().zip(&s.wl[..n]).zip(&s.y[..n]) {
                for l in 0..L {
                    o[l] = wi[l] * yi[l];
                }
            }
            let rhs = tmul_lanes(&self.xs, &s.w2y[..n]);
            let (ps, ok) = cholesky_solve_lanes(&ne, &rhs, COND2_CERTIFICATE);
            let mut p0 = [[0.0; L]; 7];
            for l in 0..pack.len() {
                if ok[l] {
                    for j in 0..7 {
                        p0[j][l] = ps[j][l] * self.scale[j];
                    }
                } else {
                    let y: Vec<f64> = s.y[..n].iter().map(|v| v[l]).collect();
                    let w: Vec<f64> = s.wl[..n].iter().map(|v| v[l]).collect();
                    match self.pinv_solve_checked(&y, &w) {
                        Some(q) => set_lane(&mut p0, l, &q),
                        None => {
                            // the kept volumes cannot determine the tensor
                            refit[l] = false;
                            self.restore_fallback(aux, pack[l], p, st);
                        }
                    }
                }
            }
            let (pr, ends) = self.nlls_lanes(&s.sig, &s.wl, &p0, refit, &mut s.work);
            for (l, &k) in pack.iter().enumerate() {
                if refit[l] {
                    set_lane(&mut p[k / L], k % L, &lane(&pr, l));
                    st[k / L][k % L] = status_of(ends[l]);
                }
            }
        }
        s.batch.queue = queue;
    }

    /// The end of voxel `k`'s rounds: its parameters and status, its rejected volumes, and
    /// whether it is refitted.
    fn restore_reject(
        &self,
        aux: &DtiAux,
        b: &mut RestoreBatch,
        k: usize,
        p: &mut [[V; 7]],
        st: &mut [[FitStatus; L]],
    ) {
        let n = self.n;
        let nb = n.div_ceil(8);
        let (g, l) = (k / L, k % L);
        let v = &mut b.vox[k];
        set_lane(&mut p[g], l, &v.start);
        st[g][l] = status_of(v.last_end);
        let res = &b.res[k * n..(k + 1) * n];
        let lim = 3.0 * v.cval;
        let mut kept = 0;
        for (i, r) in res.iter().enumerate() {
            if r.abs() > lim {
                b.rejected[k * nb + i / 8] |= 1 << (i % 8);
            } else {
                kept += 1;
            }
        }
        v.phase = if kept == n {
            Phase::Done
        } else if kept < 7 {
            self.restore_fallback(aux, k, p, st);
            Phase::Done
        } else {
            Phase::Refit
        };
    }

    /// Voxel `k` keeps its last round's parameters (NaN with `fail_is_nan`), flagged.
    fn restore_fallback(
        &self,
        aux: &DtiAux,
        k: usize,
        p: &mut [[V; 7]],
        st: &mut [[FitStatus; L]],
    ) {
        st[k / L][k % L] = FitStatus::StartFallback;
        if aux.fail_is_nan {
            set_lane(&mut p[k / L], k % L, &[f64::NAN; 7]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer-key median has `total_cmp` median's bits (signed zeros, ties, NaN, infinities).
    #[test]
    fn median_keys_matches_total_cmp_median() {
        let pool = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.5,
            1e-300,
            -1e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            3.0,
            3.0,
            -7.25,
        ];
        let mut state = 0x9e3779b97f4a7c15u64;
        for trial in 0..20000 {
            let n = 1 + trial % 23;
            let v: Vec<f64> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    if state.is_multiple_of(3) {
                        pool[(state >> 8) as usize % pool.len()]
                    } else {
                        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 8.0
                    }
                })
                .collect();
            let mut a = v.clone();
            let mut k: Vec<i64> = v.iter().map(|&x| key(x)).collect();
            for (&x, &kk) in v.iter().zip(&k) {
                assert_eq!(unkey(kk).to_bits(), x.to_bits());
            }
            let (m1, m2) = (median(&mut a), median_keys(&mut k));
            assert_eq!(m1.to_bits(), m2.to_bits(), "{v:?}: {m1} vs {m2}");
        }
    }
}
