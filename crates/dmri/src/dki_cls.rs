//! Constrained DKI fits: DIPY 1.12's `CLS` and `CWLS` (`cls_fit_dki`, Dela Haije et al. 2020).
//!
//! The unknowns `h` (the 22 of [`crate::dki`]) are restricted by a linear matrix inequality that
//! DIPY ships as `dki_constraint_SC.npz` (sufficient conditions for a positive-definite diffusion
//! tensor and non-negative directional kurtosis, through a sum-of-squares certificate):
//! `M(h, s) = sum_i h_i C_(i+1) + sum_j s_j C_(23+j)  ⪰ 0` with 18 slack variables `s` and 12 x 12
//! symmetric integer matrices `C_k` ([`SC_ENTRIES`], their upper triangles). For each voxel, as
//! DIPY's `PositiveDefiniteLeastSquares.solve(check=True)`:
//!
//! 1. the least-squares problem is reduced to `min ||X h - y||` with `X = chol(A' A)'` (upper
//!    triangular) and `y = X pinv(A) m`, where `A`, `m` are the design and log-signal, weighted
//!    for CWLS by the signal of the OLS pre-fit (`W = exp(A pinv(A) m)`, as for WLS);
//! 2. the unconstrained optimum (our OLS/WLS solution, computed exactly; DIPY asks its conic
//!    solver for it) is kept when the feasibility problem "exists s: M(h, s) ⪰ 0" is solved;
//! 3. otherwise the second-order-cone + semidefinite program `min t, ||X h - y|| <= t,
//!    M(h, s) ⪰ 0` is solved.
//!
//! Both programs are solved by Clarabel (DIPY goes through cvxpy, which hands the SOCP to
//! Clarabel and the two semidefinite programs to SCS by default), in well-scaled variables (an
//! exact change of variables, see [`ClsSetup`]) at tolerance [`SOLVER_TOL`]. Step 2 is skipped
//! when `M(h, 0)` is positive definite already (a Cholesky factorisation succeeds): the
//! feasibility problem is then strictly feasible and the solver could only agree.
//!
//! Failures follow DIPY where they are DIPY's: a singular `A' A`, or a solver error in the
//! constrained program of step 3, gives the zero parameter vector (status
//! [`FitStatus::SolverFailed`]). A solver error in the feasibility program of step 2 does not:
//! that program only asks whether step 3 can be skipped (the constrained optimum is the
//! least-squares solution whenever the latter is feasible), so when it cannot answer, step 3
//! decides. Interior-point iterates on that program can blow up (NaN, then Clarabel panics in
//! its eigenvalue step) on instances at the edge of feasibility, and which ones do depends on the
//! last bit of intermediate results. `fixtures/dipy_dki_cls` degenerate voxel 12 (CWLS; kurtosis
//! ~1e-11, LS margin -2.5e-5) blows up on linux-arm64 and not on x64: the first difference
//! between the two runs is one `hypot` in the SVD (nalgebra's) of Clarabel's scaling update,
//! which glibc rounds correctly on x64 and 0.525 ulp off on aarch64 (its FMA variant); with the
//! `libm` crate's `hypot` it blows up on x64 too. Voxels 7 (CLS) and 10 (CWLS) of
//! `fixtures/dipy_dki` degenerate_voxels blow up on x64 with glibc. (DIPY's feasibility program
//! goes to SCS, which reports a solution for voxel 12.) Each voxel is solved on its own, so
//! results do not depend on tiling or threads.

use crate::dki::{DkiModel, NP};
use crate::fit::FitStatus;
use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettings, DefaultSolver, IPSolver, SolverStatus, SupportedConeT};

/// Order of the LMI.
const MD: usize = 12;
/// Length of the scaled upper-triangle vector of a 12 x 12 matrix.
const NSV: usize = MD * (MD + 1) / 2;
/// Slack variables of the sum-of-squares certificate.
const NSLACK: usize = 18;

