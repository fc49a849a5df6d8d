//! The BLAS level-2/3 routines that Clarabel's semidefinite cones call, in plain Rust.
//!
//! Clarabel (the interior-point solver behind the constrained DKI fits) reaches BLAS through the
//! `blas`/`blas-sys` crates, whose `extern "C"` declarations (`dgemm_`, …) must be provided by a
//! crate named `blas-src`. The usual providers link OpenBLAS, MKL, Accelerate or netlib (Fortran)
//! per platform; this one defines the symbols itself, so the seven prebuilt targets need no system
//! library. The root `Cargo.toml` patches crates.io's `blas-src` with this crate.
//!
//! Semantics are those of the reference BLAS (column-major storage, leading dimensions, only the
//! `uplo` triangle of symmetric operands read or written, `beta == 0` overwrites without reading
//! `C`/`y`). Clarabel uses them on the small dense matrices of a PSD cone (12 x 12 for DKI), so
//! these are straightforward loops. Invalid arguments (negative sizes, leading dimensions too
//! small, unknown option characters) leave the outputs untouched: reference BLAS would call XERBLA
//! and stop the process, which a Node addon must never do. Each `extern "C"` entry checks its
//! arguments before forming any slice from the raw pointers.

#![allow(clippy::missing_safety_doc)]

use std::ops::{Add, Mul};
use std::os::raw::{c_char, c_int};

mod abi;
use abi::{ld_ok, mat, mat_mut, nn, sym};
pub use abi::{mat_len, uplo_of, Uplo};

/// The two element types BLAS is called with.
pub trait Real: Copy + PartialEq + Add<Output = Self> + Mul<Output = Self> {
    const ZERO: Self;
    const ONE: Self;
}
impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
}
impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
}

/// `op(A)` selector of gemm/gemv/syrk/syr2k.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Trans {
    No,
    Yes,
}

pub fn trans_of(c: c_char) -> Option<Trans> {
    match c as u8 {
        b'N' | b'n' => Some(Trans::No),
        b'T' | b't' | b'C' | b'c' => Some(Trans::Yes),
        _ => None,
    }
}

/// Elements spanned by an `n`-vector with stride `inc` (non-zero).
pub fn vec_len(n: usize, inc: isize) -> usize {
    if n == 0 {
        0
    } else {
        1 + (n - 1) * inc.unsigned_abs()
    }
}

/// Index of element `i` of a strided vector (reference BLAS: negative strides start at the end).
#[inline]
fn vidx(i: usize, n: usize, inc: isize) -> usize {
    if inc > 0 {
        i * inc as usize
    } else {
        (n - 1 - i) * inc.unsigned_abs()
    }
}

/// Element (i, l) of op(A) for the column-major A with leading dimension `lda`.
#[inline]
fn op<T: Real>(a: &[T], lda: usize, t: Trans, i: usize, l: usize) -> T {
    if t == Trans::No {
        a[i + l * lda]
    } else {
        a[l + i * lda]
    }
}

/// `*dst = alpha * s() + beta * *dst`, the update that gemv, symv, syrk and syr2k end with:
/// `beta == 0` does not read `dst` (it may hold NaN), `alpha == 0` does not form the sum.
#[inline]
fn update<T: Real>(dst: &mut T, alpha: T, beta: T, s: impl FnOnce() -> T) {
    let old = if beta == T::ZERO {
        T::ZERO
    } else {
        beta * *dst
    };
    *dst = if alpha == T::ZERO {
        old
    } else {
        alpha * s() + old
    };
}

