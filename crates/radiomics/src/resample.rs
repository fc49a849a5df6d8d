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

/// Lines filtered together: their recursions are independent chains that the CPU overlaps (one
/// line alone waits on each multiply-add of its recursion).
const LANES: usize = 8;
type Lanes = [f64; LANES];

/// `BSplineDecompositionImageFilter::DataToCoefficients1D` on [`LANES`] lines side by side:
/// `v[i][l]` is element `i` of line `l` (lanes are independent: unused ones may hold anything). Each line gets
/// ITK's operations in ITK's order. Positions below `stop` are not read by anyone: the
/// anticausal recursion ends there (every value it leaves is ITK's).
fn coefficients_lanes(v: &mut [Lanes], stop: usize) {
    let len = v.len();
    if len == 1 {
        return; // ITK leaves a line of length 1 unchanged
    }
    let z = pole();
    let c0 = 1.0 * (1.0 - z) * (1.0 - 1.0 / z);
    for p in v.iter_mut() {
        p.iter_mut().for_each(|x| *x *= c0);
    }
    // causal initialisation (mirror boundary)
    let horizon = ((1e-10f64).ln() / z.abs().ln()).ceil() as usize;
    let mut sum = v[0];
    if horizon < len {
        let mut zn = z;
        for p in &v[1..horizon] {
            for (s, x) in sum.iter_mut().zip(p) {
                *s += zn * x;
            }
            zn *= z;
        }
        v[0] = sum;
    } else {
        let mut zn = z;
        let iz = 1.0 / z;
        let mut z2n = z.powf((len - 1) as f64);
        for (s, x) in sum.iter_mut().zip(&v[len - 1]) {
            *s += z2n * x;
        }
        z2n = z2n * (z2n * iz); // ITK: z2n *= z2n * iz
        for p in &v[1..=len - 2] {
            let f = zn + z2n;
            for (s, x) in sum.iter_mut().zip(p) {
                *s += f * x;
            }
            zn *= z;
            z2n *= iz;
        }
        let d = 1.0 - zn * zn;
        for (t, s) in v[0].iter_mut().zip(&sum) {
            *t = s / d;
        }
    }
    // causal recursion
    for n in 1..len {
        let p = v[n - 1];
        for (x, q) in v[n].iter_mut().zip(&p) {
            *x += z * q;
        }
    }
    // anticausal initialisation and recursion
    let k = z / (z * z - 1.0);
    let a = v[len - 2];
    for (x, q) in v[len - 1].iter_mut().zip(&a) {
        *x = k * (z * q + *x);
    }
    for n in (stop.min(len - 1)..len - 1).rev() {
        let q = v[n + 1];
        for (x, r) in v[n].iter_mut().zip(&q) {
            *x = z * (r - *x);
        }
    }
}

