//! Resampling with PyRadiomics 3.1's `imageoperations.resampleImage` semantics, the image through
//! SimpleITK's `ResampleImageFilter` (ITK 5.4) and the mask by nearest neighbour.
//!
//! **The grid** (PyRadiomics): spacing `resampledPixelSpacing`, a 0 entry keeping the mask's
//! spacing, and the original spacing kept along every axis where the ROI's bounding box is one
//! voxel thick. With `r = spacing / new spacing`, the new grid covers the ROI's bounding box
//! `[lo, lo + size)` plus `padDistance` new voxels:
//! `lo' = floor((lo - 0.5) r - pad)`, `hi' = ceil((lo + size - 0.5) r + pad)`, clamped to
//! `[0, ceil(shape r) - 1]`; its origin is the continuous index
//! `0.5 (new spacing - spacing) / spacing + lo' / r` of the input (voxel corners aligned),
//! mapped to physical space; the direction is the input's. When the new spacing equals the
//! input's (`numpy.allclose`), nothing is interpolated and the input is used as it is.
//!
//! **The mapping** (ITK's `ResampleImageFilter::LinearThreadedGenerateData` with the identity
//! transform): for each output row the continuous input indices of its first voxel and of the
//! voxel one past its end are computed as ITK does (`origin + Σ_j (D_ij s_j) i_j`, then
//! `Σ_j M_ij (p_j - origin_j)` with `M` the inverse of `D diag(s)`, sums in ITK's order), and
//! voxel `x` of the row sits at `start + (x / nx) (end - start)`. A point outside
//! `[-0.5, n - 0.5)` on any axis takes the default value 0. For a diagonal direction matrix
//! (every axis-aligned image) `M = diag(d_i / s_i)` is what ITK's SVD-based inverse returns
//! (checked bit for bit on 5,000 random spacings); other directions use the cofactor inverse,
//! which can differ from ITK's in the last bit (see [`Frame`]).
//!
//! **Interpolators**: nearest neighbour rounds with ITK's `Math::Round` (half up, computed as
//! `round_half_even(2x + 0.5) >> 1` as ITK's SSE2 path does: the tie rule decides thousands of
//! brain1's points, which fall on .5 exactly); linear as `LinearInterpolateImageFunction`'s 3D
//! path (lerps along x, then y, then z; an axis whose distance is <= 0 or whose upper neighbour
//! is outside the image is not interpolated); B-spline of order 3 as
//! `BSplineInterpolateImageFunction`: coefficients by `BSplineDecompositionImageFilter` (pole
//! `sqrt(3) - 2`, gain, causal initialisation with mirror boundary and tolerance 1e-10, causal
//! and anticausal recursions, axes x, y, z in turn) over the whole input, the 4x4x4 support from
//! `floor(float(x)) - 1`, mirrored at the borders, weights and sums in ITK's order. The value is
//! stored in the input's type as ITK stores it ([`Sample::from_f64_saturating`]: integers
//! truncate toward zero). One deviation: on an axis of length 2, ITK's mirror can read index -1
//! (outside its buffer); here that index is clamped into the image.
//!
//! Every output voxel is computed on its own from the input (coefficients per line), so the
//! result is bitwise identical at any thread count.

use crate::preprocess::{is_label, Input};
use crate::settings::Settings;
use crate::TextureMatrices;
use rayon::prelude::*;
use voxelkit_core::{par, Control, Error, Result, Sample};

/// SimpleITK's interpolators that PyRadiomics' `interpolator` setting can name and voxelkit
/// computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolator {
    /// `sitkNearestNeighbor` (code 1).
    NearestNeighbor,
    /// `sitkLinear` (code 2).
    Linear,
    /// `sitkBSpline` (cubic B-spline; code 23 in SimpleITK 2.5), PyRadiomics' default.
    BSpline,
}

/// Resampling settings (`resampledPixelSpacing`, `interpolator`, `padDistance`).
#[derive(Debug, Clone, PartialEq)]
pub struct Resampling {
    /// New spacing `[x, y, z]` in mm; 0 keeps the input's spacing on that axis.
    pub spacing: [f64; 3],
    pub interpolator: Interpolator,
    /// New voxels added around the ROI's bounding box (PyRadiomics' default 5).
    pub pad_distance: u32,
}

/// The most voxels a resampled grid may hold; more is `ERR_SETTING` (a tiny spacing would
/// otherwise exhaust memory).
pub const MAX_VOXELS: f64 = (1u64 << 28) as f64;

