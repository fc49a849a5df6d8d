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

/// Largest ratio of a pyramid level's voxels to the image's. DIPY resamples every level to
/// isotropic voxels of `2^i` times the finest spacing, so an axis finer than the others is
/// upsampled and a strongly anisotropic image gets levels larger than itself (a 1 x 1 x 10 mm
/// volume's first level holds 1.25 times its voxels; 8 times allows 1 x 1 x 64 mm, 1 x 8 x 8
/// mm, or 1 x 32 mm in 2D). Beyond it the registration is `ERR_SHAPE` rather than an
/// allocation that grows with the anisotropy.
pub const MAX_LEVEL_GROWTH: f64 = 8.0;

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
        // float32 zooms of an extreme affine can be 0 or infinite (found by the syn_options
        // fuzz target): no pyramid can be built from them
        if let Some(z) = input[..ndim].iter().find(|z| !(z.is_finite() && **z > 0.0)) {
            return Err(Error::shape(format!(
                "the {what} image's voxel spacing {z} (its affine's column norm, as float32) \
                 must be finite and > 0 for registration"
            )));
        }
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
                // an axis much finer than the others is resampled to the coarse isotropic
                // spacing, i.e. upsampled: bounded below (found by the syn_options fuzz target:
                // a spacing ratio of 1e5 made a 400,000-voxel axis of an 8-voxel one, 1e300 an
                // allocation of 2^31 voxels per row)
                if !(sz < (i32::MAX as f64)) {
                    return Err(Error::shape(format!(
                        "the {what} image's voxel spacing {:?} is too anisotropic for {levels} \
                         pyramid levels",
                        &input[..ndim]
                    )));
                }
                dims[k] = sz as i32 as usize;
                sigmas[k] = sigma_factor * (spacing[k] / input[k] - 1.0);
                diag.m[k][k] = scaling[k];
            }
            if dims.contains(&0) {
                return Err(Error::shape(format!(
                    "the {what} image is too small for {levels} pyramid levels"
                )));
            }
            let nvox = dims.iter().map(|&d| d as f64).product::<f64>();
            if nvox > MAX_LEVEL_GROWTH * grid.nvox() as f64 {
                return Err(Error::shape(format!(
                    "the {what} image's voxel spacing {:?} is too anisotropic for {levels} \
                     pyramid levels: level {i} would hold {nvox} voxels, more than \
                     {MAX_LEVEL_GROWTH} times the image's {}",
                    &input[..ndim],
                    grid.nvox()
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
