//! Warping an image through a displacement field, DIPY's `warp_3d` / `warp_3d_nn` (and 2D).
//!
//! The output is sampled on a grid with voxel-to-world `S` (the field's grid, or a reference
//! grid). With the field on `R` and the moving image on `T`, output voxel `i` takes
//!
//! $$ \mathrm{out}[i] = \mathrm{moving}\big(C\, d(A i) + B i\big),\qquad A = R^{-1} S,\ B = T^{-1} S,\ C = T^{-1} $$
//!
//! i.e. `out(x) = moving(x + d(x))` in world coordinates. Without a reference the field is
//! read at the voxel itself (DIPY's `affine_idx_in=None`); with one, it is interpolated with
//! DIPY's border rule (the corners on the grid are summed, zero outside `(-1, n)`). The moving
//! image is interpolated trilinearly in float64 (corners on the grid summed, zero outside) or
//! by nearest neighbour (ties round down, zero outside `[0, n - 1]`), as DIPY.

use crate::affine::Affine;
use crate::chunks::{self, Planes};
use crate::compose::{coords, lane_coords, planes_of, step};
use crate::interp::{nearest, scalar, scalar_f32, vector_partial, Dims};
use crate::lanes::{avx2_or_baseline, corners, gather_real, has_avx2, lanes_ok, Corners, L};
use crate::{Field, Grid, Real};
use voxelkit_core::{Control, Error, Result, Sample};

/// The matrices of DIPY's warps (`warp_3d(volume, d1, affine_idx_in = a, affine_idx_out = b,
/// affine_disp = c, out_shape)`): output voxel `i` of `out` takes `moving(c d(a i) + b i)`, the
/// field read at the voxel itself when `a` is `None`.
#[derive(Clone, Debug)]
pub struct WarpMaps {
    pub a: Option<Affine>,
    pub b: Affine,
    pub c: Affine,
    pub out: Grid,
}

fn maps(mgrid: &Grid, field: &Field<'_, impl Real>, reference: Option<&Grid>) -> Result<WarpMaps> {
    let nd = field.grid.ndim;
    if mgrid.ndim != nd {
        return Err(Error::shape(format!(
            "a {}D image cannot be warped by a {nd}D field",
            mgrid.ndim
        )));
    }
    if let Some(r) = reference {
        if r.ndim != nd {
            return Err(Error::shape(format!(
                "the reference grid is {}D but the field is {nd}D",
                r.ndim
            )));
        }
    }
    let out = reference.unwrap_or(field.grid).clone();
    let tinv = mgrid.affine.inverse("moving")?;
    let a = match reference {
        None => None,
        Some(r) => Some(field.grid.affine.inverse("field")?.mul(&r.affine)),
    };
    Ok(WarpMaps {
        a,
        b: tinv.mul(&out.affine),
        c: tinv,
        out,
    })
}

/// Position in the moving image's voxel coordinates for output voxel `xyz` (index `v`).
#[inline(always)]
fn target<T: Real, const D: usize>(
    m: &WarpMaps,
    fp: &[&[T]; D],
    fdims: &Dims,
    v: usize,
    xyz: [f64; 3],
) -> [f64; 3] {
    let dv: [T; D] = match &m.a {
        None => std::array::from_fn(|c| fp[c][v]),
        Some(a) => {
            let at = if D == 3 {
                [
                    a.apply3(0, xyz, 1.0),
                    a.apply3(1, xyz, 1.0),
                    a.apply3(2, xyz, 1.0),
                ]
            } else {
                let xy = [xyz[0], xyz[1]];
                [a.apply2(0, xy, 1.0), a.apply2(1, xy, 1.0), 0.0]
            };
            vector_partial::<T, D>(fp, fdims, at)
        }
    };
    if D == 3 {
        let x = [dv[0].to_f64(), dv[1].to_f64(), dv[2].to_f64()];
        [
            m.c.apply3(0, x, 0.0) + m.b.apply3(0, xyz, 1.0),
            m.c.apply3(1, x, 0.0) + m.b.apply3(1, xyz, 1.0),
            m.c.apply3(2, x, 0.0) + m.b.apply3(2, xyz, 1.0),
        ]
    } else {
        let x = [dv[0].to_f64(), dv[1].to_f64()];
        let xy = [xyz[0], xyz[1]];
        [
            m.c.apply2(0, x, 0.0) + m.b.apply2(0, xy, 1.0),
            m.c.apply2(1, x, 0.0) + m.b.apply2(1, xy, 1.0),
            0.0,
        ]
    }
}

