//! Extraction settings with PyRadiomics' names and the defaults of its
//! `RadiomicsFeatureExtractor`, parsed from a JSON object.
//!
//! Every setting name PyRadiomics' parameter schema defines is accepted (a params file loads
//! unchanged); the image types (`imageType`, PyRadiomics' params-file block, with the filter
//! settings `sigma`, `wavelet`, `level`, `start_level`, `gradientUseSpacing`) are parsed here
//! (see [`crate::filters`]); the voxel-based settings (`voxelBased`, `kernelRadius`,
//! `maskedKernel`, `initValue`, `voxelBatch`) are read for [`crate::voxel`] and have no effect on
//! segment-based features (as in PyRadiomics); names of image types voxelkit does not build
//! (LBP) are accepted and have no effect; a setting that would change
//! the result but whose processing is not built (vector masks, interpolators other than nearest
//! neighbour, linear and B-spline) is `ERR_UNSUPPORTED`; an unknown name is `ERR_SETTING`. A
//! JSON `null` means "PyRadiomics' default", as `None` does in a PyRadiomics settings dictionary
//! (`interpolator: null` therefore turns resampling off, as in PyRadiomics).
//!
//! Resampling ([`crate::resample`]) runs when `resampledPixelSpacing` is given and `interpolator`
//! is not null (its default is `sitkBSpline`), as PyRadiomics' `loadImage` decides.

use crate::filters::{ImageType, ImageTypeKind};
use crate::resample::{Interpolator, Resampling};
use serde_json::{Map, Value};
use voxelkit_core::{Error, Result};

/// Resegmentation threshold mode (`resegmentMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResegmentMode {
    Absolute,
    Relative,
    Sigma,
}

/// Distance weighting of the per-direction matrices (`weightingNorm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightingNorm {
    Manhattan,
    Euclidean,
    Infinity,
    NoWeighting,
}

/// Feature classes voxelkit computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureClass {
    Firstorder,
    Glcm,
    Gldm,
    Glrlm,
    Glszm,
    Ngtdm,
    Shape,
    Shape2D,
}

impl FeatureClass {
    pub fn name(self) -> &'static str {
        match self {
            FeatureClass::Firstorder => "firstorder",
            FeatureClass::Glcm => "glcm",
            FeatureClass::Gldm => "gldm",
            FeatureClass::Glrlm => "glrlm",
            FeatureClass::Glszm => "glszm",
            FeatureClass::Ngtdm => "ngtdm",
            FeatureClass::Shape => "shape",
            FeatureClass::Shape2D => "shape2D",
        }
    }

    /// The class named `n` (PyRadiomics' class names), if voxelkit computes it.
    pub fn parse(n: &str) -> Option<Self> {
        Some(match n {
            "firstorder" => FeatureClass::Firstorder,
            "glcm" => FeatureClass::Glcm,
            "gldm" => FeatureClass::Gldm,
            "glrlm" => FeatureClass::Glrlm,
            "glszm" => FeatureClass::Glszm,
            "ngtdm" => FeatureClass::Ngtdm,
            "shape" => FeatureClass::Shape,
            "shape2D" => FeatureClass::Shape2D,
            _ => return None,
        })
    }

    /// The classes PyRadiomics' `RadiomicsFeatureExtractor` enables by default (every class but
    /// shape2D), in PyRadiomics' order (its modules alphabetically; shape's keys come first in
    /// the output, as PyRadiomics computes shape before the others).
    pub const DEFAULT: [FeatureClass; 7] = [
        FeatureClass::Firstorder,
        FeatureClass::Glcm,
        FeatureClass::Gldm,
        FeatureClass::Glrlm,
        FeatureClass::Glszm,
        FeatureClass::Ngtdm,
        FeatureClass::Shape,
    ];
}

/// IBSI's six texture aggregation methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// Per slice and in-plane direction; features averaged.
    TwoDAveraged,
    /// Per slice, the in-plane directions merged; features averaged over slices.
    TwoDSliceMerged,
    /// Per in-plane direction, slices merged; features averaged over directions
    /// (PyRadiomics with `force2D: true`).
    TwoHalfDDirectionMerged,
    /// All slices and in-plane directions merged into one matrix.
    TwoHalfDMerged,
    /// Per 3D direction (13); features averaged (PyRadiomics' default).
    ThreeDAveraged,
    /// The 13 directions merged into one matrix.
    ThreeDMerged,
}

