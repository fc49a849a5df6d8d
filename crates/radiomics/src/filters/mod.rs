//! PyRadiomics 3.1's image types (`imageoperations.get<Type>Image`): the filters that derive
//! images from the (normalised) input before the first-order and texture classes run on them.
//!
//! - [`point`]: `Square`, `SquareRoot`, `Logarithm`, `Exponential` (float64, scaled by the image's
//!   largest absolute value as PyRadiomics does);
//! - [`gradient`]: `Gradient`, SimpleITK's `GradientMagnitudeImageFilter` (central differences,
//!   zero-flux boundary, double arithmetic, float32 output);
//! - [`log`]: `LoG`, SimpleITK's `LaplacianRecursiveGaussianImageFilter` with normalisation across
//!   scale (ITK's 4th-order Deriche recursive Gaussian, its coefficients and boundary rule, lines
//!   in double, images between the passes in float32 as ITK stores them);
//! - [`wavelet`]: `Wavelet`, PyWavelets' `swtn` at level 1 applied repeatedly to the
//!   approximation, odd sizes wrap-padded by one and cropped back. Computed in float64; for a
//!   float32 image (not normalised) PyWavelets works in float32, so the bands are rounded to
//!   float32 and agree with PyWavelets' to float32 rounding noise, not bitwise.
//!
//! `LBP2D` / `LBP3D` are `ERR_UNSUPPORTED` (they need scikit-image's and trimesh's semantics).
//! Every kernel splits the image into independent lines or voxels, so results are bitwise
//! identical at any thread count. The extractor needs each derived image only on the ROI's
//! bounding box: the point filters and the gradient compute only there; LoG's recursive passes
//! filter whole lines (their boundary rule reaches across the image), the first pass of each
//! second derivative over the whole image, the later passes only the lines crossing the part
//! kept so far, each causal recursion up to the kept part's end and each anti-causal one down to
//! its start; the wavelet computes each level on the box widened by its filter's periodic
//! window (its values depend on nothing else), bit for bit the whole image's values.

pub mod gradient;
pub mod log;
pub mod point;
pub mod wavelet;
mod wavelet_table;

use crate::preprocess::{self, Input, Roi};
use crate::settings::{FeatureClass, Settings};
use voxelkit_core::{Control, Error, Result, Sample};

/// PyRadiomics' image types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageTypeKind {
    Original,
    LoG,
    Wavelet,
    Square,
    SquareRoot,
    Logarithm,
    Exponential,
    Gradient,
    Lbp2D,
    Lbp3D,
}

impl ImageTypeKind {
    /// The type named `n` as in a params file's `imageType` block.
    pub fn parse(n: &str) -> Result<Self> {
        use ImageTypeKind::*;
        Ok(match n {
            "Original" => Original,
            "LoG" => LoG,
            "Wavelet" => Wavelet,
            "Square" => Square,
            "SquareRoot" => SquareRoot,
            "Logarithm" => Logarithm,
            "Exponential" => Exponential,
            "Gradient" => Gradient,
            "LBP2D" => Lbp2D,
            "LBP3D" => Lbp3D,
            _ => {
                return Err(Error::setting(format!(
                    "unknown image type '{n}' (Original, LoG, Wavelet, Square, SquareRoot, \
                     Logarithm, Exponential, Gradient, LBP2D, LBP3D)"
                )))
            }
        })
    }
}

/// One enabled image type with its settings (the general ones updated with its custom ones).
#[derive(Debug, Clone)]
pub struct ImageType {
    pub kind: ImageTypeKind,
    /// The type had custom settings (its `settings` may differ from the general ones).
    pub custom: bool,
    pub settings: Box<Settings>,
}

/// The checks that need no image: LBP refused, LoG needs sigma, the wavelet must be known.
pub fn check(kind: ImageTypeKind, s: &Settings) -> Result<()> {
    match kind {
        ImageTypeKind::Lbp2D | ImageTypeKind::Lbp3D => Err(Error::unsupported(
            "image types LBP2D and LBP3D are not supported (they need scikit-image's and \
             trimesh's semantics); Original, LoG, Wavelet, Square, SquareRoot, Logarithm, \
             Exponential and Gradient are",
        )),
        ImageTypeKind::LoG if s.sigma.is_empty() => Err(Error::setting(
            "image type LoG needs sigma (a list of Gaussian widths in mm, each > 0); PyRadiomics \
             computes no LoG image without it",
        )),
        ImageTypeKind::Wavelet => wavelet::filters(&s.wavelet).map(|_| ()),
        _ => Ok(()),
    }
}

