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

/// Element type of stored voxel data: the ten types [`VolumeData`] holds, which NIfTI
/// ([`NiftiDtype`]: [`ElementType::from_nifti_code`]) and NRRD ([`nrrd::NrrdType`]:
/// [`ElementType::from_nrrd_name`]) both name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

/// `$e` with `$T` the Rust type of the element type `$t` (an [`ElementType`]).
macro_rules! with_element_type {
    ($t:expr, $T:ident => $e:expr) => {
        with_element_type!(@arms $t, $T, $e; U8 u8, I8 i8, I16 i16, U16 u16, I32 i32, U32 u32,
                           I64 i64, U64 u64, F32 f32, F64 f64)
    };
    (@arms $t:expr, $T:ident, $e:expr; $($variant:ident $ty:ty),*) => {
        match $t {
            $($crate::ElementType::$variant => {
                type $T = $ty;
                $e
            })*
        }
    };
}
pub(crate) use with_element_type;

impl ElementType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        with_element_type!(self, T => std::mem::size_of::<T>())
    }

    /// The type of `data`'s elements.
    pub fn of(data: &VolumeData) -> ElementType {
        match data {
            VolumeData::U8(_) => ElementType::U8,
            VolumeData::I8(_) => ElementType::I8,
            VolumeData::I16(_) => ElementType::I16,
            VolumeData::U16(_) => ElementType::U16,
            VolumeData::I32(_) => ElementType::I32,
            VolumeData::U32(_) => ElementType::U32,
            VolumeData::I64(_) => ElementType::I64,
            VolumeData::U64(_) => ElementType::U64,
            VolumeData::F32(_) => ElementType::F32,
            VolumeData::F64(_) => ElementType::F64,
        }
    }

    /// Its name as the JS TypedArray family calls it: "uint8", "int16", "float32", …
    pub fn name(self) -> &'static str {
        match self {
            ElementType::U8 => "uint8",
            ElementType::I8 => "int8",
            ElementType::I16 => "int16",
            ElementType::U16 => "uint16",
            ElementType::I32 => "int32",
            ElementType::U32 => "uint32",
            ElementType::I64 => "int64",
            ElementType::U64 => "uint64",
            ElementType::F32 => "float32",
            ElementType::F64 => "float64",
        }
    }
}

/// Options of the volume readers ([`NiftiOptions`], [`NrrdOptions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Largest decoded voxel data (in bytes, as stored in the file) that the reader accepts;
    /// larger files are `ERR_FORMAT` before anything is allocated. Default 16 GiB.
    pub max_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_bytes: 16 << 30,
        }
    }
}

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
        ElementType::of(self).name()
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