/// Non-zero upper-triangle entries `(k, row, col, value)` of DIPY 1.12's `dki_constraint_SC.npz`
/// (`load_sdp_constraints("dki")`, 41 matrices of 12 x 12; `C_0` and `C_22`, the intercept's, are
/// zero). Checked against DIPY's file by the CLS fixtures (fixtures/dipy_dki_cls).
#[rustfmt::skip]
pub const SC_ENTRIES: [(u8, u8, u8, i8); 87] = [
    (1, 0, 0, 2), (2, 0, 1, 2), (3, 1, 1, 2), (4, 0, 2, 2), (5, 1, 2, 2), (6, 2, 2, 2),
    (7, 3, 3, 2), (8, 7, 7, 2), (9, 11, 11, 2), (10, 3, 4, 2), (10, 3, 6, 2), (11, 3, 5, 2),
    (11, 3, 9, 2), (12, 4, 7, 2), (12, 6, 7, 2), (13, 7, 8, 2), (13, 7, 10, 2), (14, 5, 11, 2),
    (14, 9, 11, 2), (15, 8, 11, 2), (15, 10, 11, 2), (16, 4, 4, 2), (16, 4, 6, 2), (16, 6, 6, 2),
    (16, 3, 7, 2), (17, 5, 5, 2), (17, 5, 9, 2), (17, 9, 9, 2), (17, 3, 11, 2), (18, 8, 8, 2),
    (18, 8, 10, 2), (18, 10, 10, 2), (18, 7, 11, 2), (19, 4, 5, 2), (19, 5, 6, 2), (19, 3, 8, 2),
    (19, 4, 9, 2), (19, 6, 9, 2), (19, 3, 10, 2), (20, 5, 7, 2), (20, 4, 8, 2), (20, 6, 8, 2),
    (20, 7, 9, 2), (20, 4, 10, 2), (20, 6, 10, 2), (21, 5, 8, 2), (21, 8, 9, 2), (21, 5, 10, 2),
    (21, 9, 10, 2), (21, 4, 11, 2), (21, 6, 11, 2), (23, 4, 6, 1), (23, 3, 7, -1), (24, 5, 6, 1),
    (24, 3, 8, -1), (25, 5, 7, 1), (25, 4, 8, -1), (26, 4, 9, 1), (26, 3, 10, -1), (27, 5, 9, 1),
    (27, 3, 11, -1), (28, 5, 10, 1), (28, 4, 11, -1), (29, 7, 9, 1), (29, 6, 10, -1), (30, 8, 9, 1),
    (30, 6, 11, -1), (31, 8, 10, 1), (31, 7, 11, -1), (32, 1, 3, 1), (32, 0, 4, -1), (33, 2, 3, 1),
    (33, 0, 5, -1), (34, 2, 4, 1), (34, 1, 5, -1), (35, 1, 6, 1), (35, 0, 7, -1), (36, 2, 6, 1),
    (36, 0, 8, -1), (37, 2, 7, 1), (37, 1, 8, -1), (38, 1, 9, 1), (38, 0, 10, -1), (39, 2, 9, 1),
    (39, 0, 11, -1), (40, 2, 10, 1), (40, 1, 11, -1),
];

/// The LMI matrix `M(h, s)` (dense, symmetric).
fn lmi(h: &[f64; NP], s: &[f64; NSLACK]) -> [[f64; MD]; MD] {
    let mut m = [[0.0; MD]; MD];
    for &(k, r, c, v) in SC_ENTRIES.iter() {
        let k = k as usize;
        let x = if k <= NP { h[k - 1] } else { s[k - 1 - NP] };
        m[r as usize][c as usize] += x * v as f64;
        if r != c {
            m[c as usize][r as usize] += x * v as f64;
        }
    }
    m
}

