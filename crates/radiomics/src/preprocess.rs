//! Preprocessing with PyRadiomics' `RadiomicsFeatureExtractor` semantics: label selection,
//! normalisation, mask checks, resegmentation, crop to the ROI's bounding box and
//! discretisation (PyRadiomics' bin edges, or IBSI's with `ibsi: true`).
//!
//! Input arrays are in NIfTI order (x fastest). The cropped ROI is returned in the same memory
//! order, described in numpy's axis order `(z, y, x)` because PyRadiomics' directions and
//! `force2Ddimension` are expressed in that order.

use crate::settings::{ResegmentMode, Settings};
use rayon::prelude::*;
use voxelkit_core::{par, Control, Error, Result, Sample};

/// Voxels per chunk for whole-volume scans; fixed, so merges never depend on the thread count.
const CHUNK: usize = 1 << 16;

/// A discretised ROI cropped to its bounding box.
#[derive(Debug, Clone)]
pub struct Roi {
    /// Box size in numpy order `[nz, ny, nx]`.
    pub size: [usize; 3],
    /// Bin index (>= 1) inside the ROI, 0 outside; index `(z * ny + y) * nx + x`.
    pub grey: Vec<u32>,
    /// Grey levels present in the ROI, ascending.
    pub grey_levels: Vec<u32>,
    /// Largest grey level in the ROI (PyRadiomics' `Ng`).
    pub ng: u32,
    /// Voxel spacing in numpy order `(z, y, x)`.
    pub spacing: [f64; 3],
    /// Number of ROI voxels.
    pub count: usize,
    /// The box's first voxel in the input, `[x, y, z]` (NIfTI order).
    pub origin: [usize; 3],
    /// Image value (after normalisation) inside the ROI, NaN outside; same indexing as `grey`.
    pub values: Vec<f64>,
}

impl Roi {
    #[inline(always)]
    pub fn strides(&self) -> [usize; 3] {
        [self.size[1] * self.size[2], self.size[2], 1]
    }
}

/// An image (any sample type) and a label map on the same grid, x fastest.
pub struct Input<'a, T: Sample, M: Sample> {
    pub image: &'a [T],
    pub mask: &'a [M],
    /// `[nx, ny, nz]` (a 2D image is `[nx, ny, 1]`).
    pub shape: [usize; 3],
    /// `[sx, sy, sz]` in mm.
    pub spacing: [f64; 3],
    /// Origin and direction (used by resampling only).
    pub frame: crate::resample::Frame,
}

/// sitk.Cast(mask, UInt32) then `== label`.
#[inline(always)]
pub(crate) fn is_label<M: Sample>(m: M, label: u32) -> bool {
    // `v >= 0 && trunc(v) == label` without `trunc` (a libm call on baseline x86_64): for an
    // integer `label >= 0` both say `label <= v < label + 1` (NaN and infinities: false)
    let (v, l) = (m.to_f64(), label as f64);
    v >= l && v < l + 1.0
}

/// Python's float `%` (the result takes the divisor's sign).
pub fn py_mod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m + b
        } else {
            m
        }
    } else {
        0.0f64.copysign(b)
    }
}

/// PyRadiomics' `getBinEdges` for fixed bin width: `numpy.arange(min - min % w, max + 2w, w)`.
pub fn bin_width_edges(min: f64, max: f64, w: f64) -> Vec<f64> {
    let low = min - py_mod(min, w);
    let high = max + 2.0 * w;
    arange_edges(low, high, w)
}

/// `numpy.arange(low, high, w)` as bin edges (a single edge `e` becomes `[e - 0.5, e + 0.5]`).
fn arange_edges(low: f64, high: f64, w: f64) -> Vec<f64> {
    let n = ((high - low) / w).ceil().max(0.0) as usize;
    // numpy's arange fills start + i * (start + step - start)
    let delta = (low + w) - low;
    let mut e: Vec<f64> = (0..n)
        .map(|i| match i {
            0 => low,
            1 => low + w,
            _ => low + i as f64 * delta,
        })
        .collect();
    if e.len() == 1 {
        e = vec![e[0] - 0.5, e[0] + 0.5];
    }
    e
}

