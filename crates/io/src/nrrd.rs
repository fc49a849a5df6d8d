//! NRRD volumes (`.nrrd` with attached data, `.nhdr` with detached data), read and written
//! with the semantics of [teem's NRRD format](http://teem.sourceforge.net/nrrd/format.html)
//! as ITK/SimpleITK and pynrrd read it, converted to the same [`VolumeFile`] that the NIfTI
//! reader produces.
//!
//! # Reading
//!
//! * Magic `NRRD0001` to `NRRD0005`. Header lines end with `\n` or `\r\n`; `#` lines are
//!   comments; `key:=value` pairs are accepted and ignored; field names are case-insensitive.
//!   The header ends at the first empty line (or, in a detached header, at the end of the
//!   file). A field given twice is `ERR_FORMAT` (as in teem). Headers larger than
//!   [`MAX_HEADER_BYTES`] are `ERR_FORMAT`.
//! * `type`: every NRRD scalar type with teem's aliases (`signed char`/`int8`/`int8_t`,
//!   `uchar`/`unsigned char`/`uint8`/`uint8_t`, `short`/`short int`/`signed short`/
//!   `signed short int`/`int16`/`int16_t`, `ushort`/`unsigned short`/`unsigned short int`/
//!   `uint16`/`uint16_t`, `int`/`signed int`/`int32`/`int32_t`, `uint`/`unsigned int`/`uint32`/
//!   `uint32_t`, `longlong`/`long long`/`long long int`/`signed long long`/
//!   `signed long long int`/`int64`/`int64_t`, `ulonglong`/`unsigned long long`/
//!   `unsigned long long int`/`uint64`/`uint64_t`, `float`, `double`). `block` is
//!   `ERR_UNSUPPORTED`, any other name `ERR_FORMAT`. The element type is kept.
//! * `encoding`: `raw`, `gzip`/`gz` (multi-member streams accepted; the CRC-32 is verified as
//!   for `.nii.gz`), `ascii`/`text`/`txt` (whitespace-separated numbers), `hex`. `bzip2`/`bz2`
//!   are `ERR_UNSUPPORTED`.
//! * `endian`: `little` or `big`; required when the element type has more than one byte and
//!   the encoding is binary (raw, gzip, hex), as teem requires.
//! * `dimension` (1 to [`MAX_DIM`]) and `sizes` (each `>= 1`) are required.
//! * `byte skip` (`-1`: the data are the last bytes of the file, raw encoding only) is applied
//!   to the decompressed stream for gzip (as teem and pynrrd do); `line skip` is applied to the
//!   file before decoding.
//! * Detached data (`data file:`, also `datafile:`): one file name, the `LIST [subdim]` form
//!   (the rest of the header lists one file per line) or the format form
//!   `<printf pattern with %d> <min> <max> <step> [subdim]`; the sub-dimension is checked
//!   (1..=dimension) but, as in teem, the files are read as one concatenated stream. Names are resolved against the
//!   header's directory; absolute names and names with `..` components are refused
//!   (`ERR_FORMAT`), so a header cannot make voxelkit read a file outside its directory. With
//!   several files the data are their concatenation, each file holding an equal share.
//!   `byte skip`/`line skip` apply to every file. In-memory input ([`read_nrrd_bytes`]) with
//!   detached data is `ERR_UNSUPPORTED`; [`read_nrrd_detached_bytes`] takes a header and its
//!   data files from memory (the same reader, the same name checks).
//!
//! # Geometry (the RAS+ affine)
//!
//! * Axes: when `space directions` is given, the axes whose direction is `none` (or, in a
//!   `-time` space, has no spatial component) are the *component* axes (vector, list, time, …); otherwise the axes whose `kinds` entry is a
//!   non-spatial kind (anything but `domain`, `space`, `none`, `???`). Component axes are moved
//!   behind the spatial axes (keeping their order), so a file with a leading 3-vector axis
//!   (`sizes: 3 X Y Z`, `kinds: vector domain domain domain`) becomes the volume `[X, Y, Z, 3]`
//!   with all x-components first: exactly what the equivalent NIfTI gives.
//! * The affine's columns are the direction vectors of the first (up to) three spatial axes,
//!   its translation `space origin` (0 when absent), both in the file's space, then converted
//!   to RAS+: `left-posterior-superior`/`LPS` (and `-time`) flip x and y, `left-anterior-
//!   superior`/`LAS` flip x, `right-anterior-superior`/`RAS` stay. Like ITK, which treats the
//!   other spaces (`scanner-xyz`, `3D-right-handed`, `3D-left-handed`, a bare
//!   `space dimension`, their `-time` forms) as already LPS, those are flipped as LPS too.
//!   With fewer than three spatial axes the missing columns are unit vectors completing a
//!   right-handed basis. Without `space directions` the affine is ITK's: the per-axis
//!   `spacings` (NaN or absent read as 1) on the diagonal in LPS, origin 0, i.e.
//!   `diag(-sx, -sy, sz)` in RAS+.
//! * `spacing`: the lengths of the first `min(3, ndim)` spatial axes' direction vectors (the
//!   `spacings` without directions; 1 for completed columns).
//!
//! # Hostile input
//!
//! As for NIfTI: sizes use checked arithmetic; the decoded size is compared with
//! [`NrrdOptions::max_bytes`] and with what the data file(s) can hold (their length, or for gzip
//! the most that the compressed length can expand to, or for ascii/hex the number of values
//! the text can carry) before anything is allocated; a short file, trailing garbage in place of
//! numbers, or a damaged gzip stream is `ERR_FORMAT`.
//!
//! # Writing
//!
//! [`write_nrrd`] writes an attached `NRRD0004` file as ITK/Slicer do: `space:
//! left-posterior-superior`, the affine's first three columns (flipped from RAS+ to LPS) as the
//! directions of the first three axes, axes beyond the third as `list` axes with direction
//! `none`, `endian: little`, encoding `raw` or `gzip`. For one- and two-axis volumes only the
//! directions of the axes present are written.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use voxelkit_core::{Error, Result};

use crate::nifti::{
    bytes_of_mut, check_gzip_trailer, check_writable, chunk_sizes, read_full, write_data,
    write_file, Element, GZIP_LEVEL, GZIP_SLACK, MAX_DEFLATE_RATIO,
};
use crate::{with_element_type, ElementType, ReadOptions, VolumeData, VolumeFile};

/// Largest number of axes (teem's `NRRD_DIM_MAX`).
pub const MAX_DIM: usize = 16;
/// Largest header accepted, in bytes (a detached header with a long `LIST` included).
pub const MAX_HEADER_BYTES: usize = 4 << 20;
/// Largest number of detached data files.
pub const MAX_DATA_FILES: usize = 1 << 16;

/// Options for reading NRRD files.
pub type NrrdOptions = ReadOptions;

/// Element type of NRRD voxel data.
pub type NrrdType = ElementType;

/// NRRD's `type:` names of the element types.
pub trait NrrdName: Sized {
    /// The type for a NRRD `type:` value (see the impl).
    fn from_nrrd_name(name: &str) -> Result<Self>;
    /// The canonical NRRD name.
    fn nrrd_name(self) -> &'static str;
}