/// Where a grid sits in physical space, as ITK holds it: the origin (centre of voxel 0) and the
/// direction cosines (`direction[r][c]`: component `r` of axis `c`). RAS (NIfTI, voxelkit's
/// affines) and LPS (ITK) frames give identical continuous indices: the two differ by exact sign
/// flips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub origin: [f64; 3],
    pub direction: [[f64; 3]; 3],
}

impl Default for Frame {
    /// Origin 0, identity direction (a SimpleITK image made from an array).
    fn default() -> Self {
        Frame {
            origin: [0.0; 3],
            direction: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        }
    }
}

impl Frame {
    /// The frame of a 4x4 row-major voxel-to-world affine: origin its translation, direction its
    /// columns divided by their lengths (`sqrt(x² + y² + z²)`, as ITK's NRRD reader divides the
    /// space directions). Axis-aligned affines give exact ±1 directions.
    pub fn from_affine(a: &[f64]) -> Result<Frame> {
        if a.len() != 16 || !a.iter().all(|v| v.is_finite()) {
            return Err(Error::shape(format!(
                "affine must be 16 finite numbers (4x4 row-major), got {} values",
                a.len()
            )));
        }
        let mut d = [[0.0; 3]; 3];
        for c in 0..3 {
            let n = (a[c] * a[c] + a[4 + c] * a[4 + c] + a[8 + c] * a[8 + c]).sqrt();
            if !(n > 0.0) {
                return Err(Error::shape(format!("affine column {c} is zero")));
            }
            for r in 0..3 {
                d[r][c] = a[4 * r + c] / n;
            }
        }
        let det = d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1])
            - d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0])
            + d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0]);
        if !(det.abs() > 1e-6) {
            return Err(Error::shape(
                "affine is singular (its axes are not independent)",
            ));
        }
        Ok(Frame {
            origin: [a[3], a[7], a[11]],
            direction: d,
        })
    }
}

/// A grid: size, spacing and frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    pub shape: [usize; 3],
    pub spacing: [f64; 3],
    pub frame: Frame,
}

impl Grid {
    /// ITK's `m_IndexToPhysicalPoint`: `D diag(s)`.
    fn index_to_physical(&self) -> [[f64; 3]; 3] {
        let d = &self.frame.direction;
        let mut a = [[0.0; 3]; 3];
        for r in 0..3 {
            for c in 0..3 {
                a[r][c] = d[r][c] * self.spacing[c];
            }
        }
        a
    }

    /// ITK's `m_PhysicalPointToIndex`.
    fn physical_to_index(&self) -> [[f64; 3]; 3] {
        let d = &self.frame.direction;
        let s = &self.spacing;
        let diagonal = (0..3).all(|r| (0..3).all(|c| r == c || d[r][c] == 0.0));
        let mut m = [[0.0; 3]; 3];
        if diagonal {
            for i in 0..3 {
                m[i][i] = (1.0 / s[i]) * d[i][i];
            }
            return m;
        }
        let a = self.index_to_physical();
        let cof = |r: usize, c: usize| {
            let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
            let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
            a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1]
        };
        let det = a[0][0] * cof(0, 0) + a[0][1] * cof(0, 1) + a[0][2] * cof(0, 2);
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] = cof(j, i) / det;
            }
        }
        m
    }

    /// ITK's `TransformContinuousIndexToPhysicalPoint`: `Σ_c A_rc i_c + origin_r`.
    fn continuous_to_physical(&self, a: &[[f64; 3]; 3], idx: [f64; 3]) -> [f64; 3] {
        let mut p = [0.0; 3];
        for r in 0..3 {
            let mut sum = 0.0;
            for c in 0..3 {
                sum += a[r][c] * idx[c];
            }
            p[r] = sum + self.frame.origin[r];
        }
        p
    }
}

/// The continuous index in `src` of voxel `idx` of `dst` (ITK's order of operations).
#[inline]
fn map_index(
    dst: &Grid,
    a_dst: &[[f64; 3]; 3],
    src: &Grid,
    m_src: &[[f64; 3]; 3],
    idx: [i64; 3],
) -> [f64; 3] {
    // TransformIndexToPhysicalPoint: point = origin; point += A[i][j] * index[j]
    let mut p = dst.frame.origin;
    for i in 0..3 {
        for j in 0..3 {
            p[i] += a_dst[i][j] * idx[j] as f64;
        }
    }
    // TransformPhysicalPointToContinuousIndex: v = p - origin; M v
    let v = [0, 1, 2].map(|k| p[k] - src.frame.origin[k]);
    let mut ci = [0.0; 3];
    for i in 0..3 {
        let mut sum = 0.0;
        for j in 0..3 {
            sum += m_src[i][j] * v[j];
        }
        ci[i] = sum;
    }
    ci
}

