//! DIPY's Gaussian scale space (`dipy.align.scalespace.ScaleSpace`) for SyN.
//!
//! Level 0 is the image normalised to `[0, 1]`; level `i` is the full-resolution image smoothed
//! with `sigma_factor * (output_spacing / input_spacing - 1)` per axis (SciPy's
//! `gaussian_filter`, [`super::gauss`]) and normalised, all in float32. Each level also carries
//! its (smaller) domain: spacing `input_spacing * scaling` with
//! `scaling = 2^i min(input_spacing) / input_spacing`, size `int(n * input_spacing /
//! output_spacing + 0.5)`, affine `grid2world · diag(scaling, 1)` and its inverse. The input
//! spacing is nibabel's `get_zooms()` of the affine (column norms, stored float32 in the NIfTI
//! header), and the direction is `A · diag(1 / spacing)`, as DIPY's
//! `get_direction_and_spacings`.

use super::gauss;
use crate::affine::Affine;
use crate::Grid;
use voxelkit_core::{Error, Result};

/// One level.
pub struct Level {
    /// The smoothed, normalised full-resolution image (float32).
    pub image: Vec<f32>,
    /// The level's domain size.
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    pub scaling: [f64; 3],
    pub affine: Affine,
    pub affine_inv: Affine,
    pub sigmas: [f64; 3],
}

/// All levels of one image, and its direction (DIPY's `static_direction`, 4x4).
pub struct ScaleSpace {
    pub levels: Vec<Level>,
    pub direction: Affine,
}

/// nibabel's zooms: the column norms of the linear part, rounded to float32.
pub fn zooms(a: &Affine, ndim: usize) -> [f64; 3] {
    let mut z = [1.0f64; 3];
    for (j, zj) in z.iter_mut().enumerate().take(ndim) {
        let mut s = 0.0;
        for row in a.m.iter().take(ndim) {
            s += row[j] * row[j];
        }
        *zj = s.sqrt() as f32 as f64;
    }
    z
}

/// `(x - min) / (max - min)` in float32; `ERR_FORMAT` for a constant image.
fn normalise(img: &mut [f32], what: &str) -> Result<()> {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for &v in img.iter() {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let d = hi - lo;
    if !(d > 0.0) || !d.is_finite() {
        return Err(Error::format(format!(
            "the {what} image is constant (or empty): it cannot be normalised for registration"
        )));
    }
    for v in img.iter_mut() {
        *v = (*v - lo) / d;
    }
    Ok(())
}

impl ScaleSpace {
    /// DIPY's `ScaleSpace(image, levels, image_grid2world, input_spacing, sigma_factor)`.
    pub fn new(
        image: &[f32],
        grid: &Grid,
        levels: usize,
        sigma_factor: f64,
        what: &str,
    ) -> Result<ScaleSpace> {
        let ndim = grid.ndim;
        let input = zooms(&grid.affine, ndim);
        let mut direction = Affine::IDENTITY;
        for r in 0..ndim {
            for c in 0..ndim {
                direction.m[r][c] = grid.affine.m[r][c] * (1.0 / input[c]);
            }
        }
        let mut img0 = image.to_vec();
        normalise(&mut img0, what)?;
        let mut out = vec![Level {
            image: img0,
            dims: grid.dims,
            spacing: input,
            scaling: [1.0; 3],
            affine: grid.affine,
            affine_inv: grid.affine.inverse(what)?,
            sigmas: [0.0; 3],
        }];
        let min_sp = input[..ndim].iter().copied().fold(f64::INFINITY, f64::min);
        for i in 1..levels {
            let f = (1u64 << i) as f64;
            let mut scaling = [1.0; 3];
            let mut spacing = [1.0; 3];
            let mut sigmas = [0.0; 3];
            let mut dims = [1usize; 3];
            let mut diag = Affine::IDENTITY;
            for k in 0..ndim {
                scaling[k] = f * min_sp / input[k];
                spacing[k] = input[k] * scaling[k];
                let sz = grid.dims[k] as f64 * (input[k] / spacing[k]) + 0.5;
                dims[k] = sz as i32 as usize;
                sigmas[k] = sigma_factor * (spacing[k] / input[k] - 1.0);
                diag.m[k][k] = scaling[k];
            }
            if dims.contains(&0) {
                return Err(Error::shape(format!(
                    "the {what} image is too small for {levels} pyramid levels"
                )));
            }
            let affine = grid.affine.mul(&diag);
            let mut img = image.to_vec();
            gauss::gaussian_filter(&mut img, grid.dims, ndim, &sigmas);
            normalise(&mut img, what)?;
            out.push(Level {
                image: img,
                dims,
                spacing,
                scaling,
                affine_inv: affine.inverse(what)?,
                affine,
                sigmas,
            });
        }
        Ok(ScaleSpace {
            levels: out,
            direction,
        })
    }
}
