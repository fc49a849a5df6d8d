//! Diffusion MRI: gradient tables, the model fits (one generic operation for every model),
//! their maps, prediction and the phantoms. Kernels: `voxelkit-dmri`.

use crate::owned::Out;
use crate::voxels::VolumeIn;
use crate::{export_op, guarded, int_arg, run_async, run_sync, threads, Job, JobHandle, Op};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use voxelkit_core::{with_samples, Control, Error, Result, Sample};
use voxelkit_dmri::dki_maps::{kurtosis_map, KurtosisMap, MAX_KURTOSIS, MIN_KURTOSIS};
use voxelkit_dmri::dki_predict::predict_dki_into;
use voxelkit_dmri::maps::{self, ScalarMap};
use voxelkit_dmri::predict::{predict_into, S0};
use voxelkit_dmri::{DkiFit, DtiFit, FitOptions, GradientTable};

/// Raw gradient input; DIPY's processing is applied by the kernel on every use.
#[napi(object)]
pub struct GradientsIn {
    pub bvals: Float64Array,
    /// Row per gradient: `[x0, y0, z0, x1, …]`.
    pub bvecs: Float64Array,
    pub b0_threshold: f64,
    pub atol: f64,
}

impl GradientsIn {
    fn table(&self) -> Result<GradientTable> {
        if self.bvecs.len() != 3 * self.bvals.len() {
            return Err(Error::gradients(format!(
                "bvecs must hold 3 values per b-value: got {} values for {} b-values",
                self.bvecs.len(),
                self.bvals.len()
            )));
        }
        let vecs: Vec<[f64; 3]> = self
            .bvecs
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        GradientTable::new(&self.bvals, &vecs, self.b0_threshold, self.atol)
    }
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
        let t = g.table()?;
        let mask = t.b0s_mask().into_iter().map(u8::from).collect::<Vec<_>>();
        Ok(GradientsOut {
            bvals: Float64Array::new(t.bvals.clone()),
            bvecs: Float64Array::new(t.bvecs.iter().flatten().copied().collect()),
            b0s_mask: Uint8Array::new(mask),
        })
    })
}

/// Declares a JS string enum (generated into `index.d.ts`) with its names as `as_str`, so the
/// kernel parses the name (aliases, and `ERR_UNSUPPORTED` for methods not built yet).
macro_rules! js_enum {
    ($doc:literal $name:ident { $($v:ident = $s:literal),* $(,)? }) => {
        #[doc = $doc]
        #[napi(string_enum)]
        pub enum $name {
            $(#[napi(value = $s)] $v,)*
        }
        impl $name {
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$v => $s,)*
                }
            }
        }
    };
}

js_enum!(
    "DTI fit methods (DIPY `TensorModel`): `WLS` (default), `OLS`, `NLLS` (non-linear least \
     squares on the signal, DIPY's `nlls_fit_tensor`) and `RESTORE` (NLLS with per-voxel outlier \
     rejection, DIPY's `restore_fit_tensor`)."
    DtiMethod { Wls = "WLS", Ols = "OLS", Nlls = "NLLS", Restore = "RESTORE" }
);

js_enum!(
    "DKI fit methods (DIPY `DiffusionKurtosisModel` names; `WLLS`/`UWLLS` are aliases of `WLS`, \
     `ULLS`/`LS`/`LLS`/`OLLS` of `OLS`). `CLS` and `CWLS` are DIPY's constrained OLS and WLS \
     (Dela Haije et al. 2020), solved by Clarabel where the unconstrained fit violates DIPY's \
     sufficient conditions. `NLS`, `NLLS`, `RESTORE`, `IRLS`, `RWLS` and `RNLLS` are planned: \
     `ERR_UNSUPPORTED` today."
    DkiMethod {
        Wls = "WLS", Ols = "OLS", Wlls = "WLLS", Uwlls = "UWLLS", Ulls = "ULLS", Ls = "LS",
        Lls = "LLS", Olls = "OLLS", Cls = "CLS", Cwls = "CWLS", Nls = "NLS", Nlls = "NLLS",
        Restore = "RESTORE", Irls = "IRLS", Rwls = "RWLS", Rnlls = "RNLLS",
    }
);

