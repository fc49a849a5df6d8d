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
use crate::compose::{coords, planes_of, step};
use crate::interp::{nearest, scalar, vector_partial, Dims};
use crate::{Field, Grid, Real};
use voxelkit_core::{Control, Error, Result, Sample};

struct Maps {
    a: Option<Affine>,
    b: Affine,
    c: Affine,
    out: Grid,
}

fn maps(mgrid: &Grid, field: &Field<'_, impl Real>, reference: Option<&Grid>) -> Result<Maps> {
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
    Ok(Maps {
        a,
        b: tinv.mul(&out.affine),
        c: tinv,
        out,
    })
}

/// Position in the moving image's voxel coordinates for output voxel `xyz` (index `v`).
#[inline(always)]
fn target<T: Real, const D: usize>(
    m: &Maps,
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

fn check_moving<S>(moving: &[S], mgrid: &Grid) -> Result<()> {
    if moving.len() != mgrid.nvox() {
        return Err(Error::shape(format!(
            "the moving image holds {} values but its grid {:?} needs {}",
            moving.len(),
            &mgrid.dims[..mgrid.ndim],
            mgrid.nvox()
        )));
    }
    Ok(())
}

fn run_warp<S: Copy + Send + Sync, O: Copy + Default + Send + Sync, T: Real, const D: usize>(
    moving: &[S],
    mgrid: &Grid,
    field: &Field<'_, T>,
    m: &Maps,
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
    check_moving(moving, mgrid)?;
    let m = maps(mgrid, &field, reference)?;
    if field.grid.ndim == 3 {
        run_warp::<S, f64, T, 3>(moving, mgrid, &field, &m, threads, ctl, |img, d, pos| {
            scalar::<S, 3>(img, S::to_f64, d, pos)
        })
    } else {
        run_warp::<S, f64, T, 2>(moving, mgrid, &field, &m, threads, ctl, |img, d, pos| {
            scalar::<S, 2>(img, S::to_f64, d, pos)
        })
    }
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
    check_moving(moving, mgrid)?;
    let m = maps(mgrid, &field, reference)?;
    if field.grid.ndim == 3 {
        run_warp::<S, S, T, 3>(moving, mgrid, &field, &m, threads, ctl, |img, d, pos| {
            nearest::<3>(d, pos).map_or(S::default(), |i| img[i])
        })
    } else {
        run_warp::<S, S, T, 2>(moving, mgrid, &field, &m, threads, ctl, |img, d, pos| {
            nearest::<2>(d, pos).map_or(S::default(), |i| img[i])
        })
    }
}
