//! Symmetric diffeomorphic registration (SyN) with DIPY 1.12's semantics:
//! `dipy.align.imwarp.SymmetricDiffeomorphicRegistration.optimize` with the cross-correlation
//! (`dipy.align.metrics.CCMetric`), sum-of-squared-differences (`SSDMetric`) or
//! expectation-maximisation (`EMMetric`) metric, as `dipy.align.syn_registration` calls it.
//!
//! Per level, coarsest first (the scale spaces of [`scale`]): both images are warped to the
//! reference grid by the current half-transforms, the metric forms its forward and backward
//! steps ([`cc`]; [`ssd`] and [`em`]: a demons step, smoothed, or a Gauss-Newton step solved by
//! a multi-resolution V-cycle), each step is zeroed on the grid's border, divided by its largest
//! norm in voxels and composed into its half-transform with `step_length`; the two
//! half-transforms are then re-inverted (four fixed-point inversions, each started from the
//! previous inverse). A level stops after its iteration budget or when the derivative of a
//! quadratic fitted to the last 12 energies (normalised by their sum) is at most `opt_tol`. The
//! result maps static to moving: `forward = compose(moving.forward, static.backward)`,
//! `backward = compose(static.forward, moving.backward)` on the finest grid, as DIPY's
//! `static_to_moving` (an inverse `DiffeomorphicMap`).
//!
//! DIPY keeps every image and field in float32 here; so does this port. Affine products and
//! inverses are formed in float64 with plain loops (DIPY uses BLAS and LAPACK), so the two can
//! differ in the last bits of the matrices.

pub mod cc;
pub mod em;
pub mod gauss;
pub mod scale;
pub mod ssd;

use crate::affine::Affine;
use crate::compose::compose_fields;
use crate::interp::{vector_partial, Dims};
use crate::invert::{invert_field_spacing, InvertOptions};
use crate::warp::{warp_linear_affines_f32, warp_nearest_affines, WarpMaps};
use crate::{Field, Grid};
use rayon::prelude::*;
use scale::ScaleSpace;
use voxelkit_core::{Control, Error, Result};

/// Similarity metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Local cross-correlation (`CCMetric`).
    Cc,
    /// Sum of squared differences (`SSDMetric`).
    Ssd,
    /// Expectation maximisation (`EMMetric`).
    Em,
}

/// The step of the SSD and EM metrics (DIPY's `step_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepType {
    /// `'demons'`: the demons step, smoothed by a Gaussian of `smooth` voxels.
    Demons,
    /// `'gauss_newton'`: the Gauss-Newton step of the regularised linearised energy
    /// (smoothness `smooth`), solved by a multi-resolution Gauss-Seidel V-cycle.
    GaussNewton,
}

/// Options of [`register_syn`] (DIPY's names in brackets), defaults as `syn_registration` and
/// DIPY's metric classes. The metric options are `None` for "the metric's default" (the
/// accessors [`SynOptions::smooth`] etc. resolve them); giving one that the chosen metric does
/// not have is an `ERR_SETTING`.
#[derive(Debug, Clone, PartialEq)]
pub struct SynOptions {
    pub metric: Metric,
    /// Iterations per level, coarsest first (`level_iters`). Default `[10, 10, 5]`.
    pub level_iters: Vec<usize>,
    /// `step_length`. Default 0.25.
    pub step_length: f64,
    /// `ss_sigma_factor`. Default 0.2.
    pub ss_sigma_factor: f64,
    /// `opt_tol`. Default 1e-5.
    pub opt_tol: f64,
    /// `inv_iter`. Default 20.
    pub inv_iter: usize,
    /// `inv_tol`. Default 1e-3.
    pub inv_tol: f64,
    /// CC `sigma_diff`. Default 2.
    pub sigma_diff: Option<f64>,
    /// CC `radius`. Default 4.
    pub radius: Option<usize>,
    /// SSD / EM `smooth`. Default 4 (SSD), 1 (EM).
    pub smooth: Option<f64>,
    /// SSD / EM `inner_iter`. Default 10 (SSD), 5 (EM).
    pub inner_iter: Option<usize>,
    /// SSD / EM `step_type`. Default demons (SSD), Gauss-Newton (EM).
    pub step_type: Option<StepType>,
    /// EM `q_levels`. Default 256.
    pub q_levels: Option<usize>,
    /// EM `double_gradient`. Default true.
    pub double_gradient: Option<bool>,
    pub threads: Option<usize>,
}

impl Default for SynOptions {
    fn default() -> Self {
        SynOptions {
            metric: Metric::Cc,
            level_iters: vec![10, 10, 5],
            step_length: 0.25,
            ss_sigma_factor: 0.2,
            opt_tol: 1e-5,
            inv_iter: 20,
            inv_tol: 1e-3,
            sigma_diff: None,
            radius: None,
            smooth: None,
            inner_iter: None,
            step_type: None,
            q_levels: None,
            double_gradient: None,
            threads: None,
        }
    }
}

impl SynOptions {
    /// CC `sigma_diff` (default 2).
    pub fn sigma_diff(&self) -> f64 {
        self.sigma_diff.unwrap_or(2.0)
    }
    /// CC `radius` (default 4).
    pub fn radius(&self) -> usize {
        self.radius.unwrap_or(4)
    }
    /// SSD / EM `smooth` (default 4 for SSD, 1 for EM).
    pub fn smooth(&self) -> f64 {
        self.smooth
            .unwrap_or(if self.metric == Metric::Em { 1.0 } else { 4.0 })
    }
    /// SSD / EM `inner_iter` (default 10 for SSD, 5 for EM).
    pub fn inner_iter(&self) -> usize {
        self.inner_iter
            .unwrap_or(if self.metric == Metric::Em { 5 } else { 10 })
    }
    /// SSD / EM `step_type` (default demons for SSD, Gauss-Newton for EM).
    pub fn step_type(&self) -> StepType {
        self.step_type.unwrap_or(if self.metric == Metric::Em {
            StepType::GaussNewton
        } else {
            StepType::Demons
        })
    }
    /// EM `q_levels` (default 256).
    pub fn q_levels(&self) -> usize {
        self.q_levels.unwrap_or(256)
    }
    /// EM `double_gradient` (default true).
    pub fn double_gradient(&self) -> bool {
        self.double_gradient.unwrap_or(true)
    }
}

