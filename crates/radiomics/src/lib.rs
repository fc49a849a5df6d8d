//! voxelkit-radiomics: PyRadiomics 3.1's first-order, shape, shape2D, GLCM, GLDM, GLRLM, GLSZM
//! and NGTDM classes (setting names, defaults, preprocessing, feature formulas, empty-level and
//! empty-direction handling, quirks) and IBSI's aggregation methods. [`shape`] and [`shape2d`]
//! run marching cubes / squares as PyRadiomics does, with exact diameters from convex hulls
//! ([`hull`]).
//!
//! Pipeline: [`resample`] when `resampledPixelSpacing` is set (normalise, then image and mask onto
//! PyRadiomics' grid) -> [`preprocess::prepare`] (label, normalise, mask checks, resegment, crop, discretise)
//! -> per class: first order on the ROI's values ([`firstorder`]); GLCM/GLRLM raw counts per
//! (region, direction) ([`matrices`]) -> groups of matrices merged according to the aggregation
//! (or PyRadiomics' distance weighting) -> one normalised matrix per group -> features per group
//! ([`features`]); GLSZM zones ([`glszm`]), GLDM and NGTDM neighbourhoods ([`neighbours`],
//! [`gldm`], [`ngtdm`]) per IBSI 2D / 2.5D / 3D layout -> features per matrix -> mean over
//! groups ignoring NaN (PyRadiomics' `nanmean`).
//!
//! Image types ([`filters`]): each enabled PyRadiomics image type derives images from the
//! (normalised) input; the first-order and texture classes run on each, on the ROI fixed by the
//! original image (after resegmentation), keyed by the image's name.
//!
//! Parallelism: regions, directions and slabs of the box are counted in parallel; counts are
//! exact integers and every floating-point reduction runs in a fixed order, so results are
//! bitwise identical at any thread count.

pub mod features;
pub mod filters;
pub mod firstorder;
pub mod gldm;
pub mod glszm;
pub mod hull;
pub mod matrices;
pub mod neighbours;
pub mod ngtdm;
pub mod preprocess;
pub mod resample;
pub mod selection;
pub mod settings;
pub mod shape;
pub mod shape2d;
mod symeig;
pub mod voxel;

pub use gldm::gldm_matrices;
pub use glszm::glszm_matrices;
use matrices::{Angle, Region};
pub use ngtdm::ngtdm_matrices;
use preprocess::{Input, Roi};
use rayon::prelude::*;
pub use settings::{Aggregation, FeatureClass, Settings, WeightingNorm};
use voxelkit_core::{par, Control, Result, Sample};

/// Texture matrices as a feature class sees them after PyRadiomics' processing.
#[derive(Debug, Clone)]
pub struct TextureMatrices {
    /// `shape = [rows, cols, groups]`, first axis fastest: element `(i, j, m)` at
    /// `i + rows * (j + cols * m)`. GLCM: normalised co-occurrence probabilities, rows and
    /// columns the grey levels present in the ROI. GLRLM: run counts, rows the grey levels,
    /// columns the run lengths that occur (`run_lengths`).
    pub data: Vec<f64>,
    pub shape: [usize; 3],
    /// Grey levels (bin indices) of the matrix rows.
    pub grey_levels: Vec<u32>,
    /// The value of each column: GLRLM the run length, GLSZM the zone size, GLDM the dependence
    /// (neighbours within `gldm_a`, plus one); GLCM and NGTDM (columns `n_i`, `s_i`, `i`): empty.
    pub run_lengths: Vec<u32>,
    /// Directions `(z, y, x)` of the matrices when each group is one direction over the whole
    /// ROI (PyRadiomics' default); empty otherwise.
    pub angles: Vec<Angle>,
}

/// One group: matrices (region index, angle index, weight) summed into one.
type Group = Vec<(usize, usize, f64)>;

struct Plan {
    regions: Vec<Region>,
    angles: Vec<Angle>,
    groups: Vec<Group>,
    /// groups are single directions over the whole ROI
    per_angle: bool,
}

pub(crate) fn weight(norm: WeightingNorm, a: &Angle, sp: &[f64; 3], glcm: bool) -> f64 {
    let d: Vec<f64> = (0..3).map(|k| (a[k].abs() as f64) * sp[k]).collect();
    let (inf, euc2, man) = (
        d.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        d.iter().map(|x| x * x).sum::<f64>(),
        d.iter().sum::<f64>(),
    );
    match (norm, glcm) {
        (WeightingNorm::NoWeighting, _) => 1.0,
        (WeightingNorm::Infinity, true) => (-(inf * inf)).exp(),
        (WeightingNorm::Euclidean, true) => (-euc2).exp(),
        (WeightingNorm::Manhattan, true) => (-(man * man)).exp(),
        (WeightingNorm::Infinity, false) => inf,
        (WeightingNorm::Euclidean, false) => euc2.sqrt(),
        (WeightingNorm::Manhattan, false) => man,
    }
}

