//! PyRadiomics' image types (filters) against pyradiomics-bhklab 3.1.4 / SimpleITK 2.5.7 /
//! PyWavelets 1.9.0, on the fixtures in `fixtures/radiomics_filters` (written by its
//! `generate.py`).
//!
//! Tolerances (see `filters_match_pyradiomics_voxel_by_voxel` for the observed maxima):
//! - float64 filters (square, square root, logarithm, exponential, wavelets): 1e-12 of the
//!   image's largest absolute output value, voxel by voxel (the same float64 formulas; libm's
//!   `log`/`exp` and the convolution's summation order differ by a few ulps);
//! - float32 filters (gradient, LoG): SimpleITK stores float32; voxelkit computes the same double
//!   lines with ITK's coefficients and operation order and rounds to float32 at the same points.
//!   Observed: bitwise equal (0 deviation) on every fixture and on brain1. Tolerance: 2 float32
//!   ulps of the image's largest absolute output value (2^-22 relative), room for a one-ulp
//!   difference of another platform's libm in the coefficients' sin/cos/exp;
//! - feature vectors: 1e-9 relative (absolute 1e-12 for values that are rounding noise around 0
//!   on both sides), float32 images included: their voxels are SimpleITK's, bit for bit.
//!   Observed maxima are printed by the tests (2.8e-15 on brain1). Exception: the wavelet bands
//!   of a float32 image (`WAVELET_F32_RTOL`), which PyWavelets computes in float32.

mod common;
use common::{load, nums};
use serde_json::Value;
use std::path::Path;

use voxelkit_core::{Code, Control};
use voxelkit_radiomics::filters::{gradient, log, point, wavelet, Source};
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::{extract, Settings};

const FIXTURES: &str = "radiomics_filters";

fn arr3<T: Copy>(v: &Value, f: impl Fn(&Value) -> T) -> [T; 3] {
    let a = v.as_array().unwrap();
    [f(&a[0]), f(&a[1]), f(&a[2])]
}

/// Largest |got - want| over the image, divided by the largest |want|.
fn rel_dev(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()))
        / scale
}

#[test]
fn filters_match_pyradiomics_voxel_by_voxel() {
    for file in ["filters_int16.json", "filters_float64.json"] {
        let c = load(FIXTURES, file);
        let shape = arr3(&c["shape"], |v| v.as_u64().unwrap() as usize);
        let spacing = arr3(&c["spacing"], |v| v.as_f64().unwrap());
        let img = nums(&c["image"]["data"]);
        let values = |i: usize| img[i];
        let src = Source {
            values: &values,
            shape,
            spacing,
            box_origin: [0, 0, 0],
            box_size: shape,
        };
        // wavelet images per settings, in yield order
        let mut wavelets: Vec<(String, Vec<f64>)> = Vec::new();
        let mut wavelet_key = String::new();
        let (mut worst64, mut worst32) = (0.0f64, 0.0f64);
        for o in c["outputs"].as_array().unwrap() {
            let t = o["type"].as_str().unwrap();
            let name = o["name"].as_str().unwrap();
            let s = &o["settings"];
            let want = nums(&o["data"]);
            let (got, f32_out): (Vec<f64>, bool) = match t {
                "Square" | "SquareRoot" | "Logarithm" | "Exponential" => {
                    let f = match t {
                        "Square" => point::PointFilter::Square,
                        "SquareRoot" => point::PointFilter::SquareRoot,
                        "Logarithm" => point::PointFilter::Logarithm,
                        _ => point::PointFilter::Exponential,
                    };
                    (point::point_filter(&src, f).unwrap(), false)
                }
                "Gradient" => {
                    let sp = s["gradientUseSpacing"].as_bool().unwrap_or(true);
                    let g = gradient::gradient_magnitude(&src, sp);
                    (g.iter().map(|&v| v as f64).collect(), true)
                }
                "LoG" => {
                    let sigma: f64 = name
                        .trim_start_matches("log-sigma-")
                        .trim_end_matches("-mm-3D")
                        .replace('-', ".")
                        .parse()
                        .unwrap();
                    log::check_sizes(shape, spacing, sigma).unwrap();
                    let g = log::laplacian_of_gaussian(&src, sigma);
                    (g.iter().map(|&v| v as f64).collect(), true)
                }
                "Wavelet" => {
                    let key = s.to_string();
                    if key != wavelet_key {
                        wavelet_key = key;
                        wavelets.clear();
                        let w = s["wavelet"].as_str().unwrap_or("coif1");
                        let start = s["start_level"].as_u64().unwrap_or(0) as usize;
                        let level = s["level"].as_u64().unwrap_or(1) as usize;
                        let axes: Vec<usize> = if s["force2D"].as_bool().unwrap_or(false) {
                            let fd = s["force2Ddimension"].as_u64().unwrap() as usize;
                            (0..3).filter(|&a| a != 2 - fd).collect()
                        } else {
                            vec![0, 1, 2]
                        };
                        wavelet::wavelet_images(&src, w, start, level, &axes, &mut |b| {
                            wavelets.push((b.name, b.data));
                            Ok(())
                        })
                        .unwrap();
                        wavelets.reverse();
                    }
                    let (n, d) = wavelets.pop().unwrap();
                    assert_eq!(n, name, "{file}: wavelet image order");
                    (d, false)
                }
                _ => panic!("unexpected type {t}"),
            };
            let dev = rel_dev(&got, &want);
            let tol = if f32_out { f32::EPSILON as f64 } else { 1e-12 };
            if f32_out {
                worst32 = worst32.max(dev);
            } else {
                worst64 = worst64.max(dev);
            }
            assert!(
                dev <= tol,
                "{file} {t} {name} {s}: deviation {dev:e} of the largest |value| > {tol:e}"
            );
        }
        eprintln!(
            "{file}: largest deviation float64 filters {worst64:e}, float32 filters {worst32:e}"
        );
    }
}