/// [`bin_width_edges`] for float32 images: numpy computes the lower and upper bounds in float32
/// (the image's type) before `arange` works in float64.
pub fn bin_width_edges_f32(min: f64, max: f64, w: f64) -> Vec<f64> {
    let (mn, mx) = (min as f32, max as f32);
    let wf = w as f32;
    let m = mn % wf;
    let m = if m != 0.0 && ((wf < 0.0) != (m < 0.0)) {
        m + wf
    } else {
        m
    };
    let low = (mn - m) as f64;
    let high = (mx + (2.0 * w) as f32) as f64;
    arange_edges(low, high, w)
}

/// [`bin_count_edges`] for float32 images: `numpy.histogram` works in float32 there.
pub fn bin_count_edges_f32(min: f64, max: f64, n: usize) -> Vec<f64> {
    let (mut lo, mut hi) = (min as f32, max as f32);
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    let step = (hi - lo) / n as f32;
    let mut e: Vec<f64> = (0..=n).map(|i| (i as f32 * step + lo) as f64).collect();
    e[n] = (hi + 1.0) as f64;
    e
}

/// PyRadiomics' `getBinEdges` for a bin count: `numpy.histogram(values, n)[1]`, last edge + 1.
pub fn bin_count_edges(min: f64, max: f64, n: usize) -> Vec<f64> {
    let (lo, hi) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    let step = (hi - lo) / n as f64;
    let mut e: Vec<f64> = (0..=n).map(|i| i as f64 * step + lo).collect();
    e[n] = hi + 1.0;
    e
}

/// `numpy.digitize(x, edges)` for ascending edges: the number of edges <= x.
#[inline]
pub fn digitize(x: f64, edges: &[f64]) -> u32 {
    edges.partition_point(|&e| e <= x) as u32
}

struct Scan {
    lo: [usize; 3],
    hi: [usize; 3],
    count: usize,
    any_label: bool,
}

fn merge(a: Scan, b: Scan) -> Scan {
    if a.count == 0 {
        return Scan {
            any_label: a.any_label || b.any_label,
            ..b
        };
    }
    if b.count == 0 {
        return Scan {
            any_label: a.any_label || b.any_label,
            ..a
        };
    }
    Scan {
        lo: [0, 1, 2].map(|d| a.lo[d].min(b.lo[d])),
        hi: [0, 1, 2].map(|d| a.hi[d].max(b.hi[d])),
        count: a.count + b.count,
        any_label: true,
    }
}

/// Bounding box (x, y, z order), count of `inside` voxels and whether any voxel is labelled.
fn scan(
    n: usize,
    shape: [usize; 3],
    pool: &rayon::ThreadPool,
    inside: impl Fn(usize) -> bool + Sync,
    labelled: impl Fn(usize) -> bool + Sync,
) -> Scan {
    let nchunks = n.div_ceil(CHUNK);
    pool.install(|| {
        (0..nchunks)
            .into_par_iter()
            .map(|c| {
                let mut s = Scan {
                    lo: [usize::MAX; 3],
                    hi: [0; 3],
                    count: 0,
                    any_label: false,
                };
                let (a, b) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
                // the chunk row by row (`x` fastest), with each row's coordinates computed once
                let mut i = a;
                while i < b {
                    let (x0, y, z) = (
                        i % shape[0],
                        (i / shape[0]) % shape[1],
                        i / (shape[0] * shape[1]),
                    );
                    let e = (i + shape[0] - x0).min(b);
                    let (mut xlo, mut xhi, mut k) = (usize::MAX, 0, 0);
                    for (x, j) in (x0..).zip(i..e) {
                        if labelled(j) {
                            s.any_label = true;
                        }
                        if inside(j) {
                            xlo = xlo.min(x);
                            xhi = xhi.max(x);
                            k += 1;
                        }
                    }
                    if k > 0 {
                        let (lo, hi) = ([xlo, y, z], [xhi, y, z]);
                        for d in 0..3 {
                            s.lo[d] = s.lo[d].min(lo[d]);
                            s.hi[d] = s.hi[d].max(hi[d]);
                        }
                        s.count += k;
                    }
                    i = e;
                }
                s
            })
            .reduce(
                || Scan {
                    lo: [usize::MAX; 3],
                    hi: [0; 3],
                    count: 0,
                    any_label: false,
                },
                merge,
            )
    })
}

