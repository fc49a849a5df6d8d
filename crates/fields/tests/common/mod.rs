//! Shared by the DIPY fixture tests of the field kernels and SyN: a fixture directory's cases
//! (`<name>.json` files with a `kind`, arrays in little-endian `.bin` files beside them) and
//! their arrays.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// `fixtures/<fixture>` of the repository.
pub fn dir(fixture: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(fixture)
}

/// The cases of `fixtures/<fixture>` whose `kind` is `kind`, by file name: (stem, case).
pub fn cases(fixture: &str, kind: &str) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = std::fs::read_dir(dir(fixture))
        .unwrap_or_else(|e| panic!("fixtures/{fixture}: {e}"))
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then_some(p)
        })
        .map(|p| {
            let m: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p.file_stem().unwrap().to_string_lossy().to_string(), m)
        })
        .filter(|(_, m)| m["kind"] == kind)
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!v.is_empty(), "no {kind} fixtures in fixtures/{fixture}");
    v
}

/// The bytes and the dtype of the case's array `key`.
pub fn bytes(fixture: &str, m: &Value, key: &str) -> (Vec<u8>, String) {
    let a = &m["arrays"][key];
    let b = std::fs::read(dir(fixture).join(a["file"].as_str().unwrap())).unwrap();
    (b, a["dtype"].as_str().unwrap().to_string())
}

/// The case's array `key` as float64 (float64, float32, int16, int32 and uint8 arrays).
pub fn f64s(fixture: &str, m: &Value, key: &str) -> Vec<f64> {
    let (b, dt) = bytes(fixture, m, key);
    match dt.as_str() {
        "float64" => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        "float32" => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        "int16" => b
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        "int32" => b
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        "uint8" => b.iter().map(|&v| v as f64).collect(),
        d => panic!("dtype {d}"),
    }
}

/// A JSON array of unsigned integers.
pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// A JSON array of numbers.
pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Every `stride`-th voxel in x and y of a 3D file of `../shared/reference/pyradiomics` (as
/// float32: the int16 values are exact) and its affine, or None with a visible SKIPPED line.
pub fn brain_image(file: &str, stride: usize) -> Option<(Vec<f32>, Vec<usize>, [f64; 16])> {
    let path = dir("")
        .join("../../shared/reference/pyradiomics")
        .join(file);
    if !path.exists() {
        eprintln!("SKIPPED brain pair: {} is absent", path.display());
        return None;
    }
    let v = voxelkit_io::read_volume(&path, &voxelkit_io::ReadOptions::default()).unwrap();
    let voxelkit_io::VolumeData::I16(d) = v.data else {
        panic!("{file}: not int16")
    };
    let [nx, ny, nz] = [v.shape[0], v.shape[1], v.shape[2]];
    let mut out = Vec::new();
    for z in 0..nz {
        for y in (0..ny).step_by(stride) {
            for x in (0..nx).step_by(stride) {
                out.push(d[x + nx * (y + ny * z)] as f32);
            }
        }
    }
    let shape = vec![nx.div_ceil(stride), ny.div_ceil(stride), nz];
    let mut aff = v.affine;
    for r in 0..3 {
        aff[4 * r] *= stride as f64;
        aff[4 * r + 1] *= stride as f64;
    }
    Some((out, shape, aff))
}

/// The synthetic N³ pair of the timing and bit-identity examples: a soft ball with a texture,
/// the moving one shifted by 1.5 voxels in x.
pub fn synthetic_pair(n: usize) -> (Vec<f32>, Vec<f32>) {
    let c = (n as f32 - 1.0) / 2.0;
    let img = |shift: f32| -> Vec<f32> {
        (0..n * n * n)
            .map(|i| {
                let (x, y, z) = ((i % n) as f32, ((i / n) % n) as f32, (i / (n * n)) as f32);
                let r = ((x - c - shift).powi(2) + (y - c).powi(2) + (z - c).powi(2)).sqrt();
                1.0 / (1.0 + ((r - 0.3 * n as f32) * 0.5).exp())
                    + 0.15 * (0.35 * x).cos() * (0.25 * y).sin()
            })
            .collect()
    };
    (img(0.0), img(1.5))
}
