//! Voxel-based extraction against pyradiomics-bhklab 3.1.4's
//! `RadiomicsFeatureExtractor.execute(..., voxelBased=True)` on the fixtures
//! `fixtures/radiomics_voxel/voxel_*.json` (written by its `generate.py`): small random images
//! with a blob mask, kernel radius 1 and 2, masked and unmasked kernels, `initValue`,
//! `voxelBatch`, a ROI at the image's edge, a float image with `binCount` and two distances,
//! feature lists (deprecated names included), image types (Square, LoG), the neighbourhood
//! classes (GLDM with gldm_a, NGTDM) and the run-length and size-zone classes (GLRLM, GLSZM:
//! kernel radius 1 and 2, masked and unmasked, `force2D` with `weightingNorm`, a float image at
//! the image's edge with `binCount`, a sparse ROI whose kernels have no run of two voxels).
//!
//! Checked: the keys and their order; each map's grid (size, and origin = the image's origin +
//! the box's first voxel x spacing: PyRadiomics' crop); the values at the ROI's voxels to 1e-9
//! relative (absolute 1e-12 for rounding noise around 0; the same float64 formulas, summed in
//! another order; the LoG image is SimpleITK's float32 voxels bit for bit, see
//! filter_fixtures.rs), NaN where PyRadiomics has NaN; `initValue` everywhere else. Also: the maps
//! are bitwise identical at 1, 2 and 3 threads, and abort.

mod common;
use common::{load, num, settings_of_params};
use serde_json::Value;
use voxelkit_core::{Code, Control};
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::resample::{resample_mask, Frame, Grid};
use voxelkit_radiomics::voxel::{extract_maps, Maps};
use voxelkit_radiomics::Settings;

/// The fixture directory of this file's cases.
const FIX: &str = "radiomics_voxel";

fn settings_of(params: &Value) -> Value {
    let mut s = settings_of_params(params);
    s.insert("voxelBased".into(), Value::Bool(true));
    Value::Object(s)
}

struct Case {
    shape: [usize; 3],
    spacing: [f64; 3],
    /// The image's origin (SimpleITK's, identity direction); it places a resampled grid.
    frame: Frame,
    mask: Vec<u8>,
    image: Vec<f64>,
    int16: bool,
    settings: Value,
}