impl Aggregation {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "2D_averaged" => Aggregation::TwoDAveraged,
            "2D_slice_merged" => Aggregation::TwoDSliceMerged,
            "2.5D_direction_merged" => Aggregation::TwoHalfDDirectionMerged,
            "2.5D_merged" => Aggregation::TwoHalfDMerged,
            "3D_averaged" => Aggregation::ThreeDAveraged,
            "3D_merged" => Aggregation::ThreeDMerged,
            _ => {
                return Err(Error::setting(format!(
                "aggregation must be one of 2D_averaged, 2D_slice_merged, 2.5D_direction_merged, \
                     2.5D_merged, 3D_averaged, 3D_merged; got '{s}'"
            )))
            }
        })
    }
    /// In-plane (2D) directions rather than the 13 3D ones.
    pub fn in_plane(self) -> bool {
        !matches!(
            self,
            Aggregation::ThreeDAveraged | Aggregation::ThreeDMerged
        )
    }
}

/// Parsed settings. Field names follow PyRadiomics (camelCase there).
#[derive(Debug, Clone)]
pub struct Settings {
    pub label: u32,
    pub bin_width: f64,
    pub bin_count: Option<usize>,
    pub normalize: bool,
    pub normalize_scale: f64,
    pub remove_outliers: Option<f64>,
    pub distances: Vec<usize>,
    pub force2d: bool,
    pub force2d_dimension: usize,
    pub resegment_range: Option<Vec<f64>>,
    pub resegment_mode: ResegmentMode,
    pub minimum_roi_dimensions: usize,
    pub minimum_roi_size: Option<f64>,
    pub symmetrical_glcm: bool,
    /// First order: added to the intensities in Energy, TotalEnergy and RootMeanSquared.
    pub voxel_array_shift: f64,
    /// GLDM: largest grey-level difference of a dependent neighbour.
    pub gldm_a: u32,
    pub weighting_norm: Option<WeightingNorm>,
    pub classes: Vec<FeatureClass>,
    /// Per-class feature lists (`classes` given as PyRadiomics' `featureClass` block), checked
    /// by [`crate::selection::check`]; a class absent here or with an empty list computes its
    /// default features.
    pub feature_lists: FeatureLists,
    /// `None`: PyRadiomics' behaviour (3D averaged, or 2.5D direction-merged with `force2D`).
    pub aggregation: Option<Aggregation>,
    pub ibsi: bool,
    /// Shape classes use the resegmented mask (`resegmentShape`); by default they use the
    /// original mask, cropped to the resegmented mask's bounding box as PyRadiomics does.
    pub resegment_shape: bool,
    /// Resampling before everything else (`resampledPixelSpacing`, `interpolator`,
    /// `padDistance`); `None`: the input grid.
    pub resampling: Option<Resampling>,
    /// LoG: the Gaussian widths in mm (`sigma`), each with its name as PyRadiomics writes it.
    pub sigma: Vec<(f64, String)>,
    /// Wavelet: PyWavelets' name of the wavelet (`wavelet`).
    pub wavelet: String,
    /// Wavelet: decomposition levels that yield images (`level`).
    pub level: usize,
    /// Wavelet: first level that yields images, 0-based (`start_level`).
    pub start_level: usize,
    /// Gradient: derivatives in mm rather than voxels (`gradientUseSpacing`).
    pub gradient_use_spacing: bool,
    /// Voxel-based extraction (`voxelBased`; PyRadiomics' `execute(..., voxelBased=True)`):
    /// feature maps instead of values ([`crate::voxel`]).
    pub voxel_based: bool,
    /// Voxel-based: the kernel's half-width in voxels (`kernelRadius`).
    pub kernel_radius: usize,
    /// Voxel-based: kernels hold ROI voxels only (`maskedKernel`); false: every voxel of the
    /// box, discretised over the box.
    pub masked_kernel: bool,
    /// Voxel-based: the maps' value outside the ROI (`initValue`).
    pub init_value: f64,
    /// Voxel-based: voxels per batch (`voxelBatch`; `None`: one batch). Only PyRadiomics' MCC
    /// failure rule depends on it (a batch where it fails keeps `initValue`).
    pub voxel_batch: Option<usize>,
    /// The enabled image types in the order given (`imageType`), each with its own settings
    /// (these settings updated with the type's custom settings, as PyRadiomics' `execute`
    /// does); default `Original` alone.
    pub image_types: Vec<ImageType>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            label: 1,
            bin_width: 25.0,
            bin_count: None,
            normalize: false,
            normalize_scale: 1.0,
            remove_outliers: None,
            distances: vec![1],
            force2d: false,
            force2d_dimension: 0,
            resegment_range: None,
            resegment_mode: ResegmentMode::Absolute,
            minimum_roi_dimensions: 2,
            minimum_roi_size: None,
            symmetrical_glcm: true,
            voxel_array_shift: 0.0,
            gldm_a: 0,
            weighting_norm: None,
            classes: FeatureClass::DEFAULT.to_vec(),
            feature_lists: vec![],
            aggregation: None,
            ibsi: false,
            resegment_shape: false,
            resampling: None,
            sigma: vec![],
            wavelet: "coif1".into(),
            level: 1,
            start_level: 0,
            gradient_use_spacing: true,
            voxel_based: false,
            kernel_radius: 1,
            masked_kernel: true,
            init_value: 0.0,
            voxel_batch: None,
            image_types: vec![],
        }
    }
}

