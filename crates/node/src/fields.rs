//! Registration fields: inversion, composition, warping (kernels in `voxelkit-fields`).
//!
//! Fields cross as [`VolumeIn`]s of float32 or float64 displacements (component-major, first
//! axis fastest) whose `shape` is the spatial grid (2 or 3 sizes) and whose `affine` is the
//! grid's voxel-to-world; results keep the field's element type, as DIPY does.

use crate::voxels::{VolumeIn, VoxelOut};
use crate::{export_op, int_arg, run_async, run_sync, threads, Job, JobHandle, Op};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use voxelkit_core::{with_samples, Control, Error, Result, Sample, VoxelBuf, Voxels};
use voxelkit_fields::invert::MAX_ITER;
use voxelkit_fields::{
    warp_linear, warp_nearest, ComposeStats, Field, Grid, InvertOptions, InvertStats, Real,
};

fn grid(v: &VolumeIn, what: &str) -> Result<Grid> {
    Grid::new(&v.dims(), v.affine(what)?, what)
}

/// Calls `$body` with `$f` bound to the float slice of a field (`ERR_DTYPE` otherwise).
macro_rules! with_field {
    ($v:expr, $what:expr, |$f:ident| $body:expr) => {
        match $v {
            Voxels::F32($f) => $body,
            Voxels::F64($f) => $body,
            other => Err(Error::dtype(format!(
                "{} must hold float32 or float64 displacements, got {}",
                $what,
                other.dtype()
            ))),
        }
    };
}

/// A field's element type: picks its slice out of [`Voxels`].
trait FieldType: Real {
    fn slice(v: Voxels<'_>) -> Option<&[Self]>;
}

impl FieldType for f32 {
    fn slice(v: Voxels<'_>) -> Option<&[f32]> {
        match v {
            Voxels::F32(s) => Some(s),
            _ => None,
        }
    }
}

impl FieldType for f64 {
    fn slice(v: Voxels<'_>) -> Option<&[f64]> {
        match v {
            Voxels::F64(s) => Some(s),
            _ => None,
        }
    }
}

/// The float slice of `v` when it has the element type `T` of the field it goes with.
fn same_type<'a, T: FieldType>(v: Voxels<'a>, what: &str) -> Result<&'a [T]> {
    T::slice(v).ok_or_else(|| {
        Error::dtype(format!(
            "{what} must have the field's element type ({}), got {}",
            T::NAME,
            v.dtype()
        ))
    })
}

/// Options of an inversion (DIPY's `invert_vector_field_fixed_point_3d`), kernel defaults.
#[napi(object, object_to_js = false)]
pub struct InvertOptionsIn {
    /// Maximum number of iterations (0 to 1e6). @default 20
    pub max_iter: Option<f64>,
    /// Stop when the mean residual norm, in voxels, is at most this. @default 1e-3
    pub tolerance: Option<f64>,
    /// Initial guess of the inverse: a field on the same grid, of the same element type. @default zero
    pub start: Option<VolumeIn>,
    /// Threads for this call. @default getThreads()
    pub threads: Option<f64>,
}

/// Options of a composition.
#[napi(object, object_to_js = false)]
pub struct ComposeOptionsIn {
    /// `t` in `x -> d1(x) + t d2(x + d1(x))`. @default 1
    pub time_scaling: Option<f64>,
    /// Threads for this call. @default getThreads()
    pub threads: Option<f64>,
}

/// Interpolation of a warp.
#[napi(string_enum = "lowercase")]
pub enum Interpolation {
    /// Trilinear; float64 output.
    Linear,
    /// Nearest neighbour (ties round down); the moving image's type.
    Nearest,
}

/// Options of a warp.
#[napi(object, object_to_js = false)]
pub struct WarpOptionsIn {
    /// @default 'linear'
    pub interpolation: Option<Interpolation>,
    /// Grid of the output (spatial shape and affine; its data are not read). @default the field's grid
    pub reference: Option<ReferenceIn>,
    /// Threads for this call. @default getThreads()
    pub threads: Option<f64>,
}

