//! DKI fit, kurtosis maps and prediction.

use crate::dti::{gtab, GradientsIn, PhantomOut};
use crate::owned::Out;
use crate::{control, guarded, threads, JobHandle};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use voxelkit_core::Control;
use voxelkit_dmri::dki_maps::{kurtosis_map, KurtosisMap};
use voxelkit_dmri::dki_predict::predict_dki_into;
use voxelkit_dmri::predict::S0;
use voxelkit_dmri::{fit_dki, DkiFit, DkiOptions};

#[napi(object)]
pub struct DkiOptionsIn {
    /// 'WLS' or 'OLS' (and DIPY's aliases).
    pub method: String,
    pub min_signal: Option<f64>,
    pub return_s0: bool,
    pub threads: Option<u32>,
}

/// Outputs are engine-owned arrays ([`Out`]): freed by GC, also in synchronous loops.
#[napi(object, object_from_js = false)]
pub struct DkiFitOut {
    #[napi(ts_type = "Float64Array")]
    pub evals: Out<f64>,
    #[napi(ts_type = "Float64Array")]
    pub evecs: Out<f64>,
    #[napi(ts_type = "Float64Array")]
    pub kt: Out<f64>,
    #[napi(ts_type = "Float64Array")]
    pub s0: Option<Out<f64>>,
    #[napi(ts_type = "Uint8Array")]
    pub status: Out<u8>,
}

impl From<DkiFit> for DkiFitOut {
    fn from(f: DkiFit) -> Self {
        DkiFitOut {
            evals: Out(f.evals),
            evecs: Out(f.evecs),
            kt: Out(f.kt),
            s0: f.s0.map(Out),
            status: Out(f.status),
        }
    }
}

fn fit_impl<T: voxelkit_core::Sample>(
    data: &[T],
    nvox: u32,
    g: &GradientsIn,
    mask: Option<&[u8]>,
    o: &DkiOptionsIn,
    ctl: &Control,
) -> voxelkit_core::Result<DkiFit> {
    let opts = DkiOptions {
        method: o.method.parse()?,
        min_signal: o.min_signal,
        return_s0: o.return_s0,
        threads: threads(o.threads)?,
        ..Default::default()
    };
    fit_dki(data, nvox as usize, &gtab(g)?, mask, &opts, ctl)
}

macro_rules! fit_dki_entry {
    ($arr:ident, $task:ident, $sync:ident, $asyn:ident) => {
        pub struct $task {
            data: $arr,
            nvox: u32,
            g: GradientsIn,
            mask: Option<Uint8Array>,
            o: DkiOptionsIn,
            ctl: Arc<Control>,
        }

        impl Task for $task {
            type Output = DkiFit;
            type JsValue = DkiFitOut;
            fn compute(&mut self) -> napi::Result<DkiFit> {
                guarded(|| {
                    fit_impl(
                        &self.data,
                        self.nvox,
                        &self.g,
                        self.mask.as_deref(),
                        &self.o,
                        &self.ctl,
                    )
                })
            }
            fn resolve(&mut self, _env: Env, out: DkiFit) -> napi::Result<DkiFitOut> {
                Ok(out.into())
            }
        }

        #[napi]
        pub fn $sync(
            data: $arr,
            nvox: u32,
            g: GradientsIn,
            mask: Option<Uint8Array>,
            o: DkiOptionsIn,
            job: Option<&JobHandle>,
        ) -> napi::Result<DkiFitOut> {
            let ctl = control(job);
            guarded(|| fit_impl(&data, nvox, &g, mask.as_deref(), &o, &ctl)).map(Into::into)
        }

        #[napi]
        pub fn $asyn(
            data: $arr,
            nvox: u32,
            g: GradientsIn,
            mask: Option<Uint8Array>,
            o: DkiOptionsIn,
            job: Option<&JobHandle>,
        ) -> AsyncTask<$task> {
            AsyncTask::new($task {
                data,
                nvox,
                g,
                mask,
                o,
                ctl: control(job),
            })
        }
    };
}

fit_dki_entry!(
    Uint8Array,
    FitDkiUint8Task,
    fit_dki_uint8_sync,
    fit_dki_uint8
);
fit_dki_entry!(
    Int16Array,
    FitDkiInt16Task,
    fit_dki_int16_sync,
    fit_dki_int16
);
fit_dki_entry!(
    Uint16Array,
    FitDkiUint16Task,
    fit_dki_uint16_sync,
    fit_dki_uint16
);
fit_dki_entry!(
    Int32Array,
    FitDkiInt32Task,
    fit_dki_int32_sync,
    fit_dki_int32
);
fit_dki_entry!(
    Float32Array,
    FitDkiFloat32Task,
    fit_dki_float32_sync,
    fit_dki_float32
);
fit_dki_entry!(
    Float64Array,
    FitDkiFloat64Task,
    fit_dki_float64_sync,
    fit_dki_float64
);

