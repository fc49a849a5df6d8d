//! Gradient tables, DTI fit, maps and prediction.

use crate::owned::Out;
use crate::{control, guarded, threads, JobHandle};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use voxelkit_core::{Control, Error};
use voxelkit_dmri::maps::{self, ScalarMap};
use voxelkit_dmri::predict::{predict, S0};
use voxelkit_dmri::{fit_dti, DtiFit, DtiOptions, GradientTable};

/// Raw gradient input; DIPY's processing is applied by the kernel on every use.
#[napi(object)]
pub struct GradientsIn {
    pub bvals: Float64Array,
    /// Row per gradient: `[x0, y0, z0, x1, …]`.
    pub bvecs: Float64Array,
    pub b0_threshold: f64,
    pub atol: f64,
}

fn gtab(g: &GradientsIn) -> voxelkit_core::Result<GradientTable> {
    if g.bvecs.len() != 3 * g.bvals.len() {
        return Err(Error::gradients(format!(
            "bvecs must hold 3 values per b-value: got {} values for {} b-values",
            g.bvecs.len(),
            g.bvals.len()
        )));
    }
    let vecs: Vec<[f64; 3]> = g
        .bvecs
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    GradientTable::new(&g.bvals, &vecs, g.b0_threshold, g.atol)
}

/// The effective table DIPY would use.
#[napi(object)]
pub struct GradientsOut {
    pub bvals: Float64Array,
    pub bvecs: Float64Array,
    pub b0s_mask: Uint8Array,
}

#[napi]
pub fn gradient_table(g: GradientsIn) -> napi::Result<GradientsOut> {
    guarded(|| {
        let t = gtab(&g)?;
        let mask = t.b0s_mask().into_iter().map(u8::from).collect::<Vec<_>>();
        Ok(GradientsOut {
            bvals: Float64Array::new(t.bvals.clone()),
            bvecs: Float64Array::new(t.bvecs.iter().flatten().copied().collect()),
            b0s_mask: Uint8Array::new(mask),
        })
    })
}

#[napi(object)]
pub struct DtiOptionsIn {
    /// 'WLS' or 'OLS'.
    pub method: String,
    pub min_signal: Option<f64>,
    pub return_s0: bool,
    pub threads: Option<u32>,
}

/// Outputs are engine-owned arrays ([`Out`]): freed by GC, also in synchronous loops.
#[napi(object, object_from_js = false)]
pub struct DtiFitOut {
    #[napi(ts_type = "Float64Array")]
    pub evals: Out<f64>,
    #[napi(ts_type = "Float64Array")]
    pub evecs: Out<f64>,
    #[napi(ts_type = "Float64Array")]
    pub s0: Option<Out<f64>>,
    #[napi(ts_type = "Uint8Array")]
    pub status: Out<u8>,
}

