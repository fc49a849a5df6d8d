//! What the BLAS and LAPACK stand-ins share: option characters, the span of a column-major
//! matrix, `c_int` sizes and the symmetric-storage lookup. Compiled into both crates (lapack-src
//! includes this file by path), so that neither provider crate depends on the other.

use std::os::raw::{c_char, c_int};

/// Which triangle of a symmetric matrix is referenced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Uplo {
    Upper,
    Lower,
}

pub fn uplo_of(c: c_char) -> Option<Uplo> {
    match c as u8 {
        b'U' | b'u' => Some(Uplo::Upper),
        b'L' | b'l' => Some(Uplo::Lower),
        _ => None,
    }
}

/// Elements spanned by a column-major `rows x cols` matrix with leading dimension `ld`.
pub fn mat_len(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        ld * (cols - 1) + rows
    }
}

/// Non-negative `c_int` as usize.
#[inline]
pub fn nn(v: c_int) -> Option<usize> {
    usize::try_from(v).ok()
}

/// A leading dimension that is at least max(1, rows).
#[inline]
pub fn ld_ok(ld: c_int, rows: usize) -> Option<usize> {
    nn(ld).filter(|&l| l >= rows.max(1))
}

/// The column-major `rows x cols` matrix at `p` with leading dimension `ld`, as a slice.
///
/// # Safety
/// `p` must point to that many valid elements (see [`mat_len`]), not mutated while the slice
/// lives.
#[inline]
pub unsafe fn mat<'a, T>(p: *const T, rows: usize, cols: usize, ld: usize) -> &'a [T] {
    // SAFETY: the caller's contract
    unsafe { std::slice::from_raw_parts(p, mat_len(rows, cols, ld)) }
}

/// [`mat`], mutable.
///
/// # Safety
/// As for [`mat`], and no other reference to the elements may live meanwhile.
#[inline]
pub unsafe fn mat_mut<'a, T>(p: *mut T, rows: usize, cols: usize, ld: usize) -> &'a mut [T] {
    // SAFETY: the caller's contract
    unsafe { std::slice::from_raw_parts_mut(p, mat_len(rows, cols, ld)) }
}

/// Element (i, j) of a symmetric matrix stored in the `uplo` triangle of `a`.
#[inline]
pub fn sym<T: Copy>(a: &[T], lda: usize, uplo: Uplo, i: usize, j: usize) -> T {
    let (r, c) = match uplo {
        Uplo::Upper if i > j => (j, i),
        Uplo::Lower if i < j => (j, i),
        _ => (i, j),
    };
    a[r + c * lda]
}

/// Deterministic pseudo-random numbers in [-1, 1) for the unit tests.
#[cfg(test)]
pub fn rnd(seed: &mut u64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}
