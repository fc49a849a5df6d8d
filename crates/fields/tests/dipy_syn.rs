//! SyN (CC, SSD, EM) against DIPY 1.12.1 (`fixtures/dipy_syn`, written by
//! `fixtures/dipy_syn/generate.py`).
//!
//! Tolerances and why:
//! * scale space: level shapes, spacings, scalings and sigmas equal DIPY's to 1e-15 relative
//!   (the same float64 formulas); the smoothed, normalised float32 images within 2e-7 absolute
//!   of DIPY's (values in [0, 1]): the Gaussian weights use the platform's `exp`, while numpy
//!   uses its own SIMD `exp` on AVX-512 machines, which differs from the correctly rounded value
//!   in the last bit for some arguments; after float32 rounding that moves a value by one float32
//!   ulp (6e-8) at most, observed.
//! * CC factors and steps: bit for bit (the same float64 arithmetic in the same order, the
//!   running window sums included); energies equal.
//! * SyN: iterations per level equal; energies 1e-9 relative where the run is short enough
//!   that the ulp-level differences above (Gaussian weights; the 4x4 products and inverses
//!   follow numpy's OpenBLAS/LAPACK arithmetic, see affine.rs) have not grown; displacement
//!   fields within 1e-4 voxel of DIPY's.
//!   The observed maxima are printed (`cargo test -- --nocapture`): 0 for every case (CC, SSD
//!   and EM) on the machine that generated the fixtures.
//! * SSD / EM kernels (Gauss-Seidel sweeps, residuals, V-cycles, demons steps, quantisation,
//!   class statistics): bit for bit, energies equal (DIPY's float32 / float64 operations in
//!   DIPY's order).
//! * every SyN case also runs at 1 and 3 threads and must give the same bits (the sampled brain
//!   and MNI cases: CC at 1 and 2 threads).
//! * the sampled real-image cases (brain pair, MNI152 template against its known deformation):
//!   the SyN tolerances above at the stored voxels; observed 0 for every case.

mod common;
use common::{cases, f64s, floats, usizes};
use serde_json::Value;
use voxelkit_core::Control;
use voxelkit_fields::syn::{
    cc, em, register_syn, scale::ScaleSpace, ssd, Image, Metric, StepType, SynOptions,
};
use voxelkit_fields::{Affine, Grid};

/// The fixture directory of this file's cases.
const FIX: &str = "dipy_syn";

fn f32s(m: &Value, key: &str) -> Vec<f32> {
    f64s(FIX, m, key).iter().map(|&v| v as f32).collect()
}

fn grid(shape: &Value, aff: &Value) -> Grid {
    Grid::new(&usizes(shape), &floats(aff), "grid").unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn scale_space_matches_dipy() {
    for (name, m) in cases(FIX, "scale") {
        let g = grid(&m["shape"], &m["affine"]);
        let img = f32s(&m, "image");
        let levels = m["levels"].as_u64().unwrap() as usize;
        let ss =
            ScaleSpace::new(&img, &g, levels, m["sigma_factor"].as_f64().unwrap(), "t").unwrap();
        let mut worst = 0.0f64;
        for (i, lm) in m["level"].as_array().unwrap().iter().enumerate() {
            let l = &ss.levels[i];
            assert_eq!(
                &l.dims[..g.ndim],
                &usizes(&lm["shape"])[..],
                "{name} level {i}"
            );
            for (key, ours) in [
                ("spacing", l.spacing),
                ("scaling", l.scaling),
                ("sigmas", l.sigmas),
            ] {
                for (k, want) in floats(&lm[key]).iter().enumerate() {
                    assert!(
                        rel(ours[k], *want) <= 1e-15 || ours[k] == *want,
                        "{name} level {i} {key}[{k}]: {} vs {want}",
                        ours[k]
                    );
                }
            }
            let want_aff = floats(&lm["affine"]);
            for (k, w) in want_aff.iter().enumerate() {
                let o = l.affine.m[k / 4][k % 4];
                assert!((o - w).abs() <= 1e-15 * w.abs().max(1.0), "{name} affine");
            }
            let want = f64s(FIX, &m, &format!("level{i}"));
            for (a, b) in l.image.iter().zip(&want) {
                worst = worst.max((*a as f64 - b).abs());
            }
        }
        eprintln!("{name}: scale-space images max |voxelkit - DIPY| = {worst:e}");
        assert!(worst <= 2e-7, "{name}: {worst}");
    }
}

#[test]
fn cc_factors_and_steps_match_dipy_bitwise() {
    for (name, m) in cases(FIX, "cc") {
        let shape = usizes(&m["shape"]);
        let ndim = shape.len();
        let dims = [shape[0], shape[1], if ndim == 3 { shape[2] } else { 1 }];
        let n = dims[0] * dims[1] * dims[2];
        let radius = m["radius"].as_u64().unwrap() as usize;
        let st = f32s(&m, "static");
        let mv = f32s(&m, "moving");
        let fac = if ndim == 3 {
            cc::factors_3d(&st, &mv, dims, radius)
        } else {
            cc::factors_2d(&st, &mv, dims, radius)
        };
        let want = f32s(&m, "factors");
        let mut diff = 0usize;
        for k in 0..5 {
            for i in 0..n {
                if fac.f[k][i].to_bits() != want[k * n + i].to_bits() {
                    diff += 1;
                }
            }
        }
        assert_eq!(diff, 0, "{name}: {diff} factor values differ from DIPY's");
        // the gradients CCMetric passes: numpy.gradient of the float32 images
        let gs = cc::gradient(&st, dims, ndim);
        let gm = cc::gradient(&mv, dims, ndim);
        for (fwd, g, ok, ek) in [
            (true, &gs, "forward", "energy_forward"),
            (false, &gm, "backward", "energy_backward"),
        ] {
            let (out, e) = cc::step(g, &fac, dims, ndim, radius, fwd);
            let want = f32s(&m, ok);
            assert!(
                out.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name} {ok}"
            );
            assert_eq!(e, m[ek].as_f64().unwrap(), "{name} {ek}");
        }
    }
}

