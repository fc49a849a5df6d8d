//! Registration fields: inversion, composition, warping (kernels in `voxelkit-fields`).
//!
//! Fields cross as float32 or float64 arrays (component-major, first axis fastest) with their
//! spatial shape (2 or 3 sizes) and 4x4 row-major voxel-to-world affine; results keep the
//! field's element type, as DIPY does.

// napi entries take their arguments positionally, as the generated TypeScript declares them
#![allow(clippy::too_many_arguments)]

pub use crate::io::TypedOut;
use crate::{control, guarded, threads, JobHandle};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use voxelkit_core::{Control, Error, Result as VkResult};
use voxelkit_fields::{
    compose_fields, invert_field, warp_linear, warp_nearest, Field, Grid, InvertOptions, Real,
};
use voxelkit_io::VolumeData as Data;

fn grid(shape: &[u32], affine: &[f64], what: &str) -> VkResult<Grid> {
    let s: Vec<usize> = shape.iter().map(|&v| v as usize).collect();
    Grid::new(&s, affine, what)
}

/// A grid given as JS values.
#[napi(object)]
pub struct GridIn {
    /// Spatial shape: 2 or 3 sizes.
    pub shape: Vec<u32>,
    /// 4x4 row-major voxel-to-world.
    pub affine: Vec<f64>,
}

#[napi(object)]
pub struct InvertOptionsIn {
    pub max_iter: u32,
    pub tolerance: f64,
    pub threads: Option<u32>,
}

#[napi(object, object_from_js = false)]
pub struct InvertOut {
    pub field: TypedOut,
    /// Mean residual norm (voxels) at the last iteration; NaN when no iteration ran.
    pub error: f64,
    pub iterations: u32,
    /// Largest residual norm (voxels) at the last iteration; NaN when no iteration ran.
    pub max_residual: f64,
}

pub struct InvertResult(Data, voxelkit_fields::InvertStats);

fn invert_typed<T: Real>(
    d: &[T],
    start: Option<&[T]>,
    g: &GridIn,
    o: &InvertOptionsIn,
    ctl: &Control,
) -> VkResult<(Vec<T>, voxelkit_fields::InvertStats)> {
    let gr = grid(&g.shape, &g.affine, "field")?;
    let f = Field::new(d, &gr, "field")?;
    let opts = InvertOptions {
        max_iter: o.max_iter as usize,
        tolerance: o.tolerance,
        threads: threads(o.threads)?,
        ..Default::default()
    };
    invert_field(f, start, &opts, ctl)
}

fn invert_impl(
    d: &Either<Float32Array, Float64Array>,
    start: Option<&Either<Float32Array, Float64Array>>,
    g: &GridIn,
    o: &InvertOptionsIn,
    ctl: &Control,
) -> VkResult<InvertResult> {
    let mismatch = || Error::dtype("start must have the field's element type (float32 or float64)");
    Ok(match d {
        Either::A(f) => {
            let s = match start {
                None => None,
                Some(Either::A(s)) => Some(&s[..]),
                Some(Either::B(_)) => return Err(mismatch()),
            };
            let (p, st) = invert_typed::<f32>(f, s, g, o, ctl)?;
            InvertResult(Data::F32(p), st)
        }
        Either::B(f) => {
            let s = match start {
                None => None,
                Some(Either::B(s)) => Some(&s[..]),
                Some(Either::A(_)) => return Err(mismatch()),
            };
            let (p, st) = invert_typed::<f64>(f, s, g, o, ctl)?;
            InvertResult(Data::F64(p), st)
        }
    })
}

impl From<InvertResult> for InvertOut {
    fn from(r: InvertResult) -> Self {
        InvertOut {
            field: r.0.into(),
            error: r.1.error,
            iterations: r.1.iterations as u32,
            max_residual: r.1.max_residual,
        }
    }
}

pub struct InvertTask {
    d: Either<Float32Array, Float64Array>,
    start: Option<Either<Float32Array, Float64Array>>,
    g: GridIn,
    o: InvertOptionsIn,
    ctl: Arc<Control>,
}

impl Task for InvertTask {
    type Output = InvertResult;
    type JsValue = InvertOut;
    fn compute(&mut self) -> napi::Result<InvertResult> {
        guarded(|| invert_impl(&self.d, self.start.as_ref(), &self.g, &self.o, &self.ctl))
    }
    fn resolve(&mut self, _env: Env, out: InvertResult) -> napi::Result<InvertOut> {
        Ok(out.into())
    }
}

/// Inverts a displacement field (DIPY's `invert_vector_field_fixed_point_3d` / `_2d`).
#[napi]
pub fn invert_field_sync(
    field: Either<Float32Array, Float64Array>,
    grid: GridIn,
    start: Option<Either<Float32Array, Float64Array>>,
    options: InvertOptionsIn,
    job: Option<&JobHandle>,
) -> napi::Result<InvertOut> {
    let ctl = control(job);
    guarded(|| invert_impl(&field, start.as_ref(), &grid, &options, &ctl)).map(Into::into)
}

