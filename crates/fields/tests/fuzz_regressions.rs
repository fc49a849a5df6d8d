//! Findings of the `syn_options` fuzz target (fuzz/fuzz_targets/syn_options.rs), each kept as
//! the options that triggered it.

use voxelkit_core::{Code, Control};
use voxelkit_fields::syn::{gauss::MAX_SIGMA, register_syn, Image, Metric, StepType, SynOptions};
use voxelkit_fields::{Affine, Grid};

fn blob(dx: f64) -> Vec<f32> {
    (0..64)
        .map(|i| {
            let (x, y) = ((i % 8) as f64 - 3.5 - dx, (i / 8) as f64 - 3.5);
            (200.0 * (-(x * x + y * y) / 6.0).exp()) as f32
        })
        .collect()
}

fn run(o: &SynOptions) -> voxelkit_core::Result<voxelkit_fields::syn::SynResult> {
    let g = Grid::new(&[8, 8], &Affine::IDENTITY.to_vec(), "grid").unwrap();
    let (s, m) = (blob(0.0), blob(0.7));
    register_syn(
        Image { data: &s, grid: &g },
        Image { data: &m, grid: &g },
        None,
        o,
        None,
        &Control::default(),
    )
}

/// The error of a call expected to fail.
fn refused<T>(r: voxelkit_core::Result<T>) -> voxelkit_core::Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn setting_error(o: &SynOptions, needle: &str) {
    let e = refused(run(o));
    assert_eq!(e.code, Code::Setting, "{}", e.message);
    assert!(e.message.contains(needle), "{}", e.message);
}

/// crash-… (syn_options, EM, ssSigmaFactor 1.18e121 from 8 raw bytes, 2 levels): the scale
/// space's Gaussian radius overflowed, `Vec` capacity overflow (a panic). Now `ERR_SETTING`.
#[test]
fn huge_ss_sigma_factor_is_a_setting_error() {
    let f = f64::from_le_bytes([0x1a, 0x00, 0x7d, 0x50, 0x28, 0x50, 0x12, 0x59]);
    assert!(f > 1e120);
    let o = SynOptions {
        metric: Metric::Em,
        level_iters: vec![1, 1],
        ss_sigma_factor: f,
        threads: Some(1),
        ..SynOptions::default()
    };
    setting_error(&o, "ssSigmaFactor");
    // the limit is on the coarsest level's sigma: factor * (2^(levels-1) - 1)
    let o = SynOptions {
        metric: Metric::Cc,
        level_iters: vec![0; 5],
        ss_sigma_factor: MAX_SIGMA / 15.0 * 1.001,
        ..o
    };
    setting_error(&o, "ssSigmaFactor");
    // one level never smooths: any finite factor is accepted
    let o = SynOptions {
        level_iters: vec![1],
        ss_sigma_factor: 1e300,
        radius: Some(1),
        ..o
    };
    if let Err(e) = run(&o) {
        panic!("one level, factor 1e300: {:?} {}", e.code, e.message);
    }
}

/// The same overflow through the metrics' own Gaussians: CC's sigmaDiff and the demons step's
/// smooth (a Gauss-Newton smooth is a weight, not a sigma: not limited).
#[test]
fn huge_smoothing_sigmas_are_setting_errors() {
    let base = SynOptions {
        level_iters: vec![1],
        threads: Some(1),
        ..SynOptions::default()
    };
    // (CC's default radius 4 needs 9 voxels per axis: these 8 x 8 images are refused before
    // registering, so the sigmaDiff case checks that the options are refused first)
    setting_error(
        &SynOptions {
            sigma_diff: Some(1e300),
            ..base.clone()
        },
        "sigmaDiff",
    );
    setting_error(
        &SynOptions {
            metric: Metric::Ssd,
            smooth: Some(MAX_SIGMA * 2.0),
            ..base.clone()
        },
        "smooth",
    );
    let gn = SynOptions {
        metric: Metric::Ssd,
        smooth: Some(1e12),
        step_type: Some(StepType::GaussNewton),
        ..base
    };
    let r = run(&gn).expect("a large Gauss-Newton weight is accepted");
    assert!(r.forward.iter().all(|x| x.is_finite()));
}