fn run(m: &Value, threads: Option<usize>) -> voxelkit_fields::syn::SynResult {
    run_on(m, &f32s(m, "static"), &f32s(m, "moving"), threads)
}

/// The case's registration of `mv` onto `st` (the case's grids, prealign and options).
fn run_on(
    m: &Value,
    st: &[f32],
    mv: &[f32],
    threads: Option<usize>,
) -> voxelkit_fields::syn::SynResult {
    let sg = grid(&m["static_shape"], &m["static_affine"]);
    let mg = grid(&m["moving_shape"], &m["moving_affine"]);
    let pre = m["prealign"]
        .as_array()
        .map(|_| Affine::from_slice(&floats(&m["prealign"]), "prealign").unwrap());
    let pre = pre.map(|p| if sg.ndim == 2 { p.planar() } else { p });
    let mo = &m["metric_options"];
    let o = SynOptions {
        metric: match m["metric"].as_str() {
            None => Metric::Cc,
            Some("SSD") => Metric::Ssd,
            Some("EM") => Metric::Em,
            Some(x) => panic!("metric {x}"),
        },
        level_iters: usizes(&m["level_iters"]),
        step_type: mo["step_type"].as_str().map(|t| match t {
            "demons" => StepType::Demons,
            _ => StepType::GaussNewton,
        }),
        q_levels: mo["q_levels"].as_u64().map(|q| q as usize),
        double_gradient: mo["double_gradient"].as_bool(),
        threads,
        ..SynOptions::default()
    };
    register_syn(
        Image {
            data: st,
            grid: &sg,
        },
        Image {
            data: mv,
            grid: &mg,
        },
        pre.as_ref(),
        &o,
        None,
        &Control::default(),
    )
    .unwrap()
}

/// Forward and backward fields of two runs equal bit for bit.
fn same_fields(a: &voxelkit_fields::syn::SynResult, b: &voxelkit_fields::syn::SynResult) -> bool {
    let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
    same(&a.forward, &b.forward) && same(&a.backward, &b.backward)
}

/// Iteration counts per level equal DIPY's (asserted), energies of each level as many as DIPY's;
/// returns the largest relative energy difference.
fn energies_vs_dipy(name: &str, r: &voxelkit_fields::syn::SynResult, m: &Value) -> f64 {
    assert_eq!(
        r.iterations,
        usizes(&m["iterations"]),
        "{name}: iterations per level"
    );
    let mut erel = 0.0f64;
    for (ours, want) in r.energies.iter().zip(m["energies"].as_array().unwrap()) {
        assert_eq!(ours.len(), want.as_array().unwrap().len(), "{name}");
        for (a, b) in ours.iter().zip(floats(want)) {
            erel = erel.max(rel(*a, b));
        }
    }
    erel
}

