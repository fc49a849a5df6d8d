//! Radiomics texture features and matrices (kernel: `voxelkit-radiomics`).
//!
//! Image and mask arrive as [`VolumeIn`]s of any element types (every combination is served by
//! one entry without a copy in JS); settings arrive as the PyRadiomics-named object the user
//! gave and are parsed and validated by the kernel crate.

use crate::owned::Out;
use crate::voxels::VolumeIn;
use crate::{export_op, run_async, run_sync, threads, Job, JobHandle, Op};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use voxelkit_core::{with_samples, Control, Error, Result, Sample};
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::resample::Frame;
use voxelkit_radiomics::voxel::{extract_maps, Maps};
use voxelkit_radiomics::{
    extract, glcm_matrices, gldm_matrices, glrlm_matrices, glszm_matrices, ngtdm_matrices,
    Settings, TextureMatrices,
};

/// What a radiomics call computes.
#[napi(string_enum = "lowercase")]
pub enum RadiomicsOutput {
    /// Feature values (PyRadiomics keys).
    Features,
    /// GLCM matrices.
    Glcm,
    /// GLRLM matrices.
    Glrlm,
    /// GLSZM matrices.
    Glszm,
    /// GLDM matrices.
    Gldm,
    /// NGTDM matrices.
    Ngtdm,
    /// Voxel-based feature maps.
    Maps,
}

/// Feature values or texture matrices.
pub enum Computed {
    Features(Vec<(String, f64)>),
    Matrices(TextureMatrices),
    Maps(Maps),
}

/// Feature names (PyRadiomics keys) and values in the same order, texture matrices (first
/// axis fastest, see `TextureMatrices` in the kernel crate), or feature maps (names, the maps one
/// after the other in `values`, each `shape` = the box's `[nx, ny, nz]` from voxel `origin` of
/// the input); engine-owned arrays ([`Out`]).
#[napi(object, object_from_js = false)]
pub struct RadiomicsOut {
    pub names: Vec<String>,
    /// Feature values, or the matrices' elements.
    #[napi(ts_type = "Float64Array")]
    pub values: Out<f64>,
    /// Matrices: `[rows, cols, matrices]`.
    pub shape: Vec<u32>,
    pub grey_levels: Vec<u32>,
    pub run_lengths: Vec<u32>,
    /// Directions `(z, y, x)` flattened, 3 per matrix (empty when matrices are not single directions).
    pub angles: Vec<i32>,
    /// Maps: the box's first voxel `[x, y, z]` in the input (in the resampled grid when
    /// `grid_affine` is set).
    pub origin: Vec<u32>,
    /// Maps computed on a resampled grid: its voxel-to-world matrix (4x4 row-major, in the
    /// input affine's frame) and spacing; empty otherwise.
    pub grid_affine: Vec<f64>,
    pub grid_spacing: Vec<f64>,
}

impl From<Computed> for RadiomicsOut {
    fn from(c: Computed) -> Self {
        match c {
            Computed::Features(v) => {
                let (names, values): (Vec<String>, Vec<f64>) = v.into_iter().unzip();
                RadiomicsOut {
                    names,
                    values: Out(values),
                    shape: vec![],
                    grey_levels: vec![],
                    run_lengths: vec![],
                    angles: vec![],
                    origin: vec![],
                    grid_affine: vec![],
                    grid_spacing: vec![],
                }
            }
            Computed::Maps(m) => RadiomicsOut {
                grid_affine: m.grid.map(|g| grid_affine(&g)).unwrap_or_default(),
                grid_spacing: m.grid.map(|g| g.spacing.to_vec()).unwrap_or_default(),
                shape: m.size.iter().map(|&v| v as u32).collect(),
                origin: m.origin.iter().map(|&v| v as u32).collect(),
                names: m.names,
                values: Out(m.data),
                grey_levels: vec![],
                run_lengths: vec![],
                angles: vec![],
            },
            Computed::Matrices(m) => RadiomicsOut {
                names: vec![],
                values: Out(m.data),
                shape: m.shape.iter().map(|&v| v as u32).collect(),
                grey_levels: m.grey_levels,
                run_lengths: m.run_lengths,
                angles: m.angles.iter().flatten().copied().collect(),
                origin: vec![],
                grid_affine: vec![],
                grid_spacing: vec![],
            },
        }
    }
}

