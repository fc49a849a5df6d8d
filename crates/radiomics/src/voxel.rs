//! Voxel-based extraction: PyRadiomics 3.1's `execute(image, mask, voxelBased=True)`.
//!
//! For every ROI voxel the enabled first-order, GLCM, GLRLM, GLSZM, GLDM and NGTDM features are
//! computed on a kernel around it and stored in a feature map per feature, for every enabled
//! image type. PyRadiomics' semantics, reproduced here:
//!
//! - **Grid.** The maps cover the ROI's bounding box grown by `kernelRadius` voxels on every side
//!   and clipped to the image (PyRadiomics crops each image with `padDistance = kernelRadius`
//!   and returns SimpleITK images with that crop's origin, spacing and direction). Voxels outside
//!   the ROI hold `initValue`; the shape classes are not computed (PyRadiomics skips them).
//!   With `resampledPixelSpacing`, image and mask are first resampled as for segment-based
//!   extraction ([`crate::resample`]: PyRadiomics' `loadImage` does it before either) and the
//!   box lies on the resampled grid ([`Maps::grid`]).
//! - **Discretisation** is the segment-based one over the ROI (`maskedKernel: true`) or over the
//!   whole box (`maskedKernel: false`); the grey levels are those of that region (`Ng` its
//!   largest), for every kernel.
//! - **First order**: the kernel is the box of half-width `min(kernelRadius, size - 1)` per axis
//!   (`size`: the ROI's bounding box, or the whole box when not masked; none across
//!   `force2Ddimension` with `force2D`) around the voxel, restricted to the image and (masked) to
//!   the ROI; the segment-based formulas on its values, the histogram over the region's grey
//!   levels.
//! - **GLCM**: pairs of voxels inside the box `voxel ± kernelRadius` (clipped to the box; flat
//!   across `force2Ddimension` with `force2D`), both in the ROI (masked) or anywhere in the box,
//!   for the directions that fit the box; per direction normalised, features averaged over the
//!   directions that hold pairs (an empty direction's NaN features are ignored by
//!   PyRadiomics' `nanmean`; a kernel with no pair at all gives NaN, as in PyRadiomics).
//!   PyRadiomics deletes a direction only when no voxel of a batch (`voxelBatch`, default all
//!   ROI voxels) has pairs in it; a voxel with an empty direction that the batch keeps has a
//!   NaN matrix there, which `nanmean` ignores, except in JointAverage (numpy's `mean`: NaN) and
//!   MCC (`eigvals` fails on NaN: the whole batch keeps `initValue`). Both are reproduced.
//! - **GLDM, NGTDM**: each kernel voxel's neighbours (PyRadiomics' directions both ways) inside
//!   the same kernel box, in the ROI (masked) or anywhere in the box; the segment-based formulas
//!   on the kernel's matrix (levels and dependences that occur; the others add nothing).
//! - **GLRLM** (`calculate_glrlm` with the kernel's bounding box): runs along PyRadiomics'
//!   directions at distance 1 (`distances` does not apply; flat across `force2Ddimension` with
//!   `force2D`) inside the same kernel box, of ROI voxels (masked) or of any box voxel; a
//!   direction along which no line of the box holds two such voxels is zeroed (C's
//!   `multiElement`). Features per direction with `Nr(θ) = 0` giving NaN, averaged with `nanmean`
//!   (every GLRLM feature uses it, so the batch's deletion of directions empty for all its voxels
//!   changes nothing): a kernel with no run of two voxels in any direction is NaN. With
//!   `weightingNorm` the directions' matrices are summed with PyRadiomics' GLRLM weights (the
//!   norm of the spacing-scaled offset) and the features taken on the sum.
//! - **GLSZM** (`calculate_glszm` with the kernel's bounding box): zones of one grey level,
//!   26-connected (8-connected in-plane with `force2D`), grown only inside the kernel box and
//!   the ROI (masked) or the box; the kernel's centre is always a zone, so `Nz >= 1`. The zone
//!   sizes PyRadiomics deletes per batch are sizes no voxel of it has (they add nothing).
//! - **Feature lists**: as segment-based ([`crate::selection`]), except that a deprecated
//!   feature whose PyRadiomics method raises (GLCM `SumVariance`, …) is keyed with a map of
//!   `initValue` (PyRadiomics allocates every enabled feature's map first).
//!
//! Parallel over the ROI's voxels in fixed blocks (rayon); every kernel's computation is
//! sequential and independent of the others, so the maps are bitwise identical at any thread
//! count. Memory: the maps (the output), the discretised box and one kernel's matrices per thread.

