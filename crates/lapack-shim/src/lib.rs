//! The LAPACK routines that Clarabel's semidefinite cones call, in plain Rust.
//!
//! Stands in for crates.io's `lapack-src` (the root `Cargo.toml` patches it), so the constrained
//! DKI fits need no system LAPACK on any prebuilt target; see crates/blas-shim for the why.
//! Clarabel calls: `?potrf`/`?potrs` (Cholesky factor and solve, lower triangle), `?gesv` (LU
//! solve), `?syevr` (all eigenpairs of a symmetric matrix, upper triangle) and `?gesdd`/`?gesvd`
//! (thin SVD, job 'S'), each after a workspace query (`lwork = -1`).
//!
//! Cholesky and LU are the textbook column algorithms with LAPACK's conventions (`info = j` for a
//! non-positive leading minor / zero pivot, 1-based pivots). The eigen- and singular-value
//! decompositions are nalgebra's (Householder reduction + implicit-shift QR), returned in LAPACK's
//! order (eigenvalues ascending, singular values descending). Inputs with non-finite entries get
//! `info > 0` instead of an iteration that may not end. Bad arguments get LAPACK's negative
//! `info` (the position of the offending argument) and nothing is written; nothing here panics
//! across the C ABI.

#![allow(clippy::missing_safety_doc)]

use nalgebra::{DMatrix, RealField};
use std::os::raw::{c_char, c_int};

#[path = "../../blas-shim/src/abi.rs"]
mod abi;
pub use abi::Uplo;
use abi::{ld_ok, mat, mat_mut, nn, sym, uplo_of};

/// Element types LAPACK is called with.
pub trait Real: RealField + Copy {}
impl Real for f32 {}
impl Real for f64 {}

/// Cholesky factor of the `uplo` triangle of the symmetric `n x n` A, in place (A = L L' or
/// A = U' U). Returns LAPACK's info: 0, or j (1-based) when the leading minor of order j is not
/// positive definite (the factorisation stops there, as LAPACK's does).
pub fn potrf<T: Real>(uplo: Uplo, n: usize, a: &mut [T], lda: usize) -> i32 {
    // Work on the lower triangle; for Upper read/write the transposed position.
    let at = |i: usize, j: usize| match uplo {
        Uplo::Lower => i + j * lda,
        Uplo::Upper => j + i * lda,
    };
    for j in 0..n {
        let mut d = a[at(j, j)];
        for l in 0..j {
            let v = a[at(j, l)];
            d -= v * v;
        }
        if !(d > T::zero()) {
            // NaN lands here too
            return (j + 1) as i32;
        }
        let d = d.sqrt();
        a[at(j, j)] = d;
        for i in j + 1..n {
            let mut s = a[at(i, j)];
            for l in 0..j {
                s -= a[at(i, l)] * a[at(j, l)];
            }
            a[at(i, j)] = s / d;
        }
    }
    0
}

/// Solves A X = B with the factor from [`potrf`]; B is `n x nrhs` (leading dimension ldb).
pub fn potrs<T: Real>(
    uplo: Uplo,
    n: usize,
    nrhs: usize,
    a: &[T],
    lda: usize,
    b: &mut [T],
    ldb: usize,
) {
    let l = |i: usize, j: usize| match uplo {
        Uplo::Lower => a[i + j * lda],
        Uplo::Upper => a[j + i * lda],
    };
    for c in 0..nrhs {
        let x = &mut b[c * ldb..c * ldb + n];
        for i in 0..n {
            let mut s = x[i];
            for k in 0..i {
                s -= l(i, k) * x[k];
            }
            x[i] = s / l(i, i);
        }
        for i in (0..n).rev() {
            let mut s = x[i];
            for k in i + 1..n {
                s -= l(k, i) * x[k];
            }
            x[i] = s / l(i, i);
        }
    }
}