fn plan(roi: &Roi, s: &Settings, glcm: bool) -> Result<Plan> {
    let agg = s.effective_aggregation();
    let dim = s.force2d_dimension;
    // PyRadiomics' GLRLM always uses distance 1 (its `distances` setting is the GLCM's)
    let distances: &[usize] = if glcm { &s.distances } else { &[1] };
    let angles = matrices::angles(
        roi.size,
        distances,
        if agg.in_plane() { Some(dim) } else { None },
    );
    let na = angles.len();
    if na == 0 {
        return Err(voxelkit_core::Error::setting(format!(
            "no direction at distances {:?} fits in the ROI's bounding box {:?} (z, y, x)",
            distances, roi.size
        )));
    }
    let whole = vec![Region::whole(roi)];
    let slices: Vec<Region> = (0..roi.size[dim])
        .map(|k| Region::slice(roi, dim, k))
        .collect();
    use Aggregation::*;
    if let Some(norm) = s.weighting_norm {
        let g = (0..na)
            .map(|a| (0, a, weight(norm, &angles[a], &roi.spacing, glcm)))
            .collect();
        return Ok(Plan {
            regions: whole,
            angles,
            groups: vec![g],
            per_angle: false,
        });
    }
    let (regions, groups, per_angle): (Vec<Region>, Vec<Group>, bool) = match agg {
        ThreeDAveraged | TwoHalfDDirectionMerged => {
            (whole, (0..na).map(|a| vec![(0, a, 1.0)]).collect(), true)
        }
        ThreeDMerged | TwoHalfDMerged => {
            (whole, vec![(0..na).map(|a| (0, a, 1.0)).collect()], false)
        }
        TwoDAveraged => {
            let g = (0..slices.len())
                .flat_map(|r| (0..na).map(move |a| vec![(r, a, 1.0)]))
                .collect();
            (slices, g, false)
        }
        TwoDSliceMerged => {
            let g = (0..slices.len())
                .map(|r| (0..na).map(|a| (r, a, 1.0)).collect())
                .collect();
            (slices, g, false)
        }
    };
    Ok(Plan {
        regions,
        angles,
        groups,
        per_angle,
    })
}

/// Merges each group, drops empty groups when there are several (PyRadiomics deletes empty
/// directions), and returns the group matrices (not normalised) and their sums.
fn merge_groups(
    counts: &[Vec<Vec<f64>>],
    groups: &[Group],
    len: usize,
) -> Vec<(Vec<f64>, f64, usize)> {
    let merged: Vec<(Vec<f64>, f64, usize)> = groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            let mut m = vec![0.0; len];
            for &(r, a, w) in g {
                for (t, v) in m.iter_mut().zip(&counts[r][a]) {
                    *t += v * w;
                }
            }
            let s: f64 = m.iter().sum();
            (m, s, gi)
        })
        .collect();
    if merged.len() > 1 {
        merged.into_iter().filter(|(_, s, _)| *s != 0.0).collect()
    } else {
        merged
    }
}

/// The merged matrices of the groups that are kept (`kept`: their indices in `plan.groups`),
/// each `n x cols` row-major (GLCM: `cols = n`; GLRLM: the longest possible run).
struct Groups {
    mats: Vec<Vec<f64>>,
    kept: Vec<usize>,
    cols: usize,
    plan: Plan,
}

fn glcm_groups(roi: &Roi, s: &Settings, ctl: &Control) -> Result<Groups> {
    let plan = plan(roi, s, true)?;
    let n = roi.grey_levels.len();
    let mut counts = matrices::glcm_counts(roi, &plan.regions, &plan.angles, ctl)?;
    if s.symmetrical_glcm {
        for m in counts.iter_mut().flatten() {
            let t = m.clone();
            for i in 0..n {
                for j in 0..n {
                    m[i * n + j] += t[j * n + i];
                }
            }
        }
    }
    let merged = merge_groups(&counts, &plan.groups, n * n);
    let mut mats = Vec::new();
    let mut kept = Vec::new();
    for (mut m, sum, gi) in merged {
        let d = if sum == 0.0 { f64::NAN } else { sum };
        m.iter_mut().for_each(|v| *v /= d);
        mats.push(m);
        kept.push(gi);
    }
    Ok(Groups {
        mats,
        kept,
        cols: n,
        plan,
    })
}