use crate::filters::{self, ImageBox, Sink};
use crate::glszm::{self, Layout};
use crate::matrices::{self, Angle, Region};
use crate::preprocess::{self, Input, Roi};
use crate::settings::{FeatureClass, Settings};
use crate::{features, firstorder, gldm, ngtdm, selection};
use rayon::prelude::*;
use voxelkit_core::{par, Control, Error, Result, Sample};

/// Feature maps on one box of the input grid.
#[derive(Debug, Clone, Default)]
pub struct Maps {
    /// PyRadiomics' keys (`original_glcm_Contrast`, …), in its order.
    pub names: Vec<String>,
    /// Map `k` at `data[k * len .. (k + 1) * len]` (`len` the box's voxel count), x fastest.
    pub data: Vec<f64>,
    /// The box's size `[nx, ny, nz]`.
    pub size: [usize; 3],
    /// The box's first voxel in the input, `[x, y, z]` (in [`Maps::grid`] when set).
    pub origin: [usize; 3],
    /// The grid the box lies on when `resampledPixelSpacing` moved the extraction off the
    /// input's grid (PyRadiomics returns its maps on the resampled grid); `None`: the input's.
    pub grid: Option<crate::resample::Grid>,
}

impl Maps {
    /// Voxels per map.
    pub fn len(&self) -> usize {
        self.size.iter().product()
    }

    /// No voxel (never the case for a result).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&[f64]> {
        let k = self.names.iter().position(|n| n == name)?;
        Some(&self.data[k * self.len()..(k + 1) * self.len()])
    }
}

/// ROI voxels per block: the unit of parallel work, progress and abort checks.
const BLOCK: usize = 2048;

fn supported(s: &Settings) -> Result<()> {
    if s.aggregation.is_some() {
        return Err(Error::unsupported(
            "voxel-based extraction follows PyRadiomics (directions averaged): aggregation is \
             not supported with voxelBased",
        ));
    }
    Ok(())
}

/// Voxel-based extraction of the enabled first-order, GLCM, GLRLM, GLSZM, GLDM and NGTDM
/// features for every enabled image type (see the module documentation).
pub fn extract_maps<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Maps> {
    supported(s)?;
    if s.resampling.is_some() {
        // as PyRadiomics' loadImage: image and mask resampled first, the maps on the new grid
        return crate::resample::run(crate::resample::Job::Maps, inp, s, threads, ctl)
            .map(|d| d.maps());
    }
    let pool = par::pool(threads)?;
    let roi = preprocess::prepare(inp, s, threads, ctl)?;
    let r = s.kernel_radius;
    // the ROI's box grown by the kernel radius, clipped to the image ([x, y, z])
    let lo: [usize; 3] = std::array::from_fn(|k| roi.origin[k].saturating_sub(r));
    let hi: [usize; 3] =
        std::array::from_fn(|k| (roi.origin[k] + roi.size[2 - k] - 1 + r).min(inp.shape[k] - 1));
    let size: [usize; 3] = std::array::from_fn(|k| hi[k] - lo[k] + 1);
    let mut mask = vec![0u8; size.iter().product()];
    let [rz, ry, rx] = roi.size;
    for z in 0..rz {
        for y in 0..ry {
            for x in 0..rx {
                if roi.grey[(z * ry + y) * rx + x] != 0 {
                    let (bx, by, bz) = (
                        x + roi.origin[0] - lo[0],
                        y + roi.origin[1] - lo[1],
                        z + roi.origin[2] - lo[2],
                    );
                    mask[(bz * size[1] + by) * size[0] + bx] = 1;
                }
            }
        }
    }
    let images: u64 = s
        .image_types
        .iter()
        .map(|t| filters::image_count(t.kind, &t.settings))
        .sum();
    ctl.set_total(images * roi.count as u64);
    let bx = ImageBox {
        origin: lo,
        size: [size[2], size[1], size[0]],
        mask,
    };
    drop(roi);
    let mut maps = Maps {
        size,
        origin: lo,
        ..Default::default()
    };
    for t in &s.image_types {
        ctl.check()?;
        let mut sink = Sink::Maps(&mut maps);
        filters::derived_features(inp, s, &bx, t, threads, &pool, ctl, &mut sink)?;
    }
    Ok(maps)
}

