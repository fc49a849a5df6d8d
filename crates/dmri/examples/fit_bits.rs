//! Bit-identity check for kernel tuning: fits every DTI and DKI fixture input (fixtures/dipy,
//! dipy_nlls, dipy_exact, dipy_dki; the real-data cases read ../shared and are skipped with a
//! message where it is absent) and the NIfTI series given on the command line, with every
//! unconstrained method, at 1, 2 and 3 threads and (`base`) at 1 thread on the baseline
//! instruction set (the non-linear fits of large inputs excepted), and prints an FNV-1a hash of
//! all outputs (evals, evecs, kt, S0, status, rejected volumes, the FA/MD/AD/RD maps and, for
//! the fixtures' DTI fits, the predicted signal with the fitted S0) per input and method. A
//! tuning change must leave every line unchanged (and every thread count and instruction set of
//! an input and method must print the same hash): run it before and after and `diff` the
//! outputs. (Not a test: the real-data inputs take seconds in release mode.)
//!
//! `cargo run --release -p voxelkit-dmri --example fit_bits -- [X.nii X.bval X.bvec]...`
//!
//! With `--time METHOD RUNS X.nii X.bval X.bvec` it instead times RUNS fits + maps of one
//! series at one thread (for `perf stat`: the fit dominates, the reading is done once).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{cases, gtab_of, mask_of, nums, usizes};
use serde_json::Value;
use std::time::Instant;
use voxelkit_core::fnv::Fnv;
use voxelkit_core::{Control, Sample};
use voxelkit_dmri::maps::{scalar_map, ScalarMap};
use voxelkit_dmri::predict::{predict, S0};
use voxelkit_dmri::{
    fit_dki, fit_dti, DkiMethod, DkiOptions, DtiMethod, DtiOptions, GradientTable,
};
use voxelkit_io::{read_nifti, NiftiOptions, VolumeData};

/// Hash of a DTI fit and its FA/MD/AD/RD maps (and, for small inputs, its prediction), or of
/// the error code. `threads` 0: one thread on the baseline instruction set.
fn dti_hash<T: Sample>(
    d: &[T],
    nvox: usize,
    gtab: &GradientTable,
    mask: Option<&[u8]>,
    min_signal: Option<f64>,
    method: DtiMethod,
    threads: usize,
) -> String {
    let o = DtiOptions {
        method,
        min_signal,
        return_s0: true,
        threads: Some(threads.max(1)),
        force_baseline_isa: threads == 0,
        ..Default::default()
    };
    match fit_dti(d, nvox, gtab, mask, &o, &Control::new()) {
        Err(e) => format!("error {:?}", e.code),
        Ok(f) => {
            let mut h = Fnv::new();
            h.f64s(&f.evals);
            h.f64s(&f.evecs);
            h.f64s(f.s0.as_deref().unwrap_or(&[]));
            h.bytes(&f.status);
            h.bytes(&f.rejected);
            for m in [ScalarMap::Fa, ScalarMap::Md, ScalarMap::Ad, ScalarMap::Rd] {
                h.f64s(&scalar_map(m, &f.evals));
            }
            let mut pred = String::new();
            if nvox * gtab.len() <= 1 << 20 {
                let s0 = S0::PerVoxel(f.s0.as_deref().unwrap());
                let ctl = Control::new();
                let mut hp = Fnv::new();
                hp.f64s(&predict(&f.evals, &f.evecs, gtab, s0, Some(1), &ctl).unwrap());
                pred = format!(" predict {:016x}", hp.0);
            }
            let mut st = [0usize; 8];
            for &x in &f.status {
                st[x as usize] += 1;
            }
            format!("{:016x} status {st:?}{pred}", h.0)
        }
    }
}

fn dki_hash<T: Sample>(
    d: &[T],
    nvox: usize,
    gtab: &GradientTable,
    mask: Option<&[u8]>,
    min_signal: Option<f64>,
    method: DkiMethod,
    threads: usize,
) -> String {
    let o = DkiOptions {
        method,
        min_signal,
        return_s0: true,
        threads: Some(threads.max(1)),
        force_baseline_isa: threads == 0,
        ..Default::default()
    };
    match fit_dki(d, nvox, gtab, mask, &o, &Control::new()) {
        Err(e) => format!("error {:?}", e.code),
        Ok(f) => {
            let mut h = Fnv::new();
            h.f64s(&f.evals);
            h.f64s(&f.evecs);
            h.f64s(&f.kt);
            h.f64s(f.s0.as_deref().unwrap_or(&[]));
            h.bytes(&f.status);
            format!("{:016x}", h.0)
        }
    }
}

const DTI: [(&str, DtiMethod); 4] = [
    ("WLS", DtiMethod::Wls),
    ("OLS", DtiMethod::Ols),
    ("NLLS", DtiMethod::Nlls),
    ("RESTORE", DtiMethod::Restore),
];
const DKI: [(&str, DkiMethod); 2] = [("WLS", DkiMethod::Wls), ("OLS", DkiMethod::Ols)];

