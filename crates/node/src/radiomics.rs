//! Radiomics texture features and matrices (kernel: `voxelkit-radiomics`).
//!
//! Image and mask arrive as byte views of the caller's typed arrays plus their element type, so
//! every combination of image and mask types is served by one entry without a copy in JS.
//! Settings arrive as a JSON string and are parsed and validated by the kernel crate.

use crate::owned::Out;
use crate::{control, guarded, threads, JobHandle};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::borrow::Cow;
use std::sync::Arc;
use voxelkit_core::{Control, Error, Sample};
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::{extract, glcm_matrices, glrlm_matrices, Settings, TextureMatrices};

/// Reinterprets little-endian bytes as `T` values: a borrow when aligned, else a copy.
fn view<T: Copy>(b: &[u8], from_le: fn(&[u8]) -> T) -> voxelkit_core::Result<Cow<'_, [T]>> {
    let sz = std::mem::size_of::<T>();
    if !b.len().is_multiple_of(sz) {
        return Err(Error::dtype(format!(
            "{} bytes is not a whole number of {sz}-byte elements",
            b.len()
        )));
    }
    if cfg!(target_endian = "little")
        && (b.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>())
    {
        // SAFETY: aligned, in bounds, any bit pattern is a valid T (plain numbers), and the
        // bytes outlive the returned borrow.
        Ok(Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(b.as_ptr() as *const T, b.len() / sz)
        }))
    } else {
        Ok(Cow::Owned(b.chunks_exact(sz).map(from_le).collect()))
    }
}

macro_rules! le {
    ($t:ty) => {
        (|c: &[u8]| <$t>::from_le_bytes(c.try_into().unwrap())) as fn(&[u8]) -> $t
    };
}

/// Calls `$body` with `$v` bound to the typed view of `$bytes` for dtype `$dt`.
macro_rules! with_dtype {
    ($dt:expr, $bytes:expr, $what:expr, |$v:ident| $body:expr) => {
        match $dt {
            "uint8" => {
                let $v = view::<u8>($bytes, le!(u8))?;
                $body
            }
            "int8" => {
                let $v = view::<i8>($bytes, le!(i8))?;
                $body
            }
            "int16" => {
                let $v = view::<i16>($bytes, le!(i16))?;
                $body
            }
            "uint16" => {
                let $v = view::<u16>($bytes, le!(u16))?;
                $body
            }
            "int32" => {
                let $v = view::<i32>($bytes, le!(i32))?;
                $body
            }
            "uint32" => {
                let $v = view::<u32>($bytes, le!(u32))?;
                $body
            }
            "float32" => {
                let $v = view::<f32>($bytes, le!(f32))?;
                $body
            }
            "float64" => {
                let $v = view::<f64>($bytes, le!(f64))?;
                $body
            }
            other => Err(Error::dtype(format!(
                "{} data of type {other} are not supported (uint8, int8, int16, uint16, int32, uint32, float32, float64)",
                $what
            ))),
        }
    };
}

/// What a radiomics call receives besides the arrays.
#[napi(object)]
pub struct RadiomicsArgs {
    pub image_dtype: String,
    pub mask_dtype: String,
    /// `[nx, ny, nz]`
    pub shape: Vec<u32>,
    /// `[sx, sy, sz]` in mm
    pub spacing: Vec<f64>,
    /// PyRadiomics settings as a JSON object.
    pub settings: String,
    pub threads: Option<u32>,
}

/// Settings, shape, spacing and thread count of a call.
type Parsed = (Settings, [usize; 3], [f64; 3], Option<usize>);

fn parse(a: &RadiomicsArgs) -> voxelkit_core::Result<Parsed> {
    let v: serde_json::Value = serde_json::from_str(&a.settings)
        .map_err(|e| Error::setting(format!("settings are not valid JSON: {e}")))?;
    let s = Settings::from_json(&v)?;
    if a.shape.len() != 3 || a.spacing.len() != 3 {
        return Err(Error::shape("shape and spacing must have 3 entries"));
    }
    Ok((
        s,
        [
            a.shape[0] as usize,
            a.shape[1] as usize,
            a.shape[2] as usize,
        ],
        [a.spacing[0], a.spacing[1], a.spacing[2]],
        threads(a.threads)?,
    ))
}

/// Dispatches on both element types and runs `$call(&Input, &Settings, threads, ctl)`.
macro_rules! dispatch {
    ($image:expr, $mask:expr, $a:expr, $ctl:expr, $call:ident) => {{
        let (s, shape, spacing, th) = parse($a)?;
        with_dtype!($a.image_dtype.as_str(), $image, "image", |img| {
            with_dtype!($a.mask_dtype.as_str(), $mask, "mask", |msk| {
                $call(
                    &Input {
                        image: &img,
                        mask: &msk,
                        shape,
                        spacing,
                    },
                    &s,
                    th,
                    $ctl,
                )
            })
        })
    }};
}

fn features_impl(
    image: &[u8],
    mask: &[u8],
    a: &RadiomicsArgs,
    ctl: &Control,
) -> voxelkit_core::Result<Vec<(String, f64)>> {
    fn run<T: Sample, M: Sample>(
        i: &Input<'_, T, M>,
        s: &Settings,
        t: Option<usize>,
        c: &Control,
    ) -> voxelkit_core::Result<Vec<(String, f64)>> {
        extract(i, s, t, c)
    }
    dispatch!(image, mask, a, ctl, run)
}

