//! The napi binding: converts JS values to kernel types, maps errors, schedules work.
//! No numerics here; every algorithm lives in the kernel crates.
//!
//! Errors cross as `[ERR_CODE] message`; the TypeScript façade turns them into
//! `VoxelkitError { code }`. Every entry runs its kernel inside `catch_panic`, so no Rust panic
//! reaches Node. Voxel data come in through one entry per element type (`…Int16`, `…Float32`, …)
//! chosen by the façade, so no conversion copy is made in JS.

#![deny(clippy::all)]
// napi-derive registers exports only outside `cfg(test)`, so the test build sees them as unused
#![cfg_attr(test, allow(dead_code))]

mod dki;
mod dti;
mod fields;
mod io;
mod owned;
mod radiomics;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use voxelkit_core::error::catch_panic;
use voxelkit_core::{par, Control};

/// Maps a kernel error to a JS error whose message starts with `[ERR_CODE]`.
pub(crate) fn js_err(e: voxelkit_core::Error) -> napi::Error {
    napi::Error::new(Status::GenericFailure, e.to_string())
}

/// Runs a kernel call with panic containment and error mapping.
pub(crate) fn guarded<T>(f: impl FnOnce() -> voxelkit_core::Result<T>) -> napi::Result<T> {
    catch_panic(f).map_err(js_err)
}

/// Converts an optional JS thread count.
pub(crate) fn threads(t: Option<u32>) -> voxelkit_core::Result<Option<usize>> {
    t.map(|n| par::check_threads(n as usize)).transpose()
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
pub fn set_threads(n: u32) -> napi::Result<()> {
    guarded(|| par::set_default_threads(n as usize))
}

/// The default number of threads.
#[napi]
pub fn get_threads() -> u32 {
    par::default_threads() as u32
}

/// Logical cores seen by the process.
#[napi]
pub fn available_threads() -> u32 {
    par::available_threads() as u32
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
