//! Hand benchmark and bit-identity check of the extractor (not CI): an image and label file
//! through `extract` with a params JSON (default: every class on Original, LoG sigma 1 and 3 mm
//! and the 8 wavelet images, as `benches/radiomics.mjs` runs `all+log+wavelet`). For profiling
//! (`perf record`, `perf stat -e instructions`) and for before/after comparisons of kernels that
//! must not move a bit.
//!
//!   cargo run --release -p voxelkit-radiomics --example extract_bench -- IMAGE MASK \
//!       [--params JSON] [--samples 3] [--threads 1] [--images]
//!
//! Prints one JSON line: median / min / max seconds, the feature count and an FNV-1a hash of
//! every feature's key and value bits. `--images` adds a hash of each LoG and wavelet image on
//! the ROI's bounding box (the images the features are computed on).

use std::path::PathBuf;
use std::time::Instant;
use voxelkit_core::fnv::Fnv;
use voxelkit_core::{with_samples, Control, Sample};
use voxelkit_radiomics::filters::{log, wavelet, Source};
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::{extract, Settings};

const DEFAULT_PARAMS: &str = r#"{"imageType": {"Original": {}, "LoG": {"sigma": ["1.0", "3.0"]},
 "Wavelet": {}}, "classes": ["firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape"]}"#;

/// The ROI's (label 1) bounding box: origin and size, `[x, y, z]`.
fn label_box<M: Sample>(m: &[M], n: [usize; 3]) -> ([usize; 3], [usize; 3]) {
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for z in 0..n[2] {
        for y in 0..n[1] {
            for x in 0..n[0] {
                if m[(z * n[1] + y) * n[0] + x].to_f64() == 1.0 {
                    for (d, v) in [x, y, z].into_iter().enumerate() {
                        lo[d] = lo[d].min(v);
                        hi[d] = hi[d].max(v);
                    }
                }
            }
        }
    }
    (lo, [0, 1, 2].map(|d| hi[d] + 1 - lo[d]))
}

/// Runs the extraction `samples` times; returns the times, the feature count, the features'
/// hash and the images' hashes.
#[allow(clippy::too_many_arguments)]
fn run<T: Sample>(
    im: &[T],
    m: &[f64],
    shape: [usize; 3],
    spacing: [f64; 3],
    s: &Settings,
    samples: usize,
    threads: usize,
    images: bool,
) -> (Vec<f64>, usize, u64, Vec<String>) {
    let inp = Input {
        image: im,
        mask: m,
        shape,
        spacing,
        frame: Default::default(),
    };
    let mut times = Vec::new();
    let mut last = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        last = extract(&inp, s, Some(threads), &Control::default()).unwrap();
        times.push(t.elapsed().as_secs_f64());
    }
    let mut h = Fnv::new();
    for (k, v) in &last {
        h.bytes(k.as_bytes());
        h.bytes(&v.to_bits().to_le_bytes());
    }
    let mut image_hashes = Vec::new();
    if images {
        let values = |i: usize| im[i].to_f64();
        let (box_origin, box_size) = label_box(m, shape);
        let src = Source {
            values: &values,
            shape,
            spacing,
            box_origin,
            box_size,
        };
        for sigma in [1.0, 3.0] {
            let mut hi = Fnv::new();
            for v in log::laplacian_of_gaussian(&src, sigma) {
                hi.bytes(&v.to_bits().to_le_bytes());
            }
            image_hashes.push(format!("log{sigma}:{:016x}", hi.0));
        }
        wavelet::wavelet_images(&src, "coif1", 0, 1, &[0, 1, 2], &mut |b| {
            let mut hi = Fnv::new();
            for v in &b.data {
                hi.bytes(&v.to_bits().to_le_bytes());
            }
            image_hashes.push(format!("{}:{:016x}", b.name, hi.0));
            Ok(())
        })
        .unwrap();
    }
    (times, last.len(), h.0, image_hashes)
}

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
    let samples: usize = opt("--samples", "3").parse().unwrap();
    let threads: usize = opt("--threads", "1").parse().unwrap();
    let params: serde_json::Value = serde_json::from_str(&opt("--params", DEFAULT_PARAMS)).unwrap();
    let images = args.iter().any(|a| a == "--images");
    let s = Settings::from_json(&params).unwrap();
    let img = voxelkit_io::read_volume(&image, &Default::default()).unwrap();
    let msk = voxelkit_io::read_volume(&mask, &Default::default()).unwrap();
    let shape = [img.shape[0], img.shape[1], img.shape[2]];
    let spacing = [img.spacing[0], img.spacing[1], img.spacing[2]];
    // the mask as float64 (exact for every integer label; one instantiation of the extractor)
    let mask64: Vec<f64> = with_samples!(msk.data.voxels(), "mask", |m| {
        Ok::<_, voxelkit_core::Error>(m.iter().map(|v| v.to_f64()).collect())
    })
    .unwrap();
    let m = &mask64[..];
    let (times, count, hash, image_hashes) = match img.data.voxels() {
        voxelkit_core::Voxels::I16(im) => run(im, m, shape, spacing, &s, samples, threads, images),
        voxelkit_core::Voxels::F32(im) => run(im, m, shape, spacing, &s, samples, threads, images),
        _ => panic!("image: int16 or float32 (add a type here)"),
    };
    let mut t = times.clone();
    t.sort_by(f64::total_cmp);
    println!(
        "{{\"median\":{},\"min\":{},\"max\":{},\"samples\":{},\"features\":{},\"hash\":\"{:016x}\",\"images\":{:?}}}",
        t[t.len() / 2],
        t[0],
        t[t.len() - 1],
        t.len(),
        count,
        hash,
        image_hashes
    );
}