impl NrrdName for ElementType {
    /// The type for a NRRD `type:` value (teem's names and aliases, case-insensitive, inner
    /// whitespace collapsed). `block` is `ERR_UNSUPPORTED`, other names `ERR_FORMAT`.
    fn from_nrrd_name(name: &str) -> Result<NrrdType> {
        let n = name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        Ok(match n.as_str() {
            "signed char" | "int8" | "int8_t" => NrrdType::I8,
            "uchar" | "unsigned char" | "uint8" | "uint8_t" => NrrdType::U8,
            "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
                NrrdType::I16
            }
            "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => {
                NrrdType::U16
            }
            "int" | "signed int" | "int32" | "int32_t" => NrrdType::I32,
            "uint" | "unsigned int" | "uint32" | "uint32_t" => NrrdType::U32,
            "longlong"
            | "long long"
            | "long long int"
            | "signed long long"
            | "signed long long int"
            | "int64"
            | "int64_t" => NrrdType::I64,
            "ulonglong"
            | "unsigned long long"
            | "unsigned long long int"
            | "uint64"
            | "uint64_t" => NrrdType::U64,
            "float" => NrrdType::F32,
            "double" => NrrdType::F64,
            "block" => {
                return Err(Error::unsupported(
                    "NRRD type \"block\" is not supported; expected a scalar type (int8 … \
                     uint64, float, double)",
                ))
            }
            _ => {
                return Err(Error::format(format!(
                    "unknown NRRD type {name:?}; expected a scalar type such as \"short\", \
                     \"unsigned char\", \"int\", \"float\", \"double\" or \"int16_t\""
                )))
            }
        })
    }

    /// teem's canonical name for the NRRD `type:` field (what ITK writes).
    fn nrrd_name(self) -> &'static str {
        match self {
            NrrdType::I8 => "signed char",
            NrrdType::U8 => "unsigned char",
            NrrdType::I16 => "short",
            NrrdType::U16 => "unsigned short",
            NrrdType::I32 => "int",
            NrrdType::U32 => "unsigned int",
            NrrdType::I64 => "long long int",
            NrrdType::U64 => "unsigned long long int",
            NrrdType::F32 => "float",
            NrrdType::F64 => "double",
        }
    }
}

/// Data encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NrrdEncoding {
    Raw,
    Gzip,
    Ascii,
    Hex,
}

impl NrrdEncoding {
    fn parse(v: &str) -> Result<NrrdEncoding> {
        Ok(match v.to_ascii_lowercase().as_str() {
            "raw" => NrrdEncoding::Raw,
            "gzip" | "gz" => NrrdEncoding::Gzip,
            "ascii" | "text" | "txt" => NrrdEncoding::Ascii,
            "hex" => NrrdEncoding::Hex,
            "bzip2" | "bz2" => {
                return Err(Error::unsupported(
                    "NRRD encoding bzip2 is not supported; expected raw, gzip, ascii or hex",
                ))
            }
            _ => {
                return Err(Error::format(format!(
                    "unknown NRRD encoding {v:?}; expected raw, gzip (gz), ascii (text, txt), \
                     hex or bzip2 (bz2)"
                )))
            }
        })
    }

    fn binary(self) -> bool {
        matches!(
            self,
            NrrdEncoding::Raw | NrrdEncoding::Gzip | NrrdEncoding::Hex
        )
    }
}

/// How `space` coordinates relate to RAS+.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NrrdSpace {
    /// right-anterior-superior (RAS), with or without time.
    Ras,
    /// left-anterior-superior (LAS), with or without time.
    Las,
    /// left-posterior-superior (LPS), with or without time.
    Lps,
    /// scanner-xyz, 3D-right-handed, 3D-left-handed (and -time), or a bare `space dimension`:
    /// taken as LPS, as ITK does.
    Other,
}

impl NrrdSpace {
    /// Parses a `space:` value; returns the space and its dimension.
    fn parse(v: &str) -> Result<(NrrdSpace, usize)> {
        Ok(match v.to_ascii_lowercase().as_str() {
            "right-anterior-superior" | "ras" => (NrrdSpace::Ras, 3),
            "left-anterior-superior" | "las" => (NrrdSpace::Las, 3),
            "left-posterior-superior" | "lps" => (NrrdSpace::Lps, 3),
            "right-anterior-superior-time" | "rast" => (NrrdSpace::Ras, 4),
            "left-anterior-superior-time" | "last" => (NrrdSpace::Las, 4),
            "left-posterior-superior-time" | "lpst" => (NrrdSpace::Lps, 4),
            "scanner-xyz" | "3d-right-handed" | "3d-left-handed" => (NrrdSpace::Other, 3),
            "scanner-xyz-time" | "3d-right-handed-time" | "3d-left-handed-time" => {
                (NrrdSpace::Other, 4)
            }
            _ => {
                return Err(Error::format(format!(
                    "unknown NRRD space {v:?}; expected right-anterior-superior (RAS), \
                     left-anterior-superior (LAS), left-posterior-superior (LPS), their -time \
                     forms, scanner-xyz, 3D-right-handed or 3D-left-handed"
                )))
            }
        })
    }

    /// Sign per world axis (x, y, z) taking this space's coordinates to RAS+.
    fn to_ras(self) -> [f64; 3] {
        match self {
            NrrdSpace::Ras => [1.0, 1.0, 1.0],
            NrrdSpace::Las => [-1.0, 1.0, 1.0],
            NrrdSpace::Lps | NrrdSpace::Other => [-1.0, -1.0, 1.0],
        }
    }
}

/// Where the data are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataFiles {
    /// Attached: right after the header.
    Attached,
    /// Detached: these file names (relative to the header's directory), in order, and the
    /// optional `subdim` of the LIST/format forms.
    Detached {
        names: Vec<String>,
        subdim: Option<usize>,
    },
}

/// The parsed NRRD header fields voxelkit uses.
#[derive(Debug, Clone, PartialEq)]
pub struct NrrdHeader {
    /// Format version from the magic (1 to 5).
    pub version: u8,
    pub dtype: NrrdType,
    pub encoding: NrrdEncoding,
    /// Whether binary data are big-endian (`None`: no `endian` field).
    pub big_endian: Option<bool>,
    pub sizes: Vec<usize>,
    /// Space and space dimension (from `space` or `space dimension`).
    pub space: Option<(NrrdSpace, usize)>,
    /// One entry per axis: `None` for `none`.
    pub space_directions: Option<Vec<Option<Vec<f64>>>>,
    pub space_origin: Option<Vec<f64>>,
    /// One entry per axis, lower-case.
    pub kinds: Option<Vec<String>>,
    /// One entry per axis (NaN where not given).
    pub spacings: Option<Vec<f64>>,
    pub byte_skip: i64,
    pub line_skip: u64,
    pub data: DataFiles,
    /// Length of the header in bytes, including the terminating empty line if any: where
    /// attached data start.
    pub header_len: usize,
}

fn err_field(field: &str, v: &str, expected: &str) -> Error {
    Error::format(format!(
        "bad NRRD field \"{field}\": {v:?}; expected {expected}"
    ))
}

fn parse_int<T: std::str::FromStr>(field: &str, v: &str, expected: &str) -> Result<T> {
    v.trim()
        .trim_start_matches('+')
        .parse::<T>()
        .map_err(|_| err_field(field, v, expected))
}

fn parse_f64(field: &str, v: &str) -> Result<f64> {
    let t = v.trim();
    t.parse::<f64>()
        .map_err(|_| err_field(field, v, "a number"))
}

/// Parses `(a,b,c)` into its numbers (finite).
fn parse_vector(field: &str, v: &str) -> Result<Vec<f64>> {
    let t = v.trim();
    let inner = t
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| err_field(field, v, "a vector such as (1,0,0)"))?;
    let mut out = Vec::new();
    for part in inner.split(',') {
        let x = parse_f64(field, part)?;
        if !x.is_finite() {
            return Err(err_field(field, v, "finite vector components"));
        }
        out.push(x);
    }
    Ok(out)
}

/// Splits a `space directions` value into its per-axis entries: `none` or `(…)`.
fn split_vectors(field: &str, v: &str) -> Result<Vec<Option<Vec<f64>>>> {
    let mut out = Vec::new();
    let mut rest = v.trim();
    while !rest.is_empty() {
        // bytes, not chars: the value may hold any UTF-8 (a 2-byte char at byte 3 made
        // `rest[..4]` panic; fuzz finding crash-d1a521db)
        if rest
            .as_bytes()
            .get(..4)
            .is_some_and(|b| b.eq_ignore_ascii_case(b"none"))
        {
            out.push(None);
            rest = rest[4..].trim_start();
        } else if rest.starts_with('(') {
            let end = rest
                .find(')')
                .ok_or_else(|| err_field(field, v, "vectors such as (1,0,0) or none"))?;
            out.push(Some(parse_vector(field, &rest[..=end])?));
            rest = rest[end + 1..].trim_start();
        } else {
            return Err(err_field(field, v, "vectors such as (1,0,0) or none"));
        }
        if out.len() > MAX_DIM {
            return Err(err_field(field, v, "at most one vector per axis"));
        }
    }
    Ok(out)
}