fn glrlm_groups(roi: &Roi, s: &Settings, ctl: &Control) -> Result<Groups> {
    let plan = plan(roi, s, false)?;
    let n = roi.grey_levels.len();
    let nr = *roi.size.iter().max().unwrap();
    let counts = matrices::glrlm_counts(roi, &plan.regions, &plan.angles, nr, !s.ibsi, ctl)?;
    let merged = merge_groups(&counts, &plan.groups, n * nr);
    let (mut mats, mut kept) = (Vec::new(), Vec::new());
    for (m, _, gi) in merged {
        mats.push(m);
        kept.push(gi);
    }
    Ok(Groups {
        mats,
        kept,
        cols: nr,
        plan,
    })
}

/// Extracts the enabled feature classes for every enabled image type (PyRadiomics'
/// `RadiomicsFeatureExtractor.execute`): the shape classes once, on the original mask; then per
/// image type, in the order given, its images (see [`filters`]) and on each the first-order and
/// texture classes with that type's settings. Keys are PyRadiomics' (`original_glcm_Contrast`,
/// `log-sigma-1-0-mm-3D_firstorder_Mean`, `wavelet-LLH_glcm_…`, …).
pub fn extract<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Vec<(String, f64)>> {
    if s.voxel_based {
        return Err(voxelkit_core::Error::setting(
            "voxelBased: true yields feature maps: use voxel::extract_maps (extractFeatureMaps)",
        ));
    }
    if s.resampling.is_some() {
        return resample::run(resample::Job::Features, inp, s, threads, ctl).map(|d| d.features());
    }
    let pool = par::pool(threads)?;
    let is_shape = |c: &FeatureClass| matches!(c, FeatureClass::Shape | FeatureClass::Shape2D);
    let shapes = s.classes.iter().filter(|c| is_shape(c)).count();
    let per_image: u64 = s
        .image_types
        .iter()
        .map(|t| {
            filters::image_count(t.kind, &t.settings)
                * t.settings.classes.iter().filter(|c| !is_shape(c)).count() as u64
        })
        .sum();
    ctl.set_total(1 + shapes as u64 + per_image);
    let roi = preprocess::prepare(inp, s, threads, ctl)?;
    ctl.advance(1);
    // PyRadiomics computes the shape classes first (computeShape), then the others in order
    let mut out = pool.install(|| shape::shape_class_features(inp, s, &roi, ctl))?;
    ctl.advance(shapes as u64);
    for t in &s.image_types {
        ctl.check()?;
        if t.kind == filters::ImageTypeKind::Original && !t.custom {
            class_features(&roi, s, "original", &pool, ctl, &mut out)?;
        } else {
            let bx = filters::ImageBox::of_roi(&roi);
            let mut sink = filters::Sink::Features(&mut out);
            filters::derived_features(inp, s, &bx, t, threads, &pool, ctl, &mut sink)?;
        }
    }
    Ok(out)
}

