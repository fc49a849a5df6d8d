//! SyN registration (kernel in `voxelkit_fields::syn`): DIPY's
//! `SymmetricDiffeomorphicRegistration` with the CC, SSD or EM metric, its per-iteration
//! reports, and its map's `transform` / `transform_inverse`.

use crate::fields::WarpOut;
use crate::voxels::{VolumeIn, VoxelOut};
use crate::{export_op, int_arg, run_async, run_sync, threads, Job, JobHandle, Op};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use voxelkit_core::{with_samples, Control, Result, Sample, VoxelBuf, Voxels};
use voxelkit_fields::syn::{
    register_syn as kernel_register, Image, MapGeometry, Metric, StepType, SynOptions, SynResult,
    MAX_INNER_ITER, MAX_LEVEL_ITERS, MAX_Q_LEVELS,
};
use voxelkit_fields::{Affine, Grid};

/// Similarity metric of a SyN registration (DIPY's metric classes).
#[napi(string_enum)]
#[allow(clippy::upper_case_acronyms)]
pub enum SynMetric {
    /// Local cross-correlation (`CCMetric`, `sigma_diff` 2, `radius` 4).
    CC,
    /// Sum of squared differences (`SSDMetric`, `smooth` 4, `inner_iter` 10, demons step).
    SSD,
    /// Expectation maximisation (`EMMetric`, `smooth` 1, `inner_iter` 5, `q_levels` 256,
    /// `double_gradient`, Gauss-Newton step).
    EM,
}

/// Step of the SSD and EM metrics (DIPY's `step_type`).
#[napi(string_enum = "snake_case")]
pub enum SynStepType {
    /// The demons step, smoothed by a Gaussian of `smooth` voxels.
    Demons,
    /// The Gauss-Newton step (smoothness `smooth`), solved by a multi-resolution Gauss-Seidel V-cycle.
    GaussNewton,
}

/// Options of a SyN registration (DIPY's `syn_registration` defaults).
#[napi(object, object_to_js = false)]
pub struct SynOptionsIn {
    /// @default 'CC'
    pub metric: Option<SynMetric>,
    /// Iterations per pyramid level, coarsest first. @default [10, 10, 5]
    pub level_iters: Option<Vec<f64>>,
    /// @default 0.25
    pub step_length: Option<f64>,
    /// Scale-space smoothing factor. @default 0.2
    pub ss_sigma_factor: Option<f64>,
    /// Stop a level when the energy profile's derivative is at most this. @default 1e-5
    pub opt_tol: Option<f64>,
    /// Iterations of each field inversion. @default 20
    pub inv_iter: Option<f64>,
    /// Tolerance of each field inversion (voxels). @default 1e-3
    pub inv_tol: Option<f64>,
    /// CC: smoothing of the steps (voxels). @default 2
    pub sigma_diff: Option<f64>,
    /// CC: half-width of the correlation window. @default 4
    pub radius: Option<f64>,
    /// SSD / EM: smoothness (the demons step's Gaussian sigma in voxels, or the Gauss-Newton
    /// regularisation weight). @default 4 (SSD), 1 (EM)
    pub smooth: Option<f64>,
    /// SSD / EM: Gauss-Seidel sweeps per V-cycle level. @default 10 (SSD), 5 (EM)
    pub inner_iter: Option<f64>,
    /// SSD / EM: the step. @default 'demons' (SSD), 'gauss_newton' (EM)
    pub step_type: Option<SynStepType>,
    /// EM: quantisation levels (at least 2). @default 256
    pub q_levels: Option<f64>,
    /// EM: add the gradient of the expected image under the other modality. @default true
    pub double_gradient: Option<bool>,
    /// Pre-alignment, 16 numbers row-major: static world to moving world (DIPY's `prealign`). @default identity
    pub prealign: Option<Vec<f64>>,
    /// Threads for this call. @default getThreads()
    pub threads: Option<f64>,
}

/// A registration's result: DIPY's `static_to_moving` map.
#[napi(object, object_from_js = false)]
pub struct SynOut {
    /// DIPY's `mapping.forward` (float32, component-major on the displacement grid).
    #[napi(ts_type = "Float32Array")]
    pub forward: VoxelOut,
    /// DIPY's `mapping.backward`.
    #[napi(ts_type = "Float32Array")]
    pub backward: VoxelOut,
    /// Spatial shape of the displacement grid (the static grid's).
    pub disp_shape: Vec<u32>,
    /// Voxel-to-world of the displacement grid (16 numbers, row-major).
    pub disp_affine: Vec<f64>,
    /// The map's prealign (the inverse of the given pre-alignment), if any.
    pub map_prealign: Option<Vec<f64>>,
    /// Energies per level, coarsest first.
    pub energies: Vec<Vec<f64>>,
    /// Iterations run per level, coarsest first.
    pub iterations: Vec<u32>,
}

