//! Properties that do not need DIPY: the AVX2 and baseline builds agree bit for bit, results
//! do not depend on the thread count, bad arguments are coded errors.

use voxelkit_core::rng::SplitMix64;
use voxelkit_core::{Code, Control};
use voxelkit_fields::{
    compose_fields, invert_field, warp_linear, Field, Grid, InvertOptions, Real,
};

/// A smooth field: a few random sinusoids per component, at most about `amp` voxels.
fn smooth<T: Real>(dims: [usize; 3], amp: f64, seed: u64) -> Vec<T> {
    let mut r = SplitMix64::new(seed);
    let n = dims[0] * dims[1] * dims[2];
    let mut out = vec![T::default(); 3 * n];
    for c in 0..3 {
        let waves: Vec<[f64; 4]> = (0..3)
            .map(|_| {
                [
                    r.uniform() * 0.4,
                    r.uniform() * 0.4,
                    r.uniform() * 0.4,
                    r.uniform() * 6.3,
                ]
            })
            .collect();
        for z in 0..dims[2] {
            for y in 0..dims[1] {
                for x in 0..dims[0] {
                    let s: f64 = waves
                        .iter()
                        .map(|w| (w[0] * x as f64 + w[1] * y as f64 + w[2] * z as f64 + w[3]).sin())
                        .sum();
                    out[c * n + x + dims[0] * (y + dims[1] * z)] = T::from_f64(amp * s / 3.0);
                }
            }
        }
    }
    out
}

const AFF: [f64; 16] = [
    1.2, 0.1, 0.0, -3.0, -0.05, 0.9, 0.02, 4.0, 0.0, 0.03, 1.5, 1.0, 0.0, 0.0, 0.0, 1.0,
];

fn simd_matches_baseline<T: Real + std::fmt::Debug>() {
    let dims = [23, 17, 11]; // not a multiple of the lane width: tails run the scalar path
    let d = smooth::<T>(dims, 2.0, 7);
    let g = Grid::new(&dims, &AFF, "f").unwrap();
    let f = Field::new(&d, &g, "f").unwrap();
    let mut o = InvertOptions {
        threads: Some(1),
        ..Default::default()
    };
    let (a, sa) = invert_field(f, None, &o, &Control::new()).unwrap();
    o.simd = false;
    let (b, sb) = invert_field(f, None, &o, &Control::new()).unwrap();
    assert!(a == b, "SIMD and baseline inverses differ");
    assert_eq!(sa, sb);
    for t in [2, 3, 4] {
        o.threads = Some(t);
        o.simd = true;
        let (c, sc) = invert_field(f, None, &o, &Control::new()).unwrap();
        assert!(a == c && sa == sc, "{t} threads differ");
    }
    assert!(sa.iterations > 1);
}

#[test]
fn simd_and_threads_do_not_change_bits() {
    simd_matches_baseline::<f64>();
    simd_matches_baseline::<f32>();
}

#[test]
fn inverse_composes_to_near_identity() {
    let dims = [20, 18, 16];
    let d = smooth::<f64>(dims, 1.5, 3);
    let g = Grid::new(&dims, &AFF, "f").unwrap();
    let f = Field::new(&d, &g, "f").unwrap();
    let o = InvertOptions {
        max_iter: 50,
        tolerance: 1e-6,
        ..Default::default()
    };
    let (p, st) = invert_field(f, None, &o, &Control::new()).unwrap();
    // p composed with d: the inversion's own residual, tiny in the interior
    let pf = Field::new(&p, &g, "p").unwrap();
    let (_, cs) = compose_fields(pf, f, 1.0, None, &Control::new()).unwrap();
    assert!(cs.mean_norm < 1e-2, "residual {cs:?} stats {st:?}");
    assert!(st.error < 1e-2);
}

/// The code of an error that must happen.
fn code<T>(r: voxelkit_core::Result<T>) -> Code {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code,
    }
}