/// Neumaier-compensated sum and sum of squares over fixed chunks merged in chunk order.
fn image_moments<T: Sample>(img: &[T], pool: &rayon::ThreadPool) -> (f64, f64) {
    let nchunks = img.len().div_ceil(CHUNK);
    let parts: Vec<(f64, f64, f64, f64)> = pool.install(|| {
        (0..nchunks)
            .into_par_iter()
            .map(|c| {
                let (mut s, mut cs, mut q, mut cq) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
                for v in &img[c * CHUNK..((c + 1) * CHUNK).min(img.len())] {
                    let x = v.to_f64();
                    neumaier(&mut s, &mut cs, x);
                    neumaier(&mut q, &mut cq, x * x);
                }
                (s, cs, q, cq)
            })
            .collect()
    });
    let (mut s, mut cs, mut q, mut cq) = (0.0, 0.0, 0.0, 0.0);
    for (a, ca, b, cb) in parts {
        neumaier(&mut s, &mut cs, a);
        neumaier(&mut s, &mut cs, ca);
        neumaier(&mut q, &mut cq, b);
        neumaier(&mut q, &mut cq, cb);
    }
    (s + cs, q + cq)
}

#[inline(always)]
fn neumaier(sum: &mut f64, c: &mut f64, x: f64) {
    let t = *sum + x;
    if sum.abs() >= x.abs() {
        *c += (*sum - t) + x;
    } else {
        *c += (x - t) + *sum;
    }
    *sum = t;
}

/// PyRadiomics' `normalizeImage` parameters: `(mean, 1 / sd)` of the whole image
/// (`sitk.Normalize`: sample standard deviation) when `normalize` is set.
pub(crate) fn normalizer<T: Sample>(
    img: &[T],
    s: &Settings,
    pool: &rayon::ThreadPool,
) -> Result<Option<(f64, f64)>> {
    if !s.normalize {
        return Ok(None);
    }
    let (sum, sq) = image_moments(img, pool);
    let nf = img.len() as f64;
    let mean = sum / nf;
    let var = (sq - sum * sum / nf) / (nf - 1.0);
    let sd = var.sqrt();
    if !(sd > 0.0) || !sd.is_finite() {
        return Err(Error::setting(
            "normalize: the image is constant (standard deviation 0)",
        ));
    }
    Ok(Some((mean, 1.0 / sd)))
}

/// `x` normalised (then outliers clipped, then scaled) as PyRadiomics' `normalizeImage` does.
#[inline(always)]
pub(crate) fn normalized(x: f64, norm: Option<(f64, f64)>, s: &Settings) -> f64 {
    match norm {
        None => x,
        Some((mean, inv)) => {
            let mut y = (x - mean) * inv;
            if let Some(o) = s.remove_outliers {
                y = y.clamp(-o, o);
            }
            y * s.normalize_scale
        }
    }
}

