//! 3D composition [`L`] (eight) voxels at a time, one per SIMD lane.
//!
//! Each lane performs exactly the operations of the scalar path ([`crate::compose`] and
//! [`crate::interp::vector3_full`]) in the same order: the same affine products, floors,
//! weight products, corner order and roundings to the field's type. Only independent voxels
//! are put side by side, so results are bitwise those of the scalar code; the arithmetic runs
//! on 4-wide vectors (two per lane group: two independent dependency chains side by side)
//! when the AVX2 build is chosen at run time ([`avx2_or_baseline`]). No FMA
//! contraction: Rust never fuses `a * b + c`.

use crate::compose::Premult;
use crate::interp::Dims;
use crate::Real;

/// Lanes per group (eight: two AVX2 vectors of four float64, which gives the out-of-order
/// core two independent chains of interpolation sums; same bits for any `L`).
pub(crate) const L: usize = 8;

/// Vector-valued lanes: `[component][lane]`.
pub(crate) type V3 = [[f64; L]; 3];

/// Composition of [`L`] voxels: `a` their first-field values (as f64 of `T`), `xyz` their voxel
/// coordinates, `pm.disp` (B) applied to `a` without translation, `pm.index` (A) to `xyz`, `d2`
/// interpolated at interior points only and scaled by `pm.t`. Returns the composed vectors (rounded to `T`, as f64)
/// and which lanes were interior (the others are zero).
///
/// `AVX`: the caller is the AVX2 build (the corners are then loaded by gather instructions,
/// [`gather_real`]; the same values).
#[inline(always)]
pub(crate) fn compose4<T: Real, const AVX: bool>(
    a: &V3,
    xyz: &V3,
    pm: &Premult,
    d2: &[&[T]; 3],
    dims: &Dims,
) -> (V3, [bool; L]) {
    let (disp, index, t) = (&pm.disp, pm.index.as_ref(), pm.t);
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
    assert!(
        lanes_ok(dims),
        "lane path needs 2 to 2^31 - 1 voxels per axis"
    );
    let Corners { inside, base, w } = corners(&pos, dims);
    let mut out = [[0.0f64; L]; 3];
    for c in 0..3 {
        // SAFETY: `d2` holds the planes of the grid `dims` describes, which has at least 2
        // voxels on every axis (callers take the lane path only then; checked above)
        let g = unsafe { gather_real::<T, AVX>(d2[c], dims, &base, T::to_f64) };
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

/// Trilinear interpolation set-up of [`L`] points `pos` (voxel coordinates) on the grid `dims`.
pub(crate) struct Corners {
    /// Whether all 8 corners of the lane's point lie on the grid (`0 <= x < n - 1` per axis).
    pub inside: [bool; L],
    /// Linear index of the lane's first corner (voxel (0, 0, 0) for the other lanes).
    pub base: [usize; L],
    /// Weights of the 8 corners in DIPY's order, `(wy * wz) * wx` with x the slowest-varying
    /// corner bit (the order of [`offsets`]); those of the other lanes weigh voxel (0, 0, 0).
    pub w: [[f64; L]; 8],
}

/// The offsets of the 8 corners from the first, in DIPY's order (x slowest), on `dims`.
#[inline(always)]
fn offsets(dims: &Dims) -> [usize; 8] {
    let (sy, sz) = (dims.sy, dims.sz);
    [0, sz, sy + sz, sy, 1, 1 + sz, 1 + sy + sz, 1 + sy]
}

/// The corners and weights of [`L`] points, with the scalar path's arithmetic per lane (floor,
/// `x - floor`, `1 - frac`, the weight products in the same order).
#[inline(always)]
pub(crate) fn corners(pos: &V3, dims: &Dims) -> Corners {
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
    let (sy, sz) = (dims.sy, dims.sz);
    let mut base = [0usize; L];
    // the floors are whole numbers in [0, n - 1) (0 for lanes not inside) and the lane paths
    // run on grids of fewer than 2^31 voxels per axis ([`lanes_ok`]), so a plain truncating conversion to i32 gives them exactly,
    // without the saturation code of `as usize`
    let ix = |v: f64| -> usize {
        debug_assert!((0.0..i32::MAX as f64).contains(&v));
        // SAFETY: v is finite and in i32's range (see above)
        unsafe { v.to_int_unchecked::<i32>() as usize }
    };
    for l in 0..L {
        base[l] = ix(fl[0][l]) + sy * ix(fl[1][l]) + sz * ix(fl[2][l]);
    }
    Corners { inside, base, w }
}

/// The 8 corner values of each lane, `[corner][lane]`, read from `src` (one value per voxel of
/// `dims`) at `base` (from [`corners`]) and converted by `to_f64`.
///
/// # Safety
/// `src` must hold at least the voxels of `dims`, and `dims` must have 2 or more voxels on
/// every axis: an interior lane's corners then lie on the grid, and the other lanes read the
/// corners of voxel (0, 0, 0), which exist.
#[inline(always)]
pub(crate) unsafe fn gather<E: Copy>(
    src: &[E],
    dims: &Dims,
    base: &[usize; L],
    to_f64: impl Fn(E) -> f64,
) -> [[f64; L]; 8] {
    let off = offsets(dims);
    let mut g = [[0.0f64; L]; 8];
    for l in 0..L {
        debug_assert!(base[l] + off[6] < src.len());
        for k in 0..8 {
            // SAFETY: see the function's contract
            g[k][l] = to_f64(unsafe { *src.get_unchecked(base[l] + off[k]) });
        }
    }
    g
}

/// [`gather`], by [`gather_hw`] in the AVX2 build (`AVX`) for float64 and float32 data.
/// `to_f64` must be the plain conversion for those types (`T::to_f64`, `S::to_f64`,
/// `v as f64`): the hardware path converts exactly as they do (debug builds compare the two).
///
/// # Safety
/// As [`gather`]; `AVX` only where the CPU has AVX2.
#[inline(always)]
pub(crate) unsafe fn gather_real<E: Copy + 'static, const AVX: bool>(
    src: &[E],
    dims: &Dims,
    base: &[usize; L],
    to_f64: impl Fn(E) -> f64,
) -> [[f64; L]; 8] {
    #[cfg(target_arch = "x86_64")]
    if AVX && gathers_pay() {
        // SAFETY: per the contract
        if let Some(g) = unsafe { gather_hw(src, dims, base) } {
            debug_assert!(
                g.iter().flatten().map(|v| v.to_bits()).eq(
                    // SAFETY: per the contract
                    unsafe { gather(src, dims, base, &to_f64) }
                        .iter()
                        .flatten()
                        .map(|v| v.to_bits())
                ),
                "hardware gather differs"
            );
            return g;
        }
    }
    // SAFETY: per the contract
    unsafe { gather(src, dims, base, to_f64) }
}

/// Whether AVX2's gather loads beat scalar loads of the corners on this CPU: on Intel's
/// (measured there in the lane kernels' speed-up), not on AMD's, where a gather is microcoded.
/// On a 2-core AMD EPYC VM (Zen 4) scalar loads made an inversion of a 128³ field 25 % faster
/// (CPU time 1.43 -> 1.07 s), a composition 0.092 -> 0.070 s and a trilinear warp 0.058 ->
/// 0.036 s (`examples/time_fields.rs`, one thread). Either way the values loaded are the same.
#[cfg(target_arch = "x86_64")]
fn gathers_pay() -> bool {
    static PAY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PAY.get_or_init(|| {
        // CPUID leaf 0: the vendor string in EBX, EDX, ECX ("GenuineIntel")
        #[allow(unused_unsafe)]
        // SAFETY: CPUID leaf 0 exists on every x86-64 CPU
        let r = unsafe { std::arch::x86_64::__cpuid(0) };
        [r.ebx, r.edx, r.ecx]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .eq(*b"GenuineIntel")
    })
}

/// [`gather`] for float64 and float32 data with AVX2's gather loads (four lanes of a corner
/// per instruction; float32 converted exactly to float64); `None` for other types. Only
/// data movement: the values of [`gather`] with the plain conversion.
///
/// # Safety
/// As [`gather`], and the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn gather_hw<E: Copy + 'static>(
    src: &[E],
    dims: &Dims,
    base: &[usize; L],
) -> Option<[[f64; L]; 8]> {
    use std::any::TypeId;
    use std::arch::x86_64::*;
    let is64 = TypeId::of::<E>() == TypeId::of::<f64>();
    if !is64 && TypeId::of::<E>() != TypeId::of::<f32>() {
        return None;
    }
    const _: () = assert!(L.is_multiple_of(4));
    let off = offsets(dims);
    let mut g = [[0.0f64; L]; 8];
    for h in (0..L).step_by(4) {
        // four lanes' first-corner indices; the corners lie on the plane (the function's
        // contract), so every index below fits an i64
        let b = _mm256_set_epi64x(
            base[h + 3] as i64,
            base[h + 2] as i64,
            base[h + 1] as i64,
            base[h] as i64,
        );
        for k in 0..8 {
            debug_assert!((h..h + 4).all(|l| base[l] + off[k] < src.len()));
            let ix = _mm256_add_epi64(b, _mm256_set1_epi64x(off[k] as i64));
            // SAFETY: every lane's index is in bounds (above)
            let v = unsafe {
                if is64 {
                    _mm256_i64gather_pd::<8>(src.as_ptr() as *const f64, ix)
                } else {
                    _mm256_cvtps_pd(_mm256_i64gather_ps::<4>(src.as_ptr() as *const f32, ix))
                }
            };
            // SAFETY: __m256d and [f64; 4] have the same size and any bits are valid
            let v = unsafe { std::mem::transmute::<__m256d, [f64; 4]>(v) };
            g[k][h..h + 4].copy_from_slice(&v);
        }
    }
    Some(g)
}

/// Whether the lane path may run on a grid (it reads the corners of voxel (0, 0, 0)).
pub(crate) fn lanes_ok(dims: &Dims) -> bool {
    dims.n.iter().all(|&n| (2..=i32::MAX as usize).contains(&n))
}

/// `$fast` (a kernel's AVX2 build, an `unsafe fn`) when `$avx2`, else `$base` (the same kernel
/// built for the baseline): the value of the enclosing function. `$avx2` must come from
/// [`has_avx2`]. Both builds give the same bits (no FMA contraction, IEEE operations only).
macro_rules! avx2_or_baseline {
    ($avx2:expr, $fast:expr, $base:expr) => {{
        #[cfg(target_arch = "x86_64")]
        if $avx2 {
            // SAFETY: the CPU has AVX2 (checked once per call)
            return unsafe { $fast };
        }
        let _ = $avx2;
        $base
    }};
}
pub(crate) use avx2_or_baseline;

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
