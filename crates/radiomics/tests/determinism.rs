//! Bitwise independence of the thread count on ROIs large enough for every parallel split:
//! numpy-style pairwise sums above 65,536 values (first order), several z-slabs (zones merged
//! across slab boundaries, neighbourhood scans), every aggregation layout.

use serde_json::json;
use voxelkit_core::Control;
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::{extract, Settings};

/// A smooth random int16-like image and a blob mask (seeded LCG: reproducible).
fn phantom(n: [usize; 3], seed: u64) -> (Vec<f64>, Vec<u8>) {
    let mut s = seed;
    let mut rnd = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as f64) / (1u64 << 31) as f64
    };
    let len = n[0] * n[1] * n[2];
    let noise: Vec<f64> = (0..len).map(|_| rnd()).collect();
    let mut img = vec![0.0; len];
    let mut mask = vec![0u8; len];
    for z in 0..n[2] {
        for y in 0..n[1] {
            for x in 0..n[0] {
                let i = (z * n[1] + y) * n[0] + x;
                let (fx, fy, fz) = (x as f64, y as f64, z as f64);
                img[i] = (300.0
                    + 120.0 * (fx / 5.0).sin()
                    + 90.0 * (fy / 7.0).cos()
                    + 10.0 * fz
                    + 60.0 * noise[i])
                    .round();
                let d = ((fx - n[0] as f64 / 2.0) / (n[0] as f64 * 0.45)).powi(2)
                    + ((fy - n[1] as f64 / 2.0) / (n[1] as f64 * 0.45)).powi(2)
                    + ((fz - n[2] as f64 / 2.0) / (n[2] as f64 * 0.45)).powi(2);
                mask[i] = u8::from(d + 0.2 * noise[(i * 7) % len] < 1.0);
            }
        }
    }
    (img, mask)
}

#[test]
fn large_roi_every_class_bitwise_at_1_2_4_threads() {
    let shape = [96, 92, 50];
    let (img, mask) = phantom(shape, 5);
    let roi = mask.iter().filter(|&&m| m == 1).count();
    assert!(roi > 65_536 * 2, "ROI of {roi} voxels");
    let input = Input {
        image: &img,
        mask: &mask,
        shape,
        spacing: [0.8, 0.9, 1.5],
        frame: Default::default(),
    };
    for settings in [
        json!({"binWidth": 10, "voxelArrayShift": 1000}),
        json!({"binCount": 24, "force2D": true, "force2Ddimension": 1, "gldm_a": 1, "distances": [1, 2]}),
        json!({"binWidth": 20, "aggregation": "2D_averaged", "ibsi": true}),
    ] {
        let s = Settings::from_json(&settings).unwrap();
        let run = |t| extract(&input, &s, Some(t), &Control::new()).unwrap();
        let a = run(1);
        assert!(a.len() >= 18 + 24 + 16);
        for t in [2, 4] {
            let b = run(t);
            assert_eq!(a.len(), b.len());
            for ((k, x), (_, y)) in a.iter().zip(&b) {
                assert_eq!(
                    x.to_bits(),
                    y.to_bits(),
                    "{settings}: {k} differs at {t} threads"
                );
            }
        }
    }
}
