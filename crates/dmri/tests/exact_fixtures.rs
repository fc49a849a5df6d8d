//! Accuracy beyond the reference: DTI and DKI WLS/OLS against high-precision (mpmath, 50-digit)
//! solutions of DIPY 1.12.1's own least-squares problems, next to DIPY's float64 answers, on the
//! fixtures in `fixtures/dipy_exact` (written by its `generate.py`: unseen random schemes, DTI
//! single shells at b 600-1500, DKI two and three shells such as b = 2000/2500, and sampled voxels
//! of the real `small_64D` and `small_101D`).
//!
//! Distances ("errors") are relative: eigenvalues, tensor elements, MD, AD and RD to the voxel's
//! largest exact eigenvalue; FA absolute; S0 to itself; kurtosis-tensor elements to the voxel's
//! largest one (at least 1); MK, AK and RK to their value (at least 0.1: kurtoses are O(1)).
//!
//! What is asserted, per voxel and quantity (cond: the 2-norm condition number of the
//! column-scaled, weighted design that voxelkit factors, recorded by the generator: 5-20 for the
//! DTI schemes, 17-220 for DKI):
//! * voxelkit's error is at most [`K_COND`] x cond x eps. voxelkit solves the scaled problem
//!   (normal equations on unit-norm columns; DKI WLS with one step of iterative refinement, DTI
//!   OLS and DKI OLS through the scaled pseudo-inverse), whose error in the parameters relative
//!   to their vector is O(cond eps) (O(cond^2 eps) for the unrefined DTI WLS, cond <= 20 there);
//!   the factor covers the step from that normwise bound to one component (log S0 ~ 7 while the
//!   scaled tensor elements are ~1), the division by MD^2 in the kurtosis tensor and the ratios
//!   and elliptic integrals of the kurtosis maps. Observed: at most 174 cond eps (DKI MK), 43
//!   (DTI). With the fixtures' cond the bound is 1e-12 to 5e-11, where DIPY is up to 1e-8 off;
//! * voxelkit is at least as close to the exact answer as DIPY, up to the float64 floor:
//!   [`FLOOR`] x cond x eps plus [`ULPS`] ulps of the value. Where both are at that floor, which
//!   one lands closer is chance; observed, DIPY is closer by at most 37 cond eps (DTI WLS S0:
//!   DIPY's SVD treats the column of ones better than normal equations, 1e-14 vs 6e-14).
//!
//! Voxels whose answer sits within [`MARGIN`] (relative) of a discrete decision of DIPY's
//! definition (the eigenvalue floor, the 2.5 % equal-eigenvalue rules, Carlson's stopping rule,
//! the clipping of the kurtoses) are left out of the quantities the decision affects: either
//! side of it is right there. The maxima of both distances are printed (`--nocapture`).

mod common;

use common::{cases, gtab_of, num, nums, shared_data, usizes};
use serde_json::Value;
use voxelkit_core::Control;
use voxelkit_dmri::dki_maps::KurtosisMap;
use voxelkit_dmri::maps::{lower_triangular_at, scalar, ScalarMap};
use voxelkit_dmri::{fit_dti, DkiMethod, DtiFit, DtiMethod, DtiOptions};
use voxelkit_io::VolumeData;

/// voxelkit's error bound, in units of cond x eps (see the module docs).
const K_COND: f64 = 1024.0;
/// The float64 floor, in units of cond x eps, within which DIPY may be closer by chance.
const FLOOR: f64 = 64.0;
/// And in ulps of the value (the exact answer is itself rounded to float64).
const ULPS: f64 = 4.0;
/// Decisions closer than this to their thresholds are left out.
const MARGIN: f64 = 1e-6;

/// Largest errors seen per (model method, quantity): voxelkit's and DIPY's.
#[derive(Default)]
struct Maxima(Vec<(String, f64, f64)>);

