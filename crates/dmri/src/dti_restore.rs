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

use crate::dti::{DtiAux, DtiMethod, DtiModel, Scratch};
use crate::dti_nlls::{NllsEnd, NllsJobs, M, W};
use crate::eig3::{L, V};
use crate::fit::{FitStatus, COND2_CERTIFICATE};
use crate::lanesolve::{cholesky_solve_lanes, tmul_lanes};
use std::collections::VecDeque;
use voxelkit_core::vmath::exp_fused;

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

/// Groups whose voxels a batch of the non-linear fits (NLLS and RESTORE) streams through the
/// lanes (128 voxels: a stream leaves lanes idle only while its last voxels finish).
pub const NONLINEAR_BATCH: usize = 32;

/// Where a voxel of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing (left) to do.
    Done,
    /// Waiting for (or in) its first NLLS fit (NLLS; RESTORE's step 1).
    First,
    /// In the reweighted rounds (step 3).
    Rounds,
    /// Waiting for (or in) the refit without its outliers (step 4).
    Refit,
}

/// The state of one voxel of a batch.
#[derive(Debug, Clone, Copy)]
struct BatchVoxel {
    phase: Phase,
    /// Reweighted rounds done.
    rounds: u8,
    /// The next fit's start (the given or OLS start, then the last round's result, then the
    /// refit's OLS start).
    start: [f64; 7],
    /// The noise estimate of the last round.
    cval: f64,
    /// The floor of the noise estimate.
    floor: f64,
    /// How the last round's NLLS fit ended.
    last_end: NllsEnd,
}

const IDLE: BatchVoxel = BatchVoxel {
    phase: Phase::Done,
    rounds: 0,
    start: [0.0; 7],
    cval: 0.0,
    floor: 0.0,
    last_end: NllsEnd::Inactive,
};

/// The per-thread batch of the non-linear fits: the voxels of several groups, whose NLLS fits
/// (and RESTORE's reweighted rounds and refits) stream through the lanes of
/// [`DtiModel::nlls_stream`] whichever group they come from (see [`DtiModel::nonlinear_batch`]).
/// Voxel `k` is lane `k % L` of group `k / L`; its rows are voxel-major (`k * n ..`).
#[derive(Debug, Clone, Default)]
pub struct NonlinearBatch {
    groups: usize,
    /// The voxels in use of each group (a short last group repeats its last voxel).
    lanes: Vec<usize>,
    vox: Vec<BatchVoxel>,
    sig: Vec<f64>,
    y: Vec<f64>,
    res: Vec<f64>,
    rejected: Vec<u8>,
    queue: VecDeque<usize>,
    refits: Vec<usize>,
}

impl NonlinearBatch {
    /// The rejected-volume bytes of lane `lane` of group `group` of the last batch.
    pub(crate) fn rejected(&self, group: usize, lane: usize, nb: usize) -> &[u8] {
        let k = group * L + lane;
        &self.rejected[k * nb..(k + 1) * nb]
    }

    /// The last staged group has `lanes` voxels.
    pub(crate) fn set_lanes(&mut self, lanes: usize) {
        if let Some(g) = self.groups.checked_sub(1) {
            self.lanes[g] = lanes;
        }
    }
}

/// The fits of one batch as a stream of [`NllsJobs`]: each voxel's phase says which fit it
/// waits for, and a finished fit queues the voxel's next one (RESTORE).
struct BatchJobs<'a> {
    model: &'a DtiModel,
    aux: &'a DtiAux,
    restore: bool,
    b: &'a mut NonlinearBatch,
    tmp: &'a mut [i64],
    p: &'a mut [[V; 7]],
    st: &'a mut [[FitStatus; L]],
}

