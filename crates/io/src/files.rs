//! Volume files by name: the format follows the extension (`.nii`, `.nii.gz`, `.nrrd`, `.nhdr`),
//! for files on disk and for files held in memory (a browser or WASI host has no file system).

use crate::{nifti, nrrd, ReadOptions, VolumeFile};
use std::path::Path;
use voxelkit_core::{Error, Result};

/// A volume file format, from a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// NIfTI-1/2, gzip-compressed as a whole when `gzip` (`.nii.gz`).
    Nifti { gzip: bool },
    /// NRRD with attached data (`.nrrd`).
    Nrrd,
    /// NRRD header with detached data files beside it (`.nhdr`).
    Nhdr,
}

impl Format {
    /// The format a name's extension (case-insensitive) says; anything else is `ERR_FORMAT`.
    pub fn of(name: &str) -> Result<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".nii") {
            Ok(Format::Nifti { gzip: false })
        } else if lower.ends_with(".nii.gz") {
            Ok(Format::Nifti { gzip: true })
        } else if lower.ends_with(".nrrd") {
            Ok(Format::Nrrd)
        } else if lower.ends_with(".nhdr") {
            Ok(Format::Nhdr)
        } else {
            Err(Error::format(format!(
                "unknown volume file extension (expected .nii, .nii.gz, .nrrd, .nhdr): {name}"
            )))
        }
    }
}

/// Reads a volume file; the format follows the name.
pub fn read_volume(path: &Path, opts: &ReadOptions) -> Result<VolumeFile> {
    match Format::of(&path.to_string_lossy())? {
        Format::Nifti { .. } => nifti::read_nifti(path, opts),
        Format::Nrrd | Format::Nhdr => nrrd::read_nrrd(path, opts),
    }
}

/// Reads a volume file held in memory; `name` gives the format (NIfTI data may be gzip
/// whatever the name says, as on disk). A detached NRRD header (`.nhdr`) needs its data files:
/// `ERR_UNSUPPORTED` here.
pub fn read_volume_bytes(bytes: &[u8], name: &str, opts: &ReadOptions) -> Result<VolumeFile> {
    match Format::of(name)? {
        Format::Nifti { .. } => nifti::read_nifti_bytes(bytes, opts),
        Format::Nrrd => nrrd::read_nrrd_bytes(bytes, opts),
        Format::Nhdr => Err(Error::unsupported(format!(
            "a detached NRRD header (.nhdr) needs its data files; parse an attached .nrrd: {name}"
        ))),
    }
}

/// The NRRD encoding to write: `gzip` for NRRD (default true); NIfTI compression follows the
/// name, so `Some(_)` is `ERR_SETTING` there; `.nhdr` is `ERR_UNSUPPORTED`.
fn nrrd_gzip(format: Format, gzip: Option<bool>, name: &str) -> Result<bool> {
    match format {
        Format::Nifti { .. } if gzip.is_some() => Err(Error::setting(format!(
            "encoding applies to NRRD files only; NIfTI compression follows the name \
             (.nii or .nii.gz): {name}"
        ))),
        Format::Nhdr => Err(Error::unsupported(format!(
            "writing detached NRRD headers (.nhdr) is not supported; write an attached .nrrd: \
             {name}"
        ))),
        _ => Ok(gzip.unwrap_or(true)),
    }
}

/// Writes a volume file; the format follows the name (see [`nrrd_gzip`] for `gzip`).
pub fn write_volume(path: &Path, vol: &VolumeFile, gzip: Option<bool>) -> Result<()> {
    let name = path.to_string_lossy();
    let format = Format::of(&name)?;
    let gz = nrrd_gzip(format, gzip, &name)?;
    match format {
        Format::Nifti { .. } => nifti::write_nifti(path, vol),
        _ => nrrd::write_nrrd(path, vol, gz),
    }
}

/// The bytes of the file [`write_volume`] would write under `name`.
pub fn write_volume_bytes(vol: &VolumeFile, name: &str, gzip: Option<bool>) -> Result<Vec<u8>> {
    let format = Format::of(name)?;
    let gz = nrrd_gzip(format, gzip, name)?;
    match format {
        Format::Nifti { gzip: false } => nifti::write_nifti_bytes(vol),
        Format::Nifti { gzip: true } => nifti::write_nifti_gz_bytes(vol),
        _ => nrrd::write_nrrd_bytes(vol, gz),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VolumeData;

    fn vol() -> VolumeFile {
        VolumeFile {
            shape: vec![3, 2, 2],
            spacing: vec![1.0, 2.0, 3.0],
            affine: [
                1.0, 0.0, 0.0, -1.0, 0.0, 2.0, 0.0, 2.0, 0.0, 0.0, 3.0, 5.0, 0.0, 0.0, 0.0, 1.0,
            ],
            data: VolumeData::I16((0..12).map(|i| i * 7 - 30).collect()),
        }
    }

    #[test]
    fn bytes_round_trip_in_every_format() {
        let v = vol();
        for (name, gz) in [
            ("a.nii", None),
            ("a.nii.gz", None),
            ("a.NRRD", None),
            ("a.nrrd", Some(false)),
        ] {
            let b = write_volume_bytes(&v, name, gz).unwrap();
            let back = read_volume_bytes(&b, name, &ReadOptions::default()).unwrap();
            assert_eq!(back.data, v.data, "{name}");
            assert_eq!(back.shape, v.shape, "{name}");
            assert_eq!(back.affine, v.affine, "{name}");
        }
        // gzip NIfTI is recognised by its magic whatever the name
        let gz = write_volume_bytes(&v, "a.nii.gz", None).unwrap();
        assert_eq!(gz[..2], [0x1f, 0x8b]);
        let back = read_volume_bytes(&gz, "a.nii", &ReadOptions::default()).unwrap();
        assert_eq!(back.data, v.data);
    }

    #[test]
    fn bytes_are_the_file_write_volume_writes() {
        let v = vol();
        let dir = std::env::temp_dir().join(format!("voxelkit-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, gz) in [
            ("a.nii", None),
            ("a.nii.gz", None),
            ("a.nrrd", None),
            ("b.nrrd", Some(false)),
        ] {
            let p = dir.join(name);
            write_volume(&p, &v, gz).unwrap();
            let on_disk = std::fs::read(&p).unwrap();
            assert_eq!(write_volume_bytes(&v, name, gz).unwrap(), on_disk, "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_and_settings_give_coded_errors() {
        use voxelkit_core::Code;
        let v = vol();
        let code = |r: Result<Vec<u8>>| r.unwrap_err().code;
        assert_eq!(code(write_volume_bytes(&v, "a.txt", None)), Code::Format);
        assert_eq!(
            code(write_volume_bytes(&v, "a.nhdr", None)),
            Code::Unsupported
        );
        assert_eq!(
            code(write_volume_bytes(&v, "a.nii", Some(true))),
            Code::Setting
        );
        let e = read_volume_bytes(b"NRRD0004\n", "a.nhdr", &ReadOptions::default());
        assert_eq!(e.unwrap_err().code, Code::Unsupported);
        let e = read_volume_bytes(b"garbage", "a.nii", &ReadOptions::default());
        assert_eq!(e.unwrap_err().code, Code::Format);
    }
}