impl Maxima {
    fn add(&mut self, key: String, vk: f64, dipy: f64) {
        match self.0.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, a, b)) => {
                *a = a.max(vk);
                *b = b.max(dipy);
            }
            None => self.0.push((key, vk, dipy)),
        }
    }

    fn report(&self) {
        for (k, vk, dipy) in &self.0 {
            eprintln!(
                "distance to the exact answer {k:>16}: voxelkit {vk:.1e}, DIPY 1.12.1 {dipy:.1e}"
            );
        }
    }
}

/// Checks one value of one voxel: voxelkit's `got` and DIPY's `dipy` against the exact `want`,
/// errors relative to `scale`.
#[allow(clippy::too_many_arguments)]
fn check(
    max: &mut Maxima,
    what: &str,
    key: &str,
    got: f64,
    dipy: f64,
    want: f64,
    scale: f64,
    cond: f64,
) {
    let vk = (got - want).abs() / scale;
    let dp = (dipy - want).abs() / scale;
    let bound = K_COND * cond * f64::EPSILON;
    assert!(
        vk <= bound,
        "{what}: voxelkit {got:e}, exact {want:e}: error {vk:.2e} > {bound:.2e} (cond {cond:.1})"
    );
    let floor = (FLOOR * cond + ULPS * want.abs() / scale) * f64::EPSILON;
    assert!(
        vk <= dp + floor,
        "{what}: voxelkit {got:e} is farther from the exact {want:e} ({vk:.2e}) than DIPY's {dipy:e} ({dp:.2e})"
    );
    max.add(key.to_string(), vk, dp);
}

/// The case's data as f64 (synthetic float64 or int16, or the real file it names: integers
/// and float64 are exact in f64, and DIPY logs them in float64 too).
fn case_data(c: &Value) -> Option<Vec<f64>> {
    let input = &c["input"];
    if input["source"] == "synthetic" {
        return Some(nums(&input["data"]));
    }
    Some(
        match shared_data(input, c["name"].as_str().unwrap_or("case"))? {
            VolumeData::I16(d) => d.iter().map(|&x| x as f64).collect(),
            VolumeData::U16(d) => d.iter().map(|&x| x as f64).collect(),
            other => panic!("unexpected dtype {}", other.dtype()),
        },
    )
}

fn dti_fit(c: &Value, method: DtiMethod) -> Option<DtiFit> {
    let input = &c["input"];
    let shape = usizes(&input["shape"]);
    let nvox: usize = shape[..shape.len() - 1].iter().product();
    let gtab = gtab_of(input).unwrap();
    let opts = DtiOptions {
        method,
        return_s0: true,
        ..Default::default()
    };
    let data = case_data(c)?;
    Some(fit_dti(&data, nvox, &gtab, None, &opts, &Control::new()).unwrap())
}

fn arr(v: &Value, key: &str) -> Vec<f64> {
    nums(&v[key])
}

