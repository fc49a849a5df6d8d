//! The field kernels against DIPY 1.12.1's own results (`fixtures/dipy_fields`, written by
//! `fixtures/dipy_fields/generate.py`).
//!
//! Tolerances:
//! * inverse: every voxel within 1e-6 voxel of DIPY's inverse (the bound); the same
//!   iteration count, and the final mean / max residual within 1e-9 relative. Observed: equal to
//!   the last bit or within a few ulps (same arithmetic in the same order; only the error sum's
//!   order differs).
//! * composition: each component within 1e-12 of the largest displacement (world units);
//!   statistics 1e-12 relative for float64, 1e-6 for float32 (DIPY squares float32 values in
//!   float32 for its statistics, voxelkit in float64).
//! * warping: linear within 1e-9 relative to the image's largest magnitude (the bound);
//!   nearest neighbour exactly equal. The matrices `A = R⁻¹S`, `B = T⁻¹S` are computed by
//!   voxelkit, not copied from numpy, so they may differ by an ulp.
//! * every case also runs at 1, 2 and 4 threads and must give the same bits.

mod common;
use common::{bytes, cases, f64s, floats, usizes};
use serde_json::Value;
use voxelkit_core::Control;
use voxelkit_fields::{
    compose_fields, invert_field, warp_linear, warp_nearest, Field, Grid, InvertOptions, Real,
};

/// The fixture directory of this file's cases.
const FIX: &str = "dipy_fields";