/// Largest accepted `inner_iter`.
pub const MAX_INNER_ITER: usize = 1000;
/// Largest accepted `q_levels`.
pub const MAX_Q_LEVELS: usize = 1 << 20;

/// DIPY's `energy_window`.
pub const ENERGY_WINDOW: usize = 12;
/// Largest accepted iteration count per level.
pub const MAX_LEVEL_ITERS: usize = 100_000;

/// Where the fields of a registration live and what they map (DIPY's `DiffeomorphicMap`
/// attributes of `static_to_moving`, an inverse map).
#[derive(Debug, Clone)]
pub struct MapGeometry {
    /// The displacement grid (the static grid's size; affine as DIPY's chain of expansions).
    pub disp_grid: Grid,
    /// The moving image's grid (DIPY's `domain`).
    pub domain: Grid,
    /// The static image's grid (DIPY's `codomain`).
    pub codomain: Grid,
    /// The map's `prealign` (the inverse of the given pre-alignment), if any.
    pub prealign: Option<Affine>,
}

/// The registration: DIPY's `static_to_moving` map.
#[derive(Debug, Clone)]
pub struct SynResult {
    /// DIPY's `mapping.forward` (float32, `ndim` planes on the displacement grid).
    pub forward: Vec<f32>,
    /// DIPY's `mapping.backward`.
    pub backward: Vec<f32>,
    pub geometry: MapGeometry,
    /// Energies (forward + backward, as DIPY's `energy_list`) per level, coarsest first.
    pub energies: Vec<Vec<f64>>,
    /// Iterations run per level, coarsest first.
    pub iterations: Vec<usize>,
}

fn mul_opt(a: Option<&Affine>, b: Option<&Affine>) -> Option<Affine> {
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(*a),
        (None, Some(b)) => Some(*b),
        (Some(a), Some(b)) => Some(a.mul(b)),
    }
}

impl SynResult {
    /// DIPY's `mapping.transform(image)` (linear): the moving-grid `image` on the static grid.
    pub fn transform(
        &self,
        image: &[f32],
        grid: &Grid,
        ctl: &Control,
        threads: Option<usize>,
    ) -> Result<Vec<f32>> {
        self.geometry
            .transform_linear(&self.backward, image, grid, false, ctl, threads)
    }

    /// DIPY's `mapping.transform_inverse(image)` (linear): the static-grid `image` on the
    /// moving grid.
    pub fn transform_inverse(
        &self,
        image: &[f32],
        grid: &Grid,
        ctl: &Control,
        threads: Option<usize>,
    ) -> Result<Vec<f32>> {
        self.geometry
            .transform_linear(&self.forward, image, grid, true, ctl, threads)
    }
}

impl MapGeometry {
    /// The matrices DIPY's `_warp_backward` (`inverse = false`: the moving-grid image onto the
    /// static grid through the map's `backward`) or `_warp_forward` (`inverse = true`: the
    /// static-grid image onto the moving grid through `forward`) pass to `warp_3d` for an
    /// inverse map, and the output grid.
    fn matrices(
        &self,
        field: &[f32],
        image_len: usize,
        grid: &Grid,
        inverse: bool,
    ) -> Result<WarpMaps> {
        if grid.ndim != self.disp_grid.ndim {
            return Err(Error::shape(format!(
                "a {}D image cannot be warped by a {}D registration",
                grid.ndim, self.disp_grid.ndim
            )));
        }
        if image_len != grid.nvox() {
            return Err(Error::shape(format!(
                "the image holds {image_len} values but its grid {:?} needs {}",
                &grid.dims[..grid.ndim],
                grid.nvox()
            )));
        }
        Field::new(field, &self.disp_grid, "field")?.check_finite("field")?;
        let w = grid.affine.inverse("image")?;
        let dinv = self.disp_grid.affine.inverse("displacement grid")?;
        Ok(if inverse {
            let ps = mul_opt(self.prealign.as_ref(), Some(&self.domain.affine)).expect("some");
            WarpMaps {
                a: Some(dinv.mul(&ps)),
                b: w.mul(&ps),
                c: w,
                out: self.domain.clone(),
            }
        } else {
            let pinv = match &self.prealign {
                Some(p) => Some(p.inverse("prealign")?),
                None => None,
            };
            let s = self.codomain.affine;
            let b = w.mul(&mul_opt(pinv.as_ref(), Some(&s)).expect("some"));
            let c = mul_opt(Some(&w), pinv.as_ref()).expect("some");
            WarpMaps {
                a: Some(dinv.mul(&s)),
                b,
                c,
                out: self.codomain.clone(),
            }
        })
    }

    /// DIPY's `transform` (`inverse = false`, `field` = the map's `backward`) or
    /// `transform_inverse` (`inverse = true`, `field` = `forward`) with linear interpolation
    /// of a float32 image (DIPY casts linear inputs to float32), float32 output. `grid` is the
    /// image's grid.
    pub fn transform_linear(
        &self,
        field: &[f32],
        image: &[f32],
        grid: &Grid,
        inverse: bool,
        ctl: &Control,
        threads: Option<usize>,
    ) -> Result<Vec<f32>> {
        let m = self.matrices(field, image.len(), grid, inverse)?;
        let f = Field::new(field, &self.disp_grid, "field")?;
        warp_linear_affines_f32(image, grid, f, &m, threads, ctl)
    }

    /// [`MapGeometry::transform_linear`] by nearest neighbour: the image's own type.
    pub fn transform_nearest<S: Copy + Default + Send + Sync>(
        &self,
        field: &[f32],
        image: &[S],
        grid: &Grid,
        inverse: bool,
        ctl: &Control,
        threads: Option<usize>,
    ) -> Result<Vec<S>> {
        let m = self.matrices(field, image.len(), grid, inverse)?;
        let f = Field::new(field, &self.disp_grid, "field")?;
        warp_nearest_affines(image, grid, f, &m, threads, ctl)
    }
}

