//! NIfTI-1 and NIfTI-2 single-file volumes (`.nii`, `.nii.gz`), read and written with the
//! semantics of [nibabel](https://nipy.org/nibabel/), the reference implementation users
//! compare against.
//!
//! # Reading
//!
//! * Versions: NIfTI-1 (348-byte header, magic `n+1\0`) and NIfTI-2 (540-byte header, magic
//!   `n+2\0\r\n\x1a\n`). The byte order is detected from `sizeof_hdr`; big-endian files are
//!   byte-swapped to native order. Header/image pairs (`ni1`, `ni2`) are `ERR_UNSUPPORTED`.
//! * Compression: gzip is detected by its magic bytes (`1f 8b`), never by the file name;
//!   multi-member streams (pigz, bgzip) are accepted.
//! * Element types: uint8 (2), int16 (4), int32 (8), float32 (16), float64 (64), int8 (256),
//!   uint16 (512), uint32 (768), int64 (1024), uint64 (1280). Other NIfTI codes (binary,
//!   complex, rgb24, rgba32, float128) are `ERR_UNSUPPORTED`; codes that NIfTI does not define
//!   are `ERR_FORMAT`.
//! * Shape: exactly `dim[1..=dim[0]]` (singleton axes are kept, as nibabel reports them).
//!   `dim[0]` must be in `1..=7` and every used `dim[i] >= 1`.
//! * Scaling: when `scl_slope` is finite and non-zero and `(scl_slope, scl_inter) != (1, 0)`,
//!   the data become [`VolumeData::F64`] holding `raw * slope + inter` (nibabel's
//!   `get_fdata`); a valid slope with a non-finite intercept is `ERR_FORMAT` (nibabel raises
//!   too). Otherwise the stored element type is kept.
//! * Affine: nibabel's `get_best_affine`: the sform when `sform_code` is a valid non-zero code
//!   (1..=5), else the qform when `qform_code` is (quaternion, `qfac = pixdim[0]` with anything
//!   but -1 read as 1, `|pixdim[1..=3]|` with 0 read as 1, offsets), else the base affine
//!   (`diag(-zx, zy, zz)` with the origin at the voxel centre `(dim - 1) / 2`).
//!   **Deviation from nibabel**: a candidate containing non-finite entries, or a qform whose
//!   quaternion has `b² + c² + d² > 1` (where nibabel raises), is skipped and the next one in
//!   that order is used, so the returned affine is always finite. Non-finite `pixdim` values
//!   are read as 1 for the base affine and the spacing.
//! * Spacing: `|pixdim[1..=min(3, dim[0])]|`, with 0 or non-finite read as 1 (nibabel's header
//!   fixes).
//! * Data are returned in file order (first axis fastest), decoded straight into the typed
//!   vector.
//!
//! # Hostile input
//!
//! Nothing in a file can make the reader panic or allocate more than the file can hold:
//! sizes use checked arithmetic, the decoded size is compared with [`NiftiOptions::max_bytes`]
//! and with the bytes actually present (the file length, or for gzip the most that the
//! compressed length can expand to) before any allocation, and a gzip stream is never
//! decompressed further than 64 KiB past `vox_offset + nbytes`. Those last bytes let the
//! decoder reach the end of the stream and verify its CRC-32, so damaged data are
//! `ERR_FORMAT`, not silently wrong voxels (nibabel stops at the data and would not notice);
//! trailing bytes after a complete gzip member must form another valid member.
//!
//! # Writing
//!
//! A single-file NIfTI-1 (`vox_offset` 352) unless a dimension exceeds 32767, then NIfTI-2
//! (`vox_offset` 544); little-endian; `sform_code = qform_code = 1`; the qform is derived from
//! the affine by nibabel's `set_qform` method (column norms give `pixdim[1..=3]`, `qfac` from
//! the determinant's sign, shears stripped by taking the nearest rotation); `xyzt_units` = mm;
//! `scl_slope = 1`, `scl_inter = 0`. `pixdim[1..=3]` therefore come from the affine, as in
//! nibabel: [`VolumeFile::spacing`] is not written.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use nalgebra::{Matrix3, Matrix4};
use voxelkit_core::{Error, Result};

use crate::{with_element_type, ElementType, ReadOptions, VolumeData, VolumeFile};

/// Size of a NIfTI-1 header in bytes (`sizeof_hdr`).
pub const NIFTI1_HEADER_SIZE: usize = 348;
/// Size of a NIfTI-2 header in bytes (`sizeof_hdr`).
pub const NIFTI2_HEADER_SIZE: usize = 540;
/// Smallest `vox_offset` of a single-file NIfTI-1 (header + 4-byte extension flag).
pub const NIFTI1_MIN_VOX_OFFSET: u64 = 352;
/// Smallest `vox_offset` of a single-file NIfTI-2 (header + 4-byte extension flag).
pub const NIFTI2_MIN_VOX_OFFSET: u64 = 544;

const NIFTI2_MAGIC: [u8; 8] = *b"n+2\0\r\n\x1a\n";
/// A deflate stream cannot expand more than 1032:1; the slack covers headers of tiny files.
pub(crate) const MAX_DEFLATE_RATIO: u64 = 1032;
pub(crate) const GZIP_SLACK: u64 = 1 << 16;
/// How far past the voxel data a gzip stream is read to reach (and verify) its trailer.
const GZIP_TRAILER_PEEK: usize = 64 << 10;
/// Elements decoded per read call while filling the data vector: the first read is
/// [`FIRST_CHUNK_BYTES`], each next one twice the last, up to `CHUNK_BYTES`. Every chunk is
/// zeroed before it is filled, so a file that claims more data than it holds costs at most
/// about twice what it holds (or 4 KiB), not 8 MiB (the NIfTI fuzz target spent most of its time zeroing
/// the first chunk of truncated gzip inputs).
pub(crate) const CHUNK_BYTES: usize = 8 << 20;
pub(crate) const FIRST_CHUNK_BYTES: usize = 4 << 10;

/// The sizes, in elements of `size` bytes, of the successive reads filling `count` elements.
pub(crate) fn chunk_sizes(count: usize, size: usize) -> impl Iterator<Item = usize> {
    let (first, most) = (
        (FIRST_CHUNK_BYTES / size).max(1),
        (CHUNK_BYTES / size).max(1),
    );
    let mut done = 0usize;
    let mut next = first;
    std::iter::from_fn(move || {
        if done >= count {
            return None;
        }
        let k = next.min(count - done);
        done += k;
        next = (next * 2).min(most);
        Some(k)
    })
}
/// gzip level used when writing `.nii.gz` (nibabel's default, favouring speed).
pub(crate) const GZIP_LEVEL: u32 = 1;

/// Options for reading NIfTI files.
pub type NiftiOptions = ReadOptions;

