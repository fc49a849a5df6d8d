//! Volume files and gradient files.

use crate::guarded;
use crate::owned::Out;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::path::PathBuf;
use voxelkit_core::Error;
use voxelkit_io::{NiftiOptions, NrrdOptions, VolumeData, VolumeFile};

/// Voxel data in its element type: exactly one of the typed fields is set, named by `dtype`.
/// Engine-owned arrays up to 4 MiB ([`Out`]: freed by GC, also in synchronous loops), larger
/// ones handed over without a copy.
#[napi(object, object_from_js = false)]
pub struct TypedOut {
    pub dtype: String,
    #[napi(ts_type = "Uint8Array")]
    pub uint8: Option<Out<u8>>,
    #[napi(ts_type = "Int8Array")]
    pub int8: Option<Out<i8>>,
    #[napi(ts_type = "Int16Array")]
    pub int16: Option<Out<i16>>,
    #[napi(ts_type = "Uint16Array")]
    pub uint16: Option<Out<u16>>,
    #[napi(ts_type = "Int32Array")]
    pub int32: Option<Out<i32>>,
    #[napi(ts_type = "Uint32Array")]
    pub uint32: Option<Out<u32>>,
    #[napi(ts_type = "Float32Array")]
    pub float32: Option<Out<f32>>,
    #[napi(ts_type = "Float64Array")]
    pub float64: Option<Out<f64>>,
    #[napi(ts_type = "BigInt64Array")]
    pub int64: Option<Out<i64>>,
    #[napi(ts_type = "BigUint64Array")]
    pub uint64: Option<Out<u64>>,
}

impl From<VolumeData> for TypedOut {
    fn from(d: VolumeData) -> Self {
        let mut o = TypedOut {
            dtype: d.dtype().to_string(),
            uint8: None,
            int8: None,
            int16: None,
            uint16: None,
            int32: None,
            uint32: None,
            float32: None,
            float64: None,
            int64: None,
            uint64: None,
        };
        match d {
            VolumeData::U8(v) => o.uint8 = Some(Out(v)),
            VolumeData::I8(v) => o.int8 = Some(Out(v)),
            VolumeData::I16(v) => o.int16 = Some(Out(v)),
            VolumeData::U16(v) => o.uint16 = Some(Out(v)),
            VolumeData::I32(v) => o.int32 = Some(Out(v)),
            VolumeData::U32(v) => o.uint32 = Some(Out(v)),
            VolumeData::F32(v) => o.float32 = Some(Out(v)),
            VolumeData::F64(v) => o.float64 = Some(Out(v)),
            VolumeData::I64(v) => o.int64 = Some(Out(v)),
            VolumeData::U64(v) => o.uint64 = Some(Out(v)),
        }
        o
    }
}

/// A volume read from a file: its grid plus the data as in [`TypedOut`].
#[napi(object, object_from_js = false)]
pub struct VolumeOut {
    pub shape: Vec<u32>,
    pub spacing: Vec<f64>,
    /// 4x4 row-major voxel-to-world (RAS+ mm).
    pub affine: Vec<f64>,
    pub dtype: String,
    #[napi(ts_type = "Uint8Array")]
    pub uint8: Option<Out<u8>>,
    #[napi(ts_type = "Int8Array")]
    pub int8: Option<Out<i8>>,
    #[napi(ts_type = "Int16Array")]
    pub int16: Option<Out<i16>>,
    #[napi(ts_type = "Uint16Array")]
    pub uint16: Option<Out<u16>>,
    #[napi(ts_type = "Int32Array")]
    pub int32: Option<Out<i32>>,
    #[napi(ts_type = "Uint32Array")]
    pub uint32: Option<Out<u32>>,
    #[napi(ts_type = "Float32Array")]
    pub float32: Option<Out<f32>>,
    #[napi(ts_type = "Float64Array")]
    pub float64: Option<Out<f64>>,
    #[napi(ts_type = "BigInt64Array")]
    pub int64: Option<Out<i64>>,
    #[napi(ts_type = "BigUint64Array")]
    pub uint64: Option<Out<u64>>,
}

impl From<VolumeFile> for VolumeOut {
    fn from(v: VolumeFile) -> Self {
        let t = TypedOut::from(v.data);
        VolumeOut {
            shape: v.shape.iter().map(|&s| s as u32).collect(),
            spacing: v.spacing,
            affine: v.affine.to_vec(),
            dtype: t.dtype,
            uint8: t.uint8,
            int8: t.int8,
            int16: t.int16,
            uint16: t.uint16,
            int32: t.int32,
            uint32: t.uint32,
            float32: t.float32,
            float64: t.float64,
            int64: t.int64,
            uint64: t.uint64,
        }
    }
}

fn read_impl(path: &str, max_bytes: Option<f64>) -> voxelkit_core::Result<VolumeFile> {
    let p = PathBuf::from(path);
    let lower = path.to_ascii_lowercase();
    let mut opts = NiftiOptions::default();
    if let Some(m) = max_bytes {
        if !(m.is_finite() && m >= 0.0) {
            return Err(Error::setting(format!(
                "maxBytes must be a number >= 0, got {m}"
            )));
        }
        opts.max_bytes = m as u64;
    }
    if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
        voxelkit_io::read_nifti(&p, &opts)
    } else if lower.ends_with(".nrrd") || lower.ends_with(".nhdr") {
        voxelkit_io::read_nrrd(
            &p,
            &NrrdOptions {
                max_bytes: opts.max_bytes,
            },
        )
    } else {
        Err(Error::format(format!(
            "unknown volume file extension (expected .nii, .nii.gz, .nrrd, .nhdr): {path}"
        )))
    }
}