/// LU factorisation with partial pivoting (P A = L U, LAPACK's getrf layout, 1-based pivots in
/// `ipiv`) followed by the solve of A X = B when A is not singular. Returns info: 0, or j when
/// U(j, j) is exactly zero (B is then left unsolved, as LAPACK's gesv does).
pub fn gesv<T: Real>(
    n: usize,
    nrhs: usize,
    a: &mut [T],
    lda: usize,
    ipiv: &mut [i32],
    b: &mut [T],
    ldb: usize,
) -> i32 {
    let mut info = 0;
    for j in 0..n {
        let mut p = j;
        let mut best = a[j + j * lda].abs();
        for i in j + 1..n {
            let v = a[i + j * lda].abs();
            if v > best {
                best = v;
                p = i;
            }
        }
        ipiv[j] = (p + 1) as i32;
        if a[p + j * lda] != T::zero() {
            if p != j {
                for c in 0..n {
                    a.swap(j + c * lda, p + c * lda);
                }
            }
            let piv = a[j + j * lda];
            for i in j + 1..n {
                a[i + j * lda] /= piv;
            }
        } else if info == 0 {
            info = (j + 1) as i32;
        }
        for c in j + 1..n {
            let f = a[j + c * lda];
            if f != T::zero() {
                for i in j + 1..n {
                    let l = a[i + j * lda];
                    a[i + c * lda] -= l * f;
                }
            }
        }
    }
    if info != 0 {
        return info;
    }
    for c in 0..nrhs {
        let x = &mut b[c * ldb..c * ldb + n];
        for j in 0..n {
            let p = (ipiv[j] - 1) as usize;
            x.swap(j, p);
        }
        for i in 0..n {
            let mut s = x[i];
            for k in 0..i {
                s -= a[i + k * lda] * x[k];
            }
            x[i] = s;
        }
        for i in (0..n).rev() {
            let mut s = x[i];
            for k in i + 1..n {
                s -= a[i + k * lda] * x[k];
            }
            x[i] = s / a[i + i * lda];
        }
    }
    0
}

/// Iteration cap for nalgebra's QR sweeps (it converges in a few sweeps per eigenvalue; the cap
/// only turns a pathological input into `info > 0` instead of a long loop).
const MAX_SWEEPS: usize = 10_000;

