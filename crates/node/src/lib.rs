//! The napi binding: converts JS values to kernel types, maps errors, schedules work.
//! No numerics here; every algorithm lives in the kernel crates.
//!
//! Shape of every operation: a struct of its converted arguments implements [`Op`] (one
//! `run` that calls the kernel); the two exports `fooSync` and `foo` hand it to [`run_sync`]
//! (on the calling thread) or [`run_async`] (an [`AsyncTask`] on the libuv pool). Voxel data
//! of any element type cross as one [`voxels::VolumeIn`] and come back as one
//! [`voxels::VoxelOut`]; option structs have optional fields that fall back to the kernels'
//! defaults.
//!
//! Errors cross as `[ERR_CODE] message`; the TypeScript façade turns them into
//! `VoxelkitError { code }`. Every kernel call runs inside `catch_panic`, so no Rust panic
//! reaches Node.

#![deny(clippy::all)]
// napi-derive registers exports only outside `cfg(test)`, so the test build sees them as unused
#![cfg_attr(test, allow(dead_code))]

mod dmri;
mod fields;
mod io;
mod owned;
mod radiomics;
mod syn;
mod voxels;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use voxelkit_core::error::catch_panic;
use voxelkit_core::{par, Control, Error};

/// Maps a kernel error to a JS error whose message starts with `[ERR_CODE]`.
pub(crate) fn js_err(e: Error) -> napi::Error {
    napi::Error::new(Status::GenericFailure, e.to_string())
}

/// Runs a kernel call with panic containment and error mapping.
pub(crate) fn guarded<T>(f: impl FnOnce() -> voxelkit_core::Result<T>) -> napi::Result<T> {
    catch_panic(f).map_err(js_err)
}

/// One operation of the binding: its converted arguments and the kernel call they make.
pub trait Op: Send + 'static {
    /// What the kernel returns (moved back to the JS thread).
    type Output: Send + 'static;
    /// Its JS form, converted on the JS thread.
    type Js: ToNapiValue + TypeName + From<Self::Output>;
    /// Calls the kernel (on a worker thread for the async export).
    fn run(&mut self, ctl: &Control) -> voxelkit_core::Result<Self::Output>;
    /// The `threads` option the call gives (`None`: the default count), read before `run`.
    fn threads_arg(&self) -> Option<f64> {
        None
    }
}

/// The async form of an [`Op`].
pub struct Job<O: Op> {
    op: O,
    ctl: Arc<Control>,
}

impl<O: Op> Task for Job<O> {
    type Output = O::Output;
    type JsValue = O::Js;
    fn compute(&mut self) -> napi::Result<O::Output> {
        guarded(|| self.op.run(&self.ctl))
    }
    fn resolve(&mut self, _env: Env, out: O::Output) -> napi::Result<O::Js> {
        Ok(out.into())
    }
}

/// Runs an operation on the calling thread.
pub(crate) fn run_sync<O: Op>(op: O, job: Option<&JobHandle>) -> napi::Result<O::Js> {
    let ctl = control(job);
    let mut op = op;
    guarded(|| op.run(&ctl)).map(Into::into)
}

/// Runs an operation on the libuv pool. The thread pool it will use is built first, here on the
/// JS thread: under WebAssembly (WASI threads) a thread spawned from a worker is started by the
/// main thread, so a pool first built inside the async job and a synchronous call on the main
/// thread that needs the same pool would wait on each other for ever (an invalid count is left
/// for `run` to report).
pub(crate) fn run_async<O: Op>(op: O, job: Option<&JobHandle>) -> AsyncTask<Job<O>> {
    if let Ok(n) = threads(op.threads_arg()) {
        let _ = par::pool(n);
    }
    AsyncTask::new(Job {
        op,
        ctl: control(job),
    })
}