pub struct ReadTask {
    path: String,
    max_bytes: Option<f64>,
}

impl Task for ReadTask {
    type Output = VolumeFile;
    type JsValue = VolumeOut;
    fn compute(&mut self) -> napi::Result<VolumeFile> {
        guarded(|| read_impl(&self.path, self.max_bytes))
    }
    fn resolve(&mut self, _env: Env, v: VolumeFile) -> napi::Result<VolumeOut> {
        Ok(v.into())
    }
}

#[napi]
pub fn read_volume_sync(path: String, max_bytes: Option<f64>) -> napi::Result<VolumeOut> {
    guarded(|| read_impl(&path, max_bytes)).map(Into::into)
}

#[napi]
pub fn read_volume(path: String, max_bytes: Option<f64>) -> AsyncTask<ReadTask> {
    AsyncTask::new(ReadTask { path, max_bytes })
}

/// `gzip`: NRRD encoding (default true); NIfTI compression follows the name, so `Some(_)` is an
/// error there.
fn write_impl(path: &str, vol: &VolumeFile, gzip: Option<bool>) -> voxelkit_core::Result<()> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
        if gzip.is_some() {
            return Err(Error::setting(format!(
                "encoding applies to NRRD files only; NIfTI compression follows the name \
                 (.nii or .nii.gz): {path}"
            )));
        }
        voxelkit_io::write_nifti(&PathBuf::from(path), vol)
    } else if lower.ends_with(".nrrd") {
        voxelkit_io::write_nrrd(&PathBuf::from(path), vol, gzip.unwrap_or(true))
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

fn volume_file(
    shape: &[u32],
    affine: &[f64],
    data: VolumeData,
) -> voxelkit_core::Result<VolumeFile> {
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
    let n = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s as usize));
    if n != Some(data.len()) {
        return Err(Error::shape(format!(
            "data hold {} values, shape {:?} needs {}",
            data.len(),
            shape,
            n.map_or("more than usize".to_string(), |n| n.to_string())
        )));
    }
    let mut a = [0.0; 16];
    a.copy_from_slice(affine);
    let spacing = (0..3.min(shape.len()))
        .map(|j| (a[j] * a[j] + a[4 + j] * a[4 + j] + a[8 + j] * a[8 + j]).sqrt())
        .collect();
    Ok(VolumeFile {
        shape: shape.iter().map(|&s| s as usize).collect(),
        spacing,
        affine: a,
        data,
    })
}

pub struct WriteTask {
    path: String,
    vol: VolumeFile,
    gzip: Option<bool>,
}

impl Task for WriteTask {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> napi::Result<()> {
        guarded(|| write_impl(&self.path, &self.vol, self.gzip))
    }
    fn resolve(&mut self, _env: Env, _o: ()) -> napi::Result<()> {
        Ok(())
    }
}

macro_rules! write_entry {
    ($arr:ident, $variant:ident, $sync:ident, $asyn:ident) => {
        #[napi]
        pub fn $sync(
            path: String,
            data: $arr,
            shape: Vec<u32>,
            affine: Vec<f64>,
            gzip: Option<bool>,
        ) -> napi::Result<()> {
            guarded(|| {
                write_impl(
                    &path,
                    &volume_file(&shape, &affine, VolumeData::$variant(data.to_vec()))?,
                    gzip,
                )
            })
        }

        #[napi]
        pub fn $asyn(
            path: String,
            data: $arr,
            shape: Vec<u32>,
            affine: Vec<f64>,
            gzip: Option<bool>,
        ) -> napi::Result<AsyncTask<WriteTask>> {
            let vol =
                guarded(|| volume_file(&shape, &affine, VolumeData::$variant(data.to_vec())))?;
            Ok(AsyncTask::new(WriteTask { path, vol, gzip }))
        }
    };
}

write_entry!(Uint8Array, U8, write_volume_uint8_sync, write_volume_uint8);
write_entry!(Int8Array, I8, write_volume_int8_sync, write_volume_int8);
write_entry!(Int16Array, I16, write_volume_int16_sync, write_volume_int16);
write_entry!(
    Uint16Array,
    U16,
    write_volume_uint16_sync,
    write_volume_uint16
);
write_entry!(Int32Array, I32, write_volume_int32_sync, write_volume_int32);
write_entry!(
    Uint32Array,
    U32,
    write_volume_uint32_sync,
    write_volume_uint32
);
write_entry!(
    Float32Array,
    F32,
    write_volume_float32_sync,
    write_volume_float32
);
write_entry!(
    Float64Array,
    F64,
    write_volume_float64_sync,
    write_volume_float64
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

#[napi]
pub fn parse_bvals_bvecs(bval_text: String, bvec_text: String) -> napi::Result<BvalsBvecsOut> {
    guarded(|| {
        let r = voxelkit_io::parse_bvals_bvecs(&bval_text, &bvec_text)?;
        Ok(BvalsBvecsOut {
            bvals: Float64Array::new(r.bvals),
            bvecs: Float64Array::new(r.bvecs.iter().flatten().copied().collect()),
        })
    })
}