/// Kinds that name a spatial (domain) axis.
fn is_domain_kind(k: &str) -> bool {
    matches!(k, "domain" | "space" | "none" | "???")
}

const KNOWN_KINDS: &[&str] = &[
    "domain",
    "space",
    "time",
    "list",
    "point",
    "vector",
    "covariant-vector",
    "normal",
    "stub",
    "scalar",
    "complex",
    "2-vector",
    "3-color",
    "rgb-color",
    "hsv-color",
    "xyz-color",
    "4-color",
    "rgba-color",
    "3-vector",
    "3-gradient",
    "3-normal",
    "4-vector",
    "quaternion",
    "2d-symmetric-matrix",
    "2d-masked-symmetric-matrix",
    "2d-matrix",
    "2d-masked-matrix",
    "3d-symmetric-matrix",
    "3d-masked-symmetric-matrix",
    "3d-matrix",
    "3d-masked-matrix",
    "???",
    "none",
];

/// Rejects detached names that could leave the header's directory.
fn check_data_name(name: &str) -> Result<()> {
    let p = Path::new(name);
    if name.is_empty() {
        return Err(Error::format("empty NRRD data file name"));
    }
    let escapes = p.is_absolute()
        || name.starts_with('/')
        || name.starts_with('\\')
        || name.contains(':') && cfg!(windows)
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        || name.split(['/', '\\']).any(|c| c == "..");
    if escapes {
        return Err(Error::format(format!(
            "NRRD data file {name:?} is refused: detached data must lie in the header's \
             directory or below it (no absolute paths, no \"..\" components)"
        )));
    }
    Ok(())
}

/// Expands a printf pattern with one `%d`-style conversion (`%d`, `%5d`, `%05d`, `%i`).
fn format_name(pattern: &str, i: i64) -> Result<String> {
    let bad = || {
        Error::format(format!(
            "NRRD data file pattern {pattern:?} must contain exactly one %d conversion \
             (%d, %03d, …)"
        ))
    };
    let mut out = String::new();
    let mut seen = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        if seen {
            return Err(bad());
        }
        seen = true;
        let zero = chars.peek() == Some(&'0');
        if zero {
            chars.next();
        }
        let mut width = 0usize;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width.saturating_mul(10).saturating_add(d as usize);
            chars.next();
        }
        if width > 64 {
            return Err(bad());
        }
        match chars.next() {
            Some('d') | Some('i') | Some('u') => {}
            _ => return Err(bad()),
        }
        let s = if zero {
            if i < 0 {
                format!("-{:0w$}", -(i as i128), w = width.saturating_sub(1))
            } else {
                format!("{i:0width$}")
            }
        } else {
            format!("{i:width$}")
        };
        out.push_str(&s);
    }
    if !seen {
        return Err(bad());
    }
    Ok(out)
}

/// Parses the `data file` value (and, for LIST, the remaining header lines).
fn parse_data_file(v: &str, rest: &mut dyn Iterator<Item = String>) -> Result<DataFiles> {
    let words: Vec<&str> = v.split_whitespace().collect();
    let subdim_of = |w: Option<&&str>| -> Result<Option<usize>> {
        w.map(|s| parse_int::<usize>("data file", s, "a sub-dimension >= 1"))
            .transpose()
    };
    if words.first() == Some(&"LIST") {
        if words.len() > 2 {
            return Err(err_field("data file", v, "LIST [subdim]"));
        }
        let subdim = subdim_of(words.get(1))?;
        let mut names = Vec::new();
        for line in rest {
            if line.is_empty() {
                break;
            }
            check_data_name(&line)?;
            names.push(line);
            if names.len() > MAX_DATA_FILES {
                return Err(Error::format(format!(
                    "NRRD data file LIST names more than {MAX_DATA_FILES} files"
                )));
            }
        }
        if names.is_empty() {
            return Err(Error::format("NRRD data file LIST names no files"));
        }
        return Ok(DataFiles::Detached { names, subdim });
    }
    if words.len() >= 4 && words[0].contains('%') {
        if words.len() > 5 {
            return Err(err_field(
                "data file",
                v,
                "<pattern> <min> <max> <step> [subdim]",
            ));
        }
        let min: i64 = parse_int("data file", words[1], "an integer min")?;
        let max: i64 = parse_int("data file", words[2], "an integer max")?;
        let step: i64 = parse_int("data file", words[3], "a non-zero integer step")?;
        let subdim = subdim_of(words.get(4))?;
        if step == 0 || (max - min).signum() * step.signum() < 0 {
            return Err(err_field(
                "data file",
                v,
                "a step that leads from min to max",
            ));
        }
        let count = ((max as i128 - min as i128) / step as i128 + 1) as u128;
        if count > MAX_DATA_FILES as u128 {
            return Err(Error::format(format!(
                "NRRD data file pattern names {count} files, more than {MAX_DATA_FILES}"
            )));
        }
        let mut names = Vec::with_capacity(count as usize);
        let mut i = min;
        for _ in 0..count {
            let n = format_name(words[0], i)?;
            check_data_name(&n)?;
            names.push(n);
            i = i.wrapping_add(step);
        }
        return Ok(DataFiles::Detached { names, subdim });
    }
    let name = v.trim();
    check_data_name(name)?;
    Ok(DataFiles::Detached {
        names: vec![name.to_string()],
        subdim: None,
    })
}

