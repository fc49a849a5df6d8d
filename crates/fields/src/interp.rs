//! Interpolation with DIPY's semantics (`dipy.core.interpolation`).
//!
//! Positions are voxel coordinates `(x, y, z)`. Trilinear weights: `wx = 1 - fx` and `fx`
//! along x (DIPY's `gamma`, `cgamma`), `wy`/`fy` along y (`alpha`, `calpha`), `wz`/`fz` along z
//! (`beta`, `cbeta`); a corner's weight is `(wy * wz) * wx` and the corners are added in DIPY's
//! order `(0,0,0) (0,0,1) (0,1,1) (0,1,0) (1,0,0) (1,0,1) (1,1,1) (1,1,0)` (offsets in x, y, z).
//! Vector results are rounded to the field's type after every corner, as DIPY accumulates into
//! its `floating` output.
//!
//! A point is *outside* when a coordinate is not in `(-1, n)`; between that and the full
//! interior (all 8 corners on the grid), DIPY's interpolators sum the corners that exist:
//! [`vector3_partial`] and [`scalar3`] do that, while [`vector3_full`] (used by composition,
//! which discards partial results) only answers for interior points.

use crate::Real;

/// Voxel-grid strides and sizes.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub n: [usize; 3],
    /// Upper bounds as floats (`n` as f64).
    pub nf: [f64; 3],
    pub sy: usize,
    pub sz: usize,
}

impl Dims {
    pub fn new(n: [usize; 3]) -> Dims {
        Dims {
            n,
            nf: [n[0] as f64, n[1] as f64, n[2] as f64],
            sy: n[0],
            sz: n[0] * n[1],
        }
    }
}

/// `floor(x)` as an integer for `x` in `(-1, 2^31)` (callers check the range first): a
/// truncating cast and a correction, the same value as `x.floor()` without the libm call that
/// baseline x86-64 makes for `floor`.
#[inline(always)]
fn floor_in_range(x: f64) -> (isize, f64) {
    let t = x as i64;
    let t = t - ((t as f64) > x) as i64;
    (t as isize, t as f64)
}

#[inline(always)]
fn acc<T: Real>(a: T, w: f64, v: T) -> T {
    T::from_f64(a.to_f64() + w * v.to_f64())
}

/// The cell of a 3D point: its first corner (the floors) and the 8 corner weights in DIPY's
/// order; `None` outside (a coordinate not in `(-1, n)`).
#[inline(always)]
fn cell3(d: &Dims, x: f64, y: f64, z: f64) -> Option<([isize; 3], [f64; 8])> {
    if !(-1.0 < x && x < d.nf[0] && -1.0 < y && y < d.nf[1] && -1.0 < z && z < d.nf[2]) {
        return None;
    }
    let (kx, fx0) = floor_in_range(x);
    let (ky, fy0) = floor_in_range(y);
    let (kz, fz0) = floor_in_range(z);
    let cx = x - fx0;
    let cy = y - fy0;
    let cz = z - fz0;
    let (wx, wy, wz) = (1.0 - cx, 1.0 - cy, 1.0 - cz);
    let w = [
        wy * wz * wx,
        wy * cz * wx,
        cy * cz * wx,
        cy * wz * wx,
        wy * wz * cx,
        wy * cz * cx,
        cy * cz * cx,
        cy * wz * cx,
    ];
    Some(([kx, ky, kz], w))
}

/// The cell of a 2D point: its first corner and the 4 corner weights in DIPY's order
/// `(0,0) (0,1) (1,1) (1,0)`, `wx * wy`; `None` outside.
#[inline(always)]
fn cell2(d: &Dims, x: f64, y: f64) -> Option<([isize; 2], [f64; 4])> {
    if !(-1.0 < x && x < d.nf[0] && -1.0 < y && y < d.nf[1]) {
        return None;
    }
    let (kx, fx0) = floor_in_range(x);
    let (ky, fy0) = floor_in_range(y);
    let cx = x - fx0;
    let cy = y - fy0;
    let (wx, wy) = (1.0 - cx, 1.0 - cy);
    Some(([kx, ky], [wx * wy, wx * cy, cx * cy, cx * wy]))
}