/// C = alpha op(A) op(B) + beta C, with C `m x n` and inner dimension `k`.
///
/// Each case runs its innermost loop over contiguous memory: columns of A for `A * B`, rows of
/// A' (columns of A) for `A' * B` and `A' * B'`.
pub fn gemm<T: Real>(
    ta: Trans,
    tb: Trans,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    b: &[T],
    ldb: usize,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    if m == 0 || n == 0 || ((alpha == T::ZERO || k == 0) && beta == T::ONE) {
        return;
    }
    for j in 0..n {
        let cj = &mut c[j * ldc..j * ldc + m];
        if beta == T::ZERO {
            cj.iter_mut().for_each(|x| *x = T::ZERO);
        } else if beta != T::ONE {
            cj.iter_mut().for_each(|x| *x = beta * *x);
        }
        if alpha == T::ZERO {
            continue;
        }
        let blj = |l: usize| op(b, ldb, tb, l, j);
        match ta {
            Trans::No => {
                // C[:, j] += sum_l (alpha B[l, j]) A[:, l]
                for l in 0..k {
                    let f = alpha * blj(l);
                    let al = &a[l * lda..l * lda + m];
                    for (x, &y) in cj.iter_mut().zip(al) {
                        *x = *x + f * y;
                    }
                }
            }
            Trans::Yes => {
                // C[i, j] += alpha * dot(A[:, i], B[:, j])
                for (i, x) in cj.iter_mut().enumerate() {
                    let ai = &a[i * lda..i * lda + k];
                    let mut s = T::ZERO;
                    for (l, &y) in ai.iter().enumerate() {
                        s = s + y * blj(l);
                    }
                    *x = *x + alpha * s;
                }
            }
        }
    }
}

/// y = alpha op(A) x + beta y, with A `m x n`.
pub fn gemv<T: Real>(
    t: Trans,
    m: usize,
    n: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    x: &[T],
    incx: isize,
    beta: T,
    y: &mut [T],
    incy: isize,
) {
    let (leny, lenx) = if t == Trans::No { (m, n) } else { (n, m) };
    if m == 0 || n == 0 || (alpha == T::ZERO && beta == T::ONE) {
        return;
    }
    for r in 0..leny {
        update(&mut y[vidx(r, leny, incy)], alpha, beta, || {
            (0..lenx).fold(T::ZERO, |s, q| {
                s + op(a, lda, t, r, q) * x[vidx(q, lenx, incx)]
            })
        });
    }
}

/// y = alpha A x + beta y, with A symmetric `n x n` read from its `uplo` triangle.
pub fn symv<T: Real>(
    uplo: Uplo,
    n: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    x: &[T],
    incx: isize,
    beta: T,
    y: &mut [T],
    incy: isize,
) {
    if n == 0 || (alpha == T::ZERO && beta == T::ONE) {
        return;
    }
    for r in 0..n {
        update(&mut y[vidx(r, n, incy)], alpha, beta, || {
            (0..n).fold(T::ZERO, |s, q| {
                s + sym(a, lda, uplo, r, q) * x[vidx(q, n, incx)]
            })
        });
    }
}

/// The `uplo` triangle of the `n x n` C: (i, j) pairs visited.
fn triangle(uplo: Uplo, n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).flat_map(move |j| {
        let (lo, hi) = match uplo {
            Uplo::Upper => (0, j + 1),
            Uplo::Lower => (j, n),
        };
        (lo..hi).map(move |i| (i, j))
    })
}

/// C = alpha S + beta C on the `uplo` triangle of the `n x n` C, with S(i, j) = `sum(i, j)` (a sum
/// over the inner dimension `k`): the common part of syrk and syr2k.
fn triangle_update<T: Real>(
    uplo: Uplo,
    n: usize,
    k: usize,
    alpha: T,
    beta: T,
    c: &mut [T],
    ldc: usize,
    sum: impl Fn(usize, usize) -> T,
) {
    if n == 0 || ((alpha == T::ZERO || k == 0) && beta == T::ONE) {
        return;
    }
    for (i, j) in triangle(uplo, n) {
        update(&mut c[i + j * ldc], alpha, beta, || sum(i, j));
    }
}