#[napi]
pub fn invert_field_async(
    field: Either<Float32Array, Float64Array>,
    grid: GridIn,
    start: Option<Either<Float32Array, Float64Array>>,
    options: InvertOptionsIn,
    job: Option<&JobHandle>,
) -> AsyncTask<InvertTask> {
    AsyncTask::new(InvertTask {
        d: field,
        start,
        g: grid,
        o: options,
        ctl: control(job),
    })
}

#[napi(object, object_from_js = false)]
pub struct ComposeOut {
    pub field: TypedOut,
    pub max_norm: f64,
    pub mean_norm: f64,
    pub std_norm: f64,
    pub count: f64,
}

pub struct ComposeResult(Data, voxelkit_fields::ComposeStats);

impl From<ComposeResult> for ComposeOut {
    fn from(r: ComposeResult) -> Self {
        ComposeOut {
            field: r.0.into(),
            max_norm: r.1.max_norm,
            mean_norm: r.1.mean_norm,
            std_norm: r.1.std_norm,
            count: r.1.count as f64,
        }
    }
}

fn compose_typed<T: Real>(
    a: &[T],
    ga: &GridIn,
    b: &[T],
    gb: &GridIn,
    t: f64,
    th: Option<u32>,
    ctl: &Control,
) -> VkResult<(Vec<T>, voxelkit_fields::ComposeStats)> {
    let g1 = grid(&ga.shape, &ga.affine, "d1")?;
    let g2 = grid(&gb.shape, &gb.affine, "d2")?;
    let f1 = Field::new(a, &g1, "d1")?;
    let f2 = Field::new(b, &g2, "d2")?;
    compose_fields(f1, f2, t, threads(th)?, ctl)
}

fn compose_impl(
    d1: &Either<Float32Array, Float64Array>,
    g1: &GridIn,
    d2: &Either<Float32Array, Float64Array>,
    g2: &GridIn,
    t: f64,
    th: Option<u32>,
    ctl: &Control,
) -> VkResult<ComposeResult> {
    Ok(match (d1, d2) {
        (Either::A(a), Either::A(b)) => {
            let (c, s) = compose_typed::<f32>(a, g1, b, g2, t, th, ctl)?;
            ComposeResult(Data::F32(c), s)
        }
        (Either::B(a), Either::B(b)) => {
            let (c, s) = compose_typed::<f64>(a, g1, b, g2, t, th, ctl)?;
            ComposeResult(Data::F64(c), s)
        }
        _ => {
            return Err(Error::dtype(
                "both fields must have the same element type (float32 or float64)",
            ))
        }
    })
}

pub struct ComposeTask {
    d1: Either<Float32Array, Float64Array>,
    g1: GridIn,
    d2: Either<Float32Array, Float64Array>,
    g2: GridIn,
    t: f64,
    threads: Option<u32>,
    ctl: Arc<Control>,
}

impl Task for ComposeTask {
    type Output = ComposeResult;
    type JsValue = ComposeOut;
    fn compute(&mut self) -> napi::Result<ComposeResult> {
        guarded(|| {
            compose_impl(
                &self.d1,
                &self.g1,
                &self.d2,
                &self.g2,
                self.t,
                self.threads,
                &self.ctl,
            )
        })
    }
    fn resolve(&mut self, _env: Env, out: ComposeResult) -> napi::Result<ComposeOut> {
        Ok(out.into())
    }
}

/// `x -> d1(x) + t d2(x + d1(x))` on d1's grid (DIPY's `compose_vector_fields_3d` / `_2d`).
#[napi]
pub fn compose_fields_sync(
    d1: Either<Float32Array, Float64Array>,
    grid1: GridIn,
    d2: Either<Float32Array, Float64Array>,
    grid2: GridIn,
    time_scaling: f64,
    threads: Option<u32>,
    job: Option<&JobHandle>,
) -> napi::Result<ComposeOut> {
    let ctl = control(job);
    guarded(|| compose_impl(&d1, &grid1, &d2, &grid2, time_scaling, threads, &ctl)).map(Into::into)
}

#[napi]
pub fn compose_fields_async(
    d1: Either<Float32Array, Float64Array>,
    grid1: GridIn,
    d2: Either<Float32Array, Float64Array>,
    grid2: GridIn,
    time_scaling: f64,
    threads: Option<u32>,
    job: Option<&JobHandle>,
) -> AsyncTask<ComposeTask> {
    AsyncTask::new(ComposeTask {
        d1,
        g1: grid1,
        d2,
        g2: grid2,
        t: time_scaling,
        threads,
        ctl: control(job),
    })
}

