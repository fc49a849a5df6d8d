//! Small dense solves on lanes of [`L`] systems at once (shared by the DTI and DKI fits).

use crate::eig3::{L, V};
use crate::fit::FitStatus;
use voxelkit_core::vmath::exp_in_place;

/// Index of entry (r, c), c <= r, in a packed lower triangle.
#[inline(always)]
pub(crate) const fn pk(r: usize, c: usize) -> usize {
    r * (r + 1) / 2 + c
}

/// Cholesky of the packed lower triangles `a` of L systems of size `N` (`P = N (N + 1) / 2`)
/// and solve. A lane fails when its matrix is not numerically positive definite or when
/// `tr(a) tr(a^-1)` (an upper bound on its condition number) exceeds `cert`; its solution is
/// then meaningless and `ok[l]` is false.
///
/// Written as whole-lane array steps without branches so that it vectorises across lanes;
/// divisions are by the N pivots only (their reciprocals are reused). Every reduction runs in a
/// fixed order per lane, so a lane's result does not depend on the other lanes.
#[inline(always)]
pub(crate) fn cholesky_solve_lanes<const N: usize, const P: usize>(
    a: &[V; P],
    b: &[V; N],
    cert: f64,
) -> ([V; N], [bool; L]) {
    cholesky_solve_refined_lanes(a, b, cert, None::<fn(&[V; N]) -> [V; N]>)
}

/// [`cholesky_solve_lanes`], then, with `refine`, one step of iterative refinement: `refine(x)`
/// gives the right-hand side of the correction (the residual's), solved with the same factor and
/// added to `x` (the same bits as a second [`cholesky_solve_lanes`] of that right-hand side,
/// without factoring again).
#[inline(always)]
pub(crate) fn cholesky_solve_refined_lanes<const N: usize, const P: usize>(
    a: &[V; P],
    b: &[V; N],
    cert: f64,
    refine: Option<impl FnOnce(&[V; N]) -> [V; N]>,
) -> ([V; N], [bool; L]) {
    debug_assert_eq!(P, N * (N + 1) / 2);
    let mut f = *a;
    let mut ok = [true; L];
    let mut tr = [0.0; L];
    for j in 0..N {
        for l in 0..L {
            tr[l] += a[pk(j, j)][l];
        }
    }
    let mut inv = [[0.0; L]; N];
    for j in 0..N {
        let mut d = f[pk(j, j)];
        for k in 0..j {
            let fjk = f[pk(j, k)];
            for l in 0..L {
                d[l] -= fjk[l] * fjk[l];
            }
        }
        for l in 0..L {
            let good = (d[l] > 0.0) & d[l].is_finite();
            ok[l] &= good;
            let lj = (if good { d[l] } else { 1.0 }).sqrt();
            f[pk(j, j)][l] = lj;
            inv[j][l] = 1.0 / lj;
        }
        for i in j + 1..N {
            let mut s = f[pk(i, j)];
            for k in 0..j {
                let (fik, fjk) = (f[pk(i, k)], f[pk(j, k)]);
                for l in 0..L {
                    s[l] -= fik[l] * fjk[l];
                }
            }
            for l in 0..L {
                f[pk(i, j)][l] = s[l] * inv[j][l];
            }
        }
    }
    // tr(a^-1) = |L^-1|_F^2; cond(a) <= tr(a) tr(a^-1)
    let mut linv = [[0.0; L]; P];
    let mut trinv = [0.0; L];
    for i in 0..N {
        linv[pk(i, i)] = inv[i];
        for l in 0..L {
            trinv[l] += inv[i][l] * inv[i][l];
        }
        for j in (0..i).rev() {
            let mut s = [0.0; L];
            for k in j..i {
                let (fik, lkj) = (f[pk(i, k)], linv[pk(k, j)]);
                for l in 0..L {
                    s[l] += fik[l] * lkj[l];
                }
            }
            for l in 0..L {
                let v = -s[l] * inv[i][l];
                linv[pk(i, j)][l] = v;
                trinv[l] += v * v;
            }
        }
    }
    for l in 0..L {
        ok[l] &= tr[l] * trinv[l] < cert;
    }
    let mut x = substitute(&f, &inv, b);
    if let Some(rhs) = refine {
        // the correction for the residual's right-hand side, with the same factor
        let d = substitute(&f, &inv, &rhs(&x));
        for (xi, di) in x.iter_mut().zip(&d) {
            for l in 0..L {
                xi[l] += di[l];
            }
        }
    }
    (x, ok)
}

/// Forward and back substitution with the packed Cholesky factor `f` (reciprocal diagonal `inv`).
#[inline(always)]
fn substitute<const N: usize, const P: usize>(f: &[V; P], inv: &[V; N], b: &[V; N]) -> [V; N] {
    let mut z = [[0.0; L]; N];
    for i in 0..N {
        let mut s = b[i];
        for k in 0..i {
            let fik = f[pk(i, k)];
            for l in 0..L {
                s[l] -= fik[l] * z[k][l];
            }
        }
        for l in 0..L {
            z[i][l] = s[l] * inv[i][l];
        }
    }
    let mut x = [[0.0; L]; N];
    for i in (0..N).rev() {
        let mut s = z[i];
        for k in i + 1..N {
            let fki = f[pk(k, i)];
            for l in 0..L {
                s[l] -= fki[l] * x[k][l];
            }
        }
        for l in 0..L {
            x[i][l] = s[l] * inv[i][l];
        }
    }
    x
}

