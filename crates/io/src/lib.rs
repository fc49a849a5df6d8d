//! voxelkit-io: volume files and gradient files.
//!
//! Data keep the file's memory order: the first axis varies fastest (NIfTI order).

pub mod bvals;
pub mod files;
pub mod nifti;
pub mod nrrd;

pub use bvals::{parse_bvals_bvecs, read_bvals_bvecs, BvalsBvecs};
pub use files::{read_volume, read_volume_bytes, write_volume, write_volume_bytes, Format};
pub use nifti::{
    parse_nifti_header, read_nifti, read_nifti_bytes, read_nifti_header, write_nifti,
    write_nifti_bytes, NiftiCode, NiftiDtype, NiftiHeader, NiftiOptions,
};
pub use nrrd::{
    parse_nrrd_header, read_nrrd, read_nrrd_bytes, read_nrrd_detached_bytes, read_nrrd_header,
    write_nrrd, write_nrrd_bytes, NrrdHeader, NrrdName, NrrdOptions,
};

/// Element type of stored voxel data: the core's [`Dtype`](voxelkit_core::Dtype), the ten
/// types [`VolumeData`] holds, which NIfTI ([`nifti::NiftiCode`]) and NRRD
/// ([`nrrd::NrrdName`]) both name.
pub use voxelkit_core::Dtype as ElementType;

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

/// Voxel data in its stored element type (after scaling, see [`nifti`]): the core's
/// [`VoxelBuf`](voxelkit_core::VoxelBuf), named for what it holds here.
pub use voxelkit_core::VoxelBuf as VolumeData;

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
