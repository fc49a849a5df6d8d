//! Shared by the DIPY fixture tests (and the DKI bench): reading the fixture cases of
//! fixtures/dipy, fixtures/dipy_dki and fixtures/dipy_dki_cls (same JSON conventions), fitting the
//! DKI ones, and the kurtosis maps of a fit.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use voxelkit_core::Control;
use voxelkit_dmri::dki_maps::{kurtosis_map, KurtosisMap, MAX_KURTOSIS, MIN_KURTOSIS};
use voxelkit_dmri::{fit_dki, DkiFit, DkiMethod, DkiOptions, GradientTable};
use voxelkit_io::{read_nifti, NiftiOptions, VolumeData};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The cases listed in `<fixture dir>/index.json`, in its order: (file name, parsed case).
pub fn cases(dir: &str) -> Vec<(String, Value)> {
    let dir = root().join(dir);
    let index = read_json(&dir.join("index.json"));
    index["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let file = entry["file"].as_str().unwrap();
            (file.to_string(), read_json(&dir.join(file)))
        })
        .collect()
}

/// A number as the fixtures write it ("NaN", "Infinity", "-Infinity" as strings).
pub fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        _ => panic!("not a number: {v}"),
    }
}

pub fn nums(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

/// An array of indices or sizes (voxel lists, shapes).
pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// A kurtosis map of `fit`, clipped to DIPY's default range [`MIN_KURTOSIS`, `MAX_KURTOSIS`].
pub fn kurtosis(fit: &DkiFit, m: KurtosisMap, analytical: bool) -> Vec<f64> {
    kurtosis_map(
        m,
        analytical,
        &fit.evals,
        &fit.evecs,
        &fit.kt,
        MIN_KURTOSIS,
        MAX_KURTOSIS,
    )
    .unwrap()
}

pub fn gtab_of(input: &Value) -> voxelkit_core::Result<GradientTable> {
    let bvecs: Vec<[f64; 3]> = input["bvecs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let r = nums(r);
            [r[0], r[1], r[2]]
        })
        .collect();
    GradientTable::new(
        &nums(&input["bvals"]),
        &bvecs,
        num(&input["b0_threshold"]),
        1e-2,
    )
}

/// The case's mask (one byte per voxel), if it has one.
pub fn mask_of(input: &Value) -> Option<Vec<u8>> {
    input["mask"]
        .as_array()
        .map(|m| m.iter().map(|x| x.as_u64().unwrap() as u8).collect())
}

/// One fit of a DKI fixture case: (file, case, method name, fit).
pub type FixtureFit = (String, Value, &'static str, voxelkit_core::Result<DkiFit>);

/// Every fit of the DKI fixture cases in `dir` with each of `methods`, in index order; a case
/// whose input lives in ../shared and is absent is skipped with a message.
pub fn dki_fits(dir: &str, methods: &[(&'static str, DkiMethod)]) -> Vec<FixtureFit> {
    let mut out = Vec::new();
    for (file, c) in cases(dir) {
        for &(mname, method) in methods {
            if let Some(fit) = load(&c, &file, method, None) {
                out.push((file.clone(), c.clone(), mname, fit));
            }
        }
    }
    out
}

pub fn fit_case<T: voxelkit_core::Sample>(
    data: &[T],
    nvox: usize,
    input: &Value,
    method: DkiMethod,
    threads: Option<usize>,
) -> voxelkit_core::Result<DkiFit> {
    let gtab = gtab_of(input)?;
    let mask = mask_of(input);
    let opts = DkiOptions {
        method,
        min_signal: input["min_signal"].as_f64(),
        return_s0: true,
        threads,
        ..Default::default()
    };
    fit_dki(data, nvox, &gtab, mask.as_deref(), &opts, &Control::new())
}

pub fn load(
    c: &Value,
    file: &str,
    method: DkiMethod,
    threads: Option<usize>,
) -> Option<voxelkit_core::Result<DkiFit>> {
    let input = &c["input"];
    let shape = usizes(&input["shape"]);
    let nvox: usize = shape[..shape.len() - 1].iter().product();
    if input["source"] == "synthetic" {
        let d = nums(&input["data"]);
        Some(match input["dtype"].as_str().unwrap() {
            "float32" => fit_case(
                &d.iter().map(|&x| x as f32).collect::<Vec<_>>(),
                nvox,
                input,
                method,
                threads,
            ),
            "int16" => fit_case(
                &d.iter().map(|&x| x as i16).collect::<Vec<_>>(),
                nvox,
                input,
                method,
                threads,
            ),
            _ => fit_case(&d, nvox, input, method, threads),
        })
    } else {
        Some(match shared_data(input, file)? {
            VolumeData::I16(d) => fit_case(&d, nvox, input, method, threads),
            VolumeData::U16(d) => fit_case(&d, nvox, input, method, threads),
            other => panic!("unexpected dtype {}", other.dtype()),
        })
    }
}

/// The data of a fixture input whose `source` is a file of `../shared` (a path relative to the
/// repository's parent), or None, with a visible SKIPPED line, where that file is absent.
pub fn shared_data(input: &Value, case: &str) -> Option<VolumeData> {
    let path = root().join("..").join(input["source"].as_str().unwrap());
    if !path.exists() {
        eprintln!("SKIPPED {case}: {} is absent", path.display());
        return None;
    }
    Some(read_nifti(&path, &NiftiOptions::default()).unwrap().data)
}

/// Largest relative error per quantity (the third word of `what`), each checked against `rtol`.
pub struct Worst {
    pub rtol: f64,
    pub seen: Vec<(String, f64)>,
}

impl Worst {
    pub fn new(rtol: f64) -> Self {
        Worst {
            rtol,
            seen: Vec::new(),
        }
    }

    pub fn check(&mut self, what: &str, got: f64, want: f64, floor: f64) {
        let err = (got - want).abs() / want.abs().max(floor);
        assert!(
            err <= self.rtol,
            "{what}: got {got}, reference {want} (relative error {err:.2e})"
        );
        let key = what.split(' ').nth(2).unwrap_or(what).to_string();
        match self.seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, w)) => *w = w.max(err),
            None => self.seen.push((key, err)),
        }
    }

    pub fn report(&self, label: &str) {
        for (k, w) in &self.seen {
            eprintln!("{label} max relative error {k:>16}: {w:.2e}");
        }
    }
}