/// `numpy.allclose(a, b)`: `|a - b| <= 1e-8 + 1e-5 |b|` everywhere.
fn allclose(a: &[f64; 3], b: &[f64; 3]) -> bool {
    (0..3).all(|k| (a[k] - b[k]).abs() <= 1e-8 + 1e-5 * b[k].abs())
}

/// PyRadiomics' resampling grid for an ROI whose bounding box starts at `lo` with `size` voxels
/// (x, y, z). `None` when the new spacing equals the input's (nothing to interpolate).
pub fn plan(
    input: &Grid,
    lo: [usize; 3],
    size: [usize; 3],
    r: &Resampling,
) -> Result<Option<Grid>> {
    let ms = input.spacing;
    let mut rs = [0.0; 3];
    for k in 0..3 {
        rs[k] = if r.spacing[k] == 0.0 {
            ms[k]
        } else {
            r.spacing[k]
        };
        if size[k] == 1 {
            rs[k] = ms[k];
        }
    }
    if allclose(&ms, &rs) {
        return Ok(None);
    }
    let pad = r.pad_distance as f64;
    let mut shape = [0usize; 3];
    let mut corner = [0.0; 3];
    let mut total = 1.0;
    for k in 0..3 {
        let ratio = ms[k] / rs[k];
        let mut low = ((lo[k] as f64 - 0.5) * ratio - pad).floor();
        let mut up = (((lo[k] + size[k]) as f64 - 0.5) * ratio + pad).ceil();
        let max_up = (input.shape[k] as f64 * ratio).ceil() - 1.0;
        if low < 0.0 {
            low = 0.0;
        }
        if up > max_up {
            up = max_up;
        }
        let n = up - low + 1.0;
        total *= n.max(0.0);
        if !(n >= 1.0) || total > MAX_VOXELS {
            return Err(Error::setting(format!(
                "resampledPixelSpacing {:?} makes a grid of more than {MAX_VOXELS:.0} voxels \
                 (or an empty one) for this ROI",
                r.spacing
            )));
        }
        shape[k] = n as usize;
        let origin_index = 0.5 * (rs[k] - ms[k]) / ms[k];
        corner[k] = origin_index + low / ratio;
    }
    let a = input.index_to_physical();
    let origin = input.continuous_to_physical(&a, corner);
    Ok(Some(Grid {
        shape,
        spacing: rs,
        frame: Frame {
            origin,
            direction: input.frame.direction,
        },
    }))
}

/// ITK's `Math::Round` (half up) on x86-64: `round_half_even(2x + 0.5) >> 1`.
#[inline(always)]
pub fn itk_round(x: f64) -> i64 {
    ((2.0 * x + 0.5).round_ties_even() as i64) >> 1
}

/// ITK's `Math::Floor` on x86-64: `round_half_even(2x - 0.5) >> 1`.
#[inline(always)]
fn itk_floor(x: f64) -> i64 {
    ((2.0 * x - 0.5).round_ties_even() as i64) >> 1
}

/// `IsInsideBuffer`: every component in `[-0.5, n - 0.5)` (NaN is outside).
#[inline(always)]
fn inside(ci: &[f64; 3], shape: &[usize; 3]) -> bool {
    (0..3).all(|k| ci[k] >= -0.5 && ci[k] < (shape[k] as f64 - 1.0) + 0.5)
}

/// The spline pole of order 3.
fn pole() -> f64 {
    3.0f64.sqrt() - 2.0
}