/// C = alpha A A' + beta C (`Trans::No`, A `n x k`) or alpha A' A + beta C (`Trans::Yes`, A
/// `k x n`); only the `uplo` triangle of C is referenced.
pub fn syrk<T: Real>(
    uplo: Uplo,
    t: Trans,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    triangle_update(uplo, n, k, alpha, beta, c, ldc, |i, j| {
        (0..k).fold(T::ZERO, |s, l| {
            s + op(a, lda, t, i, l) * op(a, lda, t, j, l)
        })
    });
}

/// C = alpha (A B' + B A') + beta C (`Trans::No`, A and B `n x k`) or alpha (A' B + B' A) + beta C
/// (`Trans::Yes`, `k x n`); only the `uplo` triangle of C is referenced.
pub fn syr2k<T: Real>(
    uplo: Uplo,
    t: Trans,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    b: &[T],
    ldb: usize,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    let at = |i: usize, l: usize| op(a, lda, t, i, l);
    let bt = |i: usize, l: usize| op(b, ldb, t, i, l);
    triangle_update(uplo, n, k, alpha, beta, c, ldc, |i, j| {
        (0..k).fold(T::ZERO, |s, l| {
            s + at(i, l) * bt(j, l) + bt(i, l) * at(j, l)
        })
    });
}

// ------------------------------------------------------------------------------------------------
// C ABI entries (the declarations of blas-sys 0.7). Sizes and leading dimensions are validated
// before any slice is formed; invalid calls return without touching memory.
// ------------------------------------------------------------------------------------------------

#[inline]
fn inc_ok(inc: c_int) -> Option<isize> {
    (inc != 0).then_some(inc as isize)
}