/// The checks both warps start with (image size, dimensions, a finite field) and their maps.
fn prepare<S>(
    moving: &[S],
    mgrid: &Grid,
    field: &Field<'_, impl Real>,
    reference: Option<&Grid>,
    threads: Option<usize>,
) -> Result<WarpMaps> {
    if moving.len() != mgrid.nvox() {
        return Err(Error::shape(format!(
            "the moving image holds {} values but its grid {:?} needs {}",
            moving.len(),
            &mgrid.dims[..mgrid.ndim],
            mgrid.nvox()
        )));
    }
    let m = maps(mgrid, field, reference)?;
    chunks::pool(threads)?.install(|| field.check_finite("field"))?;
    Ok(m)
}

fn run_warp<S: Copy + Send + Sync, O: Copy + Default + Send + Sync, T: Real, const D: usize>(
    moving: &[S],
    mgrid: &Grid,
    field: &Field<'_, T>,
    m: &WarpMaps,
    threads: Option<usize>,
    ctl: &Control,
    sample: impl Fn(&[S], &Dims, [f64; 3]) -> O + Sync + Send,
) -> Result<Vec<O>> {
    let n = m.out.nvox();
    let odims = m.out.dims;
    let fdims = Dims::new(field.grid.dims);
    let mdims = Dims::new(mgrid.dims);
    let fp: [&[T]; D] = planes_of(field);
    let mut out = chunks::zeroed::<O>(n);
    let o = Planes::<O, 1>::new(&mut out, n);
    let pool = chunks::pool(threads)?;
    ctl.set_total(n as u64);
    chunks::run(&pool, n, ctl, |r| {
        o.check(&r);
        let mut c = coords(r.start, odims);
        for v in r {
            let xyz = [c[0] as f64, c[1] as f64, c[2] as f64];
            let pos = target::<T, D>(m, &fp, &fdims, v, xyz);
            // SAFETY: v lies in this chunk's range (checked above)
            unsafe { o.set(0, v, sample(moving, &mdims, pos)) };
            step(&mut c, odims);
        }
        Ok(())
    })?;
    Ok(out)
}

/// The running sum of a linear 3D warp and its output type: float64 sums (DIPY's `warp_3d` on
/// float64 data) or sums rounded to float32 after every corner (on a float32 volume).
trait LinOut: Copy + Default + Send + Sync + 'static {
    /// The sum after one more corner's product `p`.
    fn add(acc: f64, p: f64) -> f64;
    /// The output value of a finished sum.
    fn of(acc: f64) -> Self;
}

impl LinOut for f64 {
    #[inline(always)]
    fn add(acc: f64, p: f64) -> f64 {
        acc + p
    }
    #[inline(always)]
    fn of(acc: f64) -> f64 {
        acc
    }
}

impl LinOut for f32 {
    #[inline(always)]
    fn add(acc: f64, p: f64) -> f64 {
        (acc + p) as f32 as f64
    }
    #[inline(always)]
    fn of(acc: f64) -> f32 {
        acc as f32
    }
}

/// Everything a linear 3D warp chunk needs; `border` samples the image at a point whose
/// corners are not all on its grid (the scalar path).
struct Lin<'a, S, O, T, B> {
    m: &'a WarpMaps,
    fp: [&'a [T]; 3],
    fdims: Dims,
    mdims: Dims,
    img: &'a [S],
    o: Planes<O, 1>,
    lanes: bool,
    border: B,
}