/// The lower Cholesky factor of the symmetric `a`, or None at the first pivot that `accept`
/// rejects (a failed pivot stops the factorisation).
fn cholesky<const N: usize>(
    a: &[[f64; N]; N],
    accept: impl Fn(f64) -> bool,
) -> Option<[[f64; N]; N]> {
    let mut l = [[0.0; N]; N];
    for j in 0..N {
        let mut d = a[j][j];
        for k in 0..j {
            d -= l[j][k] * l[j][k];
        }
        if !accept(d) {
            return None;
        }
        let d = d.sqrt();
        l[j][j] = d;
        for i in j + 1..N {
            let mut s = a[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            l[i][j] = s / d;
        }
    }
    Some(l)
}

/// Cholesky factorisation succeeds (the matrix is numerically positive definite).
fn positive_definite<const N: usize>(a: &[[f64; N]; N]) -> bool {
    cholesky(a, |d| d > 0.0).is_some()
}

/// Upper Cholesky factor `X` (row-major) of the symmetric 22 x 22 `N = X' X`; None when `N` is
/// not positive definite (numpy's `cholesky` raises there and DIPY returns zeros).
fn upper_cholesky(n: &[[f64; NP]; NP]) -> Option<[[f64; NP]; NP]> {
    let l = cholesky(n, |d| d > 0.0 && d.is_finite())?;
    // X = L'
    Some(std::array::from_fn(|r| std::array::from_fn(|c| l[c][r])))
}

/// Column-compressed matrix from per-column `(row, value)` lists (rows ascending).
fn csc(nrows: usize, cols: &[Vec<(usize, f64)>]) -> CscMatrix<f64> {
    let mut colptr = Vec::with_capacity(cols.len() + 1);
    let mut rowval = Vec::new();
    let mut nzval = Vec::new();
    colptr.push(0);
    for col in cols {
        for &(r, v) in col {
            rowval.push(r);
            nzval.push(v);
        }
        colptr.push(rowval.len());
    }
    CscMatrix::new(nrows, cols.len(), colptr, rowval, nzval)
}

/// Solver tolerance (duality gap, absolute and relative, and feasibility). Clarabel's default is
/// 1e-8. The constrained optimum lies on the boundary of the semidefinite cone where strict
/// complementarity usually fails, and there an interior-point iterate is only about
/// sqrt(tolerance) from the optimum: 1e-10 puts the solution about 1e-5 (relative) from the exact
/// one, where 1e-8 left 1e-4 (measured on small_101D against DIPY run with both tolerances). It
/// costs one or two more iterations. When the solver cannot reach it (it stalls near the optimum
/// and reports insufficient progress: a few voxels in a thousand on very noisy data), the program
/// is solved again at Clarabel's default tolerance.
pub const SOLVER_TOL: f64 = 1e-10;
const FALLBACK_TOL: f64 = 1e-8;

/// Largest fraction of the step to the boundary of the cones that an iteration takes: Clarabel's
/// default, then, if both tolerances failed, a shorter one. At 99 % an iterate badly conditioned
/// in the semidefinite cone can land numerically on its boundary, where the Cholesky
/// factorisation of the next scaling update fails (pivot 10 of 12) and Clarabel stops with
/// `NumericalError`, at either tolerance since it happens early (iteration 3). Seen on
/// `fixtures/dipy_dki` random_1 voxel 10 with CLS on linux-arm64, whose float32 logarithms (the
/// C library's `logf`, as numpy there) differ from x64's (numpy's SIMD kernel) in the last bit;
/// at 90 % it converges in 16 iterations to within 2e-7 of x64's answer. Only voxels on which
/// both first attempts failed take the shorter steps, so no other result changes.
const STEP_FRACTIONS: [f64; 2] = [0.99, 0.9];

fn settings(tol: f64, max_step_fraction: f64) -> DefaultSettings<f64> {
    DefaultSettings {
        verbose: false,
        tol_gap_abs: tol,
        tol_gap_rel: tol,
        tol_feas: tol,
        tol_ktratio: 1e-8_f64.min(tol * 1e2),
        max_step_fraction,
        ..DefaultSettings::default()
    }
}

/// What the solver said, in cvxpy's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// OPTIMAL or OPTIMAL_INACCURATE (cvxpy's SOLUTION_PRESENT).
    Solution,
    /// cvxpy raises SolverError (NumericalError, InsufficientProgress) or the solver panicked.
    Error,
    /// Infeasible, unbounded or an iteration limit.
    NoSolution,
}

