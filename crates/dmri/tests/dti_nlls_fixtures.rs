//! DTI NLLS and RESTORE against DIPY 1.12.1 and against the high-precision solutions of the same
//! problems, on the fixtures in `fixtures/dipy_nlls` (written by its `generate.py`).
//!
//! DIPY minimises with MINPACK's default tolerances, which stop 1e-8 to 1e-5 (relative) short of
//! the optimum on real data; voxelkit converges to the float64 rounding floor. So:
//! * NLLS objective: voxelkit's value at its solution is at most DIPY's at DIPY's plus
//!   [`F_RTOL`] of it (rounding of the sum);
//! * parameters: voxelkit is within [`EXACT_TOL`] of the 40-digit solution wherever the scaled
//!   Jacobian's condition number is below [`COND_MAX`], and never farther from it than DIPY;
//! * maps: eigenvalues within [`MAP_RTOL`] of DIPY's (relative to the voxel's largest), or,
//!   where DIPY stopped farther than that from the optimum, closer to the exact solution than
//!   DIPY's;
//! * RESTORE: the same rejected volumes as DIPY in every voxel where DIPY's decisions are not
//!   within [`MARGIN`] of their thresholds; where they are, the same as the exact run of
//!   DIPY's algorithm (every optimisation exact).

mod common;

use common::{cases, gtab_of, mask_of, num, nums, shared_data, usizes};
use nalgebra::DMatrix;
use serde_json::Value;
use voxelkit_core::{Control, Sample};
use voxelkit_dmri::dti::{design_matrix, DtiModel};
use voxelkit_dmri::maps::{scalar_map, ScalarMap};
use voxelkit_dmri::{fit_dti, DtiFit, DtiMethod, DtiOptions, FitModel, FitStatus};
use voxelkit_io::VolumeData;

/// Rounding allowance of the objective (relative).
const F_RTOL: f64 = 1e-12;
/// voxelkit's largest distance to the exact solution where the problem is well-conditioned.
const EXACT_TOL: f64 = 1e-9;
/// Scaled-Jacobian condition numbers up to this count as well-conditioned.
const COND_MAX: f64 = 1e4;
/// Map agreement with DIPY where DIPY converged.
const MAP_RTOL: f64 = 1e-6;
/// RESTORE decisions closer than this (relative) to their thresholds may go either way.
const MARGIN: f64 = 1e-6;

enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I16(Vec<i16>),
    U16(Vec<u16>),
}

fn load(c: &Value) -> Option<Data> {
    let input = &c["input"];
    if input["source"] == "synthetic" {
        let d = nums(&input["data"]);
        return Some(match input["dtype"].as_str().unwrap() {
            "float32" => Data::F32(d.iter().map(|&x| x as f32).collect()),
            "float64" => Data::F64(d),
            "int16" => Data::I16(d.iter().map(|&x| x as i16).collect()),
            other => panic!("dtype {other}"),
        });
    }
    Some(
        match shared_data(input, c["name"].as_str().unwrap_or("case"))? {
            VolumeData::I16(d) => Data::I16(d),
            VolumeData::U16(d) => Data::U16(d),
            other => panic!("unexpected dtype {}", other.dtype()),
        },
    )
}

fn opts_of(input: &Value, method: DtiMethod) -> DtiOptions {
    DtiOptions {
        method,
        min_signal: input["min_signal"].as_f64(),
        return_s0: true,
        weights: (method == DtiMethod::Nlls && input.get("weights").is_some())
            .then(|| nums(&input["weights"])),
        sigma: (method == DtiMethod::Restore && input.get("sigma").is_some())
            .then(|| nums(&input["sigma"])),
        fail_is_nan: input["fail_is_nan"].as_bool().unwrap_or(false),
        ..Default::default()
    }
}