/// PyRadiomics setting names that do not change the `original` features voxelkit computes
/// (image-type filters voxelkit does not build, diagnostics, cropping
/// that the final bounding-box crop makes irrelevant).
const NO_EFFECT: &[&str] = &[
    "geometryTolerance",
    "correctMask",
    "additionalInfo",
    "preCrop",
    "lbp2DRadius",
    "lbp2DSamples",
    "lbp2DMethod",
    "lbp3DLevels",
    "lbp3DIcosphereRadius",
    "lbp3DIcosphereSubdivision",
];

/// Every name [`Settings::from_json`] accepts.
pub const KNOWN: &[&str] = &[
    "label",
    "label_channel",
    "binWidth",
    "binCount",
    "normalize",
    "normalizeScale",
    "removeOutliers",
    "resampledPixelSpacing",
    "interpolator",
    "padDistance",
    "distances",
    "force2D",
    "force2Ddimension",
    "resegmentRange",
    "resegmentMode",
    "resegmentShape",
    "minimumROIDimensions",
    "minimumROISize",
    "symmetricalGLCM",
    "voxelArrayShift",
    "gldm_a",
    "weightingNorm",
    "classes",
    "aggregation",
    "ibsi",
    "imageType",
    "sigma",
    "wavelet",
    "level",
    "start_level",
    "gradientUseSpacing",
    "voxelBased",
    "kernelRadius",
    "maskedKernel",
    "initValue",
    "voxelBatch",
];

/// Settings PyRadiomics does not let an image type customise (applied once to the input).
const NOT_CUSTOMISABLE: &[&str] = &["interpolator", "resampledPixelSpacing", "padDistance"];

/// Python's `str(x)` of a float with `.` replaced by `-` (PyRadiomics' LoG image names), or of
/// an int when the JSON number is an integer.
fn sigma_name(v: &Value, x: f64) -> String {
    if v.is_i64() || v.is_u64() {
        return v.to_string();
    }
    // Python's repr: shortest round-trip digits, exponent when < 1e-4 or >= 1e16
    let r = if x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e16) {
        let e = format!("{x:e}"); // e.g. 1.5e-5
        let (m, ex) = e.split_once('e').unwrap();
        let ex: i32 = ex.parse().unwrap();
        format!("{m}e{}{:02}", if ex < 0 { '-' } else { '+' }, ex.abs())
    } else {
        format!("{x:?}")
    };
    r.replace('.', "-")
}

fn num(name: &str, v: &Value) -> Result<f64> {
    match v.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(Error::setting(format!(
            "{name} must be a finite number, got {v}"
        ))),
    }
}

fn int(name: &str, v: &Value, min: i64, max: i64) -> Result<i64> {
    let x = num(name, v)?;
    if x.fract() != 0.0 || x < min as f64 || x > max as f64 {
        return Err(Error::setting(format!(
            "{name} must be an integer from {min} to {max}, got {v}"
        )));
    }
    Ok(x as i64)
}

fn boolean(name: &str, v: &Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| Error::setting(format!("{name} must be true or false, got {v}")))
}

