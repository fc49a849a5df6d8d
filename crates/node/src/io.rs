//! Volume files and gradient files (kernels: `voxelkit-io`).

use crate::owned::Out;
use crate::voxels::{VolumeIn, VoxelOut};
use crate::{export_op, guarded, run_async, run_sync, Job, JobHandle, Op};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::path::PathBuf;
use voxelkit_core::{Control, Error, Result};
use voxelkit_io::{ReadOptions, VolumeFile};

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

/// Where a read takes its file from: a path, or the bytes of a file and its name.
pub enum Source {
    Path(String),
    Bytes(Uint8Array, String),
}

pub struct Read {
    src: Source,
    o: Option<ReadOptionsIn>,
}

impl Op for Read {
    type Output = VolumeFile;
    type Js = VolumeOut;
    fn run(&mut self, _: &Control) -> Result<VolumeFile> {
        let mut opts = ReadOptions::default();
        if let Some(m) = self.o.as_ref().and_then(|o| o.max_bytes) {
            if !(m.is_finite() && m >= 0.0) {
                return Err(Error::setting(format!(
                    "maxBytes must be a finite number >= 0, got {m}"
                )));
            }
            opts.max_bytes = m as u64;
        }
        match &self.src {
            Source::Path(p) => voxelkit_io::read_volume(&PathBuf::from(p), &opts),
            Source::Bytes(b, name) => voxelkit_io::read_volume_bytes(b, name, &opts),
        }
    }
}

export_op!(
    "Reads a NIfTI-1/2 or NRRD volume in its stored element type."
    read_volume / read_volume_sync(path: String, o: Option<ReadOptionsIn>)
        -> Read, VolumeOut, "Promise<VolumeOut>" = Ok::<_, napi::Error>(Read { src: Source::Path(path), o })
);

export_op!(
    "Parses a NIfTI-1/2 (raw or gzip) or attached NRRD file held in memory; `name` gives the format."
    parse_volume / parse_volume_sync(bytes: Uint8Array, name: String, o: Option<ReadOptionsIn>)
        -> Read, VolumeOut, "Promise<VolumeOut>" = Ok::<_, napi::Error>(Read { src: Source::Bytes(bytes, name), o })
);

/// A volume copied from JS when the call is made (so the caller may reuse its arrays).
fn volume_file(v: VolumeIn) -> Result<VolumeFile> {
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
    Ok(VolumeFile {
        shape,
        spacing,
        affine: a,
        data: data.to_buf(),
    })
}

/// A write to a file (`Output = ()`) or to the bytes of a file (`Output = Vec<u8>`).
pub struct Write<T> {
    name: String,
    vol: VolumeFile,
    gzip: Option<bool>,
    to: std::marker::PhantomData<T>,
}

impl<T> Write<T> {
    fn new(name: String, v: VolumeIn, o: Option<WriteOptionsIn>) -> napi::Result<Self> {
        let vol = guarded(|| volume_file(v))?;
        let gzip = o.and_then(|o| o.gzip);
        let to = std::marker::PhantomData;
        Ok(Write {
            name,
            vol,
            gzip,
            to,
        })
    }
}

impl Op for Write<()> {
    type Output = ();
    type Js = ();
    fn run(&mut self, _: &Control) -> Result<()> {
        voxelkit_io::write_volume(&PathBuf::from(&self.name), &self.vol, self.gzip)
    }
}

/// The bytes of a serialised volume file (engine-owned, see [`Out`]).
pub struct Bytes(Out<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(Out(v))
    }
}

impl TypeName for Bytes {
    fn type_name() -> &'static str {
        "Uint8Array"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Bytes {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        v: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        // SAFETY: forwarded from the caller.
        unsafe { Out::to_napi_value(env, v.0) }
    }
}

impl Op for Write<Vec<u8>> {
    type Output = Vec<u8>;
    type Js = Bytes;
    fn run(&mut self, _: &Control) -> Result<Vec<u8>> {
        voxelkit_io::write_volume_bytes(&self.vol, &self.name, self.gzip)
    }
}

export_op!(
    "Writes a volume as NIfTI-1/2 or attached NRRD; the format follows the name."
    write_volume / write_volume_sync(path: String, volume: VolumeIn, o: Option<WriteOptionsIn>)
        -> Write<()>, (), "Promise<void>" = Write::<()>::new(path, volume, o)
);

export_op!(
    "The bytes of the NIfTI-1/2 or attached NRRD file `writeVolume` would write under `name`."
    serialize_volume / serialize_volume_sync(volume: VolumeIn, name: String, o: Option<WriteOptionsIn>)
        -> Write<Vec<u8>>, Bytes, "Promise<Uint8Array>" = Write::<Vec<u8>>::new(name, volume, o)
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