/// A half-transform of the optimisation (DIPY's `static_to_ref` / `moving_to_ref`).
struct HalfMap {
    forward: Vec<f32>,
    backward: Vec<f32>,
    dims: [usize; 3],
    /// `disp_grid2world` and its inverse, as DIPY's chain of `expand_fields`.
    g2w: Affine,
    w2g: Affine,
}

impl HalfMap {
    fn new(dims: [usize; 3], ndim: usize, g2w: Affine) -> Result<HalfMap> {
        let n = dims[0] * dims[1] * dims[2] * ndim;
        Ok(HalfMap {
            forward: vec![0.0; n],
            backward: vec![0.0; n],
            dims,
            w2g: g2w.inverse("grid")?,
            g2w,
        })
    }

    /// DIPY's `expand_fields`.
    fn expand(&mut self, factors: [f64; 3], dims: [usize; 3], ndim: usize) -> Result<()> {
        self.forward = resample(&self.forward, self.dims, factors, dims, ndim);
        self.backward = resample(&self.backward, self.dims, factors, dims, ndim);
        self.dims = dims;
        let mut d = Affine::IDENTITY;
        for (k, f) in factors.iter().enumerate().take(ndim) {
            d.m[k][k] = *f;
        }
        self.g2w = self.g2w.mul(&d);
        self.w2g = self.g2w.inverse("grid")?;
        Ok(())
    }
}

/// DIPY's `resample_displacement_field_3d` / `_2d`: `out[i] = field(diag(factors) i)`.
fn resample(
    field: &[f32],
    from: [usize; 3],
    factors: [f64; 3],
    to: [usize; 3],
    ndim: usize,
) -> Vec<f32> {
    let nin = from[0] * from[1] * from[2];
    let n = to[0] * to[1] * to[2];
    let fd = Dims::new(from);
    let planes: Vec<&[f32]> = (0..ndim).map(|c| &field[c * nin..(c + 1) * nin]).collect();
    let mut out = vec![0.0f32; ndim * n];
    let op = crate::chunks::Planes::<f32, 3>::new_padded(&mut out, n, ndim);
    const TASK: usize = 4096;
    (0..n.div_ceil(TASK)).into_par_iter().for_each(|t| {
        let r = t * TASK..((t + 1) * TASK).min(n);
        op.check(&r);
        let mut xyz = crate::compose::coords(r.start, to);
        for i in r {
            let [x, y, z] = xyz;
            crate::compose::step(&mut xyz, to);
            let pos = [
                x as f64 * factors[0],
                y as f64 * factors[1],
                if ndim == 3 {
                    z as f64 * factors[2]
                } else {
                    0.0
                },
            ];
            let v = if ndim == 3 {
                let p: [&[f32]; 3] = [planes[0], planes[1], planes[2]];
                vector_partial::<f32, 3>(&p, &fd, pos)
            } else {
                let p: [&[f32]; 2] = [planes[0], planes[1]];
                let v = vector_partial::<f32, 2>(&p, &fd, pos);
                [v[0], v[1], 0.0]
            };
            for (c, vc) in v.iter().enumerate().take(ndim) {
                // SAFETY: i lies in this task's range (checked above), c < ndim planes
                unsafe { op.set(c, i, *vc) };
            }
        }
    });
    out
}

/// An image and its grid.
#[derive(Clone, Copy)]
pub struct Image<'a> {
    pub data: &'a [f32],
    pub grid: &'a Grid,
}

/// What [`register_syn`] reports after each iteration: level (0 = finest), iteration within
/// the level (from 0), energy.
pub type OnIter<'a> = &'a (dyn Fn(usize, usize, f64) + Sync);

fn check_options(o: &SynOptions) -> Result<()> {
    let name = match o.metric {
        Metric::Cc => "CC",
        Metric::Ssd => "SSD",
        Metric::Em => "EM",
    };
    for (given, opt, owners) in [
        (o.sigma_diff.is_some(), "sigmaDiff", "CC"),
        (o.radius.is_some(), "radius", "CC"),
        (o.smooth.is_some(), "smooth", "SSD and EM"),
        (o.inner_iter.is_some(), "innerIter", "SSD and EM"),
        (o.step_type.is_some(), "stepType", "SSD and EM"),
        (o.q_levels.is_some(), "qLevels", "EM"),
        (o.double_gradient.is_some(), "doubleGradient", "EM"),
    ] {
        if given && !owners.split(" and ").any(|m| m == name) {
            return Err(Error::setting(format!(
                "{opt} is an option of the {owners} metric, not of {name}"
            )));
        }
    }
    let s = o.smooth();
    if !(s.is_finite() && s >= 0.0) {
        return Err(Error::setting(format!(
            "smooth must be a finite number >= 0, got {s}"
        )));
    }
    if o.inner_iter() > MAX_INNER_ITER {
        return Err(Error::setting(format!(
            "innerIter must be an integer from 0 to {MAX_INNER_ITER}, got {}",
            o.inner_iter()
        )));
    }
    if !(2..=MAX_Q_LEVELS).contains(&o.q_levels()) {
        return Err(Error::setting(format!(
            "qLevels must be an integer from 2 to {MAX_Q_LEVELS}, got {}",
            o.q_levels()
        )));
    }
    if o.level_iters.is_empty() || o.level_iters.len() > 16 {
        return Err(Error::setting(format!(
            "levelIters must list 1 to 16 iteration counts, got {}",
            o.level_iters.len()
        )));
    }
    if let Some(&k) = o.level_iters.iter().find(|&&k| k > MAX_LEVEL_ITERS) {
        return Err(Error::setting(format!(
            "levelIters entries must be integers from 0 to {MAX_LEVEL_ITERS}, got {k}"
        )));
    }
    let pos = |name: &str, v: f64| -> Result<()> {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(Error::setting(format!(
                "{name} must be a finite number > 0, got {v}"
            )))
        }
    };
    pos("stepLength", o.step_length)?;
    pos("sigmaDiff", o.sigma_diff())?;
    if !(o.ss_sigma_factor.is_finite() && o.ss_sigma_factor >= 0.0) {
        return Err(Error::setting(format!(
            "ssSigmaFactor must be a finite number >= 0, got {}",
            o.ss_sigma_factor
        )));
    }
    // the Gaussian sigmas the registration smooths with (voxels): sigmaDiff (CC), smooth
    // (the demons step), and the scale space's ssSigmaFactor * (2^level - 1) at its coarsest level
    let max = gauss::MAX_SIGMA;
    if o.sigma_diff() > max {
        return Err(Error::setting(format!(
            "sigmaDiff must be at most {max} (voxels), got {}",
            o.sigma_diff()
        )));
    }
    if o.metric != Metric::Cc && o.step_type() == StepType::Demons && s > max {
        return Err(Error::setting(format!(
            "smooth (the demons step's Gaussian sigma) must be at most {max} (voxels), got {s}"
        )));
    }
    let coarsest = ((1u64 << (o.level_iters.len() - 1)) - 1) as f64;
    if o.ss_sigma_factor * coarsest > max {
        return Err(Error::setting(format!(
            "ssSigmaFactor {} gives a scale-space sigma of {} voxels at the coarsest of {} \
             levels, more than {max}",
            o.ss_sigma_factor,
            o.ss_sigma_factor * coarsest,
            o.level_iters.len()
        )));
    }
    if !o.opt_tol.is_finite() {
        return Err(Error::setting(format!(
            "optTol must be a finite number, got {}",
            o.opt_tol
        )));
    }
    if !(o.inv_tol.is_finite() && o.inv_tol >= 0.0) {
        return Err(Error::setting(format!(
            "invTol must be a finite number >= 0, got {}",
            o.inv_tol
        )));
    }
    if o.inv_iter > crate::invert::MAX_ITER {
        return Err(Error::setting(format!(
            "invIter must be an integer from 0 to {}, got {}",
            crate::invert::MAX_ITER,
            o.inv_iter
        )));
    }
    if o.radius() == 0 || o.radius() > 1000 {
        return Err(Error::setting(format!(
            "radius must be an integer from 1 to 1000, got {}",
            o.radius()
        )));
    }
    Ok(())
}