/// Every DTI (and, with `dki`, DKI) method on one input, at 1, 2 and 3 threads and at one
/// thread on the baseline instruction set (`base`).
fn all_methods<T: Sample>(
    name: &str,
    d: &[T],
    nvox: usize,
    gtab: &GradientTable,
    mask: Option<&[u8]>,
    min_signal: Option<f64>,
    dki: bool,
) {
    // the baseline build's fused multiply-adds are C library calls: its non-linear fits of the
    // large series would take minutes, so they are checked on the fixtures only
    let small = nvox * gtab.len() <= 1 << 20;
    for threads in [1, 2, 3, 0] {
        let t = match threads {
            0 => "base".to_string(),
            t => format!("{t}t"),
        };
        if dki {
            for (m, method) in DKI {
                let h = dki_hash(d, nvox, gtab, mask, min_signal, method, threads);
                println!("{name} DKI {m} {t} {h}");
            }
        } else {
            for (m, method) in DTI {
                if threads == 0 && method.nonlinear() && !small {
                    continue;
                }
                let h = dti_hash(d, nvox, gtab, mask, min_signal, method, threads);
                println!("{name} DTI {m} {t} {h}");
            }
        }
    }
}

fn fixture_case(dir: &str, file: &str, c: &Value, dki: bool) {
    let input = &c["input"];
    let shape = usizes(&input["shape"]);
    let nvox: usize = shape[..shape.len() - 1].iter().product();
    let Ok(gtab) = gtab_of(input) else {
        println!("{dir}/{file} gradient table error");
        return;
    };
    let mask = mask_of(input);
    let ms = input["min_signal"].as_f64();
    let name = format!("{dir}/{file}");
    macro_rules! go {
        ($d:expr) => {
            all_methods(&name, $d, nvox, &gtab, mask.as_deref(), ms, dki)
        };
    }
    if input["source"] == "synthetic" {
        let d = nums(&input["data"]);
        match input["dtype"].as_str().unwrap() {
            "float32" => go!(&d.iter().map(|&x| x as f32).collect::<Vec<_>>()),
            "int16" => go!(&d.iter().map(|&x| x as i16).collect::<Vec<_>>()),
            _ => go!(&d),
        }
    } else {
        match common::shared_data(input, file) {
            None => {}
            Some(VolumeData::I16(d)) => go!(&d),
            Some(VolumeData::U16(d)) => go!(&d),
            Some(other) => panic!("unexpected dtype {}", other.dtype()),
        }
    }
}

fn read_rows(path: &str) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .map(|x| x.parse::<f64>().unwrap())
                .map(|x| if x.is_nan() { 0.0 } else { x })
                .collect()
        })
        .collect()
}

/// A NIfTI series and its gradient table (FSL's three rows, or one row per volume).
fn series(nii: &str, bval: &str, bvec: &str) -> (VolumeData, GradientTable) {
    let vol = read_nifti(std::path::Path::new(nii), &NiftiOptions::default()).unwrap();
    let bvals = read_rows(bval).concat();
    let r = read_rows(bvec);
    let bvecs: Vec<[f64; 3]> = (0..bvals.len())
        .map(|i| match r.len() {
            3 => [r[0][i], r[1][i], r[2][i]],
            _ => [r[i][0], r[i][1], r[i][2]],
        })
        .collect();
    let gtab = GradientTable::new(&bvals, &bvecs, 50.0, 1e-2).unwrap();
    (vol.data, gtab)
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.first().map(String::as_str) == Some("--time") {
        let method: DtiMethod = a[1].parse().unwrap();
        let runs: usize = a[2].parse().unwrap();
        let (data, gtab) = series(&a[3], &a[4], &a[5]);
        let n = gtab.len();
        let opts = DtiOptions {
            method,
            threads: Some(1),
            ..Default::default()
        };
        macro_rules! go {
            ($d:expr) => {{
                let nvox = $d.len() / n;
                for _ in 0..runs {
                    let t = Instant::now();
                    let f = fit_dti($d, nvox, &gtab, None, &opts, &Control::new()).unwrap();
                    for m in [ScalarMap::Fa, ScalarMap::Md, ScalarMap::Ad, ScalarMap::Rd] {
                        std::hint::black_box(scalar_map(m, &f.evals));
                    }
                    let s = t.elapsed().as_secs_f64();
                    eprintln!("{:.3} us/voxel ({nvox} voxels)", s / nvox as f64 * 1e6);
                }
            }};
        }
        match &data {
            VolumeData::I16(d) => go!(d),
            VolumeData::U16(d) => go!(d),
            other => panic!("{}", other.dtype()),
        }
        return;
    }
    for dir in ["fixtures/dipy", "fixtures/dipy_nlls", "fixtures/dipy_exact"] {
        for (file, c) in cases(dir) {
            let dki = c["model"].as_str() == Some("dki");
            fixture_case(dir, &file, &c, dki);
        }
    }
    for (file, c) in cases("fixtures/dipy_dki") {
        fixture_case("fixtures/dipy_dki", &file, &c, true);
    }
    for s in a.chunks_exact(3) {
        let (data, gtab) = series(&s[0], &s[1], &s[2]);
        let n = gtab.len();
        match &data {
            VolumeData::I16(d) => all_methods(&s[0], d, d.len() / n, &gtab, None, None, false),
            VolumeData::U16(d) => all_methods(&s[0], d, d.len() / n, &gtab, None, None, false),
            other => panic!("{}", other.dtype()),
        }
    }
}