#[test]
fn dti_closer_to_the_exact_answer_than_dipy() {
    let mut max = Maxima::default();
    let mut voxels = 0;
    for (file, c) in cases("fixtures/dipy_exact") {
        if c["model"] != "dti" {
            continue;
        }
        for (mname, method) in [("WLS", DtiMethod::Wls), ("OLS", DtiMethod::Ols)] {
            let Some(fit) = dti_fit(&c, method) else {
                continue;
            };
            let nvox = fit.nvox;
            let s0 = fit.s0.as_ref().unwrap();
            for rec in c["results"][mname]["voxels"].as_array().unwrap() {
                let v = rec["voxel"].as_u64().unwrap() as usize;
                let (dp, ex) = (&rec["dipy"], &rec["exact"]);
                let cond = num(&ex["cond"]);
                let ev: [f64; 3] = std::array::from_fn(|k| fit.evals[k * nvox + v]);
                let ev_ex = arr(ex, "evals");
                let lam = ev_ex.iter().fold(0f64, |a, &b| a.max(b.abs()));
                let what = |q: &str| format!("{file} {mname} voxel {v} {q}");
                let key = |q: &str| format!("DTI {mname} {q}");
                if num(&ex["floor_margin"]) < MARGIN {
                    continue; // an eigenvalue at DIPY's floor: either side is right
                }
                for k in 0..3 {
                    let q = format!("eval{k}");
                    let (d, e) = (arr(dp, "evals")[k], ev_ex[k]);
                    check(&mut max, &what(&q), &key("evals"), ev[k], d, e, lam, cond);
                }
                let lt = lower_triangular_at(&fit.evals, &fit.evecs, nvox, v);
                for k in 0..6 {
                    let (d, e) = (
                        arr(dp, "lower_triangular")[k],
                        arr(ex, "lower_triangular")[k],
                    );
                    check(
                        &mut max,
                        &what("tensor"),
                        &key("tensor"),
                        lt[k],
                        d,
                        e,
                        lam,
                        cond,
                    );
                }
                for (q, m, sc) in [
                    ("fa", ScalarMap::Fa, 1.0),
                    ("md", ScalarMap::Md, lam),
                    ("ad", ScalarMap::Ad, lam),
                    ("rd", ScalarMap::Rd, lam),
                ] {
                    let (d, e) = (arr(dp, q)[0], arr(ex, q)[0]);
                    check(&mut max, &what(q), &key(q), scalar(m, ev), d, e, sc, cond);
                }
                let (d, e) = (arr(dp, "s0")[0], arr(ex, "s0")[0]);
                check(
                    &mut max,
                    &what("s0"),
                    &key("s0"),
                    s0[v],
                    d,
                    e,
                    e.abs(),
                    cond,
                );
                voxels += 1;
            }
        }
    }
    max.report();
    if voxels == 0 {
        panic!("no DTI voxel was checked");
    }
    // 4 synthetic cases x 24 voxels x 2 methods; the real-data case adds 48 where ../shared is
    assert!(voxels >= 190, "only {voxels} DTI voxel fits were checked");
}

#[test]
fn dki_closer_to_the_exact_answer_than_dipy() {
    let mut max = Maxima::default();
    let mut voxels = 0;
    for (file, c) in cases("fixtures/dipy_exact") {
        if c["model"] != "dki" {
            continue;
        }
        for (mname, method) in [("WLS", DkiMethod::Wls), ("OLS", DkiMethod::Ols)] {
            let Some(fit) = common::load(&c, &file, method, None) else {
                continue;
            };
            let fit = fit.unwrap();
            let nvox = fit.nvox;
            let s0 = fit.s0.as_ref().unwrap();
            let kmaps = [
                ("mk", common::kurtosis(&fit, KurtosisMap::Mk, true)),
                ("ak", common::kurtosis(&fit, KurtosisMap::Ak, true)),
                ("rk", common::kurtosis(&fit, KurtosisMap::Rk, true)),
            ];
            for rec in c["results"][mname]["voxels"].as_array().unwrap() {
                let v = rec["voxel"].as_u64().unwrap() as usize;
                let (dp, ex) = (&rec["dipy"], &rec["exact"]);
                let cond = num(&ex["cond"]);
                let what = |q: &str| format!("{file} {mname} voxel {v} {q}");
                let key = |q: &str| format!("DKI {mname} {q}");
                if num(&ex["floor_margin"]) < MARGIN {
                    continue;
                }
                let ev_ex = arr(ex, "evals");
                let lam = ev_ex.iter().fold(0f64, |a, &b| a.max(b.abs()));
                for k in 0..3 {
                    let (d, e) = (arr(dp, "evals")[k], ev_ex[k]);
                    let got = fit.evals[k * nvox + v];
                    check(
                        &mut max,
                        &what("evals"),
                        &key("evals"),
                        got,
                        d,
                        e,
                        lam,
                        cond,
                    );
                }
                let kt_ex = arr(ex, "kt");
                let kscale = kt_ex.iter().fold(1f64, |a, &b| a.max(b.abs()));
                for k in 0..15 {
                    let (d, e) = (arr(dp, "kt")[k], kt_ex[k]);
                    let got = fit.kt[k * nvox + v];
                    check(&mut max, &what("kt"), &key("kt"), got, d, e, kscale, cond);
                }
                if num(&ex["map_margin"]) >= MARGIN {
                    for (q, m) in &kmaps {
                        let (d, e) = (arr(dp, q)[0], arr(ex, q)[0]);
                        check(
                            &mut max,
                            &what(q),
                            &key(q),
                            m[v],
                            d,
                            e,
                            e.abs().max(0.1),
                            cond,
                        );
                    }
                }
                let (d, e) = (arr(dp, "s0")[0], arr(ex, "s0")[0]);
                check(
                    &mut max,
                    &what("s0"),
                    &key("s0"),
                    s0[v],
                    d,
                    e,
                    e.abs(),
                    cond,
                );
                voxels += 1;
            }
        }
    }
    max.report();
    // 4 synthetic cases x 16 voxels x 2 methods; the real-data case adds 32 where ../shared is
    assert!(voxels >= 120, "only {voxels} DKI voxel fits were checked");
}

