//! voxelkit-fields: displacement-field operations of symmetric diffeomorphic registration (SyN)
//! with the semantics of DIPY 1.12 `dipy.align.vector_fields`.
//!
//! * [`invert_field`]: fixed-point inversion (Chen et al. 2008) as DIPY's
//!   `invert_vector_field_fixed_point_3d` / `_2d`.
//! * [`compose_fields`]: `x -> d1(x) + t d2(x + d1(x))` as `compose_vector_fields_3d` / `_2d`.
//! * [`warp_linear`] / [`warp_nearest`]: `out(x) = moving(x + d(x))` as `warp_3d` / `warp_3d_nn`
//!   (and the 2D forms).
//! * [`syn::register_syn`]: symmetric diffeomorphic registration (SyN) with the CC metric, as
//!   DIPY's `SymmetricDiffeomorphicRegistration.optimize`, built on the kernels above.
//!
//! # Layout and the mapping to DIPY's arrays
//!
//! A field on a grid of `nx x ny x nz` voxels is stored component-major, first axis fastest:
//! component `c` of voxel `(x, y, z)` is at `c * nvox + x + nx * (y + ny * z)` (a NIfTI
//! `[nx, ny, nz, 3]` volume). DIPY holds the same field as a C-ordered numpy array `d` of shape
//! `(nx, ny, nz, 3)` (its docs call the axes `(S, R, C)` / `(k, i, j)`): `d[x, y, z, c]` is our
//! component `c` at `(x, y, z)`. The axes are the same, in the same order, and the affine acts
//! on `(x, y, z)` in both; only the memory order differs, so fixtures flatten DIPY's arrays in
//! Fortran order. A 2D field is `[nx, ny, 2]` (DIPY `(R, C, 2)`), stored here with `nz = 1`.
//!
//! Displacements are in world units (mm). A grid's `affine` maps voxel to world coordinates
//! (4x4, row-major); for 2D fields its x/y block and translation are used (DIPY's 3x3).
//!
//! # Numerics
//!
//! Every voxel is computed with DIPY's arithmetic in DIPY's order (the same trilinear corner
//! order and weight products, the same affine products, float32 fields rounded to float32 where
//! DIPY stores float32), so results agree with DIPY to the last bits or nearly. Reductions (the
//! inversion error, the composition statistics) are summed over fixed chunks of
//! [`CHUNK`] voxels and the chunk sums added in chunk order: the result does not depend on the
//! thread count, bitwise. DIPY sums voxel by voxel in its own order; the sums agree to rounding.

pub mod affine;
mod chunks;
pub mod compose;
pub mod interp;
pub mod invert;
mod lanes;
pub mod syn;
pub mod warp;

pub use affine::Affine;
pub use compose::{compose_fields, ComposeStats};
pub use invert::{invert_field, InvertOptions, InvertStats};
pub use warp::{
    warp_linear, warp_linear_affines, warp_linear_affines_f32, warp_nearest, warp_nearest_affines,
    WarpMaps,
};

use voxelkit_core::{Error, Result};

/// Voxels per work chunk. Chunk boundaries depend only on the grid size, never on the thread
/// count, so chunked reductions are reproducible bit for bit.
pub const CHUNK: usize = 4096;

/// Field element types: float32 and float64, as DIPY's `floating`.
pub trait Real: Copy + Send + Sync + 'static + PartialEq + Default {
    /// `"float32"` or `"float64"`.
    const NAME: &'static str;
    /// The largest finite value, as f64.
    const MAX: f64;
    fn to_f64(self) -> f64;
    /// Rounds to the storage type (what a C assignment to `float` / `double` does).
    fn from_f64(v: f64) -> Self;
}