fn warp_typed<S, T>(
    m: &[S],
    gm: &Grid,
    f: &[T],
    gf: &Grid,
    r: Option<&Grid>,
    nearest: bool,
    th: Option<usize>,
    ctl: &Control,
    wrap: impl FnOnce(Vec<S>) -> Data,
) -> VkResult<Data>
where
    S: voxelkit_core::Sample + Default,
    T: Real,
{
    let field = Field::new(f, gf, "field")?;
    if nearest {
        Ok(wrap(warp_nearest(m, gm, field, r, th, ctl)?))
    } else {
        Ok(Data::F64(warp_linear(m, gm, field, r, th, ctl)?))
    }
}

pub struct WarpArgs {
    moving: Either8<
        Uint8Array,
        Int8Array,
        Int16Array,
        Uint16Array,
        Int32Array,
        Uint32Array,
        Float32Array,
        Float64Array,
    >,
    gm: GridIn,
    field: Either<Float32Array, Float64Array>,
    gf: GridIn,
    reference: Option<GridIn>,
    interpolation: String,
    threads: Option<u32>,
}

fn warp_impl(a: &WarpArgs, ctl: &Control) -> VkResult<Data> {
    let nearest = match a.interpolation.as_str() {
        "linear" => false,
        "nearest" => true,
        other => {
            return Err(Error::setting(format!(
                "interpolation must be 'linear' or 'nearest', got '{other}'"
            )))
        }
    };
    let gm = grid(&a.gm.shape, &a.gm.affine, "moving")?;
    let gf = grid(&a.gf.shape, &a.gf.affine, "field")?;
    let gr = match &a.reference {
        Some(r) => Some(grid(&r.shape, &r.affine, "reference")?),
        None => None,
    };
    let th = threads(a.threads)?;
    macro_rules! go {
        ($m:expr, $wrap:expr) => {
            match &a.field {
                Either::A(f) => warp_typed(
                    &$m[..],
                    &gm,
                    &f[..],
                    &gf,
                    gr.as_ref(),
                    nearest,
                    th,
                    ctl,
                    $wrap,
                ),
                Either::B(f) => warp_typed(
                    &$m[..],
                    &gm,
                    &f[..],
                    &gf,
                    gr.as_ref(),
                    nearest,
                    th,
                    ctl,
                    $wrap,
                ),
            }
        };
    }
    match &a.moving {
        Either8::A(m) => go!(m, Data::U8),
        Either8::B(m) => go!(m, Data::I8),
        Either8::C(m) => go!(m, Data::I16),
        Either8::D(m) => go!(m, Data::U16),
        Either8::E(m) => go!(m, Data::I32),
        Either8::F(m) => go!(m, Data::U32),
        Either8::G(m) => go!(m, Data::F32),
        Either8::H(m) => go!(m, Data::F64),
    }
}

pub struct WarpTask {
    a: WarpArgs,
    ctl: Arc<Control>,
}

impl Task for WarpTask {
    type Output = Data;
    type JsValue = TypedOut;
    fn compute(&mut self) -> napi::Result<Data> {
        guarded(|| warp_impl(&self.a, &self.ctl))
    }
    fn resolve(&mut self, _env: Env, out: Data) -> napi::Result<TypedOut> {
        Ok(out.into())
    }
}

/// Warps `moving` through `field` (DIPY's `warp_3d` / `warp_3d_nn` and 2D forms); output on the
/// field's grid or `reference`. Linear: float64; nearest: the moving image's type.
#[napi]
pub fn warp_volume_sync(
    moving: Either8<
        Uint8Array,
        Int8Array,
        Int16Array,
        Uint16Array,
        Int32Array,
        Uint32Array,
        Float32Array,
        Float64Array,
    >,
    moving_grid: GridIn,
    field: Either<Float32Array, Float64Array>,
    field_grid: GridIn,
    reference: Option<GridIn>,
    interpolation: String,
    threads: Option<u32>,
    job: Option<&JobHandle>,
) -> napi::Result<TypedOut> {
    let ctl = control(job);
    let a = WarpArgs {
        moving,
        gm: moving_grid,
        field,
        gf: field_grid,
        reference,
        interpolation,
        threads,
    };
    guarded(|| warp_impl(&a, &ctl)).map(Into::into)
}

#[napi]
pub fn warp_volume_async(
    moving: Either8<
        Uint8Array,
        Int8Array,
        Int16Array,
        Uint16Array,
        Int32Array,
        Uint32Array,
        Float32Array,
        Float64Array,
    >,
    moving_grid: GridIn,
    field: Either<Float32Array, Float64Array>,
    field_grid: GridIn,
    reference: Option<GridIn>,
    interpolation: String,
    threads: Option<u32>,
    job: Option<&JobHandle>,
) -> AsyncTask<WarpTask> {
    AsyncTask::new(WarpTask {
        a: WarpArgs {
            moving,
            gm: moving_grid,
            field,
            gf: field_grid,
            reference,
            interpolation,
            threads,
        },
        ctl: control(job),
    })
}
