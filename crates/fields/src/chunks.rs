//! Fixed-size voxel chunks run on a rayon pool, with per-chunk results kept in chunk order.

use crate::CHUNK;
use rayon::prelude::*;
use std::ops::Range;
use voxelkit_core::{par, Control, Result};

/// Runs `f` over the chunks of `0..n` (boundaries at multiples of [`CHUNK`]) on `pool` and
/// returns the per-chunk results in chunk order. Checks cancellation before each chunk and
/// advances progress by the chunk's voxel count after it.
pub(crate) fn run<R, F>(pool: &rayon::ThreadPool, n: usize, ctl: &Control, f: F) -> Result<Vec<R>>
where
    R: Send,
    F: Fn(Range<usize>) -> Result<R> + Sync + Send,
{
    let nchunks = n.div_ceil(CHUNK);
    let body = |c: usize| -> Result<R> {
        ctl.check()?;
        let r = c * CHUNK..((c + 1) * CHUNK).min(n);
        let len = r.len() as u64;
        let out = f(r)?;
        ctl.advance(len);
        Ok(out)
    };
    if pool.current_num_threads() == 1 {
        pool.install(|| (0..nchunks).map(body).collect())
    } else {
        pool.install(|| (0..nchunks).into_par_iter().map(body).collect())
    }
}

/// The pool for a call.
pub(crate) fn pool(threads: Option<usize>) -> Result<std::sync::Arc<rayon::ThreadPool>> {
    par::pool(threads)
}

/// Raw access to component planes that chunks read and write at their own voxels only.
#[derive(Clone, Copy)]
pub(crate) struct Planes<T, const D: usize> {
    ptr: [*mut T; D],
    len: usize,
}

// SAFETY: every parallel chunk reads and writes only the voxel indices of its own range, and
// ranges of different chunks never overlap (see `run`).
unsafe impl<T: Send, const D: usize> Send for Planes<T, D> {}
unsafe impl<T: Send, const D: usize> Sync for Planes<T, D> {}

impl<T: Copy, const D: usize> Planes<T, D> {
    /// `buf` holds `D` planes of `len` values.
    pub(crate) fn new(buf: &mut [T], len: usize) -> Self {
        assert_eq!(buf.len(), D * len, "plane buffer size");
        let base = buf.as_mut_ptr();
        // SAFETY: c * len <= buf.len() for c < D
        let ptr = std::array::from_fn(|c| unsafe { base.add(c * len) });
        Planes { ptr, len }
    }

    /// `buf` holds `used` (1 to `D`) planes of `len` values; planes `used..D` alias the last
    /// one and must not be written.
    pub(crate) fn new_padded(buf: &mut [T], len: usize, used: usize) -> Self {
        assert!((1..=D).contains(&used), "plane count");
        assert_eq!(buf.len(), used * len, "plane buffer size");
        let base = buf.as_mut_ptr();
        // SAFETY: min(c, used - 1) * len <= buf.len()
        let ptr = std::array::from_fn(|c| unsafe { base.add(c.min(used - 1) * len) });
        Planes { ptr, len }
    }

    /// Checks that a chunk's range lies in the planes (once per chunk, not per voxel).
    #[inline]
    pub(crate) fn check(&self, r: &Range<usize>) {
        assert!(
            r.end <= self.len,
            "chunk {r:?} outside planes of {}",
            self.len
        );
    }

    /// # Safety
    /// `i` lies in a range passed to [`Planes::check`] and owned by the calling chunk.
    #[inline(always)]
    pub(crate) unsafe fn get(&self, c: usize, i: usize) -> T {
        // SAFETY: per the contract, in bounds and not written by another thread
        unsafe { *self.ptr[c].add(i) }
    }

    /// # Safety
    /// As [`Planes::get`].
    #[inline(always)]
    pub(crate) unsafe fn set(&self, c: usize, i: usize, v: T) {
        // SAFETY: per the contract, in bounds and owned by this chunk
        unsafe { *self.ptr[c].add(i) = v }
    }
}

/// A zero-filled buffer of `len` values. On Linux, buffers of 4 MiB and more are advised to use
/// transparent huge pages before their first touch: a field of 1.5 M voxels is 37 MB, and
/// faulting it in 4 KiB pages costs as much as a composition pass.
pub(crate) fn zeroed<T: Copy + Default>(len: usize) -> Vec<T> {
    // `vec![0; n]` of a float type is a calloc: fresh, untouched pages
    let v = vec![T::default(); len];
    #[cfg(target_os = "linux")]
    {
        let bytes = len * std::mem::size_of::<T>();
        if bytes >= 4 << 20 {
            let page = 4096usize;
            let start = v.as_ptr() as usize;
            let a = start.div_ceil(page) * page;
            let end = (start + bytes) / page * page;
            if end > a {
                // SAFETY: advice only, on whole pages inside this allocation; failure is harmless
                unsafe { libc::madvise(a as *mut libc::c_void, end - a, libc::MADV_HUGEPAGE) };
            }
        }
    }
    v
}