/// `BSplineDecompositionImageFilter::DataToCoefficients1D` on `w` interleaved lines: element `i`
/// of line `l` is `at(i)[l]` (each position holds one value of every line).
fn coefficients_1d(lines: &mut [&mut [f64]]) {
    let len = lines.len();
    if len == 1 {
        return; // ITK leaves a line of length 1 unchanged
    }
    let z = pole();
    let c0 = 1.0 * (1.0 - z) * (1.0 - 1.0 / z);
    for v in lines.iter_mut() {
        v.iter_mut().for_each(|x| *x *= c0);
    }
    let width = lines[0].len();
    // causal initialisation (mirror boundary)
    let horizon = ((1e-10f64).ln() / z.abs().ln()).ceil() as usize;
    let mut sum: Vec<f64> = lines[0].to_vec();
    if horizon < len {
        let mut zn = z;
        for n in 1..horizon {
            for (s, &x) in sum.iter_mut().zip(lines[n].iter()) {
                *s += zn * x;
            }
            zn *= z;
        }
        lines[0].copy_from_slice(&sum);
    } else {
        let mut zn = z;
        let iz = 1.0 / z;
        let mut z2n = z.powf((len - 1) as f64);
        for (l, s) in sum.iter_mut().enumerate() {
            *s += z2n * lines[len - 1][l];
        }
        z2n = z2n * (z2n * iz); // ITK: z2n *= z2n * iz
        for n in 1..=len - 2 {
            for (s, &x) in sum.iter_mut().zip(lines[n].iter()) {
                *s += (zn + z2n) * x;
            }
            zn *= z;
            z2n *= iz;
        }
        let d = 1.0 - zn * zn;
        for (t, s) in lines[0].iter_mut().zip(&sum) {
            *t = s / d;
        }
    }
    // causal recursion
    for n in 1..len {
        let (a, b) = lines.split_at_mut(n);
        for (x, &p) in b[0].iter_mut().zip(a[n - 1].iter()) {
            *x += z * p;
        }
    }
    // anticausal initialisation and recursion
    let k = z / (z * z - 1.0);
    {
        let (a, b) = lines.split_at_mut(len - 1);
        for l in 0..width {
            b[0][l] = k * (z * a[len - 2][l] + b[0][l]);
        }
    }
    for n in (0..len - 1).rev() {
        let (a, b) = lines.split_at_mut(n + 1);
        for (x, &q) in a[n].iter_mut().zip(b[0].iter()) {
            *x = z * (q - *x);
        }
    }
}

/// [`coefficients_1d`] on one contiguous line (the x axis): the same operations in the same
/// order, without the interleaving.
fn line_1d(s: &mut [f64]) {
    let len = s.len();
    if len == 1 {
        return;
    }
    let z = pole();
    let c0 = 1.0 * (1.0 - z) * (1.0 - 1.0 / z);
    s.iter_mut().for_each(|x| *x *= c0);
    let horizon = ((1e-10f64).ln() / z.abs().ln()).ceil() as usize;
    if horizon < len {
        let mut sum = s[0];
        let mut zn = z;
        for n in 1..horizon {
            sum += zn * s[n];
            zn *= z;
        }
        s[0] = sum;
    } else {
        let mut zn = z;
        let iz = 1.0 / z;
        let mut z2n = z.powf((len - 1) as f64);
        let mut sum = s[0] + z2n * s[len - 1];
        z2n = z2n * (z2n * iz);
        for n in 1..=len - 2 {
            sum += (zn + z2n) * s[n];
            zn *= z;
            z2n *= iz;
        }
        s[0] = sum / (1.0 - zn * zn);
    }
    for n in 1..len {
        s[n] += z * s[n - 1];
    }
    s[len - 1] = (z / (z * z - 1.0)) * (z * s[len - 2] + s[len - 1]);
    for n in (0..len - 1).rev() {
        s[n] = z * (s[n + 1] - s[n]);
    }
}

/// Cubic B-spline coefficients of a volume (x fastest), axes x, y, z in turn as ITK computes
/// them, where they are read: `sup[k]` is the inclusive index range along axis `k` that the
/// evaluations touch. Every x line is filtered (the y lines read all of them), the y lines only
/// for x in `sup[0]`, the z lines only for x, y in `sup[0]`, `sup[1]`: each line's values are
/// ITK's whatever else is computed, so skipping lines nobody reads changes no bit. Parallel over
/// rows (x), planes (y) and row segments (z).
fn bspline_coefficients(
    values: Vec<f64>,
    shape: [usize; 3],
    sup: [(usize, usize); 3],
    pool: &rayon::ThreadPool,
) -> Vec<f64> {
    let [nx, ny, _] = shape;
    let mut c = values;
    let plane = nx * ny;
    let (x0, x1) = sup[0];
    let (y0, y1) = sup[1];
    pool.install(|| {
        c.par_chunks_mut(nx).for_each(line_1d);
        c.par_chunks_mut(plane).for_each(|p| {
            let mut pos: Vec<&mut [f64]> = p.chunks_mut(nx).map(|row| &mut row[x0..=x1]).collect();
            coefficients_1d(&mut pos);
        });
    });
    // z: positions are planes; one task per row segment (y in sup[1], x in sup[0])
    let mut per_row: Vec<Vec<&mut [f64]>> = (y0..=y1).map(|_| Vec::new()).collect();
    for p in c.chunks_mut(plane) {
        for (y, row) in p.chunks_mut(nx).enumerate() {
            if (y0..=y1).contains(&y) {
                per_row[y - y0].push(&mut row[x0..=x1]);
            }
        }
    }
    pool.install(|| {
        per_row
            .par_iter_mut()
            .for_each(|pos| coefficients_1d(pos.as_mut_slice()))
    });
    c
}