fn positive(name: &str, v: &Value) -> Result<f64> {
    let x = num(name, v)?;
    if x <= 0.0 {
        return Err(Error::setting(format!("{name} must be > 0, got {v}")));
    }
    Ok(x)
}

/// PyRadiomics' `interpolator`: a SimpleITK name or integer code (its schema's names and codes
/// 1-10, and SimpleITK 2.5's code 23 for `sitkBSpline`).
fn interpolator(v: &Value) -> Result<Interpolator> {
    const OTHERS: &[&str] = &[
        "sitkGaussian",
        "sitkLabelGaussian",
        "sitkHammingWindowedSinc",
        "sitkCosineWindowedSinc",
        "sitkWelchWindowedSinc",
        "sitkLanczosWindowedSinc",
        "sitkBlackmanWindowedSinc",
    ];
    let unsupported = || {
        Error::unsupported(format!(
            "interpolator {v} is not supported yet (sitkNearestNeighbor, sitkLinear, sitkBSpline)"
        ))
    };
    match v {
        Value::String(n) => match n.as_str() {
            "sitkNearestNeighbor" => Ok(Interpolator::NearestNeighbor),
            "sitkLinear" => Ok(Interpolator::Linear),
            "sitkBSpline" => Ok(Interpolator::BSpline),
            o if OTHERS.contains(&o) => Err(unsupported()),
            _ => Err(Error::setting(format!(
                "interpolator must be a SimpleITK interpolator name (sitkNearestNeighbor, \
                 sitkLinear, sitkBSpline, ...) or code, got {v}"
            ))),
        },
        Value::Number(_) => {
            let x = num("interpolator", v)?;
            if x == 1.0 {
                Ok(Interpolator::NearestNeighbor)
            } else if x == 2.0 {
                Ok(Interpolator::Linear)
            } else if x == 23.0 {
                Ok(Interpolator::BSpline)
            } else if (4.0..=10.0).contains(&x) && x.fract() == 0.0 {
                Err(unsupported())
            } else {
                Err(Error::setting(format!(
                    "interpolator code must be 1 (nearest neighbour), 2 (linear), 4-10 or 23 \
                     (B-spline), got {v}"
                )))
            }
        }
        _ => Err(Error::setting(format!(
            "interpolator must be a string or an integer code, got {v}"
        ))),
    }
}

/// Per-class feature lists (class, names).
pub type FeatureLists = Vec<(FeatureClass, Vec<String>)>;

/// `classes`: a list of class names, or PyRadiomics' `featureClass` block (class name -> `null`,
/// `[]` or a list of feature names), in the order given.
fn classes(v: &Value) -> Result<(Vec<FeatureClass>, FeatureLists)> {
    let class = |x: &str| {
        FeatureClass::parse(x).ok_or_else(|| {
            Error::setting(format!(
                "unknown feature class '{x}' (firstorder, glcm, gldm, glrlm, glszm, ngtdm, shape, \
                 shape2D)"
            ))
        })
    };
    let (mut c, mut lists) = (Vec::new(), Vec::new());
    match v {
        Value::Array(a) => {
            for x in a {
                let f = class(x.as_str().ok_or_else(|| {
                    Error::setting(format!("classes must hold class names, got {x}"))
                })?)?;
                if !c.contains(&f) {
                    c.push(f);
                }
            }
        }
        Value::Object(m) => {
            for (k, names) in m {
                let f = class(k)?;
                let names: Vec<String> = match names {
                    Value::Null => vec![],
                    Value::Array(a) => a
                        .iter()
                        .map(|n| {
                            n.as_str().map(str::to_string).ok_or_else(|| {
                                Error::setting(format!(
                                    "feature names of class {k} must be strings, got {n}"
                                ))
                            })
                        })
                        .collect::<Result<_>>()?,
                    _ => {
                        return Err(Error::setting(format!(
                            "class {k}: a list of feature names, [] or null (every default \
                             feature) expected, got {names}"
                        )))
                    }
                };
                let names = crate::selection::check(f, &names)?;
                c.push(f);
                if !names.is_empty() {
                    lists.push((f, names));
                }
            }
        }
        _ => {
            return Err(Error::setting(format!(
                "classes must be a list such as ['glcm', 'glrlm'] or a featureClass block such as \
                 {{\"glcm\": [\"Contrast\"], \"firstorder\": []}}, got {v}"
            )))
        }
    }
    Ok((c, lists))
}