/// Options of every model fit (DIPY's names); unset fields take the kernel's defaults.
#[napi(object, object_to_js = false)]
pub struct FitOptionsIn {
    /// Voxels to fit, one byte per voxel of the spatial grid (non-zero = fit). @default every voxel
    pub mask: Option<Uint8Array>,
    /// Signals are clipped below at this value before the log. @default 1e-4 (DIPY's MIN_POSITIVE_SIGNAL)
    pub min_signal: Option<f64>,
    /// Also estimate S0. @default false
    #[napi(ts_type = "boolean")]
    pub return_s0: Option<bool>,
    /// Threads for this call (1 to 1024). @default getThreads()
    pub threads: Option<f64>,
    /// DTI `NLLS`: one weight per volume on the squared residuals (DIPY's `weights`). @default unweighted
    pub weights: Option<Float64Array>,
    /// DTI `RESTORE`: the noise standard deviation, one value or one per volume (DIPY's `sigma`). @default estimated per voxel (1.4826 x MAD of the residuals)
    pub sigma: Option<Float64Array>,
    /// DTI `NLLS`/`RESTORE`: NaN outputs where DIPY falls back to the start parameters. @default false
    #[napi(ts_type = "boolean")]
    pub fail_is_nan: Option<bool>,
    /// DTI `NLLS`: the start per voxel, 7 x nvox values component-major (DIPY's `init_params`: Dxx, Dxy, Dyy, Dxz, Dyz, Dzz, -log S0). @default the OLS fit
    pub init_params: Option<Float64Array>,
}

/// A model fit: eigen-decomposed tensors plus the model's extra parameters. Outputs are
/// engine-owned arrays ([`Out`]), component-major (component `c` of voxel `v` at `c*nvox+v`).
#[napi(object, object_from_js = false)]
pub struct FitOut {
    /// `[nvox * 3]` eigenvalues, descending.
    #[napi(ts_type = "Float64Array")]
    pub evals: Out<f64>,
    /// `[nvox * 9]` eigenvectors: component `i` of eigenvector `j` at `(i + 3 j) * nvox + v`.
    #[napi(ts_type = "Float64Array")]
    pub evecs: Out<f64>,
    /// DKI: `[nvox * 15]` kurtosis-tensor elements in DIPY's order.
    #[napi(ts_type = "Float64Array")]
    pub kt: Option<Out<f64>>,
    /// `[nvox]` S0 when `returnS0` was set.
    #[napi(ts_type = "Float64Array")]
    pub s0: Option<Out<f64>>,
    /// `[nvox]` per-voxel `FitStatus` codes.
    #[napi(ts_type = "Uint8Array")]
    pub status: Out<u8>,
    /// DTI `RESTORE`: `[nvox * ceil(nvol / 8)]`, voxel-major; bit `k % 8` of byte
    /// `v * ceil(nvol / 8) + k / 8` is set when voxel `v` rejected volume `k`.
    #[napi(ts_type = "Uint8Array")]
    pub rejected: Option<Out<u8>>,
}

impl From<DtiFit> for FitOut {
    fn from(f: DtiFit) -> Self {
        FitOut {
            evals: Out(f.evals),
            evecs: Out(f.evecs),
            kt: None,
            s0: f.s0.map(Out),
            status: Out(f.status),
            rejected: (f.rejected_bytes > 0).then_some(Out(f.rejected)),
        }
    }
}

impl From<DkiFit> for FitOut {
    fn from(f: DkiFit) -> Self {
        FitOut {
            evals: Out(f.evals),
            evecs: Out(f.evecs),
            kt: Some(Out(f.kt)),
            s0: f.s0.map(Out),
            status: Out(f.status),
            rejected: None,
        }
    }
}