fn case(c: &Value) -> Case {
    let u = |v: &Value| v.as_u64().unwrap() as usize;
    Case {
        shape: [u(&c["shape"][0]), u(&c["shape"][1]), u(&c["shape"][2])],
        spacing: [0, 1, 2].map(|k| c["spacing"][k].as_f64().unwrap()),
        frame: Frame {
            origin: [0, 1, 2].map(|k| c["origin"][k].as_f64().unwrap()),
            ..Frame::default()
        },
        mask: c["mask"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect(),
        image: c["image"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(num)
            .collect(),
        int16: c["image"]["dtype"] == "int16",
        settings: settings_of(&c["params"]),
    }
}

fn run(c: &Case, threads: Option<usize>, ctl: &Control) -> voxelkit_core::Result<Maps> {
    let s = Settings::from_json(&c.settings)?;
    if c.int16 {
        let img: Vec<i16> = c.image.iter().map(|&v| v as i16).collect();
        extract_maps(
            &Input {
                image: &img,
                mask: &c.mask,
                shape: c.shape,
                spacing: c.spacing,
                frame: c.frame,
            },
            &s,
            threads,
            ctl,
        )
    } else {
        extract_maps(
            &Input {
                image: &c.image,
                mask: &c.mask,
                shape: c.shape,
                spacing: c.spacing,
                frame: c.frame,
            },
            &s,
            threads,
            ctl,
        )
    }
}

const CASES: [&str; 14] = [
    "runs_zones",
    "runs_zones_radius2",
    "runs_zones_radius2_unmasked",
    "runs_zones_force2d",
    "runs_zones_edge_float",
    "runs_zones_sparse",
    "neighbours",
    "neighbours_unmasked",
    "default",
    "radius2_unmasked",
    "edge_float",
    "batches",
    "weighted_force2d",
    "types",
];

/// Compares map `w["key"]` of `m` with PyRadiomics' (`inside`: its values at the ROI's voxels in
/// the map's order, x fastest; `outside`: the values elsewhere): `in_roi(x, y, z)` says whether
/// the grid voxel `(x, y, z)` is in the ROI. Values to 1e-9 relative (1e-12 absolute near 0),
/// NaN where PyRadiomics has NaN, `init` bit for bit outside. Returns the largest relative
/// deviation beyond 1e-12 absolute, the ROI values compared and the NaNs among them.
fn compare_map(
    name: &str,
    m: &Maps,
    w: &Value,
    init: f64,
    in_roi: impl Fn(usize, usize, usize) -> bool,
) -> (f64, usize, usize) {
    let key = w["key"].as_str().unwrap();
    let inside: Vec<f64> = w["inside"].as_array().unwrap().iter().map(num).collect();
    let outside: Vec<f64> = w["outside"].as_array().unwrap().iter().map(num).collect();
    assert!(
        outside.iter().all(|&o| o == init),
        "{name} {key}: reference outside"
    );
    let map = m.map(key).unwrap();
    let [sx, sy, sz] = m.size;
    let mut got = Vec::new();
    for z in 0..sz {
        for y in 0..sy {
            for x in 0..sx {
                let v = map[(z * sy + y) * sx + x];
                if in_roi(x + m.origin[0], y + m.origin[1], z + m.origin[2]) {
                    got.push(v);
                } else {
                    assert_eq!(v.to_bits(), init.to_bits(), "{name} {key}: outside");
                }
            }
        }
    }
    assert_eq!(got.len(), inside.len(), "{name} {key}: ROI voxels");
    let (mut worst, mut nans) = (0.0f64, 0usize);
    for (i, (g, w)) in got.iter().zip(&inside).enumerate() {
        if w.is_nan() || g.is_nan() {
            assert!(
                w.is_nan() && g.is_nan(),
                "{name} {key} voxel {i}: got {g}, PyRadiomics {w}"
            );
            nans += 1;
            continue;
        }
        let d = (g - w).abs() / w.abs().max(1e-300);
        assert!(
            d <= 1e-9 || (g - w).abs() <= 1e-12,
            "{name} {key} voxel {i}: got {g}, PyRadiomics {w} (relative {d:e})"
        );
        if (g - w).abs() > 1e-12 {
            worst = worst.max(d);
        }
    }
    (worst, got.len(), nans)
}

#[test]
fn maps_match_pyradiomics() {
    for name in CASES {
        let f = load(FIX, &format!("voxel_{name}.json"));
        let c = case(&f);
        let m = run(&c, Some(2), &Control::new()).unwrap();
        let want: Vec<&Value> = f["maps"].as_array().unwrap().iter().collect();
        let keys: Vec<&str> = want.iter().map(|w| w["key"].as_str().unwrap()).collect();
        assert_eq!(m.names, keys, "{name}: keys and their order");
        let origin: Vec<f64> = (0..3).map(|k| f["origin"][k].as_f64().unwrap()).collect();
        let init = f["params"]["voxelSetting"]["initValue"]
            .as_f64()
            .unwrap_or(0.0);
        let label = f["params"]["setting"]["label"].as_u64().unwrap_or(1) as u8;
        let (mut worst, mut count, mut nans) = (0.0f64, 0usize, 0usize);
        for w in &want {
            let key = w["key"].as_str().unwrap();
            let size: Vec<usize> = (0..3)
                .map(|k| w["size"][k].as_u64().unwrap() as usize)
                .collect();
            assert_eq!(m.size.to_vec(), size, "{name} {key}: map size");
            for k in 0..3 {
                let o = origin[k] + m.origin[k] as f64 * c.spacing[k];
                let wo = w["origin"][k].as_f64().unwrap();
                assert!(
                    (o - wo).abs() <= 1e-12 * wo.abs().max(1.0),
                    "{name} {key}: origin"
                );
                assert_eq!(w["spacing"][k].as_f64().unwrap(), c.spacing[k]);
            }
            let (wd, n, nn) = compare_map(name, &m, w, init, |x, y, z| {
                c.mask[(z * c.shape[1] + y) * c.shape[0] + x] == label
            });
            worst = worst.max(wd);
            count += n;
            nans += nn;
        }
        println!(
            "voxel_{name}: {} maps, {count} ROI values ({nans} NaN in both), largest relative deviation {worst:e}",
            m.names.len()
        );
    }
}

/// Resampled cases: the maps on PyRadiomics' resampled grid.
const RESAMPLED: [&str; 3] = [
    "resampled",
    "resampled_linear_radius2",
    "resampled_nearest_normalize",
];

/// Voxel-based extraction with `resampledPixelSpacing` (B-spline, linear with `padDistance` 1
/// and a kept axis, nearest neighbour with `normalize`, an unmasked kernel of radius 2): the
/// resampled grid (size, origin and spacing to 1e-12: the same formulas as
/// `sitk_resample_fixtures.rs` checks against SimpleITK), each map's box on it, the values at
/// the ROI's voxels of the resampled mask (voxelkit's nearest-neighbour resampling, equal to
/// PyRadiomics' resampled mask stored in the fixture) to the tolerances of
/// `maps_match_pyradiomics` (the image resampled in float64 as SimpleITK does, so the same
/// discretised grey levels), `initValue` elsewhere; and the same bits at 1 and 3 threads.
#[test]
fn resampled_maps_match_pyradiomics() {
    for name in RESAMPLED {
        let f = load(FIX, &format!("voxel_{name}.json"));
        let c = case(&f);
        let m = run(&c, Some(2), &Control::new()).unwrap();
        let g: Grid = m.grid.expect("maps on the resampled grid");
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        for k in 0..3 {
            assert_eq!(
                g.shape[k] as u64,
                f["grid"]["size"][k].as_u64().unwrap(),
                "{name}: grid size"
            );
            assert!(
                close(g.spacing[k], f["grid"]["spacing"][k].as_f64().unwrap()),
                "{name}: grid spacing"
            );
            assert!(
                close(g.frame.origin[k], f["grid"]["origin"][k].as_f64().unwrap()),
                "{name}: grid origin"
            );
        }
        let src = Grid {
            shape: c.shape,
            spacing: c.spacing,
            frame: c.frame,
        };
        let rmask = resample_mask(&c.mask, &src, &g, None).unwrap();
        let want_mask: Vec<u8> = f["grid"]["mask"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        assert!(rmask == want_mask, "{name}: the resampled mask");
        let init = f["params"]["voxelSetting"]["initValue"]
            .as_f64()
            .unwrap_or(0.0);
        let want: Vec<&Value> = f["maps"].as_array().unwrap().iter().collect();
        let keys: Vec<&str> = want.iter().map(|w| w["key"].as_str().unwrap()).collect();
        assert_eq!(m.names, keys, "{name}: keys and their order");
        let (mut worst, mut count) = (0.0f64, 0usize);
        for w in &want {
            let key = w["key"].as_str().unwrap();
            for k in 0..3 {
                assert_eq!(
                    m.size[k] as u64,
                    w["size"][k].as_u64().unwrap(),
                    "{name} {key}: map size"
                );
                let o = g.frame.origin[k] + m.origin[k] as f64 * g.spacing[k];
                assert!(
                    close(o, w["origin"][k].as_f64().unwrap()),
                    "{name} {key}: map origin"
                );
                assert!(
                    close(g.spacing[k], w["spacing"][k].as_f64().unwrap()),
                    "{name} {key}: map spacing"
                );
            }
            let (wd, n, _) = compare_map(name, &m, w, init, |x, y, z| {
                rmask[(z * g.shape[1] + y) * g.shape[0] + x] == 1
            });
            worst = worst.max(wd);
            count += n;
        }
        for t in [1, 3] {
            let b = run(&c, Some(t), &Control::new()).unwrap();
            assert!(
                m.data
                    .iter()
                    .zip(&b.data)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{name}: {t} threads"
            );
        }
        println!(
            "voxel_{name}: {} maps on a {:?} grid, {count} ROI values, largest relative deviation {worst:e}",
            m.names.len(),
            g.shape
        );
    }
}

#[test]
fn maps_do_not_depend_on_threads() {
    for name in [
        "default",
        "radius2_unmasked",
        "types",
        "runs_zones",
        "runs_zones_radius2_unmasked",
        "runs_zones_force2d",
    ] {
        let c = case(&load(FIX, &format!("voxel_{name}.json")));
        let a = run(&c, Some(1), &Control::new()).unwrap();
        for t in [2, 3] {
            let b = run(&c, Some(t), &Control::new()).unwrap();
            assert_eq!(a.names, b.names);
            assert!(
                a.data
                    .iter()
                    .zip(&b.data)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{name}: {t} threads"
            );
        }
    }
}

#[test]
fn voxel_based_errors_and_abort() {
    let c = case(&load(FIX, "voxel_default.json"));
    let with = |extra: Value| {
        let mut s = c.settings.clone();
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        Case {
            settings: s,
            image: c.image.clone(),
            mask: c.mask.clone(),
            ..c
        }
    };
    let code = |extra: Value| run(&with(extra), None, &Control::new()).unwrap_err().code;
    use serde_json::json;
    assert_eq!(code(json!({"kernelRadius": 0})), Code::Setting);
    assert_eq!(code(json!({"kernelRadius": 1.5})), Code::Setting);
    assert_eq!(code(json!({"maskedKernel": 1})), Code::Setting);
    assert_eq!(code(json!({"initValue": "0"})), Code::Setting);
    assert_eq!(code(json!({"voxelBatch": 0})), Code::Setting);
    assert_eq!(code(json!({"voxelBatch": -1})), Code::Setting);
    assert_eq!(code(json!({"aggregation": "3D_merged"})), Code::Unsupported);
    assert_eq!(
        code(json!({"resampledPixelSpacing": [2, 2, 2], "aggregation": "3D_merged"})),
        Code::Unsupported
    );
    assert_eq!(
        code(json!({"resampledPixelSpacing": [2, -1, 2]})),
        Code::Setting
    );
    assert_eq!(
        code(json!({"resampledPixelSpacing": [1e-4, 1e-4, 1e-4]})),
        Code::Setting
    );
    assert_eq!(code(json!({"label": 9})), Code::Setting);
    // shape classes: no maps (PyRadiomics does not compute them voxel-based)
    let m = run(
        &with(json!({"classes": ["shape", "firstorder"]})),
        None,
        &Control::new(),
    )
    .unwrap();
    assert!(m
        .names
        .iter()
        .all(|n| n.starts_with("original_firstorder_")));
    // two voxels along z with force2D across z: no GLRLM direction fits (PyRadiomics: "Error
    // getting angle count"), NaN maps rather than a panic
    let flat = Case {
        shape: [1, 1, 2],
        spacing: [1.0; 3],
        frame: Frame::default(),
        mask: vec![1, 1],
        image: vec![5.0, 7.0],
        int16: false,
        settings: json!({"voxelBased": true, "classes": ["glrlm", "glszm"],
                         "weightingNorm": "euclidean", "force2D": true, "force2Ddimension": 0,
                         "minimumROIDimensions": 1}),
    };
    let m = run(&flat, None, &Control::new()).unwrap();
    assert_eq!(m.names.len(), 32);
    let glrlm = &m.data[..16 * m.len()];
    assert!(glrlm.iter().all(|v| v.is_nan()), "GLRLM maps: {glrlm:?}");
    // abort before the first block
    let ctl = Control::new();
    ctl.cancel();
    assert_eq!(run(&c, None, &ctl).unwrap_err().code, Code::Aborted);
    // segment-based extraction refuses voxelBased (the maps have their own entry)
    let s = Settings::from_json(&c.settings).unwrap();
    let img: Vec<i16> = c.image.iter().map(|&v| v as i16).collect();
    let e = voxelkit_radiomics::extract(
        &Input {
            image: &img,
            mask: &c.mask,
            shape: c.shape,
            spacing: c.spacing,
            frame: Default::default(),
        },
        &s,
        None,
        &Control::new(),
    )
    .unwrap_err();
    assert_eq!(e.code, Code::Setting);
}