fn outcome(s: SolverStatus) -> Outcome {
    match s {
        SolverStatus::Solved | SolverStatus::AlmostSolved => Outcome::Solution,
        SolverStatus::NumericalError | SolverStatus::InsufficientProgress => Outcome::Error,
        _ => Outcome::NoSolution,
    }
}

/// Runs Clarabel on `min q'x, A x + s = b, s in cones` (P = 0) at [`SOLVER_TOL`], again at
/// [`FALLBACK_TOL`] if it stalled, and both again with shorter steps ([`STEP_FRACTIONS`]) if that
/// stalled too; returns the outcome and `x`.
fn solve(
    q: &[f64],
    a: &CscMatrix<f64>,
    b: &[f64],
    cones: &[SupportedConeT<f64>],
) -> (Outcome, Vec<f64>) {
    let n = q.len();
    let p = CscMatrix::zeros((n, n));
    let mut last = (Outcome::Error, Vec::new());
    let attempts = STEP_FRACTIONS
        .iter()
        .flat_map(|&f| [(SOLVER_TOL, f), (FALLBACK_TOL, f)]);
    for (tol, step) in attempts {
        // A panic inside the solver must not take the fit down: the voxel gets DIPY's zeros.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut solver = DefaultSolver::new(&p, q, a, b, cones, settings(tol, step)).ok()?;
            solver.solve();
            Some((solver.solution.status, solver.solution.x.clone()))
        }));
        let Ok(Some((status, x))) = run else {
            continue;
        };
        last = (outcome(status), x);
        let stalled = matches!(
            status,
            SolverStatus::InsufficientProgress
                | SolverStatus::NumericalError
                | SolverStatus::MaxIterations
        );
        if !stalled {
            break;
        }
    }
    last
}

/// The well-scaled form of DIPY's programs for one gradient scheme.
///
/// DIPY hands the solver `h` itself, whose entries span seven orders of magnitude (diffusivities
/// ~1e-3, `MD^2 W` ~1e-7, `-log S0` ~5), and an LMI that mixes both: Clarabel then stalls on a
/// fair share of voxels (`NumericalError` on real data, as it does through cvxpy on the same
/// voxels). The programs solved here are the same programs after an exact change of variables:
/// `h_i = sigma_i u_i` with `sigma_i` the reciprocal norm of design column `i`, slacks
/// `s_j = tau_j v_j`, and the congruence `T M T` (T diagonal positive, so `T M T ⪰ 0` iff
/// `M ⪰ 0`) with `T = 1/sqrt(geometric mean of sigma)` on the diffusion rows (0..3) and on the
/// kurtosis rows (3..12) separately; `tau_j` makes each slack's largest coefficient 1.
/// Minimisers map back exactly (`h = sigma u`); only the solver's path and accuracy change.
#[derive(Debug, Clone)]
pub struct ClsSetup {
    sigma: [f64; NP],
    /// `svec(T C_(i+1) T) * sigma_i` per unknown, `(index, value)` sorted by index.
    psd_u: Vec<Vec<(usize, f64)>>,
    /// `svec(T C_(23+j) T) * tau_j` per slack.
    psd_v: Vec<Vec<(usize, f64)>>,
}

