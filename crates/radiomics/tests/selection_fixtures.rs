//! Per-class feature lists (a params file's `featureClass: {glcm: [Autocorrelation], …}`)
//! against pyradiomics-bhklab 3.1.4's `RadiomicsFeatureExtractor.execute`, on the fixtures
//! `fixtures/radiomics_voxel/select_*.json` (written by its `generate.py`): the same keys in the
//! same order (deprecated features named in a list included or left out as PyRadiomics does),
//! values to 1e-9 relative (the segment-based classes' own tolerance; LoG images are SimpleITK's
//! float32 voxels bit for bit), and PyRadiomics' validation errors as `ERR_SETTING`.

mod common;
use common::{load, num, settings_of_params};
use serde_json::Value;
use voxelkit_core::{Code, Control};
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::{extract, Settings};

/// The fixture directory of this file's cases.
const FIX: &str = "radiomics_voxel";

fn run(c: &Value) -> voxelkit_core::Result<Vec<(String, f64)>> {
    let u = |v: &Value| v.as_u64().unwrap() as usize;
    let shape = [u(&c["shape"][0]), u(&c["shape"][1]), u(&c["shape"][2])];
    let spacing = [0, 1, 2].map(|k| c["spacing"][k].as_f64().unwrap());
    let mask: Vec<u8> = c["mask"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    let img: Vec<i16> = c["image"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| num(v) as i16)
        .collect();
    let s = Settings::from_json(&Value::Object(settings_of_params(&c["params"])))?;
    extract(
        &Input {
            image: &img,
            mask: &mask,
            shape,
            spacing,
            frame: Default::default(),
        },
        &s,
        Some(2),
        &Control::new(),
    )
}

#[test]
fn feature_lists_match_pyradiomics() {
    for name in ["lists", "deprecated", "shape2d"] {
        let c = load(FIX, &format!("select_{name}.json"));
        let got = run(&c).unwrap();
        let keys: Vec<&str> = c["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let got_keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got_keys, keys, "{name}: keys and their order");
        let mut worst = 0.0f64;
        for ((k, g), w) in got.iter().zip(c["values"].as_array().unwrap()) {
            let w = num(w);
            let d = (g - w).abs() / w.abs().max(1e-300);
            assert!(
                d <= 1e-9 || (g - w).abs() <= 1e-12,
                "{name} {k}: got {g}, PyRadiomics {w} (relative {d:e})"
            );
            worst = worst.max(if (g - w).abs() <= 1e-12 { 0.0 } else { d });
        }
        println!(
            "select_{name}: {} keys, largest relative deviation {worst:e}",
            got.len()
        );
    }
}

#[test]
fn unknown_names_are_setting_errors_as_in_pyradiomics() {
    for name in ["unknown_feature", "unknown_class"] {
        let c = load(FIX, &format!("select_{name}.json"));
        assert!(c["error"].as_str().unwrap().starts_with("ValueError"));
        let e = run(&c).unwrap_err();
        assert_eq!(e.code, Code::Setting, "{name}: {}", e.message);
    }
    let e = |v: Value| Settings::from_json(&v).unwrap_err().code;
    assert_eq!(
        e(serde_json::json!({"classes": {"glcm": "Contrast"}})),
        Code::Setting
    );
    assert_eq!(
        e(serde_json::json!({"classes": {"glcm": [1]}})),
        Code::Setting
    );
    assert_eq!(
        e(serde_json::json!({"classes": {"shape": ["Contrast"]}})),
        Code::Setting
    );
    assert_eq!(e(serde_json::json!({"classes": "glcm"})), Code::Setting);
    // a deprecated name PyRadiomics' validation accepts, in any class that defines it
    Settings::from_json(&serde_json::json!({"classes": {"gldm": ["DependencePercentage"]}}))
        .unwrap();
}