/// A feature to map: its column in the kernel's results, or none (`initValue`).
struct Wanted {
    key: String,
    column: Option<usize>,
}

/// Columns of a kernel's results: the 19 first-order features, the 24 GLCM features, the 14
/// GLDM features, the 5 NGTDM features, the 16 GLRLM features, the 16 GLSZM features.
const FO: usize = 0;
const GLCM: usize = 19;
const GLDM: usize = GLCM + 24;
const NGTDM: usize = GLDM + 14;
const GLRLM: usize = NGTDM + 5;
const GLSZM: usize = GLRLM + 16;
const COLUMNS: usize = GLSZM + 16;
const MCC: usize = GLCM + 19;
const JOINT_AVERAGE: usize = GLCM + 16;

fn wanted(s: &Settings, name: &str) -> Vec<Wanted> {
    let mut out = Vec::new();
    for &c in &s.classes {
        let base = match c {
            FeatureClass::Firstorder => FO,
            FeatureClass::Glcm => GLCM,
            FeatureClass::Gldm => GLDM,
            FeatureClass::Ngtdm => NGTDM,
            FeatureClass::Glrlm => GLRLM,
            FeatureClass::Glszm => GLSZM,
            _ => continue,
        };
        let comp = selection::computed(c);
        let list = s.feature_list(c);
        let names: Vec<&str> = if list.is_empty() {
            comp.iter().filter(|(_, d)| !d).map(|(n, _)| *n).collect()
        } else {
            list.iter().map(String::as_str).collect()
        };
        for n in names {
            out.push(Wanted {
                key: format!("{name}_{}_{n}", c.name()),
                column: comp.iter().position(|(x, _)| *x == n).map(|k| base + k),
            });
        }
    }
    out
}

/// Per-image state shared by the kernels.
struct Kernels<'a> {
    d: &'a Roi,
    /// grey level -> its index among the region's levels
    levels_lut: &'a [u32],
    /// `[nz, ny, nx]` of the region `d` covers
    size: [usize; 3],
    /// first-order half-widths per numpy axis
    fo_half: [usize; 3],
    radius: usize,
    /// texture kernels are flat across this numpy axis (force2D)
    flat_axis: Option<usize>,
    angles: Vec<Angle>,
    weights: Option<Vec<f64>>,
    symmetrical: bool,
    levels: usize,
    ng: f64,
    vol: f64,
    shift: f64,
    want_fo: bool,
    want_glcm: bool,
    /// GLDM or NGTDM
    want_nb: bool,
    /// GLDM / NGTDM neighbours: the directions both ways
    offsets: Vec<[i64; 3]>,
    alpha: u32,
    want_glrlm: bool,
    want_glszm: bool,
    /// GLRLM directions (distance 1) and their weights (`weightingNorm`)
    rl_angles: Vec<Angle>,
    rl_weights: Option<Vec<f64>>,
    /// PyRadiomics zeroes a direction along which no line holds two ROI voxels
    drop_flat: bool,
    /// the region's grey levels as numbers
    levels_f: Vec<f64>,
    /// GLSZM neighbourhoods (26-connected, 8-connected in-plane with force2D)
    layout: Layout,
}

/// Per-thread scratch.
struct Scratch {
    lut: Vec<u32>,
    counts: Vec<u64>,
    values: Vec<f64>,
    local: Vec<u32>,
    mats: Vec<f64>,
}

