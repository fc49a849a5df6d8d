//! Inputs found by the `radiomics_settings` fuzz target (fuzz/fuzz_targets/radiomics_settings.rs),
//! each replayed on the target's own image and mask with the outcome it must now have.

use voxelkit_core::{Code, Control};
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::{extract, Settings};

const DIMS: [usize; 3] = [7, 6, 5];

/// The fuzz target's image and mask (its variants 0 and 1: a blob in an integer-valued image,
/// the same in float32 with negative values).
fn run(json: &str, float32: bool) -> voxelkit_core::Result<Vec<(String, f64)>> {
    let n = DIMS[0] * DIMS[1] * DIMS[2];
    let mut img = Vec::with_capacity(n);
    let mut mask = Vec::with_capacity(n);
    for z in 0..DIMS[2] {
        for y in 0..DIMS[1] {
            for x in 0..DIMS[0] {
                let v = ((x * 7 + y * 13 + z * 29) % 17) as f64;
                img.push(if float32 { v * 0.37 - 3.0 } else { v * 10.0 });
                let (dx, dy, dz) = (x as f64 - 3.0, y as f64 - 2.5, z as f64 - 2.0);
                mask.push(u8::from(dx * dx + dy * dy + dz * dz <= 6.5));
            }
        }
    }
    let s = Settings::from_json(&serde_json::from_str(json).unwrap())?;
    let spacing = [1.0, 0.8, 2.5];
    if float32 {
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
    }
}

#[test]
fn a_huge_normalize_scale_is_a_setting_error_not_an_allocation_failure() {
    // crash-efc31b36: capacity overflow allocating the bin edges (~1e92 bins)
    let json = r#"{"normalize": true, "normalizeScale": 55555555555555555555555555555555555555555555555555555555555555555555555555555555555555555200, "removeOutliers": 2}"#;
    for f32 in [false, true] {
        let e = run(json, f32).unwrap_err();
        assert_eq!(e.code, Code::Setting, "{}", e.message);
        assert!(e.message.contains("bins"), "{}", e.message);
    }
}

#[test]
fn a_tiny_bin_width_is_a_setting_error_and_a_fine_one_still_works() {
    let e = run(r#"{"binWidth": 1e-12}"#, false).unwrap_err();
    assert_eq!(e.code, Code::Setting, "{}", e.message);
    let e = run(r#"{"binWidth": 1e-300, "ibsi": true}"#, true).unwrap_err();
    assert_eq!(e.code, Code::Setting, "{}", e.message);
    // 160 / 1e-2 = 1.6e4 bins: below the limit (2^16), extracted
    assert!(!run(r#"{"binWidth": 1e-2, "classes": ["glcm"]}"#, false)
        .unwrap()
        .is_empty());
    // timeout-23fad26f: binWidth 6e-6 on the float32 image (range 5.9): ~1e6 bins, over 10 s
    assert_eq!(
        run(r#"{"binWidth": 6e-06}"#, true).unwrap_err().code,
        Code::Setting
    );
}

#[test]
fn a_huge_bin_count_is_a_setting_error_not_ten_seconds_of_work() {
    // timeout-eaafe343: {"binCount": 11311119} took over 10 s (a sum over every grey level)
    for f32 in [false, true] {
        let e = run(r#"{"binCount": 11311119 }"#, f32).unwrap_err();
        assert_eq!(e.code, Code::Setting, "{}", e.message);
    }
    assert!(!run(r#"{"binCount": 65536, "classes": ["glcm"]}"#, false)
        .unwrap()
        .is_empty());
    assert_eq!(
        run(r#"{"binCount": 65537}"#, false).unwrap_err().code,
        Code::Setting
    );
}

#[test]
fn a_bin_width_beyond_float32_is_a_setting_error_for_float32_images() {
    // crash-5e6aa291: {"binWidth": 3.3e116} on the float32 image: the width became infinite in
    // float32 and the bin-edge vector's length overflowed (a panic)
    let json = r#"{"binWidth": 333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333324}"#;
    let e = run(json, true).unwrap_err();
    assert_eq!(e.code, Code::Setting, "{}", e.message);
    // float64 images compute the edges in float64: one bin, extracted
    assert!(!run(json, false).unwrap().is_empty());
    assert!(!run(r#"{"binWidth": 1e30}"#, true).unwrap().is_empty());
}

#[test]
fn large_distances_enumerate_only_the_offsets_the_box_allows() {
    // timeout-066ab9c0: distances [160, 3] took 0.8 s (14 s on a loaded machine) enumerating the
    // whole (2·160+1)³ offset cube; 65536 (the largest accepted) would never have ended.
    let a = run(
        r#"{"distances": [160, 3], "symmetricalGLCM": false, "weightingNorm": "euclidean"}"#,
        false,
    )
    .unwrap();
    assert!(!a.is_empty());
    for f32 in [false, true] {
        match run(
            r#"{"distances": [65536], "classes": ["glcm", "glrlm", "gldm", "ngtdm"]}"#,
            f32,
        ) {
            Ok(f) => assert!(!f.is_empty()),
            Err(e) => assert!(
                matches!(e.code, Code::Setting | Code::Shape),
                "{:?} {}",
                e.code,
                e.message
            ),
        }
    }
}

/// fuzz:options (scripts/fuzz-options.mjs, radiomics extraction with `binWidth: 1e308`): the last
/// bin edge, `max + 2 binWidth`, overflowed float64 and the edge vector's length with it (a
/// capacity-overflow panic, `ERR_INTERNAL` in Node). Now `ERR_SETTING`; 1e300 is still one bin.
#[test]
fn a_bin_width_beyond_float64_range_is_a_setting_error_not_a_panic() {
    for f32 in [false, true] {
        for json in [
            r#"{"binWidth": 1e308}"#,
            r#"{"binWidth": 1.7976931348623157e308}"#,
        ] {
            let e = run(json, f32).unwrap_err();
            assert_eq!(e.code, Code::Setting, "{json}: {}", e.message);
        }
    }
    assert!(!run(r#"{"binWidth": 1e300, "classes": ["glcm"]}"#, false)
        .unwrap()
        .is_empty());
}