/// Splits the header from the start of `bytes`: returns its lines and its length in bytes.
/// Stops at the first empty line, or at the end of `bytes` when `to_eof` (detached header).
fn header_lines(bytes: &[u8], to_eof: bool) -> Result<(Vec<String>, usize)> {
    let mut lines = Vec::new();
    let mut pos = 0usize;
    loop {
        if pos >= bytes.len() {
            if to_eof || lines.is_empty() {
                return Ok((lines, pos));
            }
            return Err(Error::format(
                "NRRD header has no end: expected an empty line before the attached data",
            ));
        }
        let nl = bytes[pos..].iter().position(|&b| b == b'\n');
        let (line, next) = match nl {
            Some(n) => (&bytes[pos..pos + n], pos + n + 1),
            None => (&bytes[pos..], bytes.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if nl.is_none() && !to_eof {
            return Err(Error::format(
                "NRRD header has no end: expected an empty line before the attached data",
            ));
        }
        if line.is_empty() {
            return Ok((lines, next));
        }
        let s = std::str::from_utf8(line).map_err(|_| {
            Error::format(format!(
                "NRRD header line {} is not text (UTF-8)",
                lines.len() + 1
            ))
        })?;
        lines.push(s.to_string());
        pos = next;
    }
}

/// Parses a NRRD header from the start of `bytes` (the whole file, or at least the header).
/// `detached` says whether the header may end at the end of `bytes` (a `.nhdr` file).
pub fn parse_nrrd_header(bytes: &[u8], detached: bool) -> Result<NrrdHeader> {
    if bytes.len() < 8 || &bytes[..4] != b"NRRD" {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(8)]).into_owned();
        return Err(Error::format(format!(
            "not a NRRD file: expected the magic \"NRRD000X\", got {shown:?}"
        )));
    }
    let window = &bytes[..bytes.len().min(MAX_HEADER_BYTES)];
    let (lines, header_len) =
        match header_lines(window, detached || bytes.len() <= MAX_HEADER_BYTES) {
            Ok(x) => x,
            Err(e) if bytes.len() > MAX_HEADER_BYTES => {
                return Err(Error::format(format!(
                    "{}; the header may not exceed {MAX_HEADER_BYTES} bytes",
                    e.message
                )))
            }
            Err(e) => return Err(e),
        };
    let magic = lines[0].trim_end();
    let version = match magic.strip_prefix("NRRD000") {
        Some(d) if d.len() == 1 && ("1"..="5").contains(&d) => d.as_bytes()[0] - b'0',
        Some(d) if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => {
            return Err(Error::unsupported(format!(
                "NRRD format version {magic:?} is not supported; expected NRRD0001 to NRRD0005"
            )))
        }
        _ => {
            return Err(Error::format(format!(
                "bad NRRD magic {magic:?}; expected NRRD0001 to NRRD0005"
            )))
        }
    };

    let mut fields: Vec<(String, String)> = Vec::new();
    let mut data: Option<DataFiles> = None;
    let mut it = lines.into_iter().skip(1);
    while let Some(line) = it.next() {
        if line.starts_with('#') {
            continue;
        }
        // key/value pairs ("key:=value") are metadata: ignored.
        if let Some(i) = line.find(":=") {
            if !line[..i].contains(": ") {
                continue;
            }
        }
        let (name, value) = line
            .split_once(": ")
            .or_else(|| line.strip_suffix(':').map(|n| (n, "")))
            .ok_or_else(|| {
                Error::format(format!(
                    "bad NRRD header line {line:?}; expected \"field: value\", \"key:=value\" \
                     or a # comment"
                ))
            })?;
        let name = name.trim().to_ascii_lowercase();
        let name = match name.as_str() {
            "datafile" => "data file".to_string(),
            "centerings" => "centers".to_string(),
            "axismins" => "axis mins".to_string(),
            "axismaxs" => "axis maxs".to_string(),
            "lineskip" => "line skip".to_string(),
            "byteskip" => "byte skip".to_string(),
            "oldmin" => "old min".to_string(),
            "oldmax" => "old max".to_string(),
            "blocksize" => "block size".to_string(),
            _ => name,
        };
        if fields.iter().any(|(n, _)| *n == name) || (name == "data file" && data.is_some()) {
            return Err(Error::format(format!(
                "NRRD field \"{name}\" appears more than once"
            )));
        }
        if name == "data file" {
            data = Some(parse_data_file(value, &mut it)?);
            continue;
        }
        const KNOWN: &[&str] = &[
            "type",
            "dimension",
            "sizes",
            "encoding",
            "endian",
            "space",
            "space dimension",
            "space directions",
            "space origin",
            "space units",
            "measurement frame",
            "kinds",
            "spacings",
            "thicknesses",
            "axis mins",
            "axis maxs",
            "centers",
            "labels",
            "units",
            "content",
            "min",
            "max",
            "old min",
            "old max",
            "sample units",
            "byte skip",
            "line skip",
            "number",
            "block size",
        ];
        if !KNOWN.contains(&name.as_str()) {
            return Err(Error::format(format!(
                "unknown NRRD field \"{name}\" (line {line:?})"
            )));
        }
        fields.push((name, value.to_string()));
    }
    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let missing = |n: &str| Error::format(format!("NRRD header lacks the required field \"{n}\""));

    let dtype = NrrdType::from_nrrd_name(get("type").ok_or_else(|| missing("type"))?)?;
    let dim_s = get("dimension").ok_or_else(|| missing("dimension"))?;
    let dim: usize = parse_int("dimension", dim_s, &format!("an integer 1..={MAX_DIM}"))?;
    if !(1..=MAX_DIM).contains(&dim) {
        return Err(err_field(
            "dimension",
            dim_s,
            &format!("an integer 1..={MAX_DIM}"),
        ));
    }
    let sizes_s = get("sizes").ok_or_else(|| missing("sizes"))?;
    let sizes: Vec<usize> = sizes_s
        .split_whitespace()
        .map(|w| parse_int::<usize>("sizes", w, "positive integers"))
        .collect::<Result<_>>()?;
    if sizes.len() != dim || sizes.contains(&0) {
        return Err(err_field(
            "sizes",
            sizes_s,
            &format!("{dim} integers >= 1 (one per axis, dimension = {dim})"),
        ));
    }
    let encoding = NrrdEncoding::parse(get("encoding").ok_or_else(|| missing("encoding"))?.trim())?;
    let big_endian = match get("endian").map(|s| s.trim().to_ascii_lowercase()) {
        None => None,
        Some(e) if e == "little" => Some(false),
        Some(e) if e == "big" => Some(true),
        Some(e) => return Err(err_field("endian", &e, "little or big")),
    };
    if big_endian.is_none() && dtype.size() > 1 && encoding.binary() {
        return Err(Error::format(format!(
            "NRRD header lacks \"endian\", required for {} data in {:?} encoding",
            dtype.nrrd_name(),
            encoding
        )));
    }
    let space = match (get("space"), get("space dimension")) {
        (Some(_), Some(_)) => {
            return Err(Error::format(
                "NRRD header gives both \"space\" and \"space dimension\"; expected one",
            ))
        }
        (Some(s), None) => Some(NrrdSpace::parse(s.trim())?),
        (None, Some(d)) => {
            let n: usize = parse_int("space dimension", d, "an integer 1..=16")?;
            if !(1..=MAX_DIM).contains(&n) {
                return Err(err_field("space dimension", d, "an integer 1..=16"));
            }
            Some((NrrdSpace::Other, n))
        }
        (None, None) => None,
    };
    // the space dimension, which the per-space fields need
    let space_dim = |field: &str| {
        space.map(|s| s.1).ok_or_else(|| {
            Error::format(format!(
                "NRRD \"{field}\" given without \"space\" or \"space dimension\""
            ))
        })
    };
    let space_directions = match get("space directions") {
        None => None,
        Some(v) => {
            let sd = space_dim("space directions")?;
            let dirs = split_vectors("space directions", v)?;
            if dirs.len() != dim {
                return Err(err_field(
                    "space directions",
                    v,
                    &format!("{dim} entries (one per axis)"),
                ));
            }
            if dirs.iter().flatten().any(|d| d.iter().all(|&x| x == 0.0)) {
                return Err(err_field(
                    "space directions",
                    v,
                    "non-zero vectors (a zero vector leaves the axis without a spacing)",
                ));
            }
            if dirs.iter().flatten().any(|d| d.len() != sd) {
                return Err(err_field(
                    "space directions",
                    v,
                    &format!("vectors of {sd} components (the space dimension)"),
                ));
            }
            Some(dirs)
        }
    };
    let space_origin = match get("space origin") {
        None => None,
        Some(v) => {
            let sd = space_dim("space origin")?;
            let o = parse_vector("space origin", v)?;
            if o.len() != sd {
                return Err(err_field(
                    "space origin",
                    v,
                    &format!("a vector of {sd} components (the space dimension)"),
                ));
            }
            Some(o)
        }
    };
    let kinds = match get("kinds") {
        None => None,
        Some(v) => {
            let k: Vec<String> = v
                .split_whitespace()
                .map(|s| s.to_ascii_lowercase())
                .collect();
            if k.len() != dim {
                return Err(err_field(
                    "kinds",
                    v,
                    &format!("{dim} kinds (one per axis)"),
                ));
            }
            if let Some(bad) = k.iter().find(|s| !KNOWN_KINDS.contains(&s.as_str())) {
                return Err(Error::format(format!(
                    "unknown NRRD kind {bad:?} in \"kinds: {v}\""
                )));
            }
            Some(k)
        }
    };
    let spacings = match get("spacings") {
        None => None,
        Some(v) => {
            let s: Vec<f64> = v
                .split_whitespace()
                .map(|w| parse_f64("spacings", w))
                .collect::<Result<_>>()?;
            if s.len() != dim {
                return Err(err_field("spacings", v, &format!("{dim} numbers")));
            }
            Some(s)
        }
    };
    let byte_skip = match get("byte skip") {
        None => 0,
        Some(v) => {
            let b: i64 = parse_int("byte skip", v, "an integer >= -1")?;
            if b < -1 {
                return Err(err_field("byte skip", v, "an integer >= -1"));
            }
            if b == -1 && encoding != NrrdEncoding::Raw {
                return Err(Error::format(format!(
                    "NRRD \"byte skip: -1\" works only with raw encoding, not {encoding:?}"
                )));
            }
            b
        }
    };
    let line_skip = match get("line skip") {
        None => 0,
        Some(v) => parse_int::<u64>("line skip", v, "an integer >= 0")?,
    };
    let data = data.unwrap_or(DataFiles::Attached);
    if let DataFiles::Detached {
        names,
        subdim: Some(s),
    } = &data
    {
        if *s == 0 || *s > dim {
            return Err(Error::format(format!(
                "NRRD data file sub-dimension must be 1..={dim}, got {s}"
            )));
        }
        let _ = names;
    }
    Ok(NrrdHeader {
        version,
        dtype,
        encoding,
        big_endian,
        sizes,
        space,
        space_directions,
        space_origin,
        kinds,
        spacings,
        byte_skip,
        line_skip,
        data,
        header_len,
    })
}