/// A derived image on the ROI's bounding box, x fastest, in the sample type PyRadiomics hands
/// its feature classes: float64 (the point filters, wavelets) or float32 (SimpleITK's LoG and
/// gradient).
pub enum Derived {
    F64(Vec<f64>),
    F32(Vec<f32>),
}

/// The grid a filter reads: the whole (normalised) image and the ROI's bounding box.
pub struct Source<'a> {
    /// Image values (after normalisation), x fastest.
    pub values: &'a (dyn Fn(usize) -> f64 + Sync),
    /// `[nx, ny, nz]`.
    pub shape: [usize; 3],
    /// `[sx, sy, sz]` in mm.
    pub spacing: [f64; 3],
    /// The bounding box's first voxel `[x, y, z]` and its size `[bx, by, bz]`.
    pub box_origin: [usize; 3],
    pub box_size: [usize; 3],
}

impl Source<'_> {
    pub(crate) fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Copies the bounding box out of a whole-image array.
    pub(crate) fn crop<T: Copy + Send + Sync>(&self, full: &[T]) -> Vec<T> {
        let [nx, ny, _] = self.shape;
        let [ox, oy, oz] = self.box_origin;
        let [bx, by, bz] = self.box_size;
        let mut out = Vec::with_capacity(bx * by * bz);
        for z in 0..bz {
            for y in 0..by {
                let s = ((z + oz) * ny + y + oy) * nx + ox;
                out.extend_from_slice(&full[s..s + bx]);
            }
        }
        out
    }
}

/// How many images an image type yields (progress accounting).
pub fn image_count(kind: ImageTypeKind, s: &Settings) -> u64 {
    match kind {
        ImageTypeKind::LoG => s.sigma.len() as u64,
        ImageTypeKind::Wavelet => {
            let bands = if s.force2d { 3 } else { 7 };
            (bands * s.level + 1) as u64
        }
        _ => 1,
    }
}

/// The settings a derived image's features run with: the type's settings on the box image and
/// the final ROI mask (label 1), normalisation and resegmentation already applied.
fn derived_settings(t: &Settings) -> Settings {
    let mut d = t.clone();
    d.label = 1;
    d.normalize = false;
    d.resegment_range = None;
    d.image_types.clear();
    d.classes
        .retain(|c| !matches!(c, FeatureClass::Shape | FeatureClass::Shape2D));
    d
}