/// What the binding needs to know of a fit model: its JS method enum, its kernel method and
/// its kernel entry. A new model is one [`fit_model!`] line plus its two exports.
pub trait ModelBinding: Send + 'static {
    type Method: Send + 'static;
    type KernelMethod: std::str::FromStr<Err = Error> + Default;
    type Fit: Send + 'static;
    fn name(m: &Self::Method) -> &'static str;
    fn fit<T: Sample>(
        data: &[T],
        nvox: usize,
        gtab: &GradientTable,
        mask: Option<&[u8]>,
        opts: &FitOptions<Self::KernelMethod>,
        ctl: &Control,
    ) -> Result<Self::Fit>;
}

/// Declares a [`ModelBinding`]: `Model(JsMethod => KernelMethod) -> KernelFit = kernel_fn`.
macro_rules! fit_model {
    ($model:ident($method:ident => $kmethod:ty) -> $fit:ty = $kernel:path) => {
        pub struct $model;
        impl ModelBinding for $model {
            type Method = $method;
            type KernelMethod = $kmethod;
            type Fit = $fit;
            fn name(m: &$method) -> &'static str {
                m.as_str()
            }
            fn fit<T: Sample>(
                d: &[T],
                n: usize,
                g: &GradientTable,
                m: Option<&[u8]>,
                o: &FitOptions<$kmethod>,
                c: &Control,
            ) -> Result<$fit> {
                $kernel(d, n, g, m, o, c)
            }
        }
    };
}

fit_model!(Dti(DtiMethod => voxelkit_dmri::DtiMethod) -> DtiFit = voxelkit_dmri::fit_dti);
fit_model!(Dki(DkiMethod => voxelkit_dmri::DkiMethod) -> DkiFit = voxelkit_dmri::fit_dki);

/// The fit operation of a model.
pub struct Fit<M: ModelBinding> {
    dwi: VolumeIn,
    g: GradientsIn,
    method: Option<M::Method>,
    o: Option<FitOptionsIn>,
}

impl<M: ModelBinding> Op for Fit<M>
where
    FitOut: From<M::Fit>,
{
    type Output = M::Fit;
    type Js = FitOut;
    fn threads_arg(&self) -> Option<f64> {
        self.o.as_ref().and_then(|o| o.threads)
    }
    fn run(&mut self, ctl: &Control) -> Result<M::Fit> {
        let gtab = self.g.table()?;
        let shape = self.dwi.dims();
        let Some((&nvol, spatial)) = shape.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Err(Error::shape(format!(
                "dwi must have a volume axis last, e.g. [nx, ny, nz, nvol]; got {shape:?}"
            )));
        };
        if nvol != gtab.len() {
            return Err(Error::shape(format!(
                "dwi has {nvol} volumes but the gradient table has {}",
                gtab.len()
            )));
        }
        let o = self.o.as_ref();
        let opts = FitOptions {
            method: match &self.method {
                Some(m) => wasm_supported(M::name(m))?.parse()?,
                None => Default::default(),
            },
            min_signal: o.and_then(|o| o.min_signal),
            return_s0: o.and_then(|o| o.return_s0).unwrap_or_default(),
            threads: threads(o.and_then(|o| o.threads))?,
            weights: o.and_then(|o| o.weights.as_ref()).map(|w| w.to_vec()),
            sigma: o.and_then(|o| o.sigma.as_ref()).map(|w| w.to_vec()),
            fail_is_nan: o.and_then(|o| o.fail_is_nan).unwrap_or_default(),
            init_params: o.and_then(|o| o.init_params.as_ref()).map(|w| w.to_vec()),
            ..Default::default()
        };
        let mask = o.and_then(|o| o.mask.as_deref());
        let nvox = spatial.iter().product();
        with_samples!(self.dwi.data.voxels(), "dwi", |d| M::fit(
            d, nvox, &gtab, mask, &opts, ctl
        ))
    }
}