/// The index range along each axis of `src` that evaluations at the points of `dst` can touch
/// (the mapping is affine: its range over the grid's corners, widened by the cubic support and
/// a margin for rounding, clamped to the image).
fn support(src: &Grid, dst: &Grid) -> [(usize, usize); 3] {
    let a_dst = dst.index_to_physical();
    let m_src = src.physical_to_index();
    let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
    for corner in 0..8 {
        let idx = [0, 1, 2].map(|k| {
            if corner >> k & 1 == 0 {
                0
            } else if k == 0 {
                dst.shape[0] as i64 // the end of a row, as the row mapping uses
            } else {
                dst.shape[k] as i64 - 1
            }
        });
        let ci = map_index(dst, &a_dst, src, &m_src, idx);
        for k in 0..3 {
            lo[k] = lo[k].min(ci[k]);
            hi[k] = hi[k].max(ci[k]);
        }
    }
    [0, 1, 2].map(|k| {
        let n = src.shape[k] as f64;
        let a = (lo[k].max(-1.0).floor() - 3.0).max(0.0);
        let b = (hi[k].min(n).floor() + 4.0).min(n - 1.0);
        if a > b || !a.is_finite() || !b.is_finite() {
            (0, src.shape[k] - 1)
        } else {
            (a as usize, b as usize)
        }
    })
}

/// Mirror an evaluation index into `[0, n)` as ITK's `ApplyMirrorBoundaryConditions` (then
/// clamped: see the module notes on axes of length 2).
#[inline(always)]
fn mirror(e: i64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let end = n as i64 - 1;
    let mut e = e;
    if e < 0 {
        e = -e;
    }
    if e >= end {
        e = end - (e - end);
    }
    e.clamp(0, end) as usize
}

/// `BSplineInterpolateImageFunction::EvaluateAtContinuousIndex` (order 3).
#[inline]
fn eval_bspline(c: &[f64], shape: &[usize; 3], x: &[f64; 3]) -> f64 {
    let mut idx = [[0usize; 4]; 3];
    let mut wt = [[0.0f64; 4]; 3];
    for n in 0..3 {
        let first = (x[n] as f32).floor() as i64 - 1;
        let w = x[n] - (first + 1) as f64;
        let w3 = (1.0 / 6.0) * w * w * w;
        let w0 = (1.0 / 6.0) + 0.5 * w * (w - 1.0) - w3;
        let w2 = w + w0 - 2.0 * w3;
        let w1 = 1.0 - w0 - w2 - w3;
        wt[n] = [w0, w1, w2, w3];
        for k in 0..4 {
            idx[n][k] = mirror(first + k as i64, shape[n]);
        }
    }
    let (sx, sxy) = (shape[0], shape[0] * shape[1]);
    let mut v = 0.0;
    for k in 0..4 {
        for j in 0..4 {
            let wy = wt[1][j];
            let base = idx[2][k] * sxy + idx[1][j] * sx;
            for i in 0..4 {
                let w = wt[0][i] * wy * wt[2][k];
                v += w * c[base + idx[0][i]];
            }
        }
    }
    v
}

/// `LinearInterpolateImageFunction` (3D path).
#[inline]
fn eval_linear<S: Sample>(img: &[S], shape: &[usize; 3], x: &[f64; 3]) -> f64 {
    let mut base = [0usize; 3];
    let mut d = [0.0; 3];
    let mut two = [false; 3];
    for k in 0..3 {
        let b = itk_floor(x[k]).max(0);
        d[k] = x[k] - b as f64;
        base[k] = b as usize;
        two[k] = d[k] > 0.0 && b < shape[k] as i64 - 1;
    }
    let at = |i: usize, j: usize, k: usize| -> f64 {
        img[(base[0] + i) + shape[0] * ((base[1] + j) + shape[1] * (base[2] + k))].to_f64()
    };
    let lerp_x = |j: usize, k: usize| -> f64 {
        let v0 = at(0, j, k);
        if two[0] {
            v0 + (at(1, j, k) - v0) * d[0]
        } else {
            v0
        }
    };
    let lerp_xy = |k: usize| -> f64 {
        let v0 = lerp_x(0, k);
        if two[1] {
            let v1 = lerp_x(1, k);
            v0 + (v1 - v0) * d[1]
        } else {
            v0
        }
    };
    let v0 = lerp_xy(0);
    if two[2] {
        let v1 = lerp_xy(1);
        v0 + (v1 - v0) * d[2]
    } else {
        v0
    }
}

