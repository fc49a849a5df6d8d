//! 3D composition four voxels at a time, one per SIMD lane.
//!
//! Each lane performs exactly the operations of the scalar path ([`crate::compose`] and
//! [`crate::interp::vector3_full`]) in the same order: the same affine products, floors,
//! weight products, corner order and roundings to the field's type. Only independent voxels
//! are put side by side, so results are bitwise those of the scalar code; the arithmetic runs
//! on 4-wide vectors when the AVX2 build is chosen at run time ([`dispatch`]). No FMA
//! contraction: Rust never fuses `a * b + c`.

use crate::affine::Affine;
use crate::interp::Dims;
use crate::Real;

/// Lanes per group.
pub(crate) const L: usize = 4;

/// Vector-valued lanes: `[component][lane]`.
pub(crate) type V3 = [[f64; L]; 3];

/// Composition of four voxels: `a` their first-field values (as f64 of `T`), `xyz` their voxel
/// coordinates, `disp` (B) applied to `a` without translation, `index` (A) to `xyz`, `d2`
/// interpolated at interior points only. Returns the composed vectors (rounded to `T`, as f64)
/// and which lanes were interior (the others are zero).
#[inline(always)]
pub(crate) fn compose4<T: Real>(
    a: &V3,
    xyz: &V3,
    disp: &Affine,
    index: Option<&Affine>,
    t: f64,
    d2: &[&[T]; 3],
    dims: &Dims,
) -> (V3, [bool; L]) {
    let mut pos = [[0.0f64; L]; 3];
    for r in 0..3 {
        let m = &disp.m[r];
        let mut dr = [0.0; L];
        for l in 0..L {
            dr[l] = m[0] * a[0][l] + m[1] * a[1][l] + m[2] * a[2][l] + 0.0 * m[3];
        }
        let mut ir = [0.0; L];
        match index {
            None => ir = xyz[r],
            Some(ix) => {
                let m = &ix.m[r];
                for l in 0..L {
                    ir[l] = m[0] * xyz[0][l] + m[1] * xyz[1][l] + m[2] * xyz[2][l] + 1.0 * m[3];
                }
            }
        }
        for l in 0..L {
            pos[r][l] = ir[l] + dr[l];
        }
    }
    // interior (all 8 corners on the grid) <=> 0 <= x < n - 1 on every axis
    let mut inside = [true; L];
    for r in 0..3 {
        let hi = dims.nf[r] - 1.0;
        for l in 0..L {
            inside[l] &= 0.0 <= pos[r][l] && pos[r][l] < hi;
        }
    }
    let mut fl = [[0.0f64; L]; 3];
    let mut w1 = [[0.0f64; L]; 3]; // 1 - frac
    let mut c1 = [[0.0f64; L]; 3]; // frac
    for r in 0..3 {
        for l in 0..L {
            let x = if inside[l] { pos[r][l] } else { 0.0 };
            let f = x.floor();
            fl[r][l] = f;
            c1[r][l] = x - f;
            w1[r][l] = 1.0 - c1[r][l];
        }
    }
    // weights in DIPY's corner order: (wy * wz) * wx with x the slowest-varying corner bit
    let (wx, wy, wz) = (&w1[0], &w1[1], &w1[2]);
    let (cx, cy, cz) = (&c1[0], &c1[1], &c1[2]);
    let mut w = [[0.0f64; L]; 8];
    for l in 0..L {
        w[0][l] = wy[l] * wz[l] * wx[l];
        w[1][l] = wy[l] * cz[l] * wx[l];
        w[2][l] = cy[l] * cz[l] * wx[l];
        w[3][l] = cy[l] * wz[l] * wx[l];
        w[4][l] = wy[l] * wz[l] * cx[l];
        w[5][l] = wy[l] * cz[l] * cx[l];
        w[6][l] = cy[l] * cz[l] * cx[l];
        w[7][l] = cy[l] * wz[l] * cx[l];
    }
    assert!(
        dims.n.iter().all(|&n| n >= 2),
        "lane path needs 2 voxels per axis"
    );
    let (sy, sz) = (dims.sy, dims.sz);
    let off = [0, sz, sy + sz, sy, 1, 1 + sz, 1 + sy + sz, 1 + sy];
    let mut base = [0usize; L];
    for l in 0..L {
        base[l] = fl[0][l] as usize + sy * fl[1][l] as usize + sz * fl[2][l] as usize;
    }
    let mut out = [[0.0f64; L]; 3];
    for c in 0..3 {
        let pl = d2[c];
        let mut g = [[0.0f64; L]; 8];
        for l in 0..L {
            debug_assert!(base[l] + off[6] < pl.len());
            for k in 0..8 {
                // SAFETY: an interior lane's corners lie on the grid; other lanes read the
                // corners of voxel (0, 0, 0), which exist because the grid has at least 2
                // voxels on every axis (callers take the lane path only then; checked above)
                g[k][l] = unsafe { pl.get_unchecked(base[l] + off[k]) }.to_f64();
            }
        }
        let mut acc = [0.0f64; L];
        for l in 0..L {
            acc[l] = T::from_f64(w[0][l] * g[0][l]).to_f64();
        }
        for k in 1..8 {
            for l in 0..L {
                acc[l] = T::from_f64(acc[l] + w[k][l] * g[k][l]).to_f64();
            }
        }
        for l in 0..L {
            let v = T::from_f64(t * acc[l] + a[c][l]).to_f64();
            out[c][l] = if inside[l] { v } else { 0.0 };
        }
    }
    (out, inside)
}

/// Whether the lane path may run on a grid (it reads the corners of voxel (0, 0, 0)).
pub(crate) fn lanes_ok(dims: &Dims) -> bool {
    dims.n.iter().all(|&n| n >= 2)
}

/// Whether the AVX2 build of the lane kernels runs on this CPU.
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
