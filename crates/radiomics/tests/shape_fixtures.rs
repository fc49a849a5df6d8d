//! Kernel-level equivalence of the `shape` and `shape2D` classes with PyRadiomics
//! (pyradiomics-bhklab 3.1.4) on the golden fixtures in `fixtures/radiomics_shape` (written by
//! `fixtures/radiomics_shape/generate.py`), and the exactness of the hull-based diameters. The
//! `flip_*` cases hold masks in four orientations each, on which PyRadiomics' mesh values change
//! under a flip (ambiguous faces): voxelkit matches each orientation bitwise.
//!
//! Tolerances:
//! - mesh values (MeshVolume, SurfaceArea, the four diameters, MeshSurface, Perimeter,
//!   MaximumDiameter) and voxel counts (VoxelVolume, PixelSurface): bitwise. voxelkit runs
//!   PyRadiomics' marching cubes / squares with its tables, vertex positions and summation order,
//!   and takes the diameters over the same vertices with the same operations.
//! - values derived from those with `pow`/`sqrt` (Sphericity, SurfaceVolumeRatio, Compactness1/2,
//!   SphericalDisproportion, PerimeterSurfaceRatio): 4 ulp (1e-15 relative): the same libm calls
//!   on Linux; other platforms' `pow` may round differently.
//! - eigenvalue features (axis lengths, Elongation, Flatness): 1e-12 relative to the major axis
//!   (absolute for the minor axes and ratios): numpy forms the covariance with BLAS and takes
//!   LAPACK's general eigenvalues; voxelkit forms it from exact integer moments and takes a
//!   symmetric solver. Both are accurate to ~1e-15 of the largest eigenvalue, so an axis whose
//!   eigenvalue is 0 (a flat ROI) is exactly 0 here and rounding noise (~1e-8 of the major axis
//!   at most, the square root of 1e-16) in PyRadiomics: those are compared with an absolute
//!   tolerance of 1e-7 of the major axis length.
//! - the arbiter of those disagreements, mpmath at 50 digits (the fixtures' `class.mp`): the
//!   eigenvalues behind voxelkit's axis lengths are within 16 eps of the largest eigenvalue of
//!   the exact ones (nalgebra's symmetric solver is backward stable; the covariance elements
//!   carry a few roundings each), and exactly 0 where the exact eigenvalue is 0.

mod common;
use common::{indexed_cases, num, nums, shape3};
use serde_json::Value;

use voxelkit_core::Control;
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::shape::{self, SHAPE_FEATURES};
use voxelkit_radiomics::shape2d::{self, SHAPE2D_FEATURES};
use voxelkit_radiomics::{extract, Settings};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Exact,
    Derived,
    Eigen,
}

fn kind(name: &str) -> Kind {
    match name {
        "MeshVolume"
        | "SurfaceArea"
        | "Maximum3DDiameter"
        | "Maximum2DDiameterSlice"
        | "Maximum2DDiameterColumn"
        | "Maximum2DDiameterRow"
        | "VoxelVolume"
        | "MeshSurface"
        | "Perimeter"
        | "MaximumDiameter"
        | "PixelSurface" => Kind::Exact,
        "Sphericity"
        | "SurfaceVolumeRatio"
        | "Compactness1"
        | "Compactness2"
        | "SphericalDisproportion"
        | "PerimeterSurfaceRatio" => Kind::Derived,
        _ => Kind::Eigen,
    }
}

/// Checks `got` against PyRadiomics' `want` for feature `name`; `major` is the major axis
/// length of the same ROI (the scale of the eigenvalue features).
fn check(name: &str, got: f64, want: f64, major: f64) -> Result<(), String> {
    if got.is_nan() || want.is_nan() {
        return if got.is_nan() && want.is_nan() {
            Ok(())
        } else {
            Err(format!("{name} = {got:e}, PyRadiomics {want:e}"))
        };
    }
    let ok = match kind(name) {
        Kind::Exact => got.to_bits() == want.to_bits(),
        Kind::Derived => (got - want).abs() <= 1e-15 * want.abs(),
        Kind::Eigen => {
            let scale = match name {
                "Elongation" | "Flatness" => 1.0,
                _ => major,
            };
            let d = (got - want).abs();
            d <= 1e-12 * scale || (want.abs() <= 1e-7 * scale && d <= 1e-7 * scale)
        }
    };
    // SHAPE_STATS=1 prints every value that is not bitwise PyRadiomics'
    if std::env::var("SHAPE_STATS").is_ok() && got != want {
        eprintln!(
            "STAT {name} {:?} got {got:e} want {want:e} rel {:e}",
            kind(name),
            (got - want).abs() / want.abs().max(1e-300)
        );
    }
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name} = {got:e}, PyRadiomics {want:e} (difference {:e})",
            got - want
        ))
    }
}

