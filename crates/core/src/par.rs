//! Thread pools, deterministic tiling and cancellation.
//!
//! Kernels split voxels into fixed-size tiles of [`TILE`] voxels. The tile boundaries depend only
//! on the volume size, never on the thread count, and every voxel's result depends only on its
//! own data, so outputs are bitwise identical whatever the number of threads.

use crate::{Error, Result};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Voxels per tile: large enough to amortise scheduling, small enough that a tile's scratch
/// (tile x volumes x f64) stays in L2 and cancellation is checked often.
pub const TILE: usize = 512;

/// Upper bound on threads a caller may request.
pub const MAX_THREADS: usize = 1024;

static DEFAULT_THREADS: AtomicUsize = AtomicUsize::new(0);

fn pools() -> &'static Mutex<HashMap<usize, Arc<rayon::ThreadPool>>> {
    static P: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Number of logical cores seen by the process.
pub fn available_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Validates a thread count (1..=MAX_THREADS).
pub fn check_threads(n: usize) -> Result<usize> {
    if n == 0 || n > MAX_THREADS {
        return Err(Error::setting(format!(
            "threads must be an integer from 1 to {MAX_THREADS}, got {n}"
        )));
    }
    Ok(n)
}

/// Sets the default thread count used when a call gives none (`0` restores "all cores").
pub fn set_default_threads(n: usize) -> Result<()> {
    if n != 0 {
        check_threads(n)?;
    }
    DEFAULT_THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

/// The default thread count.
pub fn default_threads() -> usize {
    match DEFAULT_THREADS.load(Ordering::Relaxed) {
        0 => available_threads(),
        n => n,
    }
}

thread_local! {
    /// The calling thread's own one-thread pool, once [`adopt_calling_thread`] made it.
    static OWN_POOL: std::cell::RefCell<Option<Arc<rayon::ThreadPool>>> =
        const { std::cell::RefCell::new(None) };
}

/// Opt-in for harnesses that make many tiny calls from one thread (the fuzz targets): from now
/// on, calls made on this thread that ask for one thread run on this thread itself, instead of
/// being handed to the shared one-thread pool's worker and back. On a small VM the two
/// cross-thread wake-ups of that handoff cost about as much as a 6 x 6 registration.
///
/// The results are the same (one thread either way; the thread that runs them does not enter
/// the numbers). The calling thread becomes the only worker of a pool of its own (rayon's
/// `use_current_thread`), which rayon never frees: one small registry per adopting thread, so
/// the bindings do not use this. Errors with `ERR_INTERNAL` if the thread already belongs to a
/// rayon pool; a second call on the same thread does nothing.
pub fn adopt_calling_thread() -> Result<()> {
    OWN_POOL.with(|own| {
        let mut own = own.borrow_mut();
        if own.is_none() {
            let p = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .use_current_thread()
                .build()
                .map_err(|e| Error::internal(format!("cannot adopt the calling thread: {e}")))?;
            *own = Some(Arc::new(p));
        }
        Ok(())
    })
}

/// A shared pool with exactly `threads` workers (created once per count and cached), or for
/// one thread on a thread that called [`adopt_calling_thread`], that thread's own pool.
pub fn pool(threads: Option<usize>) -> Result<Arc<rayon::ThreadPool>> {
    let n = check_threads(threads.unwrap_or_else(default_threads))?;
    if n == 1 {
        if let Some(p) = OWN_POOL.with(|own| own.borrow().clone()) {
            return Ok(p);
        }
    }
    if let Some(p) = pools().lock().unwrap_or_else(|e| e.into_inner()).get(&n) {
        return Ok(p.clone());
    }
    // Built without holding the lock: under WebAssembly (WASI threads) a thread spawned from a
    // worker is started by the host's main thread, so a worker holding the lock while it
    // spawns and a synchronous call on the main thread waiting for the lock would deadlock.
    // Two callers may then build the same pool; the first one stored is kept.
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(move |i| format!("voxelkit-{n}-{i}"))
        .build()
        .map_err(|e| Error::internal(format!("cannot create thread pool: {e}")))?;
    let mut map = pools().lock().unwrap_or_else(|e| e.into_inner());
    Ok(map.entry(n).or_insert_with(|| Arc::new(p)).clone())
}

/// Cancellation and progress shared between a running kernel and its caller.
#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
}

impl Control {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
    /// Errors with `ERR_ABORTED` once cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::aborted())
        } else {
            Ok(())
        }
    }
    pub fn set_total(&self, total: u64) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    /// (done, total) units of work.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// Runs `f(tile_index, voxel_range)` over all tiles of `n` voxels on a pool of `threads`
