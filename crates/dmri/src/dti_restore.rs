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
/// (reorders `v`).
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

/// The noise estimate's floor relative to the voxel's largest signal (see the module docs).
pub const SIGMA_FLOOR: f64 = 1e-12;

/// `factor * MAD(r)`, DIPY's noise estimate from residuals (`tmp` is scratch of `r.len()`),
/// floored at `floor`.
pub(crate) fn mad_sigma(r: &[f64], factor: f64, floor: f64, tmp: &mut [f64]) -> f64 {
    tmp.copy_from_slice(r);
    let m = median(tmp);
    for (t, &x) in tmp.iter_mut().zip(r) {
        *t = (x - m).abs();
    }
    (factor * median(tmp)).max(floor)
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

impl DtiModel {
    /// The RESTORE steps after the unweighted NLLS fit `p` of the first `lanes` lanes.
    #[inline(always)]
    pub(crate) fn restore_group(
        &self,
        aux: &DtiAux,
        s: &mut Scratch,
        p: &mut [V; 7],
        st: &mut [FitStatus; L],
        lanes: usize,
    ) {
        let n = self.n;
        let nb = n.div_ceil(8);
        s.rejected.fill(0);
        let factor = aux.mad_factor;
        // step 2: the outlier test on the unweighted fit's residuals
        let mut in_loop = [false; L];
        let mut floor = [0.0f64; L];
        self.residual_lanes(p, &s.sig, &mut s.res, [true; L]);
        for l in 0..lanes {
            let smax = s.sig[..n].iter().fold(0.0f64, |m, v| m.max(v[l]));
            floor[l] = SIGMA_FLOOR * smax;
            let res = &s.res[l * n..(l + 1) * n];
            in_loop[l] = match &aux.sigma {
                Some(sg) => res.iter().zip(sg).any(|(r, c)| r.abs() > 3.0 * c),
                None => {
                    let c = mad_sigma(res, factor, floor[l], &mut s.tmp[..n]);
                    res.iter().any(|r| r.abs() > 3.0 * c)
                }
            };
        }
        if !in_loop.iter().any(|&b| b) {
            return;
        }
        // step 3: Geman–McClure reweighted rounds
        let mut start = s.p_ols;
        let mut cval = [0.0f64; L];
        let mut last_end = [NllsEnd::Inactive; L];
        let mut active = in_loop;
        for _round in 1..=10 {
            if !active.iter().any(|&a| a) {
                break;
            }
            for l in 0..L {
                if !active[l] {
                    for wi in s.wl[..n].iter_mut() {
                        wi[l] = 1.0;
                    }
                    continue;
                }
                let res = &s.res[l * n..(l + 1) * n];
                let c = mad_sigma(res, factor, floor[l], &mut s.tmp[..n]);
                cval[l] = c;
                let c2 = c * c;
                for (wi, &r) in s.wl[..n].iter_mut().zip(res) {
                    let d = c2 + r * r;
                    let d = d * d;
                    wi[l] = if d != 0.0 { c2 / d } else { 0.0 };
                }
            }
            let (pn, ends) = self.nlls_lanes(&s.sig, &s.wl, &start, active, &mut s.work);
            self.residual_lanes(&pn, &s.sig, &mut s.res, active);
            for l in 0..L {
                if !active[l] {
                    continue;
                }
                last_end[l] = ends[l];
                let this = lane(&pn, l);
                let prev = lane(&start, l);
                let mut dd = 0.0;
                let mut tt = 0.0;
                for j in 0..7 {
                    dd += (this[j] - prev[j]) * (this[j] - prev[j]);
                    tt += this[j] * this[j];
                }
                let perc = 100.0 * dd.sqrt() / tt.sqrt();
                set_lane(&mut start, l, &this);
                if perc < 0.1 {
                    active[l] = false;
                }
            }
        }
        // step 4: reject, refit without the outliers
        let mut refit = [false; L];
        let mut fallback = [false; L];
        for l in 0..lanes {
            if !in_loop[l] {
                continue;
            }
            set_lane(p, l, &lane(&start, l));
            st[l] = status_of(last_end[l]);
            let res = &s.res[l * n..(l + 1) * n];
            let lim = 3.0 * cval[l];
            let mut kept = 0;
            for (k, r) in res.iter().enumerate() {
                let out = r.abs() > lim;
                s.wl[k][l] = if out { 0.0 } else { 1.0 };
                if out {
                    s.rejected[l * nb + k / 8] |= 1 << (k % 8);
                } else {
                    kept += 1;
                }
            }
            if kept == n {
                continue;
            }
            if kept < 7 {
                fallback[l] = true;
            } else {
                refit[l] = true;
            }
        }
        for l in lanes..L {
            for wi in s.wl[..n].iter_mut() {
                wi[l] = 1.0;
            }
        }
        if refit.iter().any(|&r| r) {
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
            for l in 0..L {
                if !refit[l] {
                    continue;
                }
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
                            fallback[l] = true;
                        }
                    }
                }
            }
            let (pr, ends) = self.nlls_lanes(&s.sig, &s.wl, &p0, refit, &mut s.work);
            for l in 0..lanes {
                if refit[l] {
                    set_lane(p, l, &lane(&pr, l));
                    st[l] = status_of(ends[l]);
                }
            }
        }
        for l in 0..lanes {
            if fallback[l] {
                st[l] = FitStatus::StartFallback;
                if aux.fail_is_nan {
                    set_lane(p, l, &[f64::NAN; 7]);
                }
            }
        }
    }
}
