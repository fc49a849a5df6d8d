//! Metamorphic properties of the texture features on seeded random images and ROIs (no
//! reference needed, except the flat-region values, which come from PyRadiomics' fixture):
//!
//! * translating image and mask together (embedding them at an offset in a larger image) is
//!   the same ROI after cropping: every feature bitwise equal;
//! * flipping image and mask along any axis maps the 13 GLCM/GLRLM directions onto themselves
//!   (d ↦ d with one sign changed, which is another direction of the set or, through the
//!   symmetrical GLCM and the direction-free run lengths, the same matrix), leaves zones,
//!   neighbourhoods and the value distribution as they were: per-direction features are
//!   permuted and sums reordered, so every feature changes only by summation order (checked at
//!   1e-12 relative), the shape features included, except where PyRadiomics itself is not
//!   flip-invariant: its marching cubes complements every cube whose corner 7 is inside before
//!   the table look-up, so on a grid face with a diagonal pattern (an ambiguous face) the mesh
//!   depends on which corner is corner 7, which a flip changes (there PyRadiomics' mesh even has
//!   holes). For a mask with ambiguous faces the mesh features (MeshVolume, SurfaceArea and the
//!   ratios made of them) are instead checked in each orientation against PyRadiomics' values
//!   for the same masks (`fixtures/radiomics_shape/flip_props_*.json`, whose generator repeats
//!   this file's `case`), which also shows that PyRadiomics' values do change under the flip.
//!   With `symmetricalGLCM: false` a flip transposes some
//!   matrices and MCC is not transpose-invariant, so that setting is left out here;
//! * a monotone change of the grey values that keeps every voxel in its bin (a shift by a whole
//!   number of bin widths, or any increasing map inside each bin) leaves the texture features
//!   bitwise unchanged: they see only the bin indices;
//! * a constant ROI of any shape and value gives PyRadiomics' flat-region GLCM values and the
//!   shape-free GLRLM ones (from `fixtures/radiomics/flat_region.json`).

mod common;

use voxelkit_core::rng::SplitMix64;
use voxelkit_core::Control;
use voxelkit_radiomics::preprocess::Input;
use voxelkit_radiomics::{extract, Settings};

/// Random cases per property (each run on three settings).
const CASES: u64 = 12;

struct Case {
    dims: [usize; 3],
    img: Vec<f64>,
    mask: Vec<u8>,
}

fn idx(d: [usize; 3], x: usize, y: usize, z: usize) -> usize {
    x + d[0] * (y + d[1] * z)
}

/// A random image (integers 0..400, as CT/MR data are) with a random blob-shaped ROI.
fn case(r: &mut SplitMix64) -> Case {
    let dims = [
        8 + (r.next_u64() % 6) as usize,
        7 + (r.next_u64() % 6) as usize,
        4 + (r.next_u64() % 5) as usize,
    ];
    let n = dims[0] * dims[1] * dims[2];
    let img: Vec<f64> = (0..n).map(|_| (r.uniform() * 400.0).floor()).collect();
    let c = dims.map(|d| d as f64 / 2.0 - 0.5);
    let rad = [0, 1, 2].map(|i| (0.3 + 0.2 * r.uniform()) * dims[i] as f64);
    let mut mask = vec![0u8; n];
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            for x in 0..dims[0] {
                let q = [
                    (x as f64 - c[0]) / rad[0],
                    (y as f64 - c[1]) / rad[1],
                    (z as f64 - c[2]) / rad[2],
                ];
                let inside =
                    q[0] * q[0] + q[1] * q[1] + q[2] * q[2] <= 1.0 + 0.3 * (r.uniform() - 0.5);
                mask[idx(dims, x, y, z)] = u8::from(inside);
            }
        }
    }
    Case { dims, img, mask }
}