impl From<SynResult> for SynOut {
    fn from(r: SynResult) -> Self {
        let g = &r.geometry;
        SynOut {
            disp_shape: g.disp_grid.dims[..g.disp_grid.ndim]
                .iter()
                .map(|&d| d as u32)
                .collect(),
            disp_affine: g.disp_grid.affine.to_vec(),
            map_prealign: g.prealign.map(|p| p.to_vec()),
            energies: r.energies,
            iterations: r.iterations.iter().map(|&k| k as u32).collect(),
            forward: VoxelOut(r.forward.into()),
            backward: VoxelOut(r.backward.into()),
        }
    }
}

fn grid(v: &VolumeIn, what: &str) -> Result<Grid> {
    let id = Affine::IDENTITY.to_vec();
    Grid::new(&v.dims(), v.affine.as_deref().unwrap_or(&id), what)
}

fn to_f32(v: Voxels<'_>, what: &str) -> Result<Vec<f32>> {
    with_samples!(v, what, |s| Ok(s
        .iter()
        .map(|x| x.to_f64() as f32)
        .collect()))
}

fn affine16(v: &[f64], what: &str, ndim: usize) -> Result<Affine> {
    let a = Affine::from_slice(v, what)?;
    Ok(if ndim == 2 { a.planar() } else { a })
}

fn options(o: Option<&SynOptionsIn>) -> Result<SynOptions> {
    let d = SynOptions::default();
    let Some(o) = o else { return Ok(d) };
    let level_iters = match &o.level_iters {
        Some(v) => v
            .iter()
            .map(|&k| int_arg(k, "levelIters entries", 0, MAX_LEVEL_ITERS as u64))
            .collect::<Result<Vec<_>>>()?,
        None => d.level_iters.clone(),
    };
    Ok(SynOptions {
        metric: match o.metric {
            None | Some(SynMetric::CC) => Metric::Cc,
            Some(SynMetric::SSD) => Metric::Ssd,
            Some(SynMetric::EM) => Metric::Em,
        },
        level_iters,
        step_length: o.step_length.unwrap_or(d.step_length),
        ss_sigma_factor: o.ss_sigma_factor.unwrap_or(d.ss_sigma_factor),
        opt_tol: o.opt_tol.unwrap_or(d.opt_tol),
        inv_iter: match o.inv_iter {
            Some(k) => int_arg(k, "invIter", 0, voxelkit_fields::invert::MAX_ITER as u64)?,
            None => d.inv_iter,
        },
        inv_tol: o.inv_tol.unwrap_or(d.inv_tol),
        sigma_diff: o.sigma_diff,
        radius: o
            .radius
            .map(|r| int_arg(r, "radius", 1, 1000))
            .transpose()?,
        smooth: o.smooth,
        inner_iter: o
            .inner_iter
            .map(|k| int_arg(k, "innerIter", 0, MAX_INNER_ITER as u64))
            .transpose()?,
        step_type: o.step_type.as_ref().map(|t| match t {
            SynStepType::Demons => StepType::Demons,
            SynStepType::GaussNewton => StepType::GaussNewton,
        }),
        q_levels: o
            .q_levels
            .map(|q| int_arg(q, "qLevels", 2, MAX_Q_LEVELS as u64))
            .transpose()?,
        double_gradient: o.double_gradient,
        threads: threads(o.threads)?,
    })
}

/// The per-iteration reports of a running registration, drained by the façade.
#[napi]
pub struct SynLog {
    entries: Arc<Mutex<Vec<f64>>>,
}