impl From<DtiFit> for DtiFitOut {
    fn from(f: DtiFit) -> Self {
        DtiFitOut {
            evals: Out(f.evals),
            evecs: Out(f.evecs),
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
    o: &DtiOptionsIn,
    ctl: &Control,
) -> voxelkit_core::Result<DtiFit> {
    let opts = DtiOptions {
        method: o.method.parse()?,
        min_signal: o.min_signal,
        return_s0: o.return_s0,
        threads: threads(o.threads)?,
        ..Default::default()
    };
    fit_dti(data, nvox as usize, &gtab(g)?, mask, &opts, ctl)
}

macro_rules! fit_dti_entry {
    ($arr:ident, $task:ident, $sync:ident, $asyn:ident) => {
        pub struct $task {
            data: $arr,
            nvox: u32,
            g: GradientsIn,
            mask: Option<Uint8Array>,
            o: DtiOptionsIn,
            ctl: Arc<Control>,
        }

        impl Task for $task {
            type Output = DtiFit;
            type JsValue = DtiFitOut;
            fn compute(&mut self) -> napi::Result<DtiFit> {
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
            fn resolve(&mut self, _env: Env, out: DtiFit) -> napi::Result<DtiFitOut> {
                Ok(out.into())
            }
        }

        #[napi]
        pub fn $sync(
            data: $arr,
            nvox: u32,
            g: GradientsIn,
            mask: Option<Uint8Array>,
            o: DtiOptionsIn,
            job: Option<&JobHandle>,
        ) -> napi::Result<DtiFitOut> {
            let ctl = control(job);
            guarded(|| fit_impl(&data, nvox, &g, mask.as_deref(), &o, &ctl)).map(Into::into)
        }

        #[napi]
        pub fn $asyn(
            data: $arr,
            nvox: u32,
            g: GradientsIn,
            mask: Option<Uint8Array>,
            o: DtiOptionsIn,
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

fit_dti_entry!(
    Uint8Array,
    FitDtiUint8Task,
    fit_dti_uint8_sync,
    fit_dti_uint8
);
fit_dti_entry!(
    Int16Array,
    FitDtiInt16Task,
    fit_dti_int16_sync,
    fit_dti_int16
);
fit_dti_entry!(
    Uint16Array,
    FitDtiUint16Task,
    fit_dti_uint16_sync,
    fit_dti_uint16
);
fit_dti_entry!(
    Int32Array,
    FitDtiInt32Task,
    fit_dti_int32_sync,
    fit_dti_int32
);
fit_dti_entry!(
    Float32Array,
    FitDtiFloat32Task,
    fit_dti_float32_sync,
    fit_dti_float32
);
fit_dti_entry!(
    Float64Array,
    FitDtiFloat64Task,
    fit_dti_float64_sync,
    fit_dti_float64
);

fn check_fit_arrays(evals: &[f64], evecs: &[f64]) -> voxelkit_core::Result<()> {
    if !evals.len().is_multiple_of(3) || evecs.len() != 3 * evals.len() {
        return Err(Error::shape(format!(
            "evals must hold 3 and evecs 9 values per voxel: got {} and {}",
            evals.len(),
            evecs.len()
        )));
    }
    Ok(())
}

/// A scalar tensor map ('fa', 'md', 'ad', 'rd', 'trace', 'mode', 'ga', 'linearity',
/// 'planarity', 'sphericity') from component-major eigenvalues.
#[napi(ts_return_type = "Float64Array")]
pub fn dti_scalar_map(name: String, evals: Float64Array) -> napi::Result<Out<f64>> {
    guarded(|| {
        if !evals.len().is_multiple_of(3) {
            return Err(Error::shape(format!(
                "evals length {} is not a multiple of 3",
                evals.len()
            )));
        }
        let m: ScalarMap = name.parse()?;
        Ok(Out(maps::scalar_map(m, &evals)))
    })
}

/// Colour FA, component-major `[nvox * 3]`.
#[napi(ts_return_type = "Float64Array")]
pub fn dti_color_fa(evals: Float64Array, evecs: Float64Array) -> napi::Result<Out<f64>> {
    guarded(|| {
        check_fit_arrays(&evals, &evecs)?;
        Ok(Out(maps::color_fa(&evals, &evecs)))
    })
}

/// The tensor's lower triangle `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz]`, component-major `[nvox * 6]`.
#[napi(ts_return_type = "Float64Array")]
pub fn dti_lower_triangular(evals: Float64Array, evecs: Float64Array) -> napi::Result<Out<f64>> {
    guarded(|| {
        check_fit_arrays(&evals, &evecs)?;
        Ok(Out(maps::lower_triangular(&evals, &evecs)))
    })
}

pub struct PredictTask {
    evals: Float64Array,
    evecs: Float64Array,
    g: GradientsIn,
    s0_scalar: f64,
    s0_volume: Option<Float64Array>,
    threads: Option<u32>,
    ctl: Arc<Control>,
}

fn predict_impl(t: &PredictTask) -> voxelkit_core::Result<Vec<f64>> {
    // the kernel checks the evals/evecs/s0 lengths
    let s0 = match &t.s0_volume {
        Some(v) => S0::PerVoxel(v),
        None => S0::Scalar(t.s0_scalar),
    };
    predict(
        &t.evals,
        &t.evecs,
        &gtab(&t.g)?,
        s0,
        threads(t.threads)?,
        &t.ctl,
    )
}

impl Task for PredictTask {
    type Output = Vec<f64>;
    type JsValue = Out<f64>;
    fn compute(&mut self) -> napi::Result<Vec<f64>> {
        guarded(|| predict_impl(self))
    }
    fn resolve(&mut self, _env: Env, out: Vec<f64>) -> napi::Result<Out<f64>> {
        Ok(Out(out))
    }
}

/// Predicted signal, volume-major `[nvox * nvol]`. `s0Volume` (per voxel) wins over `s0Scalar`.
#[napi(ts_return_type = "Float64Array")]
pub fn dti_predict_sync(
    evals: Float64Array,
    evecs: Float64Array,
    g: GradientsIn,
    s0_scalar: f64,
    s0_volume: Option<Float64Array>,
    threads: Option<u32>,
    job: Option<&JobHandle>,
) -> napi::Result<Out<f64>> {
    let t = PredictTask {
        evals,
        evecs,
        g,
        s0_scalar,
        s0_volume,
        threads,
        ctl: control(job),
    };
    guarded(|| predict_impl(&t)).map(Out)
}

#[napi]
pub fn dti_predict(
    evals: Float64Array,
    evecs: Float64Array,
    g: GradientsIn,
    s0_scalar: f64,
    s0_volume: Option<Float64Array>,
    threads: Option<u32>,
    job: Option<&JobHandle>,
) -> AsyncTask<PredictTask> {
    AsyncTask::new(PredictTask {
        evals,
        evecs,
        g,
        s0_scalar,
        s0_volume,
        threads,
        ctl: control(job),
    })
}

#[napi(object)]
pub struct PhantomOut {
    pub shape: Vec<u32>,
    pub data: Int16Array,
    pub bvals: Float64Array,
    pub bvecs: Float64Array,
    pub mask: Uint8Array,
    pub true_fa: Float64Array,
    pub spacing: Vec<f64>,
}

/// A synthetic DTI phantom (see `voxelkit_dmri::phantom`).
#[napi]
pub fn simulate_dti_phantom(
    nx: u32,
    ny: u32,
    nz: u32,
    snr: f64,
    seed: u32,
) -> napi::Result<PhantomOut> {
    guarded(|| {
        let p = voxelkit_dmri::phantom::dti_phantom(
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