fn features(c: &Case, settings: &str) -> Vec<(String, f64)> {
    let s = Settings::from_json(&serde_json::from_str(settings).unwrap()).unwrap();
    let inp = Input {
        image: &c.img,
        mask: &c.mask,
        shape: c.dims,
        spacing: [0.9, 1.1, 2.0],
        frame: Default::default(),
    };
    extract(&inp, &s, Some(2), &Control::new()).unwrap()
}

/// The texture classes' features (they see only the bin indices; first-order and shape
/// features see the values and the mask's geometry).
fn texture(f: Vec<(String, f64)>) -> Vec<(String, f64)> {
    f.into_iter()
        .filter(|(k, _)| {
            ["_glcm_", "_glrlm_", "_glszm_", "_gldm_", "_ngtdm_"]
                .iter()
                .any(|c| k.contains(c))
        })
        .collect()
}

fn bitwise(what: &str, a: &[(String, f64)], b: &[(String, f64)]) {
    assert_eq!(a.len(), b.len(), "{what}");
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        assert_eq!(ka, kb, "{what}");
        assert!(va.to_bits() == vb.to_bits(), "{what}: {ka} {va} vs {vb}");
    }
}

const SETTINGS: [&str; 3] = [
    r#"{}"#,
    r#"{"binWidth": 10, "distances": [1, 2]}"#,
    r#"{"binWidth": 40, "force2D": true, "weightingNorm": "euclidean"}"#,
];

#[test]
fn translating_image_and_mask_changes_nothing() {
    let mut r = SplitMix64::new(101);
    for k in 0..CASES {
        let c = case(&mut r);
        let off = [
            1 + (r.next_u64() % 4) as usize,
            (r.next_u64() % 3) as usize,
            1 + (r.next_u64() % 2) as usize,
        ];
        let big = [
            c.dims[0] + off[0] + 2,
            c.dims[1] + off[1] + 1,
            c.dims[2] + off[2] + 3,
        ];
        let n = big[0] * big[1] * big[2];
        // the rest of the larger image is noise outside the mask
        let mut t = Case {
            dims: big,
            img: (0..n).map(|_| (r.uniform() * 1000.0).floor()).collect(),
            mask: vec![0; n],
        };
        for z in 0..c.dims[2] {
            for y in 0..c.dims[1] {
                for x in 0..c.dims[0] {
                    let (i, j) = (
                        idx(c.dims, x, y, z),
                        idx(big, x + off[0], y + off[1], z + off[2]),
                    );
                    t.img[j] = c.img[i];
                    t.mask[j] = c.mask[i];
                }
            }
        }
        for s in SETTINGS {
            bitwise(
                &format!("case {k} offset {off:?} {s}"),
                &features(&c, s),
                &features(&t, s),
            );
        }
    }
}

/// The shape features PyRadiomics computes from its marching-cubes mesh: the volume, the
/// surface area and the ratios made of them (deprecated ones included, in case they are asked
/// for).
const MESH: [&str; 7] = [
    "_shape_MeshVolume",
    "_shape_SurfaceArea",
    "_shape_Sphericity",
    "_shape_SurfaceVolumeRatio",
    "_shape_Compactness1",
    "_shape_Compactness2",
    "_shape_SphericalDisproportion",
];

fn is_mesh(key: &str) -> bool {
    MESH.iter().any(|m| key.ends_with(m))
}