fn matrix_impl(
    kind: &str,
    image: &[u8],
    mask: &[u8],
    a: &RadiomicsArgs,
    ctl: &Control,
) -> voxelkit_core::Result<TextureMatrices> {
    fn glcm<T: Sample, M: Sample>(
        i: &Input<'_, T, M>,
        s: &Settings,
        t: Option<usize>,
        c: &Control,
    ) -> voxelkit_core::Result<TextureMatrices> {
        glcm_matrices(i, s, t, c)
    }
    fn glrlm<T: Sample, M: Sample>(
        i: &Input<'_, T, M>,
        s: &Settings,
        t: Option<usize>,
        c: &Control,
    ) -> voxelkit_core::Result<TextureMatrices> {
        glrlm_matrices(i, s, t, c)
    }
    match kind {
        "glcm" => dispatch!(image, mask, a, ctl, glcm),
        "glrlm" => dispatch!(image, mask, a, ctl, glrlm),
        _ => Err(Error::setting(format!(
            "unknown matrix kind '{kind}' (glcm, glrlm)"
        ))),
    }
}

/// Feature names (PyRadiomics keys) and values, in the same order (engine-owned, see
/// [`Out`]).
#[napi(object, object_from_js = false)]
pub struct FeaturesOut {
    pub names: Vec<String>,
    #[napi(ts_type = "Float64Array")]
    pub values: Out<f64>,
}

fn features_out(v: Vec<(String, f64)>) -> FeaturesOut {
    let (names, values): (Vec<String>, Vec<f64>) = v.into_iter().unzip();
    FeaturesOut {
        names,
        values: Out(values),
    }
}

/// Texture matrices, first axis fastest (see `TextureMatrices` in the kernel crate);
/// engine-owned data (see [`Out`]).
#[napi(object, object_from_js = false)]
pub struct MatrixOut {
    #[napi(ts_type = "Float64Array")]
    pub data: Out<f64>,
    pub shape: Vec<u32>,
    pub grey_levels: Vec<u32>,
    pub run_lengths: Vec<u32>,
    /// Directions `(z, y, x)` flattened, 3 per matrix (empty when matrices are not single directions).
    pub angles: Vec<i32>,
}

fn matrix_out(m: TextureMatrices) -> MatrixOut {
    MatrixOut {
        data: Out(m.data),
        shape: m.shape.iter().map(|&v| v as u32).collect(),
        grey_levels: m.grey_levels,
        run_lengths: m.run_lengths,
        angles: m.angles.iter().flatten().copied().collect(),
    }
}

pub struct RadiomicsFeaturesTask {
    image: Uint8Array,
    mask: Uint8Array,
    a: RadiomicsArgs,
    ctl: Arc<Control>,
}

impl Task for RadiomicsFeaturesTask {
    type Output = Vec<(String, f64)>;
    type JsValue = FeaturesOut;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        guarded(|| features_impl(&self.image, &self.mask, &self.a, &self.ctl))
    }
    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<FeaturesOut> {
        Ok(features_out(out))
    }
}

/// GLCM/GLRLM features of one ROI (PyRadiomics keys), off the event loop.
#[napi]
pub fn radiomics_features(
    image: Uint8Array,
    mask: Uint8Array,
    a: RadiomicsArgs,
    job: Option<&JobHandle>,
) -> AsyncTask<RadiomicsFeaturesTask> {
    AsyncTask::new(RadiomicsFeaturesTask {
        image,
        mask,
        a,
        ctl: control(job),
    })
}

/// The synchronous twin of `radiomicsFeatures`.
#[napi]
pub fn radiomics_features_sync(
    image: Uint8Array,
    mask: Uint8Array,
    a: RadiomicsArgs,
    job: Option<&JobHandle>,
) -> napi::Result<FeaturesOut> {
    let ctl = control(job);
    guarded(|| features_impl(&image, &mask, &a, &ctl)).map(features_out)
}

pub struct RadiomicsMatrixTask {
    kind: String,
    image: Uint8Array,
    mask: Uint8Array,
    a: RadiomicsArgs,
    ctl: Arc<Control>,
}

impl Task for RadiomicsMatrixTask {
    type Output = TextureMatrices;
    type JsValue = MatrixOut;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        guarded(|| matrix_impl(&self.kind, &self.image, &self.mask, &self.a, &self.ctl))
    }
    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<MatrixOut> {
        Ok(matrix_out(out))
    }
}

/// GLCM or GLRLM matrices of one ROI as PyRadiomics' feature classes hold them, off the event loop.
#[napi]
pub fn radiomics_matrix(
    kind: String,
    image: Uint8Array,
    mask: Uint8Array,
    a: RadiomicsArgs,
    job: Option<&JobHandle>,
) -> AsyncTask<RadiomicsMatrixTask> {
    AsyncTask::new(RadiomicsMatrixTask {
        kind,
        image,
        mask,
        a,
        ctl: control(job),
    })
}

/// The synchronous twin of `radiomicsMatrix`.
#[napi]
pub fn radiomics_matrix_sync(
    kind: String,
    image: Uint8Array,
    mask: Uint8Array,
    a: RadiomicsArgs,
    job: Option<&JobHandle>,
) -> napi::Result<MatrixOut> {
    let ctl = control(job);
    guarded(|| matrix_impl(&kind, &image, &mask, &a, &ctl)).map(matrix_out)
}