#[test]
fn bad_arguments_are_coded_errors() {
    let dims = [4, 4, 4];
    let g = Grid::new(&dims, &AFF, "f").unwrap();
    let mut d = vec![0.0f64; 3 * 64];
    assert_eq!(code(Field::new(&d[..10], &g, "f")), Code::Shape);
    d[70] = f64::NAN;
    {
        let bad = Field::new(&d, &g, "f").unwrap();
        let e = invert_field(bad, None, &InvertOptions::default(), &Control::new()).unwrap_err();
        assert_eq!(e.code, Code::Format);
        assert!(
            e.message.contains("voxel (2, 1, 0), component 1"),
            "{}",
            e.message
        );
        assert_eq!(
            code(compose_fields(bad, bad, 1.0, None, &Control::new())),
            Code::Format
        );
        let img = vec![1.0f64; 64];
        assert_eq!(
            code(warp_linear(&img, &g, bad, None, None, &Control::new())),
            Code::Format
        );
    }
    d[70] = 0.0;
    let f = Field::new(&d, &g, "f").unwrap();
    let mut o = InvertOptions {
        tolerance: -1.0,
        ..Default::default()
    };
    assert_eq!(
        code(invert_field(f, None, &o, &Control::new())),
        Code::Setting
    );
    o.tolerance = 1e-3;
    o.max_iter = usize::MAX;
    assert_eq!(
        code(invert_field(f, None, &o, &Control::new())),
        Code::Setting
    );
    let mut sing = AFF;
    sing[5] = 0.0;
    sing[4] = 0.0;
    sing[6] = 0.0;
    let gs = Grid::new(&dims, &sing, "f").unwrap();
    let fs = Field::new(&d, &gs, "f").unwrap();
    assert_eq!(
        code(invert_field(
            fs,
            None,
            &InvertOptions::default(),
            &Control::new()
        )),
        Code::Setting
    );
    assert_eq!(code(Grid::new(&[4, 0, 4], &AFF, "f")), Code::Shape);
    assert_eq!(code(Grid::new(&[4, 4, 4, 4], &AFF, "f")), Code::Shape);
    let mut nan = AFF;
    nan[3] = f64::INFINITY;
    assert_eq!(code(Grid::new(&dims, &nan, "f")), Code::Setting);
    let img = vec![1.0f64; 10];
    assert_eq!(
        code(warp_linear(&img, &g, f, None, None, &Control::new())),
        Code::Shape
    );
    let g2 = Grid::new(&[4, 4], &AFF, "f").unwrap();
    let d2 = vec![0.0f64; 32];
    let f2 = Field::new(&d2, &g2, "f").unwrap();
    assert_eq!(
        code(compose_fields(f, f2, 1.0, None, &Control::new())),
        Code::Shape
    );
    assert_eq!(
        code(compose_fields(f, f, f64::NAN, None, &Control::new())),
        Code::Setting
    );
    let ctl = Control::new();
    ctl.cancel();
    assert_eq!(
        code(invert_field(f, None, &InvertOptions::default(), &ctl)),
        Code::Aborted
    );
}

#[test]
fn thin_grids_take_the_scalar_path() {
    // one voxel thick: nothing is interior to the grid, DIPY composes to zero vectors
    let dims = [6, 5, 1];
    let g = Grid::new(&dims, &AFF, "f").unwrap();
    let d = vec![0.1f64; 3 * 30];
    let f = Field::new(&d, &g, "f").unwrap();
    let (c, st) = compose_fields(f, f, 1.0, None, &Control::new()).unwrap();
    assert!(c.iter().all(|&v| v == 0.0));
    assert_eq!(st.count, 0);
    assert!(st.mean_norm.is_nan());
    let (p, s) = invert_field(f, None, &InvertOptions::default(), &Control::new()).unwrap();
    assert!(p.iter().all(|&v| v == 0.0));
    assert_eq!(s.iterations, 1);
}

// Metamorphic properties (issue "Reliability in depth"): the algebra of displacement fields.