fn check_image(im: &Image<'_>, what: &str) -> Result<()> {
    if im.data.len() != im.grid.nvox() {
        return Err(Error::shape(format!(
            "the {what} image holds {} values but its grid {:?} needs {}",
            im.data.len(),
            &im.grid.dims[..im.grid.ndim],
            im.grid.nvox()
        )));
    }
    if let Some(i) = im.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::format(format!(
            "the {what} image holds a non-finite value ({}) at index {i}",
            im.data[i]
        )));
    }
    Ok(())
}

/// DIPY's derivative of the energy profile (`_get_energy_derivative`): the slope at the window's
/// middle of a least-squares quadratic through the last [`ENERGY_WINDOW`] energies divided by
/// minus the absolute value of their sum.
pub fn energy_derivative(e: &[f64]) -> f64 {
    let y0 = &e[e.len() - ENERGY_WINDOW..];
    let mut ss = 0.0;
    for v in y0 {
        ss += v;
    }
    let y: Vec<f64> = if ss != 0.0 {
        let ss = if ss > 0.0 { -ss } else { ss };
        y0.iter().map(|v| v / ss).collect()
    } else {
        y0.to_vec()
    };
    let n = ENERGY_WINDOW;
    let xs: Vec<[f64; 3]> = (0..n).map(|i| [(i * i) as f64, i as f64, 1.0]).collect();
    let mut a = [[0.0f64; 3]; 3];
    let mut b = [0.0f64; 3];
    for r in 0..3 {
        for c in 0..3 {
            a[r][c] = xs.iter().map(|x| x[r] * x[c]).sum();
        }
        let mut s = 0.0;
        for (x, yv) in xs.iter().zip(&y) {
            s += x[r] * yv;
        }
        b[r] = s;
    }
    let beta = solve3(a, b);
    let x0 = 0.5 * n as f64;
    2.0 * beta[0] * x0 + beta[1]
}

/// LU with partial pivoting of a 3x3 system, as LAPACK's `dgesv` (multipliers by the
/// reciprocal of the pivot).
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> [f64; 3] {
    for k in 0..3 {
        let p = (k..3)
            .max_by(|&i, &j| a[i][k].abs().total_cmp(&a[j][k].abs()).then(j.cmp(&i)))
            .unwrap_or(k);
        a.swap(k, p);
        b.swap(k, p);
        let r = 1.0 / a[k][k];
        for i in k + 1..3 {
            a[i][k] *= r;
            for j in k + 1..3 {
                a[i][j] -= a[i][k] * a[k][j];
            }
        }
    }
    for i in 0..3 {
        for k in 0..i {
            b[i] -= a[i][k] * b[k];
        }
    }
    for i in (0..3).rev() {
        for k in i + 1..3 {
            b[i] -= a[i][k] * b[k];
        }
        b[i] /= a[i][i];
    }
    b
}

/// Registers `moving` to `stat` (DIPY's `SymmetricDiffeomorphicRegistration(CCMetric(dim),
/// level_iters, ...).optimize(static, moving, static_grid2world, moving_grid2world,
/// prealign)`). `prealign` maps static world coordinates to moving world coordinates, as
/// DIPY's.
pub fn register_syn(
    stat: Image<'_>,
    moving: Image<'_>,
    prealign: Option<&Affine>,
    o: &SynOptions,
    on_iter: Option<OnIter<'_>>,
    ctl: &Control,
) -> Result<SynResult> {
    check_options(o)?;
    check_image(&stat, "static")?;
    check_image(&moving, "moving")?;
    let ndim = stat.grid.ndim;
    if moving.grid.ndim != ndim {
        return Err(Error::shape(format!(
            "the static image is {ndim}D but the moving image is {}D",
            moving.grid.ndim
        )));
    }
    let pre = match prealign {
        None => None,
        Some(p) => {
            if p.m.iter().flatten().any(|v| !v.is_finite()) {
                return Err(Error::setting("prealign must hold finite numbers"));
            }
            Some(p.inverse("prealign")?)
        }
    };
    let pool = voxelkit_core::par::pool(o.threads)?;
    pool.install(|| optimize(stat, moving, pre, o, on_iter, ctl))
}