/// workers. Checks cancellation before each tile, reports progress in voxels after each, and
/// returns the first error (or `ERR_ABORTED`). `f` must only write outputs of its own range.
pub fn for_each_tile<F>(n: usize, threads: Option<usize>, ctl: &Control, f: F) -> Result<()>
where
    F: Fn(usize, std::ops::Range<usize>) -> Result<()> + Sync + Send,
{
    let pool = pool(threads)?;
    let ntiles = n.div_ceil(TILE);
    ctl.set_total(n as u64);
    ctl.check()?;
    let body = |t: usize| -> Result<()> {
        ctl.check()?;
        let start = t * TILE;
        let end = (start + TILE).min(n);
        f(t, start..end)?;
        ctl.advance((end - start) as u64);
        Ok(())
    };
    if pool.current_num_threads() == 1 {
        // no task overhead on one thread
        pool.install(|| (0..ntiles).try_for_each(body))
    } else {
        pool.install(|| (0..ntiles).into_par_iter().try_for_each(body))
    }
}

/// A raw pointer to an output buffer that tiles write disjoint ranges of.
///
/// Used so that many output planes (component-major, first axis fastest) can be filled from
/// parallel tiles without splitting each plane into chunk iterators.
#[derive(Clone, Copy)]
pub struct SharedOut<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: `SharedOut` is only used by `for_each_tile` bodies, each of which writes indices that
// belong to its own voxel range; ranges of different tiles never overlap.
unsafe impl<T: Send> Send for SharedOut<T> {}
unsafe impl<T: Send> Sync for SharedOut<T> {}

impl<T: Copy> SharedOut<T> {
    pub fn new(buf: &mut [T]) -> Self {
        SharedOut {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
        }
    }
    /// Writes `v` at `i`.
    ///
    /// # Safety
    /// No other thread may read or write index `i` during the parallel section.
    #[inline(always)]
    pub unsafe fn write(&self, i: usize, v: T) {
        assert!(
            i < self.len,
            "SharedOut index {i} out of bounds {}",
            self.len
        );
        // SAFETY: in bounds (checked above); exclusive per the caller's contract.
        unsafe { *self.ptr.add(i) = v };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_every_voxel_once() {
        let n = 3 * TILE + 17;
        let mut out = vec![0u32; n];
        let o = SharedOut::new(&mut out);
        let ctl = Control::new();
        for_each_tile(n, Some(3), &ctl, |_, r| {
            for i in r {
                unsafe { o.write(i, i as u32 + 1) };
            }
            Ok(())
        })
        .unwrap();
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32 + 1));
        assert_eq!(ctl.progress(), (n as u64, n as u64));
    }

    #[test]
    fn cancelled_control_aborts() {
        let ctl = Control::new();
        ctl.cancel();
        let e = for_each_tile(10, Some(1), &ctl, |_, _| Ok(())).unwrap_err();
        assert_eq!(e.code, crate::Code::Aborted);
    }

    #[test]
    fn adopted_thread_runs_its_own_one_thread_calls() {
        // on a fresh thread: before adopting, a one-thread call runs on the shared pool's
        // worker; after it, on the calling thread itself, and a two-thread call still works
        std::thread::spawn(|| {
            let me = std::thread::current().id();
            let on = |threads| {
                pool(Some(threads))
                    .unwrap()
                    .install(|| std::thread::current().id())
            };
            assert_ne!(on(1), me);
            adopt_calling_thread().unwrap();
            adopt_calling_thread().unwrap(); // a second call does nothing
            assert_eq!(on(1), me);
            assert_ne!(on(2), me);
            let n = 3 * TILE + 5;
            let sum = |threads| {
                let mut out = vec![0u64; n];
                let o = SharedOut::new(&mut out);
                for_each_tile(n, Some(threads), &Control::default(), |t, r| {
                    for i in r {
                        unsafe { o.write(i, (i * t) as u64) };
                    }
                    Ok(())
                })
                .unwrap();
                out
            };
            assert_eq!(sum(1), sum(2));
        })
        .join()
        .unwrap();
        // other threads keep the shared pool
        assert_ne!(
            pool(Some(1))
                .unwrap()
                .install(|| std::thread::current().id()),
            std::thread::current().id()
        );
        // a thread of a rayon pool cannot be adopted
        let e = pool(Some(2))
            .unwrap()
            .install(adopt_calling_thread)
            .unwrap_err();
        assert_eq!(e.code, crate::Code::Internal);
    }

    #[test]
    fn thread_count_checked() {
        assert_eq!(check_threads(0).unwrap_err().code, crate::Code::Setting);
        assert!(check_threads(MAX_THREADS + 1).is_err());
        assert_eq!(check_threads(2).unwrap(), 2);
    }

    #[test]
    fn panics_in_workers_are_caught() {
        let ctl = Control::new();
        let r = crate::error::catch_panic(|| {
            for_each_tile(4 * TILE, Some(2), &ctl, |t, _| {
                if t == 2 {
                    panic!("worker invariant");
                }
                Ok(())
            })
        });
        assert_eq!(r.unwrap_err().code, crate::Code::Internal);
    }
}
