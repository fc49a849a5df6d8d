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
