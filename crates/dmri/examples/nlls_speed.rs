//! Times a DTI fit + FA/MD/AD/RD on a NIfTI series at one thread (kernel tuning only; the
//! cross-language runner in benches/ makes the claims).
//!
//! `cargo run --release -p voxelkit-dmri --example nlls_speed -- X.nii X.bval X.bvec METHOD [runs]`
use std::time::Instant;
use voxelkit_core::fnv::Fnv;
use voxelkit_core::Control;
use voxelkit_dmri::maps::{scalar_map, ScalarMap};
use voxelkit_dmri::{fit_dti, DtiOptions, GradientTable};
use voxelkit_io::{read_nifti, NiftiOptions, VolumeData};

fn read_rows(path: &str) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .map(|x| x.parse::<f64>().unwrap())
                .map(|x| if x.is_nan() { 0.0 } else { x }) // b0 rows may be written as nan
                .collect()
        })
        .collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let vol = read_nifti(std::path::Path::new(&a[1]), &NiftiOptions::default()).unwrap();
    let bvals = read_rows(&a[2]).concat();
    let r = read_rows(&a[3]);
    // FSL's three rows, or one row per volume
    let bvecs: Vec<[f64; 3]> = (0..bvals.len())
        .map(|i| match r.len() {
            3 => [r[0][i], r[1][i], r[2][i]],
            _ => [r[i][0], r[i][1], r[i][2]],
        })
        .collect();
    let gtab = GradientTable::new(&bvals, &bvecs, 50.0, 1e-2).unwrap();
    let n = bvals.len();
    let runs: usize = a.get(5).map_or(3, |x| x.parse().unwrap());
    let opts = DtiOptions {
        method: a[4].parse().unwrap(),
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
                // FNV-1a of the eigenvalues' and eigenvectors' bits: tuning must not change it
                let mut fnv = Fnv::new();
                for x in f.evals.iter().chain(&f.evecs) {
                    fnv.bytes(&x.to_bits().to_le_bytes());
                }
                let h = fnv.0;
                let mut st = [0usize; 8];
                for &x in &f.status {
                    st[x as usize] += 1;
                }
                println!(
                    "{} {:.3} s, {:.3} us/voxel, status {:?}, bits {:016x}",
                    a[4],
                    s,
                    s / nvox as f64 * 1e6,
                    st,
                    h
                );
            }
        }};
    }
    match &vol.data {
        VolumeData::I16(d) => go!(d),
        VolumeData::U16(d) => go!(d),
        other => panic!("{}", other.dtype()),
    }
}