#[napi]
impl SynLog {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        SynLog {
            entries: Arc::default(),
        }
    }

    /// The reports since the last call, flat `[level, iteration, energy, ...]` (level: DIPY's
    /// pyramid level, 0 = finest; iteration within the level, from 0).
    #[napi]
    pub fn drain(&self) -> Vec<f64> {
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

pub struct Register {
    stat: VolumeIn,
    moving: VolumeIn,
    o: Option<SynOptionsIn>,
    log: Option<Arc<Mutex<Vec<f64>>>>,
}

impl Op for Register {
    type Output = SynResult;
    type Js = SynOut;
    fn threads_arg(&self) -> Option<f64> {
        self.o.as_ref().and_then(|o| o.threads)
    }
    fn run(&mut self, ctl: &Control) -> Result<SynResult> {
        let opts = options(self.o.as_ref())?;
        let (gs, gm) = (grid(&self.stat, "static")?, grid(&self.moving, "moving")?);
        let s = to_f32(self.stat.data.voxels(), "static")?;
        let m = to_f32(self.moving.data.voxels(), "moving")?;
        let pre = match self.o.as_ref().and_then(|o| o.prealign.as_deref()) {
            Some(p) => Some(affine16(p, "prealign", gs.ndim)?),
            None => None,
        };
        let log = self.log.clone();
        let report = move |level: usize, iteration: usize, energy: f64| {
            if let Some(l) = &log {
                l.lock().unwrap_or_else(|e| e.into_inner()).extend([
                    level as f64,
                    iteration as f64,
                    energy,
                ]);
            }
        };
        kernel_register(
            Image {
                data: &s,
                grid: &gs,
            },
            Image {
                data: &m,
                grid: &gm,
            },
            pre.as_ref(),
            &opts,
            Some(&report),
            ctl,
        )
    }
}

export_op!(
    "SyN registration of `moving` to `static` (DIPY's `SymmetricDiffeomorphicRegistration` \
     with the CC, SSD or EM metric); the result is DIPY's `static_to_moving` map. `log` \
     receives a report per iteration."
    register_syn / register_syn_sync(stat: VolumeIn, moving: VolumeIn, o: Option<SynOptionsIn>, log: Option<&SynLog>)
        -> Register, SynOut, "Promise<SynOut>" = Ok::<_, napi::Error>(Register { stat, moving, o, log: log.map(|l| l.entries.clone()) })
);

/// Interpolation of a SyN transform.
#[napi(string_enum = "lowercase")]
pub enum SynInterpolation {
    /// Bilinear / trilinear in float32 as DIPY; float32 output.
    Linear,
    /// Nearest neighbour; the image's type (float64 becomes float32, as DIPY).
    Nearest,
}

/// Where a registration's fields live, and how to apply them.
#[napi(object, object_to_js = false)]
pub struct SynTransformIn {
    /// The displacement grid's voxel-to-world (16 numbers).
    pub disp_affine: Vec<f64>,
    /// The moving grid (DIPY's domain).
    pub domain_shape: Vec<u32>,
    pub domain_affine: Vec<f64>,
    /// The static grid (DIPY's codomain).
    pub codomain_shape: Vec<u32>,
    pub codomain_affine: Vec<f64>,
    /// The map's prealign (`SynOut.mapPrealign`).
    pub map_prealign: Option<Vec<f64>>,
    /// false: `transform` (moving grid to static grid, the `backward` field); true:
    /// `transform_inverse` (static to moving, the `forward` field).
    pub inverse: bool,
    /// @default 'linear'
    pub interpolation: Option<SynInterpolation>,
    /// Threads for this call. @default getThreads()
    pub threads: Option<f64>,
}

pub struct Transform {
    image: VolumeIn,
    field: Float32Array,
    o: SynTransformIn,
}

impl Op for Transform {
    type Output = VoxelBuf;
    type Js = WarpOut;
    fn threads_arg(&self) -> Option<f64> {
        self.o.threads
    }
    fn run(&mut self, ctl: &Control) -> Result<VoxelBuf> {
        let o = &self.o;
        let ig = grid(&self.image, "image")?;
        let nd = ig.ndim;
        let dims = |s: &[u32]| s.iter().map(|&v| v as usize).collect::<Vec<_>>();
        let domain = Grid::new(&dims(&o.domain_shape), &o.domain_affine, "domain")?;
        let codomain = Grid::new(&dims(&o.codomain_shape), &o.codomain_affine, "codomain")?;
        let disp = Grid::new(&codomain.dims[..codomain.ndim], &o.disp_affine, "disp")?;
        let g = MapGeometry {
            disp_grid: disp,
            domain,
            codomain,
            prealign: match &o.map_prealign {
                Some(p) => Some(affine16(p, "mapPrealign", nd)?),
                None => None,
            },
        };
        let th = threads(o.threads)?;
        let field: &[f32] = &self.field;
        let nearest = matches!(o.interpolation, Some(SynInterpolation::Nearest));
        let v = self.image.data.voxels();
        if !nearest || matches!(v, Voxels::F64(_)) {
            let img = to_f32(v, "image")?;
            return Ok(if nearest {
                g.transform_nearest(field, &img, &ig, o.inverse, ctl, th)?
                    .into()
            } else {
                g.transform_linear(field, &img, &ig, o.inverse, ctl, th)?
                    .into()
            });
        }
        with_samples!(v, "image", |s| Ok(g
            .transform_nearest(field, s, &ig, o.inverse, ctl, th)?
            .into()))
    }
}

export_op!(
    "Applies a SyN registration's map to an image (DIPY's `DiffeomorphicMap.transform` / \
     `transform_inverse`)."
    syn_transform / syn_transform_sync(image: VolumeIn, field: Float32Array, o: SynTransformIn)
        -> Transform, WarpOut, "Promise<WarpOut>" = Ok::<_, napi::Error>(Transform { image, field, o })
);