/// `NearestNeighborInterpolateImageFunction`: the voxel index, or `None` outside the buffer.
#[inline(always)]
fn nearest(shape: &[usize; 3], x: &[f64; 3]) -> Option<usize> {
    if !inside(x, shape) {
        return None;
    }
    let i = [0, 1, 2].map(|k| itk_round(x[k]).clamp(0, shape[k] as i64 - 1) as usize);
    Some(i[0] + shape[0] * (i[1] + shape[1] * i[2]))
}

/// Calls `f(x, y, z, continuous index)` for every voxel of `dst` in memory order, rows in
/// parallel; `out` receives one value per voxel.
fn for_each_voxel<O: Send>(
    src: &Grid,
    dst: &Grid,
    pool: &rayon::ThreadPool,
    out: &mut [O],
    f: impl Fn(&[f64; 3]) -> O + Sync,
) {
    let a_dst = dst.index_to_physical();
    let m_src = src.physical_to_index();
    let [nx, ny, _] = dst.shape;
    let nxf = nx as f64;
    pool.install(|| {
        out.par_chunks_mut(nx).enumerate().for_each(|(row, o)| {
            let (y, z) = ((row % ny) as i64, (row / ny) as i64);
            let start = map_index(dst, &a_dst, src, &m_src, [0, y, z]);
            let end = map_index(dst, &a_dst, src, &m_src, [nx as i64, y, z]);
            let v = [0, 1, 2].map(|k| end[k] - start[k]);
            for (x, slot) in o.iter_mut().enumerate() {
                let alpha = x as f64 / nxf;
                let ci = [0, 1, 2].map(|k| start[k] + alpha * v[k]);
                *slot = f(&ci);
            }
        })
    });
}

/// The image resampled onto `dst` with `interp`, stored in its own type.
pub fn resample_image<S: Sample>(
    img: &[S],
    src: &Grid,
    dst: &Grid,
    interp: Interpolator,
    threads: Option<usize>,
) -> Result<Vec<S>> {
    let pool = par::pool(threads)?;
    let n: usize = dst.shape.iter().product();
    let zero = S::from_f64_saturating(0.0);
    let mut out = vec![zero; n];
    let sh = src.shape;
    match interp {
        Interpolator::NearestNeighbor => for_each_voxel(src, dst, &pool, &mut out, |ci| {
            nearest(&sh, ci).map_or(zero, |i| img[i])
        }),
        Interpolator::Linear => for_each_voxel(src, dst, &pool, &mut out, |ci| {
            if inside(ci, &sh) {
                S::from_f64_saturating(eval_linear(img, &sh, ci))
            } else {
                zero
            }
        }),
        Interpolator::BSpline => {
            let vals: Vec<f64> = pool.install(|| img.par_iter().map(|v| v.to_f64()).collect());
            let c = bspline_coefficients(vals, sh, support(src, dst), &pool);
            for_each_voxel(src, dst, &pool, &mut out, |ci| {
                if inside(ci, &sh) {
                    S::from_f64_saturating(eval_bspline(&c, &sh, ci))
                } else {
                    zero
                }
            })
        }
    }
    Ok(out)
}

/// The mask resampled onto `dst` by nearest neighbour (default 0), values copied.
pub fn resample_mask<M: Sample>(
    mask: &[M],
    src: &Grid,
    dst: &Grid,
    threads: Option<usize>,
) -> Result<Vec<M>> {
    resample_image(mask, src, dst, Interpolator::NearestNeighbor, threads)
}

/// What runs on the resampled grid.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Job {
    Features,
    Glcm,
    Glrlm,
    Glszm,
    Gldm,
    Ngtdm,
    /// Voxel-based feature maps.
    Maps,
}

pub(crate) enum Done {
    Features(Vec<(String, f64)>),
    Matrices(TextureMatrices),
    Maps(crate::voxel::Maps),
}

impl Done {
    pub(crate) fn features(self) -> Vec<(String, f64)> {
        match self {
            Done::Features(f) => f,
            _ => unreachable!("a features job returns features"),
        }
    }
    pub(crate) fn matrices(self) -> TextureMatrices {
        match self {
            Done::Matrices(m) => m,
            _ => unreachable!("a matrices job returns matrices"),
        }
    }
    pub(crate) fn maps(self) -> crate::voxel::Maps {
        match self {
            Done::Maps(m) => m,
            _ => unreachable!("a maps job returns maps"),
        }
    }
    /// Maps computed on the resampled grid `g` say so.
    fn on_grid(self, g: Grid) -> Done {
        match self {
            Done::Maps(mut m) => {
                m.grid = Some(g);
                Done::Maps(m)
            }
            d => d,
        }
    }
}