macro_rules! blas_entries {
    ($t:ty, $gemm:ident, $gemv:ident, $symv:ident, $syrk:ident, $syr2k:ident) => {
        #[no_mangle]
        pub unsafe extern "C" fn $gemm(
            transa: *const c_char,
            transb: *const c_char,
            m: *const c_int,
            n: *const c_int,
            k: *const c_int,
            alpha: *const $t,
            a: *const $t,
            lda: *const c_int,
            b: *const $t,
            ldb: *const c_int,
            beta: *const $t,
            c: *mut $t,
            ldc: *const c_int,
        ) {
            // SAFETY: the caller passes valid pointers to scalars as the Fortran ABI requires.
            let (ta, tb, m, n, k) =
                unsafe { (trans_of(*transa), trans_of(*transb), nn(*m), nn(*n), nn(*k)) };
            let (Some(ta), Some(tb), Some(m), Some(n), Some(k)) = (ta, tb, m, n, k) else {
                return;
            };
            let (ar, ac) = if ta == Trans::No { (m, k) } else { (k, m) };
            let (br, bc) = if tb == Trans::No { (k, n) } else { (n, k) };
            // SAFETY: as above.
            let (lda, ldb, ldc) = unsafe { (ld_ok(*lda, ar), ld_ok(*ldb, br), ld_ok(*ldc, m)) };
            let (Some(lda), Some(ldb), Some(ldc)) = (lda, ldb, ldc) else {
                return;
            };
            if m == 0 || n == 0 {
                return;
            }
            // SAFETY: the matrices span the lengths computed from the validated sizes.
            unsafe {
                let a = mat(a, ar, ac, lda);
                let b = mat(b, br, bc, ldb);
                let c = mat_mut(c, m, n, ldc);
                gemm(ta, tb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $gemv(
            trans: *const c_char,
            m: *const c_int,
            n: *const c_int,
            alpha: *const $t,
            a: *const $t,
            lda: *const c_int,
            x: *const $t,
            incx: *const c_int,
            beta: *const $t,
            y: *mut $t,
            incy: *const c_int,
        ) {
            // SAFETY: scalar arguments are valid pointers (Fortran ABI).
            let (t, m, n, incx, incy) = unsafe {
                (
                    trans_of(*trans),
                    nn(*m),
                    nn(*n),
                    inc_ok(*incx),
                    inc_ok(*incy),
                )
            };
            let (Some(t), Some(m), Some(n), Some(incx), Some(incy)) = (t, m, n, incx, incy) else {
                return;
            };
            // SAFETY: as above.
            let Some(lda) = (unsafe { ld_ok(*lda, m) }) else {
                return;
            };
            if m == 0 || n == 0 {
                return;
            }
            let (leny, lenx) = if t == Trans::No { (m, n) } else { (n, m) };
            // SAFETY: spans computed from the validated sizes and strides.
            unsafe {
                let a = mat(a, m, n, lda);
                let x = std::slice::from_raw_parts(x, vec_len(lenx, incx));
                let y = std::slice::from_raw_parts_mut(y, vec_len(leny, incy));
                gemv(t, m, n, *alpha, a, lda, x, incx, *beta, y, incy);
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $symv(
            uplo: *const c_char,
            n: *const c_int,
            alpha: *const $t,
            a: *const $t,
            lda: *const c_int,
            x: *const $t,
            incx: *const c_int,
            beta: *const $t,
            y: *mut $t,
            incy: *const c_int,
        ) {
            // SAFETY: scalar arguments are valid pointers (Fortran ABI).
            let (u, n, incx, incy) =
                unsafe { (uplo_of(*uplo), nn(*n), inc_ok(*incx), inc_ok(*incy)) };
            let (Some(u), Some(n), Some(incx), Some(incy)) = (u, n, incx, incy) else {
                return;
            };
            // SAFETY: as above.
            let Some(lda) = (unsafe { ld_ok(*lda, n) }) else {
                return;
            };
            if n == 0 {
                return;
            }
            // SAFETY: spans computed from the validated sizes and strides.
            unsafe {
                let a = mat(a, n, n, lda);
                let x = std::slice::from_raw_parts(x, vec_len(n, incx));
                let y = std::slice::from_raw_parts_mut(y, vec_len(n, incy));
                symv(u, n, *alpha, a, lda, x, incx, *beta, y, incy);
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $syrk(
            uplo: *const c_char,
            trans: *const c_char,
            n: *const c_int,
            k: *const c_int,
            alpha: *const $t,
            a: *const $t,
            lda: *const c_int,
            beta: *const $t,
            c: *mut $t,
            ldc: *const c_int,
        ) {
            // SAFETY: scalar arguments are valid pointers (Fortran ABI).
            let (u, t, n, k) = unsafe { (uplo_of(*uplo), trans_of(*trans), nn(*n), nn(*k)) };
            let (Some(u), Some(t), Some(n), Some(k)) = (u, t, n, k) else {
                return;
            };
            let (ar, ac) = if t == Trans::No { (n, k) } else { (k, n) };
            // SAFETY: as above.
            let (lda, ldc) = unsafe { (ld_ok(*lda, ar), ld_ok(*ldc, n)) };
            let (Some(lda), Some(ldc)) = (lda, ldc) else {
                return;
            };
            if n == 0 {
                return;
            }
            // SAFETY: spans computed from the validated sizes.
            unsafe {
                let a = mat(a, ar, ac, lda);
                let c = mat_mut(c, n, n, ldc);
                syrk(u, t, n, k, *alpha, a, lda, *beta, c, ldc);
            }
        }

        #[no_mangle]
        pub unsafe extern "C" fn $syr2k(
            uplo: *const c_char,
            trans: *const c_char,
            n: *const c_int,
            k: *const c_int,
            alpha: *const $t,
            a: *const $t,
            lda: *const c_int,
            b: *const $t,
            ldb: *const c_int,
            beta: *const $t,
            c: *mut $t,
            ldc: *const c_int,
        ) {
            // SAFETY: scalar arguments are valid pointers (Fortran ABI).
            let (u, t, n, k) = unsafe { (uplo_of(*uplo), trans_of(*trans), nn(*n), nn(*k)) };
            let (Some(u), Some(t), Some(n), Some(k)) = (u, t, n, k) else {
                return;
            };
            let (ar, ac) = if t == Trans::No { (n, k) } else { (k, n) };
            // SAFETY: as above.
            let (lda, ldb, ldc) = unsafe { (ld_ok(*lda, ar), ld_ok(*ldb, ar), ld_ok(*ldc, n)) };
            let (Some(lda), Some(ldb), Some(ldc)) = (lda, ldb, ldc) else {
                return;
            };
            if n == 0 {
                return;
            }
            // SAFETY: spans computed from the validated sizes.
            unsafe {
                let a = mat(a, ar, ac, lda);
                let b = mat(b, ar, ac, ldb);
                let c = mat_mut(c, n, n, ldc);
                syr2k(u, t, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
            }
        }
    };
}

blas_entries!(f64, dgemm_, dgemv_, dsymv_, dsyrk_, dsyr2k_);
blas_entries!(f32, sgemm_, sgemv_, ssymv_, ssyrk_, ssyr2k_);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::rnd;

    /// Dense column-major `r x c` matrix with leading dimension `ld` from a generator.
    fn get(a: &[f64], ld: usize, i: usize, j: usize) -> f64 {
        a[i + j * ld]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-13 * (1.0 + b.abs())
    }

    #[test]
    fn gemm_all_transposes_against_definition() {
        let mut s = 7;
        let (m, n, k, lda, ldb, ldc) = (5, 4, 3, 7, 6, 6);
        for (ta, tb) in [
            (Trans::No, Trans::No),
            (Trans::Yes, Trans::No),
            (Trans::No, Trans::Yes),
            (Trans::Yes, Trans::Yes),
        ] {
            let a = rnd(&mut s, lda * 7);
            let b = rnd(&mut s, ldb * 7);
            let c0 = rnd(&mut s, ldc * n);
            let mut c = c0.clone();
            gemm(ta, tb, m, n, k, 0.7, &a, lda, &b, ldb, -1.3, &mut c, ldc);
            for j in 0..n {
                for i in 0..m {
                    let mut want = -1.3 * get(&c0, ldc, i, j);
                    for l in 0..k {
                        let av = if ta == Trans::No {
                            get(&a, lda, i, l)
                        } else {
                            get(&a, lda, l, i)
                        };
                        let bv = if tb == Trans::No {
                            get(&b, ldb, l, j)
                        } else {
                            get(&b, ldb, j, l)
                        };
                        want += 0.7 * av * bv;
                    }
                    assert!(close(c[i + j * ldc], want), "{ta:?}{tb:?} ({i},{j})");
                }
                // rows beyond m untouched (leading dimension padding)
                for i in m..ldc {
                    assert_eq!(c[i + j * ldc], c0[i + j * ldc]);
                }
            }
        }
        // beta = 0 overwrites NaN garbage in C
        let a = rnd(&mut s, 9);
        let mut c = vec![f64::NAN; 9];
        gemm(
            Trans::No,
            Trans::No,
            3,
            3,
            3,
            1.0,
            &a,
            3,
            &a,
            3,
            0.0,
            &mut c,
            3,
        );
        assert!(c.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn gemv_symv_with_strides() {
        let mut s = 11;
        let (m, n, lda) = (4, 3, 5);
        let a = rnd(&mut s, lda * n);
        for t in [Trans::No, Trans::Yes] {
            let (leny, lenx) = if t == Trans::No { (m, n) } else { (n, m) };
            for (incx, incy) in [(1isize, 1isize), (2, 3), (-1, 2), (1, -2)] {
                let x = rnd(&mut s, vec_len(lenx, incx));
                let y0 = rnd(&mut s, vec_len(leny, incy));
                let mut y = y0.clone();
                gemv(t, m, n, 1.5, &a, lda, &x, incx, 0.5, &mut y, incy);
                for r in 0..leny {
                    let mut want = 0.5 * y0[vidx(r, leny, incy)];
                    for q in 0..lenx {
                        let arq = if t == Trans::No {
                            get(&a, lda, r, q)
                        } else {
                            get(&a, lda, q, r)
                        };
                        want += 1.5 * arq * x[vidx(q, lenx, incx)];
                    }
                    assert!(close(y[vidx(r, leny, incy)], want));
                }
            }
        }
        // symv reads only its triangle: poison the other one
        let n = 4;
        let full = rnd(&mut s, 16);
        let symm = |i: usize, j: usize| full[i.min(j) + i.max(j) * 4];
        for u in [Uplo::Upper, Uplo::Lower] {
            let mut a = vec![f64::NAN; 16];
            for j in 0..n {
                for i in 0..n {
                    if (u == Uplo::Upper && i <= j) || (u == Uplo::Lower && i >= j) {
                        a[i + j * 4] = symm(i, j);
                    }
                }
            }
            let x = rnd(&mut s, n);
            let mut y = vec![f64::NAN; n];
            symv(u, n, 2.0, &a, 4, &x, 1, 0.0, &mut y, 1);
            for i in 0..n {
                let want: f64 = (0..n).map(|j| 2.0 * symm(i, j) * x[j]).sum();
                assert!(close(y[i], want));
            }
        }
    }

    #[test]
    fn syrk_syr2k_touch_only_their_triangle() {
        let mut s = 13;
        let (n, k, ld) = (4, 3, 5);
        for u in [Uplo::Upper, Uplo::Lower] {
            for t in [Trans::No, Trans::Yes] {
                let a = rnd(&mut s, ld * 5);
                let b = rnd(&mut s, ld * 5);
                let at = |m: &[f64], i: usize, l: usize| {
                    if t == Trans::No {
                        m[i + l * ld]
                    } else {
                        m[l + i * ld]
                    }
                };
                let c0 = rnd(&mut s, ld * n);
                let mut c1 = c0.clone();
                let mut c2 = c0.clone();
                syrk(u, t, n, k, 0.3, &a, ld, 2.0, &mut c1, ld);
                syr2k(u, t, n, k, 0.3, &a, ld, &b, ld, 2.0, &mut c2, ld);
                for j in 0..n {
                    for i in 0..ld {
                        let inside =
                            i < n && ((u == Uplo::Upper && i <= j) || (u == Uplo::Lower && i >= j));
                        if !inside {
                            assert_eq!(c1[i + j * ld], c0[i + j * ld]);
                            assert_eq!(c2[i + j * ld], c0[i + j * ld]);
                            continue;
                        }
                        let w1: f64 = 2.0 * c0[i + j * ld]
                            + (0..k)
                                .map(|l| 0.3 * at(&a, i, l) * at(&a, j, l))
                                .sum::<f64>();
                        let w2: f64 = 2.0 * c0[i + j * ld]
                            + (0..k)
                                .map(|l| {
                                    0.3 * (at(&a, i, l) * at(&b, j, l)
                                        + at(&b, i, l) * at(&a, j, l))
                                })
                                .sum::<f64>();
                        assert!(close(c1[i + j * ld], w1) && close(c2[i + j * ld], w2));
                    }
                }
            }
        }
    }

    #[test]
    fn c_entries_reject_bad_arguments_without_touching_memory() {
        let a = [1.0f64; 4];
        let mut c = [5.0f64; 4];
        let (two, bad, one) = (2 as c_int, 1 as c_int, 1.0f64);
        let (n, t) = (b'N' as c_char, b'X' as c_char);
        // C = A A + C, 2 x 2, with the given transpose character of A and leading dimension of A
        let call = |ta: &c_char, lda: &c_int, c: &mut [f64; 4]| unsafe {
            dgemm_(
                ta,
                &n,
                &two,
                &two,
                &two,
                &one,
                a.as_ptr(),
                lda,
                a.as_ptr(),
                &two,
                &one,
                c.as_mut_ptr(),
                &two,
            )
        };
        // lda = 1 < m = 2, then an unknown transpose character
        call(&n, &bad, &mut c);
        call(&t, &two, &mut c);
        assert_eq!(c, [5.0; 4]);
        call(&n, &two, &mut c);
        assert_eq!(c, [7.0; 4]);
    }
}