fn optimize(
    stat: Image<'_>,
    moving: Image<'_>,
    // the moving half-map's prealign: the inverse of the user's pre-alignment
    pre: Option<Affine>,
    o: &SynOptions,
    on_iter: Option<OnIter<'_>>,
    outer: &Control,
) -> Result<SynResult> {
    // the sub-kernels run under their own control (their progress is not the registration's);
    // cancellation is checked between them
    let inner = Control::default();
    let ctl = &inner;
    let total: u64 = o.level_iters.iter().map(|&k| k as u64).sum();
    outer.set_total(total);
    let ndim = stat.grid.ndim;
    let levels = o.level_iters.len();
    let sss = ScaleSpace::new(stat.data, stat.grid, levels, o.ss_sigma_factor, "static")?;
    let mss = ScaleSpace::new(
        moving.data,
        moving.grid,
        levels,
        o.ss_sigma_factor,
        "moving",
    )?;
    // CC needs its whole window on every level; the SSD / EM gradients need two voxels per axis
    let min = if o.metric == Metric::Cc {
        2 * o.radius() + 1
    } else {
        2
    };
    for l in &sss.levels {
        if l.dims.iter().take(ndim).any(|&s| s < min) {
            return Err(Error::shape(if o.metric == Metric::Cc {
                format!(
                    "the static image's pyramid level {:?} is smaller than the CC window ({min} = 2 radius + 1) along an axis: use fewer levels or a smaller radius",
                    &l.dims[..ndim]
                )
            } else {
                format!(
                    "the static image's pyramid level {:?} has fewer than 2 voxels along an axis: use fewer levels",
                    &l.dims[..ndim]
                )
            }));
        }
    }
    let sw2g = stat.grid.affine.inverse("static")?;
    let mw2g = moving.grid.affine.inverse("moving")?;
    // the moving half-map's prealign_inv (DIPY inverts the inverse)
    let pre_inv = match &pre {
        Some(p) => Some(p.inverse("prealign")?),
        None => None,
    };
    let top = &sss.levels[levels - 1];
    let mut smap = HalfMap::new(top.dims, ndim, top.affine)?;
    let mut mmap = HalfMap::new(top.dims, ndim, top.affine)?;
    let mut energies = vec![];
    let mut iterations = vec![];
    let inv = InvertOptions {
        max_iter: o.inv_iter,
        tolerance: o.inv_tol,
        threads: o.threads,
        simd: true,
    };
    for level in (0..levels).rev() {
        let lv = &sss.levels[level];
        if level < levels - 1 {
            let from = &sss.levels[level + 1];
            let f: [f64; 3] = std::array::from_fn(|k| lv.spacing[k] / from.spacing[k]);
            smap.expand(f, lv.dims, ndim)?;
            mmap.expand(f, lv.dims, ndim)?;
        }
        let lgrid = Grid {
            dims: lv.dims,
            ndim,
            affine: lv.affine,
        };
        let mut elist: Vec<f64> = vec![];
        let mut derivative = f64::INFINITY;
        let mut niter = 0;
        while niter < o.level_iters[levels - 1 - level] && o.opt_tol < derivative {
            outer.check()?;
            // the images on the reference grid (transform_inverse of each half-map)
            let s = lv.affine;
            let sfield = Field::new(&smap.backward, &lgrid, "field")?;
            // the static and moving half-transforms to the reference grid (DIPY's
            // `transform_inverse` of each half's map)
            let smaps = WarpMaps {
                a: Some(smap.w2g.mul(&s)),
                b: sw2g.mul(&s),
                c: sw2g,
                out: lgrid.clone(),
            };
            let ws: Vec<f32> = warp_linear_affines_f32(
                &sss.levels[level].image,
                stat.grid,
                sfield,
                &smaps,
                o.threads,
                ctl,
            )?;
            let mfield = Field::new(&mmap.backward, &lgrid, "field")?;
            let ps = mul_opt(pre_inv.as_ref(), Some(&s)).expect("some");
            let mmaps = WarpMaps {
                a: Some(mmap.w2g.mul(&s)),
                b: mw2g.mul(&ps),
                c: mul_opt(Some(&mw2g), pre_inv.as_ref()).expect("some"),
                out: lgrid.clone(),
            };
            let wm: Vec<f32> = warp_linear_affines_f32(
                &mss.levels[level].image,
                moving.grid,
                mfield,
                &mmaps,
                o.threads,
                ctl,
            )?;
            outer.check()?;
            // the metric
            let ctx = StepContext {
                lv,
                level,
                levels,
                ndim,
                direction: &sss.direction,
                o,
            };
            let (fw, fe, bw, be) = match o.metric {
                Metric::Cc => cc_steps(&ctx, &ws, &wm),
                Metric::Ssd => ssd_steps(&ctx, &ws, &wm, None),
                Metric::Em => {
                    // the images' masks (level image > 0) carried to the reference grid by
                    // nearest neighbour (DIPY's `use_*_image_dynamics`)
                    let pos = |img: &[f32]| -> Vec<i32> {
                        img.iter().map(|&v| i32::from(v > 0.0)).collect()
                    };
                    let sm = warp_nearest_affines(
                        &pos(&sss.levels[level].image),
                        stat.grid,
                        Field::new(&smap.backward, &lgrid, "field")?,
                        &smaps,
                        o.threads,
                        ctl,
                    )?;
                    let mm = warp_nearest_affines(
                        &pos(&mss.levels[level].image),
                        moving.grid,
                        Field::new(&mmap.backward, &lgrid, "field")?,
                        &mmaps,
                        o.threads,
                        ctl,
                    )?;
                    let mask: Vec<bool> = sm.iter().zip(&mm).map(|(a, b)| a * b != 0).collect();
                    ssd_steps(&ctx, &ws, &wm, Some(&mask))
                }
            };
            let fw = prepare_step(fw, lv, ndim);
            smap.forward = compose_into(&smap.forward, &fw, &lgrid, o.step_length, o, ctl)?;
            let bw = prepare_step(bw, lv, ndim);
            mmap.forward = compose_into(&mmap.forward, &bw, &lgrid, o.step_length, o, ctl)?;
            let total = fe + be;
            let der = if elist.len() >= ENERGY_WINDOW {
                energy_derivative(&elist)
            } else {
                f64::INFINITY
            };
            elist.push(total);
            // the four inversions
            let sp = Some(lv.spacing);
            let inv_of = |d: &[f32], start: &[f32]| -> Result<Vec<f32>> {
                outer.check()?;
                let f = Field::new(d, &lgrid, "field")?;
                Ok(invert_field_spacing(f, Some(start), &inv, sp, ctl)?.0)
            };
            smap.backward = inv_of(&smap.forward, &smap.backward)?;
            mmap.backward = inv_of(&mmap.forward, &mmap.backward)?;
            smap.forward = inv_of(&smap.backward, &smap.forward)?;
            mmap.forward = inv_of(&mmap.backward, &mmap.forward)?;
            if let Some(cb) = on_iter {
                cb(level, niter, total);
            }
            derivative = der;
            niter += 1;
            outer.advance(1);
        }
        energies.push(elist);
        iterations.push(niter);
    }
    // static_to_moving = moving_to_ref.warp_endomorphism(static_to_ref.inverse()).inverse()
    let dgrid = Grid {
        dims: mmap.dims,
        ndim,
        affine: mmap.g2w,
    };
    let comp = |a: &[f32], b: &[f32]| -> Result<Vec<f32>> {
        let fa = Field::new(a, &dgrid, "field")?;
        let fb = Field::new(b, &dgrid, "field")?;
        Ok(compose_fields(fa, fb, 1.0, o.threads, ctl)?.0)
    };
    outer.check()?;
    let forward = comp(&mmap.forward, &smap.backward)?;
    let backward = comp(&smap.forward, &mmap.backward)?;
    outer.set_total(total);
    outer.advance(total);
    Ok(SynResult {
        forward,
        backward,
        geometry: MapGeometry {
            disp_grid: dgrid,
            domain: moving.grid.clone(),
            codomain: stat.grid.clone(),
            prealign: pre,
        },
        energies,
        iterations,
    })
}