/// 3D vector interpolation at an interior point (all 8 corners on the grid), `None` otherwise
/// (DIPY's `_interpolate_vector_3d` returning 0).
#[inline(always)]
pub fn vector3_full<T: Real>(p: &[&[T]; 3], d: &Dims, x: f64, y: f64, z: f64) -> Option<[T; 3]> {
    let ([kx, ky, kz], w) = cell3(d, x, y, z)?;
    if kx < 0
        || ky < 0
        || kz < 0
        || kx + 1 >= d.n[0] as isize
        || ky + 1 >= d.n[1] as isize
        || kz + 1 >= d.n[2] as isize
    {
        return None;
    }
    let b = kx as usize + d.sy * ky as usize + d.sz * kz as usize;
    let (sy, sz) = (d.sy, d.sz);
    let o = [
        b,
        b + sz,
        b + sy + sz,
        b + sy,
        b + 1,
        b + 1 + sz,
        b + 1 + sy + sz,
        b + 1 + sy,
    ];
    let mut out = [T::default(); 3];
    for c in 0..3 {
        let pl = p[c];
        debug_assert!(o[6] < pl.len());
        // SAFETY: the point is interior (checked above), so every corner index is below
        // nx * ny * nz, the length of each plane (checked when the field was built)
        let g = |k: usize| unsafe { pl.get_unchecked(o[k]) }.to_f64();
        let mut a = T::from_f64(w[0] * g(0));
        for k in 1..8 {
            a = T::from_f64(a.to_f64() + w[k] * g(k));
        }
        out[c] = a;
    }
    Some(out)
}

/// 2D vector interpolation at an interior point (4 corners on the grid), DIPY's
/// `_interpolate_vector_2d` returning 1; corner order `(0,0) (0,1) (1,1) (1,0)`, weights
/// `wx * wy` (DIPY's `alpha * beta`).
#[inline(always)]
pub fn vector2_full<T: Real>(p: &[&[T]; 2], d: &Dims, x: f64, y: f64) -> Option<[T; 2]> {
    let ([kx, ky], w) = cell2(d, x, y)?;
    if kx < 0 || ky < 0 || kx + 1 >= d.n[0] as isize || ky + 1 >= d.n[1] as isize {
        return None;
    }
    let b = kx as usize + d.sy * ky as usize;
    let o = [b, b + d.sy, b + 1 + d.sy, b + 1];
    let mut out = [T::default(); 2];
    for c in 0..2 {
        let pl = p[c];
        let mut a = T::from_f64(w[0] * pl[o[0]].to_f64());
        for k in 1..4 {
            a = acc(a, w[k], pl[o[k]]);
        }
        out[c] = a;
    }
    Some(out)
}

/// The corner indices (DIPY's order) and weights of a 3D point whose 8 corners all lie on the
/// grid; `None` otherwise. The weights are [`cell3`]'s.
#[inline(always)]
fn interior3(d: &Dims, pos: [f64; 3]) -> Option<([usize; 8], [f64; 8])> {
    let ([kx, ky, kz], w) = cell3(d, pos[0], pos[1], pos[2])?;
    if kx < 0
        || ky < 0
        || kz < 0
        || kx + 1 >= d.n[0] as isize
        || ky + 1 >= d.n[1] as isize
        || kz + 1 >= d.n[2] as isize
    {
        return None;
    }
    let b = kx as usize + d.sy * ky as usize + d.sz * kz as usize;
    let (sy, sz) = (d.sy, d.sz);
    Some((
        [
            b,
            b + sz,
            b + sy + sz,
            b + sy,
            b + 1,
            b + 1 + sz,
            b + 1 + sy + sz,
            b + 1 + sy,
        ],
        w,
    ))
}