/// 80afbbe8… (syn_options, EM, 3 levels): a static grid of spacing 100 x 0.001 made DIPY's
/// isotropic pyramid upsample the coarse axis to 400,000 voxels (1.8 s for an 8 x 8 image); a
/// ratio of 1e300 would ask for 2^31 voxels per row. Levels may hold at most 8 times the
/// image's voxels (`ERR_SHAPE`), zooms that float32 makes 0 or infinite are refused, and a
/// mild anisotropy still registers.
#[test]
fn anisotropic_grids_cannot_blow_up_the_pyramid() {
    use voxelkit_fields::syn::scale::MAX_LEVEL_GROWTH;
    let (s, m) = (blob(0.0), blob(0.7));
    let reg = |sx: f64, sy: f64, levels: usize| {
        let mut a = Affine::IDENTITY.to_vec();
        a[0] = sx;
        a[5] = sy;
        let g = Grid::new(&[8, 8], &a, "grid").unwrap();
        let o = SynOptions {
            metric: Metric::Em,
            level_iters: vec![1; levels],
            threads: Some(1),
            ..SynOptions::default()
        };
        register_syn(
            Image { data: &s, grid: &g },
            Image { data: &m, grid: &g },
            None,
            &o,
            None,
            &Control::default(),
        )
    };
    let e = refused(reg(100.0, 0.001, 3));
    assert_eq!(e.code, Code::Shape, "{}", e.message);
    assert!(e.message.contains("anisotropic"), "{}", e.message);
    // float32 zooms of 0 or infinity; a determinant of 1 with a ratio of 1e60
    for (sx, sy) in [(1e300, 1.0), (1.0, 1e-300), (1e30, 1e-30)] {
        let e = refused(reg(sx, sy, 3));
        assert!(
            matches!(e.code, Code::Shape | Code::Setting),
            "{sx} x {sy}: {:?} {}",
            e.code,
            e.message
        );
    }
    // 2D: level 1 of spacing [1, r] holds r / 4 times the voxels: r = 32 is the largest allowed
    assert_eq!(MAX_LEVEL_GROWTH, 8.0);
    assert!(reg(1.0, 32.0, 2).is_ok());
    assert_eq!(refused(reg(1.0, 33.0, 2)).code, Code::Shape);
    assert!(reg(1.0, 2.0, 2).is_ok());
}

/// fuzz:options (composeFields, `timeScaling` ~1e300 on a small float32 field): every input
/// finite, but `d1 + t d2` overflowed float32 (and float64 for 1e300 x 1e10) and the composed
/// field held infinities, silently (DIPY does the same). Now `ERR_SETTING` naming the first
/// voxel; scalings that stay in range keep their values, and a field that overflows only the
/// statistics' sums (not its own values) is still returned.
#[test]
fn composition_that_overflows_the_storage_type_is_a_setting_error() {
    use voxelkit_fields::{compose_fields, Field};
    let dims = [4usize, 4, 3];
    let g = Grid::new(&dims, &Affine::IDENTITY.to_vec(), "f").unwrap();
    let n = 48;
    let d32: Vec<f32> = (0..3 * n).map(|i| 0.4 * (i as f32 * 0.7).sin()).collect();
    let f32f = Field::new(&d32, &g, "f").unwrap();
    for t in [1e40, 1e300, -1e300, f64::MAX] {
        let e = refused(compose_fields(f32f, f32f, t, Some(1), &Control::default()));
        assert_eq!(e.code, Code::Setting, "{t}: {}", e.message);
        assert!(
            e.message.contains("overflows float32 at voxel"),
            "{}",
            e.message
        );
    }
    // 1e37 x 0.4 stays inside float32: finite values, as before
    let (out, _) = compose_fields(f32f, f32f, 1e37, Some(1), &Control::default()).unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
    assert!(out.iter().any(|v| v.abs() > 1e35));
    // float64: 1e300 x 0.4 is finite, 1e300 x 1e10 is not
    let d64: Vec<f64> = d32.iter().map(|&v| v as f64).collect();
    let f64f = Field::new(&d64, &g, "f").unwrap();
    let (out, st) = compose_fields(f64f, f64f, 1e300, Some(2), &Control::default()).unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
    // the squared norms overflow, the values do not: returned, statistics infinite as DIPY's
    assert!(st.max_norm.is_infinite());
    let big: Vec<f64> = d64.iter().map(|&v| v * 1e10).collect();
    let bigf = Field::new(&big, &g, "f").unwrap();
    let e = refused(compose_fields(
        f64f,
        bigf,
        1e300,
        Some(3),
        &Control::default(),
    ));
    assert_eq!(e.code, Code::Setting, "{}", e.message);
    assert!(e.message.contains("overflows float64"), "{}", e.message);
}