/// [`target`] of [`L`] output voxels `v..v + L` at `xyz`: the field taken at the voxels, or
/// (explicit maps with a field grid `a`) interpolated at interior points with the scalar
/// path's arithmetic in the same order (the sum rounded to the field's type after every corner
/// from 0), at the other points by the scalar path.
#[inline(always)]
fn target_lanes<T: Real, const AVX: bool>(
    m: &WarpMaps,
    fp: &[&[T]; 3],
    fdims: &Dims,
    v: usize,
    xyz: &[[f64; L]; 3],
) -> [[f64; L]; 3] {
    let mut dv = [[0.0f64; L]; 3];
    match &m.a {
        None => {
            for k in 0..3 {
                for l in 0..L {
                    dv[k][l] = fp[k][v + l].to_f64();
                }
            }
        }
        Some(a) => {
            let mut at = [[0.0f64; L]; 3];
            for (k, ak) in at.iter_mut().enumerate() {
                for l in 0..L {
                    ak[l] = a.apply3(k, [xyz[0][l], xyz[1][l], xyz[2][l]], 1.0);
                }
            }
            let Corners { inside, base, w } = corners(&at, fdims);
            for k in 0..3 {
                // SAFETY: each plane holds the field grid `fdims`, which has 2+ voxels per
                // axis (the caller's `lanes` condition)
                let g = unsafe { gather_real::<T, AVX>(fp[k], fdims, &base, T::to_f64) };
                let mut acc = [0.0f64; L];
                for j in 0..8 {
                    for l in 0..L {
                        acc[l] = T::from_f64(acc[l] + w[j][l] * g[j][l]).to_f64();
                    }
                }
                dv[k] = acc;
            }
            for l in 0..L {
                if !inside[l] {
                    let p = [at[0][l], at[1][l], at[2][l]];
                    let d = vector_partial::<T, 3>(fp, fdims, p);
                    for k in 0..3 {
                        dv[k][l] = d[k].to_f64();
                    }
                }
            }
        }
    }
    let mut pos = [[0.0f64; L]; 3];
    for (k, pk) in pos.iter_mut().enumerate() {
        for l in 0..L {
            let d = [dv[0][l], dv[1][l], dv[2][l]];
            let at = [xyz[0][l], xyz[1][l], xyz[2][l]];
            pk[l] = m.c.apply3(k, d, 0.0) + m.b.apply3(k, at, 1.0);
        }
    }
    pos
}