fn f32s(m: &Value, key: &str) -> Vec<f32> {
    let (b, dt) = bytes(FIX, m, key);
    assert_eq!(dt, "float32");
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn dtype(m: &Value, key: &str) -> String {
    m["arrays"][key]["dtype"].as_str().unwrap().to_string()
}

const THREADS: [usize; 3] = [1, 2, 4];

fn check_invert<T: Real>(name: &str, m: &Value, field: Vec<T>, start: Option<Vec<T>>) -> f64 {
    let grid = Grid::new(&usizes(&m["shape"]), &floats(&m["affine"]), "field").unwrap();
    let f = Field::new(&field, &grid, "field").unwrap();
    let expect = f64s(FIX, m, "inverse");
    let sp = grid.spacing();
    let n = grid.nvox();
    let mut first: Option<Vec<T>> = None;
    let mut worst = 0.0f64;
    for t in THREADS {
        let o = InvertOptions {
            simd: true,
            max_iter: m["max_iter"].as_u64().unwrap() as usize,
            tolerance: m["tolerance"].as_f64().unwrap(),
            threads: Some(t),
        };
        let (p, st) = invert_field(f, start.as_deref(), &o, &Control::new()).unwrap();
        assert_eq!(
            st.iterations as u64,
            m["iterations"].as_u64().unwrap(),
            "{name}: iterations"
        );
        for (key, got) in [("error", st.error), ("max_residual", st.max_residual)] {
            let e = m[key].as_f64().unwrap();
            assert!(
                (got - e).abs() <= 1e-9 * e.abs(),
                "{name}: {key} {got} vs DIPY {e}"
            );
        }
        for v in 0..n {
            let mut s = 0.0;
            for c in 0..grid.ndim {
                let dv = (p[c * n + v].to_f64() - expect[c * n + v]) / sp[c];
                s += dv * dv;
            }
            worst = worst.max(s.sqrt());
        }
        match &first {
            None => first = Some(p),
            Some(f0) => assert!(f0 == &p, "{name}: result differs at {t} threads"),
        }
    }
    assert!(worst <= 1e-6, "{name}: inverse off by {worst} voxel");
    worst
}

#[test]
fn inversion_matches_dipy() {
    for (name, m) in cases(FIX, "invert") {
        let worst = if dtype(&m, "field") == "float32" {
            let start = m["arrays"].get("start").map(|_| f32s(&m, "start"));
            check_invert::<f32>(&name, &m, f32s(&m, "field"), start)
        } else {
            let start = m["arrays"].get("start").map(|_| f64s(FIX, &m, "start"));
            check_invert::<f64>(&name, &m, f64s(FIX, &m, "field"), start)
        };
        eprintln!("{name}: max |inverse - DIPY| = {worst:.3e} voxel");
    }
}

fn check_compose<T: Real>(name: &str, m: &Value, d1: Vec<T>, d2: Vec<T>, stat_tol: f64) -> f64 {
    let g1 = Grid::new(&usizes(&m["shape1"]), &floats(&m["affine1"]), "d1").unwrap();
    let g2 = Grid::new(&usizes(&m["shape2"]), &floats(&m["affine2"]), "d2").unwrap();
    let f1 = Field::new(&d1, &g1, "d1").unwrap();
    let f2 = Field::new(&d2, &g2, "d2").unwrap();
    let expect = f64s(FIX, m, "comp");
    let scale = expect.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut first: Option<Vec<T>> = None;
    let mut worst = 0.0f64;
    for t in THREADS {
        let (c, st) = compose_fields(
            f1,
            f2,
            m["time_scaling"].as_f64().unwrap(),
            Some(t),
            &Control::new(),
        )
        .unwrap();
        for (key, got) in [
            ("max_norm", st.max_norm),
            ("mean_norm", st.mean_norm),
            ("std_norm", st.std_norm),
        ] {
            let e = m[key].as_f64().unwrap();
            assert!(
                (got - e).abs() <= stat_tol * e.abs(),
                "{name}: {key} {got} vs DIPY {e}"
            );
        }
        for (a, b) in c.iter().zip(&expect) {
            worst = worst.max((a.to_f64() - b).abs() / scale);
        }
        match &first {
            None => first = Some(c),
            Some(f0) => assert!(f0 == &c, "{name}: result differs at {t} threads"),
        }
    }
    assert!(
        worst <= 1e-12,
        "{name}: composition off by {worst} (relative)"
    );
    worst
}

#[test]
fn composition_matches_dipy() {
    for (name, m) in cases(FIX, "compose") {
        let worst = if dtype(&m, "d1") == "float32" {
            check_compose::<f32>(&name, &m, f32s(&m, "d1"), f32s(&m, "d2"), 1e-6)
        } else {
            check_compose::<f64>(&name, &m, f64s(FIX, &m, "d1"), f64s(FIX, &m, "d2"), 1e-12)
        };
        eprintln!("{name}: max |comp - DIPY| / max|comp| = {worst:.3e}");
    }
}

#[test]
fn warping_matches_dipy() {
    for (name, m) in cases(FIX, "warp") {
        let mg = Grid::new(
            &usizes(&m["moving_shape"]),
            &floats(&m["moving_affine"]),
            "moving",
        )
        .unwrap();
        let fg = Grid::new(
            &usizes(&m["field_shape"]),
            &floats(&m["field_affine"]),
            "field",
        )
        .unwrap();
        let rg = m
            .get("reference_shape")
            .map(|s| Grid::new(&usizes(s), &floats(&m["reference_affine"]), "reference").unwrap());
        let field = f64s(FIX, &m, "field");
        assert_eq!(dtype(&m, "field"), "float64");
        let f = Field::new(&field, &fg, "field").unwrap();
        let moving = f64s(FIX, &m, "moving");
        let expect = f64s(FIX, &m, "warped");
        let nearest = m["interpolation"] == "nearest";
        let scale = moving.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let mut first: Option<Vec<f64>> = None;
        let mut worst = 0.0f64;
        for t in THREADS {
            let out = if nearest {
                // the integer images go through their own type: the output keeps it
                match dtype(&m, "moving").as_str() {
                    "int16" => {
                        let mv: Vec<i16> = moving.iter().map(|&v| v as i16).collect();
                        let o = warp_nearest(&mv, &mg, f, rg.as_ref(), Some(t), &Control::new())
                            .unwrap();
                        o.iter().map(|&v| v as f64).collect()
                    }
                    "int32" => {
                        let mv: Vec<i32> = moving.iter().map(|&v| v as i32).collect();
                        let o = warp_nearest(&mv, &mg, f, rg.as_ref(), Some(t), &Control::new())
                            .unwrap();
                        o.iter().map(|&v| v as f64).collect()
                    }
                    _ => warp_nearest(&moving, &mg, f, rg.as_ref(), Some(t), &Control::new())
                        .unwrap(),
                }
            } else {
                warp_linear(&moving, &mg, f, rg.as_ref(), Some(t), &Control::new()).unwrap()
            };
            assert_eq!(out.len(), expect.len());
            for (a, b) in out.iter().zip(&expect) {
                worst = worst.max((a - b).abs() / scale);
            }
            match &first {
                None => first = Some(out),
                Some(f0) => assert!(f0 == &out, "{name}: result differs at {t} threads"),
            }
        }
        if nearest {
            assert_eq!(
                worst, 0.0,
                "{name}: nearest-neighbour warp differs from DIPY"
            );
        } else {
            assert!(worst <= 1e-9, "{name}: warp off by {worst} (relative)");
        }
        eprintln!("{name}: max |warped - DIPY| / max|moving| = {worst:.3e}");
    }
}