/// Element type of the voxel data as stored in a NIfTI file.
pub type NiftiDtype = ElementType;

/// NIfTI's `datatype` codes of the element types.
pub trait NiftiCode: Sized {
    /// The type for a NIfTI `datatype` code (see the impl).
    fn from_nifti_code(code: i32) -> Result<Self>;
    /// The NIfTI `datatype` code.
    fn nifti_code(self) -> i16;
}

impl NiftiCode for ElementType {
    /// The type for a NIfTI `datatype` code: supported codes give the type, codes that NIfTI
    /// defines but voxelkit does not read are `ERR_UNSUPPORTED`, other codes `ERR_FORMAT`.
    fn from_nifti_code(code: i32) -> Result<NiftiDtype> {
        Ok(match code {
            2 => NiftiDtype::U8,
            4 => NiftiDtype::I16,
            8 => NiftiDtype::I32,
            16 => NiftiDtype::F32,
            64 => NiftiDtype::F64,
            256 => NiftiDtype::I8,
            512 => NiftiDtype::U16,
            768 => NiftiDtype::U32,
            1024 => NiftiDtype::I64,
            1280 => NiftiDtype::U64,
            _ => {
                let name = match code {
                    0 => "unknown (DT_UNKNOWN)",
                    1 => "binary (DT_BINARY)",
                    32 => "complex64",
                    128 => "rgb24",
                    1536 => "float128",
                    1792 => "complex128",
                    2048 => "complex256",
                    2304 => "rgba32",
                    _ => {
                        return Err(Error::format(format!(
                            "NIfTI datatype code {code} is not a code the NIfTI standard defines; \
                             expected one of 2, 4, 8, 16, 64, 256, 512, 768, 1024, 1280"
                        )))
                    }
                };
                return Err(Error::unsupported(format!(
                    "NIfTI datatype {code} ({name}) is not supported; expected uint8 (2), \
                     int16 (4), int32 (8), float32 (16), float64 (64), int8 (256), uint16 (512), \
                     uint32 (768), int64 (1024) or uint64 (1280)"
                )));
            }
        })
    }

    fn nifti_code(self) -> i16 {
        match self {
            NiftiDtype::U8 => 2,
            NiftiDtype::I16 => 4,
            NiftiDtype::I32 => 8,
            NiftiDtype::F32 => 16,
            NiftiDtype::F64 => 64,
            NiftiDtype::I8 => 256,
            NiftiDtype::U16 => 512,
            NiftiDtype::U32 => 768,
            NiftiDtype::I64 => 1024,
            NiftiDtype::U64 => 1280,
        }
    }
}

/// The raw fields of a NIfTI-1 or NIfTI-2 header that voxelkit uses, widened to a common
/// representation (NIfTI-1 `float` fields are stored exactly as `f64`). Nothing is validated
/// here beyond `sizeof_hdr`; the methods validate what they need.
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiHeader {
    /// 1 or 2.
    pub version: u8,
    /// Whether the file is big-endian.
    pub big_endian: bool,
    /// The magic string (4 bytes for NIfTI-1, 8 for NIfTI-2).
    pub magic: Vec<u8>,
    pub dim: [i64; 8],
    pub datatype: i32,
    pub bitpix: i32,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub xyzt_units: i32,
    pub qform_code: i32,
    pub sform_code: i32,
    /// quatern_b, quatern_c, quatern_d.
    pub quatern: [f64; 3],
    /// qoffset_x, qoffset_y, qoffset_z.
    pub qoffset: [f64; 3],
    /// srow_x, srow_y, srow_z.
    pub srow: [[f64; 4]; 3],
    /// `descrip`, up to its first NUL, lossily decoded.
    pub descrip: String,
}

impl NiftiHeader {
    /// Header size in bytes (348 or 540).
    pub fn header_size(&self) -> usize {
        if self.version == 1 {
            NIFTI1_HEADER_SIZE
        } else {
            NIFTI2_HEADER_SIZE
        }
    }

    /// Checks the magic string: single-file magic is accepted, pair magic is
    /// `ERR_UNSUPPORTED`, anything else `ERR_FORMAT`.
    pub fn check_magic(&self) -> Result<()> {
        let m = &self.magic;
        let shown = String::from_utf8_lossy(&m[..3]).into_owned();
        if self.version == 1 {
            match &m[..] {
                b"n+1\0" => Ok(()),
                b"ni1\0" => Err(Error::unsupported(
                    "NIfTI-1 header/image pairs (magic \"ni1\", .hdr + .img) are not supported; \
                     expected a single-file NIfTI (magic \"n+1\", .nii or .nii.gz)",
                )),
                _ => Err(Error::format(format!(
                    "bad NIfTI-1 magic: expected \"n+1\\0\", got {m:?} ({shown:?}); \
                     Analyze 7.5 files are not supported"
                ))),
            }
        } else {
            match &m[..4] {
                b"n+2\0" => {
                    let eol = &m[4..8];
                    if eol == &NIFTI2_MAGIC[4..] || eol == [0, 0, 0, 0] {
                        Ok(())
                    } else {
                        Err(Error::format(format!(
                            "bad NIfTI-2 magic: expected bytes 13 10 26 10 after \"n+2\\0\", \
                             got {eol:?}; the file was probably damaged by end-of-line conversion"
                        )))
                    }
                }
                b"ni2\0" => Err(Error::unsupported(
                    "NIfTI-2 header/image pairs (magic \"ni2\", .hdr + .img) are not supported; \
                     expected a single-file NIfTI (magic \"n+2\", .nii or .nii.gz)",
                )),
                _ => Err(Error::format(format!(
                    "bad NIfTI-2 magic: expected \"n+2\\0\", got {:?} ({shown:?})",
                    &m[..4]
                ))),
            }
        }
    }

    /// The data shape, `dim[1..=dim[0]]`, validated: `dim[0]` in `1..=7`, each dim `>= 1`
    /// and fitting `usize`, else `ERR_FORMAT`.
    pub fn shape(&self) -> Result<Vec<usize>> {
        let ndim = self.dim[0];
        if !(1..=7).contains(&ndim) {
            return Err(Error::format(format!(
                "NIfTI dim[0] (number of dimensions) must be 1..=7, got {ndim}"
            )));
        }
        let mut shape = Vec::with_capacity(ndim as usize);
        for i in 1..=ndim as usize {
            let d = self.dim[i];
            if d < 1 {
                return Err(Error::format(format!(
                    "NIfTI dim[{i}] must be >= 1, got {d} (dim = {:?})",
                    &self.dim[..=ndim as usize]
                )));
            }
            let d = usize::try_from(d).map_err(|_| {
                Error::format(format!(
                    "NIfTI dim[{i}] = {d} does not fit this platform's usize"
                ))
            })?;
            shape.push(d);
        }
        Ok(shape)
    }