/// One kernel's results: the columns, and which GLCM directions held pairs (bit per matrix).
struct Row {
    cols: [f64; COLUMNS],
    nonempty: Vec<u64>,
}

impl Kernels<'_> {
    /// The kernel's results; MCC only `with_mcc` (NaN otherwise; 1 with fewer than two levels).
    /// The MCC pass uses only that column: it leaves the GLRLM and GLSZM columns NaN.
    fn kernel(
        &self,
        c: [usize; 3],
        sc: &mut Scratch,
        with_mcc: bool,
        ctl: &Control,
    ) -> Result<Row> {
        let mut cols = [f64::NAN; COLUMNS];
        let mut nonempty = Vec::new();
        let d = self.d;
        let [_, ny, nx] = self.size;
        if self.want_fo {
            let lo: [usize; 3] = std::array::from_fn(|k| c[k].saturating_sub(self.fo_half[k]));
            let hi: [usize; 3] =
                std::array::from_fn(|k| (c[k] + self.fo_half[k]).min(self.size[k] - 1));
            sc.values.clear();
            for z in lo[0]..=hi[0] {
                for y in lo[1]..=hi[1] {
                    for x in lo[2]..=hi[2] {
                        let i = (z * ny + y) * nx + x;
                        let g = d.grey[i];
                        if g != 0 {
                            sc.values.push(d.values[i]);
                            sc.counts[self.levels_lut[g as usize] as usize] += 1;
                        }
                    }
                }
            }
            let f = firstorder::firstorder_of(&sc.values, &sc.counts, self.vol, self.shift);
            cols[FO..FO + 19].copy_from_slice(&f);
            sc.counts.iter_mut().for_each(|v| *v = 0);
        }
        if !(self.want_glcm || self.want_nb || self.want_glrlm || self.want_glszm) {
            return Ok(Row { cols, nonempty });
        }
        let r = self.radius;
        let lo: [usize; 3] = std::array::from_fn(|k| {
            if self.flat_axis == Some(k) {
                c[k]
            } else {
                c[k].saturating_sub(r)
            }
        });
        let hi: [usize; 3] = std::array::from_fn(|k| {
            if self.flat_axis == Some(k) {
                c[k]
            } else {
                (c[k] + r).min(self.size[k] - 1)
            }
        });
        // the MCC pass (`with_mcc`) reads only the MCC column: runs and zones are not redone
        if self.want_glrlm && !with_mcc {
            self.runs(lo, hi, &mut cols, ctl)?;
        }
        if self.want_glszm && !with_mcc {
            self.zones(lo, hi, &mut cols, ctl)?;
        }
        if !(self.want_glcm || self.want_nb) {
            return Ok(Row { cols, nonempty });
        }
        // the kernel's grey levels, ascending, and their local indices
        sc.local.clear();
        for z in lo[0]..=hi[0] {
            for y in lo[1]..=hi[1] {
                for x in lo[2]..=hi[2] {
                    let g = d.grey[(z * ny + y) * nx + x];
                    if g != 0 && !sc.local.contains(&g) {
                        sc.local.push(g);
                    }
                }
            }
        }
        sc.local.sort_unstable();
        let n = sc.local.len();
        for (k, &g) in sc.local.iter().enumerate() {
            sc.lut[g as usize] = k as u32;
        }
        let gvals: Vec<f64> = sc.local.iter().map(|&g| g as f64).collect();
        let inside = |z: i64, y: i64, x: i64| {
            z >= lo[0] as i64
                && z <= hi[0] as i64
                && y >= lo[1] as i64
                && y <= hi[1] as i64
                && x >= lo[2] as i64
                && x <= hi[2] as i64
        };
        if self.want_nb {
            // GLDM: voxels per (level, dependent neighbours); NGTDM: n_i and s_i per level
            let no = self.offsets.len();
            let mut dep = vec![0.0; n * (no + 1)];
            let mut tn = vec![0.0; n];
            let mut ts = vec![0.0; n];
            for z in lo[0]..=hi[0] {
                for y in lo[1]..=hi[1] {
                    for x in lo[2]..=hi[2] {
                        let g = d.grey[(z * ny + y) * nx + x];
                        if g == 0 {
                            continue;
                        }
                        let (mut count, mut sum, mut nd) = (0u32, 0.0f64, 0usize);
                        for o in &self.offsets {
                            let (jz, jy, jx) = (z as i64 + o[0], y as i64 + o[1], x as i64 + o[2]);
                            if !inside(jz, jy, jx) {
                                continue;
                            }
                            let gj = d.grey[(jz as usize * ny + jy as usize) * nx + jx as usize];
                            if gj != 0 {
                                count += 1;
                                sum += gj as f64;
                                if g.abs_diff(gj) <= self.alpha {
                                    nd += 1;
                                }
                            }
                        }
                        let li = sc.lut[g as usize] as usize;
                        dep[li * (no + 1) + nd] += 1.0;
                        let diff = if count == 0 {
                            0.0
                        } else {
                            (g as f64 - sum / count as f64).abs()
                        };
                        tn[li] += 1.0;
                        ts[li] += diff;
                    }
                }
            }
            let keep: Vec<usize> = (0..=no)
                .filter(|&c| (0..n).any(|i| dep[i * (no + 1) + c] != 0.0))
                .collect();
            let p: Vec<f64> = (0..n)
                .flat_map(|i| keep.iter().map(move |&c| (i, c)))
                .map(|(i, c)| dep[i * (no + 1) + c])
                .collect();
            let j: Vec<f64> = keep.iter().map(|&c| (c + 1) as f64).collect();
            cols[GLDM..GLDM + 14].copy_from_slice(&gldm::gldm_features(&p, &gvals, &j));
            cols[NGTDM..NGTDM + 5].copy_from_slice(&ngtdm::ngtdm_features(&tn, &ts, &gvals));
        }
        if self.want_glcm {
            let na = self.angles.len();
            sc.mats.clear();
            sc.mats.resize(na * n * n, 0.0);
            for z in lo[0]..=hi[0] {
                for y in lo[1]..=hi[1] {
                    for x in lo[2]..=hi[2] {
                        let g = d.grey[(z * ny + y) * nx + x];
                        if g == 0 {
                            continue;
                        }
                        let li = sc.lut[g as usize] as usize;
                        for (a, off) in self.angles.iter().enumerate() {
                            let (jz, jy, jx) = (
                                z as i64 + off[0] as i64,
                                y as i64 + off[1] as i64,
                                x as i64 + off[2] as i64,
                            );
                            if !inside(jz, jy, jx) {
                                continue;
                            }
                            let gj = d.grey[(jz as usize * ny + jy as usize) * nx + jx as usize];
                            if gj != 0 {
                                let lj = sc.lut[gj as usize] as usize;
                                sc.mats[a * n * n + li * n + lj] += 1.0;
                            }
                        }
                    }
                }
            }
            if self.symmetrical && n > 0 {
                for m in sc.mats.chunks_mut(n * n) {
                    for i in 0..n {
                        for j in i + 1..n {
                            let t = m[i * n + j] + m[j * n + i];
                            m[i * n + j] = t;
                            m[j * n + i] = t;
                        }
                        m[i * n + i] *= 2.0;
                    }
                }
            }
            let mats: Vec<&[f64]> = if n == 0 {
                vec![]
            } else {
                sc.mats.chunks(n * n).collect()
            };
            let merged;
            let mats: Vec<&[f64]> = match &self.weights {
                Some(w) => {
                    let mut m = vec![0.0; n * n];
                    for (a, x) in mats.iter().enumerate() {
                        for (t, v) in m.iter_mut().zip(x.iter()) {
                            *t += v * w[a];
                        }
                    }
                    merged = m;
                    vec![&merged[..]]
                }
                None => mats,
            };
            let nm = if self.weights.is_some() { 1 } else { na };
            nonempty = vec![0u64; nm.div_ceil(64)];
            let mut per: Vec<[f64; 24]> = Vec::with_capacity(nm);
            for (a, m) in mats.iter().enumerate() {
                let sum: f64 = m.iter().sum();
                if sum == 0.0 {
                    continue;
                }
                nonempty[a / 64] |= 1 << (a % 64);
                let p: Vec<f64> = m.iter().map(|v| v / sum).collect();
                per.push(features::glcm_features_of(
                    &p,
                    &gvals,
                    self.ng,
                    self.levels,
                    with_mcc,
                ));
            }
            for k in 0..24 {
                cols[GLCM + k] = features::nanmean(per.iter().map(|f| f[k]));
            }
            if self.levels < 2 {
                cols[MCC] = 1.0;
            }
        }
        Ok(Row { cols, nonempty })
    }

    /// GLRLM features of the kernel box `lo..=hi` (PyRadiomics' `calculate_glrlm` with the
    /// kernel's bounding box): runs of ROI voxels (or of any box voxel, unmasked) inside the box
    /// along each direction, a direction zeroed when no line of the box holds two ROI voxels;
    /// features per direction averaged ignoring NaN (an empty direction's), or on the weighted
    /// sum with `weightingNorm`.
    fn runs(&self, lo: [usize; 3], hi: [usize; 3], cols: &mut [f64], ctl: &Control) -> Result<()> {
        let nr = (0..3).map(|k| hi[k] - lo[k] + 1).max().unwrap_or(1);
        let region = [Region { lo, hi }];
        let counts =
            matrices::glrlm_counts(self.d, &region, &self.rl_angles, nr, self.drop_flat, ctl)?;
        let mats = &counts[0];
        let f = match &self.rl_weights {
            // no direction fits the image (PyRadiomics: "Error getting angle count")
            _ if mats.is_empty() => [f64::NAN; 16],
            Some(w) => {
                let mut m = vec![0.0; mats.first().map_or(0, Vec::len)];
                for (a, x) in mats.iter().enumerate() {
                    for (t, v) in m.iter_mut().zip(x) {
                        *t += v * w[a];
                    }
                }
                features::glrlm_features(&m, &self.levels_f, nr)
            }
            None => {
                let per: Vec<[f64; 16]> = mats
                    .iter()
                    .map(|m| features::glrlm_features(m, &self.levels_f, nr))
                    .collect();
                std::array::from_fn(|k| features::nanmean(per.iter().map(|f| f[k])))
            }
        };
        cols[GLRLM..GLRLM + 16].copy_from_slice(&f);
        Ok(())
    }

    /// GLSZM features of the kernel box `lo..=hi` (PyRadiomics' `calculate_glszm` with the
    /// kernel's bounding box): zones of one grey level, connected inside the box.
    fn zones(&self, lo: [usize; 3], hi: [usize; 3], cols: &mut [f64], ctl: &Control) -> Result<()> {
        let d = self.d;
        let size: [usize; 3] = std::array::from_fn(|k| hi[k] - lo[k] + 1);
        let st = d.strides();
        let mut grey = Vec::with_capacity(size.iter().product());
        for z in lo[0]..=hi[0] {
            for y in lo[1]..=hi[1] {
                let row = z * st[0] + y * st[1];
                grey.extend_from_slice(&d.grey[row + lo[2]..=row + hi[2]]);
            }
        }
        let sub = Roi {
            size,
            count: grey.iter().filter(|&&g| g != 0).count(),
            grey,
            grey_levels: d.grey_levels.clone(),
            ng: d.ng,
            spacing: d.spacing,
            origin: [0; 3],
            values: Vec::new(),
        };
        let groups = glszm::glszm_groups(&sub, self.layout, ctl)?;
        // the kernel's centre is in the region, so there is one group with a zone
        let f = match groups.first() {
            Some((_, m)) => {
                let j: Vec<f64> = m.sizes.iter().map(|&v| v as f64).collect();
                glszm::glszm_features(&m.counts, &self.levels_f, &j)
            }
            None => [f64::NAN; 16],
        };
        cols[GLSZM..GLSZM + 16].copy_from_slice(&f);
        Ok(())
    }
}