/// voxelkit's NLLS distance to the exact minimiser (relative to the voxel's largest eigenvalue),
/// as `tests/dti_nlls_fixtures.rs` bounds it on well-conditioned voxels.
const NLLS_EXACT_TOL: f64 = 1e-9;

/// Largest eigenvalue difference of voxel `v` relative to the largest of `want`.
fn evals_dist(got: &[f64], want: &[f64]) -> f64 {
    let lam = want.iter().fold(1e-300f64, |a, &b| a.max(b.abs()));
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs() / lam)
        .fold(0.0, f64::max)
}

#[test]
fn nlls_from_given_starts_reaches_dipys_optimum() {
    let (file, c) = cases("fixtures/dipy_exact")
        .into_iter()
        .find(|(_, c)| c["model"] == "dti_nlls_init")
        .expect("the init_params case");
    let input = &c["input"];
    let shape = usizes(&input["shape"]);
    let nvox: usize = shape[..3].iter().product();
    let gtab = gtab_of(input).unwrap();
    let data = nums(&input["data"]);
    let fit = |init: Option<Vec<f64>>, threads: Option<usize>| {
        let opts = DtiOptions {
            method: DtiMethod::Nlls,
            return_s0: true,
            init_params: init,
            threads,
            ..Default::default()
        };
        fit_dti(&data, nvox, &gtab, None, &opts, &Control::new()).unwrap()
    };
    let default = fit(None, None);
    let (mut worst_vk, mut worst_dipy) = (0f64, 0f64);
    for start in ["perturbed", "isotropic"] {
        let r = &c["results"][start];
        let init = nums(&r["init_params"]);
        let f = fit(Some(init.clone()), Some(1));
        // the start is used: another path to the optimum ends on other float64 bits (an ignored
        // start would repeat the default fit bit for bit)
        let moved = (0..nvox)
            .filter(|&v| (0..3).any(|k| f.evals[k * nvox + v] != default.evals[k * nvox + v]))
            .count();
        eprintln!("{start}: {moved} of {nvox} voxels end on other bits than from the OLS start");
        assert!(
            moved >= nvox / 2,
            "{file} {start}: only {moved} voxels moved"
        );
        // the thread count changes no bit
        assert_eq!(
            f,
            fit(Some(init), Some(2)),
            "{file} {start}: 1 vs 2 threads"
        );
        for rec in r["voxels"].as_array().unwrap() {
            let v = rec["voxel"].as_u64().unwrap() as usize;
            let got: Vec<f64> = (0..3).map(|k| f.evals[k * nvox + v]).collect();
            let (dp, ex) = (arr(&rec["dipy"], "evals"), arr(&rec["exact"], "evals"));
            let (dv, dd) = (evals_dist(&got, &ex), evals_dist(&dp, &ex));
            // the optimum DIPY converges to from this start, to voxelkit's tolerance ...
            assert!(
                dv <= NLLS_EXACT_TOL,
                "{file} {start} voxel {v}: voxelkit {got:?} is {dv:.2e} from the exact {ex:?}"
            );
            // ... which is DIPY's answer up to where MINPACK stopped
            assert!(
                evals_dist(&got, &dp) <= dd + NLLS_EXACT_TOL,
                "{file} {start} voxel {v}: voxelkit {got:?} vs DIPY {dp:?} (DIPY {dd:.2e} from the exact)"
            );
            // the same optimum as from the default (OLS) start
            let def: Vec<f64> = (0..3).map(|k| default.evals[k * nvox + v]).collect();
            assert!(
                evals_dist(&got, &def) <= 2.0 * NLLS_EXACT_TOL,
                "{file} {start} voxel {v}: {got:?} from the given start, {def:?} from OLS"
            );
            let s0 = f.s0.as_ref().unwrap()[v];
            let s0_dipy = arr(&rec["dipy"], "s0")[0];
            let s0_exact = (-arr(&rec["exact"], "params")[6]).exp();
            assert!(
                (s0 - s0_exact).abs() <= NLLS_EXACT_TOL * s0_exact,
                "{file} {start} voxel {v} S0"
            );
            assert!(
                (s0 - s0_exact).abs() <= (s0_dipy - s0_exact).abs() + NLLS_EXACT_TOL * s0_exact
            );
            worst_vk = worst_vk.max(dv);
            worst_dipy = worst_dipy.max(dd);
        }
    }
    eprintln!(
        "NLLS from given starts, distance of the eigenvalues to the exact minimiser: voxelkit {worst_vk:.1e}, DIPY 1.12.1 {worst_dipy:.1e}"
    );
}