/// Runs the preprocessing chain and returns the discretised ROI.
pub fn prepare<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Roi> {
    let [nx, ny, nz] = inp.shape;
    let n = nx * ny * nz;
    if inp.image.len() != n {
        return Err(Error::shape(format!(
            "image holds {} values but shape [{nx}, {ny}, {nz}] needs {n}",
            inp.image.len()
        )));
    }
    if inp.mask.len() != n {
        return Err(Error::shape(format!(
            "mask holds {} values but the image has {n} voxels (shapes must match)",
            inp.mask.len()
        )));
    }
    if !inp.spacing.iter().all(|&v| v.is_finite() && v > 0.0) {
        return Err(Error::shape(format!(
            "spacing must be 3 finite positive numbers, got {:?}",
            inp.spacing
        )));
    }
    let pool = par::pool(threads)?;
    ctl.check()?;
    let label = s.label;
    // getMask: labels present?
    let first = scan(
        n,
        inp.shape,
        &pool,
        |i| is_label(inp.mask[i], label),
        |i| {
            let v = inp.mask[i].to_f64();
            v >= 1.0 || v <= -1.0
        },
    );
    if !first.any_label {
        return Err(Error::shape(
            "no labels found in the mask (nothing is segmented)",
        ));
    }
    if first.count == 0 {
        return Err(Error::setting(format!(
            "label {label} is not present in the mask"
        )));
    }
    ctl.check()?;

    let norm = normalizer(inp.image, s, &pool)?;
    let value = |i: usize| -> f64 { normalized(inp.image[i].to_f64(), norm, s) };

    check_roi(&first, s)?;

    // resegmentation
    let thresholds: Option<Vec<f64>> = match &s.resegment_range {
        None => None,
        Some(range) => {
            let mut r = range.clone();
            r.sort_by(f64::total_cmp);
            let roi_vals = || (0..n).filter(|&i| is_label(inp.mask[i], label)).map(value);
            Some(match s.resegment_mode {
                ResegmentMode::Absolute => r,
                ResegmentMode::Relative => {
                    let max = roi_vals().fold(f64::NEG_INFINITY, f64::max);
                    r.iter().map(|t| max * t).collect()
                }
                ResegmentMode::Sigma => {
                    let (mut sum, mut c, mut k) = (0.0, 0.0, 0usize);
                    for v in roi_vals() {
                        neumaier(&mut sum, &mut c, v);
                        k += 1;
                    }
                    let mean = (sum + c) / k as f64;
                    let (mut q, mut cq) = (0.0, 0.0);
                    for v in roi_vals() {
                        neumaier(&mut q, &mut cq, (v - mean) * (v - mean));
                    }
                    let sd = ((q + cq) / k as f64).sqrt();
                    r.iter().map(|t| mean + sd * t).collect()
                }
            })
        }
    };
    let in_roi = |i: usize| -> bool {
        if !is_label(inp.mask[i], label) {
            return false;
        }
        match &thresholds {
            None => true,
            Some(t) => {
                let v = value(i);
                v >= t[0] && (t.len() < 2 || v <= t[1])
            }
        }
    };
    let sc = if thresholds.is_some() {
        let sc = scan(n, inp.shape, &pool, in_roi, |_| true);
        if sc.count <= 1 {
            return Err(Error::shape(format!(
                "resegmentation excluded too many voxels with label {label} (retained {})",
                sc.count
            )));
        }
        check_roi(&sc, s)?;
        sc
    } else {
        first
    };
    ctl.check()?;

    // crop to the bounding box and gather ROI values
    let (bx, by, bz) = (
        sc.hi[0] - sc.lo[0] + 1,
        sc.hi[1] - sc.lo[1] + 1,
        sc.hi[2] - sc.lo[2] + 1,
    );
    let m = bx * by * bz;
    let mut vals = vec![f64::NAN; m];
    let mut inside = vec![false; m];
    pool.install(|| {
        vals.par_chunks_mut(bx)
            .zip(inside.par_chunks_mut(bx))
            .enumerate()
            .for_each(|(row, (v, ins))| {
                let (y, z) = (row % by + sc.lo[1], row / by + sc.lo[2]);
                for x in 0..bx {
                    let i = (z * ny + y) * nx + x + sc.lo[0];
                    if in_roi(i) {
                        ins[x] = true;
                        v[x] = value(i);
                    }
                }
            })
    });
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut finite = true;
    for (v, &ins) in vals.iter().zip(&inside) {
        if ins {
            finite &= v.is_finite();
            min = min.min(*v);
            max = max.max(*v);
        }
    }
    if !finite || !min.is_finite() || !max.is_finite() {
        return Err(Error::setting(
            "the ROI holds non-finite image values (NaN or infinity)",
        ));
    }

    // discretisation
    check_bins(
        min,
        max,
        &thresholds,
        s,
        T::IS_F32 && !s.normalize && !s.ibsi,
    )?;
    let bin: Box<dyn Fn(f64) -> u32 + Sync> = if s.ibsi {
        match s.bin_count {
            Some(ng) => {
                let ngf = ng as f64;
                Box::new(move |x: f64| {
                    if max == min || x >= max {
                        if max == min {
                            1
                        } else {
                            ng as u32
                        }
                    } else {
                        (ngf * (x - min) / (max - min)).floor() as u32 + 1
                    }
                })
            }
            None => {
                let w = s.bin_width;
                let xmin = match (&s.resegment_range, s.resegment_mode) {
                    (Some(_), ResegmentMode::Absolute) => thresholds.as_ref().unwrap()[0],
                    _ => min,
                };
                Box::new(move |x: f64| ((x - xmin) / w).floor() as u32 + 1)
            }
        }
    } else {
        // float32 images keep numpy's float32 arithmetic unless normalisation made them float64
        let f32_image = T::IS_F32 && !s.normalize;
        let edges = match (s.bin_count, f32_image) {
            (Some(c), false) => bin_count_edges(min, max, c),
            (Some(c), true) => bin_count_edges_f32(min, max, c),
            (None, false) => bin_width_edges(min, max, s.bin_width),
            (None, true) => bin_width_edges_f32(min, max, s.bin_width),
        };
        Box::new(move |x: f64| digitize(x, &edges))
    };
    let grey: Vec<u32> = pool.install(|| {
        vals.par_iter()
            .zip(inside.par_iter())
            .map(|(&v, &ins)| if ins { bin(v) } else { 0 })
            .collect()
    });
    // grey levels present: a bitmap up to the largest bin (a sort when bins are astronomically many)
    let mut top = 0u32;
    for (&g, &ins) in grey.iter().zip(&inside) {
        if ins {
            if g == 0 {
                return Err(Error::internal("a ROI voxel fell below the first bin edge"));
            }
            top = top.max(g);
        }
    }
    let grey_levels: Vec<u32> = if top <= 1 << 24 {
        let mut seen = vec![false; top as usize + 1];
        for &g in &grey {
            seen[g as usize] = true;
        }
        (1..=top).filter(|&g| seen[g as usize]).collect()
    } else {
        let mut v: Vec<u32> = grey.iter().copied().filter(|&g| g != 0).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let ng = *grey_levels.last().unwrap();
    Ok(Roi {
        size: [bz, by, bx],
        grey,
        grey_levels,
        ng,
        spacing: [inp.spacing[2], inp.spacing[1], inp.spacing[0]],
        count: sc.count,
        origin: sc.lo,
        values: vals,
    })
}

/// The most bins a discretisation may have: 2^16, given as `binCount` or by a fixed bin width
/// over the ROI's range. More is `ERR_SETTING`. Found by the `radiomics_settings` fuzz target: a
/// huge `normalizeScale` made the bin-edge vector's capacity overflow (a panic), and `binCount`
/// 1.1e7 or a `binWidth` giving ~1e6 bins took over 10 s (the texture features sum over every
/// grey level up to the largest, as PyRadiomics does). PyRadiomics cannot get near this limit
/// either: its GLCM is a dense Ng x Ng array per direction (at 2^16 levels 32 GiB each, 13 of
/// them), so no setting PyRadiomics can run is refused.
pub const MAX_BINS: f64 = (1u64 << 16) as f64;

/// `f32_edges`: the edges are computed in float32 (numpy's arithmetic for float32 images), where
/// a bin width beyond float32's range becomes infinite (numpy's `arange` then fails; here
/// `ERR_SETTING`, found by the fuzz target: `binWidth` 3.3e116 overflowed the edge vector).
fn check_bins(
    min: f64,
    max: f64,
    thresholds: &Option<Vec<f64>>,
    s: &Settings,
    f32_edges: bool,
) -> Result<()> {
    if s.bin_count.is_some() {
        return Ok(()); // bounded by MAX_BINS when the settings are parsed
    }
    if f32_edges && !((2.0 * s.bin_width) as f32 + max as f32).is_finite() {
        return Err(Error::setting(format!(
            "binWidth {} is beyond float32's range for a float32 image",
            s.bin_width
        )));
    }
    // the last edge, `max + 2 binWidth`, must be finite in float64 too: `binWidth` 1e308 made it
    // infinite and the edge count overflowed the edge vector's capacity (a panic; found by
    // scripts/fuzz-options.mjs)
    if !(max + 2.0 * s.bin_width).is_finite() {
        return Err(Error::setting(format!(
            "binWidth {} is beyond float64's range: the last bin edge, max + 2 x binWidth, is not finite",
            s.bin_width
        )));
    }
    let low = match (thresholds, s.resegment_mode) {
        (Some(t), ResegmentMode::Absolute) if s.ibsi => t[0].min(min),
        _ => min,
    };
    let bins = (max - low) / s.bin_width + 3.0;
    if bins <= MAX_BINS {
        Ok(())
    } else {
        Err(Error::setting(format!(
            "binWidth {} over the ROI's range [{low}, {max}] gives {bins:.3e} bins, more than \
             {MAX_BINS:.0}; use a larger binWidth (or binCount)",
            s.bin_width
        )))
    }
}

/// PyRadiomics' `checkMask`: dimensions of the bounding box and ROI size.
fn check_roi(sc: &Scan, s: &Settings) -> Result<()> {
    let ndims = (0..3).filter(|&d| sc.hi[d] > sc.lo[d]).count();
    if ndims == 0 {
        return Err(Error::shape(
            "the mask contains only 1 segmented voxel: features cannot be extracted for a single voxel",
        ));
    }
    if ndims < s.minimum_roi_dimensions {
        return Err(Error::shape(format!(
            "the ROI has too few dimensions ({ndims}; minimumROIDimensions is {})",
            s.minimum_roi_dimensions
        )));
    }
    if let Some(min) = s.minimum_roi_size {
        if sc.count as f64 <= min {
            return Err(Error::shape(format!(
                "the ROI is too small ({} voxels; minimumROISize is {min})",
                sc.count
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyradiomics_edges() {
        // minimum 3, width 25: edges start at 0
        assert_eq!(
            bin_width_edges(3.0, 60.0, 25.0),
            vec![0.0, 25.0, 50.0, 75.0, 100.0]
        );
        // negative minimum: Python's modulo floors
        assert_eq!(bin_width_edges(-3.0, 10.0, 25.0)[0], -25.0);
        assert_eq!(digitize(0.0, &[0.0, 25.0]), 1);
        assert_eq!(digitize(24.9, &[0.0, 25.0]), 1);
        assert_eq!(digitize(25.0, &[0.0, 25.0, 50.0]), 2);
        let e = bin_count_edges(0.0, 10.0, 4);
        assert_eq!(e, vec![0.0, 2.5, 5.0, 7.5, 11.0]);
        assert_eq!(py_mod(-3.0, 25.0), 22.0);
    }

    #[test]
    fn bin_width_beyond_float64_is_a_setting_error() {
        let s = Settings {
            bin_width: 1e308,
            ..Settings::default()
        };
        let e = check_bins(0.0, 100.0, &None, &s, false).unwrap_err();
        assert!(matches!(e.code, voxelkit_core::Code::Setting), "{e:?}");
        let ok = Settings {
            bin_width: 1e300,
            ..Settings::default()
        };
        assert!(check_bins(0.0, 100.0, &None, &ok, false).is_ok());
    }
}