/// Linear 3D warp of a chunk, [`L`] output voxels at a time: positions by [`target_lanes`],
/// the image sampled at interior points (all 8 corners on its grid) with the scalar path's
/// arithmetic in the same order (`0 + w0 v0 + … + w7 v7` in DIPY's corner order, through
/// [`LinOut::add`]); border and outside points, and the chunk's tail, go through the scalar
/// paths.
#[inline(always)]
fn lin_chunk<S: Sample, O: LinOut, T: Real, B, const AVX: bool>(
    x: &Lin<'_, S, O, T, B>,
    r: std::ops::Range<usize>,
) where
    B: Fn(&[S], &Dims, [f64; 3]) -> O,
{
    x.o.check(&r);
    let odims = x.m.out.dims;
    let mut c = coords(r.start, odims);
    let mut v = r.start;
    if x.lanes {
        while v + L <= r.end {
            let xyz = lane_coords(&mut c, odims);
            let pos = target_lanes::<T, AVX>(x.m, &x.fp, &x.fdims, v, &xyz);
            let Corners { inside, base, w } = corners(&pos, &x.mdims);
            // SAFETY: `img` holds the moving grid `mdims`, which has 2+ voxels per axis
            // (checked when `lanes` was set)
            let g = unsafe { gather_real::<S, AVX>(x.img, &x.mdims, &base, S::to_f64) };
            let mut acc = [0.0f64; L];
            for k in 0..8 {
                for l in 0..L {
                    acc[l] = O::add(acc[l], w[k][l] * g[k][l]);
                }
            }
            for l in 0..L {
                let val = if inside[l] {
                    O::of(acc[l])
                } else {
                    (x.border)(x.img, &x.mdims, [pos[0][l], pos[1][l], pos[2][l]])
                };
                // SAFETY: v + l lies in this chunk's range (checked above)
                unsafe { x.o.set(0, v + l, val) };
            }
            v += L;
        }
    }
    while v < r.end {
        let xyz = [c[0] as f64, c[1] as f64, c[2] as f64];
        let pos = target::<T, 3>(x.m, &x.fp, &x.fdims, v, xyz);
        // SAFETY: v lies in this chunk's range (checked above)
        unsafe { x.o.set(0, v, (x.border)(x.img, &x.mdims, pos)) };
        step(&mut c, odims);
        v += 1;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lin_chunk_avx2<S: Sample, O: LinOut, T: Real, B>(
    x: &Lin<'_, S, O, T, B>,
    r: std::ops::Range<usize>,
) where
    B: Fn(&[S], &Dims, [f64; 3]) -> O,
{
    lin_chunk::<S, O, T, B, true>(x, r)
}

fn run_lin_chunk<S: Sample, O: LinOut, T: Real, B>(
    avx2: bool,
    x: &Lin<'_, S, O, T, B>,
    r: std::ops::Range<usize>,
) where
    B: Fn(&[S], &Dims, [f64; 3]) -> O,
{
    avx2_or_baseline!(
        avx2,
        lin_chunk_avx2(x, r),
        lin_chunk::<S, O, T, B, false>(x, r)
    )
}

/// Linear 3D warp through `field` along the maps `m`; `border` is the scalar sampler.
fn warp_linear3<S: Sample, O: LinOut, T: Real>(
    moving: &[S],
    mgrid: &Grid,
    field: &Field<'_, T>,
    m: &WarpMaps,
    threads: Option<usize>,
    ctl: &Control,
    border: impl Fn(&[S], &Dims, [f64; 3]) -> O + Sync,
) -> Result<Vec<O>> {
    let n = m.out.nvox();
    let mut out = chunks::zeroed::<O>(n);
    let mdims = Dims::new(mgrid.dims);
    let fdims = Dims::new(field.grid.dims);
    let x = Lin {
        m,
        fp: planes_of(field),
        lanes: lanes_ok(&mdims) && (m.a.is_none() || lanes_ok(&fdims)),
        fdims,
        mdims,
        img: moving,
        o: Planes::<O, 1>::new(&mut out, n),
        border,
    };
    let avx2 = has_avx2();
    let pool = chunks::pool(threads)?;
    ctl.set_total(n as u64);
    chunks::run(&pool, n, ctl, |r| {
        run_lin_chunk(avx2, &x, r);
        Ok(())
    })?;
    Ok(out)
}

/// Trilinear (bilinear in 2D) warp of `moving` through `field` along the maps `m`, float64.
fn linear_along<S: Sample, T: Real>(
    moving: &[S],
    mgrid: &Grid,
    field: &Field<'_, T>,
    m: &WarpMaps,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<f64>> {
    if field.grid.ndim == 3 {
        warp_linear3(moving, mgrid, field, m, threads, ctl, |img, d, pos| {
            scalar::<S, 3>(img, S::to_f64, d, pos)
        })
    } else {
        run_warp::<S, f64, T, 2>(moving, mgrid, field, m, threads, ctl, |img, d, pos| {
            scalar::<S, 2>(img, S::to_f64, d, pos)
        })
    }
}

/// Nearest-neighbour warp of `moving` through `field` along the maps `m` (0 outside).
fn nearest_along<S: Copy + Default + Send + Sync, T: Real>(
    moving: &[S],
    mgrid: &Grid,
    field: &Field<'_, T>,
    m: &WarpMaps,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<S>> {
    if field.grid.ndim == 3 {
        run_warp::<S, S, T, 3>(moving, mgrid, field, m, threads, ctl, |img, d, pos| {
            nearest::<3>(d, pos).map_or(S::default(), |i| img[i])
        })
    } else {
        run_warp::<S, S, T, 2>(moving, mgrid, field, m, threads, ctl, |img, d, pos| {
            nearest::<2>(d, pos).map_or(S::default(), |i| img[i])
        })
    }
}

/// Checks that the image, the field and the output grid of explicit maps agree.
fn check_maps<T: Real>(
    moving_len: usize,
    mgrid: &Grid,
    field: &Field<'_, T>,
    m: &WarpMaps,
) -> Result<()> {
    if moving_len != mgrid.nvox() || mgrid.ndim != field.grid.ndim || m.out.ndim != mgrid.ndim {
        return Err(Error::shape(
            "warp: the image, the field and the output grid do not agree",
        ));
    }
    Ok(())
}

/// Warps `moving` (on `mgrid`) through `field` with trilinear (bilinear in 2D) interpolation,
/// on the field's grid or `reference`. Float64 output.
pub fn warp_linear<S: Sample, T: Real>(
    moving: &[S],
    mgrid: &Grid,
    field: Field<'_, T>,
    reference: Option<&Grid>,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let m = prepare(moving, mgrid, &field, reference, threads)?;
    linear_along(moving, mgrid, &field, &m, threads, ctl)
}

/// DIPY's `warp_3d` / `warp_2d` called with explicit matrices ([`WarpMaps`]), as
/// `DiffeomorphicMap` does, trilinear in float64.
pub fn warp_linear_affines<S: Sample, T: Real>(
    moving: &[S],
    mgrid: &Grid,
    field: Field<'_, T>,
    m: &WarpMaps,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<f64>> {
    check_maps(moving.len(), mgrid, &field, m)?;
    linear_along(moving, mgrid, &field, m, threads, ctl)
}

/// [`warp_linear_affines`] for a float32 image with DIPY's float32 arithmetic (the
/// interpolated sum rounded to float32 after every corner, as DIPY's `warp_3d` does for a
/// float32 volume); float32 output.
pub fn warp_linear_affines_f32<T: Real>(
    moving: &[f32],
    mgrid: &Grid,
    field: Field<'_, T>,
    m: &WarpMaps,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<f32>> {
    check_maps(moving.len(), mgrid, &field, m)?;
    if field.grid.ndim == 3 {
        warp_linear3(moving, mgrid, &field, m, threads, ctl, |img, d, pos| {
            scalar_f32::<3>(img, d, pos)
        })
    } else {
        run_warp::<f32, f32, T, 2>(moving, mgrid, &field, m, threads, ctl, |img, d, pos| {
            scalar_f32::<2>(img, d, pos)
        })
    }
}

/// [`warp_linear_affines`] by nearest neighbour (DIPY's `warp_3d_nn` / `warp_2d_nn`).
pub fn warp_nearest_affines<S: Copy + Default + Send + Sync, T: Real>(
    moving: &[S],
    mgrid: &Grid,
    field: Field<'_, T>,
    m: &WarpMaps,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<S>> {
    check_maps(moving.len(), mgrid, &field, m)?;
    nearest_along(moving, mgrid, &field, m, threads, ctl)
}

/// Warps `moving` through `field` by nearest neighbour; the output keeps the moving image's
/// element type (0 outside).
pub fn warp_nearest<S: Copy + Default + Send + Sync, T: Real>(
    moving: &[S],
    mgrid: &Grid,
    field: Field<'_, T>,
    reference: Option<&Grid>,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<S>> {
    let m = prepare(moving, mgrid, &field, reference, threads)?;
    nearest_along(moving, mgrid, &field, &m, threads, ctl)
}