/// Cubic B-spline coefficients where evaluations read them (`sup[k]`: the inclusive index range
/// along axis `k`), axes x, y, z in turn as ITK computes them over the whole image: every x line
/// is filtered (the y lines read all of them) and its columns in `sup[0]` kept, then the y lines
/// of those columns (rows in `sup[1]` kept), then the z lines of those rows (planes in `sup[2]`
/// kept). A line's values depend only on that line, so each kept value is ITK's and skipping what
/// nobody reads changes no bit. Lines run [`LANES`] at a time; parallel over planes (x and y)
/// and rows (z).
fn bspline_coefficients<S: Sample>(
    img: &[S],
    shape: [usize; 3],
    sup: [(usize, usize); 3],
    pool: &rayon::ThreadPool,
) -> Coefficients {
    let [nx, ny, nz] = shape;
    let lo = sup.map(|r| r.0);
    let [wx, wy, wz] = sup.map(|r| r.1 - r.0 + 1);
    pool.install(|| {
        // x, then y, plane by plane (the plane stays in cache between the two): rows of `img`
        // -> a plane [y][x in sup] -> a [z][y in sup][x in sup] array
        let mut cy = vec![0.0; wx * wy * nz];
        cy.par_chunks_mut(wx * wy)
            .zip(img.par_chunks(nx * ny))
            .for_each_init(
                || (vec![[0.0; LANES]; nx.max(ny)], vec![0.0; wx * ny]),
                |(buf, plane), (out, src)| {
                    let v = &mut buf[..nx];
                    for (rows, dst) in src.chunks(nx * LANES).zip(plane.chunks_mut(wx * LANES)) {
                        for (l, row) in rows.chunks(nx).enumerate() {
                            for (p, x) in v.iter_mut().zip(row) {
                                p[l] = x.to_f64();
                            }
                        }
                        coefficients_lanes(v, lo[0]);
                        for (l, o) in dst.chunks_mut(wx).enumerate() {
                            for (o, p) in o.iter_mut().zip(&v[lo[0]..]) {
                                *o = p[l];
                            }
                        }
                    }
                    let v = &mut buf[..ny];
                    for x in (0..wx).step_by(LANES) {
                        lanes_in(v, plane.chunks(wx).map(|row| &row[x..]));
                        coefficients_lanes(v, lo[1]);
                        lanes_out(&v[lo[1]..], out.chunks_mut(wx).map(|row| &mut row[x..]));
                    }
                },
            );
        // z: lines through the planes -> a [y in sup][z in sup][x in sup] array
        let mut c = vec![0.0; wx * wy * wz];
        c.par_chunks_mut(wx * wz).enumerate().for_each_init(
            || vec![[0.0; LANES]; nz],
            |v, (y, out)| {
                for x in (0..wx).step_by(LANES) {
                    let lines = cy
                        .chunks(wx * wy)
                        .map(|plane| &plane[y * wx + x..(y + 1) * wx]);
                    lanes_in(v, lines);
                    coefficients_lanes(v, lo[2]);
                    lanes_out(&v[lo[2]..], out.chunks_mut(wx).map(|row| &mut row[x..]));
                }
            },
        );
        Coefficients {
            c,
            shape,
            lo,
            size: [wx, wy, wz],
        }
    })
}

/// Loads up to [`LANES`] consecutive values of each source slice into a position of `v` (a
/// source shorter than [`LANES`] fills the first lanes; the others keep earlier values).
#[inline(always)]
fn lanes_in<'a>(v: &mut [Lanes], src: impl Iterator<Item = &'a [f64]>) {
    for (p, s) in v.iter_mut().zip(src) {
        if let Some(s) = s.first_chunk::<LANES>() {
            *p = *s;
        } else {
            p[..s.len()].copy_from_slice(s);
        }
    }
}

/// Stores each position of `v` into the first (up to [`LANES`]) values of a destination slice.
#[inline(always)]
fn lanes_out<'a>(v: &[Lanes], dst: impl Iterator<Item = &'a mut [f64]>) {
    for (p, d) in v.iter().zip(dst) {
        if let Some(d) = d.first_chunk_mut::<LANES>() {
            *d = *p;
        } else {
            let n = d.len();
            d.copy_from_slice(&p[..n]);
        }
    }
}