/// Corner offsets, weights and presence for partial (border) interpolation in 3D.
#[inline(always)]
fn corners3(d: &Dims, x: f64, y: f64, z: f64) -> Option<([usize; 8], [f64; 8], [bool; 8])> {
    let ([kx, ky, kz], w) = cell3(d, x, y, z)?;
    let lo = [kx >= 0, ky >= 0, kz >= 0];
    let hi = [
        kx + 1 < d.n[0] as isize,
        ky + 1 < d.n[1] as isize,
        kz + 1 < d.n[2] as isize,
    ];
    // (dx, dy, dz) of each corner in DIPY's order
    const OFF: [[usize; 3]; 8] = [
        [0, 0, 0],
        [0, 0, 1],
        [0, 1, 1],
        [0, 1, 0],
        [1, 0, 0],
        [1, 0, 1],
        [1, 1, 1],
        [1, 1, 0],
    ];
    let mut o = [0usize; 8];
    let mut ok = [false; 8];
    for k in 0..8 {
        let [dx, dy, dz] = OFF[k];
        let inside = (if dx == 0 { lo[0] } else { hi[0] })
            && (if dy == 0 { lo[1] } else { hi[1] })
            && (if dz == 0 { lo[2] } else { hi[2] });
        ok[k] = inside;
        if inside {
            o[k] = (kx + dx as isize) as usize
                + d.sy * (ky + dy as isize) as usize
                + d.sz * (kz + dz as isize) as usize;
        }
    }
    Some((o, w, ok))
}

/// Corner offsets, weights and presence for partial interpolation in 2D.
#[inline(always)]
fn corners2(d: &Dims, x: f64, y: f64) -> Option<([usize; 4], [f64; 4], [bool; 4])> {
    let ([kx, ky], w) = cell2(d, x, y)?;
    let lo = [kx >= 0, ky >= 0];
    let hi = [kx + 1 < d.n[0] as isize, ky + 1 < d.n[1] as isize];
    const OFF: [[usize; 2]; 4] = [[0, 0], [0, 1], [1, 1], [1, 0]];
    let mut o = [0usize; 4];
    let mut ok = [false; 4];
    for k in 0..4 {
        let [dx, dy] = OFF[k];
        let inside = (if dx == 0 { lo[0] } else { hi[0] }) && (if dy == 0 { lo[1] } else { hi[1] });
        ok[k] = inside;
        if inside {
            o[k] = (kx + dx as isize) as usize + d.sy * (ky + dy as isize) as usize;
        }
    }
    Some((o, w, ok))
}

/// [`corners3`] or, for `D = 2`, [`corners2`] padded to 8 corners (the last 4 absent).
#[inline(always)]
fn corners<const D: usize>(d: &Dims, pos: [f64; 3]) -> Option<([usize; 8], [f64; 8], [bool; 8])> {
    if D == 3 {
        return corners3(d, pos[0], pos[1], pos[2]);
    }
    let (o, w, ok) = corners2(d, pos[0], pos[1])?;
    let pad = |k: usize| k < 4 && ok[k];
    Some((
        std::array::from_fn(|k| if k < 4 { o[k] } else { 0 }),
        std::array::from_fn(|k| if k < 4 { w[k] } else { 0.0 }),
        std::array::from_fn(pad),
    ))
}

/// DIPY's `_interpolate_vector_3d` / `_2d` value whatever the corner count (zero outside):
/// what `warp_3d` reads from the field when it resamples it.
#[inline(always)]
pub fn vector_partial<T: Real, const D: usize>(p: &[&[T]; D], d: &Dims, pos: [f64; 3]) -> [T; D] {
    let mut out = [T::default(); D];
    if D == 3 {
        if let Some((o, w)) = interior3(d, pos) {
            // all 8 corners on the grid: the sum below with every corner present
            for c in 0..D {
                let pl = p[c];
                // o[6] is the largest corner index
                assert!(o[6] < pl.len(), "field plane shorter than its grid");
                // SAFETY: every corner index is at most o[6] (checked above)
                let g = |k: usize| unsafe { *pl.get_unchecked(o[k]) };
                let mut a = T::default();
                for k in 0..8 {
                    a = acc(a, w[k], g(k));
                }
                out[c] = a;
            }
            return out;
        }
    }
    if let Some((o, w, ok)) = corners::<D>(d, pos) {
        for c in 0..D {
            let mut a = T::default();
            for k in 0..8 {
                if ok[k] {
                    a = acc(a, w[k], p[c][o[k]]);
                }
            }
            out[c] = a;
        }
    }
    out
}

/// DIPY's `_interpolate_scalar_3d` / `_2d` (trilinear, the corners on the grid summed, zero
/// outside), in float64.
#[inline(always)]
pub fn scalar<S: Copy, const D: usize>(
    img: &[S],
    conv: impl Fn(S) -> f64,
    d: &Dims,
    pos: [f64; 3],
) -> f64 {
    let mut a = 0.0;
    if let Some((o, w, ok)) = corners::<D>(d, pos) {
        for k in 0..8 {
            if ok[k] {
                a += w[k] * conv(img[o[k]]);
            }
        }
    }
    a
}

