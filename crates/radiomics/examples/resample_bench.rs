//! Hand benchmark of the resampling kernel (not CI): brain1 (or any image and label file) to a
//! new spacing with PyRadiomics' grid rule, image by B-spline (or `--interpolator`), mask by
//! nearest neighbour, timed as `benches/resample_sitk.py` times SimpleITK on the same files.
//! Run by `benches/resample.sh`, which prints both side by side.
//!
//!   cargo run --release -p voxelkit-radiomics --example resample_bench -- IMAGE MASK \
//!       [--spacing 2,2,2] [--interpolator sitkBSpline] [--samples 7] [--threads N] [--f64]
//!
//! Prints one JSON line: median / min / max seconds, the grid, the outputs' sums and an FNV-1a
//! hash of their bits (`--f64` converts the image to float64 first, so the hash covers every bit
//! of the interpolation: the check that a faster kernel changes no bit).

use std::path::PathBuf;
use std::time::Instant;
use voxelkit_core::fnv::Fnv;
use voxelkit_core::{with_samples, Sample};
use voxelkit_radiomics::resample::{self, Frame, Grid};
use voxelkit_radiomics::Settings;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, def: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .map(|i| args[i + 1].clone())
            .unwrap_or_else(|| def.to_string())
    };
    let image = PathBuf::from(&args[0]);
    let mask = PathBuf::from(&args[1]);
    let spacing: Vec<f64> = opt("--spacing", "2,2,2")
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let samples: usize = opt("--samples", "7").parse().unwrap();
    let threads: Option<usize> = args
        .iter()
        .position(|a| a == "--threads")
        .map(|i| args[i + 1].parse().unwrap());
    let s = Settings::from_json(&serde_json::json!({
        "resampledPixelSpacing": spacing,
        "interpolator": opt("--interpolator", "sitkBSpline"),
    }))
    .unwrap();
    let r = s.resampling.unwrap();
    let img = voxelkit_io::read_volume(&image, &Default::default()).unwrap();
    let msk = voxelkit_io::read_volume(&mask, &Default::default()).unwrap();
    let src = Grid {
        shape: [img.shape[0], img.shape[1], img.shape[2]],
        spacing: [img.spacing[0], img.spacing[1], img.spacing[2]],
        frame: Frame::from_affine(&img.affine).unwrap(),
    };
    // `--f64`: the image converted to float64 first, so the output keeps every bit of the
    // interpolation (an integer image's output is truncated to its type)
    let (times, shape, sums, hash) = with_samples!(img.data.voxels(), "image", |im| {
        with_samples!(msk.data.voxels(), "mask", |m| {
            Ok::<_, voxelkit_core::Error>(if args.iter().any(|a| a == "--f64") {
                let v: Vec<f64> = im.iter().map(|v| v.to_f64()).collect();
                time(&v, m, &src, &r, samples, threads)
            } else {
                time(im, m, &src, &r, samples, threads)
            })
        })
    })
    .unwrap();
    let mut t = times.clone();
    t.sort_by(f64::total_cmp);
    println!(
        "{{\"contender\":\"voxelkit\",\"median\":{},\"min\":{},\"max\":{},\"samples\":{},\"shape\":{:?},\"imageSum\":{},\"maskSum\":{},\"hash\":\"{:016x}\"}}",
        t[t.len() / 2],
        t[0],
        t[t.len() - 1],
        t.len(),
        shape,
        sums[0],
        sums[1],
        hash
    );
}

type Timed = (Vec<f64>, [usize; 3], [f64; 2], u64);

/// `samples` timed runs after a warm-up of label box, grid, image and mask resampling; the
/// outputs' sums and an FNV-1a hash of their bits (as float64 values).
fn time<S: Sample, M: Sample>(
    im: &[S],
    m: &[M],
    src: &Grid,
    r: &resample::Resampling,
    samples: usize,
    threads: Option<usize>,
) -> Timed {
    let mut times = Vec::new();
    let mut last = (vec![], vec![]);
    let mut shape = [0; 3];
    for k in 0..samples + 1 {
        let t = Instant::now();
        let (lo, size) = resample::label_box(m, src.shape, 1).unwrap();
        let dst = resample::plan(src, lo, size, r).unwrap().unwrap();
        let a = resample::resample_image(im, src, &dst, r.interpolator, threads).unwrap();
        let b = resample::resample_mask(m, src, &dst, threads).unwrap();
        let dt = t.elapsed().as_secs_f64();
        if k > 0 {
            times.push(dt); // the first run is the warm-up
        }
        shape = dst.shape;
        last = (a, b);
    }
    let a: Vec<f64> = last.0.iter().map(|v| v.to_f64()).collect();
    let b: Vec<f64> = last.1.iter().map(|v| v.to_f64()).collect();
    let mut h = Fnv::new();
    h.f64s(&a);
    h.f64s(&b);
    (times, shape, [a.iter().sum(), b.iter().sum()], h.0)
}