// ---------------------------------------------------------------------------------------------
// Geometry

/// The order of axes in the volume (spatial first, then component axes) and how many are
/// spatial.
fn axis_order(h: &NrrdHeader) -> (Vec<usize>, usize) {
    let dim = h.sizes.len();
    let component: Vec<bool> = match (&h.space_directions, &h.kinds) {
        // `none`, or a direction along time only (a -time space): not a spatial axis
        (Some(d), _) => d
            .iter()
            .map(|v| {
                v.as_ref()
                    .is_none_or(|v| v.iter().take(3).all(|&x| x == 0.0))
            })
            .collect(),
        (None, Some(k)) => k.iter().map(|s| !is_domain_kind(s)).collect(),
        (None, None) => vec![false; dim],
    };
    let mut order: Vec<usize> = (0..dim).filter(|&i| !component[i]).collect();
    let nspatial = order.len();
    order.extend((0..dim).filter(|&i| component[i]));
    (order, nspatial)
}

/// RAS+ affine and spacing for the volume's axis order.
fn geometry(h: &NrrdHeader, order: &[usize], nspatial: usize) -> ([f64; 16], Vec<f64>) {
    let flip = h.space.map_or([-1.0, -1.0, 1.0], |(s, _)| s.to_ras());
    let ncols = nspatial.min(3);
    let mut cols: Vec<[f64; 3]> = Vec::with_capacity(3);
    let mut spacing = Vec::new();
    let mut origin = [0.0; 3];
    match &h.space_directions {
        Some(dirs) => {
            for &ax in order.iter().take(ncols) {
                let d = dirs[ax].as_deref().unwrap_or(&[]);
                let mut c = [0.0; 3];
                for (k, x) in d.iter().take(3).enumerate() {
                    c[k] = *x;
                }
                spacing.push((c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt());
                cols.push(c);
            }
            if let Some(o) = &h.space_origin {
                for (k, x) in o.iter().take(3).enumerate() {
                    origin[k] = *x;
                }
            }
        }
        None => {
            for (j, &ax) in order.iter().take(ncols).enumerate() {
                let s = h
                    .spacings
                    .as_ref()
                    .map(|s| s[ax])
                    .filter(|s| s.is_finite() && *s != 0.0)
                    .map_or(1.0, f64::abs);
                let mut c = [0.0; 3];
                c[j] = s;
                spacing.push(s);
                cols.push(c);
            }
        }
    }
    complete_basis(&mut cols);
    // Degenerate (zero-length) directions keep a finite affine; spacing 0 becomes 1 so that
    // every spacing is positive as for NIfTI.
    for s in spacing.iter_mut() {
        if !(*s > 0.0 && s.is_finite()) {
            *s = 1.0;
        }
    }
    let mut a = [0.0; 16];
    for r in 0..3 {
        for (j, c) in cols.iter().enumerate() {
            a[4 * r + j] = flip[r] * c[r] + 0.0;
        }
        a[4 * r + 3] = flip[r] * origin[r] + 0.0;
    }
    a[15] = 1.0;
    // spacing has one entry per spatial axis up to 3; the volume's spacing has min(3, ndim)
    // entries: component axes among the first three get 1.
    while spacing.len() < order.len().min(3) {
        spacing.push(1.0);
    }
    (a, spacing)
}

/// Adds unit columns until there are three, making the basis right-handed where possible.
fn complete_basis(cols: &mut Vec<[f64; 3]>) {
    let norm = |v: &[f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let cross = |a: &[f64; 3], b: &[f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    while cols.len() < 3 {
        let k = cols.len();
        let mut pick = [0.0; 3];
        pick[k] = 1.0;
        if k == 2 {
            let c = cross(&cols[0], &cols[1]);
            let n = norm(&c);
            if n > 0.0 && n.is_finite() {
                pick = [c[0] / n, c[1] / n, c[2] / n];
            }
        } else if k == 1 {
            // a unit vector orthogonal to the first column (the axis it leans on least)
            let c0 = cols[0];
            let n0 = norm(&c0);
            if n0 > 0.0 && n0.is_finite() {
                let m = (0..3)
                    .min_by(|&i, &j| c0[i].abs().total_cmp(&c0[j].abs()))
                    .unwrap_or(1);
                let mut e = [0.0; 3];
                e[m] = 1.0;
                let u = [c0[0] / n0, c0[1] / n0, c0[2] / n0];
                let d = e[0] * u[0] + e[1] * u[1] + e[2] * u[2];
                let v = [e[0] - d * u[0], e[1] - d * u[1], e[2] - d * u[2]];
                let nv = norm(&v);
                if nv > 0.0 {
                    pick = [v[0] / nv, v[1] / nv, v[2] / nv];
                }
            }
        }
        cols.push(pick);
    }
}

// ---------------------------------------------------------------------------------------------
// Data

/// Text numbers for the ascii encoding.
trait Ascii: Element {
    fn parse_text(s: &str) -> Option<Self>;
}

macro_rules! ascii_int {
    ($($t:ty),*) => {$(
        impl Ascii for $t {
            fn parse_text(s: &str) -> Option<Self> {
                s.strip_prefix('+').unwrap_or(s).parse::<$t>().ok()
            }
        }
    )*};
}
ascii_int!(i8, u8, i16, u16, i32, u32, i64, u64);

macro_rules! ascii_float {
    ($($t:ty),*) => {$(
        impl Ascii for $t {
            fn parse_text(s: &str) -> Option<Self> {
                s.strip_prefix('+').unwrap_or(s).parse::<$t>().ok()
            }
        }
    )*};
}
ascii_float!(f32, f64);

/// Skips `n` lines (through `n` newline bytes); `ERR_FORMAT` if the file ends first.
fn skip_lines<R: Read>(r: &mut R, n: u64, what: &str) -> Result<u64> {
    let mut consumed = 0u64;
    let mut left = n;
    let mut byte = [0u8; 1];
    while left > 0 {
        match r.read(&mut byte) {
            Ok(0) => {
                return Err(Error::format(format!(
                    "NRRD line skip {n} runs past the end of {what}"
                )))
            }
            Ok(_) => {
                consumed += 1;
                if byte[0] == b'\n' {
                    left -= 1;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("reading {what}: {e}"))),
        }
    }
    Ok(consumed)
}

fn skip_bytes<R: Read>(r: &mut R, n: u64, what: &str, gzip: bool) -> Result<()> {
    let got = io::copy(&mut r.by_ref().take(n), &mut io::sink())
        .map_err(|e| stream_err(e, gzip, what))?;
    if got < n {
        return Err(Error::format(format!(
            "NRRD byte skip {n} runs past the end of {what}"
        )));
    }
    Ok(())
}

fn stream_err(e: io::Error, gzip: bool, what: &str) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData
            if gzip =>
        {
            Error::format(format!("corrupt or truncated gzip stream in {what}: {e}"))
        }
        io::ErrorKind::UnexpectedEof => Error::format(format!("unexpected end of {what}: {e}")),
        _ => Error::io(format!("reading {what}: {e}")),
    }
}

/// Appends `n` binary elements from `r` to `v`, chunk by chunk.
fn read_binary<T: Element, R: Read>(
    r: &mut R,
    v: &mut Vec<T>,
    n: usize,
    gzip: bool,
    what: &str,
) -> Result<()> {
    let size = std::mem::size_of::<T>();
    let end = v.len() + n;
    for k in chunk_sizes(n, size) {
        let start = v.len();
        v.resize(start + k, T::default());
        let dst = bytes_of_mut(&mut v[start..]);
        let got = read_full(r, dst).map_err(|e| stream_err(e, gzip, what))?;
        if got < dst.len() {
            return Err(Error::format(format!(
                "truncated NRRD data in {what}: expected {} bytes, got {}",
                n * size,
                (start - (end - n)) * size + got
            )));
        }
    }
    Ok(())
}

/// Reads whitespace-separated text tokens from `r` (bounded by the data's own size).
struct Tokens<R: Read> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<R: Read> Tokens<R> {
    fn new(r: R) -> Self {
        Tokens {
            r,
            buf: Vec::new(),
            pos: 0,
            eof: false,
        }
    }
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + (64 << 10), 0);
        let got = read_full(&mut self.r, &mut self.buf[old..])?;
        self.buf.truncate(old + got);
        if got == 0 {
            self.eof = true;
        }
        Ok(())
    }
    /// Next token (at most 4096 bytes), or None at the end.
    fn next(&mut self) -> io::Result<Option<String>> {
        loop {
            while self.pos < self.buf.len() && self.buf[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos < self.buf.len() {
                let end = self.buf[self.pos..]
                    .iter()
                    .position(|b| b.is_ascii_whitespace());
                match end {
                    Some(e) => {
                        let t =
                            String::from_utf8_lossy(&self.buf[self.pos..self.pos + e]).into_owned();
                        self.pos += e;
                        return Ok(Some(t));
                    }
                    None if self.eof || self.buf.len() - self.pos > 4096 => {
                        let t = String::from_utf8_lossy(&self.buf[self.pos..]).into_owned();
                        self.pos = self.buf.len();
                        return Ok(Some(t));
                    }
                    None => {}
                }
            } else if self.eof {
                return Ok(None);
            }
            self.fill()?;
        }
    }
}