fn run_job<T: Sample, M: Sample>(
    job: Job,
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Done> {
    Ok(match job {
        Job::Features => Done::Features(crate::extract(inp, s, threads, ctl)?),
        Job::Glcm => Done::Matrices(crate::glcm_matrices(inp, s, threads, ctl)?),
        Job::Glrlm => Done::Matrices(crate::glrlm_matrices(inp, s, threads, ctl)?),
        Job::Glszm => Done::Matrices(crate::glszm_matrices(inp, s, threads, ctl)?),
        Job::Gldm => Done::Matrices(crate::gldm_matrices(inp, s, threads, ctl)?),
        Job::Ngtdm => Done::Matrices(crate::ngtdm_matrices(inp, s, threads, ctl)?),
        Job::Maps => Done::Maps(crate::voxel::extract_maps(inp, s, threads, ctl)?),
    })
}

/// Bounding box `(lo, size)` (x, y, z) of the voxels labelled `label` (PyRadiomics' `bb`), `None`
/// when there is none.
pub fn label_box<M: Sample>(
    mask: &[M],
    shape: [usize; 3],
    label: u32,
) -> Option<([usize; 3], [usize; 3])> {
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    let mut any = false;
    for (i, &m) in mask.iter().enumerate() {
        if is_label(m, label) {
            any = true;
            let p = [
                i % shape[0],
                (i / shape[0]) % shape[1],
                i / (shape[0] * shape[1]),
            ];
            for d in 0..3 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
    }
    any.then(|| (lo, [0, 1, 2].map(|d| hi[d] - lo[d] + 1)))
}

/// Runs `job` on the grid PyRadiomics' `loadImage` hands to the feature classes: the image
/// normalised first when `normalize` is set (as PyRadiomics does, before resampling), then image
/// and mask resampled (`s.resampling` must be set). When the label is absent (the checks on the
/// original grid report it) or the new spacing equals the input's, the job runs on the input.
pub(crate) fn run<T: Sample, M: Sample>(
    job: Job,
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<Done> {
    let r = s
        .resampling
        .clone()
        .ok_or_else(|| Error::internal("resample::run without resampling settings"))?;
    let mut s2 = s.clone();
    s2.resampling = None;
    let [nx, ny, nz] = inp.shape;
    let n = nx * ny * nz;
    let spacing_ok = inp.spacing.iter().all(|&v| v.is_finite() && v > 0.0);
    if inp.image.len() != n || inp.mask.len() != n || !spacing_ok {
        return run_job(job, inp, &s2, threads, ctl); // prepare reports the shape error
    }
    let Some((lo, size)) = label_box(inp.mask, inp.shape, s.label) else {
        return run_job(job, inp, &s2, threads, ctl);
    };
    let src = Grid {
        shape: inp.shape,
        spacing: inp.spacing,
        frame: inp.frame,
    };
    let Some(dst) = plan(&src, lo, size, &r)? else {
        return run_job(job, inp, &s2, threads, ctl);
    };
    ctl.check()?;
    let mask = resample_mask(inp.mask, &src, &dst, threads)?;
    ctl.check()?;
    if s.normalize {
        let pool = par::pool(threads)?;
        let norm = crate::preprocess::normalizer(inp.image, s, &pool)?;
        let vals: Vec<f64> = pool.install(|| {
            inp.image
                .par_iter()
                .map(|v| crate::preprocess::normalized(v.to_f64(), norm, s))
                .collect()
        });
        let img = resample_image(&vals, &src, &dst, r.interpolator, threads)?;
        drop(vals);
        s2.normalize = false;
        let out = Input {
            image: &img,
            mask: &mask,
            shape: dst.shape,
            spacing: dst.spacing,
            frame: dst.frame,
        };
        Ok(run_job(job, &out, &s2, threads, ctl)?.on_grid(dst))
    } else {
        let img = resample_image(inp.image, &src, &dst, r.interpolator, threads)?;
        let out = Input {
            image: &img,
            mask: &mask,
            shape: dst.shape,
            spacing: dst.spacing,
            frame: dst.frame,
        };
        Ok(run_job(job, &out, &s2, threads, ctl)?.on_grid(dst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itk_rounding() {
        assert_eq!(itk_round(0.5), 1);
        assert_eq!(itk_round(1.5), 2);
        assert_eq!(itk_round(-0.5), 0);
        assert_eq!(itk_round(-1.5), -1);
        assert_eq!(itk_round(2.4999999999999996), 2);
        assert_eq!(itk_floor(-0.25), -1);
        assert_eq!(itk_floor(3.0), 3);
        assert_eq!(itk_floor(2.9999999999999996), 2);
    }

    #[test]
    fn bspline_reproduces_polynomials_and_is_interpolating() {
        // a cubic B-spline interpolant passes through the samples and reproduces linear data
        let shape = [7usize, 6, 5];
        let n = shape.iter().product();
        let vals: Vec<f64> = (0..n)
            .map(|i| {
                let (x, y, z) = (i % 7, (i / 7) % 6, i / 42);
                1.5 * x as f64 - 0.25 * y as f64 + 2.0 * z as f64 + 3.0
            })
            .collect();
        let pool = par::pool(Some(1)).unwrap();
        let all = [(0, 6), (0, 5), (0, 4)];
        let c = bspline_coefficients(vals.clone(), shape, all, &pool);
        for (i, v) in vals.iter().enumerate() {
            let x = [(i % 7) as f64, ((i / 7) % 6) as f64, (i / 42) as f64];
            assert!((eval_bspline(&c, &shape, &x) - v).abs() < 1e-12);
        }
        // constants are reproduced everywhere (mirror boundaries keep them constant)
        let c = bspline_coefficients(vec![7.25; n], shape, all, &pool);
        for x in [[2.3, 1.7, 3.1], [-0.4, 5.49, 0.0], [6.2, 0.1, 4.4]] {
            assert!((eval_bspline(&c, &shape, &x) - 7.25).abs() < 1e-12);
        }
    }

    #[test]
    fn restricted_support_changes_no_bit() {
        // a small ROI in a larger image: coefficients only where read equal the full ones there
        let shape = [41usize, 37, 9];
        let n: usize = shape.iter().product();
        let mut state = 7u64;
        let vals: Vec<f64> = (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) % 2000) as f64 - 700.0
            })
            .collect();
        let src = Grid {
            shape,
            spacing: [0.78125, 0.78125, 6.5],
            frame: Frame {
                origin: [10.0, -3.0, 2.0],
                direction: [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
            },
        };
        let r = Resampling {
            spacing: [2.0, 1.3, 2.0],
            interpolator: Interpolator::BSpline,
            pad_distance: 1,
        };
        let dst = plan(&src, [20, 15, 4], [5, 4, 2], &r).unwrap().unwrap();
        let pool = par::pool(Some(2)).unwrap();
        let sup = support(&src, &dst);
        assert!(sup[0].1 - sup[0].0 < 30 && sup[1].1 - sup[1].0 < 30);
        let part = bspline_coefficients(vals.clone(), shape, sup, &pool);
        let full = bspline_coefficients(vals, shape, [(0, 40), (0, 36), (0, 8)], &pool);
        let mut out_part = vec![0.0; dst.shape.iter().product()];
        let mut out_full = out_part.clone();
        for_each_voxel(&src, &dst, &pool, &mut out_part, |ci| {
            eval_bspline(&part, &shape, ci)
        });
        for_each_voxel(&src, &dst, &pool, &mut out_full, |ci| {
            eval_bspline(&full, &shape, ci)
        });
        assert!(out_part
            .iter()
            .zip(&out_full)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn grid_rule() {
        // brain1-like: spacing 0.78125 in-plane, 6.5 through-plane, resampled to 2 mm
        let src = Grid {
            shape: [256, 256, 25],
            spacing: [0.78125, 0.78125, 6.5],
            frame: Frame::default(),
        };
        let r = Resampling {
            spacing: [2.0, 2.0, 2.0],
            interpolator: Interpolator::BSpline,
            pad_distance: 5,
        };
        let g = plan(&src, [162, 84, 11], [47, 70, 7], &r).unwrap().unwrap();
        // lo' = floor(161.5 * 0.390625 - 5) = 58, hi' = ceil(208.5 * 0.390625 + 5) = 87
        assert_eq!(g.shape[0], 87 - 58 + 1);
        // a one-voxel-thick axis keeps its spacing
        let g1 = plan(&src, [162, 84, 11], [47, 70, 1], &r).unwrap().unwrap();
        assert_eq!(g1.spacing[2], 6.5);
        // same spacing: nothing to do
        let same = Resampling {
            spacing: [0.78125, 0.0, 6.5],
            ..r.clone()
        };
        assert!(plan(&src, [1, 1, 1], [3, 3, 3], &same).unwrap().is_none());
        let tiny = Resampling {
            spacing: [1e-4, 1e-4, 1e-4],
            ..r
        };
        assert!(plan(&src, [0, 0, 0], [256, 256, 25], &tiny).is_err());
    }
}