/// An output grid.
#[napi(object, object_to_js = false)]
pub struct ReferenceIn {
    pub shape: Vec<u32>,
    pub affine: Vec<f64>,
}

/// A field computed by a kernel and its statistics.
#[napi(object, object_from_js = false)]
pub struct FieldOut {
    #[napi(ts_type = "Float32Array | Float64Array")]
    pub field: VoxelOut,
    /// Inversion: mean residual norm (voxels) at the last iteration (NaN when none ran).
    /// Composition: root-mean-square norm of the composed vectors.
    pub error: f64,
    /// Inversion: iterations run. Composition: voxels whose target was inside d2's grid.
    pub count: f64,
    /// Inversion: largest residual norm (voxels). Composition: largest norm (world units).
    pub max: f64,
    /// Composition: DIPY's third statistic, `sqrt(mean(n⁴) - mean(n²)²)`; NaN for inversion.
    pub std: f64,
}

impl From<(VoxelBuf, InvertStats)> for FieldOut {
    fn from((f, s): (VoxelBuf, InvertStats)) -> Self {
        FieldOut {
            field: VoxelOut(f),
            error: s.error,
            count: s.iterations as f64,
            max: s.max_residual,
            std: f64::NAN,
        }
    }
}

impl From<(VoxelBuf, ComposeStats)> for FieldOut {
    fn from((f, s): (VoxelBuf, ComposeStats)) -> Self {
        FieldOut {
            field: VoxelOut(f),
            error: s.mean_norm,
            count: s.count as f64,
            max: s.max_norm,
            std: s.std_norm,
        }
    }
}

pub struct Invert {
    field: VolumeIn,
    o: Option<InvertOptionsIn>,
}

impl Op for Invert {
    type Output = (VoxelBuf, InvertStats);
    type Js = FieldOut;
    fn threads_arg(&self) -> Option<f64> {
        self.o.as_ref().and_then(|o| o.threads)
    }
    fn run(&mut self, ctl: &Control) -> Result<Self::Output> {
        let d = InvertOptions::default();
        let o = self.o.as_ref();
        let opts = InvertOptions {
            max_iter: match o.and_then(|o| o.max_iter) {
                Some(m) => int_arg(m, "maxIter", 0, MAX_ITER as u64)?,
                None => d.max_iter,
            },
            tolerance: o.and_then(|o| o.tolerance).unwrap_or(d.tolerance),
            threads: threads(o.and_then(|o| o.threads))?,
            ..d
        };
        let g = grid(&self.field, "field")?;
        let start = o.and_then(|o| o.start.as_ref());
        with_field!(self.field.data.voxels(), "field", |f| {
            let s = match start {
                Some(s) => Some(same_type(s.data.voxels(), "start")?),
                None => None,
            };
            let (inv, stats) =
                voxelkit_fields::invert_field(Field::new(f, &g, "field")?, s, &opts, ctl)?;
            Ok((inv.into(), stats))
        })
    }
}

export_op!(
    "Inverts a displacement field (DIPY's `invert_vector_field_fixed_point_3d` / `_2d`)."
    invert_field / invert_field_sync(field: VolumeIn, o: Option<InvertOptionsIn>)
        -> Invert, FieldOut, "Promise<FieldOut>" = Ok::<_, napi::Error>(Invert { field, o })
);

pub struct Compose {
    d1: VolumeIn,
    d2: VolumeIn,
    o: Option<ComposeOptionsIn>,
}