impl ClsSetup {
    pub fn new(model: &DkiModel) -> Self {
        let sigma = *model.column_scale();
        let gmean = |r: std::ops::Range<usize>| {
            let n = r.len() as f64;
            (r.map(|i| sigma[i].ln()).sum::<f64>() / n).exp()
        };
        let (sd, sw) = (gmean(0..6), gmean(6..21));
        let t: [f64; MD] = std::array::from_fn(|r| {
            if r < 3 {
                1.0 / sd.sqrt()
            } else {
                1.0 / sw.sqrt()
            }
        });
        // svec(T C_k T) for every k
        let mut cols = vec![Vec::<(usize, f64)>::new(); 1 + NP + NSLACK];
        for &(k, r, c, v) in SC_ENTRIES.iter() {
            let (r, c) = (r as usize, c as usize);
            let off = if r == c {
                1.0
            } else {
                std::f64::consts::SQRT_2
            };
            cols[k as usize].push((c * (c + 1) / 2 + r, v as f64 * off * t[r] * t[c]));
        }
        for col in cols.iter_mut() {
            col.sort_by_key(|e| e.0);
        }
        let psd_u = (0..NP)
            .map(|i| {
                cols[1 + i]
                    .iter()
                    .map(|&(k, v)| (k, v * sigma[i]))
                    .collect()
            })
            .collect();
        let psd_v = (0..NSLACK)
            .map(|j| {
                let col = &cols[1 + NP + j];
                let tau = 1.0 / col.iter().fold(0.0f64, |m, e| m.max(e.1.abs()));
                col.iter().map(|&(k, v)| (k, v * tau)).collect()
            })
            .collect();
        ClsSetup {
            sigma,
            psd_u,
            psd_v,
        }
    }

    /// DIPY's feasibility problem for `u`: does some `v` make the scaled LMI hold?
    fn feasibility(&self, u: &[f64; NP]) -> Outcome {
        let a = csc(
            NSV,
            &self
                .psd_v
                .iter()
                .map(|col| col.iter().map(|&(i, v)| (i, -v)).collect())
                .collect::<Vec<_>>(),
        );
        let mut b = vec![0.0; NSV];
        for (ui, col) in u.iter().zip(&self.psd_u) {
            for &(k, v) in col {
                b[k] += ui * v;
            }
        }
        solve(
            &[0.0; NSLACK],
            &a,
            &b,
            &[SupportedConeT::PSDTriangleConeT(MD)],
        )
        .0
    }

    /// DIPY's constrained problem `min ||X u - y||` subject to the scaled LMI (`X` upper
    /// triangular, row-major); returns `u`.
    fn constrained(&self, x: &[[f64; NP]; NP], y: &[f64; NP]) -> (Outcome, [f64; NP]) {
        let nrows = 1 + NP + NSV;
        let mut acols: Vec<Vec<(usize, f64)>> = Vec::with_capacity(1 + NP + NSLACK);
        acols.push(vec![(0, -1.0)]);
        for i in 0..NP {
            let mut col: Vec<(usize, f64)> = (0..=i).map(|r| (1 + r, -x[r][i])).collect();
            col.extend(self.psd_u[i].iter().map(|&(k, v)| (1 + NP + k, -v)));
            acols.push(col);
        }
        for col in &self.psd_v {
            acols.push(col.iter().map(|&(k, v)| (1 + NP + k, -v)).collect());
        }
        let a = csc(nrows, &acols);
        let mut b = vec![0.0; nrows];
        for r in 0..NP {
            b[1 + r] = -y[r];
        }
        let mut q = vec![0.0; 1 + NP + NSLACK];
        q[0] = 1.0;
        let cones = [
            SupportedConeT::SecondOrderConeT(1 + NP),
            SupportedConeT::PSDTriangleConeT(MD),
        ];
        let (o, sol) = solve(&q, &a, &b, &cones);
        if o != Outcome::Solution
            || sol.len() != 1 + NP + NSLACK
            || sol.iter().any(|v| !v.is_finite())
        {
            return (
                if o == Outcome::Solution {
                    Outcome::Error
                } else {
                    o
                },
                [0.0; NP],
            );
        }
        (o, std::array::from_fn(|i| sol[1 + i]))
    }