/// Voxels at least `m` voxels inside every face of `dims` (3D).
fn interior(dims: [usize; 3], m: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for z in m..dims[2].saturating_sub(m) {
        for y in m..dims[1].saturating_sub(m) {
            for x in m..dims[0].saturating_sub(m) {
                out.push(x + dims[0] * (y + dims[1] * z));
            }
        }
    }
    out
}

#[test]
fn composing_with_a_zero_field_gives_the_field() {
    let dims = [19, 16, 13];
    let n = dims[0] * dims[1] * dims[2];
    let g = Grid::new(&dims, &AFF, "f").unwrap();
    let d = smooth::<f64>(dims, 1.2, 21);
    let zero = vec![0.0f64; 3 * n];
    let f = Field::new(&d, &g, "d").unwrap();
    let z = Field::new(&zero, &g, "z").unwrap();
    // d then zero: x -> d(x) + 0 where x + d(x) lies inside the grid (DIPY sets the vector to
    // zero where it leaves the grid). Interior voxels, 2 voxels from the faces, stay inside
    // (|d| <= 1.2 voxels after the affine's stretch of at most 1.5): bitwise d there.
    for t in [1.0, 0.5] {
        let (c, _) = compose_fields(f, z, t, Some(2), &Control::new()).unwrap();
        for comp in 0..3 {
            for &v in &interior(dims, 2) {
                assert_eq!(
                    c[comp * n + v].to_bits(),
                    d[comp * n + v].to_bits(),
                    "voxel {v}"
                );
            }
        }
        for (i, (&a, &b)) in c.iter().zip(&d).enumerate() {
            assert!(
                a == b || a == 0.0,
                "element {i}: {a} is neither d ({b}) nor 0"
            );
        }
    }
    // zero then d: x -> 0 + t d(x), the interpolation at grid nodes being exact: bitwise t d
    // at every voxel inside (the nodes on the far faces are outside DIPY's open interval).
    let (c, _) = compose_fields(z, f, 1.0, Some(2), &Control::new()).unwrap();
    for comp in 0..3 {
        for &v in &interior(dims, 1) {
            assert_eq!(
                c[comp * n + v].to_bits(),
                d[comp * n + v].to_bits(),
                "voxel {v}"
            );
        }
    }
}

/// An affine whose inverse is exact in binary (power-of-two spacings, integer origin): the
/// sample points of a zero field are then exactly the grid nodes.
const DYADIC: [f64; 16] = [
    2.0, 0.0, 0.0, -3.0, 0.0, 0.5, 0.0, 4.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0,
];

#[test]
fn warping_with_a_zero_field_is_the_identity() {
    let dims = [17, 14, 11];
    let n = dims[0] * dims[1] * dims[2];
    let mut r = SplitMix64::new(5);
    let img: Vec<f64> = (0..n).map(|_| r.normal() * 100.0).collect();
    let img16: Vec<i16> = (0..n).map(|_| (r.normal() * 1000.0) as i16).collect();
    let imax = img.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let zero = vec![0.0f32; 3 * n];
    for (aff, exact) in [(DYADIC, true), (AFF, false)] {
        let g = Grid::new(&dims, &aff, "g").unwrap();
        let z = Field::new(&zero, &g, "z").unwrap();
        let w = warp_linear(&img, &g, z, None, Some(2), &Control::new()).unwrap();
        let wn =
            voxelkit_fields::warp_nearest(&img16, &g, z, None, Some(3), &Control::new()).unwrap();
        for &v in &interior(dims, 1) {
            if exact {
                // bitwise: the weights are exactly 1 and 0
                assert_eq!(w[v].to_bits(), img[v].to_bits(), "linear, voxel {v}");
            } else {
                // an oblique affine: A⁻¹(A i) is i within a few ulps, so the trilinear weights
                // are 1 - O(1e-15): within 1e-13 of the largest value (measured 9 ulps)
                assert!((w[v] - img[v]).abs() <= 1e-13 * imax, "linear, voxel {v}");
            }
            assert_eq!(wn[v], img16[v], "nearest, voxel {v}");
        }
        // the faces: the identity or DIPY's 0 outside, nothing else
        for v in 0..n {
            let ok = (w[v] - img[v]).abs() <= if exact { 0.0 } else { 1e-13 * imax };
            assert!(
                ok || w[v] == 0.0,
                "linear, voxel {v}: {} vs {}",
                w[v],
                img[v]
            );
            assert!(wn[v] == img16[v] || wn[v] == 0, "nearest, voxel {v}");
        }
    }
}

