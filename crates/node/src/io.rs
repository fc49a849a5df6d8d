//! Volume files and gradient files (kernels: `voxelkit-io`).

use crate::voxels::{VolumeIn, VoxelOut};
use crate::{export_op, guarded, run_async, run_sync, Job, JobHandle, Op};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::path::PathBuf;
use voxelkit_core::{Control, Error, Result};
use voxelkit_io::{NiftiOptions, NrrdOptions, VolumeFile};

/// A volume read from a file: its grid and its data in the stored element type (engine-owned
/// up to 4 MiB, freed by GC also in synchronous loops; larger arrays handed over without a copy).
#[napi(object, object_from_js = false)]
pub struct VolumeOut {
    pub shape: Vec<u32>,
    pub spacing: Vec<f64>,
    /// 4x4 row-major voxel-to-world (RAS+ mm).
    pub affine: Vec<f64>,
    #[napi(
        ts_type = "Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array"
    )]
    pub data: VoxelOut,
}

impl From<VolumeFile> for VolumeOut {
    fn from(v: VolumeFile) -> Self {
        VolumeOut {
            shape: v.shape.iter().map(|&s| s as u32).collect(),
            spacing: v.spacing,
            affine: v.affine.to_vec(),
            data: VoxelOut(v.data),
        }
    }
}

/// Options of a read. Unset fields take the kernel's defaults.
#[napi(object, object_to_js = false)]
pub struct ReadOptionsIn {
    /// Largest decoded data size accepted, in bytes. @default 16 GiB
    pub max_bytes: Option<f64>,
}

/// Options of a write.
#[napi(object, object_to_js = false)]
pub struct WriteOptionsIn {
    /// NRRD encoding: gzip (true) or raw. NIfTI compression follows the name, so setting it
    /// for NIfTI is an error. @default true for .nrrd
    pub gzip: Option<bool>,
}

pub struct Read {
    path: String,
    o: Option<ReadOptionsIn>,
}

export_op!(
    "Reads a NIfTI-1/2 or NRRD volume in its stored element type."
    read_volume / read_volume_sync(path: String, o: Option<ReadOptionsIn>)
        -> Read, VolumeOut, "Promise<VolumeOut>" = Ok::<_, napi::Error>(Read { path, o })
);

impl Op for Read {
    type Output = VolumeFile;
    type Js = VolumeOut;
    fn run(&mut self, _: &Control) -> Result<VolumeFile> {
        let p = PathBuf::from(&self.path);
        let lower = self.path.to_ascii_lowercase();
        let mut opts = NiftiOptions::default();
        if let Some(m) = self.o.as_ref().and_then(|o| o.max_bytes) {
            if !(m.is_finite() && m >= 0.0) {
                return Err(Error::setting(format!(
                    "maxBytes must be a finite number >= 0, got {m}"
                )));
            }
            opts.max_bytes = m as u64;
        }
        if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
            voxelkit_io::read_nifti(&p, &opts)
        } else if lower.ends_with(".nrrd") || lower.ends_with(".nhdr") {
            let o = NrrdOptions {
                max_bytes: opts.max_bytes,
            };
            voxelkit_io::read_nrrd(&p, &o)
        } else {
            Err(Error::format(format!(
                "unknown volume file extension (expected .nii, .nii.gz, .nrrd, .nhdr): {}",
                self.path
            )))
        }
    }
}

/// A write: the volume is copied when the call is made, so the caller may reuse its arrays.
pub struct Write {
    path: String,
    vol: VolumeFile,
    gzip: Option<bool>,
}

impl Write {
    fn new(path: String, v: VolumeIn, o: Option<WriteOptionsIn>) -> napi::Result<Write> {
        guarded(|| {
            let affine = v.affine("volume")?;
            let shape = v.dims();
            if affine.len() != 16 {
                return Err(Error::shape(format!(
                    "affine must have 16 values, got {}",
                    affine.len()
                )));
            }
            if shape.is_empty() || shape.len() > 7 {
                return Err(Error::shape(format!(
                    "shape must have 1 to 7 axes, got {}",
                    shape.len()
                )));
            }
            let data = v.data.voxels();
            let n = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s));
            if n != Some(data.len()) {
                return Err(Error::shape(format!(
                    "data hold {} values, shape {shape:?} needs {}",
                    data.len(),
                    n.map_or("more than usize".to_string(), |n| n.to_string())
                )));
            }
            let mut a = [0.0; 16];
            a.copy_from_slice(affine);
            let spacing = (0..3.min(shape.len()))
                .map(|j| (a[j] * a[j] + a[4 + j] * a[4 + j] + a[8 + j] * a[8 + j]).sqrt())
                .collect();
            let vol = VolumeFile {
                shape,
                spacing,
                affine: a,
                data: data.to_buf(),
            };
            let gzip = o.and_then(|o| o.gzip);
            Ok(Write { path, vol, gzip })
        })
    }
}

impl Op for Write {
    type Output = ();
    type Js = ();
    fn run(&mut self, _: &Control) -> Result<()> {
        let path = &self.path;
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
            if self.gzip.is_some() {
                return Err(Error::setting(format!(
                    "encoding applies to NRRD files only; NIfTI compression follows the name \
                     (.nii or .nii.gz): {path}"
                )));
            }
            voxelkit_io::write_nifti(&PathBuf::from(path), &self.vol)
        } else if lower.ends_with(".nrrd") {
            voxelkit_io::write_nrrd(&PathBuf::from(path), &self.vol, self.gzip.unwrap_or(true))
        } else if lower.ends_with(".nhdr") {
            Err(Error::unsupported(format!(
                "writing detached NRRD headers (.nhdr) is not supported; write an attached .nrrd: \
                 {path}"
            )))
        } else {
            Err(Error::format(format!(
                "unknown volume file extension (expected .nii, .nii.gz or .nrrd): {path}"
            )))
        }
    }
}

export_op!(
    "Writes a volume as NIfTI-1/2 or attached NRRD (the data are copied when the call is made)."
    write_volume / write_volume_sync(path: String, volume: VolumeIn, o: Option<WriteOptionsIn>)
        -> Write, (), "Promise<void>" = Write::new(path, volume, o)
);

#[napi(object)]
pub struct BvalsBvecsOut {
    pub bvals: Float64Array,
    /// Row per gradient.
    pub bvecs: Float64Array,
}

#[napi]
pub fn read_bvals_bvecs(bval_path: String, bvec_path: String) -> napi::Result<BvalsBvecsOut> {
    guarded(|| {
        let r =
            voxelkit_io::read_bvals_bvecs(&PathBuf::from(bval_path), &PathBuf::from(bvec_path))?;
        Ok(BvalsBvecsOut {
            bvals: Float64Array::new(r.bvals),
            bvecs: Float64Array::new(r.bvecs.iter().flatten().copied().collect()),
        })
    })
}