    /// The constrained fit of one voxel (DIPY's `cls_fit_dki` after the unconstrained solve).
    ///
    /// `y` is the clipped log-signal, `h_ls` the OLS (`weighted = false`) or WLS (`true`)
    /// solution. Returns the 22 unknowns and the voxel's status: [`FitStatus::Ok`] when the
    /// unconstrained solution satisfies the constraints (the zero-slack Cholesky test or the
    /// feasibility program says so), [`FitStatus::Constrained`] when the constrained program
    /// gave the fit (also where the feasibility program failed), and [`FitStatus::SolverFailed`]
    /// (zeros) as DIPY's failures: a singular weighted design or a failed constrained program.
    pub fn constrain(
        &self,
        model: &DkiModel,
        y: &[f64],
        weighted: bool,
        h_ls: &[f64; NP],
    ) -> ([f64; NP], FitStatus) {
        let x = model.design();
        let w: Vec<f64> = if weighted {
            model.exact_weights(&model.ols_voxel(y))
        } else {
            vec![1.0; x.len()]
        };
        // S A'A S of the weighted design with unit-norm columns: its Cholesky factor is X S
        let sg = &self.sigma;
        let mut n = [[0.0; NP]; NP];
        for (xi, &wi) in x.iter().zip(&w) {
            let w2 = wi * wi;
            let xs: [f64; NP] = std::array::from_fn(|j| xi[j] * sg[j]);
            for r in 0..NP {
                let xr = xs[r] * w2;
                for c in 0..=r {
                    n[r][c] += xr * xs[c];
                }
            }
        }
        for r in 0..NP {
            for c in r + 1..NP {
                n[r][c] = n[c][r];
            }
        }
        let Some(xu) = upper_cholesky(&n) else {
            return ([0.0; NP], FitStatus::SolverFailed);
        };
        if !h_ls.iter().all(|v| v.is_finite()) {
            return ([0.0; NP], FitStatus::SolverFailed);
        }
        if positive_definite(&lmi(h_ls, &[0.0; NSLACK])) {
            return (*h_ls, FitStatus::Ok);
        }
        let u_ls: [f64; NP] = std::array::from_fn(|i| h_ls[i] / sg[i]);
        // a solver error here proves nothing either way: the constrained program decides (see
        // the module notes)
        if self.feasibility(&u_ls) == Outcome::Solution {
            return (*h_ls, FitStatus::Ok);
        }
        // y = X pinv(A) m = X h_ls, in the scaled unknowns
        let yr: [f64; NP] = std::array::from_fn(|r| (r..NP).map(|c| xu[r][c] * u_ls[c]).sum());
        match self.constrained(&xu, &yr) {
            (Outcome::Solution, u) => (
                std::array::from_fn(|i| u[i] * sg[i]),
                FitStatus::Constrained,
            ),
            _ => ([0.0; NP], FitStatus::SolverFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_table_is_symmetric_data_of_41_matrices() {
        // every matrix index 1..=40 except the intercept's (22) appears; C_0 is zero
        let mut seen = [false; 41];
        for &(k, r, c, v) in SC_ENTRIES.iter() {
            assert!(r <= c && (c as usize) < MD && v != 0);
            seen[k as usize] = true;
        }
        assert!(!seen[0] && !seen[22]);
        assert!((1..41).filter(|&k| k != 22).all(|k| seen[k]));
        // the diffusion tensor enters as 2 D in the top-left block
        let h: [f64; NP] = std::array::from_fn(|i| (i + 1) as f64);
        let m = lmi(&h, &[0.0; NSLACK]);
        assert_eq!(
            [m[0][0], m[0][1], m[1][1], m[0][2], m[1][2], m[2][2]],
            [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
        );
    }

    /// `fixtures/dipy_dki` random_1 voxel 10 (float32) with CLS as linux-arm64 fits it: the
    /// log-signal by the C library's `logf` (numpy's rule there) instead of numpy's x86 SIMD
    /// kernel, which moves some samples by an ulp. The constrained program then fails at 99 %
    /// steps (see [`STEP_FRACTIONS`]); it must still give the constrained fit, close to the one
    /// x64 finds from its (SIMD-kernel) logarithms.
    #[test]
    fn a_numerical_error_at_full_steps_is_retried_with_shorter_ones() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/dipy_dki/random_1.json"
        );
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let input = &case["input"];
        let nums = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let bvecs: Vec<[f64; 3]> = input["bvecs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let r = nums(r);
                [r[0], r[1], r[2]]
            })
            .collect();
        let b0 = input["b0_threshold"].as_f64().unwrap();
        let gtab =
            crate::gradients::GradientTable::new(&nums(&input["bvals"]), &bvecs, b0, 1e-2).unwrap();
        let model = DkiModel::new(&gtab).unwrap();
        let cls = ClsSetup::new(&model);
        assert_eq!(input["dtype"], "float32");
        let data = nums(&input["data"]);
        let (nvox, v) = (data.len() / model.design().len(), 10);
        let min = crate::fit::MIN_POSITIVE_SIGNAL as f32;
        let y: Vec<f64> = (0..model.design().len())
            .map(|k| ((data[v + nvox * k] as f32).max(min)).ln() as f64)
            .collect();
        let h_ls = model.ols_voxel(&y);
        let (h, status) = cls.constrain(&model, &y, false, &h_ls);
        assert_eq!(status, FitStatus::Constrained);
        // x64's eigenvalues for this voxel (from numpy's logf), from a CLS fit of the fixture
        // there; two constrained fits whose inputs or arithmetic differ in the last bits agree to
        // ~3e-5 (x64 against linux-arm64 over the fixtures), this one to 1.1e-7
        let x64 = [
            1.4038744974801693e-3,
            1.2153066292228062e-3,
            1.0104622272766553e-3,
        ];
        let d = nalgebra::Matrix3::new(h[0], h[1], h[3], h[1], h[2], h[4], h[3], h[4], h[5]);
        let mut ev: Vec<f64> = d.symmetric_eigenvalues().iter().copied().collect();
        ev.sort_by(|a, b| b.total_cmp(a));
        for (got, want) in ev.iter().zip(x64) {
            assert!(
                (got - want).abs() <= 1e-4 * want,
                "eigenvalue {got} vs x64 {want}"
            );
        }
    }

    #[test]
    fn clarabel_with_the_rust_blas_solves_a_small_sdp() {
        // min tr(X) s.t. <[1 2 4; 2 3 5; 4 5 6], X> = 1, X psd (Clarabel's example_sdp)
        let s2 = std::f64::consts::SQRT_2;
        let cols: Vec<Vec<(usize, f64)>> = vec![
            vec![(0, -1.0), (6, 1.0)],
            vec![(1, -s2), (6, 4.0)],
            vec![(2, -1.0), (6, 3.0)],
            vec![(3, -s2), (6, 8.0)],
            vec![(4, -s2), (6, 10.0)],
            vec![(5, -1.0), (6, 6.0)],
        ];
        let a = csc(7, &cols);
        let mut b = vec![0.0; 6];
        b.push(1.0);
        let q = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let (o, x) = solve(
            &q,
            &a,
            &b,
            &[
                SupportedConeT::PSDTriangleConeT(3),
                SupportedConeT::ZeroConeT(1),
            ],
        );
        assert_eq!(o, Outcome::Solution);
        // the optimum is tr(X) = 1 / lambda_max(C) for this objective
        let tr: f64 = x[0] + x[2] + x[5];
        let c = nalgebra::Matrix3::new(1.0, 2.0, 4.0, 2.0, 3.0, 5.0, 4.0, 5.0, 6.0);
        let lmax: f64 = c.symmetric_eigenvalues().max();
        assert!((tr - 1.0 / lmax).abs() < 1e-7, "{tr} vs {}", 1.0 / lmax);
    }
}