#[test]
fn nlls_init_params_bad_input() {
    let (_, c) = cases("fixtures/dipy_exact")
        .into_iter()
        .find(|(_, c)| c["model"] == "dti_nlls_init")
        .expect("the init_params case");
    let input = &c["input"];
    let nvox = 12;
    let gtab = gtab_of(input).unwrap();
    let data = nums(&input["data"]);
    let good = nums(&c["results"]["perturbed"]["init_params"]);
    let run = |method: DtiMethod, init: Vec<f64>| {
        let opts = DtiOptions {
            method,
            init_params: Some(init),
            ..Default::default()
        };
        fit_dti(&data, nvox, &gtab, None, &opts, &Control::new())
            .map(|_| ())
            .unwrap_err()
            .code
    };
    use voxelkit_core::Code;
    // 7 values per voxel, for every voxel
    assert_eq!(
        run(DtiMethod::Nlls, good[..7 * nvox - 7].to_vec()),
        Code::Shape
    );
    assert_eq!(
        run(DtiMethod::Nlls, good[..7 * nvox - 1].to_vec()),
        Code::Shape
    );
    assert_eq!(run(DtiMethod::Nlls, Vec::new()), Code::Shape);
    // finite values only
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut p = good.clone();
        p[5 * nvox + 3] = bad;
        assert_eq!(run(DtiMethod::Nlls, p), Code::Setting);
    }
    // only NLLS takes a start (DIPY's restore_fit_tensor, wls_ and ols_fit_tensor have none)
    for m in [DtiMethod::Wls, DtiMethod::Ols, DtiMethod::Restore] {
        assert_eq!(run(m, good.clone()), Code::Setting, "{m:?}");
    }
    let dki = voxelkit_dmri::DkiOptions {
        init_params: Some(good.clone()),
        ..Default::default()
    };
    let (_, dki_case) = cases("fixtures/dipy_exact")
        .into_iter()
        .find(|(_, c)| c["model"] == "dki")
        .unwrap();
    let dki_gtab = gtab_of(&dki_case["input"]).unwrap();
    let e = voxelkit_dmri::fit_dki(
        &vec![1.0; dki_gtab.len()],
        1,
        &dki_gtab,
        None,
        &dki,
        &Control::new(),
    )
    .unwrap_err();
    assert_eq!(e.code, Code::Setting);
}