/// The first-order and texture classes of `s.classes` on a prepared ROI, keyed
/// `{image}_{class}_{feature}`.
pub(crate) fn class_features(
    roi: &Roi,
    s: &Settings,
    image: &str,
    pool: &rayon::ThreadPool,
    ctl: &Control,
    out: &mut Vec<(String, f64)>,
) -> Result<()> {
    let levels: Vec<f64> = roi.grey_levels.iter().map(|&g| g as f64).collect();
    for &c in &s.classes {
        ctl.check()?;
        match c {
            FeatureClass::Shape | FeatureClass::Shape2D => continue,
            FeatureClass::Firstorder => {
                let f = pool
                    .install(|| firstorder::firstorder_features(roi, s.voxel_array_shift, ctl))?;
                keyed(s, c, image, &f, out);
            }
            FeatureClass::Glszm => {
                let f = pool.install(|| glszm::glszm_class(roi, s, ctl))?;
                keyed(s, c, image, &f, out);
            }
            FeatureClass::Gldm => {
                let f = pool.install(|| gldm::gldm_class(roi, s, ctl))?;
                keyed(s, c, image, &f, out);
            }
            FeatureClass::Ngtdm => {
                let f = pool.install(|| ngtdm::ngtdm_class(roi, s, ctl))?;
                keyed(s, c, image, &f, out);
            }
            FeatureClass::Glcm => {
                let g = pool.install(|| glcm_groups(roi, s, ctl))?;
                let per: Vec<[f64; 24]> = pool.install(|| {
                    g.mats
                        .par_iter()
                        .map(|m| features::glcm_features(m, &levels, roi.ng as f64))
                        .collect()
                });
                let f: Vec<f64> = (0..features::GLCM_NAMES.len())
                    .map(|k| {
                        if features::GLCM_NAMES[k] == "MCC" && levels.len() < 2 {
                            1.0
                        } else {
                            features::nanmean(per.iter().map(|f| f[k]))
                        }
                    })
                    .collect();
                keyed(s, c, image, &f, out);
            }
            FeatureClass::Glrlm => {
                let g = pool.install(|| glrlm_groups(roi, s, ctl))?;
                let per: Vec<[f64; 16]> = pool.install(|| {
                    g.mats
                        .par_iter()
                        .map(|m| features::glrlm_features(m, &levels, g.cols))
                        .collect()
                });
                let f: Vec<f64> = (0..features::GLRLM_NAMES.len())
                    .map(|k| features::nanmean(per.iter().map(|f| f[k])))
                    .collect();
                keyed(s, c, image, &f, out);
            }
        }
        ctl.advance(1);
    }
    Ok(())
}

/// Keys the selected features of class `c` ([`selection`]) from `values`, the class's values
/// in [`selection::computed`] order: `{image}_{class}_{feature}`.
pub(crate) fn keyed(
    s: &Settings,
    c: FeatureClass,
    image: &str,
    values: &[f64],
    out: &mut Vec<(String, f64)>,
) {
    let names = selection::computed(c);
    for k in selection::selected(c, s.feature_list(c)) {
        out.push((format!("{image}_{}_{}", c.name(), names[k].0), values[k]));
    }
}

fn pack(mats: &[Vec<f64>], rows: usize, cols: usize, keep_cols: &[usize]) -> Vec<f64> {
    // row-major (rows x cols) per group -> first axis fastest [rows, kept cols, groups]
    let mut out = Vec::with_capacity(rows * keep_cols.len() * mats.len());
    for m in mats {
        for &j in keep_cols {
            for i in 0..rows {
                out.push(m[i * cols + j]);
            }
        }
    }
    out
}

/// The GLCM (`glcm`) or GLRLM matrices of `inp` after PyRadiomics' processing.
fn texture_matrices<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
    glcm: bool,
) -> Result<TextureMatrices> {
    if s.resampling.is_some() {
        let job = if glcm {
            resample::Job::Glcm
        } else {
            resample::Job::Glrlm
        };
        return resample::run(job, inp, s, threads, ctl).map(|d| d.matrices());
    }
    let pool = par::pool(threads)?;
    let roi = preprocess::prepare(inp, s, threads, ctl)?;
    let g = pool.install(|| {
        if glcm {
            glcm_groups(&roi, s, ctl)
        } else {
            glrlm_groups(&roi, s, ctl)
        }
    })?;
    let n = roi.grey_levels.len();
    // a GLCM keeps every column, a GLRLM the run lengths that occur
    let cols: Vec<usize> = (0..g.cols)
        .filter(|&j| {
            glcm || g
                .mats
                .iter()
                .any(|m| (0..n).any(|i| m[i * g.cols + j] != 0.0))
        })
        .collect();
    Ok(TextureMatrices {
        data: pack(&g.mats, n, g.cols, &cols),
        shape: [n, cols.len(), g.mats.len()],
        grey_levels: roi.grey_levels.clone(),
        run_lengths: if glcm {
            vec![]
        } else {
            cols.iter().map(|&j| j as u32 + 1).collect()
        },
        angles: if g.plan.per_angle {
            g.kept.iter().map(|&k| g.plan.angles[k]).collect()
        } else {
            vec![]
        },
    })
}

/// The GLCM matrices as PyRadiomics' `P_glcm` after its processing (empty grey levels removed,
/// symmetrised, weighted, empty directions removed, normalised per matrix).
pub fn glcm_matrices<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<TextureMatrices> {
    texture_matrices(inp, s, threads, ctl, true)
}

/// The GLRLM matrices as PyRadiomics' `P_glrlm` after its processing (empty grey levels and
/// run lengths removed, weighted, empty directions removed; counts, not normalised).
pub fn glrlm_matrices<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<TextureMatrices> {
    texture_matrices(inp, s, threads, ctl, false)
}