impl Op for Compose {
    type Output = (VoxelBuf, ComposeStats);
    type Js = FieldOut;
    fn threads_arg(&self) -> Option<f64> {
        self.o.as_ref().and_then(|o| o.threads)
    }
    fn run(&mut self, ctl: &Control) -> Result<Self::Output> {
        let o = self.o.as_ref();
        let t = o.and_then(|o| o.time_scaling).unwrap_or(1.0);
        let th = threads(o.and_then(|o| o.threads))?;
        let (g1, g2) = (grid(&self.d1, "d1")?, grid(&self.d2, "d2")?);
        with_field!(self.d1.data.voxels(), "d1", |a| {
            let b = same_type(self.d2.data.voxels(), "d2")?;
            let f1 = Field::new(a, &g1, "d1")?;
            let (c, s) =
                voxelkit_fields::compose_fields(f1, Field::new(b, &g2, "d2")?, t, th, ctl)?;
            Ok((c.into(), s))
        })
    }
}

export_op!(
    "`x -> d1(x) + t d2(x + d1(x))` on d1's grid (DIPY's `compose_vector_fields_3d` / `_2d`)."
    compose_fields / compose_fields_sync(d1: VolumeIn, d2: VolumeIn, o: Option<ComposeOptionsIn>)
        -> Compose, FieldOut, "Promise<FieldOut>" = Ok::<_, napi::Error>(Compose { d1, d2, o })
);

pub struct Warp {
    moving: VolumeIn,
    field: VolumeIn,
    o: Option<WarpOptionsIn>,
}

fn warp_typed<S: Sample + Default, T: Real>(
    m: &[S],
    gm: &Grid,
    f: Field<'_, T>,
    r: Option<&Grid>,
    nearest: bool,
    th: Option<usize>,
    ctl: &Control,
) -> Result<VoxelBuf>
where
    VoxelBuf: From<Vec<S>>,
{
    Ok(if nearest {
        warp_nearest(m, gm, f, r, th, ctl)?.into()
    } else {
        warp_linear(m, gm, f, r, th, ctl)?.into()
    })
}

impl Op for Warp {
    type Output = VoxelBuf;
    type Js = WarpOut;
    fn threads_arg(&self) -> Option<f64> {
        self.o.as_ref().and_then(|o| o.threads)
    }
    fn run(&mut self, ctl: &Control) -> Result<VoxelBuf> {
        let o = self.o.as_ref();
        let nearest = matches!(
            o.and_then(|o| o.interpolation.as_ref()),
            Some(Interpolation::Nearest)
        );
        let th = threads(o.and_then(|o| o.threads))?;
        let gm = grid(&self.moving, "moving")?;
        let gf = grid(&self.field, "field")?;
        let gr = match o.and_then(|o| o.reference.as_ref()) {
            Some(r) => {
                let s: Vec<usize> = r.shape.iter().map(|&v| v as usize).collect();
                Some(Grid::new(&s, &r.affine, "reference")?)
            }
            None => None,
        };
        with_field!(self.field.data.voxels(), "field", |f| {
            let field = Field::new(f, &gf, "field")?;
            with_samples!(self.moving.data.voxels(), "moving", |m| warp_typed(
                m,
                &gm,
                field,
                gr.as_ref(),
                nearest,
                th,
                ctl
            ))
        })
    }
}

/// A warped image's voxels (its grid is the field's or the reference's).
#[napi(object, object_from_js = false)]
pub struct WarpOut {
    #[napi(
        ts_type = "Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array"
    )]
    pub data: VoxelOut,
}

impl From<VoxelBuf> for WarpOut {
    fn from(v: VoxelBuf) -> Self {
        WarpOut { data: VoxelOut(v) }
    }
}

export_op!(
    "Warps `moving` through `field` (DIPY's `warp_3d` / `warp_3d_nn` and 2D forms); output on \
     the field's grid or `reference`. Linear: float64; nearest: the moving image's type."
    warp_volume / warp_volume_sync(moving: VolumeIn, field: VolumeIn, o: Option<WarpOptionsIn>)
        -> Warp, WarpOut, "Promise<WarpOut>" = Ok::<_, napi::Error>(Warp { moving, field, o })
);