fn read_ascii<T: Ascii, R: Read>(r: R, v: &mut Vec<T>, n: usize, what: &str) -> Result<()> {
    let mut t = Tokens::new(r);
    for i in 0..n {
        let tok = t
            .next()
            .map_err(|e| stream_err(e, false, what))?
            .ok_or_else(|| {
                Error::format(format!(
                    "truncated NRRD ascii data in {what}: expected {n} values, got {i}"
                ))
            })?;
        let x = T::parse_text(&tok).ok_or_else(|| {
            Error::format(format!(
                "bad NRRD ascii value {tok:?} (value {i} in {what}); expected a number of the \
                 header's type"
            ))
        })?;
        v.push(x);
    }
    Ok(())
}

fn read_hex<T: Element, R: Read>(r: R, v: &mut Vec<T>, n: usize, what: &str) -> Result<()> {
    let size = std::mem::size_of::<T>();
    let mut bytes = io::BufReader::new(r).bytes();
    let mut elem = vec![0u8; size];
    for i in 0..n {
        for b in elem.iter_mut() {
            let mut nib = [0u8; 2];
            for x in nib.iter_mut() {
                *x = loop {
                    let c = match bytes.next() {
                        None => {
                            return Err(Error::format(format!(
                                "truncated NRRD hex data in {what}: expected {n} values, got {i}"
                            )))
                        }
                        Some(c) => c.map_err(|e| stream_err(e, false, what))?,
                    };
                    if c.is_ascii_whitespace() {
                        continue;
                    }
                    break match (c as char).to_digit(16) {
                        Some(d) => d as u8,
                        None => {
                            return Err(Error::format(format!(
                                "bad NRRD hex character {:?} in {what}",
                                c as char
                            )))
                        }
                    };
                };
            }
            *b = nib[0] << 4 | nib[1];
        }
        let mut x = [T::default()];
        bytes_of_mut(&mut x).copy_from_slice(&elem);
        v.push(x[0]);
    }
    Ok(())
}

/// One data source: a file (or the attached bytes) and how to reach its data.
enum Input<'a> {
    Bytes(&'a [u8]),
    File(PathBuf),
    /// A detached data file given in memory: its name in the header, its bytes.
    Named(&'a str, &'a [u8]),
}

impl Input<'_> {
    fn what(&self) -> String {
        match self {
            Input::Bytes(_) => "the attached data".to_string(),
            Input::File(p) => p.display().to_string(),
            Input::Named(n, _) => format!("data file {n:?}"),
        }
    }
}

/// Where a detached header's data files are found.
enum DataDir<'a> {
    /// Nowhere (a header read from memory alone): detached data are `ERR_UNSUPPORTED`.
    Nowhere,
    /// The header's directory ([`read_nrrd`]).
    Dir(&'a Path),
    /// Buffers named as the header names its files ([`read_nrrd_detached_bytes`]).
    Memory(&'a [(&'a str, &'a [u8])]),
}

/// Upper bound on the elements of `size` bytes that `len` bytes in `enc` can carry.
fn capacity(enc: NrrdEncoding, len: u64, size: usize) -> u64 {
    match enc {
        NrrdEncoding::Raw => len / size as u64,
        NrrdEncoding::Gzip => {
            len.saturating_mul(MAX_DEFLATE_RATIO)
                .saturating_add(GZIP_SLACK)
                / size as u64
        }
        // one character and a separator per value (the last needs no separator)
        NrrdEncoding::Ascii => len / 2 + 1,
        NrrdEncoding::Hex => len / (2 * size as u64),
    }
}

/// Reads `n` elements from one source into `v`.
fn read_source<T: Ascii>(
    h: &NrrdHeader,
    input: &Input,
    start: u64,
    n: usize,
    v: &mut Vec<T>,
) -> Result<()> {
    let what = input.what();
    match input {
        Input::Bytes(b) | Input::Named(_, b) => {
            let b = b.get(start as usize..).unwrap_or(&[]);
            read_from(h, &mut io::Cursor::new(b), b.len() as u64, n, v, &what)
        }
        Input::File(p) => {
            let mut f = File::open(p).map_err(|e| Error::io(format!("cannot open {what}: {e}")))?;
            let len = f
                .metadata()
                .map_err(|e| Error::io(format!("cannot stat {what}: {e}")))?
                .len();
            f.seek(SeekFrom::Start(start))
                .map_err(|e| Error::io(format!("seeking in {what}: {e}")))?;
            let mut r = BufReader::with_capacity(1 << 20, f);
            read_from(h, &mut r, len.saturating_sub(start), n, v, &what)
        }
    }
}

/// Reads `n` elements from `r` (positioned where the data region begins: after the header for
/// attached data), `len` bytes being left in it.
fn read_from<T: Ascii, R: Read + Seek>(
    h: &NrrdHeader,
    r: &mut R,
    len: u64,
    n: usize,
    v: &mut Vec<T>,
    what: &str,
) -> Result<()> {
    let size = std::mem::size_of::<T>();
    let used = skip_lines(r, h.line_skip, what)?;
    let len = len - used;
    let mut skip = h.byte_skip;
    if skip == -1 {
        let nbytes = (n as u64) * size as u64;
        if len < nbytes {
            return Err(Error::format(format!(
                "truncated NRRD data in {what}: expected {nbytes} bytes, the file holds {len}"
            )));
        }
        skip = (len - nbytes) as i64;
    }
    let skip = skip as u64;
    // The header's promise against what the bytes can hold (before growing the vector).
    let avail = match h.encoding {
        NrrdEncoding::Gzip => len,
        _ => len.saturating_sub(skip),
    };
    if capacity(h.encoding, avail, size) < n as u64 {
        return Err(Error::format(format!(
            "truncated NRRD data in {what}: expected {n} {} values ({:?} encoding), but {avail} \
             bytes cannot hold them",
            h.dtype.nrrd_name(),
            h.encoding
        )));
    }
    let before = v.len();
    match h.encoding {
        NrrdEncoding::Raw => {
            r.seek(SeekFrom::Current(skip as i64))
                .map_err(|e| Error::io(format!("seeking in {what}: {e}")))?;
            read_binary(r, v, n, false, what)?;
        }
        NrrdEncoding::Gzip => {
            let mut z = MultiGzDecoder::new(r);
            skip_bytes(&mut z, skip, what, true)?;
            read_binary(&mut z, v, n, true, what)?;
            check_gzip_trailer(&mut z)
                .map_err(|e| Error::new(e.code, format!("{what}: {}", e.message)))?;
        }
        NrrdEncoding::Ascii => {
            skip_bytes(r, skip, what, false)?;
            read_ascii(r, v, n, what)?;
        }
        NrrdEncoding::Hex => {
            skip_bytes(r, skip, what, false)?;
            read_hex(r, v, n, what)?;
        }
    }
    if h.encoding.binary() && h.big_endian == Some(!cfg!(target_endian = "big")) && size > 1 {
        for x in v[before..].iter_mut() {
            *x = x.swap();
        }
    }
    Ok(())
}

fn wrap<T: Element>(v: Vec<T>) -> VolumeData {
    T::wrap(v)
}

/// Reads all the data as `T`, then moves component axes last.
fn read_typed<T: Ascii>(
    h: &NrrdHeader,
    inputs: &[(Input, u64)],
    count: usize,
    order: &[usize],
) -> Result<VolumeData> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(count).map_err(|e| {
        Error::io(format!(
            "cannot allocate {} bytes for the NRRD data: {e}",
            count * std::mem::size_of::<T>()
        ))
    })?;
    let per = count / inputs.len();
    for (input, start) in inputs {
        read_source(h, input, *start, per, &mut v)?;
    }
    if order.iter().enumerate().all(|(i, &a)| i == a) {
        return Ok(wrap(v));
    }
    Ok(wrap(permute(&v, &h.sizes, order)?))
}