/// The grid faces (2x2 voxel squares in any of the three orientations, the outside of the
/// image counting as outside the ROI) whose two diagonals are inside and outside: the faces on
/// which PyRadiomics' marching cubes depends on the orientation.
fn ambiguous_faces(c: &Case) -> usize {
    let d = c.dims.map(|v| v as i64);
    let at = |p: [i64; 3]| -> bool {
        (0..3).all(|k| p[k] >= 0 && p[k] < d[k])
            && c.mask[idx(c.dims, p[0] as usize, p[1] as usize, p[2] as usize)] != 0
    };
    let mut n = 0;
    for normal in 0..3 {
        let (u, v) = ((normal + 1) % 3, (normal + 2) % 3);
        let mut lo = [-1i64; 3];
        lo[normal] = 0;
        for a in lo[0]..d[0] {
            for b in lo[1]..d[1] {
                for e in lo[2]..d[2] {
                    let p = [a, b, e];
                    let step = |du: i64, dv: i64| {
                        let mut q = p;
                        q[u] += du;
                        q[v] += dv;
                        at(q)
                    };
                    let (c0, c1, c2, c3) = (step(0, 0), step(1, 0), step(1, 1), step(0, 1));
                    if c0 == c2 && c1 == c3 && c0 != c1 {
                        n += 1;
                    }
                }
            }
        }
    }
    n
}

/// PyRadiomics' mesh features for the flip test's case `k` in orientation `o` ("none", "x",
/// "y", "z"), from `fixtures/radiomics_shape/flip_props_<k>_<o>.json`, after checking that the
/// fixture's mask is `mask`.
fn pyradiomics_mesh(k: u64, o: &str, mask: &[u8]) -> Vec<(String, f64)> {
    let v = common::load("radiomics_shape", &format!("flip_props_{k}_{o}.json"));
    let fm: Vec<u8> = v["mask"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(
        fm, mask,
        "flip_props_{k}_{o}.json: not the flip test's mask"
    );
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (kv[0].as_str().unwrap().to_string(), common::num(&kv[1])))
        .filter(|(key, _)| is_mesh(key))
        .collect()
}

#[test]
fn flipping_image_and_mask_changes_only_the_summation_order() {
    let mut r = SplitMix64::new(102);
    let mut worst = 0.0f64;
    let (mut invariant_mesh, mut reference_mesh, mut reference_differs) = (0, 0, false);
    for k in 0..CASES {
        let c = case(&mut r);
        let ambiguous = ambiguous_faces(&c) > 0;
        let reference = |o: &str, mask: &[u8]| ambiguous.then(|| pyradiomics_mesh(k, o, mask));
        let ref_c = reference("none", &c.mask);
        for axis in 0..3 {
            let mut f = Case {
                dims: c.dims,
                img: c.img.clone(),
                mask: c.mask.clone(),
            };
            for z in 0..c.dims[2] {
                for y in 0..c.dims[1] {
                    for x in 0..c.dims[0] {
                        let mut p = [x, y, z];
                        p[axis] = c.dims[axis] - 1 - p[axis];
                        let (i, j) = (idx(c.dims, x, y, z), idx(c.dims, p[0], p[1], p[2]));
                        f.img[j] = c.img[i];
                        f.mask[j] = c.mask[i];
                    }
                }
            }
            let ref_f = reference(["x", "y", "z"][axis], &f.mask);
            for s in SETTINGS {
                let (a, b) = (features(&c, s), features(&f, s));
                for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
                    assert_eq!(ka, kb);
                    if let (Some(rc), Some(rf)) = (&ref_c, &ref_f) {
                        if is_mesh(ka) {
                            // PyRadiomics' values, in each orientation: bitwise for the volume
                            // and area (the same marching cubes, the same summation order), 4
                            // ulp for the ratios (pow/sqrt of libm, as in shape_fixtures.rs)
                            for (got, refs, o) in [(va, rc, "none"), (vb, rf, "flipped")] {
                                let want = refs.iter().find(|(kr, _)| kr == ka).unwrap().1;
                                let ok =
                                    if ka.ends_with("MeshVolume") || ka.ends_with("SurfaceArea") {
                                        got.to_bits() == want.to_bits()
                                    } else {
                                        (got - want).abs() <= 1e-15 * want.abs()
                                    };
                                assert!(ok, "case {k} flip {axis} ({o}) {s}: {ka} {got} vs PyRadiomics {want}");
                            }
                            reference_differs |= (va - vb).abs() > 1e-12 * (1.0 + va.abs());
                            reference_mesh += 1;
                            continue;
                        }
                    }
                    if is_mesh(ka) {
                        invariant_mesh += 1;
                    }
                    let d = (va - vb).abs() / (1.0 + va.abs());
                    assert!(d <= 1e-12, "case {k} flip {axis} {s}: {ka} {va} vs {vb}");
                    worst = worst.max(d);
                }
            }
        }
    }
    // both branches ran, and the reference does change under some flip (else the mesh
    // features of every case would belong to the invariance check)
    assert!(
        invariant_mesh > 0 && reference_mesh > 0,
        "{invariant_mesh} {reference_mesh}"
    );
    assert!(
        reference_differs,
        "PyRadiomics' mesh features changed under no flip"
    );
    println!(
        "flips: largest relative difference {worst:.2e}; mesh features: {invariant_mesh} checked \
         for invariance, {reference_mesh} against PyRadiomics per orientation"
    );
}

