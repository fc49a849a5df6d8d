//! voxelkit-io: volume files and gradient files.
//!
//! Data keep the file's memory order: the first axis varies fastest (NIfTI order).

pub mod bvals;
pub mod nifti;
pub mod nrrd;

pub use bvals::{parse_bvals_bvecs, read_bvals_bvecs, BvalsBvecs};
pub use nifti::{
    parse_nifti_header, read_nifti, read_nifti_bytes, read_nifti_header, write_nifti,
    write_nifti_bytes, NiftiDtype, NiftiHeader, NiftiOptions,
};
pub use nrrd::{
    parse_nrrd_header, read_nrrd, read_nrrd_bytes, read_nrrd_header, write_nrrd, write_nrrd_bytes,
    NrrdHeader, NrrdOptions,
};

/// Voxel data in its stored element type (after scaling, see [`nifti`]).
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeData {
    U8(Vec<u8>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl VolumeData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            VolumeData::U8(v) => v.len(),
            VolumeData::I8(v) => v.len(),
            VolumeData::I16(v) => v.len(),
            VolumeData::U16(v) => v.len(),
            VolumeData::I32(v) => v.len(),
            VolumeData::U32(v) => v.len(),
            VolumeData::I64(v) => v.len(),
            VolumeData::U64(v) => v.len(),
            VolumeData::F32(v) => v.len(),
            VolumeData::F64(v) => v.len(),
        }
    }
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Name of the element type as the JS TypedArray family calls it: "uint8", "int16", "float32", …
    pub fn dtype(&self) -> &'static str {
        match self {
            VolumeData::U8(_) => "uint8",
            VolumeData::I8(_) => "int8",
            VolumeData::I16(_) => "int16",
            VolumeData::U16(_) => "uint16",
            VolumeData::I32(_) => "int32",
            VolumeData::U32(_) => "uint32",
            VolumeData::I64(_) => "int64",
            VolumeData::U64(_) => "uint64",
            VolumeData::F32(_) => "float32",
            VolumeData::F64(_) => "float64",
        }
    }
}

/// A volume read from or written to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeFile {
    /// Dimensions, first axis fastest: exactly NIfTI `dim[1..=dim[0]]`, as nibabel reports
    /// them (singleton axes are kept).
    pub shape: Vec<usize>,
    /// Voxel sizes along the spatial axes, `|pixdim[1..=min(3, ndim)]|` in mm (0 read as 1,
    /// like nibabel's header fix). Not written by [`write_nifti`]: NIfTI `pixdim` is derived
    /// from `affine` (as nibabel does).
    pub spacing: Vec<f64>,
    /// 4x4 voxel-to-world affine, row-major, RAS+ mm.
    pub affine: [f64; 16],
    /// The voxels, `shape.iter().product()` of them, first axis fastest.
    pub data: VolumeData,
}