#[test]
fn syn_matches_dipy() {
    for (name, m) in cases(FIX, "syn") {
        let r = run(&m, Some(1));
        let erel = energies_vs_dipy(&name, &r, &m);
        let sp = r.geometry.disp_grid.spacing();
        let n = r.geometry.disp_grid.nvox();
        let mut fmax = [0.0f64; 2];
        for (k, (ours, key)) in [(&r.forward, "forward"), (&r.backward, "backward")]
            .iter()
            .enumerate()
        {
            let want = f64s(FIX, &m, key);
            assert_eq!(ours.len(), want.len(), "{name} {key}");
            for (i, (a, b)) in ours.iter().zip(&want).enumerate() {
                fmax[k] = fmax[k].max((*a as f64 - b).abs() / sp[i / n]);
            }
        }
        let warped = r
            .transform(
                &f32s(&m, "moving"),
                &r.geometry.domain,
                &Control::default(),
                Some(1),
            )
            .unwrap();
        let mut wmax = warped
            .iter()
            .zip(f64s(FIX, &m, "warped"))
            .fold(0.0f64, |w, (a, b)| w.max((*a as f64 - b).abs()));
        if m["arrays"].get("warped_inverse").is_some() {
            let wi = r
                .transform_inverse(
                    &f32s(&m, "static"),
                    &r.geometry.codomain,
                    &Control::default(),
                    Some(1),
                )
                .unwrap();
            let want = f64s(FIX, &m, "warped_inverse");
            assert_eq!(wi.len(), want.len(), "{name}: transform_inverse's grid");
            wmax = wi
                .iter()
                .zip(want)
                .fold(wmax, |w, (a, b)| w.max((*a as f64 - b).abs()));
        }
        eprintln!(
            "{name}: iterations {:?}, energies max rel {erel:e}, forward max {:e} voxel, backward max {:e} voxel, warped max {wmax:e}",
            r.iterations, fmax[0], fmax[1]
        );
        assert!(
            fmax[0] <= 1e-4 && fmax[1] <= 1e-4,
            "{name}: fields {fmax:?} voxel from DIPY's"
        );
        assert!(
            erel <= 1e-9,
            "{name}: energies {erel:e} relative from DIPY's"
        );
        // the warped images: float32 values in [0, 1.2]; 1e-5 is far above the float32 ulp
        // and far below any visible difference
        assert!(wmax <= 1e-5, "{name}: warped images {wmax:e} from DIPY's");
        assert!(
            same_fields(&r, &run(&m, Some(3))),
            "{name}: 1 and 3 threads differ"
        );
    }
}

/// The real inter-subject pair (PyRadiomics' brain1 / brain2 MR, every 4th voxel in-plane,
/// pre-aligned by DIPY's `affine_registration`): iterations, energies (1e-9 relative), the
/// fields at the fixture's 3,000 sampled voxels (1e-4 voxel) and the warped image there (1e-6
/// of the image's largest value: float32 values up to ~1,400), as for the synthetic pairs;
/// CC at 1 and 2 threads bitwise equal.
#[test]
fn syn_brain_pair_matches_dipy() {
    for (name, m) in cases(FIX, "syn_brain") {
        let stride = m["stride"].as_u64().unwrap() as usize;
        let Some((st, sshape, saff)) = common::brain_image(m["static"].as_str().unwrap(), stride)
        else {
            return;
        };
        let Some((mv, mshape, maff)) = common::brain_image(m["moving"].as_str().unwrap(), stride)
        else {
            return;
        };
        // the same grids as DIPY had (the generator reads the NRRDs itself)
        assert_eq!(sshape, usizes(&m["static_shape"]), "{name}");
        assert_eq!(mshape, usizes(&m["moving_shape"]), "{name}");
        for (ours, key) in [(saff, "static_affine"), (maff, "moving_affine")] {
            for (a, b) in ours.iter().zip(floats(&m[key])) {
                assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{name} {key}");
            }
        }
        let r = sampled_vs_dipy(&name, &m, &st, &mv);
        if m["metric"].is_string() {
            continue; // the thread check once per pair (CC) keeps the test short
        }
        assert!(
            same_fields(&r, &run_on(&m, &st, &mv, Some(2))),
            "{name}: 1 and 2 threads differ"
        );
    }
}