#[test]
fn grey_value_maps_that_keep_the_bins_keep_the_texture() {
    let mut r = SplitMix64::new(103);
    for k in 0..CASES {
        let c = case(&mut r);
        for (s, w) in [
            (SETTINGS[0], 25.0),
            (SETTINGS[1], 10.0),
            (SETTINGS[2], 40.0),
        ] {
            let base = texture(features(&c, s));
            assert!(!base.is_empty());
            // a shift by a whole number of bin widths (exact in binary for these integers)
            let shift = w * (1 + r.next_u64() % 7) as f64;
            let shifted = Case {
                dims: c.dims,
                img: c.img.iter().map(|x| x + shift).collect(),
                mask: c.mask.clone(),
            };
            bitwise(
                &format!("case {k} +{shift} {s}"),
                &base,
                &texture(features(&shifted, s)),
            );
            // an increasing map inside each bin: x = b w + f (0 <= f < w) -> b w + f² / w
            let squeezed = Case {
                dims: c.dims,
                img: c
                    .img
                    .iter()
                    .map(|&x| {
                        let b = (x / w).floor();
                        let f = x - b * w;
                        b * w + f * f / w
                    })
                    .collect(),
                mask: c.mask.clone(),
            };
            bitwise(
                &format!("case {k} in-bin map {s}"),
                &base,
                &texture(features(&squeezed, s)),
            );
        }
    }
}

#[test]
fn a_constant_roi_gives_pyradiomics_flat_region_values() {
    let fx = common::load("radiomics", "flat_region.json");
    // GLCM values do not depend on the ROI's shape when it is flat; of GLRLM's, these four do not.
    let shape_free = [
        "GrayLevelNonUniformityNormalized",
        "GrayLevelVariance",
        "HighGrayLevelRunEmphasis",
        "LowGrayLevelRunEmphasis",
    ];
    let expected: Vec<(String, f64)> = fx["features"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            k.starts_with("original_glcm_")
                || shape_free
                    .iter()
                    .any(|f| k.ends_with(&format!("glrlm_{f}")))
        })
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect();
    assert_eq!(expected.len(), 24 + 4);
    let mut r = SplitMix64::new(104);
    for k in 0..CASES {
        let mut c = case(&mut r);
        let value = (r.uniform() * 2000.0 - 1000.0).floor();
        for (v, &m) in c.img.iter_mut().zip(&c.mask) {
            if m != 0 {
                *v = value;
            }
        }
        let got = features(&c, r#"{"binWidth": 25}"#);
        for (key, want) in &expected {
            let v = got
                .iter()
                .find(|(g, _)| g == key)
                .unwrap_or_else(|| panic!("{key} missing"))
                .1;
            // PyRadiomics' flat values are exact numbers, or for the entropies -log2(1 + eps)
            // summed in its order (its eps inside the log; 1 ulp apart here): 1e-15 absolute.
            assert!(
                (v - want).abs() <= 1e-15,
                "case {k} value {value}: {key} = {v}, PyRadiomics {want}"
            );
        }
    }
}