impl Settings {
    /// The feature list of class `c` (empty: its default features).
    pub fn feature_list(&self, c: FeatureClass) -> &[String] {
        self.feature_lists
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, n)| n.as_slice())
            .unwrap_or(&[])
    }

    /// Parses a JSON object of settings (PyRadiomics names, plus voxelkit's `classes`,
    /// `aggregation` and `ibsi`).
    pub fn from_json(v: &Value) -> Result<Settings> {
        let mut s = Self::parse_one(v, true)?;
        let obj = v.as_object();
        let types = obj
            .and_then(|o| o.get("imageType"))
            .filter(|t| !t.is_null());
        let types: Vec<(String, Value)> = match types {
            None => vec![("Original".into(), Value::Null)],
            Some(Value::Object(m)) if m.is_empty() => vec![("Original".into(), Value::Null)],
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(t) => {
                return Err(Error::setting(format!(
                    "imageType must be an object such as {{\"Original\": {{}}, \"LoG\": {{\"sigma\": [1, 3]}}}}, got {t}"
                )))
            }
        };
        for (name, custom) in types {
            let kind = ImageTypeKind::parse(&name)?;
            let has_custom = matches!(&custom, Value::Object(c) if !c.is_empty());
            let settings = match &custom {
                Value::Null => s.clone(),
                Value::Object(c) if c.is_empty() => s.clone(),
                Value::Object(c) => {
                    let mut merged = obj.cloned().unwrap_or_default();
                    merged.remove("imageType");
                    for (k, x) in c {
                        if k == "imageType" {
                            return Err(Error::setting(format!(
                                "imageType {name}: custom settings cannot hold imageType"
                            )));
                        }
                        if !NOT_CUSTOMISABLE.contains(&k.as_str()) {
                            merged.insert(k.clone(), x.clone());
                        }
                    }
                    Self::parse_one(&Value::Object(merged), false).map_err(|e| {
                        Error::new(e.code, format!("imageType {name}: {}", e.message))
                    })?
                }
                other => {
                    return Err(Error::setting(format!(
                        "imageType {name}: custom settings must be an object, got {other}"
                    )))
                }
            };
            crate::filters::check(kind, &settings)?;
            // preCrop crops the image before the filters run (their borders and the point
            // filters' largest absolute value change): not built for derived images yet
            if kind != ImageTypeKind::Original
                && obj.and_then(|o| o.get("preCrop")) == Some(&Value::Bool(true))
            {
                return Err(Error::unsupported(format!(
                    "preCrop with image type {name} is not supported yet (PyRadiomics filters the \
                     cropped image)"
                )));
            }
            s.image_types.push(ImageType {
                kind,
                custom: has_custom,
                settings: Box::new(settings),
            });
        }
        Ok(s)
    }

    fn parse_one(v: &Value, top: bool) -> Result<Settings> {
        let empty = Map::new();
        let obj = match v {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => {
                return Err(Error::setting(format!(
                    "settings must be an object, got {v}"
                )))
            }
        };
        let mut s = Settings::default();
        let mut interp = Some(Interpolator::BSpline);
        let mut resampled: Option<[f64; 3]> = None;
        let mut pad_distance = 5u32;
        for (k, v) in obj {
            if NO_EFFECT.contains(&k.as_str()) {
                continue;
            }
            if !KNOWN.contains(&k.as_str()) {
                return Err(Error::setting(format!(
                    "unknown setting '{k}' (PyRadiomics' setting names, plus classes, aggregation, ibsi)"
                )));
            }
            if v.is_null() {
                if k == "interpolator" {
                    interp = None; // PyRadiomics resamples only with an interpolator
                }
                continue; // PyRadiomics' None: the default
            }
            match k.as_str() {
                "label" => s.label = int(k, v, 1, u32::MAX as i64)? as u32,
                "label_channel" => {
                    if int(k, v, 0, i32::MAX as i64)? != 0 {
                        return Err(Error::unsupported(
                            "label_channel > 0 (vector label maps) is not supported yet",
                        ));
                    }
                }
                "binWidth" => s.bin_width = positive(k, v)?,
                "binCount" => s.bin_count = Some(int(k, v, 1, crate::preprocess::MAX_BINS as i64)? as usize),
                "normalize" => s.normalize = boolean(k, v)?,
                "normalizeScale" => s.normalize_scale = positive(k, v)?,
                "removeOutliers" => s.remove_outliers = Some(positive(k, v)?),
                "resampledPixelSpacing" => {
                    let a = v.as_array().ok_or_else(|| {
                        Error::setting(format!("resampledPixelSpacing must be a list, got {v}"))
                    })?;
                    let sp: Vec<f64> = a.iter().map(|x| num(k, x)).collect::<Result<_>>()?;
                    let Ok(sp) = <[f64; 3]>::try_from(sp.as_slice()) else {
                        return Err(Error::setting(format!(
                            "resampledPixelSpacing must hold 3 spacings (x, y, z), got {v}"
                        )));
                    };
                    if sp.iter().any(|&x| x < 0.0) {
                        return Err(Error::setting(format!(
                            "resampledPixelSpacing must hold spacings >= 0 (0 keeps the input's), got {v}"
                        )));
                    }
                    resampled = Some(sp);
                }
                "interpolator" => interp = Some(interpolator(v)?),
                "padDistance" => pad_distance = int(k, v, 0, 1 << 20)? as u32,
                "distances" => {
                    let a = v.as_array().ok_or_else(|| {
                        Error::setting(format!("distances must be a list of integers >= 1, got {v}"))
                    })?;
                    if a.is_empty() {
                        return Err(Error::setting("distances must not be empty"));
                    }
                    s.distances = a
                        .iter()
                        .map(|x| int("distances", x, 1, 1 << 16).map(|d| d as usize))
                        .collect::<Result<_>>()?;
                }
                "force2D" => s.force2d = boolean(k, v)?,
                "force2Ddimension" => s.force2d_dimension = int(k, v, 0, 2)? as usize,
                "resegmentRange" => {
                    let a = v.as_array().ok_or_else(|| {
                        Error::setting(format!("resegmentRange must be a list of 1 or 2 numbers, got {v}"))
                    })?;
                    if a.is_empty() || a.len() > 2 {
                        return Err(Error::setting(format!(
                            "resegmentRange must hold 1 or 2 numbers, got {}",
                            a.len()
                        )));
                    }
                    s.resegment_range = Some(a.iter().map(|x| num(k, x)).collect::<Result<_>>()?);
                }
                "resegmentMode" => {
                    s.resegment_mode = match v.as_str() {
                        Some("absolute") => ResegmentMode::Absolute,
                        Some("relative") => ResegmentMode::Relative,
                        Some("sigma") => ResegmentMode::Sigma,
                        _ => {
                            return Err(Error::setting(format!(
                                "resegmentMode must be 'absolute', 'relative' or 'sigma', got {v}"
                            )))
                        }
                    }
                }
                "resegmentShape" => s.resegment_shape = boolean(k, v)?,
                "minimumROIDimensions" => s.minimum_roi_dimensions = int(k, v, 1, 3)? as usize,
                "minimumROISize" => s.minimum_roi_size = Some(positive(k, v)?),
                "symmetricalGLCM" => s.symmetrical_glcm = boolean(k, v)?,
                "voxelArrayShift" => s.voxel_array_shift = num(k, v)?,
                "gldm_a" => s.gldm_a = int(k, v, 0, u32::MAX as i64)? as u32,
                "weightingNorm" => {
                    s.weighting_norm = Some(match v.as_str() {
                        Some("manhattan") => WeightingNorm::Manhattan,
                        Some("euclidean") => WeightingNorm::Euclidean,
                        Some("infinity") => WeightingNorm::Infinity,
                        Some("no_weighting") => WeightingNorm::NoWeighting,
                        _ => {
                            return Err(Error::setting(format!(
                                "weightingNorm must be null, 'manhattan', 'euclidean', 'infinity' or 'no_weighting', got {v}"
                            )))
                        }
                    })
                }
                "classes" => (s.classes, s.feature_lists) = classes(v)?,
                "aggregation" => {
                    let a = v.as_str().ok_or_else(|| {
                        Error::setting(format!("aggregation must be a string, got {v}"))
                    })?;
                    s.aggregation = Some(Aggregation::parse(a)?);
                }
                "ibsi" => s.ibsi = boolean(k, v)?,
                "imageType" => {
                    if !top {
                        return Err(Error::setting("imageType cannot be nested"));
                    }
                }
                "sigma" => {
                    let a = v.as_array().ok_or_else(|| {
                        Error::setting(format!("sigma must be a list of numbers > 0 (mm), got {v}"))
                    })?;
                    s.sigma = a
                        .iter()
                        .map(|x| {
                            // a numeric string keeps its spelling's Python type (readParams
                            // passes YAML floats such as 1.0 this way: JavaScript has no 1.0)
                            let spelled;
                            let x = match x {
                                Value::String(t) => {
                                    let f: f64 = t.trim().parse().map_err(|_| {
                                        Error::setting(format!("sigma values must be numbers, got {x}"))
                                    })?;
                                    let float = t.contains(['.', 'e', 'E']);
                                    spelled = match (float, serde_json::Number::from_f64(f)) {
                                        (false, _) if f.fract() == 0.0 && f.abs() < 9e15 => {
                                            Value::from(f as i64)
                                        }
                                        (_, Some(n)) => Value::Number(n),
                                        (_, None) => {
                                            return Err(Error::setting(format!(
                                                "sigma values must be finite, got {x}"
                                            )))
                                        }
                                    };
                                    &spelled
                                }
                                _ => x,
                            };
                            let f = num("sigma", x)?;
                            if f <= 0.0 {
                                return Err(Error::setting(format!(
                                    "sigma values must be > 0 (mm), got {x}"
                                )));
                            }
                            Ok((f, sigma_name(x, f)))
                        })
                        .collect::<Result<_>>()?;
                }
                "wavelet" => {
                    let w = v.as_str().ok_or_else(|| {
                        Error::setting(format!("wavelet must be a PyWavelets name such as 'coif1', got {v}"))
                    })?;
                    s.wavelet = w.to_string();
                }
                "level" => s.level = int(k, v, 1, 64)? as usize,
                "start_level" => s.start_level = int(k, v, 0, 64)? as usize,
                "gradientUseSpacing" => s.gradient_use_spacing = boolean(k, v)?,
                "voxelBased" => s.voxel_based = boolean(k, v)?,
                "kernelRadius" => s.kernel_radius = int(k, v, 1, 1 << 12)? as usize,
                "maskedKernel" => s.masked_kernel = boolean(k, v)?,
                "initValue" => s.init_value = num(k, v)?,
                "voxelBatch" => s.voxel_batch = Some(int(k, v, 1, i64::MAX >> 11)? as usize),
                _ => unreachable!("every KNOWN name is matched"),
            }
        }
        // PyRadiomics resamples only when both are given (the interpolator has a default)
        if let (Some(spacing), Some(interpolator)) = (resampled, interp) {
            s.resampling = Some(Resampling {
                spacing,
                interpolator,
                pad_distance,
            });
        }
        if let Some(a) = s.aggregation {
            if s.force2d && !a.in_plane() {
                return Err(Error::setting(format!(
                    "aggregation {a:?} uses 3D directions but force2D is true"
                )));
            }
            if s.weighting_norm.is_some() {
                return Err(Error::setting(
                    "weightingNorm merges the directions itself; it cannot be combined with aggregation",
                ));
            }
        }
        Ok(s)
    }

    /// The aggregation in effect: the explicit one, or PyRadiomics' behaviour.
    pub fn effective_aggregation(&self) -> Aggregation {
        self.aggregation.unwrap_or(if self.force2d {
            Aggregation::TwoHalfDDirectionMerged
        } else {
            Aggregation::ThreeDAveraged
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use voxelkit_core::Code;

    #[test]
    fn defaults_and_nulls() {
        let s = Settings::from_json(
            &json!({"binWidth": null, "label": 2, "interpolator": "sitkBSpline"}),
        )
        .unwrap();
        assert_eq!(s.bin_width, 25.0);
        assert_eq!(s.label, 2);
        assert_eq!(s.effective_aggregation(), Aggregation::ThreeDAveraged);
    }

    #[test]
    fn errors_are_coded() {
        let e = |v| Settings::from_json(&v).unwrap_err().code;
        assert_eq!(e(json!({"binWidht": 2})), Code::Setting);
        assert_eq!(e(json!({"binWidth": 0})), Code::Setting);
        assert_eq!(e(json!({"binWidth": -1})), Code::Setting);
        assert_eq!(e(json!({"distances": [-1]})), Code::Setting);
        assert_eq!(e(json!({"distances": [0]})), Code::Setting);
        assert_eq!(
            e(json!({"resampledPixelSpacing": [1, 1, 1], "interpolator": "sitkGaussian"})),
            Code::Unsupported
        );
        assert_eq!(e(json!({"interpolator": 5})), Code::Unsupported);
        assert_eq!(e(json!({"interpolator": 3})), Code::Setting);
        assert_eq!(e(json!({"interpolator": "bspline"})), Code::Setting);
        assert_eq!(e(json!({"interpolator": true})), Code::Setting);
        assert_eq!(e(json!({"resampledPixelSpacing": [1, 1]})), Code::Setting);
        assert_eq!(
            e(json!({"resampledPixelSpacing": [1, -1, 1]})),
            Code::Setting
        );
        assert_eq!(e(json!({"resampledPixelSpacing": 2})), Code::Setting);
        assert_eq!(
            e(json!({"resampledPixelSpacing": [1, "a", 1]})),
            Code::Setting
        );
        assert_eq!(e(json!({"padDistance": -1})), Code::Setting);
        assert_eq!(e(json!({"padDistance": 1.5})), Code::Setting);
        let r = |v| Settings::from_json(&v).unwrap().resampling;
        assert_eq!(
            r(json!({"resampledPixelSpacing": [2, 0, 2]})),
            Some(Resampling {
                spacing: [2.0, 0.0, 2.0],
                interpolator: Interpolator::BSpline,
                pad_distance: 5
            })
        );
        assert_eq!(
            r(json!({"resampledPixelSpacing": [2, 2, 2], "interpolator": 2, "padDistance": 0}))
                .unwrap()
                .interpolator,
            Interpolator::Linear
        );
        assert_eq!(
            r(json!({"resampledPixelSpacing": [2, 2, 2], "interpolator": null})),
            None
        );
        assert_eq!(r(json!({"interpolator": "sitkNearestNeighbor"})), None);
        assert_eq!(e(json!({"aggregation": "4D"})), Code::Setting);
        assert_eq!(e(json!({"classes": ["Shape"]})), Code::Setting);
        assert_eq!(e(json!({"classes": ["texture"]})), Code::Setting);
        assert_eq!(e(json!({"resegmentShape": 1})), Code::Setting);
        let s =
            Settings::from_json(&json!({"classes": ["shape2D", "shape"], "resegmentShape": true}))
                .unwrap();
        assert_eq!(s.classes, vec![FeatureClass::Shape2D, FeatureClass::Shape]);
        assert!(s.resegment_shape);
        assert_eq!(e(json!({"gldm_a": -1})), Code::Setting);
        assert_eq!(e(json!({"gldm_a": 0.5})), Code::Setting);
        assert_eq!(e(json!({"voxelArrayShift": "2000"})), Code::Setting);
        assert_eq!(e(json!(3)), Code::Setting);
    }

    #[test]
    fn image_types_and_sigma_names() {
        let s = Settings::from_json(&json!({
            "sigma": [1, 1.0, "1.0", 2.5, "3", 0.00001, 1e16],
            "imageType": {"Wavelet": {"binWidth": 5}, "Original": {}, "LoG": null}
        }))
        .unwrap();
        let names: Vec<&str> = s.sigma.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["1", "1-0", "1-0", "2-5", "3", "1e-05", "1e+16"]);
        // the params file's order, each type with its own settings
        let kinds: Vec<ImageTypeKind> = s.image_types.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                ImageTypeKind::Wavelet,
                ImageTypeKind::Original,
                ImageTypeKind::LoG
            ]
        );
        assert_eq!(s.image_types[0].settings.bin_width, 5.0);
        assert!(s.image_types[0].custom && !s.image_types[1].custom);
        assert_eq!(s.image_types[1].settings.bin_width, 25.0);
        assert_eq!(s.image_types[2].settings.sigma.len(), 7);
        let d = Settings::from_json(&json!({})).unwrap();
        assert_eq!(d.image_types.len(), 1);
        assert_eq!(d.image_types[0].kind, ImageTypeKind::Original);
        let e = |v| Settings::from_json(&v).unwrap_err().code;
        assert_eq!(e(json!({"sigma": ["one"]})), Code::Setting);
        assert_eq!(e(json!({"sigma": ["0"]})), Code::Setting);
        assert_eq!(e(json!({"sigma": ["inf"]})), Code::Setting);
    }
}