/// The WebAssembly build refuses DKI's constrained fits: on some of the DIPY fixtures the conic
/// solver's eigen-decomposition fails there (it does not on Linux/macOS builds), and a panic
/// cannot be caught in WebAssembly (it would hang the pool), so they are not offered until that
/// is understood.
fn wasm_supported(method: &'static str) -> Result<&'static str> {
    if cfg!(target_family = "wasm") && matches!(method, "CLS" | "CWLS") {
        return Err(Error::unsupported(format!(
            "method {method} is not available in the WebAssembly build yet (use WLS or OLS, or \
             the native build)"
        )));
    }
    Ok(method)
}

export_op!(
    "Fits the diffusion tensor (DIPY `TensorModel`)."
    fit_dti / fit_dti_sync(dwi: VolumeIn, g: GradientsIn, method: Option<DtiMethod>, o: Option<FitOptionsIn>)
        -> Fit<Dti>, FitOut, "Promise<FitOut>" = Ok::<_, napi::Error>(Fit::<Dti> { dwi, g, method, o })
);

export_op!(
    "Fits the diffusion kurtosis model (DIPY `DiffusionKurtosisModel`)."
    fit_dki / fit_dki_sync(dwi: VolumeIn, g: GradientsIn, method: Option<DkiMethod>, o: Option<FitOptionsIn>)
        -> Fit<Dki>, FitOut, "Promise<FitOut>" = Ok::<_, napi::Error>(Fit::<Dki> { dwi, g, method, o })
);

fn check_fit_arrays(evals: &[f64], evecs: &[f64]) -> Result<()> {
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

/// Options of the kurtosis maps (DIPY's names); unset fields take the kernel's defaults.
#[napi(object, object_to_js = false)]
pub struct KurtosisOptionsIn {
    /// Values below are replaced by it. @default -3/7 (DIPY: water in spherical pores)
    pub min_kurtosis: Option<f64>,
    /// Values above are replaced by it. @default 10
    pub max_kurtosis: Option<f64>,
    /// DIPY's analytical solution; false selects DIPY's numerical estimators of MK, AK and RK. @default true
    pub analytical: Option<bool>,
}

/// A kurtosis map ('mk', 'ak', 'rk', 'mkt', 'rtk', 'kfa') from component-major parameters,
/// clipped to `[minKurtosis, maxKurtosis]` (KFA is never clipped).
#[napi(ts_return_type = "Float64Array")]
pub fn dki_kurtosis_map(
    name: String,
    fit: ParamsIn,
    o: Option<KurtosisOptionsIn>,
) -> napi::Result<Out<f64>> {
    guarded(|| {
        let m: KurtosisMap = name.parse()?;
        let o = o.as_ref();
        let (lo, hi) = match m {
            KurtosisMap::Kfa => (f64::NEG_INFINITY, f64::INFINITY),
            _ => (
                o.and_then(|o| o.min_kurtosis).unwrap_or(MIN_KURTOSIS),
                o.and_then(|o| o.max_kurtosis).unwrap_or(MAX_KURTOSIS),
            ),
        };
        let analytical = o.and_then(|o| o.analytical).unwrap_or(true);
        let kt = fit.kt.as_deref().unwrap_or_default();
        kurtosis_map(m, analytical, &fit.evals, &fit.evecs, kt, lo, hi).map(Out)
    })
}

/// A fitted model's parameters, as [`FitOut`] returned them (the maps' and prediction's input).
#[napi(object, object_to_js = false)]
pub struct ParamsIn {
    pub evals: Float64Array,
    pub evecs: Float64Array,
    /// DKI's kurtosis tensor; absent for DTI.
    pub kt: Option<Float64Array>,
}

/// Options of a prediction; unset fields take DIPY's defaults.
#[napi(object, object_to_js = false)]
pub struct PredictOptionsIn {
    /// One S0 for every voxel. @default 1 (DIPY)
    pub s0: Option<f64>,
    /// One S0 per voxel (wins over `s0`).
    pub s0_volume: Option<Float64Array>,
    /// Threads for this call. @default getThreads()
    pub threads: Option<f64>,
}

/// Prediction of a fitted model's signal into a caller-allocated buffer.
pub struct Predict {
    p: ParamsIn,
    g: GradientsIn,
    out: Float64Array,
    o: Option<PredictOptionsIn>,
}

/// The caller's prediction buffer once the kernel has filled it; converts to `undefined`.
///
/// Under WebAssembly (emnapi) the kernel wrote a wasm-side copy of the JS array: the conversion,
/// on the JS thread, copies it back into the array the caller holds.
pub struct Filled(#[cfg_attr(not(target_family = "wasm"), allow(dead_code))] Float64Array);

impl From<Float64Array> for Filled {
    fn from(a: Float64Array) -> Self {
        Filled(a)
    }
}

impl TypeName for Filled {
    fn type_name() -> &'static str {
        "undefined"
    }
    fn value_type() -> ValueType {
        ValueType::Undefined
    }
}

impl ToNapiValue for Filled {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        #[cfg(target_family = "wasm")]
        {
            let mut a = val.0;
            a.sync(&Env::from_raw(env));
        }
        #[cfg(not(target_family = "wasm"))]
        drop(val);
        // SAFETY: forwarded from the caller.
        unsafe { <() as ToNapiValue>::to_napi_value(env, ()) }
    }
}

impl Op for Predict {
    type Output = Float64Array;
    type Js = Filled;
    fn threads_arg(&self) -> Option<f64> {
        self.o.as_ref().and_then(|o| o.threads)
    }
    fn run(&mut self, ctl: &Control) -> Result<Float64Array> {
        let (p, o) = (&self.p, self.o.as_ref());
        let s0 = match o.and_then(|o| o.s0_volume.as_ref()) {
            Some(v) => S0::PerVoxel(v),
            None => S0::Scalar(o.and_then(|o| o.s0).unwrap_or(1.0)),
        };
        let g = self.g.table()?;
        let th = threads(o.and_then(|o| o.threads))?;
        // SAFETY: `out` is allocated by the façade for this call and not visible to user code
        // until the call returns (sync) or its promise settles (async); nothing else touches it.
        let out = unsafe { self.out.as_mut() };
        // the kernels check the evals/evecs/kt/s0/out lengths
        match &p.kt {
            Some(kt) => predict_dki_into(&p.evals, &p.evecs, kt, &g, s0, th, ctl, out),
            None => predict_into(&p.evals, &p.evecs, &g, s0, th, ctl, out),
        }?;
        // handed back so that the JS-thread conversion can sync it (WebAssembly); an empty
        // array stays in the op
        Ok(std::mem::replace(
            &mut self.out,
            Float64Array::new(Vec::new()),
        ))
    }
}

export_op!(
    "Predicted signal (DTI, or DKI when `fit.kt` is given) written into `out` (volume-major \
     `[nvox * nvol]`, allocated by the caller so the engine owns it)."
    predict / predict_sync(fit: ParamsIn, g: GradientsIn, out: Float64Array, o: Option<PredictOptionsIn>)
        -> Predict, Filled as "void", "Promise<void>" = Ok::<_, napi::Error>(Predict { p: fit, g, out, o })
);

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

/// A synthetic phantom (see `voxelkit_dmri::phantom`): `'dti'` (a tensor phantom) or `'dki'`
/// (a kurtosis phantom on a three-shell scheme).
#[napi]
pub fn simulate_phantom(
    model: String,
    shape: Vec<f64>,
    snr: f64,
    seed: f64,
) -> napi::Result<PhantomOut> {
    guarded(|| {
        let make = match model.as_str() {
            "dti" => voxelkit_dmri::phantom::dti_phantom,
            "dki" => voxelkit_dmri::phantom::dki_phantom,
            other => {
                return Err(Error::setting(format!(
                    "unknown phantom '{other}' (dti, dki)"
                )))
            }
        };
        if shape.len() != 3 {
            return Err(Error::shape(format!(
                "shape must have 3 sizes, got {}",
                shape.len()
            )));
        }
        let dim = |i: usize| int_arg(shape[i], "shape", 1, u32::MAX as u64);
        let seed = int_arg(seed, "seed", 0, u32::MAX as u64)?;
        let p = make([dim(0)?, dim(1)?, dim(2)?], snr, seed as u64)?;
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
