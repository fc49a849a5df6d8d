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