fn usizes_of(v: &[f64]) -> Vec<usize> {
    v.iter().map(|&x| x as usize).collect()
}

/// A kernel fixture's array in DIPY's C order (vectors interleaved).
fn c_order(m: &Value, key: &str, dims: [usize; 3], nd: usize) -> Vec<f32> {
    let v = f32s(m, key);
    if nd == 1 {
        return ssd::scalar_to_c(&v, dims);
    }
    let n = v.len() / nd;
    let planes: Vec<Vec<f32>> = (0..nd).map(|c| v[c * n..(c + 1) * n].to_vec()).collect();
    ssd::vector_to_c(&planes, dims)
}

fn same_bits(a: &[f32], b: &[f32]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.to_bits() != y.to_bits())
        .count()
}

#[test]
fn ssd_and_em_kernels_match_dipy_bitwise() {
    for (name, m) in cases(FIX, "kernel") {
        let shape = usizes(&m["shape"]);
        let nd = shape.len();
        let dims = [shape[0], shape[1], if nd == 3 { shape[2] } else { 1 }];
        let sh = ssd::Shape::new(dims, nd);
        let delta = c_order(&m, "delta", dims, 1);
        let grad = c_order(&m, "grad", dims, nd);
        let sigma = c_order(&m, "sigma", dims, 1);
        let target = c_order(&m, "target", dims, nd);
        let disp0 = c_order(&m, "disp0", dims, nd);
        let plain = ssd::System {
            shape: sh,
            delta: &delta,
            sigma: None,
            grad: &grad,
            target: None,
            lambda: m["lambda"].as_f64().unwrap(),
        };
        let emsys = ssd::System {
            shape: sh,
            delta: &delta,
            sigma: Some(&sigma),
            grad: &grad,
            target: Some(&target),
            lambda: 0.25,
        };
        let mut d = disp0.clone();
        let r = ssd::iterate(&plain, &mut d);
        assert_eq!(
            r,
            m["iterate_plain"].as_f64().unwrap(),
            "{name} iterate max"
        );
        assert_eq!(
            same_bits(&d, &c_order(&m, "iterate_plain", dims, nd)),
            0,
            "{name} iterate"
        );
        let mut d = disp0.clone();
        let r = ssd::iterate(&emsys, &mut d);
        assert_eq!(
            r,
            m["iterate_em"].as_f64().unwrap(),
            "{name} iterate (EM) max"
        );
        assert_eq!(
            same_bits(&d, &c_order(&m, "iterate_em", dims, nd)),
            0,
            "{name} iterate (EM)"
        );
        let res = ssd::residual(&plain, &disp0);
        assert_eq!(
            same_bits(&res, &c_order(&m, "residual_plain", dims, nd)),
            0,
            "{name} residual"
        );
        let res = ssd::residual(&emsys, &disp0);
        assert_eq!(
            same_bits(&res, &c_order(&m, "residual_em", dims, nd)),
            0,
            "{name} residual (EM)"
        );
        let mut d = vec![0.0f32; disp0.len()];
        let e = ssd::v_cycle(2, 3, &plain, &mut d);
        assert_eq!(
            e,
            m["vcycle_plain"].as_f64().unwrap(),
            "{name} v-cycle energy"
        );
        assert_eq!(
            same_bits(&d, &c_order(&m, "vcycle_plain", dims, nd)),
            0,
            "{name} v-cycle"
        );
        let vsys = ssd::System {
            target: None,
            lambda: 1.0,
            ..emsys
        };
        let mut d = vec![0.0f32; disp0.len()];
        let e = ssd::v_cycle(2, 3, &vsys, &mut d);
        assert_eq!(
            e,
            m["vcycle_em"].as_f64().unwrap(),
            "{name} v-cycle (EM) energy"
        );
        assert_eq!(
            same_bits(&d, &c_order(&m, "vcycle_em", dims, nd)),
            0,
            "{name} v-cycle (EM)"
        );
        let (st, e) = ssd::demons_step(&delta, None, &grad, nd, 1.7);
        assert_eq!(
            e,
            m["ssd_demons"].as_f64().unwrap(),
            "{name} SSD demons energy"
        );
        assert_eq!(
            same_bits(&st, &c_order(&m, "ssd_demons", dims, nd)),
            0,
            "{name} SSD demons"
        );
        let (st, e) = ssd::demons_step(&delta, Some(&sigma), &grad, nd, 1.7);
        assert_eq!(
            e,
            m["em_demons"].as_f64().unwrap(),
            "{name} EM demons energy"
        );
        assert_eq!(
            same_bits(&st, &c_order(&m, "em_demons", dims, nd)),
            0,
            "{name} EM demons"
        );
        let q = m["q_levels"].as_u64().unwrap() as usize;
        let img = c_order(&m, "image", dims, 1);
        let labels = em::quantize_positive(&img, q);
        let want: Vec<i32> = c_order(&m, "quantized", dims, 1)
            .iter()
            .map(|&v| v as i32)
            .collect();
        assert_eq!(labels, want, "{name} quantize");
        let mask: Vec<bool> = c_order(&m, "mask", dims, 1)
            .iter()
            .map(|&v| v != 0.0)
            .collect();
        let (means, vars) = em::class_stats(&mask, &c_order(&m, "other", dims, 1), q, &labels);
        assert_eq!(same_bits(&means, &f32s(&m, "means")), 0, "{name} means");
        assert_eq!(
            same_bits(&vars, &f32s(&m, "variances")),
            0,
            "{name} variances"
        );
    }
}