/// What a metric needs to know about the level being optimised.
struct StepContext<'a> {
    lv: &'a scale::Level,
    /// DIPY's level index (0 = finest).
    level: usize,
    levels: usize,
    ndim: usize,
    direction: &'a Affine,
    o: &'a SynOptions,
}

/// The CC metric's forward and backward steps (smoothed, planar) and energies.
fn cc_steps(c: &StepContext<'_>, ws: &[f32], wm: &[f32]) -> (Vec<f32>, f64, Vec<f32>, f64) {
    let (lv, ndim, radius) = (c.lv, c.ndim, c.o.radius());
    let fac = if ndim == 3 {
        cc::factors_3d(ws, wm, lv.dims, radius)
    } else {
        cc::factors_2d(ws, wm, lv.dims, radius)
    };
    let grad_m = oriented_gradient(wm, lv, c.direction, ndim);
    let grad_s = oriented_gradient(ws, lv, c.direction, ndim);
    let (mut fw, energy) = cc::step(&grad_s, &fac, lv.dims, ndim, radius, true);
    let (mut bw, _) = cc::step(&grad_m, &fac, lv.dims, ndim, radius, false);
    smooth_step(&mut fw, lv.dims, ndim, c.o.sigma_diff());
    smooth_step(&mut bw, lv.dims, ndim, c.o.sigma_diff());
    // DIPY's backward energy is the metric's stored (forward) energy
    (fw, energy, bw, energy)
}