/// B-spline coefficients of the box `lo .. lo + size` of an image of `shape`, stored y slowest,
/// then z, x fastest.
struct Coefficients {
    c: Vec<f64>,
    shape: [usize; 3],
    lo: [usize; 3],
    size: [usize; 3],
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

/// `v.floor() as i64` without `floorf` (a libm call on baseline x86_64): the same for every
/// `f32` (NaN gives 0 and values beyond `i64`'s range saturate, as the cast after `floor` does).
#[inline(always)]
fn floor_f32(v: f32) -> i64 {
    let t = v as i64;
    if (t as f32) > v {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// The support of one evaluation: per axis the four (mirrored) indices, relative to the stored
/// box, and weights.
#[inline(always)]
fn bspline_support(c: &Coefficients, x: &[f64; 3]) -> ([[usize; 4]; 3], [[f64; 4]; 3]) {
    let mut idx = [[0usize; 4]; 3];
    let mut wt = [[0.0f64; 4]; 3];
    for n in 0..3 {
        let first = floor_f32(x[n] as f32) - 1;
        let w = x[n] - (first + 1) as f64;
        let w3 = (1.0 / 6.0) * w * w * w;
        let w0 = (1.0 / 6.0) + 0.5 * w * (w - 1.0) - w3;
        let w2 = w + w0 - 2.0 * w3;
        let w1 = 1.0 - w0 - w2 - w3;
        wt[n] = [w0, w1, w2, w3];
        for k in 0..4 {
            idx[n][k] = mirror(first + k as i64, c.shape[n]);
        }
    }
    for (n, ix) in idx.iter_mut().enumerate() {
        for i in ix.iter_mut() {
            debug_assert!(
                *i >= c.lo[n] && *i < c.lo[n] + c.size[n],
                "outside the stored box"
            );
            *i -= c.lo[n];
        }
    }
    (idx, wt)
}

/// `BSplineInterpolateImageFunction::EvaluateAtContinuousIndex` (order 3): the sum over k, j, i
/// (z, y, x) of `(w_x[i] w_y[j]) w_z[k] c`, in ITK's order.
#[inline]
fn eval_bspline(c: &Coefficients, x: &[f64; 3]) -> f64 {
    eval_bspline_lanes::<1>(c, &[*x])[0]
}

/// [`eval_bspline`] at `N` points side by side: each point's operations and order are the
/// single point's; the `N` sums are independent chains that the CPU overlaps.
#[inline(always)]
fn eval_bspline_lanes<const N: usize>(c: &Coefficients, x: &[[f64; 3]; N]) -> [f64; N] {
    let (sz, sy) = (c.size[0], c.size[0] * c.size[2]);
    // lane-last copies of each point's support (w_x[i] w_y[j]: the same product for every k)
    let (mut ix, mut iy, mut iz) = ([[0usize; N]; 4], [[0usize; N]; 4], [[0usize; N]; 4]);
    let (mut wxy, mut wz) = ([[[0.0; N]; 4]; 4], [[0.0; N]; 4]);
    for (l, p) in x.iter().enumerate() {
        let (idx, wt) = bspline_support(c, p);
        for a in 0..4 {
            (ix[a][l], iy[a][l], iz[a][l]) = (idx[0][a], idx[1][a], idx[2][a]);
            wz[a][l] = wt[2][a];
            for i in 0..4 {
                wxy[a][i][l] = wt[0][i] * wt[1][a];
            }
        }
    }
    let mut v = [0.0; N];
    for k in 0..4 {
        for j in 0..4 {
            let base: [usize; N] = std::array::from_fn(|l| iy[j][l] * sy + iz[k][l] * sz);
            for i in 0..4 {
                let cv: [f64; N] = std::array::from_fn(|l| c.c[base[l] + ix[i][l]]);
                for l in 0..N {
                    v[l] += (wxy[j][i][l] * wz[k][l]) * cv[l];
                }
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

/// Calls `f(continuous indices, outputs)` for every row of `dst` (the continuous index in `src`
/// of each of its voxels and the row's output slots), rows in parallel.
fn for_each_row<O: Send>(
    src: &Grid,
    dst: &Grid,
    pool: &rayon::ThreadPool,
    out: &mut [O],
    f: impl Fn(&[[f64; 3]], &mut [O]) + Sync,
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
            let ci: Vec<[f64; 3]> = (0..nx)
                .map(|x| {
                    let alpha = x as f64 / nxf;
                    [0, 1, 2].map(|k| start[k] + alpha * v[k])
                })
                .collect();
            f(&ci, o);
        })
    });
}

/// Calls `f(continuous index)` for every voxel of `dst`; `out` receives one value per voxel.
fn for_each_voxel<O: Send>(
    src: &Grid,
    dst: &Grid,
    pool: &rayon::ThreadPool,
    out: &mut [O],
    f: impl Fn(&[f64; 3]) -> O + Sync,
) {
    for_each_row(src, dst, pool, out, |ci, o| {
        for (p, slot) in ci.iter().zip(o) {
            *slot = f(p);
        }
    });
}

/// B-spline values of a row's points (0 outside the image), four at a time where all four are
/// inside.
fn bspline_row<S: Sample>(c: &Coefficients, ci: &[[f64; 3]], o: &mut [S]) {
    let sh = c.shape;
    let zero = S::from_f64_saturating(0.0);
    let mut x = 0;
    while x < ci.len() {
        if x + 4 <= ci.len() && ci[x..x + 4].iter().all(|p| inside(p, &sh)) {
            let p = [ci[x], ci[x + 1], ci[x + 2], ci[x + 3]];
            for (slot, v) in o[x..x + 4].iter_mut().zip(eval_bspline_lanes(c, &p)) {
                *slot = S::from_f64_saturating(v);
            }
            x += 4;
        } else {
            o[x] = if inside(&ci[x], &sh) {
                S::from_f64_saturating(eval_bspline(c, &ci[x]))
            } else {
                zero
            };
            x += 1;
        }
    }
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
            let c = bspline_coefficients(img, sh, support(src, dst), &pool);
            for_each_row(src, dst, &pool, &mut out, |ci, o| bspline_row(&c, ci, o))
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
    // row by row: the first and last labelled voxel of each row
    for (r, row) in mask.chunks(shape[0].max(1)).enumerate() {
        let Some(first) = row.iter().position(|&m| is_label(m, label)) else {
            continue;
        };
        let last = row
            .iter()
            .rposition(|&m| is_label(m, label))
            .unwrap_or(first);
        any = true;
        let p = [
            (first, last),
            (r % shape[1], r % shape[1]),
            (r / shape[1], r / shape[1]),
        ];
        for d in 0..3 {
            lo[d] = lo[d].min(p[d].0);
            hi[d] = hi[d].max(p[d].1);
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
    fn floor_without_libm() {
        let mut v = vec![
            0.0f32,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            2.5,
            -2.5,
            1e-30,
            -1e-30,
            8388607.5,
            -8388607.5,
            16777217.0,
            -16777217.0,
            9.3e18,
            -9.3e18,
            1e30,
            -1e30,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
        ];
        let mut state = 3u32;
        for _ in 0..100_000 {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            v.push(f32::from_bits(state));
            v.push((state as f32 / 4096.0) - 500_000.0);
        }
        for x in v {
            assert_eq!(floor_f32(x), x.floor() as i64, "{x}");
        }
    }

    #[test]
    fn label_box_rows() {
        let shape = [5usize, 4, 3];
        let mut m = vec![0u8; 60];
        assert_eq!(label_box(&m, shape, 1), None);
        m[1 + 5 * 2] = 1; // (1, 2, 0)
        m[3 + 5 * (1 + 4 * 2)] = 1; // (3, 1, 2)
        m[4 + 5 * (1 + 4 * 2)] = 2;
        assert_eq!(label_box(&m, shape, 1), Some(([1, 1, 0], [3, 2, 3])));
        assert_eq!(label_box(&m, shape, 2), Some(([4, 1, 2], [1, 1, 1])));
    }

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
        // (rows longer and shorter than the columns, more lines than one group of lanes; axes
        // shorter than the initialisation's horizon of 18, beyond which ITK's start value is
        // itself a truncated sum, ~1e-10 from exact)
        let pool = par::pool(Some(1)).unwrap();
        for shape in [[7usize, 6, 5], [5, 12, 3], [3, 4, 11]] {
            let n: usize = shape.iter().product();
            let at = |i: usize| {
                [
                    i % shape[0],
                    (i / shape[0]) % shape[1],
                    i / (shape[0] * shape[1]),
                ]
            };
            let vals: Vec<f64> = (0..n)
                .map(|i| {
                    let [x, y, z] = at(i);
                    1.5 * x as f64 - 0.25 * y as f64 + 2.0 * z as f64 + 3.0
                })
                .collect();
            let all = shape.map(|n| (0, n - 1));
            let c = bspline_coefficients(&vals, shape, all, &pool);
            for (i, v) in vals.iter().enumerate() {
                let x = at(i).map(|k| k as f64);
                let e = eval_bspline(&c, &x);
                assert!((e - v).abs() < 1e-12, "{shape:?} {x:?} {e} {v}");
            }
        }
        let (shape, n, all) = ([7usize, 6, 5], 210, [(0, 6), (0, 5), (0, 4)]);
        // constants are reproduced everywhere (mirror boundaries keep them constant)
        let c = bspline_coefficients(&vec![7.25; n], shape, all, &pool);
        for x in [[2.3, 1.7, 3.1], [-0.4, 5.49, 0.0], [6.2, 0.1, 4.4]] {
            assert!((eval_bspline(&c, &x) - 7.25).abs() < 1e-12);
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
        let part = bspline_coefficients(&vals, shape, sup, &pool);
        let full = bspline_coefficients(&vals, shape, [(0, 40), (0, 36), (0, 8)], &pool);
        let mut out_part = vec![0.0; dst.shape.iter().product()];
        let mut out_full = out_part.clone();
        for_each_voxel(&src, &dst, &pool, &mut out_part, |ci| {
            eval_bspline(&part, ci)
        });
        for_each_voxel(&src, &dst, &pool, &mut out_full, |ci| {
            eval_bspline(&full, ci)
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