    /// The stored element type (see [`ElementType::from_nifti_code`]).
    pub fn dtype(&self) -> Result<NiftiDtype> {
        NiftiDtype::from_nifti_code(self.datatype)
    }

    /// The offset of the voxel data, validated (`>= 352` for NIfTI-1, `>= 544` for NIfTI-2,
    /// finite); a fractional NIfTI-1 value is truncated as nibabel does.
    pub fn data_offset(&self) -> Result<u64> {
        let min = if self.version == 1 {
            NIFTI1_MIN_VOX_OFFSET
        } else {
            NIFTI2_MIN_VOX_OFFSET
        };
        let v = self.vox_offset;
        // 2^53: beyond that no file can exist, and the cast below stays exact.
        if !v.is_finite() || v < min as f64 || v > 9.007_199_254_740_992e15 {
            return Err(Error::format(format!(
                "NIfTI-{} vox_offset must be a finite number >= {min} (header plus extension \
                 flag), got {v}",
                self.version
            )));
        }
        Ok(v.trunc() as u64)
    }

    /// The scaling `(slope, inter)` to apply, or `None` when the stored values are used as is
    /// (slope zero or non-finite, or exactly `(1, 0)`). A valid slope with a non-finite
    /// intercept is `ERR_FORMAT`.
    pub fn scaling(&self) -> Result<Option<(f64, f64)>> {
        let (s, i) = (self.scl_slope, self.scl_inter);
        if s == 0.0 || !s.is_finite() {
            return Ok(None);
        }
        if !i.is_finite() {
            return Err(Error::format(format!(
                "NIfTI scl_slope is {s} but scl_inter is {i}; expected a finite intercept"
            )));
        }
        if s == 1.0 && i == 0.0 {
            return Ok(None);
        }
        Ok(Some((s, i)))
    }

    /// `pixdim[i]` as nibabel's header checks leave it for i in 1..=3 (absolute value, 0 read
    /// as 1; here also non-finite read as 1); other indices unchanged.
    fn zoom(&self, i: usize) -> f64 {
        let p = self.pixdim[i];
        if (1..=3).contains(&i) && (p == 0.0 || !p.is_finite()) {
            1.0
        } else if (1..=3).contains(&i) {
            p.abs()
        } else {
            p
        }
    }

    /// Voxel sizes of the spatial axes: `|pixdim[1..=min(3, dim[0])]|` (0 or non-finite read
    /// as 1).
    pub fn spacing(&self) -> Vec<f64> {
        let n = self.dim[0].clamp(0, 3) as usize;
        (1..=n).map(|i| self.zoom(i)).collect()
    }

    /// The sform affine (row-major), whatever `sform_code` says.
    pub fn sform(&self) -> [f64; 16] {
        let r = &self.srow;
        [
            r[0][0], r[0][1], r[0][2], r[0][3], r[1][0], r[1][1], r[1][2], r[1][3], r[2][0],
            r[2][1], r[2][2], r[2][3], 0.0, 0.0, 0.0, 1.0,
        ]
    }

    /// The qform affine (row-major) as nibabel's `get_qform` computes it, whatever
    /// `qform_code` says; `None` when `b² + c² + d²` exceeds 1 beyond rounding (nibabel
    /// raises there).
    pub fn qform(&self) -> Option<[f64; 16]> {
        let [b, c, d] = self.quatern;
        // nibabel's thresholds: 3 eps of the storage type.
        let thresh = if self.version == 1 {
            3.0 * f32::EPSILON as f64
        } else {
            3.0 * f64::EPSILON
        };
        let w2 = 1.0 - (b * b + c * c + d * d);
        let a = if w2.abs() < thresh {
            0.0
        } else if w2 < 0.0 || !w2.is_finite() {
            return None;
        } else {
            w2.sqrt()
        };
        let r = quat2mat([a, b, c, d]);
        let qfac = if self.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
        let vox = [self.zoom(1), self.zoom(2), self.zoom(3) * qfac];
        let mut out = [0.0; 16];
        for i in 0..3 {
            for j in 0..3 {
                out[i * 4 + j] = r[i][j] * vox[j];
            }
            out[i * 4 + 3] = self.qoffset[i];
        }
        out[15] = 1.0;
        Some(out)
    }

    /// nibabel's `get_base_affine`: zooms on the diagonal with x negated, the voxel centre
    /// `(dim - 1) / 2` at the origin (axes beyond `dim[0]` count as size 1, zoom 1).
    pub fn base_affine(&self) -> [f64; 16] {
        let ndim = self.dim[0].clamp(0, 7) as usize;
        let mut out = [0.0; 16];
        for i in 0..3 {
            let (n, z) = if i < ndim {
                (self.dim[i + 1] as f64, self.zoom(i + 1))
            } else {
                (1.0, 1.0)
            };
            let z = if i == 0 { -z } else { z };
            out[i * 5] = z;
            out[i * 4 + 3] = -((n - 1.0) / 2.0) * z;
        }
        out[15] = 1.0;
        out
    }

    /// nibabel's `get_best_affine`, skipping non-finite candidates (see the module docs).
    pub fn best_affine(&self) -> [f64; 16] {
        let valid = |code: i32| (1..=5).contains(&code);
        let finite = |a: &[f64; 16]| a.iter().all(|v| v.is_finite());
        if valid(self.sform_code) {
            let s = self.sform();
            if finite(&s) {
                return s;
            }
        }
        if valid(self.qform_code) {
            if let Some(q) = self.qform().filter(finite) {
                return q;
            }
        }
        let b = self.base_affine();
        if finite(&b) {
            b
        } else {
            // Only reachable with absurd dims; keep the affine finite.
            let mut id = [0.0; 16];
            for i in 0..4 {
                id[i * 5] = 1.0;
            }
            id
        }
    }
}

/// nibabel's `quat2mat` for `[w, x, y, z]` (identity for a near-zero quaternion).
fn quat2mat(q: [f64; 4]) -> [[f64; 3]; 3] {
    let [w, x, y, z] = q;
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [
        [1.0 - (yy + zz), xy - wz, xz + wy],
        [xy + wz, 1.0 - (xx + zz), yz - wx],
        [xz - wy, yz + wx, 1.0 - (xx + yy)],
    ]
}

// ---------------------------------------------------------------------------------------------
// Header decoding

struct Fields<'a> {
    b: &'a [u8],
    be: bool,
}