/// The SSD (`mask` None) or EM (`mask`: the sampling mask) metric's forward and backward steps
/// (planar; demons steps smoothed) and energies (DIPY's `initialize_iteration`,
/// `compute_forward`, `compute_backward`).
fn ssd_steps(
    c: &StepContext<'_>,
    ws: &[f32],
    wm: &[f32],
    mask: Option<&[bool]>,
) -> (Vec<f32>, f64, Vec<f32>, f64) {
    let (lv, ndim, o) = (c.lv, c.ndim, c.o);
    let dims = lv.dims;
    let mut grad_m = oriented_gradient(wm, lv, c.direction, ndim);
    let mut grad_s = oriented_gradient(ws, lv, c.direction, ndim);
    let ws_c = ssd::scalar_to_c(ws, dims);
    let wm_c = ssd::scalar_to_c(wm, dims);
    // EM: each image's classes, the other image's mean and variance per class (C order)
    let em = mask.map(|mask| {
        let mask_c: Vec<bool> = {
            let m: Vec<f32> = mask.iter().map(|&b| f32::from(u8::from(b))).collect();
            ssd::scalar_to_c(&m, dims)
                .iter()
                .map(|&v| v != 0.0)
                .collect()
        };
        let q = o.q_levels();
        let fields = |img: &[f32], other: &[f32]| -> (Vec<f32>, Vec<f32>) {
            let labels = em::quantize_positive(img, q);
            let (mut means, vars) = em::class_stats(&mask_c, other, q, &labels);
            means[0] = 0.0;
            let mf = labels.iter().map(|&l| means[l as usize]).collect();
            let sf = labels.iter().map(|&l| vars[l as usize]).collect();
            (mf, sf)
        };
        let (s_means, s_sigma) = fields(&ws_c, &wm_c);
        let (m_means, m_sigma) = fields(&wm_c, &ws_c);
        (s_means, s_sigma, m_means, m_sigma)
    });
    if let (Some((s_means, _, m_means, _)), true) = (&em, o.double_gradient()) {
        // the gradient of the expected image under the other modality, added unscaled
        for (grad, means) in [(&mut grad_m, s_means), (&mut grad_s, m_means)] {
            let g = cc::gradient(&ssd::scalar_from_c(means, dims), dims, ndim);
            for (gc, add) in grad.iter_mut().zip(&g) {
                gc.par_iter_mut()
                    .with_min_len(4096)
                    .zip(add)
                    .for_each(|(a, b)| *a += *b);
            }
        }
    }
    let grad_s = ssd::vector_to_c(&grad_s, dims);
    let grad_m = ssd::vector_to_c(&grad_m, dims);
    let sub = |a: &[f32], b: &[f32]| -> Vec<f32> {
        a.par_iter()
            .with_min_len(4096)
            .zip(b)
            .map(|(x, y)| x - y)
            .collect()
    };
    let shape = ssd::Shape::new(dims, ndim);
    let step = |delta: &[f32], sigma: Option<&[f32]>, grad: &[f32]| -> (Vec<f32>, f64) {
        let (st, e) = match o.step_type() {
            StepType::Demons => {
                let sp = &lv.spacing;
                let mut ss = sp[0] * sp[0] + sp[1] * sp[1];
                if ndim == 3 {
                    ss += sp[2] * sp[2];
                }
                ssd::demons_step(delta, sigma, grad, ndim, ss / ndim as f64)
            }
            StepType::GaussNewton => {
                let mut d = vec![0.0f32; delta.len() * ndim];
                let sys = ssd::System {
                    shape,
                    delta,
                    sigma,
                    grad,
                    target: None,
                    lambda: o.smooth(),
                };
                let e = ssd::v_cycle(c.levels - c.level, o.inner_iter(), &sys, &mut d);
                (d, e)
            }
        };
        let mut st = ssd::vector_from_c(&st, dims, ndim);
        if o.step_type() == StepType::Demons {
            smooth_step(&mut st, dims, ndim, o.smooth());
        }
        (st, e)
    };
    let gn = o.step_type() == StepType::GaussNewton;
    let ((fw, fe), (bw, be)) = match &em {
        None => (
            step(&sub(&ws_c, &wm_c), None, &grad_s),
            step(&sub(&wm_c, &ws_c), None, &grad_m),
        ),
        Some((s_means, s_sigma, m_means, m_sigma)) if gn => (
            step(&sub(s_means, &wm_c), Some(s_sigma), &grad_s),
            step(&sub(m_means, &ws_c), Some(m_sigma), &grad_m),
        ),
        Some((s_means, s_sigma, m_means, m_sigma)) => (
            step(&sub(&ws_c, m_means), Some(m_sigma), &grad_s),
            step(&sub(&wm_c, s_means), Some(s_sigma), &grad_m),
        ),
    };
    (fw, fe, bw, be)
}

/// `x -> d(x) + t s(x + d(x))` on the level grid (DIPY's `update`).
fn compose_into(
    d: &[f32],
    s: &[f32],
    grid: &Grid,
    t: f64,
    o: &SynOptions,
    ctl: &Control,
) -> Result<Vec<f32>> {
    let fd = Field::new(d, grid, "field")?;
    let fs = Field::new(s, grid, "step")?;
    Ok(compose_fields(fd, fs, t, o.threads, ctl)?.0)
}

/// The metric's image gradient: numpy's gradient, divided by the level spacing (float64
/// division, stored float32) and re-oriented by the static image's direction. One pass per
/// voxel (the same operations per value as the three passes it replaces).
fn oriented_gradient(img: &[f32], lv: &scale::Level, dir: &Affine, ndim: usize) -> Vec<Vec<f32>> {
    const TASK: usize = 4096;
    let dims = lv.dims;
    let n = img.len();
    let sp = lv.spacing;
    let strides = [1, dims[0], dims[0] * dims[1]];
    let mut out = vec![0.0f32; ndim * n];
    let planes = crate::chunks::Planes::<f32, 3>::new_padded(&mut out, n, ndim);
    (0..n.div_ceil(TASK)).into_par_iter().for_each(|t| {
        let r = t * TASK..((t + 1) * TASK).min(n);
        planes.check(&r);
        let mut xyz = crate::compose::coords(r.start, dims);
        for i in r {
            let g = |a: usize| {
                let v = cc::gradient_at(img, i, strides[a], xyz[a], dims[a]);
                (v as f64 / sp[a]) as f32
            };
            let o: [f32; 3] = if ndim == 3 {
                let x = [g(0) as f64, g(1) as f64, g(2) as f64];
                [
                    dir.apply3(0, x, 0.0) as f32,
                    dir.apply3(1, x, 0.0) as f32,
                    dir.apply3(2, x, 0.0) as f32,
                ]
            } else {
                let x = [g(0) as f64, g(1) as f64];
                [
                    dir.apply2(0, x, 0.0) as f32,
                    dir.apply2(1, x, 0.0) as f32,
                    0.0,
                ]
            };
            for (c, v) in o.iter().enumerate().take(ndim) {
                // SAFETY: i lies in this task's range (checked above), c < ndim planes
                unsafe { planes.set(c, i, *v) };
            }
            crate::compose::step(&mut xyz, dims);
        }
    });
    out.chunks_exact(n).map(|c| c.to_vec()).collect()
}

/// Smooths each of the `ndim` planes of a step with SciPy's `gaussian_filter(sigma)`.
fn smooth_step(st: &mut [f32], dims: [usize; 3], ndim: usize, sigma: f64) {
    let n = dims[0] * dims[1] * dims[2];
    for c in 0..ndim {
        gauss::gaussian_filter(&mut st[c * n..(c + 1) * n], dims, ndim, &[sigma; 3]);
    }
}