/// A sampled case (`syn_brain`, `syn_mni`) registered at one thread: iterations, energies (1e-9
/// relative), the fields at the case's sampled voxels (1e-4 voxel) and the warped image there
/// (1e-6 of the moving image's largest value) against DIPY's; returns voxelkit's result.
fn sampled_vs_dipy(
    name: &str,
    m: &Value,
    st: &[f32],
    mv: &[f32],
) -> voxelkit_fields::syn::SynResult {
    let r = run_on(m, st, mv, Some(1));
    let erel = energies_vs_dipy(name, &r, m);
    let sample = usizes_of(&f64s(FIX, m, "sample"));
    let sp = r.geometry.disp_grid.spacing();
    let n = r.geometry.disp_grid.nvox();
    let k = sample.len();
    let mut fmax = [0.0f64; 2];
    for (f, (ours, key)) in [(&r.forward, "forward"), (&r.backward, "backward")]
        .iter()
        .enumerate()
    {
        let want = f64s(FIX, m, key);
        for c in 0..3 {
            for (j, &i) in sample.iter().enumerate() {
                let d = (ours[c * n + i] as f64 - want[c * k + j]).abs() / sp[c];
                fmax[f] = fmax[f].max(d);
            }
        }
    }
    let warped = r
        .transform(mv, &r.geometry.domain, &Control::default(), Some(1))
        .unwrap();
    let top = mv.iter().fold(0.0f32, |a, &b| a.max(b.abs())) as f64;
    let wmax = sample
        .iter()
        .zip(f64s(FIX, m, "warped"))
        .fold(0.0f64, |w, (&i, b)| w.max((warped[i] as f64 - b).abs()));
    eprintln!(
            "{name}: iterations {:?}, energies max rel {erel:e}, forward max {:e} voxel, backward max {:e} voxel, warped max {wmax:e} (image max {top})",
            r.iterations, fmax[0], fmax[1]
        );
    assert!(
        fmax[0] <= 1e-4 && fmax[1] <= 1e-4,
        "{name}: fields {fmax:?}"
    );
    assert!(erel <= 1e-9, "{name}: energies {erel:e}");
    assert!(wmax <= 1e-6 * top, "{name}: warped {wmax:e}");
    r
}

/// nilearn's MNI152 template (5 mm, 39x46x38, uint8 values) against DIPY's warp of it by a known
/// smooth deformation (`generate_mni.py`), CC float64, EM and SSD float32: the checks and
/// tolerances of the brain pair; CC at 1 and 2 threads bitwise equal.
#[test]
fn syn_mni_matches_dipy() {
    for (name, m) in cases(FIX, "syn_mni") {
        let (st, mv) = (f32s(&m, "static"), f32s(&m, "moving"));
        let r = sampled_vs_dipy(&name, &m, &st, &mv);
        if m["metric"].is_null() {
            assert!(
                same_fields(&r, &run_on(&m, &st, &mv, Some(2))),
                "{name}: 1 and 2 threads differ"
            );
        }
    }
}