/// [`scalar`] for a float32 image as DIPY computes it: the sum is kept in float32, rounded
/// after every corner (`out[0] += w * v` into a `float`).
#[inline(always)]
pub fn scalar_f32<const D: usize>(img: &[f32], d: &Dims, pos: [f64; 3]) -> f32 {
    let mut a = 0.0f32;
    if D == 3 {
        if let Some((o, w)) = interior3(d, pos) {
            // o[6] is the largest corner index
            assert!(o[6] < img.len(), "image shorter than its grid");
            for k in 0..8 {
                // SAFETY: every corner index is at most o[6] (checked above)
                let v = unsafe { *img.get_unchecked(o[k]) };
                a = (a as f64 + w[k] * v as f64) as f32;
            }
            return a;
        }
    }
    if let Some((o, w, ok)) = corners::<D>(d, pos) {
        for k in 0..8 {
            if ok[k] {
                a = (a as f64 + w[k] * img[o[k]] as f64) as f32;
            }
        }
    }
    a
}

/// DIPY's `_interpolate_scalar_nn_3d` / `_2d`: the index of the nearest voxel (ties round
/// down), `None` outside `[0, n - 1]`.
#[inline(always)]
pub fn nearest<const D: usize>(d: &Dims, pos: [f64; 3]) -> Option<usize> {
    let mut idx = [0usize; 3];
    for a in 0..D {
        let v = pos[a];
        if !(0.0 <= v && v <= d.nf[a] - 1.0) {
            return None;
        }
        let f = v.floor();
        let mut k = f as usize;
        let c = v - f;
        if 1.0 - c < c {
            k += 1;
        }
        if k >= d.n[a] {
            return None;
        }
        idx[a] = k;
    }
    Some(idx[0] + d.sy * idx[1] + d.sz * idx[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_interior_reproduces_linear_functions() {
        let n = [4, 5, 6];
        let d = Dims::new(n);
        let nv = 120;
        let mut f = vec![0.0f64; 3 * nv];
        for z in 0..6 {
            for y in 0..5 {
                for x in 0..4 {
                    let i = x + 4 * (y + 5 * z);
                    f[i] = 1.0 + 2.0 * x as f64 - y as f64 + 0.5 * z as f64;
                    f[nv + i] = x as f64 * 0.25;
                    f[2 * nv + i] = -(z as f64);
                }
            }
        }
        let pl = [&f[..nv], &f[nv..2 * nv], &f[2 * nv..]];
        let v = vector3_full(&pl, &d, 1.25, 2.5, 3.75).unwrap();
        assert!((v[0] - (1.0 + 2.5 - 2.5 + 1.875)).abs() < 1e-14);
        assert!((v[1] - 0.3125).abs() < 1e-15);
        assert!((v[2] + 3.75).abs() < 1e-15);
        // the last voxel itself is not interior in DIPY's sense
        assert!(vector3_full(&pl, &d, 3.0, 1.0, 1.0).is_none());
        assert!(vector3_full(&pl, &d, -0.5, 1.0, 1.0).is_none());
        // partial: the existing corners are summed
        let p = vector_partial::<f64, 3>(&pl, &d, [3.0, 1.0, 1.0]);
        assert!((p[1] - 0.75).abs() < 1e-15);
        assert_eq!(vector_partial::<f64, 3>(&pl, &d, [4.0, 1.0, 1.0]), [0.0; 3]);
    }

    #[test]
    fn nearest_rounds_ties_down() {
        let d = Dims::new([3, 3, 3]);
        assert_eq!(nearest::<3>(&d, [0.5, 0.0, 0.0]), Some(0));
        assert_eq!(nearest::<3>(&d, [0.51, 0.0, 0.0]), Some(1));
        assert_eq!(nearest::<3>(&d, [2.0, 2.0, 2.0]), Some(26));
        assert_eq!(nearest::<3>(&d, [2.01, 0.0, 0.0]), None);
        assert_eq!(nearest::<3>(&d, [-0.01, 0.0, 0.0]), None);
    }
}