/// A grid's voxel-to-world matrix: direction x spacing, and the origin.
fn grid_affine(g: &voxelkit_radiomics::resample::Grid) -> Vec<f64> {
    let mut a = vec![0.0; 16];
    for r in 0..3 {
        for c in 0..3 {
            a[4 * r + c] = g.frame.direction[r][c] * g.spacing[c];
        }
        a[4 * r + 3] = g.frame.origin[r];
    }
    a[15] = 1.0;
    a
}

pub struct Radiomics {
    what: RadiomicsOutput,
    image: VolumeIn,
    mask: VolumeIn,
    settings: serde_json::Value,
    threads: Option<f64>,
}

fn compute<T: Sample, M: Sample>(
    what: &RadiomicsOutput,
    i: &Input<'_, T, M>,
    s: &Settings,
    th: Option<usize>,
    ctl: &Control,
) -> Result<Computed> {
    Ok(match what {
        RadiomicsOutput::Features => Computed::Features(extract(i, s, th, ctl)?),
        RadiomicsOutput::Glcm => Computed::Matrices(glcm_matrices(i, s, th, ctl)?),
        RadiomicsOutput::Glrlm => Computed::Matrices(glrlm_matrices(i, s, th, ctl)?),
        RadiomicsOutput::Glszm => Computed::Matrices(glszm_matrices(i, s, th, ctl)?),
        RadiomicsOutput::Gldm => Computed::Matrices(gldm_matrices(i, s, th, ctl)?),
        RadiomicsOutput::Ngtdm => Computed::Matrices(ngtdm_matrices(i, s, th, ctl)?),
        RadiomicsOutput::Maps => Computed::Maps(extract_maps(i, s, th, ctl)?),
    })
}

impl Op for Radiomics {
    type Output = Computed;
    type Js = RadiomicsOut;
    fn threads_arg(&self) -> Option<f64> {
        self.threads
    }
    fn run(&mut self, ctl: &Control) -> Result<Computed> {
        let s = Settings::from_json(&self.settings)?;
        let dims = self.image.dims();
        let Ok(shape) = <[usize; 3]>::try_from(dims.as_slice()) else {
            return Err(Error::shape(format!(
                "image shape must have 3 sizes, got {dims:?}"
            )));
        };
        let spacing = match self.image.spacing.as_deref() {
            Some(&[x, y, z]) => [x, y, z],
            _ => return Err(Error::shape("image spacing must have 3 entries")),
        };
        let frame = match self.image.affine.as_deref() {
            Some(a) => Frame::from_affine(a)?,
            None => Frame::default(),
        };
        let th = threads(self.threads)?;
        let what = &self.what;
        with_samples!(self.image.data.voxels(), "image", |img| {
            with_samples!(self.mask.data.voxels(), "mask", |msk| {
                let input = Input {
                    image: img,
                    mask: msk,
                    shape,
                    spacing,
                    frame,
                };
                compute(what, &input, &s, th, ctl)
            })
        })
    }
}

export_op!(
    "Features (PyRadiomics keys), texture matrices or voxel-based feature maps of one ROI. `image`: `shape` \
     `[nx, ny, nz]` and `spacing` (mm); `mask` on the same grid (only its data are read)."
    radiomics / radiomics_sync(
        what: RadiomicsOutput,
        image: VolumeIn,
        mask: VolumeIn,
        settings: serde_json::Value,
        threads: Option<f64>,
    ) -> Radiomics, RadiomicsOut, "Promise<RadiomicsOut>" = Ok::<_, napi::Error>(Radiomics {
        what,
        image,
        mask,
        settings,
        threads,
    })
);
