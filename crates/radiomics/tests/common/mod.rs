//! Shared by the radiomics fixture tests: the fixture directories, the number conventions of the
//! generators' JSON (NaN and ±Infinity written as strings) and the cases an `index.json` lists.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// `fixtures/<name>` of the repository.
pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name)
}

/// The parsed JSON file `file` of `fixtures/<name>`.
pub fn load(name: &str, file: &str) -> Value {
    let path = fixture_dir(name).join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture number: a JSON number, or "NaN", "Infinity", "-Infinity".
pub fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            _ => panic!("bad number {s}"),
        },
        _ => panic!("not a number: {v}"),
    }
}

/// An array of fixture numbers.
pub fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

/// A case of an indexed fixture directory: its name and its parsed `<name>.json`.
pub struct Case {
    pub name: String,
    pub v: Value,
}

/// The cases `fixtures/<name>/index.json` lists (`cases[].name`), in its order.
pub fn indexed_cases(name: &str) -> Vec<Case> {
    load(name, "index.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let case = c["name"].as_str().unwrap().to_string();
            let v = load(name, &format!("{case}.json"));
            Case { name: case, v }
        })
        .collect()
}

/// A shape of 2 or 3 sizes as 3 (PyRadiomics' one-matrix classes write `[rows, cols]`).
pub fn shape3(v: &Value) -> [usize; 3] {
    let s: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .chain(std::iter::once(1))
        .collect();
    [s[0], s[1], s[2]]
}

/// voxelkit's settings from a PyRadiomics params dictionary: `setting`, `voxelSetting`,
/// `imageType` and `classes` = the `featureClass` block, unchanged (per-class lists included).
pub fn settings_of_params(params: &Value) -> serde_json::Map<String, Value> {
    let mut s = params["setting"].as_object().cloned().unwrap_or_default();
    if let Some(v) = params["voxelSetting"].as_object() {
        s.extend(v.clone());
    }
    if !params["imageType"].is_null() {
        s.insert("imageType".into(), params["imageType"].clone());
    }
    s.insert("classes".into(), params["featureClass"].clone());
    s
}