impl Fields<'_> {
    fn arr<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[off..off + N]);
        if self.be {
            a.reverse();
        }
        a
    }
    fn i16(&self, off: usize) -> i16 {
        i16::from_le_bytes(self.arr(off))
    }
    fn i32(&self, off: usize) -> i32 {
        i32::from_le_bytes(self.arr(off))
    }
    fn i64(&self, off: usize) -> i64 {
        i64::from_le_bytes(self.arr(off))
    }
    fn f32(&self, off: usize) -> f64 {
        f32::from_le_bytes(self.arr(off)) as f64
    }
    fn f64(&self, off: usize) -> f64 {
        f64::from_le_bytes(self.arr(off))
    }
    /// A real (float64 when `wide`, else float32).
    fn real(&self, off: usize, wide: bool) -> f64 {
        if wide {
            self.f64(off)
        } else {
            self.f32(off)
        }
    }
    /// `N` consecutive reals from `off`.
    fn reals<const N: usize>(&self, off: usize, wide: bool) -> [f64; N] {
        let w = if wide { 8 } else { 4 };
        std::array::from_fn(|i| self.real(off + w * i, wide))
    }
    fn text(&self, off: usize, len: usize) -> String {
        let s = &self.b[off..off + len];
        let end = s.iter().position(|&c| c == 0).unwrap_or(len);
        String::from_utf8_lossy(&s[..end]).into_owned()
    }
}

/// Identifies version and byte order from the first four bytes (`sizeof_hdr`).
fn sniff(first4: [u8; 4]) -> Result<(u8, bool)> {
    let le = i32::from_le_bytes(first4);
    let be = i32::from_be_bytes(first4);
    match (le, be) {
        (348, _) => Ok((1, false)),
        (_, 348) => Ok((1, true)),
        (540, _) => Ok((2, false)),
        (_, 540) => Ok((2, true)),
        _ => Err(Error::format(format!(
            "not a NIfTI file: expected sizeof_hdr 348 (NIfTI-1) or 540 (NIfTI-2) in either byte \
             order, got the bytes {first4:02x?}"
        ))),
    }
}

/// Where NIfTI-1 and NIfTI-2 keep the header fields, and how wide their integers, codes and
/// reals are (NIfTI-1: int16 / int16 / float32, NIfTI-2: int64 / int32 / float64).
struct HeaderLayout {
    magic: std::ops::Range<usize>,
    datatype: usize, // bitpix follows (both int16 in either version)
    dim: usize,
    pixdim: usize,
    vox_offset: usize,
    scl_slope: usize,  // scl_inter follows
    qform_code: usize, // sform_code follows
    quatern: usize,    // then qoffset, then the three srow rows of 4
    descrip: usize,
    xyzt_units: usize,
    wide: bool,
}

const NIFTI1_LAYOUT: HeaderLayout = HeaderLayout {
    magic: 344..348,
    datatype: 70,
    dim: 40,
    pixdim: 76,
    vox_offset: 108,
    scl_slope: 112,
    qform_code: 252,
    quatern: 256,
    descrip: 148,
    xyzt_units: 123,
    wide: false,
};

const NIFTI2_LAYOUT: HeaderLayout = HeaderLayout {
    magic: 4..12,
    datatype: 12,
    dim: 16,
    pixdim: 104,
    vox_offset: 168,
    scl_slope: 176,
    qform_code: 344,
    quatern: 352,
    descrip: 240,
    xyzt_units: 500,
    wide: true,
};

fn decode_header(b: &[u8], version: u8, be: bool) -> NiftiHeader {
    let f = Fields { b, be };
    let l = if version == 1 {
        &NIFTI1_LAYOUT
    } else {
        &NIFTI2_LAYOUT
    };
    let (wi, wc, wr) = if l.wide { (8, 4, 8) } else { (2, 2, 4) };
    let int = |off: usize| {
        if l.wide {
            f.i64(off)
        } else {
            f.i16(off) as i64
        }
    };
    let code = |off: usize| {
        if l.wide {
            f.i32(off)
        } else {
            f.i16(off) as i32
        }
    };
    NiftiHeader {
        version,
        big_endian: be,
        magic: b[l.magic.clone()].to_vec(),
        dim: std::array::from_fn(|i| int(l.dim + wi * i)),
        datatype: f.i16(l.datatype) as i32,
        bitpix: f.i16(l.datatype + 2) as i32,
        pixdim: f.reals(l.pixdim, l.wide),
        // vox_offset is an int64 in NIfTI-2; keep it in f64 for a common representation
        // (values beyond 2^53 are rejected by `data_offset` anyway).
        vox_offset: if l.wide {
            f.i64(l.vox_offset) as f64
        } else {
            f.f32(l.vox_offset)
        },
        scl_slope: f.real(l.scl_slope, l.wide),
        scl_inter: f.real(l.scl_slope + wr, l.wide),
        xyzt_units: if l.wide {
            f.i32(l.xyzt_units)
        } else {
            b[l.xyzt_units] as i32
        },
        qform_code: code(l.qform_code),
        sform_code: code(l.qform_code + wc),
        quatern: f.reals(l.quatern, l.wide),
        qoffset: f.reals(l.quatern + 3 * wr, l.wide),
        srow: std::array::from_fn(|r| f.reals(l.quatern + (6 + 4 * r) * wr, l.wide)),
        descrip: f.text(l.descrip, 80),
    }
}

// ---------------------------------------------------------------------------------------------
// Typed element access

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Plain numeric element types: no padding, every bit pattern valid.
pub(crate) trait Element: sealed::Sealed + Copy + Default + 'static {
    fn swap(self) -> Self;
    fn to_f64(self) -> f64;
    fn wrap(v: Vec<Self>) -> VolumeData;
}

macro_rules! element_int {
    ($($t:ty => $var:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            fn swap(self) -> Self { self.swap_bytes() }
            fn to_f64(self) -> f64 { self as f64 }
            fn wrap(v: Vec<Self>) -> VolumeData { VolumeData::$var(v) }
        }
    )*};
}
element_int!(u8 => U8, i8 => I8, i16 => I16, u16 => U16, i32 => I32, u32 => U32, i64 => I64,
    u64 => U64);

macro_rules! element_float {
    ($($t:ty => $var:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            fn swap(self) -> Self { <$t>::from_bits(self.to_bits().swap_bytes()) }
            fn to_f64(self) -> f64 { self as f64 }
            fn wrap(v: Vec<Self>) -> VolumeData { VolumeData::$var(v) }
        }
    )*};
}
element_float!(f32 => F32, f64 => F64);