impl Real for f64 {
    const NAME: &'static str = "float64";
    const MAX: f64 = f64::MAX;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Real for f32 {
    const NAME: &'static str = "float32";
    const MAX: f64 = f32::MAX as f64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

/// A sampling grid: its size and its voxel-to-world affine.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// `[nx, ny, nz]`; `nz = 1` for 2D grids.
    pub dims: [usize; 3],
    /// 2 or 3.
    pub ndim: usize,
    /// Voxel-to-world. For 2D grids, the x/y block and translation of the given affine, with
    /// the z row and column of the identity (so that its inverse is DIPY's 3x3 inverse).
    pub affine: Affine,
}

impl Grid {
    /// A grid of spatial `shape` (2 or 3 sizes) with a 4x4 row-major voxel-to-world `affine`.
    pub fn new(shape: &[usize], affine: &[f64], what: &str) -> Result<Grid> {
        if shape.len() != 2 && shape.len() != 3 {
            return Err(Error::shape(format!(
                "{what}: a grid has 2 or 3 spatial axes, got {}",
                shape.len()
            )));
        }
        if let Some(&s) = shape.iter().find(|&&s| s == 0 || s > i32::MAX as usize) {
            return Err(Error::shape(format!(
                "{what}: grid sizes must be from 1 to {}, got {s}",
                i32::MAX
            )));
        }
        let a = Affine::from_slice(affine, what)?;
        let ndim = shape.len();
        let dims = [shape[0], shape[1], if ndim == 3 { shape[2] } else { 1 }];
        let affine = if ndim == 2 { a.planar() } else { a };
        dims.iter()
            .try_fold(1usize, |n, &s| n.checked_mul(s))
            .filter(|&n| n.checked_mul(3).is_some())
            .ok_or_else(|| Error::shape(format!("{what}: grid {dims:?} is too large")))?;
        Ok(Grid { dims, ndim, affine })
    }

    /// Number of voxels.
    pub fn nvox(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Voxel sizes: the column norms of the affine's linear part (nibabel's zooms).
    pub fn spacing(&self) -> [f64; 3] {
        let m = &self.affine.m;
        let mut s = [1.0; 3];
        for (j, sj) in s.iter_mut().enumerate().take(self.ndim) {
            let mut acc = 0.0;
            for row in m.iter().take(self.ndim) {
                acc += row[j] * row[j];
            }
            *sj = acc.sqrt();
        }
        s
    }
}

/// A displacement field: `ndim` component planes of `grid.nvox()` values each.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a, T> {
    pub data: &'a [T],
    pub grid: &'a Grid,
}

impl<'a, T: Real> Field<'a, T> {
    /// Checks that `data` holds one value per voxel and component. The kernels also check
    /// that every value is finite ([`Field::check_finite`], run on the call's thread pool).
    pub fn new(data: &'a [T], grid: &'a Grid, what: &str) -> Result<Self> {
        let n = grid.nvox() * grid.ndim;
        if data.len() != n {
            return Err(Error::shape(format!(
                "{what} holds {} values but a {}D field on a {:?} grid needs {n}",
                data.len(),
                grid.ndim,
                &grid.dims[..grid.ndim]
            )));
        }
        Ok(Field { data, grid })
    }

    /// `ERR_FORMAT` naming the first non-finite displacement (NaN or ±inf), if any. Parallel
    /// over the current rayon pool (the kernels call it inside theirs).
    pub fn check_finite(&self, what: &str) -> Result<()> {
        if let Some(i) = first_non_finite(self.data) {
            let nvox = self.grid.nvox();
            let (c, v) = (i / nvox, i % nvox);
            let [nx, ny, _] = self.grid.dims;
            return Err(Error::format(format!(
                "{what} holds a non-finite displacement ({}) at voxel ({}, {}, {}), component {c}",
                self.data[i].to_f64(),
                v % nx,
                (v / nx) % ny,
                v / (nx * ny)
            )));
        }
        Ok(())
    }

    /// Component plane `c`.
    #[inline(always)]
    pub fn plane(&self, c: usize) -> &'a [T] {
        let n = self.grid.nvox();
        &self.data[c * n..(c + 1) * n]
    }
}

/// Whether `c` holds a NaN or an infinity: a branch-free scan (it vectorises).
#[inline(always)]
pub(crate) fn any_non_finite<T: Real>(c: &[T]) -> bool {
    let mut b = false;
    for v in c {
        b |= !v.to_f64().is_finite();
    }
    b
}

pub(crate) fn first_non_finite<T: Real>(data: &[T]) -> Option<usize> {
    use rayon::prelude::*;
    // chunked so that large fields are scanned in parallel on the caller's pool
    // a branch-free scan per chunk (vectorises), the position looked up in the chunk found
    data.par_chunks(1 << 16)
        .enumerate()
        .find_first(|(_, c)| any_non_finite(c))
        .and_then(|(k, c)| {
            c.iter()
                .position(|v| !v.to_f64().is_finite())
                .map(|i| k * (1 << 16) + i)
        })
}