/// Declares the two exports of an [`Op`]: `$name` (async: a Promise, work on the libuv pool,
/// taking a trailing `JobHandle`) and `$sync` (on the calling thread). `$make` builds the op
/// from the arguments as a `napi::Result`. `$out as "ts"` spells out the sync export's
/// TypeScript return type where `$out` is not a type napi-derive knows.
macro_rules! export_op {
    (
        $doc:literal $name:ident / $sync:ident ($($arg:ident: $ty:ty),* $(,)?)
        -> $op:ty, $out:ty $(as $sync_ts:literal)?, $ts:literal = $make:expr
    ) => {
        #[doc = $doc]
        #[napi(ts_return_type = $ts)]
        pub fn $name($($arg: $ty,)* job: Option<&JobHandle>) -> napi::Result<AsyncTask<Job<$op>>> {
            Ok(run_async($make?, job))
        }

        #[doc = $doc]
        #[doc = "(Synchronous twin: blocks the calling thread.)"]
        #[napi($(ts_return_type = $sync_ts)?)]
        pub fn $sync($($arg: $ty),*) -> napi::Result<$out> {
            run_sync($make?, None)
        }
    };
}
pub(crate) use export_op;

/// A JS number that must be an integer from `lo` to `hi` (napi would truncate or wrap it).
pub(crate) fn int_arg(v: f64, name: &str, lo: u64, hi: u64) -> voxelkit_core::Result<usize> {
    if v.fract() == 0.0 && v >= lo as f64 && v <= hi as f64 {
        Ok(v as usize)
    } else {
        Err(Error::setting(format!(
            "{name} must be an integer from {lo} to {hi}, got {v}"
        )))
    }
}

/// A JS number that must be a whole number `>= 0` (napi would truncate or wrap it); the
/// kernel that receives it checks its range.
pub(crate) fn whole(v: f64, name: &str) -> voxelkit_core::Result<usize> {
    int_arg(v, name, 0, 1 << 53)
}

/// An optional thread count (JS number); the range is the kernels' (`par::check_threads`).
pub(crate) fn threads(t: Option<f64>) -> voxelkit_core::Result<Option<usize>> {
    t.map(|n| par::check_threads(whole(n, "threads")?))
        .transpose()
}

/// Cancellation and progress handle shared by the façade and one running call.
#[napi]
pub struct JobHandle {
    pub(crate) ctl: Arc<Control>,
}

#[napi]
impl JobHandle {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        JobHandle {
            ctl: Control::new(),
        }
    }

    /// Requests cancellation; the call stops at the next tile boundary with `ERR_ABORTED`.
    #[napi]
    pub fn cancel(&self) {
        self.ctl.cancel();
    }

    /// `[done, total]` units of work (voxels).
    #[napi]
    pub fn progress(&self) -> Vec<f64> {
        let (d, t) = self.ctl.progress();
        vec![d as f64, t as f64]
    }
}

pub(crate) fn control(job: Option<&JobHandle>) -> Arc<Control> {
    job.map(|j| j.ctl.clone()).unwrap_or_default()
}

/// Sets the default number of threads (0 = all cores).
#[napi]
pub fn set_threads(n: f64) -> napi::Result<()> {
    guarded(|| par::set_default_threads(whole(n, "threads")?))
}

/// The default number of threads.
#[napi]
pub fn get_threads() -> u32 {
    par::default_threads() as u32
}

/// Test hook: whether float32 data are logged with numpy's SIMD kernel on this CPU.
#[napi]
pub fn internal_numpy_simd_logf() -> bool {
    voxelkit_dmri::dti::numpy_uses_simd_logf()
}

/// Test hook: panics inside a worker thread of the pool, to prove containment.
#[napi]
pub fn internal_panic_for_test() -> napi::Result<()> {
    guarded(|| {
        par::for_each_tile(4 * voxelkit_core::TILE, Some(2), &Control::new(), |t, _| {
            if t == 1 {
                panic!("deliberate test panic");
            }
            Ok(())
        })
    })
}

/// Validates a thread count as every call does (an integer from 1 to 1024).
#[napi]
pub fn check_threads(n: f64) -> napi::Result<u32> {
    guarded(|| Ok(threads(Some(n))?.unwrap_or_default() as u32))
}