pub(crate) fn bytes_of<T: Element>(v: &[T]) -> &[u8] {
    // SAFETY: `Element` is sealed and implemented only for primitive integers and floats,
    // which have no padding bytes; u8 has alignment 1 and the length covers exactly `v`.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

pub(crate) fn bytes_of_mut<T: Element>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `bytes_of`; additionally every bit pattern is a valid value of these
    // types, so any bytes written through the view leave valid elements.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// What is known about the bytes behind a stream before decoding.
#[derive(Clone, Copy)]
enum Source {
    /// Uncompressed; the total length in bytes.
    Raw(u64),
    /// gzip; the compressed length in bytes.
    Gzip(u64),
}

impl Source {
    fn is_gzip(self) -> bool {
        matches!(self, Source::Gzip(_))
    }
}

/// Maps an I/O error from the stream: decoder complaints and early ends are malformed
/// content, anything else is an OS error.
fn stream_err(e: io::Error, src: Source, what: &str) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
            if src.is_gzip() =>
        {
            Error::format(format!(
                "corrupt or truncated gzip stream while reading {what}: {e}"
            ))
        }
        io::ErrorKind::UnexpectedEof => {
            Error::format(format!("unexpected end of file while reading {what}: {e}"))
        }
        _ => Error::io(format!("reading {what}: {e}")),
    }
}

/// Reads until `buf` is full or the stream ends; returns the number of bytes read.
pub(crate) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads and decodes the header; leaves the stream just after it.
fn read_header<R: Read>(r: &mut R, src: Source) -> Result<NiftiHeader> {
    let mut buf = [0u8; NIFTI2_HEADER_SIZE];
    let got = read_full(r, &mut buf[..4]).map_err(|e| stream_err(e, src, "the NIfTI header"))?;
    if got < 4 {
        return Err(Error::format(format!(
            "truncated NIfTI header: expected at least {NIFTI1_HEADER_SIZE} bytes, got {got}"
        )));
    }
    let (version, be) = sniff([buf[0], buf[1], buf[2], buf[3]])?;
    let size = if version == 1 {
        NIFTI1_HEADER_SIZE
    } else {
        NIFTI2_HEADER_SIZE
    };
    let rest =
        read_full(r, &mut buf[4..size]).map_err(|e| stream_err(e, src, "the NIfTI header"))?;
    if 4 + rest < size {
        return Err(Error::format(format!(
            "truncated NIfTI-{version} header: expected {size} bytes, got {}",
            4 + rest
        )));
    }
    Ok(decode_header(&buf[..size], version, be))
}

/// Everything needed to read the data, validated.
struct Layout {
    shape: Vec<usize>,
    dtype: NiftiDtype,
    count: usize,
    nbytes: u64,
    offset: u64,
}

fn layout(h: &NiftiHeader, src: Source, opts: &NiftiOptions) -> Result<Layout> {
    h.check_magic()?;
    let shape = h.shape()?;
    let dtype = h.dtype()?;
    let offset = h.data_offset()?;
    let overflow = || {
        Error::format(format!(
            "NIfTI dims {shape:?} of {} ({} bytes each) overflow the addressable size",
            dtype.name(),
            dtype.size()
        ))
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(overflow)?;
    let nbytes = count.checked_mul(dtype.size()).ok_or_else(overflow)?;
    let nbytes = u64::try_from(nbytes).map_err(|_| overflow())?;
    // Keep the in-memory size addressable even for isize-limited allocations.
    if nbytes > isize::MAX as u64 {
        return Err(overflow());
    }
    if nbytes > opts.max_bytes {
        return Err(Error::format(format!(
            "NIfTI data of shape {shape:?} ({}) need {nbytes} bytes, more than the limit \
             max_bytes = {} (NiftiOptions)",
            dtype.name(),
            opts.max_bytes
        )));
    }
    let end = offset.checked_add(nbytes).ok_or_else(overflow)?;
    match src {
        Source::Raw(len) => {
            if len < end {
                return Err(Error::format(format!(
                    "truncated NIfTI data: expected {nbytes} bytes of voxel data after \
                     vox_offset {offset} (shape {shape:?}, {}), got {}",
                    dtype.name(),
                    len.saturating_sub(offset)
                )));
            }
        }
        Source::Gzip(clen) => {
            let most = clen
                .saturating_mul(MAX_DEFLATE_RATIO)
                .saturating_add(GZIP_SLACK);
            if end > most {
                return Err(Error::format(format!(
                    "truncated NIfTI data: expected {end} decompressed bytes (vox_offset {offset} \
                     + {nbytes} bytes of data for shape {shape:?}, {}), but a gzip stream of \
                     {clen} bytes cannot expand to more than {most}",
                    dtype.name()
                )));
            }
        }
    }
    Ok(Layout {
        shape,
        dtype,
        count,
        nbytes,
        offset,
    })
}

/// Decodes `count` elements straight into a `Vec<T>`, filling it chunk by chunk so that a
/// stream that ends early never makes the reader touch more memory than it delivered.
fn read_elements<T: Element, R: Read>(
    r: &mut R,
    count: usize,
    swap: bool,
    src: Source,
) -> Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(count).map_err(|e| {
        Error::io(format!(
            "cannot allocate {} bytes for the NIfTI data: {e}",
            count * size
        ))
    })?;
    for n in chunk_sizes(count, size) {
        let start = v.len();
        v.resize(start + n, T::default());
        let dst = bytes_of_mut(&mut v[start..]);
        let got = read_full(r, dst).map_err(|e| stream_err(e, src, "the NIfTI voxel data"))?;
        if got < dst.len() {
            return Err(Error::format(format!(
                "truncated NIfTI data: expected {} bytes of voxel data, got {}",
                count * size,
                start * size + got
            )));
        }
    }
    if swap {
        for x in v.iter_mut() {
            *x = x.swap();
        }
    }
    Ok(v)
}

fn read_typed<T: Element, R: Read>(
    r: &mut R,
    count: usize,
    swap: bool,
    scaling: Option<(f64, f64)>,
    src: Source,
) -> Result<VolumeData> {
    let v: Vec<T> = read_elements(r, count, swap, src)?;
    Ok(match scaling {
        None => T::wrap(v),
        Some((slope, inter)) => {
            VolumeData::F64(v.into_iter().map(|x| x.to_f64() * slope + inter).collect())
        }
    })
}

/// Reads a whole volume from a stream positioned at the start of the (decompressed) file.
fn read_stream<R: Read>(r: &mut R, src: Source, opts: &NiftiOptions) -> Result<VolumeFile> {
    let h = read_header(r, src)?;
    let lay = layout(&h, src, opts)?;
    let scaling = h.scaling()?;
    let skip = lay.offset - h.header_size() as u64;
    let skipped = io::copy(&mut r.by_ref().take(skip), &mut io::sink())
        .map_err(|e| stream_err(e, src, "the NIfTI extensions"))?;
    if skipped < skip {
        return Err(Error::format(format!(
            "truncated NIfTI file: expected at least {} bytes before the voxel data \
             (vox_offset), got {}",
            lay.offset,
            h.header_size() as u64 + skipped
        )));
    }
    let swap = h.big_endian != cfg!(target_endian = "big");
    let n = lay.count;
    let data = with_element_type!(lay.dtype, T => read_typed::<T, R>(r, n, swap, scaling, src)?);
    debug_assert_eq!(lay.nbytes as usize, n * lay.dtype.size());
    if src.is_gzip() {
        check_gzip_trailer(r)?;
    }
    Ok(VolumeFile {
        shape: lay.shape,
        spacing: h.spacing(),
        affine: h.best_affine(),
        data,
    })
}

