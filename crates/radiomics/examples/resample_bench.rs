//! Hand benchmark of the resampling kernel (not CI): brain1 (or any image and label file) to a
//! new spacing with PyRadiomics' grid rule, image by B-spline (or `--interpolator`), mask by
//! nearest neighbour, timed as `benches/resample_sitk.py` times SimpleITK on the same files.
//! Run by `benches/resample.sh`, which prints both side by side.
//!
//!   cargo run --release -p voxelkit-radiomics --example resample_bench -- IMAGE MASK \
//!       [--spacing 2,2,2] [--interpolator sitkBSpline] [--samples 7] [--threads N]
//!
//! Prints one JSON line: median / min / max seconds, the grid, and checksums of the outputs.

use std::path::PathBuf;
use std::time::Instant;
use voxelkit_core::with_samples;
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
    let (times, shape, sums) = with_samples!(img.data.voxels(), "image", |im| {
        with_samples!(msk.data.voxels(), "mask", |m| {
            let mut times = Vec::new();
            let mut last = (vec![], vec![]);
            let mut shape = [0; 3];
            for k in 0..samples + 1 {
                let t = Instant::now();
                let (lo, size) = resample::label_box(m, src.shape, 1).unwrap();
                let dst = resample::plan(&src, lo, size, &r).unwrap().unwrap();
                let a = resample::resample_image(im, &src, &dst, r.interpolator, threads).unwrap();
                let b = resample::resample_mask(m, &src, &dst, threads).unwrap();
                let dt = t.elapsed().as_secs_f64();
                if k > 0 {
                    times.push(dt); // the first run is the warm-up
                }
                shape = dst.shape;
                last = (a, b);
            }
            let si: f64 = last
                .0
                .iter()
                .map(|v| voxelkit_core::Sample::to_f64(*v))
                .sum();
            let sm: f64 = last
                .1
                .iter()
                .map(|v| voxelkit_core::Sample::to_f64(*v))
                .sum();
            Ok::<_, voxelkit_core::Error>((times, shape, [si, sm]))
        })
    })
    .unwrap();
    let mut t = times.clone();
    t.sort_by(f64::total_cmp);
    println!(
        "{{\"contender\":\"voxelkit\",\"median\":{},\"min\":{},\"max\":{},\"samples\":{},\"shape\":{:?},\"imageSum\":{},\"maskSum\":{}}}",
        t[t.len() / 2],
        t[0],
        t[t.len() - 1],
        t.len(),
        shape,
        sums[0],
        sums[1]
    );
}