impl NllsJobs for BatchJobs<'_> {
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        self.b.queue.pop_front()
    }

    #[inline(always)]
    fn load(&mut self, k: usize, l: usize, sig: &mut [W], w: &mut [W]) -> [f64; 7] {
        let n = self.model.n;
        let b = &mut *self.b;
        let bs = &b.sig[k * n..(k + 1) * n];
        for (sv, &x) in sig.iter_mut().zip(bs) {
            sv[l] = x;
        }
        let v = &mut b.vox[k];
        match v.phase {
            Phase::Rounds => {
                // Geman-McClure weights of the last residuals
                let res = &b.res[k * n..(k + 1) * n];
                let c = mad_sigma(res, self.aux.mad_factor, v.floor, &mut self.tmp[..n]);
                v.cval = c;
                let c2 = c * c;
                for (wi, &r) in w.iter_mut().zip(res) {
                    let d = c2 + r * r;
                    let d = d * d;
                    wi[l] = if d != 0.0 { c2 / d } else { 0.0 };
                }
            }
            Phase::Refit => {
                // the volumes kept
                let lim = 3.0 * v.cval;
                for (wi, &r) in w.iter_mut().zip(&b.res[k * n..(k + 1) * n]) {
                    wi[l] = if r.abs() > lim { 0.0 } else { 1.0 };
                }
            }
            // NLLS: the weights of every lane were set before the stream
            _ if !self.restore => {}
            // (the same in every lane)
            _ => {
                for (wi, aw) in w.iter_mut().zip(&self.aux.weights) {
                    wi[l] = aw[0];
                }
            }
        }
        v.start
    }

    #[inline(always)]
    fn done(&mut self, k: usize, pk: [f64; 7], end: NllsEnd) {
        let n = self.model.n;
        let (g, l) = (k / L, k % L);
        match self.b.vox[k].phase {
            Phase::First => {
                // a short group's copies of its last voxel take its result
                let to = if l + 1 == self.b.lanes[g] { L } else { l + 1 };
                for ll in l..to {
                    set_lane(&mut self.p[g], ll, &pk);
                    self.st[g][ll] = status_of(end);
                }
                self.b.vox[k].phase = Phase::Done;
                if self.restore {
                    self.model.restore_stage(self.aux, self.b, self.tmp, k, &pk);
                }
            }
            Phase::Rounds => {
                let b = &mut *self.b;
                let v = &mut b.vox[k];
                v.last_end = end;
                let prev = v.start;
                let mut dd = 0.0;
                let mut tt = 0.0;
                for j in 0..7 {
                    dd += (pk[j] - prev[j]) * (pk[j] - prev[j]);
                    tt += pk[j] * pk[j];
                }
                let perc = 100.0 * dd.sqrt() / tt.sqrt();
                v.start = pk;
                v.rounds += 1;
                let rounds = v.rounds;
                self.model.residuals(
                    &pk,
                    &b.sig[k * n..(k + 1) * n],
                    &mut b.res[k * n..(k + 1) * n],
                );
                if perc < 0.1 || rounds >= 10 {
                    self.model.restore_reject(self.aux, b, k, self.p, self.st);
                } else {
                    b.queue.push_back(k);
                }
            }
            Phase::Refit => {
                set_lane(&mut self.p[g], l, &pk);
                self.st[g][l] = status_of(end);
                self.b.vox[k].phase = Phase::Done;
            }
            Phase::Done => unreachable!("a fitted voxel has a phase"),
        }
    }
}

impl DtiModel {
    /// Stores the group in `s` (its clipped signals, for RESTORE its log-signals, and its start
    /// `p0`) as the next group of the batch.
    #[inline(always)]
    pub(crate) fn nonlinear_stage(&self, restore: bool, s: &mut Scratch, p0: &[V; 7]) {
        let n = self.n;
        let nb = n.div_ceil(8);
        let b = &mut s.batch;
        let g = b.groups;
        b.groups += 1;
        let nv = (g + 1) * L;
        if b.vox.len() < nv {
            b.vox.resize(nv, IDLE);
            b.sig.resize(nv * n, 0.0);
            b.res.resize(nv * n, 0.0);
            b.lanes.resize(g + 1, L);
            if restore {
                b.y.resize(nv * n, 0.0);
                b.rejected.resize(nv * nb, 0);
            }
        }
        b.lanes[g] = L;
        for l in 0..L {
            let k = g * L + l;
            b.vox[k] = BatchVoxel {
                phase: Phase::First,
                start: lane(p0, l),
                ..IDLE
            };
            for (i, sv) in s.sig[..n].iter().enumerate() {
                b.sig[k * n + i] = sv[l];
            }
            if restore {
                for (i, yv) in s.y[..n].iter().enumerate() {
                    b.y[k * n + i] = yv[l];
                }
            }
        }
        if restore {
            b.rejected[g * L * nb..nv * nb].fill(0);
        }
    }

    /// The residuals `s - exp(X p)` of one voxel at the unscaled parameters `p` into `res`
    /// (the same operations as each lane of the vector fits).
    #[inline(always)]
    fn residuals(&self, p: &[f64; 7], sig: &[f64], res: &mut [f64]) {
        for ((r, xi), &s) in res.iter_mut().zip(&self.x).zip(sig) {
            let mut eta = 0.0;
            for j in 0..7 {
                eta = xi[j].mul_add(p[j], eta);
            }
            *r = s - exp_fused(eta);
        }
    }