fn settings_with_classes(v: &Value) -> Value {
    let mut s = v.clone();
    s["classes"] = serde_json::json!(["shape", "shape2D"]);
    s
}

fn with_input<R>(c: &Value, f: impl Fn(&Input<'_, f64, i32>) -> R) -> R {
    let img = nums(&c["image"]["data"]);
    let mask: Vec<i32> = nums(&c["mask"]["data"]).iter().map(|&v| v as i32).collect();
    let sp = nums(&c["spacing"]);
    f(&Input {
        image: &img,
        mask: &mask,
        shape: shape3(&c["shape"]),
        spacing: [sp[0], sp[1], sp[2]],
        frame: Default::default(),
    })
}

#[test]
fn extractor_matches_pyradiomics() {
    let (mut n, mut errors) = (0, 0);
    for case in indexed_cases("radiomics_shape") {
        let c = &case.v;
        let s = Settings::from_json(&settings_with_classes(&c["settings"])).unwrap();
        let r = with_input(c, |i| extract(i, &s, Some(2), &Control::new()));
        if c.get("error").is_some() {
            let e = r.expect_err(&format!("{}: PyRadiomics raised, we did not", case.name));
            assert!(
                matches!(
                    e.code,
                    voxelkit_core::Code::Shape | voxelkit_core::Code::Setting
                ),
                "{}: {e}",
                case.name
            );
            errors += 1;
            continue;
        }
        let got = r.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let want = c["features"].as_array().unwrap();
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        let wkeys: Vec<&str> = want.iter().map(|p| p[0].as_str().unwrap()).collect();
        assert_eq!(keys, wkeys, "{}: keys and their order", case.name);
        let major = want
            .iter()
            .find(|p| p[0] == "original_shape_MajorAxisLength")
            .or_else(|| {
                want.iter()
                    .find(|p| p[0] == "original_shape2D_MajorAxisLength")
            })
            .map(|p| num(&p[1]))
            .unwrap_or(1.0);
        for ((k, g), p) in got.iter().zip(want) {
            let name = k.rsplit('_').next().unwrap();
            let major2 = if k.contains("shape2D") {
                want.iter()
                    .find(|p| p[0] == "original_shape2D_MajorAxisLength")
                    .map(|p| num(&p[1]))
                    .unwrap()
            } else {
                major
            };
            if let Err(e) = check(name, *g, num(&p[1]), major2) {
                panic!("{}: {e}", case.name);
            }
            n += 1;
        }
    }
    assert!(n > 800, "only {n} values checked");
    assert!(errors >= 10);
    eprintln!("{n} extractor values checked, {errors} PyRadiomics errors reproduced");
}

/// The mask cropped to the label's bounding box, numpy order.
fn crop(c: &Value) -> (Vec<bool>, [usize; 3], [f64; 3]) {
    let [nx, ny, nz] = shape3(&c["shape"]);
    let label = c["settings"]
        .get("label")
        .and_then(|v| v.as_f64())
        .unwrap_or(1.0);
    let m = nums(&c["mask"]["data"]);
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if m[(z * ny + y) * nx + x] == label {
                    for (k, v) in [z, y, x].into_iter().enumerate() {
                        lo[k] = lo[k].min(v);
                        hi[k] = hi[k].max(v);
                    }
                }
            }
        }
    }
    let size = [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1];
    let mut out = vec![false; size[0] * size[1] * size[2]];
    for z in 0..size[0] {
        for y in 0..size[1] {
            for x in 0..size[2] {
                out[(z * size[1] + y) * size[2] + x] =
                    m[((z + lo[0]) * ny + y + lo[1]) * nx + x + lo[2]] == label;
            }
        }
    }
    let sp = nums(&c["spacing"]);
    (out, size, [sp[2], sp[1], sp[0]])
}