/// Transposes first-axis-fastest data of shape `sizes` so that output axis `k` is input axis
/// `order[k]`.
fn permute<T: Element>(v: &[T], sizes: &[usize], order: &[usize]) -> Result<Vec<T>> {
    let nd = sizes.len();
    let mut stride_in = vec![1usize; nd];
    for i in 1..nd {
        stride_in[i] = stride_in[i - 1] * sizes[i - 1];
    }
    let out_sizes: Vec<usize> = order.iter().map(|&a| sizes[a]).collect();
    let out_strides: Vec<usize> = order.iter().map(|&a| stride_in[a]).collect();
    let mut out: Vec<T> = Vec::new();
    out.try_reserve_exact(v.len())
        .map_err(|e| Error::io(format!("cannot allocate the reordered NRRD data: {e}")))?;
    let mut idx = vec![0usize; nd];
    let mut src = 0usize;
    for _ in 0..v.len() {
        out.push(v[src]);
        for k in 0..nd {
            idx[k] += 1;
            src += out_strides[k];
            if idx[k] < out_sizes[k] {
                break;
            }
            src -= out_strides[k] * out_sizes[k];
            idx[k] = 0;
        }
    }
    Ok(out)
}

fn read_with(
    h: &NrrdHeader,
    attached: Option<Input>,
    dir: DataDir,
    opts: &NrrdOptions,
) -> Result<VolumeFile> {
    let dim = h.sizes.len();
    let size = h.dtype.size();
    let overflow = || {
        Error::format(format!(
            "NRRD sizes {:?} of {} ({size} bytes each) overflow the addressable size",
            h.sizes,
            h.dtype.nrrd_name()
        ))
    };
    let count = h
        .sizes
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(overflow)?;
    let nbytes = count.checked_mul(size).ok_or_else(overflow)?;
    if nbytes as u64 > isize::MAX as u64 {
        return Err(overflow());
    }
    if nbytes as u64 > opts.max_bytes {
        return Err(Error::format(format!(
            "NRRD data of sizes {:?} ({}) need {nbytes} bytes, more than the limit max_bytes = {}",
            h.sizes,
            h.dtype.nrrd_name(),
            opts.max_bytes
        )));
    }
    let inputs: Vec<(Input, u64)> = match &h.data {
        DataFiles::Attached => vec![(
            attached.ok_or_else(|| Error::format("NRRD attached data missing"))?,
            h.header_len as u64,
        )],
        DataFiles::Detached { names, subdim } => {
            if matches!(dir, DataDir::Nowhere) {
                return Err(Error::unsupported(
                    "NRRD header with detached data (data file) read from memory; read it from \
                     its path so that the data files can be found",
                ));
            }
            // teem reads the files as one concatenated stream, each holding an equal share
            // (whatever the sub-dimension: with subdim == dimension the slowest axis is split).
            let nf = names.len();
            let per = count / nf;
            if per * nf != count {
                return Err(Error::format(format!(
                    "NRRD data files: {nf} files cannot hold equal shares of {count} values \
                     (sizes {:?}{})",
                    h.sizes,
                    subdim.map_or(String::new(), |s| format!(", subdim {s}"))
                )));
            }
            names
                .iter()
                .map(|n| {
                    Ok(match dir {
                        DataDir::Dir(d) => (Input::File(d.join(n)), 0),
                        DataDir::Memory(files) => {
                            let b = files.iter().find(|(f, _)| f == n).ok_or_else(|| {
                                Error::io(format!(
                                    "cannot stat NRRD data file {n:?}: not among the files given"
                                ))
                            })?;
                            (Input::Named(n, b.1), 0)
                        }
                        DataDir::Nowhere => unreachable!("refused above"),
                    })
                })
                .collect::<Result<_>>()?
        }
    };
    // Every source must be able to hold its share before anything is allocated.
    let per = count / inputs.len();
    for (input, start) in &inputs {
        let len = match input {
            Input::Bytes(b) | Input::Named(_, b) => b.len() as u64,
            Input::File(p) => std::fs::metadata(p)
                .map_err(|e| Error::io(format!("cannot stat NRRD data file {}: {e}", p.display())))?
                .len(),
        };
        let avail = len.saturating_sub(*start);
        let avail = if h.byte_skip > 0 && h.encoding != NrrdEncoding::Gzip {
            avail.saturating_sub(h.byte_skip as u64)
        } else {
            avail
        };
        if capacity(h.encoding, avail, size) < per as u64 {
            return Err(Error::format(format!(
                "truncated NRRD data in {}: expected {per} {} values ({} bytes, {:?} encoding), \
                 the file has {avail} bytes of data",
                input.what(),
                h.dtype.nrrd_name(),
                per * size,
                h.encoding
            )));
        }
    }
    let (order, nspatial) = axis_order(h);
    debug_assert_eq!(order.len(), dim);
    let data = with_element_type!(h.dtype, T => read_typed::<T>(h, &inputs, count, &order)?);
    let (affine, spacing) = geometry(h, &order, nspatial);
    Ok(VolumeFile {
        shape: order.iter().map(|&a| h.sizes[a]).collect(),
        spacing,
        affine,
        data,
    })
}

/// Reads an attached NRRD from memory (detached data are `ERR_UNSUPPORTED` here). See the
/// [module docs](self).
pub fn read_nrrd_bytes(bytes: &[u8], opts: &NrrdOptions) -> Result<VolumeFile> {
    let h = parse_nrrd_header(bytes, false)?;
    read_with(&h, Some(Input::Bytes(bytes)), DataDir::Nowhere, opts)
}

/// Reads a `.nhdr` header (detached data, or attached) whose data files are given in memory,
/// each by the name the header gives it (`data file: a.raw` finds `("a.raw", bytes)`; a name
/// not given is `ERR_IO`, as a missing file is): the reader of [`read_nrrd`] for a `.nhdr` path,
/// with the header's directory replaced by these buffers. The names are checked as
/// [`read_nrrd`] checks them (absolute names and `..` components are `ERR_FORMAT`) before any
/// lookup.
pub fn read_nrrd_detached_bytes(
    header: &[u8],
    files: &[(&str, &[u8])],
    opts: &NrrdOptions,
) -> Result<VolumeFile> {
    let h = parse_nrrd_header(header, true)?;
    read_with(&h, Some(Input::Bytes(header)), DataDir::Memory(files), opts)
}