/// Zeroes the grid's border and divides by the largest norm in voxels (DIPY's `_iterate`).
fn prepare_step(mut st: Vec<f32>, lv: &scale::Level, ndim: usize) -> Vec<f32> {
    let dims = lv.dims;
    let n = dims[0] * dims[1] * dims[2];
    // rows along x: a row on the border of y (or z, in 3D) is zeroed whole, any other row at
    // its two ends
    st.par_chunks_mut(dims[0])
        .with_min_len(64)
        .enumerate()
        .for_each(|(row, v)| {
            let (y, z) = (row % dims[1], (row / dims[1]) % dims[2]);
            let edge = |p: usize, m: usize| p == 0 || p == m - 1;
            if edge(y, dims[1]) || (ndim == 3 && edge(z, dims[2])) {
                v.fill(0.0);
            } else {
                v[0] = 0.0;
                v[dims[0] - 1] = 0.0;
            }
        });
    let sp = lv.spacing;
    let nrm = (0..n)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| {
            let q = |c: usize| {
                let v = st[c * n + i] as f64 / sp[c];
                v * v
            };
            // numpy's sum over the last axis: the first term plus the rest in order
            let s = if ndim == 3 {
                q(0) + (q(1) + q(2))
            } else {
                q(0) + q(1)
            };
            s.sqrt()
        })
        .reduce(|| f64::NEG_INFINITY, f64::max);
    if nrm > 0.0 {
        st.par_iter_mut()
            .with_min_len(4096)
            .for_each(|v| *v = (*v as f64 / nrm) as f32);
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxelkit_core::Code;

    fn ball(n: usize) -> Vec<f32> {
        let c = n as f32 / 2.0;
        (0..n * n * n)
            .map(|i| {
                let (x, y, z) = (i % n, (i / n) % n, i / (n * n));
                let r2 = (x as f32 - c).powi(2) + (y as f32 - c).powi(2) + (z as f32 - c).powi(2);
                (-(r2 / 20.0)).exp()
            })
            .collect()
    }

    fn run(
        st: &[f32],
        sg: &Grid,
        mv: &[f32],
        mg: &Grid,
        pre: Option<&Affine>,
        o: &SynOptions,
    ) -> Result<SynResult> {
        register_syn(
            Image { data: st, grid: sg },
            Image { data: mv, grid: mg },
            pre,
            o,
            None,
            &Control::default(),
        )
    }

    fn g3(n: usize) -> Grid {
        Grid::new(&[n, n, n], &Affine::IDENTITY.to_vec(), "g").unwrap()
    }

    #[test]
    fn bad_inputs_are_coded_errors() {
        let (g, s) = (g3(12), ball(12));
        let one = SynOptions {
            level_iters: vec![1],
            ..SynOptions::default()
        };
        let code = |r: Result<SynResult>| r.unwrap_err().code;
        let bad = [
            SynOptions {
                level_iters: vec![],
                ..one.clone()
            },
            SynOptions {
                level_iters: vec![MAX_LEVEL_ITERS + 1],
                ..one.clone()
            },
            SynOptions {
                step_length: f64::NAN,
                ..one.clone()
            },
            SynOptions {
                step_length: 0.0,
                ..one.clone()
            },
            SynOptions {
                inv_tol: -1.0,
                ..one.clone()
            },
            SynOptions {
                opt_tol: f64::INFINITY,
                ..one.clone()
            },
            SynOptions {
                radius: Some(0),
                ..one.clone()
            },
            SynOptions {
                smooth: Some(1.0),
                ..one.clone()
            },
            SynOptions {
                metric: Metric::Ssd,
                q_levels: Some(16),
                ..one.clone()
            },
            SynOptions {
                metric: Metric::Em,
                radius: Some(2),
                ..one.clone()
            },
            SynOptions {
                metric: Metric::Ssd,
                smooth: Some(-1.0),
                ..one.clone()
            },
            SynOptions {
                metric: Metric::Em,
                smooth: Some(f64::NAN),
                ..one.clone()
            },
            SynOptions {
                metric: Metric::Em,
                q_levels: Some(1),
                ..one.clone()
            },
            SynOptions {
                metric: Metric::Ssd,
                inner_iter: Some(MAX_INNER_ITER + 1),
                ..one.clone()
            },
            SynOptions {
                ss_sigma_factor: -0.1,
                ..one.clone()
            },
        ];
        for o in bad {
            assert_eq!(code(run(&s, &g, &s, &g, None, &o)), Code::Setting, "{o:?}");
        }
        // three levels of a 12^3 image: the coarsest (3^3) is smaller than the 9-voxel window
        assert_eq!(
            code(run(&s, &g, &s, &g, None, &SynOptions::default())),
            Code::Shape
        );
        // a constant image cannot be normalised
        let flat = vec![1.0f32; s.len()];
        assert_eq!(code(run(&flat, &g, &s, &g, None, &one)), Code::Format);
        // non-finite values
        let mut nan = s.clone();
        nan[5] = f32::NAN;
        assert_eq!(code(run(&s, &g, &nan, &g, None, &one)), Code::Format);
        // length and dimension mismatches
        assert_eq!(code(run(&s[1..], &g, &s, &g, None, &one)), Code::Shape);
        let g2 = Grid::new(&[12, 12], &Affine::IDENTITY.to_vec(), "g").unwrap();
        assert_eq!(code(run(&s, &g, &s[..144], &g2, None, &one)), Code::Shape);
        // singular or non-finite prealign
        let mut p = Affine::IDENTITY;
        p.m[0][0] = 0.0;
        assert_eq!(code(run(&s, &g, &s, &g, Some(&p), &one)), Code::Setting);
        p.m[0][0] = f64::NAN;
        assert_eq!(code(run(&s, &g, &s, &g, Some(&p), &one)), Code::Setting);
    }

    #[test]
    fn cancelled_run_is_aborted() {
        let (g, s) = (g3(12), ball(12));
        let ctl = Control::default();
        ctl.cancel();
        let o = SynOptions {
            level_iters: vec![2],
            ..SynOptions::default()
        };
        let e = register_syn(
            Image { data: &s, grid: &g },
            Image { data: &s, grid: &g },
            None,
            &o,
            None,
            &ctl,
        )
        .unwrap_err();
        assert_eq!(e.code, Code::Aborted);
    }

    #[test]
    fn derivative_of_a_quadratic_profile() {
        // y = (x - 3)^2 over the window: fitted exactly; the slope at x0 = 6 of the normalised
        // profile is 2 (6 - 3) / -(sum)
        let e: Vec<f64> = (0..ENERGY_WINDOW)
            .map(|x| ((x as f64) - 3.0).powi(2))
            .collect();
        let s: f64 = e.iter().sum();
        let d = energy_derivative(&e);
        assert!((d - 6.0 / -s).abs() < 1e-12, "{d}");
    }
}