/// LoG and wavelet images computed on a bounding box only are bit for bit the whole image's
/// (checked against PyRadiomics above) cropped to that box: boxes at every corner of the fixture
/// images (odd sizes: the wavelet's wrap padding and periodic extension reach across the image),
/// single voxels, single lines and the middle, for each wavelet setting of the fixtures.
#[test]
fn box_images_equal_the_whole_image_cropped() {
    let wavelets: [(&str, usize, usize, &[usize]); 4] = [
        ("coif1", 0, 1, &[0, 1, 2]),
        ("db2", 1, 2, &[0, 1, 2]),
        ("haar", 0, 1, &[0, 1]),
        ("sym4", 0, 2, &[1, 2]),
    ];
    let mut checked = 0;
    for file in ["filters_int16.json", "filters_float64.json"] {
        let c = load(FIXTURES, file);
        let shape = arr3(&c["shape"], |v| v.as_u64().unwrap() as usize);
        let spacing = arr3(&c["spacing"], |v| v.as_f64().unwrap());
        let img = nums(&c["image"]["data"]);
        let values = |i: usize| img[i];
        let source = |box_origin: [usize; 3], box_size: [usize; 3]| Source {
            values: &values,
            shape,
            spacing,
            box_origin,
            box_size,
        };
        let crop = |full: &[f64], o: [usize; 3], b: [usize; 3]| -> Vec<u64> {
            let mut v = Vec::new();
            for z in o[2]..o[2] + b[2] {
                for y in o[1]..o[1] + b[1] {
                    for x in o[0]..o[0] + b[0] {
                        v.push(full[(z * shape[1] + y) * shape[0] + x].to_bits());
                    }
                }
            }
            v
        };
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        let images = |src: &Source| -> Vec<(String, Vec<f64>)> {
            let mut out = Vec::new();
            for sigma in [1.0, 2.5] {
                let g = log::laplacian_of_gaussian(src, sigma);
                out.push((
                    format!("log {sigma}"),
                    g.iter().map(|&v| v as f64).collect(),
                ));
            }
            for (w, start, level, axes) in wavelets {
                wavelet::wavelet_images(src, w, start, level, axes, &mut |b| {
                    out.push((format!("{w} {start} {level} {axes:?} {}", b.name), b.data));
                    Ok(())
                })
                .unwrap();
            }
            out
        };
        let whole = images(&source([0, 0, 0], shape));
        let [nx, ny, nz] = shape;
        let boxes = [
            ([0, 0, 0], [1, 1, 1]),
            ([nx - 1, ny - 1, nz - 1], [1, 1, 1]),
            ([0, 0, 0], [2, 3, 2]),
            ([nx - 2, ny - 3, nz - 2], [2, 3, 2]),
            ([0, ny - 2, nz - 1], [nx, 2, 1]),
            ([nx - 1, 0, 1], [1, ny, 3]),
            ([2, 2, 1], [3, 2, 3]),
        ];
        for (o, b) in boxes {
            let got = images(&source(o, b));
            assert_eq!(got.len(), whole.len());
            for ((name, g), (_, w)) in got.iter().zip(&whole) {
                assert!(
                    bits(g) == crop(w, o, b),
                    "{file} {name}: box {o:?} + {b:?} differs from the whole image's crop"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100);
}

/// Settings for voxelkit from a PyRadiomics params dictionary: `setting`, the `imageType` block
/// inside it, `classes` from `featureClass` (in its order).
fn settings_of(params: &Value) -> Value {
    let mut s = params["setting"].as_object().cloned().unwrap_or_default();
    s.insert("imageType".into(), params["imageType"].clone());
    let classes: Vec<Value> = params["featureClass"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| Value::String(k.clone()))
        .collect();
    s.insert("classes".into(), Value::Array(classes));
    Value::Object(s)
}

/// Features of the wavelet bands of a float32 image. PyWavelets filters a float32 image in
/// float32 (its own summation order, float32 partial sums); voxelkit filters in float64 and rounds
/// the bands to float32, so band voxels differ by float32 rounding noise (~1e-7 of the band's
/// range). Values near 0 (a band's mean or median) amplify it relatively: observed at most
/// 2.3e-5 (wavelet-LHH Median), texture features equal to 1e-9 (no voxel crossed a bin edge).
/// A voxel that did cross one could move a texture feature further: this bound is for the
/// fixture, not a general guarantee.
const WAVELET_F32_RTOL: f64 = 1e-4;

fn compare(case: &str, got: &[(String, f64)], keys: &[String], values: &[f64]) -> (f64, f64) {
    let got_keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    let want_keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    assert_eq!(got_keys, want_keys, "{case}: keys and their order");
    let (mut w64, mut w32) = (0.0f64, 0.0f64);
    for ((k, g), w) in got.iter().zip(values) {
        let f32_image = k.starts_with("log-") || k.starts_with("gradient_");
        if w.is_nan() || g.is_nan() {
            assert!(
                w.is_nan() && g.is_nan(),
                "{case} {k}: got {g}, PyRadiomics {w}"
            );
            continue;
        }
        let d = if g == w {
            0.0
        } else {
            (g - w).abs() / w.abs().max(1e-300)
        };
        // PyWavelets filters a float32 image in float32 (its own summation order): voxelkit's
        // float64 bands rounded to float32 differ by a few float32 ulps
        let tol = if case == "float32" && k.starts_with("wavelet") {
            WAVELET_F32_RTOL
        } else {
            1e-9
        };
        // absolute floor for values that are rounding noise around 0 in both
        let ok = d <= tol || (g - w).abs() <= 1e-12;
        assert!(
            ok,
            "{case} {k}: got {g}, PyRadiomics {w} (relative {d:e} > {tol:e})"
        );
        if (g - w).abs() > 1e-12 {
            if f32_image {
                w32 = w32.max(d);
            } else {
                w64 = w64.max(d);
            }
        }
    }
    (w64, w32)
}

fn run_case(c: &Value, threads: Option<usize>) -> voxelkit_core::Result<Vec<(String, f64)>> {
    let shape = arr3(&c["shape"], |v| v.as_u64().unwrap() as usize);
    let spacing = arr3(&c["spacing"], |v| v.as_f64().unwrap());
    let mask: Vec<u8> = nums(&c["mask"]["data"]).iter().map(|&v| v as u8).collect();
    let s = Settings::from_json(&settings_of(&c["params"]))?;
    let data = nums(&c["image"]["data"]);
    let ctl = Control::new();
    if c["image"]["dtype"] == "float32" {
        let img: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        extract(
            &Input {
                image: &img,
                mask: &mask,
                shape,
                spacing,
                frame: Default::default(),
            },
            &s,
            threads,
            &ctl,
        )
    } else if c["image"]["dtype"] == "int16" {
        let img: Vec<i16> = data.iter().map(|&v| v as i16).collect();
        extract(
            &Input {
                image: &img,
                mask: &mask,
                shape,
                spacing,
                frame: Default::default(),
            },
            &s,
            threads,
            &ctl,
        )
    } else {
        extract(
            &Input {
                image: &data,
                mask: &mask,
                shape,
                spacing,
                frame: Default::default(),
            },
            &s,
            threads,
            &ctl,
        )
    }
}

#[test]
fn feature_vectors_match_execute() {
    for name in ["all_types", "custom", "force2d", "float32"] {
        let c = load(FIXTURES, &format!("features_{name}.json"));
        let keys: Vec<String> = c["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        let got = run_case(&c, Some(1)).unwrap();
        let (w64, w32) = compare(name, &got, &keys, &nums(&c["values"]));
        eprintln!("{name}: {} features; largest relative deviation float64 images {w64:e}, float32 images {w32:e}", keys.len());
    }
}

#[test]
fn thread_count_does_not_change_bits() {
    let c = load(FIXTURES, "features_all_types.json");
    let one = run_case(&c, Some(1)).unwrap();
    for t in [2, 3, 5] {
        let many = run_case(&c, Some(t)).unwrap();
        assert_eq!(one.len(), many.len());
        for ((k, a), (_, b)) in one.iter().zip(&many) {
            assert_eq!(a.to_bits(), b.to_bits(), "{k} at {t} threads");
        }
    }
}

#[test]
fn brain1_log_and_wavelet_match_pyradiomics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/pyradiomics");
    let (ip, mp) = (
        root.join("brain1_image.nrrd"),
        root.join("brain1_label.nrrd"),
    );
    if !ip.exists() || !mp.exists() {
        eprintln!(
            "SKIPPED brain1_log_and_wavelet_match_pyradiomics: {} is absent (../shared)",
            root.display()
        );
        return;
    }
    let opts = voxelkit_io::ReadOptions::default();
    let img = voxelkit_io::read_volume(&ip, &opts).unwrap();
    let msk = voxelkit_io::read_volume(&mp, &opts).unwrap();
    let c = load(FIXTURES, "brain1.json");
    let s = Settings::from_json(&settings_of(&c["params"])).unwrap();
    let shape = [img.shape[0], img.shape[1], img.shape[2]];
    let spacing = [img.spacing[0], img.spacing[1], img.spacing[2]];
    let ctl = Control::new();
    let got = voxelkit_core::with_samples!(img.data.voxels(), "image", |i| {
        voxelkit_core::with_samples!(msk.data.voxels(), "mask", |m| {
            extract(
                &Input {
                    image: i,
                    mask: m,
                    shape,
                    spacing,
                    frame: Default::default(),
                },
                &s,
                None,
                &ctl,
            )
        })
    })
    .unwrap();
    let keys: Vec<String> = c["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let (w64, w32) = compare("brain1", &got, &keys, &nums(&c["values"]));
    eprintln!("brain1: {} features; largest relative deviation float64 images {w64:e}, float32 images {w32:e}", keys.len());
}

#[test]
fn bad_filter_settings_are_coded() {
    let e = |v: Value| Settings::from_json(&v).unwrap_err().code;
    use serde_json::json;
    assert_eq!(
        e(json!({"imageType": {"LoG": {"sigma": [0]}}})),
        Code::Setting
    );
    assert_eq!(
        e(json!({"imageType": {"LoG": {"sigma": [-1.0]}}})),
        Code::Setting
    );
    assert_eq!(e(json!({"imageType": {"LoG": {}}})), Code::Setting);
    assert_eq!(
        e(json!({"imageType": {"LoG": {"sigma": 1}}})),
        Code::Setting
    );
    assert_eq!(
        e(json!({"imageType": {"Wavelet": {"wavelet": "coif99"}}})),
        Code::Setting
    );
    assert_eq!(
        e(json!({"imageType": {"Wavelet": {"wavelet": "bior1.3"}}})),
        Code::Unsupported
    );
    assert_eq!(
        e(json!({"imageType": {"Wavelet": {"level": 0}}})),
        Code::Setting
    );
    assert_eq!(
        e(json!({"imageType": {"Wavelet": {"start_level": -1}}})),
        Code::Setting
    );
    assert_eq!(
        e(json!({"imageType": {"Wavelet": {"level": 1.5}}})),
        Code::Setting
    );
    assert_eq!(e(json!({"imageType": {"Sobel": {}}})), Code::Setting);
    assert_eq!(e(json!({"imageType": {"original": {}}})), Code::Setting);
    assert_eq!(e(json!({"imageType": {"LBP2D": {}}})), Code::Unsupported);
    assert_eq!(e(json!({"imageType": {"LBP3D": {}}})), Code::Unsupported);
    assert_eq!(e(json!({"imageType": ["LoG"]})), Code::Setting);
    assert_eq!(e(json!({"imageType": {"Square": 3}})), Code::Setting);
    assert_eq!(
        e(json!({"imageType": {"Square": {"binWidth": -2}}})),
        Code::Setting
    );
    assert_eq!(
        e(json!({"imageType": {"Square": {"imageType": {}}}})),
        Code::Setting
    );
    assert_eq!(e(json!({"gradientUseSpacing": 1})), Code::Setting);
    assert_eq!(
        e(json!({"preCrop": true, "imageType": {"Square": {}}})),
        Code::Unsupported
    );
    assert!(Settings::from_json(&json!({"preCrop": true, "imageType": {"Original": {}}})).is_ok());
    // sigma too large for the image (PyRadiomics' rule: size >= ceil(sigma / spacing) + 1)
    let s = Settings::from_json(&json!({"imageType": {"LoG": {"sigma": [5.0]}}})).unwrap();
    let shape = [8, 8, 5];
    let img: Vec<f64> = (0..320).map(|i| (i % 7) as f64).collect();
    let mut mask = vec![0u8; 320];
    for z in 1..4 {
        for y in 2..6 {
            for x in 2..6 {
                mask[(z * 8 + y) * 8 + x] = 1;
            }
        }
    }
    let inp = Input {
        image: &img,
        mask: &mask,
        shape,
        spacing: [1.0, 1.0, 1.0],
        frame: Default::default(),
    };
    let err = extract(&inp, &s, Some(1), &Control::new()).unwrap_err();
    assert_eq!(err.code, Code::Setting, "{}", err.message);
    // an image under 4 voxels along an axis
    let s = Settings::from_json(&json!({"imageType": {"LoG": {"sigma": [0.5]}}})).unwrap();
    let img3: Vec<f64> = (0..192).map(|i| (i % 5) as f64).collect();
    let mut m3 = vec![0u8; 192];
    for (i, m) in m3.iter_mut().enumerate() {
        let (x, y) = (i % 8, (i / 8) % 8);
        *m = (2..6).contains(&x) as u8 * (2..6).contains(&y) as u8;
    }
    let inp = Input {
        image: &img3,
        mask: &m3,
        shape: [8, 8, 3],
        spacing: [1.0; 3],
        frame: Default::default(),
    };
    assert_eq!(
        extract(&inp, &s, Some(1), &Control::new())
            .unwrap_err()
            .code,
        Code::Setting
    );
    // a zero image cannot be scaled by its largest absolute value
    let s = Settings::from_json(&json!({"imageType": {"Square": {}}})).unwrap();
    let zero = vec![0.0f64; 320];
    let inp = Input {
        image: &zero,
        mask: &mask,
        shape,
        spacing: [1.0; 3],
        frame: Default::default(),
    };
    assert_eq!(
        extract(&inp, &s, Some(1), &Control::new())
            .unwrap_err()
            .code,
        Code::Setting
    );
}
