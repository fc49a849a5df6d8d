//! Shared helpers for the integration tests: a hand-written NIfTI header encoder (independent
//! of the library's writer), seeded data, and paths.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

use voxelkit_core::rng::SplitMix64;
use voxelkit_io::VolumeData;

/// Fields of a hand-built header; `encode` lays them out per the NIfTI-1/NIfTI-2 specs.
#[derive(Clone, Debug)]
pub struct Spec {
    pub version: u8,
    pub big_endian: bool,
    pub dim: [i64; 8],
    pub datatype: i16,
    pub bitpix: i16,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub qform_code: i32,
    pub sform_code: i32,
    pub quatern: [f64; 3],
    pub qoffset: [f64; 3],
    pub srow: [[f64; 4]; 3],
    pub magic: Vec<u8>,
}

impl Spec {
    pub fn new(version: u8, shape: &[i64], datatype: i16) -> Spec {
        let mut dim = [1i64; 8];
        dim[0] = shape.len() as i64;
        dim[1..=shape.len()].copy_from_slice(shape);
        let bitpix = match datatype {
            2 | 256 => 8,
            4 | 512 => 16,
            8 | 16 | 768 => 32,
            _ => 64,
        };
        Spec {
            version,
            big_endian: false,
            dim,
            datatype,
            bitpix,
            pixdim: [1.0; 8],
            vox_offset: if version == 1 { 352.0 } else { 544.0 },
            scl_slope: 0.0,
            scl_inter: 0.0,
            qform_code: 0,
            sform_code: 0,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [[0.0; 4]; 3],
            magic: if version == 1 {
                b"n+1\0".to_vec()
            } else {
                b"n+2\0\r\n\x1a\n".to_vec()
            },
        }
    }

    /// Header bytes plus the 4-byte extension flag, padded with zeros up to `vox_offset` when
    /// that is larger (and finite and small).
    pub fn encode(&self) -> Vec<u8> {
        let size = if self.version == 1 { 348 } else { 540 };
        let pad = if self.vox_offset.is_finite() && self.vox_offset > 0.0 && self.vox_offset < 1e6 {
            (self.vox_offset as usize).max(size + 4)
        } else {
            size + 4
        };
        let mut h = vec![0u8; pad];
        let be = self.big_endian;
        let mut put = |off: usize, le_bytes: &[u8]| {
            let mut b = le_bytes.to_vec();
            if be {
                b.reverse();
            }
            h[off..off + b.len()].copy_from_slice(&b);
        };
        if self.version == 1 {
            put(0, &348i32.to_le_bytes());
            for i in 0..8 {
                put(40 + 2 * i, &(self.dim[i] as i16).to_le_bytes());
                put(76 + 4 * i, &(self.pixdim[i] as f32).to_le_bytes());
            }
            put(70, &self.datatype.to_le_bytes());
            put(72, &self.bitpix.to_le_bytes());
            put(108, &(self.vox_offset as f32).to_le_bytes());
            put(112, &(self.scl_slope as f32).to_le_bytes());
            put(116, &(self.scl_inter as f32).to_le_bytes());
            put(252, &(self.qform_code as i16).to_le_bytes());
            put(254, &(self.sform_code as i16).to_le_bytes());
            for i in 0..3 {
                put(256 + 4 * i, &(self.quatern[i] as f32).to_le_bytes());
                put(268 + 4 * i, &(self.qoffset[i] as f32).to_le_bytes());
                for c in 0..4 {
                    put(
                        280 + 16 * i + 4 * c,
                        &(self.srow[i][c] as f32).to_le_bytes(),
                    );
                }
            }
            h[344..348].copy_from_slice(&self.magic[..4]);
        } else {
            put(0, &540i32.to_le_bytes());
            put(12, &self.datatype.to_le_bytes());
            put(14, &self.bitpix.to_le_bytes());
            for i in 0..8 {
                put(16 + 8 * i, &self.dim[i].to_le_bytes());
                put(104 + 8 * i, &self.pixdim[i].to_le_bytes());
            }
            put(168, &(self.vox_offset as i64).to_le_bytes());
            put(176, &self.scl_slope.to_le_bytes());
            put(184, &self.scl_inter.to_le_bytes());
            put(344, &self.qform_code.to_le_bytes());
            put(348, &self.sform_code.to_le_bytes());
            for i in 0..3 {
                put(352 + 8 * i, &self.quatern[i].to_le_bytes());
                put(376 + 8 * i, &self.qoffset[i].to_le_bytes());
                for c in 0..4 {
                    put(400 + 32 * i + 8 * c, &self.srow[i][c].to_le_bytes());
                }
            }
            h[4..12].copy_from_slice(&self.magic[..8]);
        }
        h
    }