#[test]
fn a_translation_field_warps_as_a_shift() {
    // A constant world displacement t = A_lin (sx, sy, sz) moves every voxel's sample point by
    // exactly (sx, sy, sz) voxels: the warped image is the moving image shifted. The index is
    // computed through the affine and its inverse, so it lands within a few ulps of the
    // integer: trilinear weights of 1e-15 give values within 1e-12 of the shifted voxel
    // (relative to the image's largest value), and nearest neighbour is exact.
    let dims = [16, 15, 12];
    let n = dims[0] * dims[1] * dims[2];
    let g = Grid::new(&dims, &AFF, "g").unwrap();
    let mut r = SplitMix64::new(6);
    let img: Vec<f64> = (0..n).map(|_| r.normal() * 100.0).collect();
    let imax = img.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for shift in [[1i64, 0, 0], [0, -2, 1], [3, 1, -2]] {
        let s = shift.map(|x| x as f64);
        let t: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| AFF[4 * i + j] * s[j]).sum())
            .collect();
        let mut field = vec![0.0f64; 3 * n];
        for c in 0..3 {
            field[c * n..(c + 1) * n].iter_mut().for_each(|x| *x = t[c]);
        }
        let f = Field::new(&field, &g, "t").unwrap();
        let w = warp_linear(&img, &g, f, None, Some(2), &Control::new()).unwrap();
        let wn =
            voxelkit_fields::warp_nearest(&img, &g, f, None, Some(2), &Control::new()).unwrap();
        for z in 0..dims[2] as i64 {
            for y in 0..dims[1] as i64 {
                for x in 0..dims[0] as i64 {
                    let (sx, sy, sz) = (x + shift[0], y + shift[1], z + shift[2]);
                    // only targets at least one voxel inside the moving grid
                    if sx < 1
                        || sy < 1
                        || sz < 1
                        || sx > dims[0] as i64 - 2
                        || sy > dims[1] as i64 - 2
                        || sz > dims[2] as i64 - 2
                    {
                        continue;
                    }
                    let v = (x + dims[0] as i64 * (y + dims[1] as i64 * z)) as usize;
                    let u = (sx + dims[0] as i64 * (sy + dims[1] as i64 * sz)) as usize;
                    assert!(
                        (w[v] - img[u]).abs() <= 1e-12 * imax,
                        "shift {shift:?}, voxel {v}: {} vs {}",
                        w[v],
                        img[u]
                    );
                    assert_eq!(
                        wn[v].to_bits(),
                        img[u].to_bits(),
                        "nearest, shift {shift:?}, voxel {v}"
                    );
                }
            }
        }
    }
}