/// Cholesky solve of the packed lower triangles `a` of `M` 7x7 systems (lanes), with fused
/// multiply-adds and no condition certificate (the non-linear fits' steps). A lane fails
/// (`ok[l]` false, its solution meaningless) when its matrix is not numerically positive
/// definite. Every step is lane-wise, so a lane's bits do not depend on `M` or the other lanes.
#[inline(always)]
pub(crate) fn cholesky_lanes<const M: usize>(
    a: &[[f64; M]; 28],
    b: &[[f64; M]; 7],
) -> ([[f64; M]; 7], [bool; M]) {
    const N: usize = 7;
    let mut f = *a;
    let mut ok = [true; M];
    let mut inv = [[0.0; M]; N];
    for j in 0..N {
        let mut d = f[pk(j, j)];
        for k in 0..j {
            let fjk = f[pk(j, k)];
            for l in 0..M {
                d[l] = (-fjk[l]).mul_add(fjk[l], d[l]);
            }
        }
        for l in 0..M {
            let good = (d[l] > 0.0) & d[l].is_finite();
            ok[l] &= good;
            let lj = (if good { d[l] } else { 1.0 }).sqrt();
            inv[j][l] = 1.0 / lj;
        }
        for i in j + 1..N {
            let mut s = f[pk(i, j)];
            for k in 0..j {
                let (fik, fjk) = (f[pk(i, k)], f[pk(j, k)]);
                for l in 0..M {
                    s[l] = (-fik[l]).mul_add(fjk[l], s[l]);
                }
            }
            for l in 0..M {
                f[pk(i, j)][l] = s[l] * inv[j][l];
            }
        }
    }
    let mut z = [[0.0; M]; N];
    for i in 0..N {
        let mut s = b[i];
        for k in 0..i {
            let fik = f[pk(i, k)];
            for l in 0..M {
                s[l] = (-fik[l]).mul_add(z[k][l], s[l]);
            }
        }
        for l in 0..M {
            z[i][l] = s[l] * inv[i][l];
        }
    }
    let mut x = [[0.0; M]; N];
    for i in (0..N).rev() {
        let mut s = z[i];
        for k in i + 1..N {
            let fki = f[pk(k, i)];
            for l in 0..M {
                s[l] = (-fki[l]).mul_add(x[k][l], s[l]);
            }
        }
        for l in 0..M {
            x[i][l] = s[l] * inv[i][l];
        }
    }
    (x, ok)
}

/// `p[r] = sum_i a[i][r] * y[i]` for L right-hand sides, summed over `i` in order (OLS: `a` is
/// the transposed pseudo-inverse `X^+'`).
#[inline(always)]
pub(crate) fn tmul_lanes<const P: usize>(a: &[[f64; P]], y: &[V]) -> [V; P] {
    let mut p = [[0.0; L]; P];
    for (ar, yi) in a.iter().zip(y) {
        for r in 0..P {
            for l in 0..L {
                p[r][l] += ar[r] * yi[l];
            }
        }
    }
    p
}

/// The squared WLS weights into `w`: the predicted log-signal is `eta = X p0`, DIPY's weights
/// are `exp(eta)` and the normal equations need their squares `exp(2 eta)` (the doubling is
/// exact), computed by `exp_in_place` (about 2 ulp): a relative error e in a weight moves the
/// solution by about e times the normalised residual, so the weights are kept to full precision
/// (`exp_approx_in_place`'s 5e-10 left the fit ~1e-11 from the exact solution of DIPY's problem,
/// farther than DIPY's own float64 answer; `fixtures/dipy_exact`).
#[inline(always)]
pub(crate) fn squared_weights_lanes<const P: usize>(x: &[[f64; P]], p0: &[V; P], w: &mut [V]) {
    for (wi, xi) in w.iter_mut().zip(x) {
        let mut e = [0.0; L];
        for r in 0..P {
            for l in 0..L {
                e[l] += xi[r] * p0[r][l];
            }
        }
        for l in 0..L {
            e[l] += e[l];
        }
        *wi = e;
    }
    exp_in_place(w.as_flattened_mut());
}

/// The parameters of a group solved on unit-norm columns: lanes that [`cholesky_solve_lanes`]
/// certified are unscaled (`p = scale * ps`); the others are solved by `fallback(lane)` and
/// flagged [`FitStatus::PinvFallback`].
#[inline(always)]
pub(crate) fn unscale_or_fallback<const P: usize>(
    ps: &[V; P],
    ok: &[bool; L],
    scale: &[f64; P],
    mut fallback: impl FnMut(usize) -> [f64; P],
) -> ([V; P], [FitStatus; L]) {
    let mut p = [[0.0; L]; P];
    let mut status = [FitStatus::Ok; L];
    for l in 0..L {
        if ok[l] {
            for r in 0..P {
                p[r][l] = ps[r][l] * scale[r];
            }
        } else {
            let q = fallback(l);
            for r in 0..P {
                p[r][l] = q[r];
            }
            status[l] = FitStatus::PinvFallback;
        }
    }
    (p, status)
}