    /// The header followed by `data` (raw bytes, already in the file's byte order).
    pub fn file(&self, data: &[u8]) -> Vec<u8> {
        let mut f = self.encode();
        f.extend_from_slice(data);
        f
    }
}

/// The voxels as f64 (exact for every integer type up to 2^53).
pub fn as_f64(d: &VolumeData) -> Vec<f64> {
    match d {
        VolumeData::U8(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::I8(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::I16(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::U16(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::I32(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::U32(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::U64(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::F32(v) => v.iter().map(|&x| x as f64).collect(),
        VolumeData::F64(v) => v.clone(),
    }
}

/// `bytes` as one gzip member (fast compression).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Serialises values in the given byte order.
pub fn bytes_of(data: &VolumeData, big_endian: bool) -> Vec<u8> {
    macro_rules! ser {
        ($v:expr) => {{
            let mut out = Vec::new();
            for x in $v.iter() {
                if big_endian {
                    out.extend_from_slice(&x.to_be_bytes());
                } else {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            out
        }};
    }
    match data {
        VolumeData::U8(v) => ser!(v),
        VolumeData::I8(v) => ser!(v),
        VolumeData::I16(v) => ser!(v),
        VolumeData::U16(v) => ser!(v),
        VolumeData::I32(v) => ser!(v),
        VolumeData::U32(v) => ser!(v),
        VolumeData::I64(v) => ser!(v),
        VolumeData::U64(v) => ser!(v),
        VolumeData::F32(v) => ser!(v),
        VolumeData::F64(v) => ser!(v),
    }
}

/// `n` seeded values of the NIfTI datatype `code`, spanning the type's range.
pub fn random_data(code: i16, n: usize, seed: u64) -> VolumeData {
    let mut rng = SplitMix64::new(seed);
    let mut u = || rng.next_u64();
    match code {
        2 => VolumeData::U8((0..n).map(|_| u() as u8).collect()),
        256 => VolumeData::I8((0..n).map(|_| u() as i8).collect()),
        4 => VolumeData::I16((0..n).map(|_| u() as i16).collect()),
        512 => VolumeData::U16((0..n).map(|_| u() as u16).collect()),
        8 => VolumeData::I32((0..n).map(|_| u() as i32).collect()),
        768 => VolumeData::U32((0..n).map(|_| u() as u32).collect()),
        1024 => VolumeData::I64((0..n).map(|_| u() as i64).collect()),
        1280 => VolumeData::U64((0..n).map(|_| u()).collect()),
        16 => VolumeData::F32(
            (0..n)
                .map(|_| ((u() >> 11) as f64 / (1u64 << 53) as f64 * 2e4 - 1e4) as f32)
                .collect(),
        ),
        64 => VolumeData::F64(
            (0..n)
                .map(|_| (u() >> 11) as f64 / (1u64 << 53) as f64 * 2e6 - 1e6)
                .collect(),
        ),
        _ => panic!("no generator for datatype {code}"),
    }
}

/// The ten supported datatype codes.
pub const CODES: [i16; 10] = [2, 4, 8, 16, 64, 256, 512, 768, 1024, 1280];

/// `../shared/reference` (beside the repository) seen from the crate, or `None` (with a message) when absent.
pub fn reference(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference"
    ))
    .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: reference file {} is absent", p.display());
        None
    }
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("voxelkit-io")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}\n got {got:?}\nwant {want:?}"
        );
    }
}