    /// RESTORE's step 2 for voxel `k` after its unweighted NLLS fit `p`: the outlier test, and
    /// a voxel that fails it queued for the reweighted rounds (the others keep `p` and reject
    /// nothing).
    #[inline(always)]
    fn restore_stage(
        &self,
        aux: &DtiAux,
        b: &mut NonlinearBatch,
        tmp: &mut [i64],
        k: usize,
        p: &[f64; 7],
    ) {
        let n = self.n;
        let sig = &b.sig[k * n..(k + 1) * n];
        let res = &mut b.res[k * n..(k + 1) * n];
        self.residuals(p, sig, res);
        let smax = sig.iter().fold(0.0f64, |m, &v| m.max(v));
        let floor = SIGMA_FLOOR * smax;
        let in_loop = match &aux.sigma {
            Some(sg) => res.iter().zip(sg).any(|(r, c)| r.abs() > 3.0 * c),
            None => {
                let c = mad_sigma(res, aux.mad_factor, floor, &mut tmp[..n]);
                res.iter().any(|r| r.abs() > 3.0 * c)
            }
        };
        if in_loop {
            b.vox[k] = BatchVoxel {
                phase: Phase::Rounds,
                floor,
                ..b.vox[k]
            };
            b.queue.push_back(k);
        }
    }

    /// The fits of the batch's voxels (staged by [`Self::nonlinear_stage`]) into the groups'
    /// parameters `p` and statuses `st`: NLLS, or RESTORE's steps 1 to 4. Each voxel does
    /// exactly the operations of its own fit (every lane of the NLLS fits and of the OLS solves
    /// is independent of the others), but the fits stream through the lanes whichever voxel
    /// and round they belong to.
    #[inline(always)]
    pub(crate) fn nonlinear_batch(
        &self,
        aux: &DtiAux,
        s: &mut Scratch,
        p: &mut [[V; 7]],
        st: &mut [[FitStatus; L]],
    ) {
        let n = self.n;
        let restore = aux.method == DtiMethod::Restore;
        let groups = std::mem::take(&mut s.batch.groups);
        {
            let b = &mut s.batch;
            b.queue.clear();
            for g in 0..groups {
                b.queue.extend((0..b.lanes[g]).map(|l| g * L + l));
            }
        }
        if !restore {
            // the same weights in every lane
            for (o, aw) in s.work.w[..n].iter_mut().zip(&aux.weights) {
                *o = [aw[0]; M];
            }
        }
        // NLLS, or RESTORE's steps 1 to 3 (a voxel's rounds follow its first fit in the stream)
        self.stream_batch(aux, restore, s, p, st);
        if !restore {
            return;
        }
        // step 4: the OLS starts of the refits without the outliers, packed, then the refits
        let mut refits = std::mem::take(&mut s.batch.refits);
        refits.clear();
        refits.extend((0..groups * L).filter(|&k| s.batch.vox[k].phase == Phase::Refit));
        for pack in refits.chunks(L) {
            for l in 0..L {
                let k = pack[l.min(pack.len() - 1)];
                let b = &s.batch;
                let lim = 3.0 * b.vox[k].cval;
                for i in 0..n {
                    let r = b.res[k * n + i];
                    s.wl[i][l] = if r.abs() > lim { 0.0 } else { 1.0 };
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
            for (l, &k) in pack.iter().enumerate() {
                let start = if ok[l] {
                    Some(std::array::from_fn(|j| ps[j][l] * self.scale[j]))
                } else {
                    let y: Vec<f64> = s.y[..n].iter().map(|v| v[l]).collect();
                    let w: Vec<f64> = s.wl[..n].iter().map(|v| v[l]).collect();
                    self.pinv_solve_checked(&y, &w)
                };
                match start {
                    Some(q) => {
                        s.batch.vox[k].start = q;
                        s.batch.queue.push_back(k);
                    }
                    None => {
                        // the kept volumes cannot determine the tensor
                        s.batch.vox[k].phase = Phase::Done;
                        self.restore_fallback(aux, k, p, st);
                    }
                }
            }
        }
        s.batch.refits = refits;
        self.stream_batch(aux, restore, s, p, st);
    }

    /// Runs the voxels queued in `s.batch` through the NLLS stream (NLLS fits, RESTORE's rounds
    /// or its refits, as each voxel's phase says).
    #[inline(always)]
    fn stream_batch(
        &self,
        aux: &DtiAux,
        restore: bool,
        s: &mut Scratch,
        p: &mut [[V; 7]],
        st: &mut [[FitStatus; L]],
    ) {
        let mut jobs = BatchJobs {
            model: self,
            aux,
            restore,
            b: &mut s.batch,
            tmp: &mut s.tmp,
            p,
            st,
        };
        self.nlls_stream(&mut s.work, &mut jobs);
    }

    /// The end of voxel `k`'s rounds: its parameters and status, its rejected volumes, and
    /// whether it is refitted.
    fn restore_reject(
        &self,
        aux: &DtiAux,
        b: &mut NonlinearBatch,
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