/// Where the results of a derived image go: feature values (segment-based) or feature maps
/// (voxel-based, [`crate::voxel`]).
pub(crate) enum Sink<'a> {
    Features(&'a mut Vec<(String, f64)>),
    Maps(&'a mut crate::voxel::Maps),
}

/// The box the images are derived on (the ROI's bounding box; voxel-based: grown by the kernel
/// radius) and the ROI's mask on it (1 inside).
pub(crate) struct ImageBox {
    /// First voxel in the input, `[x, y, z]`.
    pub origin: [usize; 3],
    /// Size in numpy order `[nz, ny, nx]`.
    pub size: [usize; 3],
    /// x fastest.
    pub mask: Vec<u8>,
}

impl ImageBox {
    /// The ROI's bounding box.
    pub fn of_roi(roi: &Roi) -> Self {
        ImageBox {
            origin: roi.origin,
            size: roi.size,
            mask: roi.grey.iter().map(|&g| (g != 0) as u8).collect(),
        }
    }
}

/// The features (or maps) of one image (on the box) under the type's settings.
#[allow(clippy::too_many_arguments)]
fn image_features<U: Sample>(
    image: &[U],
    bx: &ImageBox,
    spacing: [f64; 3],
    s: &Settings,
    name: &str,
    threads: Option<usize>,
    pool: &rayon::ThreadPool,
    ctl: &Control,
    sink: &mut Sink,
) -> Result<()> {
    let [bz, by, bxs] = bx.size;
    let inp = Input {
        image,
        mask: &bx.mask[..],
        shape: [bxs, by, bz],
        spacing,
        // the derived image is on the (already resampled) grid: resampling never runs again
        frame: Default::default(),
    };
    let named = |e: Error| Error::new(e.code, format!("image {name}: {}", e.message));
    match sink {
        Sink::Features(out) => {
            let r = preprocess::prepare(&inp, s, threads, ctl).map_err(named)?;
            crate::class_features(&r, s, name, pool, ctl, out)
        }
        Sink::Maps(maps) => {
            crate::voxel::image_maps(&inp, s, name, threads, pool, ctl, maps).map_err(named)
        }
    }
}

/// Derives the images of image type `t` from the input (normalised as `s` says) on the box `bx`
/// and sends each image's features (the first-order and texture classes; voxel-based: their
/// maps) to `sink`, in PyRadiomics' order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn derived_features<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    bx: &ImageBox,
    t: &ImageType,
    threads: Option<usize>,
    pool: &rayon::ThreadPool,
    ctl: &Control,
    sink: &mut Sink,
) -> Result<()> {
    let ts = derived_settings(&t.settings);
    let norm = preprocess::normalizer(inp.image, s, pool)?;
    let image = inp.image;
    let values = move |i: usize| preprocess::normalized(image[i].to_f64(), norm, s);
    let [bz, by, bxs] = bx.size;
    let src = Source {
        values: &values,
        shape: inp.shape,
        spacing: inp.spacing,
        box_origin: bx.origin,
        box_size: [bxs, by, bz],
    };
    let sp = inp.spacing;
    let run64 = |img: &[f64], name: &str, sink: &mut Sink| {
        image_features(img, bx, sp, &ts, name, threads, pool, ctl, sink)
    };
    use ImageTypeKind::*;
    match t.kind {
        Original => {
            // custom settings on the original image: its own discretisation
            if norm.is_none() {
                let img = src.crop(inp.image);
                image_features(&img, bx, sp, &ts, "original", threads, pool, ctl, sink)
            } else {
                let img: Vec<f64> = pool.install(|| {
                    use rayon::prelude::*;
                    src.crop(
                        &(0..src.len())
                            .into_par_iter()
                            .map(&values)
                            .collect::<Vec<f64>>(),
                    )
                });
                run64(&img, "original", sink)
            }
        }
        Square | SquareRoot | Logarithm | Exponential => {
            let (f, name) = match t.kind {
                Square => (point::PointFilter::Square, "square"),
                SquareRoot => (point::PointFilter::SquareRoot, "squareroot"),
                Logarithm => (point::PointFilter::Logarithm, "logarithm"),
                _ => (point::PointFilter::Exponential, "exponential"),
            };
            let img = pool.install(|| point::point_filter(&src, f))?;
            run64(&img, name, sink)
        }
        Gradient => {
            let img = pool.install(|| gradient::gradient_magnitude(&src, ts.gradient_use_spacing));
            image_features(&img, bx, sp, &ts, "gradient", threads, pool, ctl, sink)
        }
        LoG => {
            for (sigma, _) in &ts.sigma {
                log::check_sizes(inp.shape, inp.spacing, *sigma)?;
            }
            // the passes read the image itself unless it is normalised (its values as they
            // are, each converted to float64 exactly as `src` does); a normalised image once
            // as float64 (`log::source_image(&src)`, without the per-voxel dynamic call)
            let whole: Option<Vec<f64>> = norm.map(|_| {
                pool.install(|| {
                    use rayon::prelude::*;
                    image
                        .par_iter()
                        .map(|v| preprocess::normalized(v.to_f64(), norm, s))
                        .collect()
                })
            });
            for (sigma, label) in &ts.sigma {
                ctl.check()?;
                let img = pool.install(|| match &whole {
                    Some(w) => log::laplacian_of_gaussian_of(w, &src, *sigma),
                    None => log::laplacian_of_gaussian_of(image, &src, *sigma),
                });
                let name = format!("log-sigma-{label}-mm-3D");
                image_features(&img, bx, sp, &ts, &name, threads, pool, ctl, sink)?;
            }
            Ok(())
        }
        Wavelet => {
            let f32_wavelet = T::IS_F32 && norm.is_none();
            // numpy axes (z, y, x) reversed; force2D drops force2Ddimension
            let axes: Vec<usize> = (0..3)
                .filter(|&a| !(ts.force2d && a == 2 - ts.force2d_dimension))
                .collect();
            pool.install(|| {
                wavelet::wavelet_images(
                    &src,
                    &ts.wavelet,
                    ts.start_level,
                    ts.level,
                    &axes,
                    &mut |b: wavelet::Band| {
                        ctl.check()?;
                        if f32_wavelet {
                            // PyWavelets keeps a float32 image in float32: the bands are float32
                            let img: Vec<f32> = b.data.iter().map(|&v| v as f32).collect();
                            image_features(&img, bx, sp, &ts, &b.name, threads, pool, ctl, sink)
                        } else {
                            run64(&b.data, &b.name, sink)
                        }
                    },
                )
            })
        }
        Lbp2D | Lbp3D => check(t.kind, &ts),
    }
}