fn fit(d: &Data, nvox: usize, input: &Value, opts: &DtiOptions) -> DtiFit {
    let gtab = gtab_of(input).unwrap();
    let mask = mask_of(input);
    let ctl = Control::new();
    let m = mask.as_deref();
    match d {
        Data::F32(x) => fit_dti(x, nvox, &gtab, m, opts, &ctl),
        Data::F64(x) => fit_dti(x, nvox, &gtab, m, opts, &ctl),
        Data::I16(x) => fit_dti(x, nvox, &gtab, m, opts, &ctl),
        Data::U16(x) => fit_dti(x, nvox, &gtab, m, opts, &ctl),
    }
    .unwrap()
}

/// DIPY's clipped signal of voxel `v` as float64 (float32 data clip in float32).
fn clipped(d: &Data, nvox: usize, n: usize, v: usize, ms: f64) -> Vec<f64> {
    fn get<T: Sample>(x: &[T], nvox: usize, n: usize, v: usize, ms: f64) -> Vec<f64> {
        (0..n)
            .map(|k| {
                let s = x[k * nvox + v];
                if T::IS_F32 {
                    (s.to_f64() as f32).max(ms as f32) as f64
                } else {
                    s.to_f64().max(ms)
                }
            })
            .collect()
    }
    match d {
        Data::F32(x) => get(x, nvox, n, v, ms),
        Data::F64(x) => get(x, nvox, n, v, ms),
        Data::I16(x) => get(x, nvox, n, v, ms),
        Data::U16(x) => get(x, nvox, n, v, ms),
    }
}

fn params_at(all: &[f64], nvox: usize, v: usize) -> [f64; 7] {
    std::array::from_fn(|j| all[j * nvox + v])
}

/// Relative distance of two parameter vectors: the tensor's largest entry difference over its
/// largest entry, and the difference of `log S0` (a relative S0 difference).
fn dist(p: &[f64; 7], q: &[f64; 7]) -> f64 {
    let scale = q[..6].iter().fold(1e-6f64, |m, x| m.max(x.abs()));
    let dt = (0..6).fold(0.0f64, |m, j| m.max((p[j] - q[j]).abs()));
    (dt / scale).max((p[6] - q[6]).abs())
}

/// Condition number of the scaled Jacobian `diag(sqrt(w) y) X D` at `p` (unit-norm columns).
fn jac_cond(x: &[[f64; 7]], p: &[f64; 7], w: &[f64], keep: &[bool]) -> f64 {
    let rows: Vec<usize> = (0..x.len()).filter(|&i| keep[i] && w[i] > 0.0).collect();
    let mut j = DMatrix::from_fn(rows.len(), 7, |r, c| {
        let i = rows[r];
        let eta: f64 = (0..7).map(|k| x[i][k] * p[k]).sum();
        w[i].sqrt() * eta.exp() * x[i][c]
    });
    for c in 0..7 {
        let nrm = j.column(c).norm();
        if nrm > 0.0 {
            j.column_mut(c).scale_mut(1.0 / nrm);
        }
    }
    let sv = j.singular_values();
    let (mx, mn) = sv
        .iter()
        .fold((0.0f64, f64::INFINITY), |(a, b), &s| (a.max(s), b.min(s)));
    mx / mn
}

fn rejected_of(f: &DtiFit, v: usize, n: usize) -> Vec<usize> {
    let nb = f.rejected_bytes;
    (0..n)
        .filter(|&k| f.rejected[v * nb + k / 8] & (1 << (k % 8)) != 0)
        .collect()
}

#[derive(Default, Debug)]
struct Stats {
    voxels: usize,
    vk_exact_max: f64,
    dipy_exact_max: f64,
    map_dipy_max: f64,
    arbitrated: usize,
    ill_conditioned: usize,
    rejected_borderline: usize,
    other_minimum: usize,
    noise_free: usize,
}