/// All eigenpairs of the symmetric `n x n` matrix read from its `uplo` triangle, eigenvalues
/// ascending, eigenvectors as the columns of the returned matrix. None when the input has a
/// non-finite entry or the iteration did not converge.
pub fn sym_eigen<T: Real>(
    uplo: Uplo,
    n: usize,
    a: &[T],
    lda: usize,
) -> Option<(Vec<T>, DMatrix<T>)> {
    let m = DMatrix::from_fn(n, n, |i, j| sym(a, lda, uplo, i, j));
    if m.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let e = nalgebra::SymmetricEigen::try_new(m, T::default_epsilon(), MAX_SWEEPS)?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| {
        e.eigenvalues[i]
            .partial_cmp(&e.eigenvalues[j])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let w = order.iter().map(|&i| e.eigenvalues[i]).collect();
    let z = DMatrix::from_fn(n, n, |r, c| e.eigenvectors[(r, order[c])]);
    Some((w, z))
}

/// Thin SVD of the `m x n` matrix: (singular values descending, U `m x k`, V' `k x n`), k =
/// min(m, n). None for non-finite input or no convergence.
pub fn thin_svd<T: Real>(
    m: usize,
    n: usize,
    a: &[T],
    lda: usize,
) -> Option<(Vec<T>, DMatrix<T>, DMatrix<T>)> {
    let mat = DMatrix::from_fn(m, n, |i, j| a[i + j * lda]);
    if mat.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let svd = nalgebra::SVD::try_new_unordered(mat, true, true, T::default_epsilon(), MAX_SWEEPS)?;
    let (u, vt) = (svd.u?, svd.v_t?);
    let k = m.min(n);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&i, &j| {
        svd.singular_values[j]
            .partial_cmp(&svd.singular_values[i])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let s = order.iter().map(|&i| svd.singular_values[i]).collect();
    let u = DMatrix::from_fn(m, k, |r, c| u[(r, order[c])]);
    let vt = DMatrix::from_fn(k, n, |r, c| vt[(order[r], c)]);
    Some((s, u, vt))
}

// ------------------------------------------------------------------------------------------------
// C ABI entries (the declarations of lapack-sys 0.14).
// ------------------------------------------------------------------------------------------------

/// Writes the SVD outputs for job 'S'/'A' (thin when m != n is only allowed for 'S') or 'N'.
unsafe fn svd_entry<T: Real>(
    job_u: u8,
    job_vt: u8,
    m: c_int,
    n: c_int,
    a: *mut T,
    lda: c_int,
    s: *mut T,
    u: *mut T,
    ldu: c_int,
    vt: *mut T,
    ldvt: c_int,
    work: *mut T,
    lwork: c_int,
) -> c_int {
    let norm = |c: u8| c.to_ascii_uppercase();
    let (ju, jv) = (norm(job_u), norm(job_vt));
    let (Some(m), Some(n)) = (nn(m), nn(n)) else {
        return -3;
    };
    let k = m.min(n);
    // 'A' equals 'S' for square matrices; full U/V' of a rectangular matrix is not provided.
    let ok = |j: u8| j == b'S' || j == b'N' || (j == b'A' && m == n);
    if !ok(ju) || !ok(jv) {
        return -1;
    }
    let Some(lda) = ld_ok(lda, m) else {
        return -5;
    };
    let want_u = ju != b'N';
    let want_vt = jv != b'N';
    let ldu = if want_u { ld_ok(ldu, m) } else { Some(1) };
    let ldvt = if want_vt { ld_ok(ldvt, k) } else { Some(1) };
    let (Some(ldu), Some(ldvt)) = (ldu, ldvt) else {
        return -8;
    };
    if lwork == -1 {
        // workspace query: nothing is used, report a small positive size
        // SAFETY: work has at least one element on a query (LAPACK contract).
        unsafe { *work = T::from_usize((m + n).max(1)).unwrap_or_else(T::one) };
        return 0;
    }
    if k == 0 {
        return 0;
    }
    // SAFETY: spans computed from validated sizes and leading dimensions.
    let a = unsafe { mat(a, m, n, lda) };
    let Some((sv, um, vm)) = thin_svd(m, n, a, lda) else {
        return 1;
    };
    // SAFETY: as above; s holds min(m, n) values.
    unsafe {
        std::slice::from_raw_parts_mut(s, k).copy_from_slice(&sv);
        if want_u {
            let u = mat_mut(u, m, k, ldu);
            for c in 0..k {
                for r in 0..m {
                    u[r + c * ldu] = um[(r, c)];
                }
            }
        }
        if want_vt {
            let vt = mat_mut(vt, k, n, ldvt);
            for c in 0..n {
                for r in 0..k {
                    vt[r + c * ldvt] = vm[(r, c)];
                }
            }
        }
    }
    0
}

/// The value of the `Option` `$e`, or a return with `*$info = $pos`: LAPACK's code for a bad
/// argument (minus its position).
macro_rules! arg {
    ($info:ident, $pos:expr, $e:expr) => {
        match $e {
            Some(v) => v,
            None => return *$info = $pos,
        }
    };
}

macro_rules! lapack_entries {
    ($t:ty, $potrf:ident, $potrs:ident, $gesv:ident, $syevr:ident, $gesdd:ident, $gesvd:ident) => {
        #[no_mangle]
        pub unsafe extern "C" fn $potrf(
            uplo: *const c_char,
            n: *const c_int,
            a: *mut $t,
            lda: *const c_int,
            info: *mut c_int,
        ) {
            // SAFETY: Fortran ABI: every argument is a valid pointer.
            unsafe {
                let u = arg!(info, -1, uplo_of(*uplo));
                let n = arg!(info, -2, nn(*n));
                let lda = arg!(info, -4, ld_ok(*lda, n));
                *info = if n == 0 {
                    0
                } else {
                    potrf(u, n, mat_mut(a, n, n, lda), lda)
                };
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $potrs(
            uplo: *const c_char,
            n: *const c_int,
            nrhs: *const c_int,
            a: *const $t,
            lda: *const c_int,
            b: *mut $t,
            ldb: *const c_int,
            info: *mut c_int,
        ) {
            // SAFETY: Fortran ABI; spans from validated sizes.
            unsafe {
                let u = arg!(info, -1, uplo_of(*uplo));
                let n = arg!(info, -2, nn(*n));
                let nrhs = arg!(info, -3, nn(*nrhs));
                let lda = arg!(info, -5, ld_ok(*lda, n));
                let ldb = arg!(info, -7, ld_ok(*ldb, n));
                *info = 0;
                if n == 0 || nrhs == 0 {
                    return;
                }
                let a = mat(a, n, n, lda);
                let b = mat_mut(b, n, nrhs, ldb);
                potrs(u, n, nrhs, a, lda, b, ldb);
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $gesv(
            n: *const c_int,
            nrhs: *const c_int,
            a: *mut $t,
            lda: *const c_int,
            ipiv: *mut c_int,
            b: *mut $t,
            ldb: *const c_int,
            info: *mut c_int,
        ) {
            // SAFETY: Fortran ABI; spans from validated sizes.
            unsafe {
                let n = arg!(info, -1, nn(*n));
                let nrhs = arg!(info, -2, nn(*nrhs));
                let lda = arg!(info, -4, ld_ok(*lda, n));
                let ldb = arg!(info, -7, ld_ok(*ldb, n));
                *info = 0;
                if n == 0 {
                    return;
                }
                let a = mat_mut(a, n, n, lda);
                let ipiv = std::slice::from_raw_parts_mut(ipiv, n);
                let b = mat_mut(b, n, nrhs, ldb);
                *info = gesv(n, nrhs, a, lda, ipiv, b, ldb);
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $syevr(
            jobz: *const c_char,
            range: *const c_char,
            uplo: *const c_char,
            n: *const c_int,
            a: *mut $t,
            lda: *const c_int,
            vl: *const $t,
            vu: *const $t,
            il: *const c_int,
            iu: *const c_int,
            _abstol: *const $t,
            m: *mut c_int,
            w: *mut $t,
            z: *mut $t,
            ldz: *const c_int,
            isuppz: *mut c_int,
            work: *mut $t,
            lwork: *const c_int,
            iwork: *mut c_int,
            liwork: *const c_int,
            info: *mut c_int,
        ) {
            // SAFETY: Fortran ABI; spans from validated sizes.
            unsafe {
                let wantz = match *jobz as u8 {
                    b'V' | b'v' => true,
                    b'N' | b'n' => false,
                    _ => return *info = -1,
                };
                let rng = (*range as u8).to_ascii_uppercase();
                if !matches!(rng, b'A' | b'V' | b'I') {
                    return *info = -2;
                }
                let u = arg!(info, -3, uplo_of(*uplo));
                let nu = arg!(info, -4, nn(*n));
                let lda = arg!(info, -6, ld_ok(*lda, nu));
                let (lo, hi) = (*il, *iu);
                if rng == b'I' && nu > 0 && !(1 <= lo && lo <= hi && hi as usize <= nu) {
                    return *info = -9;
                }
                let ldz_v = nn(*ldz).filter(|&l| l >= if wantz { nu.max(1) } else { 1 });
                let ldz = arg!(info, -15, ldz_v);
                *info = 0;
                if *lwork == -1 || *liwork == -1 {
                    *work = (26 * nu.max(1)) as $t;
                    *iwork = (10 * nu.max(1)) as c_int;
                    return;
                }
                *m = 0;
                if nu == 0 {
                    return;
                }
                let a = mat(a, nu, nu, lda);
                let Some((vals, vecs)) = sym_eigen(u, nu, a, lda) else {
                    return *info = 1;
                };
                let keep: Vec<usize> = (0..nu)
                    .filter(|&i| match rng {
                        b'V' => vals[i] > *vl && vals[i] <= *vu,
                        b'I' => i + 1 >= lo as usize && i < hi as usize,
                        _ => true,
                    })
                    .collect();
                let w = std::slice::from_raw_parts_mut(w, nu);
                for (o, &i) in keep.iter().enumerate() {
                    w[o] = vals[i];
                }
                if wantz && !keep.is_empty() {
                    let z = mat_mut(z, nu, keep.len(), ldz);
                    let isuppz = std::slice::from_raw_parts_mut(isuppz, 2 * keep.len());
                    for (o, &i) in keep.iter().enumerate() {
                        for r in 0..nu {
                            z[r + o * ldz] = vecs[(r, i)];
                        }
                        isuppz[2 * o] = 1;
                        isuppz[2 * o + 1] = nu as c_int;
                    }
                }
                *m = keep.len() as c_int;
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $gesdd(
            jobz: *const c_char,
            m: *const c_int,
            n: *const c_int,
            a: *mut $t,
            lda: *const c_int,
            s: *mut $t,
            u: *mut $t,
            ldu: *const c_int,
            vt: *mut $t,
            ldvt: *const c_int,
            work: *mut $t,
            lwork: *const c_int,
            _iwork: *mut c_int,
            info: *mut c_int,
        ) {
            // SAFETY: Fortran ABI; svd_entry validates sizes before forming slices.
            unsafe {
                let j = *jobz as u8;
                *info = svd_entry(j, j, *m, *n, a, *lda, s, u, *ldu, vt, *ldvt, work, *lwork);
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $gesvd(
            jobu: *const c_char,
            jobvt: *const c_char,
            m: *const c_int,
            n: *const c_int,
            a: *mut $t,
            lda: *const c_int,
            s: *mut $t,
            u: *mut $t,
            ldu: *const c_int,
            vt: *mut $t,
            ldvt: *const c_int,
            work: *mut $t,
            lwork: *const c_int,
            info: *mut c_int,
        ) {
            // SAFETY: Fortran ABI; svd_entry validates sizes before forming slices.
            unsafe {
                *info = svd_entry(
                    *jobu as u8,
                    *jobvt as u8,
                    *m,
                    *n,
                    a,
                    *lda,
                    s,
                    u,
                    *ldu,
                    vt,
                    *ldvt,
                    work,
                    *lwork,
                );
            }
        }
    };
}

lapack_entries!(f64, dpotrf_, dpotrs_, dgesv_, dsyevr_, dgesdd_, dgesvd_);
lapack_entries!(f32, spotrf_, spotrs_, sgesv_, ssyevr_, sgesdd_, sgesvd_);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::rnd;

    /// A random symmetric positive-definite n x n matrix (column-major, ld = n).
    fn spd(seed: &mut u64, n: usize) -> Vec<f64> {
        let g = rnd(seed, n * n);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i + j * n] = (0..n).map(|k| g[i + k * n] * g[j + k * n]).sum::<f64>()
                    + if i == j { 0.5 } else { 0.0 };
            }
        }
        a
    }

    #[test]
    fn cholesky_factor_and_solve_both_triangles() {
        let mut s = 3;
        let n = 7;
        let a = spd(&mut s, n);
        let x0 = rnd(&mut s, n);
        let b0: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| a[i + j * n] * x0[j]).sum())
            .collect();
        for u in [Uplo::Lower, Uplo::Upper] {
            let mut f = a.clone();
            assert_eq!(potrf(u, n, &mut f, n), 0);
            let mut b = b0.clone();
            potrs(u, n, 1, &f, n, &mut b, n);
            for i in 0..n {
                assert!((b[i] - x0[i]).abs() < 1e-10, "{u:?}");
            }
        }
        // an indefinite matrix reports the failing leading minor
        let mut f = a.clone();
        f[2 + 2 * n] = -100.0;
        assert_eq!(potrf(Uplo::Lower, n, &mut f, n), 3);
    }

    #[test]
    fn lu_solve_and_singular() {
        let mut s = 5;
        let n = 6;
        let a = rnd(&mut s, n * n);
        let x0 = rnd(&mut s, n);
        let mut b: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| a[i + j * n] * x0[j]).sum())
            .collect();
        let mut f = a.clone();
        let mut piv = vec![0; n];
        assert_eq!(gesv(n, 1, &mut f, n, &mut piv, &mut b, n), 0);
        for i in 0..n {
            assert!((b[i] - x0[i]).abs() < 1e-9);
        }
        let mut z = vec![0.0; 4];
        z[0] = 1.0;
        let mut b = vec![1.0, 1.0];
        assert_eq!(gesv(2, 1, &mut z, 2, &mut [0, 0], &mut b, 2), 2);
    }

    #[test]
    fn eigen_and_svd_reconstruct_in_lapack_order() {
        let mut s = 9;
        let n = 12;
        let a = spd(&mut s, n);
        let mut g = a.clone();
        for j in 0..n {
            for i in 0..j {
                g[i + j * n] = f64::NAN; // only the lower triangle is read
            }
        }
        let (w, z) = sym_eigen(Uplo::Lower, n, &g, n).unwrap();
        assert!(w.windows(2).all(|p| p[0] <= p[1]));
        for i in 0..n {
            for j in 0..n {
                let r: f64 = (0..n).map(|k| z[(i, k)] * w[k] * z[(j, k)]).sum();
                assert!((r - a[i + j * n]).abs() < 1e-11);
            }
        }
        let (m, nc) = (5, 3);
        let b = rnd(&mut s, m * nc);
        let (sv, u, vt) = thin_svd(m, nc, &b, m).unwrap();
        assert!(sv.windows(2).all(|p| p[0] >= p[1]));
        for i in 0..m {
            for j in 0..nc {
                let r: f64 = (0..nc).map(|k| u[(i, k)] * sv[k] * vt[(k, j)]).sum();
                assert!((r - b[i + j * m]).abs() < 1e-13);
            }
        }
        let mut bad = b.clone();
        bad[3] = f64::INFINITY;
        assert!(thin_svd(m, nc, &bad, m).is_none());
        assert!(sym_eigen(Uplo::Upper, 2, &[f64::NAN, 0.0, 0.0, 1.0], 2).is_none());
    }

    #[test]
    fn c_entries_query_and_argument_errors() {
        let n: c_int = 3;
        let mut a = spd(&mut 1, 3);
        let mut info = 0;
        let mut w = [0.0; 3];
        let mut z = [0.0; 9];
        let mut isuppz = [0; 6];
        let mut work = [0.0; 1];
        let mut iwork = [0; 1];
        let q: c_int = -1;
        let (v, al, up) = (b'V' as c_char, b'A' as c_char, b'U' as c_char);
        // all eigenpairs of the upper triangle of a with the given workspaces: (info, m)
        let mut syevr = |work: &mut [f64], lwork: c_int, iwork: &mut [c_int], liwork: c_int| {
            let (mut m, mut info) = (0, 0);
            unsafe {
                dsyevr_(
                    &v,
                    &al,
                    &up,
                    &n,
                    a.as_mut_ptr(),
                    &n,
                    &0.0,
                    &0.0,
                    &0,
                    &0,
                    &0.0,
                    &mut m,
                    w.as_mut_ptr(),
                    z.as_mut_ptr(),
                    &n,
                    isuppz.as_mut_ptr(),
                    work.as_mut_ptr(),
                    &lwork,
                    iwork.as_mut_ptr(),
                    &liwork,
                    &mut info,
                )
            };
            (info, m)
        };
        let (info_q, _) = syevr(&mut work, q, &mut iwork, q);
        assert_eq!((info_q, work[0], iwork[0]), (0, 78.0, 30));
        let mut work = vec![0.0; 78];
        let mut iwork = vec![0; 30];
        assert_eq!(syevr(&mut work, 78, &mut iwork, 30), (0, 3));
        let bad = b'Q' as c_char;
        unsafe { dpotrf_(&bad, &n, a.as_mut_ptr(), &n, &mut info) };
        assert_eq!(info, -1);
        unsafe { dpotrf_(&up, &n, a.as_mut_ptr(), &1, &mut info) };
        assert_eq!(info, -4);
    }
}