#[test]
fn classes_match_pyradiomics_deprecated_features_too() {
    let mut n = 0;
    for case in indexed_cases("radiomics_shape") {
        let c = &case.v;
        let Some(cl) = c.get("class") else { continue };
        let (mask, size, sp) = crop(c);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let got = pool.install(|| shape::shape_features(&mask, size, sp));
        let want = &cl["shape"];
        assert!(
            want.get("error").is_none(),
            "{}: {}",
            case.name,
            want["error"]
        );
        let major = num(&want["MajorAxisLength"]);
        for ((name, _), g) in SHAPE_FEATURES.iter().zip(got) {
            if let Err(e) = check(name, g, num(&want[*name]), major) {
                panic!("{} (class): {e}", case.name);
            }
            n += 1;
        }
        for s2 in cl["shape2D"].as_array().unwrap() {
            let d = s2["dimension"].as_u64().unwrap() as usize;
            let keep: Vec<usize> = (0..3).filter(|&k| k != d).collect();
            let got = shape2d::shape2d_features(
                &mask,
                [size[keep[0]], size[keep[1]]],
                [sp[keep[0]], sp[keep[1]]],
            );
            let want = &s2["features"];
            let major = num(&want["MajorAxisLength"]);
            for ((name, _), g) in SHAPE2D_FEATURES.iter().zip(got) {
                if let Err(e) = check(name, g, num(&want[*name]), major) {
                    panic!("{} (class shape2D, dimension {d}): {e}", case.name);
                }
                n += 1;
            }
        }
    }
    assert!(n > 1000, "only {n} values checked");
    eprintln!("{n} class values checked (deprecated features included)");
}

#[test]
fn thread_count_does_not_change_bits() {
    for case in indexed_cases("radiomics_shape")
        .iter()
        .filter(|c| c.v.get("error").is_none())
    {
        let s = Settings::from_json(&settings_with_classes(&case.v["settings"])).unwrap();
        let run = |t| {
            with_input(&case.v, |i| {
                extract(i, &s, Some(t), &Control::new()).unwrap()
            })
        };
        let a = run(1);
        for t in [2, 5] {
            let b = run(t);
            assert_eq!(a.len(), b.len());
            for ((k, x), (_, y)) in a.iter().zip(&b) {
                assert_eq!(
                    x.to_bits(),
                    y.to_bits(),
                    "{} {k} differs at {t} threads",
                    case.name
                );
            }
        }
    }
}

#[test]
fn eigenvalue_features_match_mpmath() {
    let mut n = 0;
    let mut worst = 0.0f64;
    for case in indexed_cases("radiomics_shape") {
        let c = &case.v;
        let Some(cl) = c.get("class") else { continue };
        let (mask, size, sp) = crop(c);
        let mp = &cl["mp"];
        // eigenvalues back from the axis lengths: (axis / 4)^2, ascending
        let f = shape::shape_features(&mask, size, sp);
        let name = |k: &str| SHAPE_FEATURES.iter().position(|(n, _)| *n == k).unwrap();
        let got3 = [
            f[name("LeastAxisLength")],
            f[name("MinorAxisLength")],
            f[name("MajorAxisLength")],
        ]
        .map(|a| (a / 4.0) * (a / 4.0));
        let mut sets = vec![(got3.to_vec(), nums(&mp["shape"]), "shape".to_string())];
        for s2 in cl["shape2D"].as_array().unwrap() {
            let d = s2["dimension"].as_u64().unwrap() as usize;
            let keep: Vec<usize> = (0..3).filter(|&k| k != d).collect();
            let g = shape2d::shape2d_features(
                &mask,
                [size[keep[0]], size[keep[1]]],
                [sp[keep[0]], sp[keep[1]]],
            );
            let pos = |k: &str| SHAPE2D_FEATURES.iter().position(|(n, _)| *n == k).unwrap();
            let got2 = [g[pos("MinorAxisLength")], g[pos("MajorAxisLength")]]
                .map(|a| (a / 4.0) * (a / 4.0));
            sets.push((
                got2.to_vec(),
                nums(&mp[format!("shape2D_{d}")]),
                format!("shape2D_{d}"),
            ));
        }
        for (got, want, what) in sets {
            let top = want.last().copied().unwrap();
            for (g, w) in got.iter().zip(&want) {
                if *w == 0.0 {
                    assert_eq!(
                        *g, 0.0,
                        "{} {what}: exact eigenvalue 0, got {g:e}",
                        case.name
                    );
                } else {
                    // (axis / 4)^2 adds two roundings to the eigenvalue itself
                    let d = (g - w).abs();
                    assert!(
                        d <= 16.0 * f64::EPSILON * top,
                        "{} {what}: eigenvalue {g:e} vs mpmath {w:e}",
                        case.name
                    );
                    worst = worst.max(d / top);
                }
                n += 1;
            }
        }
    }
    assert!(n > 250, "only {n} eigenvalues checked");
    eprintln!("{n} eigenvalues against mpmath, max error {worst:e} of the largest");
}