/// Reads on past the voxel data by at most [`GZIP_TRAILER_PEEK`] bytes so that the decoder
/// reaches the end of the stream and checks its CRC-32 and length: a stream whose deflate data
/// were damaged without breaking the deflate syntax is then `ERR_FORMAT` instead of silently
/// wrong voxels. When the decompressed file carries more bytes than that after the data, the
/// check is skipped (nibabel never reads past the data).
pub(crate) fn check_gzip_trailer<R: Read>(r: &mut R) -> Result<()> {
    let mut scratch = [0u8; 4096];
    let mut seen = 0usize;
    while seen < GZIP_TRAILER_PEEK {
        match r.read(&mut scratch) {
            Ok(0) => return Ok(()),
            Ok(n) => seen += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::format(format!(
                    "corrupt gzip stream (checked at its end, after the voxel data): {e}"
                )))
            }
        }
    }
    Ok(())
}

pub(crate) fn is_gzip(first: &[u8]) -> bool {
    first.len() >= 2 && first[0] == 0x1f && first[1] == 0x8b
}

/// Reads a NIfTI-1/NIfTI-2 volume from memory (`.nii` bytes, or `.nii.gz` bytes detected by
/// the gzip magic). See the [module docs](self) for the semantics.
pub fn read_nifti_bytes(bytes: &[u8], opts: &NiftiOptions) -> Result<VolumeFile> {
    let len = bytes.len() as u64;
    if is_gzip(bytes) {
        read_stream(&mut MultiGzDecoder::new(bytes), Source::Gzip(len), opts)
    } else {
        read_stream(&mut &bytes[..], Source::Raw(len), opts)
    }
}

fn open(path: &Path) -> Result<(BufReader<File>, Source)> {
    let file =
        File::open(path).map_err(|e| Error::io(format!("cannot open {}: {e}", path.display())))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(format!("cannot stat {}: {e}", path.display())))?
        .len();
    let mut r = BufReader::new(file);
    let mut magic = [0u8; 2];
    let got = read_full(&mut r, &mut magic)
        .map_err(|e| Error::io(format!("reading {}: {e}", path.display())))?;
    r.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(format!("seeking in {}: {e}", path.display())))?;
    let src = if is_gzip(&magic[..got]) {
        Source::Gzip(len)
    } else {
        Source::Raw(len)
    };
    Ok((r, src))
}

fn with_path(e: Error, path: &Path) -> Error {
    Error::new(e.code, format!("{}: {}", path.display(), e.message))
}

/// Reads a NIfTI-1/NIfTI-2 volume from a `.nii` or `.nii.gz` file (gzip detected by its magic
/// bytes, not by the name). See the [module docs](self) for the semantics.
pub fn read_nifti(path: &Path, opts: &NiftiOptions) -> Result<VolumeFile> {
    let (r, src) = open(path)?;
    let res = match src {
        Source::Gzip(_) => read_stream(&mut MultiGzDecoder::new(r), src, opts),
        Source::Raw(_) => {
            let mut r = r;
            read_stream(&mut r, src, opts)
        }
    };
    res.map_err(|e| with_path(e, path))
}

/// Reads only the header of a `.nii` / `.nii.gz` file (gzip detected by magic bytes).
pub fn read_nifti_header(path: &Path) -> Result<NiftiHeader> {
    let (r, src) = open(path)?;
    let res = match src {
        Source::Gzip(_) => read_header(&mut MultiGzDecoder::new(r), src),
        Source::Raw(_) => {
            let mut r = r;
            read_header(&mut r, src)
        }
    };
    res.map_err(|e| with_path(e, path))
}