/// Reads the start of a file (up to the header cap).
fn read_head(path: &Path) -> Result<Vec<u8>> {
    let f =
        File::open(path).map_err(|e| Error::io(format!("cannot open {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    f.take(MAX_HEADER_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("reading {}: {e}", path.display())))?;
    Ok(buf)
}

/// Reads a `.nrrd` (attached) or `.nhdr` (detached, or attached) file. See the
/// [module docs](self).
pub fn read_nrrd(path: &Path, opts: &NrrdOptions) -> Result<VolumeFile> {
    let with_path = |e: Error| Error::new(e.code, format!("{}: {}", path.display(), e.message));
    let head = read_head(path)?;
    let detached = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("nhdr"));
    let h = parse_nrrd_header(&head, detached).map_err(with_path)?;
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    let dir = dir.map_or(DataDir::Nowhere, DataDir::Dir);
    read_with(&h, Some(Input::File(path.to_path_buf())), dir, opts).map_err(with_path)
}

/// Reads only the header of a NRRD file.
pub fn read_nrrd_header(path: &Path) -> Result<NrrdHeader> {
    let head = read_head(path)?;
    let detached = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("nhdr"));
    parse_nrrd_header(&head, detached)
        .map_err(|e| Error::new(e.code, format!("{}: {}", path.display(), e.message)))
}

// ---------------------------------------------------------------------------------------------
// Writing

fn fmt_num(x: f64) -> String {
    // shortest representation that round-trips (Rust's Display for f64), no "-0"
    format!("{}", x + 0.0)
}

/// The header ITK/Slicer would write for `vol` (see the [module docs](self)).
fn encode_header(vol: &VolumeFile, gzip: bool) -> Result<String> {
    let nd = vol.shape.len();
    if !(1..=MAX_DIM).contains(&nd) {
        return Err(Error::shape(format!(
            "NRRD holds 1 to {MAX_DIM} axes, got shape {:?}",
            vol.shape
        )));
    }
    check_writable(vol, u64::MAX)?;
    let a = &vol.affine;
    // Columns written as directions must be usable: non-zero, and a basis for 3+ axes.
    let ncols = nd.min(3);
    for j in 0..ncols {
        if a[j] == 0.0 && a[4 + j] == 0.0 && a[8 + j] == 0.0 {
            return Err(Error::setting(format!(
                "affine column {j} is zero; a voxel-to-world affine needs non-zero columns \
                 (affine = {a:?})"
            )));
        }
    }
    if ncols == 3 {
        let det = a[0] * (a[5] * a[10] - a[6] * a[9]) - a[1] * (a[4] * a[10] - a[6] * a[8])
            + a[2] * (a[4] * a[9] - a[5] * a[8]);
        if det == 0.0 || !det.is_finite() {
            return Err(Error::setting(format!(
                "affine is singular (determinant {det}); expected a voxel-to-world affine \
                 (affine = {a:?})"
            )));
        }
    }
    let lps = [-1.0, -1.0, 1.0];
    let mut dirs = Vec::new();
    let mut kinds = Vec::new();
    for j in 0..nd {
        if j < 3 {
            dirs.push(format!(
                "({},{},{})",
                fmt_num(lps[0] * a[j]),
                fmt_num(lps[1] * a[4 + j]),
                fmt_num(lps[2] * a[8 + j])
            ));
            kinds.push("domain");
        } else {
            dirs.push("none".to_string());
            kinds.push("list");
        }
    }
    let sizes: Vec<String> = vol.shape.iter().map(|s| s.to_string()).collect();
    let t = vol.data.dtype();
    let mut h = String::new();
    h.push_str("NRRD0004\n");
    h.push_str("# Complete NRRD file format specification at:\n");
    h.push_str("# http://teem.sourceforge.net/nrrd/format.html\n");
    h.push_str(&format!("type: {}\n", t.nrrd_name()));
    h.push_str(&format!("dimension: {nd}\n"));
    h.push_str("space: left-posterior-superior\n");
    h.push_str(&format!("sizes: {}\n", sizes.join(" ")));
    h.push_str(&format!("space directions: {}\n", dirs.join(" ")));
    h.push_str(&format!("kinds: {}\n", kinds.join(" ")));
    if t.size() > 1 {
        h.push_str("endian: little\n");
    }
    h.push_str(&format!(
        "encoding: {}\n",
        if gzip { "gzip" } else { "raw" }
    ));
    h.push_str(&format!(
        "space origin: ({},{},{})\n",
        fmt_num(lps[0] * a[3]),
        fmt_num(lps[1] * a[7]),
        fmt_num(lps[2] * a[11])
    ));
    h.push('\n');
    Ok(h)
}

/// Encodes `vol` as an attached NRRD in memory (raw, or gzip when `gzip`).
/// Errors: `ERR_SHAPE` when shape and data disagree or the shape has 0 or more than 16 axes or
/// a zero-length axis; `ERR_SETTING` for a non-finite or singular affine (or a zero column).
pub fn write_nrrd_bytes(vol: &VolumeFile, gzip: bool) -> Result<Vec<u8>> {
    let header = encode_header(vol, gzip)?;
    let mut out = header.into_bytes();
    if gzip {
        let mut enc = GzEncoder::new(out, Compression::new(GZIP_LEVEL));
        write_data(&mut enc, &vol.data).map_err(|e| Error::io(e.to_string()))?;
        out = enc.finish().map_err(|e| Error::io(e.to_string()))?;
    } else {
        write_data(&mut out, &vol.data).map_err(|e| Error::io(e.to_string()))?;
    }
    Ok(out)
}

/// Writes `vol` to `path` as an attached NRRD (`.nrrd`), raw or gzip-compressed (level 1).
/// Errors as [`write_nrrd_bytes`], plus `ERR_IO`.
pub fn write_nrrd(path: &Path, vol: &VolumeFile, gzip: bool) -> Result<()> {
    let header = encode_header(vol, gzip)?;
    // the header stays plain text, only the voxels are compressed
    write_file(path, header.as_bytes(), &[], &vol.data, gzip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_aliases() {
        for (n, t) in [
            ("short", NrrdType::I16),
            ("signed   short  int", NrrdType::I16),
            ("uchar", NrrdType::U8),
            ("Unsigned Char", NrrdType::U8),
            ("int64_t", NrrdType::I64),
            ("ulonglong", NrrdType::U64),
            ("double", NrrdType::F64),
        ] {
            assert_eq!(NrrdType::from_nrrd_name(n).unwrap(), t, "{n}");
        }
        assert_eq!(
            NrrdType::from_nrrd_name("block").unwrap_err().code,
            voxelkit_core::Code::Unsupported
        );
        assert_eq!(
            NrrdType::from_nrrd_name("quad").unwrap_err().code,
            voxelkit_core::Code::Format
        );
    }

    #[test]
    fn format_names() {
        assert_eq!(format_name("slice%03d.raw", 7).unwrap(), "slice007.raw");
        assert_eq!(format_name("s%d.raw", 12).unwrap(), "s12.raw");
        assert_eq!(format_name("s%3d", 5).unwrap(), "s  5");
        assert!(format_name("s%s", 5).is_err());
        assert!(format_name("s%d%d", 5).is_err());
        assert!(format_name("plain", 5).is_err());
    }

    #[test]
    fn data_names_that_escape_are_refused() {
        for n in [
            "/etc/passwd",
            "../x.raw",
            "a/../../x.raw",
            "a/..",
            "..",
            "\\x",
        ] {
            assert!(check_data_name(n).is_err(), "{n}");
        }
        for n in ["x.raw", "sub/x.raw", "./x.raw", "a..b.raw"] {
            assert!(check_data_name(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn permute_moves_leading_axis_last() {
        // sizes [2, 3]: element (c, x) at c + 2x; out [3, 2]: (x, c) at x + 3c
        let v: Vec<i32> = (0..6).collect();
        let out = permute(&v, &[2, 3], &[1, 0]).unwrap();
        assert_eq!(out, vec![0, 2, 4, 1, 3, 5]);
    }
}