/// A kurtosis map ('mk', 'ak', 'rk', 'mkt', 'rtk', 'kfa') from component-major parameters,
/// clipped to `[minKurtosis, maxKurtosis]` (KFA is never clipped); `analytical = false` picks
/// DIPY's numerical estimators of MK, AK and RK.
#[napi(ts_return_type = "Float64Array")]
pub fn dki_kurtosis_map(
    name: String,
    evals: Float64Array,
    evecs: Float64Array,
    kt: Float64Array,
    min_kurtosis: f64,
    max_kurtosis: f64,
    analytical: bool,
) -> napi::Result<Out<f64>> {
    guarded(|| {
        let m: KurtosisMap = name.parse()?;
        kurtosis_map(
            m,
            analytical,
            &evals,
            &evecs,
            &kt,
            min_kurtosis,
            max_kurtosis,
        )
        .map(Out)
    })
}

pub struct DkiPredictTask {
    evals: Float64Array,
    evecs: Float64Array,
    kt: Float64Array,
    g: GradientsIn,
    s0_scalar: f64,
    s0_volume: Option<Float64Array>,
    threads: Option<u32>,
    ctl: Arc<Control>,
    out: Float64Array,
}

fn predict_impl(t: &mut DkiPredictTask) -> voxelkit_core::Result<()> {
    let s0 = match &t.s0_volume {
        Some(v) => S0::PerVoxel(v),
        None => S0::Scalar(t.s0_scalar),
    };
    let g = gtab(&t.g)?;
    let th = threads(t.threads)?;
    // SAFETY: `out` is allocated by the façade for this call and not visible to user code
    // until the call returns (sync) or its promise settles (async); nothing else touches it.
    let out = unsafe { t.out.as_mut() };
    predict_dki_into(&t.evals, &t.evecs, &t.kt, &g, s0, th, &t.ctl, out)
}

impl Task for DkiPredictTask {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> napi::Result<()> {
        guarded(|| predict_impl(self))
    }
    fn resolve(&mut self, _env: Env, _out: ()) -> napi::Result<()> {
        Ok(())
    }
}

/// Predicted DKI signal written into `out` (volume-major `[nvox * nvol]`, allocated by the
/// caller so the engine owns it). `s0Volume` wins over `s0Scalar`.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn dki_predict_sync(
    evals: Float64Array,
    evecs: Float64Array,
    kt: Float64Array,
    g: GradientsIn,
    s0_scalar: f64,
    s0_volume: Option<Float64Array>,
    threads: Option<u32>,
    out: Float64Array,
    job: Option<&JobHandle>,
) -> napi::Result<()> {
    let mut t = DkiPredictTask {
        evals,
        evecs,
        kt,
        g,
        s0_scalar,
        s0_volume,
        threads,
        ctl: control(job),
        out,
    };
    guarded(|| predict_impl(&mut t))
}

#[napi]
#[allow(clippy::too_many_arguments)]
pub fn dki_predict(
    evals: Float64Array,
    evecs: Float64Array,
    kt: Float64Array,
    g: GradientsIn,
    s0_scalar: f64,
    s0_volume: Option<Float64Array>,
    threads: Option<u32>,
    out: Float64Array,
    job: Option<&JobHandle>,
) -> AsyncTask<DkiPredictTask> {
    AsyncTask::new(DkiPredictTask {
        evals,
        evecs,
        kt,
        g,
        s0_scalar,
        s0_volume,
        threads,
        ctl: control(job),
        out,
    })
}

/// A synthetic kurtosis phantom (see `voxelkit_dmri::phantom::dki_phantom`).
#[napi]
pub fn simulate_dki_phantom(
    nx: u32,
    ny: u32,
    nz: u32,
    snr: f64,
    seed: u32,
) -> napi::Result<PhantomOut> {
    guarded(|| {
        let p = voxelkit_dmri::phantom::dki_phantom(
            [nx as usize, ny as usize, nz as usize],
            snr,
            seed as u64,
        )?;
        Ok(PhantomOut {
            shape: p.shape.iter().map(|&s| s as u32).collect(),
            data: Int16Array::new(p.data),
            bvals: Float64Array::new(p.bvals),
            bvecs: Float64Array::new(p.bvecs.iter().flatten().copied().collect()),
            mask: Uint8Array::new(p.mask),
            true_fa: Float64Array::new(p.true_fa),
            spacing: p.spacing.to_vec(),
        })
    })
}