#[test]
fn nlls_and_restore_match_dipy_and_the_exact_solutions() {
    let mut stats = [Stats::default(), Stats::default()];
    let mut checked = 0;
    for (file, c) in cases("fixtures/dipy_nlls") {
        let input = &c["input"];
        let shape = usizes(&input["shape"]);
        let n = *shape.last().unwrap();
        let nvox: usize = shape[..shape.len() - 1].iter().product();
        let Some(data) = load(&c) else { continue };
        let gtab = gtab_of(input).unwrap();
        let model = DtiModel::new(&gtab).unwrap();
        let x = design_matrix(&gtab);
        let ms = input["min_signal"].as_f64().unwrap_or(1e-4);
        let mask = mask_of(input);
        for (mi, (mname, method)) in [("NLLS", DtiMethod::Nlls), ("RESTORE", DtiMethod::Restore)]
            .into_iter()
            .enumerate()
        {
            let r = &c["results"][mname];
            if r.get("skipped").is_some() {
                continue;
            }
            assert!(r.get("error").is_none(), "{file} {mname}: {}", r["error"]);
            let st = &mut stats[mi];
            let opts = opts_of(input, method);
            let f = fit(&data, nvox, input, &opts);
            let ev = nums(&r["evals"]);
            let dp_all = nums(&r["params"]);
            let fallback = usizes(&r["fallback"]);
            let w: Vec<f64> = opts.weights.clone().unwrap_or_else(|| vec![1.0; n]);
            let fa = scalar_map(ScalarMap::Fa, &f.evals);
            let fa_ref = nums(&r["fa"]);
            let mut scratch = model.scratch();
            for v in 0..nvox {
                if mask.as_ref().is_some_and(|m| m[v] == 0) {
                    assert_eq!(f.status[v], FitStatus::Masked as u8);
                    continue;
                }
                st.voxels += 1;
                let sig = clipped(&data, nvox, n, v, ms);
                let (p, status, flags) = model.fit_signal(&opts, &sig, &mut scratch).unwrap();
                assert_ne!(status, FitStatus::NotConverged, "{file} {mname} voxel {v}");
                let dp = params_at(&dp_all, nvox, v);
                let ex = r["exact"].get(v.to_string());
                let exact = ex.map(|e| {
                    let q = nums(&e["params"]);
                    std::array::from_fn::<f64, 7, _>(|j| q[j])
                });
                let tag = format!("{file} {mname} voxel {v}");
                // RESTORE: the rejected volumes and the problem of the final fit
                let mut keep = vec![true; n];
                let mut final_w = w.clone();
                let mut gm_final = false;
                if method == DtiMethod::Restore {
                    let got = rejected_of(&f, v, n);
                    let mut got_single = Vec::new();
                    for k in 0..n {
                        if flags[k / 8] & (1 << (k % 8)) != 0 {
                            got_single.push(k);
                        }
                    }
                    assert_eq!(
                        got, got_single,
                        "{tag}: volume and single-voxel fits differ"
                    );
                    let want = usizes(&r["rejected"][v]);
                    let e = ex.expect("RESTORE fixtures have an exact run for every voxel");
                    let margin = num(&e["margin"]);
                    if e.get("noise_free").is_some() {
                        // DIPY's noise estimate is rounding noise there, and so are its decisions
                        assert_eq!(got, usizes(&e["rejected"]), "{tag}: noise-free voxel");
                        st.noise_free += 1;
                        continue;
                    }
                    if got != want {
                        let branch = e.get("dipy_minimum_at_call").is_some();
                        assert!(
                            margin < MARGIN || branch,
                            "{tag}: rejected {got:?}, DIPY {want:?} (decision margin {margin:e})"
                        );
                        assert_eq!(
                            got,
                            usizes(&e["rejected"]),
                            "{tag}: not the exact run's either"
                        );
                        if branch {
                            st.other_minimum += 1;
                        } else {
                            st.rejected_borderline += 1;
                        }
                        continue;
                    }
                    if margin < MARGIN {
                        st.rejected_borderline += 1;
                        continue;
                    }
                    if e["fallback"].as_bool().unwrap() || fallback[v] != 0 {
                        assert_eq!(status, FitStatus::StartFallback, "{tag}");
                        assert_eq!(fallback[v], 1, "{tag}: DIPY did not fall back");
                        continue;
                    }
                    for &k in &got {
                        keep[k] = false;
                    }
                    // the final fit is the last reweighted round where nothing was rejected
                    // after rounds: its objective depends on the whole chain
                    gm_final = got.is_empty() && usizes(&r["rounds"])[v] > 0;
                    final_w = w.clone();
                } else {
                    assert_eq!(fallback[v], 0, "{tag}: DIPY fell back");
                }
                assert_eq!(
                    f.status[v], status as u8,
                    "{tag}: volume and single-voxel status"
                );
                let wk: Vec<f64> = (0..n)
                    .map(|i| if keep[i] { final_w[i] } else { 0.0 })
                    .collect();
                // several local minima, DIPY's optimiser in another one than the damped Newton
                // path from the OLS start: voxelkit must be at the latter's
                let several = ex.is_some_and(|e| e.get("dipy_minimum").is_some());
                if several {
                    st.other_minimum += 1;
                    let e = exact.unwrap();
                    let dv = dist(&p, &e);
                    assert!(
                        dv <= EXACT_TOL,
                        "{tag}: {dv:e} from the exact solution (several minima)"
                    );
                    continue;
                }
                if !gm_final {
                    let fv = model.nlls_objective(&p, &sig, Some(&wk));
                    let fd = model.nlls_objective(&dp, &sig, Some(&wk));
                    // rounding of a zero residual sum: (n eps)^2 sum w s^2
                    let ss: f64 = sig.iter().zip(&wk).map(|(s, w)| w * s * s).sum();
                    let floor = (n as f64 * f64::EPSILON).powi(2) * ss;
                    assert!(
                        fv <= fd * (1.0 + F_RTOL) + floor,
                        "{tag}: objective {fv:e} > DIPY's {fd:e}"
                    );
                }
                let cond = exact
                    .map(|e| jac_cond(&x, &e, &wk, &keep))
                    .unwrap_or(f64::INFINITY);
                if let Some(e) = &exact {
                    let dv = dist(&p, e);
                    let dd = dist(&dp, e);
                    if cond < COND_MAX {
                        st.vk_exact_max = st.vk_exact_max.max(dv);
                        st.dipy_exact_max = st.dipy_exact_max.max(dd);
                        assert!(
                            dv <= EXACT_TOL,
                            "{tag}: {dv:e} from the exact solution (cond {cond:e}, DIPY {dd:e})"
                        );
                    } else {
                        st.ill_conditioned += 1;
                    }
                    assert!(
                        dv <= dd.max(EXACT_TOL),
                        "{tag}: farther from the exact solution than DIPY ({dv:e} > {dd:e}, cond {cond:e})"
                    );
                }
                // maps of the volume fit
                let lam1 = (0..3)
                    .map(|k| ev[k * nvox + v].abs())
                    .fold(1e-300, f64::max);
                let mut worst = 0.0f64;
                for k in 0..3 {
                    worst = worst.max((f.evals[k * nvox + v] - ev[k * nvox + v]).abs() / lam1);
                }
                worst = worst.max((fa[v] - fa_ref[v]).abs());
                if worst > MAP_RTOL {
                    let e = exact.unwrap_or_else(|| {
                        panic!("{tag}: maps {worst:e} from DIPY's, no exact solution")
                    });
                    let (dv, dd) = (dist(&p, &e), dist(&dp, &e));
                    assert!(dv < dd, "{tag}: maps {worst:e} from DIPY's and not closer to the exact ({dv:e} vs {dd:e})");
                    st.arbitrated += 1;
                } else {
                    st.map_dipy_max = st.map_dipy_max.max(worst);
                }
            }
            checked += 1;
        }
    }
    for (m, s) in ["NLLS", "RESTORE"].iter().zip(&stats) {
        eprintln!("{m}: {s:?}");
    }
    assert!(
        checked >= 20,
        "only {checked} case/method pairs were checked"
    );
}
