//! Write-then-read properties on seeded random volumes: every element type, shapes of 1 to 7
//! axes (NIfTI) and 3 or 4 axes (NRRD: three spatial axes and an optional list axis), random
//! oblique affines with flips and anisotropic spacing, raw and gzip. The data must come back
//! bit for bit; the affine too: NIfTI stores it as float32 (so the random affines are drawn
//! among float32 values; `sform` is read back exactly), NRRD as shortest-round-trip decimal
//! text (any float64 comes back).

mod common;

use common::{random_data, CODES};
use voxelkit_core::rng::SplitMix64;
use voxelkit_io::{read_volume_bytes, write_volume_bytes, ReadOptions, VolumeData, VolumeFile};

/// A random non-singular affine: rotation x spacing in [0.3, 3.3] with a random flip, origin
/// in [-100, 100]; `f32` rounds every entry to a float32 value.
fn affine(r: &mut SplitMix64, f32: bool) -> [f64; 16] {
    let q = [r.normal(), r.normal(), r.normal(), r.normal()];
    let n = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    let [w, x, y, z] = [q[0] / n, q[1] / n, q[2] / n, q[3] / n];
    let rot = [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ];
    let s = [0, 1, 2].map(|_| 0.3 + 3.0 * r.uniform());
    let flip = if r.uniform() < 0.5 { -1.0 } else { 1.0 };
    let mut a = [0.0; 16];
    for i in 0..3 {
        for j in 0..3 {
            a[4 * i + j] = rot[i][j] * s[j] * if j == 0 { flip } else { 1.0 };
        }
        a[4 * i + 3] = 200.0 * (r.uniform() - 0.5);
    }
    a[15] = 1.0;
    if f32 {
        a = a.map(|v| v as f32 as f64);
    }
    a
}

fn shape(r: &mut SplitMix64, ndim: usize) -> Vec<usize> {
    (0..ndim).map(|_| 1 + (r.next_u64() % 5) as usize).collect()
}

/// A volume with affine `a` and the spacing of its first `axes` columns (their norms).
fn volume(a: [f64; 16], axes: usize, shape: Vec<usize>, data: VolumeData) -> VolumeFile {
    VolumeFile {
        spacing: (0..axes)
            .map(|j| {
                (0..3)
                    .map(|i| a[4 * i + j] * a[4 * i + j])
                    .sum::<f64>()
                    .sqrt()
            })
            .collect(),
        shape,
        affine: a,
        data,
    }
}

fn check(what: &str, v: &VolumeFile, name: &str, gzip: Option<bool>, exact_affine: bool) {
    let bytes =
        write_volume_bytes(v, name, gzip).unwrap_or_else(|e| panic!("{what}: write: {e:?}"));
    let back = read_volume_bytes(&bytes, name, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{what}: read: {e:?}"));
    assert_eq!(back.shape, v.shape, "{what}: shape");
    assert_eq!(back.data.dtype(), v.data.dtype(), "{what}: type");
    assert!(back.data == v.data, "{what}: data differ");
    if exact_affine {
        for (i, (a, b)) in back.affine.iter().zip(&v.affine).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{what}: affine[{i}] {a} vs {b}");
        }
    }
}

#[test]
fn nifti_round_trips_random_volumes_exactly() {
    let mut r = SplitMix64::new(2026);
    for case in 0..300 {
        let code = CODES[(r.next_u64() % CODES.len() as u64) as usize];
        let ndim = 1 + (r.next_u64() % 7) as usize;
        let shape = shape(&mut r, ndim);
        let n = shape.iter().product();
        let v = volume(
            affine(&mut r, true),
            ndim.min(3),
            shape,
            random_data(code, n, case),
        );
        // Volumes of fewer than 3 axes keep the 3D affine (NIfTI's sform is always 4x4).
        for name in ["v.nii", "v.nii.gz"] {
            check(
                &format!("case {case} {name} {:?} code {code}", v.shape),
                &v,
                name,
                None,
                true,
            );
        }
    }
}

#[test]
fn nrrd_round_trips_random_volumes_exactly() {
    let mut r = SplitMix64::new(2027);
    for case in 0..300 {
        let code = CODES[(r.next_u64() % CODES.len() as u64) as usize];
        let ndim = 3 + (r.next_u64() % 2) as usize;
        let shape = shape(&mut r, ndim);
        let n = shape.iter().product();
        let v = volume(affine(&mut r, false), 3, shape, random_data(code, n, case));
        for gz in [false, true] {
            check(
                &format!("case {case} gzip {gz} {:?} code {code}", v.shape),
                &v,
                "v.nrrd",
                Some(gz),
                true,
            );
        }
    }
}