#[test]
fn inverting_the_inverse_returns_the_field() {
    // d -> inverse p -> inverse of p. Each inversion stops when its mean residual (voxels) is
    // below the tolerance; the fixed point iteration's residual r(x) = p(x) + d(x + p(x))
    // bounds the error of the inverse by |r| / (1 - L) with L the field's Lipschitz constant
    // (here < 0.3: amplitude 1 voxel over wavelengths of 15+ voxels). Away from the faces
    // (where DIPY's extrapolation is cut), the round trip is within the two inversions'
    // largest residuals over (1 - L), plus the interpolation of p between nodes (O(h² |∇²p|),
    // ~1e-3 voxel for these fields): checked at the sum of both residual bounds + 5e-3.
    let dims = [24, 22, 20];
    let n = dims[0] * dims[1] * dims[2];
    let g = Grid::new(&dims, &AFF, "f").unwrap();
    let d = smooth::<f64>(dims, 1.0, 9);
    let o = InvertOptions {
        max_iter: 200,
        tolerance: 1e-7,
        threads: Some(2),
        ..Default::default()
    };
    let f = Field::new(&d, &g, "d").unwrap();
    let (p, s1) = invert_field(f, None, &o, &Control::new()).unwrap();
    let pf = Field::new(&p, &g, "p").unwrap();
    let (dd, s2) = invert_field(pf, None, &o, &Control::new()).unwrap();
    let l = 0.3;
    // residuals are in voxels; the fields in world units (voxel sizes up to 1.5 here)
    let bound = 1.5 * (s1.max_residual + s2.max_residual) / (1.0 - l) + 5e-3;
    let mut worst = 0.0f64;
    for comp in 0..3 {
        for &v in &interior(dims, 4) {
            worst = worst.max((dd[comp * n + v] - d[comp * n + v]).abs());
        }
    }
    println!(
        "inverse of the inverse: {worst:.2e} from the field (bound {bound:.2e}); {s1:?} {s2:?}"
    );
    assert!(
        worst <= bound,
        "inverse of the inverse off by {worst:e} (bound {bound:e})"
    );
    // and it is not trivially small because the field is: the field moves voxels by ~1
    assert!(d.iter().fold(0.0f64, |m, x| m.max(x.abs())) > 0.5);
}

/// Composition scans its inputs for NaN and infinities within its own pass (d2 only when it
/// has as many voxels as d1; otherwise up front): the error still names d1's first bad value
/// before d2's, in either case, at any thread count.
#[test]
fn compose_names_the_first_non_finite_input() {
    let g = Grid::new(&[9, 7, 5], &AFF, "f").unwrap();
    let n = 3 * 9 * 7 * 5;
    let ok = vec![0.25f64; n];
    let msg = |a: &[f64], ga: &Grid, b: &[f64], gb: &Grid, threads| {
        let fa = Field::new(a, ga, "a").unwrap();
        let fb = Field::new(b, gb, "b").unwrap();
        let e = compose_fields(fa, fb, 1.0, Some(threads), &Control::new()).unwrap_err();
        assert_eq!(e.code, Code::Format);
        e.message
    };
    let mut d1 = ok.clone();
    d1[n - 1] = f64::INFINITY; // last voxel, component 2
    let mut d2 = ok.clone();
    d2[5] = f64::NAN; // voxel (5, 0, 0), component 0
    for threads in [1, 3] {
        let m = msg(&d1, &g, &ok, &g, threads);
        assert!(
            m.starts_with("d1 ") && m.contains("voxel (8, 6, 4), component 2"),
            "{m}"
        );
        let m = msg(&ok, &g, &d2, &g, threads);
        assert!(
            m.starts_with("d2 ") && m.contains("voxel (5, 0, 0), component 0"),
            "{m}"
        );
        let m = msg(&d1, &g, &d2, &g, threads);
        assert!(m.starts_with("d1 "), "{m}");
        // d2 on a grid with another voxel count: scanned before the pass
        let g2 = Grid::new(&[4, 3, 2], &AFF, "f").unwrap();
        let mut small = vec![0.0f64; 3 * 24];
        small[30] = f64::NEG_INFINITY; // voxel (2, 1, 0), component 1
        let m = msg(&ok, &g, &small, &g2, threads);
        assert!(
            m.starts_with("d2 ") && m.contains("voxel (2, 1, 0), component 1"),
            "{m}"
        );
        let m = msg(&d1, &g, &small, &g2, threads);
        assert!(m.starts_with("d2 "), "{m}");
    }
    // float32 fields
    let a32: Vec<f32> = d1.iter().map(|&v| v as f32).collect();
    let ok32 = vec![0.25f32; n];
    let fa = Field::new(&a32, &g, "a").unwrap();
    let fb = Field::new(&ok32, &g, "b").unwrap();
    let e = compose_fields(fa, fb, 1.0, Some(2), &Control::new()).unwrap_err();
    assert!(e.message.starts_with("d1 "), "{}", e.message);
}