/// The maps of one image (the box image and the ROI mask on it) under its settings, appended
/// to `maps`.
pub(crate) fn image_maps<U: Sample>(
    inp: &Input<'_, U, u8>,
    s: &Settings,
    name: &str,
    threads: Option<usize>,
    pool: &rayon::ThreadPool,
    ctl: &Control,
    maps: &mut Maps,
) -> Result<()> {
    let want = wanted(s, name);
    let len = maps.len();
    let base = maps.names.len();
    maps.data.reserve(want.len() * len);
    for w in &want {
        maps.names.push(w.key.clone());
        maps.data.extend(std::iter::repeat_n(s.init_value, len));
    }
    if want.iter().all(|w| w.column.is_none()) {
        ctl.advance(inp.mask.iter().filter(|&&m| m != 0).count() as u64);
        return Ok(());
    }
    let want_fo = want.iter().any(|w| matches!(w.column, Some(c) if c < GLCM));
    let want_glcm = want
        .iter()
        .any(|w| matches!(w.column, Some(c) if (GLCM..GLDM).contains(&c)));
    let want_nb = want
        .iter()
        .any(|w| matches!(w.column, Some(c) if (GLDM..GLRLM).contains(&c)));
    let want_glrlm = want
        .iter()
        .any(|w| matches!(w.column, Some(c) if (GLRLM..GLSZM).contains(&c)));
    let want_glszm = want
        .iter()
        .any(|w| matches!(w.column, Some(c) if c >= GLSZM));
    let want_batch = want
        .iter()
        .any(|w| w.column == Some(MCC) || w.column == Some(JOINT_AVERAGE));
    // the discretised region: the ROI, or the whole box
    let ones;
    let d = if s.masked_kernel {
        preprocess::prepare(inp, s, threads, ctl)?
    } else {
        ones = vec![1u8; inp.mask.len()];
        let all = Input {
            image: inp.image,
            mask: &ones[..],
            shape: inp.shape,
            spacing: inp.spacing,
            frame: Default::default(),
        };
        preprocess::prepare(&all, s, threads, ctl)?
    };
    let [bx, by, bz] = inp.shape;
    let flat_axis = s.force2d.then_some(s.force2d_dimension);
    let fo_half: [usize; 3] = std::array::from_fn(|k| {
        if flat_axis == Some(k) {
            0
        } else {
            s.kernel_radius.min(d.size[k] - 1)
        }
    });
    let angles = matrices::angles([bz, by, bx], &s.distances, flat_axis);
    let offsets: Vec<[i64; 3]> = angles
        .iter()
        .map(|o| o.map(|v| v as i64))
        .chain(angles.iter().map(|o| o.map(|v| -(v as i64))))
        .collect();
    let weights = s.weighting_norm.map(|w| {
        angles
            .iter()
            .map(|a| crate::weight(w, a, &d.spacing, true))
            .collect()
    });
    // GLRLM: distance 1 whatever `distances` says, as PyRadiomics' `calculate_glrlm`
    let rl_angles = matrices::angles([bz, by, bx], &[1], flat_axis);
    let rl_weights = s.weighting_norm.map(|w| {
        rl_angles
            .iter()
            .map(|a| crate::weight(w, a, &d.spacing, false))
            .collect()
    });
    let mut lut = vec![0u32; d.ng as usize + 1];
    for (k, &g) in d.grey_levels.iter().enumerate() {
        lut[g as usize] = k as u32;
    }
    let kern = Kernels {
        d: &d,
        levels_lut: &lut,
        size: d.size,
        fo_half,
        radius: s.kernel_radius,
        flat_axis,
        angles,
        weights,
        symmetrical: s.symmetrical_glcm,
        levels: d.grey_levels.len(),
        ng: d.ng as f64,
        vol: inp.spacing[0] * inp.spacing[1] * inp.spacing[2],
        shift: s.voxel_array_shift,
        want_fo,
        want_glcm,
        want_nb,
        offsets,
        alpha: s.gldm_a,
        want_glrlm,
        want_glszm,
        rl_angles,
        rl_weights,
        drop_flat: !s.ibsi,
        levels_f: d.grey_levels.iter().map(|&g| g as f64).collect(),
        layout: match flat_axis {
            Some(k) => Layout::Merged(k),
            None => Layout::ThreeD,
        },
    };
    // the ROI's voxels in numpy's C order (PyRadiomics' batches), in d's coordinates
    let off = d.origin;
    let mut targets: Vec<[u32; 3]> = Vec::new();
    for z in 0..bz {
        for y in 0..by {
            for x in 0..bx {
                if inp.mask[(z * by + y) * bx + x] != 0 {
                    targets.push([
                        (z - off[2]) as u32,
                        (y - off[1]) as u32,
                        (x - off[0]) as u32,
                    ]);
                }
            }
        }
    }
    let rows_of = |block: &[[u32; 3]], with_mcc: bool| -> Result<Vec<Row>> {
        pool.install(|| {
            block
                .par_iter()
                .map_init(
                    || Scratch {
                        lut: vec![0; lut.len()],
                        counts: vec![0; d.grey_levels.len()],
                        values: Vec::new(),
                        local: Vec::new(),
                        mats: Vec::new(),
                    },
                    |sc, t| kern.kernel(t.map(|v| v as usize), sc, with_mcc, ctl),
                )
                .collect()
        })
    };
    // MCC is computed afterwards, for the batches where PyRadiomics computes it
    let mut nonempty: Vec<Vec<u64>> = Vec::new();
    for block in targets.chunks(BLOCK) {
        ctl.check()?;
        let rows = rows_of(block, false)?;
        for (t, row) in block.iter().zip(rows) {
            let [z, y, x] = t.map(|v| v as usize);
            let i = ((z + off[2]) * by + y + off[1]) * bx + x + off[0];
            for (k, w) in want.iter().enumerate() {
                if let Some(c) = w.column {
                    maps.data[(base + k) * len + i] = row.cols[c];
                }
            }
            if want_batch {
                nonempty.push(row.nonempty);
            }
        }
        ctl.advance(block.len() as u64);
    }
    if want_batch {
        // Directions are deleted per batch (`voxelBatch`) only when no voxel of the batch has
        // pairs in them; a voxel with an empty direction the batch keeps has a NaN matrix there.
        // JointAverage (numpy's `mean`, not `nanmean`) is then NaN, and MCC's `eigvals` fails for
        // the whole batch (initValue).
        let ja = want.iter().position(|w| w.column == Some(JOINT_AVERAGE));
        let mcc = want.iter().position(|w| w.column == Some(MCC));
        let batch = s.voxel_batch.unwrap_or(targets.len()).max(1);
        let single = kern.weights.is_some() || kern.angles.len() == 1;
        let at = |t: &[u32; 3]| {
            let [z, y, x] = t.map(|v| v as usize);
            ((z + off[2]) * by + y + off[1]) * bx + x + off[0]
        };
        let mut mcc_voxels: Vec<[u32; 3]> = Vec::new();
        for (b, ts) in targets.chunks(batch).enumerate() {
            let ne = &nonempty[b * batch..b * batch + ts.len()];
            let words = ne[0].len();
            let kept: Vec<u64> = if single {
                vec![1]
            } else {
                (0..words)
                    .map(|w| ne.iter().fold(0, |a, v| a | v[w]))
                    .collect()
            };
            let incomplete = |v: &Vec<u64>| (0..words).any(|w| kept[w] & !v[w] != 0);
            let mut fails = false;
            for (t, v) in ts.iter().zip(ne) {
                if incomplete(v) {
                    fails = true;
                    if let Some(k) = ja {
                        maps.data[(base + k) * len + at(t)] = f64::NAN;
                    }
                }
            }
            if let (true, Some(k)) = (fails, mcc) {
                for t in ts {
                    maps.data[(base + k) * len + at(t)] = s.init_value;
                }
            } else if mcc.is_some() && kern.levels >= 2 {
                mcc_voxels.extend_from_slice(ts);
            }
        }
        if let Some(k) = mcc {
            for block in mcc_voxels.chunks(BLOCK) {
                ctl.check()?;
                for (t, row) in block.iter().zip(rows_of(block, true)?) {
                    maps.data[(base + k) * len + at(t)] = row.cols[MCC];
                }
            }
        }
    }
    Ok(())
}
