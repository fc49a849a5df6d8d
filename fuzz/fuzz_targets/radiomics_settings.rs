//! The radiomics settings object (what `extractFeatures(image, mask, settings)` and a
//! PyRadiomics parameter file's `setting` block reach the kernel as): the input bytes parsed as
//! JSON, `Settings::from_json`, and on success a whole extraction with those settings on a
//! small fixed image and mask (the input's last byte picks one of four: a blob in an integer
//! image, the same in float32 with negative values, a single-slice ROI, and a one-voxel ROI).
//! Invariants: no panic; a refused setting is a coded error of the settings family
//! (`ERR_SETTING`, `ERR_UNSUPPORTED`) or, from the extraction, one of those or `ERR_SHAPE`
//! (an ROI the settings empty or reduce below what a class needs); on Ok every key is
//! non-empty, unique, and PyRadiomics-shaped (`original_<class>_<Feature>`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxelkit_core::{Code, Control};
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::{extract, Settings};

const DIMS: [usize; 3] = [7, 6, 5];

fn image(variant: u8) -> (Vec<f64>, Vec<u8>) {
    let n = DIMS[0] * DIMS[1] * DIMS[2];
    let mut img = Vec::with_capacity(n);
    let mut mask = Vec::with_capacity(n);
    for z in 0..DIMS[2] {
        for y in 0..DIMS[1] {
            for x in 0..DIMS[0] {
                let v = ((x * 7 + y * 13 + z * 29) % 17) as f64;
                img.push(if variant == 1 {
                    v * 0.37 - 3.0
                } else {
                    v * 10.0
                });
                let (dx, dy, dz) = (x as f64 - 3.0, y as f64 - 2.5, z as f64 - 2.0);
                let inside = match variant {
                    2 => z == 2 && dx * dx + dy * dy <= 6.0,
                    3 => x == 3 && y == 3 && z == 2,
                    _ => dx * dx + dy * dy + dz * dz <= 6.5,
                };
                mask.push(u8::from(inside));
            }
        }
    }
    (img, mask)
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let s = match Settings::from_json(&v) {
        Ok(s) => s,
        Err(e) => {
            assert!(
                matches!(e.code, Code::Setting | Code::Unsupported),
                "from_json: {:?} {}",
                e.code,
                e.message
            );
            assert!(!e.message.is_empty());
            return;
        }
    };
    let variant = data.last().copied().unwrap_or(0) % 4;
    let (img, mask) = image(variant);
    let spacing = [1.0, 0.8, 2.5];
    let r = if variant == 1 {
        let f: Vec<f32> = img.iter().map(|&x| x as f32).collect();
        extract(
            &Input {
                image: &f,
                mask: &mask,
                shape: DIMS,
                spacing,
                frame: Default::default(),
            },
            &s,
            Some(1),
            &Control::new(),
        )
    } else {
        extract(
            &Input {
                image: &img,
                mask: &mask,
                shape: DIMS,
                spacing,
                frame: Default::default(),
            },
            &s,
            Some(1),
            &Control::new(),
        )
    };
    match r {
        Ok(features) => {
            let mut keys = std::collections::HashSet::new();
            for (k, _) in &features {
                assert!(
                    k.starts_with("original_") && k.matches('_').count() >= 2,
                    "key {k}"
                );
                assert!(keys.insert(k.clone()), "duplicate key {k}");
            }
        }
        Err(e) => {
            assert!(
                matches!(e.code, Code::Setting | Code::Unsupported | Code::Shape),
                "extract: {:?} {}",
                e.code,
                e.message
            );
            assert!(!e.message.is_empty());
        }
    }
});