/// Decodes only the header from the start of `.nii` or `.nii.gz` bytes.
pub fn parse_nifti_header(bytes: &[u8]) -> Result<NiftiHeader> {
    let len = bytes.len() as u64;
    if is_gzip(bytes) {
        read_header(&mut MultiGzDecoder::new(bytes), Source::Gzip(len))
    } else {
        read_header(&mut &bytes[..], Source::Raw(len))
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The qform parameters nibabel's `set_qform` derives from an affine.
struct Qform {
    /// quatern_b, c, d.
    quat: [f64; 3],
    qfac: f64,
    zooms: [f64; 3],
    offset: [f64; 3],
}

/// nibabel's `Nifti1Header.set_qform(affine)`: column norms are the zooms, `qfac` makes the
/// rotation proper, the nearest rotation (polar factor via SVD) strips shears, and the
/// quaternion comes from nibabel's `mat2quat` (eigenvector of the Bar-Itzhack matrix, w >= 0).
fn qform_from_affine(a: &[f64; 16]) -> Result<Qform> {
    let rzs = Matrix3::new(a[0], a[1], a[2], a[4], a[5], a[6], a[8], a[9], a[10]);
    let mut zooms = [0.0; 3];
    let mut r = rzs;
    for j in 0..3 {
        let n = rzs.column(j).norm();
        if n == 0.0 || !n.is_finite() {
            return Err(Error::setting(format!(
                "affine column {j} has length {n}; a voxel-to-world affine needs three \
                 non-zero, finite columns (affine = {a:?})"
            )));
        }
        zooms[j] = n;
        r.column_mut(j).unscale_mut(n);
    }
    let qfac = if r.determinant() > 0.0 { 1.0 } else { -1.0 };
    if qfac < 0.0 {
        r.column_mut(2).neg_mut();
    }
    let svd = r.svd(true, true);
    let pr = match (svd.u, svd.v_t) {
        (Some(u), Some(vt)) => u * vt,
        _ => {
            return Err(Error::setting(
                "affine rotation could not be orthogonalised (SVD failed)",
            ))
        }
    };
    // nibabel's mat2quat, with M.flat in row-major order.
    let (qxx, qyx, qzx) = (pr[(0, 0)], pr[(0, 1)], pr[(0, 2)]);
    let (qxy, qyy, qzy) = (pr[(1, 0)], pr[(1, 1)], pr[(1, 2)]);
    let (qxz, qyz, qzz) = (pr[(2, 0)], pr[(2, 1)], pr[(2, 2)]);
    let k = Matrix4::new(
        qxx - qyy - qzz,
        qyx + qxy,
        qzx + qxz,
        qyz - qzy,
        qyx + qxy,
        qyy - qxx - qzz,
        qzy + qyz,
        qzx - qxz,
        qzx + qxz,
        qzy + qyz,
        qzz - qxx - qyy,
        qxy - qyx,
        qyz - qzy,
        qzx - qxz,
        qxy - qyx,
        qxx + qyy + qzz,
    ) / 3.0;
    let eig = k.symmetric_eigen();
    let imax = eig.eigenvalues.imax();
    let v = eig.eigenvectors.column(imax);
    // vecs[[3, 0, 1, 2], argmax] -> (w, x, y, z)
    let mut q = [v[3], v[0], v[1], v[2]];
    if q[0] < 0.0 {
        for x in q.iter_mut() {
            *x = -*x;
        }
    }
    Ok(Qform {
        quat: [q[1], q[2], q[3]],
        qfac,
        zooms,
        offset: [a[3], a[7], a[11]],
    })
}

fn validate_for_write(vol: &VolumeFile) -> Result<()> {
    let nd = vol.shape.len();
    if !(1..=7).contains(&nd) {
        return Err(Error::shape(format!(
            "NIfTI holds 1 to 7 dimensions, got shape {:?} ({nd} dimensions)",
            vol.shape
        )));
    }
    check_writable(vol, i64::MAX as u64)
}

/// What both writers require of `vol`: every dimension in `1..=max_dim`, as many voxels as the
/// shape says (`ERR_SHAPE`), and a finite affine (`ERR_SETTING`).
pub(crate) fn check_writable(vol: &VolumeFile, max_dim: u64) -> Result<()> {
    if let Some(i) = vol.shape.iter().position(|&d| d == 0 || d as u64 > max_dim) {
        return Err(Error::shape(format!(
            "every dimension must be >= 1, got shape {:?} (axis {i})",
            vol.shape
        )));
    }
    let count = vol.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count != Some(vol.data.len()) {
        return Err(Error::shape(format!(
            "shape {:?} needs {} elements, data has {}",
            vol.shape,
            count.map_or_else(|| "more than usize::MAX".to_string(), |c| c.to_string()),
            vol.data.len()
        )));
    }
    if let Some(v) = vol.affine.iter().find(|v| !v.is_finite()) {
        return Err(Error::setting(format!(
            "affine entries must be finite, got {v} in {:?}",
            vol.affine
        )));
    }
    Ok(())
}

/// Builds the header (plus the 4-byte empty extension flag) for `vol`.
fn encode_header(vol: &VolumeFile) -> Result<Vec<u8>> {
    validate_for_write(vol)?;
    let q = qform_from_affine(&vol.affine)?;
    let dtype = vol.data.dtype();
    let nd = vol.shape.len();
    let nifti2 = vol.shape.iter().any(|&d| d > i16::MAX as usize);
    let mut dim = [1i64; 8];
    dim[0] = nd as i64;
    for (i, &d) in vol.shape.iter().enumerate() {
        dim[i + 1] = d as i64;
    }
    let mut pixdim = [1f64; 8];
    pixdim[0] = q.qfac;
    pixdim[1..4].copy_from_slice(&q.zooms);
    let a = &vol.affine;
    let descrip = b"voxelkit";
    let mut h: Vec<u8>;
    if !nifti2 {
        h = vec![0u8; NIFTI1_MIN_VOX_OFFSET as usize];
        let mut put = |off: usize, b: &[u8]| h[off..off + b.len()].copy_from_slice(b);
        put(0, &(NIFTI1_HEADER_SIZE as i32).to_le_bytes());
        put(38, b"r");
        for i in 0..8 {
            put(40 + 2 * i, &(dim[i] as i16).to_le_bytes());
            put(76 + 4 * i, &(pixdim[i] as f32).to_le_bytes());
        }
        put(70, &dtype.nifti_code().to_le_bytes());
        put(72, &((dtype.size() * 8) as i16).to_le_bytes());
        put(108, &(NIFTI1_MIN_VOX_OFFSET as f32).to_le_bytes());
        put(112, &1f32.to_le_bytes());
        put(116, &0f32.to_le_bytes());
        put(123, &[2u8]); // NIFTI_UNITS_MM
        put(148, descrip);
        put(252, &1i16.to_le_bytes());
        put(254, &1i16.to_le_bytes());
        for i in 0..3 {
            put(256 + 4 * i, &(q.quat[i] as f32).to_le_bytes());
            put(268 + 4 * i, &(q.offset[i] as f32).to_le_bytes());
        }
        for r in 0..3 {
            for c in 0..4 {
                put(280 + 16 * r + 4 * c, &(a[4 * r + c] as f32).to_le_bytes());
            }
        }
        put(344, b"n+1\0");
    } else {
        h = vec![0u8; NIFTI2_MIN_VOX_OFFSET as usize];
        let mut put = |off: usize, b: &[u8]| h[off..off + b.len()].copy_from_slice(b);
        put(0, &(NIFTI2_HEADER_SIZE as i32).to_le_bytes());
        put(4, &NIFTI2_MAGIC);
        put(12, &dtype.nifti_code().to_le_bytes());
        put(14, &((dtype.size() * 8) as i16).to_le_bytes());
        for i in 0..8 {
            put(16 + 8 * i, &dim[i].to_le_bytes());
            put(104 + 8 * i, &pixdim[i].to_le_bytes());
        }
        put(168, &(NIFTI2_MIN_VOX_OFFSET as i64).to_le_bytes());
        put(176, &1f64.to_le_bytes());
        put(184, &0f64.to_le_bytes());
        put(240, descrip);
        put(344, &1i32.to_le_bytes());
        put(348, &1i32.to_le_bytes());
        for i in 0..3 {
            put(352 + 8 * i, &q.quat[i].to_le_bytes());
            put(376 + 8 * i, &q.offset[i].to_le_bytes());
        }
        for r in 0..3 {
            for c in 0..4 {
                put(400 + 32 * r + 8 * c, &a[4 * r + c].to_le_bytes());
            }
        }
        put(500, &2i32.to_le_bytes()); // NIFTI_UNITS_MM
    }
    Ok(h)
}

fn write_elements<T: Element, W: Write>(w: &mut W, v: &[T]) -> io::Result<()> {
    if cfg!(target_endian = "little") {
        w.write_all(bytes_of(v))
    } else {
        let mut buf: Vec<T> = Vec::with_capacity(CHUNK_BYTES / std::mem::size_of::<T>());
        for chunk in v.chunks(buf.capacity().max(1)) {
            buf.clear();
            buf.extend(chunk.iter().map(|x| x.swap()));
            w.write_all(bytes_of(&buf))?;
        }
        Ok(())
    }
}

pub(crate) fn write_data<W: Write>(w: &mut W, data: &VolumeData) -> io::Result<()> {
    match data {
        VolumeData::U8(v) => write_elements(w, v),
        VolumeData::I8(v) => write_elements(w, v),
        VolumeData::I16(v) => write_elements(w, v),
        VolumeData::U16(v) => write_elements(w, v),
        VolumeData::I32(v) => write_elements(w, v),
        VolumeData::U32(v) => write_elements(w, v),
        VolumeData::I64(v) => write_elements(w, v),
        VolumeData::U64(v) => write_elements(w, v),
        VolumeData::F32(v) => write_elements(w, v),
        VolumeData::F64(v) => write_elements(w, v),
    }
}

fn data_nbytes(data: &VolumeData) -> usize {
    data.len() * data.dtype().size()
}

/// Encodes `vol` as an uncompressed single-file NIfTI (see the [module docs](self)).
/// Errors: `ERR_SHAPE` when shape and data disagree or the shape has 0 or more than 7 axes or a
/// zero-length axis; `ERR_SETTING` for a non-finite affine or one with a zero-length column.
pub fn write_nifti_bytes(vol: &VolumeFile) -> Result<Vec<u8>> {
    let header = encode_header(vol)?;
    let mut out = Vec::new();
    out.try_reserve_exact(header.len() + data_nbytes(&vol.data))
        .map_err(|e| Error::io(format!("cannot allocate the NIfTI output buffer: {e}")))?;
    out.extend_from_slice(&header);
    write_data(&mut out, &vol.data).map_err(|e| Error::io(e.to_string()))?;
    Ok(out)
}

/// [`write_nifti_bytes`] compressed as a `.nii.gz` (header and voxels in one gzip stream, level
/// [`GZIP_LEVEL`], as [`write_nifti`] writes the file), streamed: no uncompressed copy is made.
pub fn write_nifti_gz_bytes(vol: &VolumeFile) -> Result<Vec<u8>> {
    let header = encode_header(vol)?;
    let io = |e: io::Error| Error::io(format!("compressing a .nii.gz: {e}"));
    let mut enc = GzEncoder::new(Vec::new(), Compression::new(GZIP_LEVEL));
    enc.write_all(&header).map_err(io)?;
    write_data(&mut enc, &vol.data).map_err(io)?;
    enc.finish().map_err(io)
}

/// Writes `vol` to `path` as a single-file NIfTI, gzip-compressed (level 1, as nibabel) when
/// the name ends with `.gz` (case-insensitive). Errors as [`write_nifti_bytes`], plus `ERR_IO`.
pub fn write_nifti(path: &Path, vol: &VolumeFile) -> Result<()> {
    let header = encode_header(vol)?;
    let gz = path.to_string_lossy().to_ascii_lowercase().ends_with(".gz");
    // a .nii.gz compresses the header with the voxels
    let (plain, packed): (&[u8], &[u8]) = if gz { (&[], &header) } else { (&header, &[]) };
    write_file(path, plain, packed, &vol.data, gz)
}

/// Writes `plain`, then `packed` followed by the voxels of `data` to `path`: those two
/// gzip-compressed (level [`GZIP_LEVEL`]) as one stream when `gzip`. The file part of both
/// writers; errors are `ERR_IO` naming the path.
pub(crate) fn write_file(
    path: &Path,
    plain: &[u8],
    packed: &[u8],
    data: &VolumeData,
    gzip: bool,
) -> Result<()> {
    let io_err = |e: io::Error| Error::io(format!("writing {}: {e}", path.display()));
    let file = File::create(path).map_err(io_err)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(plain).map_err(io_err)?;
    if gzip {
        let mut enc = GzEncoder::new(w, Compression::new(GZIP_LEVEL));
        enc.write_all(packed).map_err(io_err)?;
        write_data(&mut enc, data).map_err(io_err)?;
        let w = enc.finish().map_err(io_err)?;
        finish_file(w).map_err(io_err)
    } else {
        w.write_all(packed).map_err(io_err)?;
        write_data(&mut w, data).map_err(io_err)?;
        finish_file(w).map_err(io_err)
    }
}

/// Flushes the buffer, surfacing write errors that dropping would swallow.
pub(crate) fn finish_file(w: BufWriter<File>) -> io::Result<()> {
    w.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_start_small_double_and_cover_the_count() {
        for (count, size) in [
            (0, 1),
            (1, 8),
            (100_000, 1),
            (3_000_000, 4),
            (123_456_789, 2),
        ] {
            let ks: Vec<usize> = chunk_sizes(count, size).collect();
            assert_eq!(ks.iter().sum::<usize>(), count);
            if let Some(&k) = ks.first() {
                assert!(k * size <= FIRST_CHUNK_BYTES);
            }
            for w in ks.windows(2) {
                assert!(w[1] <= 2 * w[0] && w[1] * size <= CHUNK_BYTES);
            }
            // at most about twice what was read so far is ever zeroed ahead of the data
            let mut done = 0;
            for &k in &ks {
                assert!(k <= (2 * done).max(FIRST_CHUNK_BYTES / size));
                done += k;
            }
        }
    }

    #[test]
    fn quat_identity() {
        let m = quat2mat([1.0, 0.0, 0.0, 0.0]);
        assert_eq!(m, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    }

    #[test]
    fn qform_of_rotation_round_trips() {
        // 30 degrees about z, zooms (2, 3, 4), negative determinant (x flipped).
        let (s, c) = (0.5f64, 0.75f64.sqrt());
        let a = [
            -2.0 * c,
            -3.0 * s,
            0.0,
            10.0,
            -2.0 * s,
            3.0 * c,
            0.0,
            -20.0,
            0.0,
            0.0,
            4.0,
            5.0,
            0.0,
            0.0,
            0.0,
            1.0,
        ];
        let q = qform_from_affine(&a).unwrap();
        assert_eq!(q.qfac, -1.0);
        let h = NiftiHeader {
            version: 2,
            big_endian: false,
            magic: NIFTI2_MAGIC.to_vec(),
            dim: [3, 1, 1, 1, 1, 1, 1, 1],
            datatype: 16,
            bitpix: 32,
            pixdim: [
                q.qfac, q.zooms[0], q.zooms[1], q.zooms[2], 1.0, 1.0, 1.0, 1.0,
            ],
            vox_offset: 544.0,
            scl_slope: 1.0,
            scl_inter: 0.0,
            xyzt_units: 2,
            qform_code: 1,
            sform_code: 0,
            quatern: q.quat,
            qoffset: q.offset,
            srow: [[0.0; 4]; 3],
            descrip: String::new(),
        };
        let back = h.qform().unwrap();
        for (x, y) in back.iter().zip(a.iter()) {
            assert!((x - y).abs() < 1e-12, "{back:?} vs {a:?}");
        }
    }
}
