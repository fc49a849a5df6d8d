//! DIPY's sum-of-squared-differences kernels (`dipy.align.sumsqdiff`, and the V-cycle of
//! `dipy.align.metrics`), which the EM metric shares: the demons step, the Gauss-Seidel
//! iteration of the linearised SSD (or EM) system, its residual, the energy, and the
//! multi-resolution V-cycle (Bruhn et al. 2005) that solves the system.
//!
//! The system at each voxel `x` (`g` the image gradient, `δ` the intensity difference, `σ²` the
//! per-voxel variance, 1 for SSD, `λ` the smoothness weight, `N(x)` the 4 or 6 grid neighbours):
//!
//! ```text
//! (g gᵀ + σ² λ |N(x)|) u(x) = δ g + σ² λ Σ_{y ∈ N(x)} u(y)
//! ```
//!
//! solved in place voxel after voxel (Gauss-Seidel), then on a grid of half the size for the
//! residual, then again in place.
//!
//! Arrays here use DIPY's layout, C order (`[x][y][z]` with the last axis fastest, vectors
//! interleaved), because the Gauss-Seidel sweep updates voxels in that order and reads the
//! neighbours already updated. The 2D sweep runs in DIPY's order; the 3D sweep is pipelined
//! (slices a row apart, on several threads) so that it reproduces the sequential sweep exactly
//! (see `iterate_3d`). Everything else (residuals, demons steps, down-sampling) is per voxel and
//! runs in parallel; the energies are summed in DIPY's order. Arithmetic follows DIPY's C
//! types: products of two float32 values are formed in float32 where DIPY's Cython multiplies
//! two `floating` values, in float64 where one operand is a `double`.

use rayon::prelude::*;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU32, AtomicUsize};

/// Chunks of `per` values per rayon task: at least [`GRAIN`] values, so that small grids (the
/// V-cycle's coarse levels) run on the calling thread.
fn grain(per: usize) -> usize {
    GRAIN.div_ceil(per.max(1))
}

/// Values per rayon task, at least.
const GRAIN: usize = 16384;

/// A C-order scalar field `[n0][n1][n2]` (2D: `n2 == 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub n: [usize; 3],
    pub ndim: usize,
}

impl Shape {
    pub fn new(dims: [usize; 3], ndim: usize) -> Shape {
        Shape {
            n: [dims[0], dims[1], if ndim == 3 { dims[2] } else { 1 }],
            ndim,
        }
    }
    pub fn len(&self) -> usize {
        self.n[0] * self.n[1] * self.n[2]
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The shape DIPY's `downsample_*_field` gives: `(n + 1) // 2` per axis.
    pub fn half(&self) -> Shape {
        let h = |n: usize| n.div_ceil(2);
        Shape {
            n: [
                h(self.n[0]),
                h(self.n[1]),
                if self.ndim == 3 { h(self.n[2]) } else { 1 },
            ],
            ndim: self.ndim,
        }
    }
}

/// voxelkit's layout (first axis fastest; vectors as `ndim` planes) to DIPY's C order.
pub fn scalar_to_c(v: &[f32], dims: [usize; 3]) -> Vec<f32> {
    let (nx, ny, nz) = (dims[0], dims[1], dims[2]);
    let mut out = vec![0.0f32; v.len()];
    out.par_chunks_mut(ny * nz)
        .with_min_len(grain(ny * nz))
        .enumerate()
        .for_each(|(x, o)| {
            for y in 0..ny {
                for z in 0..nz {
                    o[y * nz + z] = v[x + nx * (y + ny * z)];
                }
            }
        });
    out
}

/// DIPY's C order back to voxelkit's layout.
pub fn scalar_from_c(v: &[f32], dims: [usize; 3]) -> Vec<f32> {
    let (nx, ny, nz) = (dims[0], dims[1], dims[2]);
    let mut out = vec![0.0f32; v.len()];
    out.par_chunks_mut(nx)
        .with_min_len(grain(nx))
        .enumerate()
        .for_each(|(yz, o)| {
            let (y, z) = (yz % ny, yz / ny);
            for (x, ov) in o.iter_mut().enumerate() {
                *ov = v[(x * ny + y) * nz + z];
            }
        });
    out
}

/// Planar vectors (`ndim` planes, voxelkit's layout) to interleaved C order.
pub fn vector_to_c(planes: &[Vec<f32>], dims: [usize; 3]) -> Vec<f32> {
    let nd = planes.len();
    let cs: Vec<Vec<f32>> = planes.iter().map(|p| scalar_to_c(p, dims)).collect();
    let n = cs[0].len();
    let mut out = vec![0.0f32; n * nd];
    out.par_chunks_mut(nd)
        .with_min_len(GRAIN)
        .enumerate()
        .for_each(|(i, o)| {
            for (c, ov) in o.iter_mut().enumerate() {
                *ov = cs[c][i];
            }
        });
    out
}

/// Interleaved C-order vectors to voxelkit's planar layout (`ndim` planes in one vector).
pub fn vector_from_c(v: &[f32], dims: [usize; 3], nd: usize) -> Vec<f32> {
    let n = v.len() / nd;
    let mut out = Vec::with_capacity(v.len());
    for c in 0..nd {
        let plane: Vec<f32> = (0..n)
            .into_par_iter()
            .with_min_len(GRAIN)
            .map(|i| v[i * nd + c])
            .collect();
        out.extend(scalar_from_c(&plane, dims));
    }
    out
}

/// The demons step of the SSD metric (`compute_ssd_demons_step_2d/3d`): `out = δ g / (δ² / σ²ₓ
/// + |g|²)` (zero where the denominator is below 1e-9), and the energy `Σ δ²`. `delta` C order,
/// `grad` interleaved C order. With `sigma` (the EM metric's `compute_em_demons_step_*`):
/// `out = σ²ₓ δ g / (σ²ₓ |g|² + σ²)`, zero where `σ²` is infinite, `δ g / |g|²` where it is 0.
pub fn demons_step(
    delta: &[f32],
    sigma: Option<&[f32]>,
    grad: &[f32],
    nd: usize,
    sigma_sq_x: f64,
) -> (Vec<f32>, f64) {
    let n = delta.len();
    let mut out = vec![0.0f32; n * nd];
    out.par_chunks_mut(nd)
        .with_min_len(GRAIN)
        .enumerate()
        .for_each(|(i, o)| {
            let d = delta[i] as f64;
            let g = &grad[i * nd..(i + 1) * nd];
            match sigma {
                None => {
                    // DIPY: float32 squares summed in float32
                    let nrm2 = if nd == 3 {
                        g[0] * g[0] + g[1] * g[1] + g[2] * g[2]
                    } else {
                        g[0] * g[0] + g[1] * g[1]
                    } as f64;
                    let den = d * d / sigma_sq_x + nrm2;
                    if !(den < 1e-9) {
                        for (c, ov) in o.iter_mut().enumerate() {
                            *ov = (d * g[c] as f64 / den) as f32;
                        }
                    }
                }
                Some(s) => {
                    let si = s[i] as f64;
                    if si.is_infinite() {
                        return;
                    }
                    let nrm2 = if nd == 3 {
                        g[0] * g[0] + g[1] * g[1] + g[2] * g[2]
                    } else {
                        g[0] * g[0] + g[1] * g[1]
                    } as f64;
                    if si == 0.0 {
                        if nrm2 != 0.0 {
                            for (c, ov) in o.iter_mut().enumerate() {
                                *ov = (d * g[c] as f64 / nrm2) as f32;
                            }
                        }
                    } else {
                        let den = sigma_sq_x * nrm2 + si;
                        let prod = sigma_sq_x * d;
                        for (c, ov) in o.iter_mut().enumerate() {
                            *ov = (prod * g[c] as f64 / den) as f32;
                        }
                    }
                }
            }
        });
    let mut energy = 0.0f64;
    for &v in delta {
        let d = v as f64;
        energy += d * d;
    }
    (out, energy)
}

/// `compute_energy_ssd_2d/3d`: `Σ δ²` with float32 squares, summed in C order.
pub fn energy(delta: &[f32]) -> f64 {
    let mut e = 0.0f64;
    for &v in delta {
        e += (v * v) as f64;
    }
    e
}

const N2: [[isize; 2]; 4] = [[-1, 0], [0, 1], [1, 0], [0, -1]];
const N3: [[isize; 3]; 6] = [
    [-1, 0, 0],
    [0, -1, 0],
    [0, 0, 1],
    [0, 1, 0],
    [0, 0, -1],
    [1, 0, 0],
];

/// The in-bounds neighbours of `(i, j, k)` in DIPY's order, as flat C indices.
#[inline(always)]
fn neighbours(sh: &Shape, p: [usize; 3], out: &mut [usize; 6]) -> usize {
    let mut m = 0;
    if sh.ndim == 2 {
        for d in N2 {
            let (a, b) = (p[0] as isize + d[0], p[1] as isize + d[1]);
            if a < 0 || a >= sh.n[0] as isize || b < 0 || b >= sh.n[1] as isize {
                continue;
            }
            out[m] = a as usize * sh.n[1] + b as usize;
            m += 1;
        }
    } else {
        for d in N3 {
            let (a, b, c) = (
                p[0] as isize + d[0],
                p[1] as isize + d[1],
                p[2] as isize + d[2],
            );
            if a < 0
                || a >= sh.n[0] as isize
                || b < 0
                || b >= sh.n[1] as isize
                || c < 0
                || c >= sh.n[2] as isize
            {
                continue;
            }
            out[m] = (a as usize * sh.n[1] + b as usize) * sh.n[2] + c as usize;
            m += 1;
        }
    }
    m
}

/// DIPY's `_solve_3d_symmetric_positive_definite`: `(g gᵀ + τ I) x = y` by elimination;
/// `None` when a pivot is below 1e-9.
#[inline(always)]
fn solve3(g: [f64; 3], y: [f64; 3], tau: f64) -> Option<[f64; 3]> {
    let a = g[0] * g[0] + tau;
    if a < 1e-9 {
        return None;
    }
    let b = g[0] * g[1];
    let sub_det = a * (g[1] * g[1] + tau) - b * b;
    if sub_det < 1e-9 {
        return None;
    }
    let c = g[0] * g[2];
    let d = (a * (g[1] * g[1] + tau) - b * b) / a;
    let e = (a * (g[1] * g[2]) - b * c) / a;
    let f = (a * (g[2] * g[2] + tau) - c * c) / a - (e * e * a) / sub_det;
    if f < 1e-9 {
        return None;
    }
    let y0 = y[0];
    let y1 = (y[1] * a - y0 * b) / a;
    let y2 = (y[2] * a - c * y0) / a - (e * (y[1] * a - b * y0)) / sub_det;
    let o2 = y2 / f;
    let o1 = (y1 - e * o2) / d;
    let o0 = (y0 - b * o1 - c * o2) / a;
    Some([o0, o1, o2])
}

/// The linear system of one V-cycle level.
pub struct System<'a> {
    pub shape: Shape,
    /// `δ`, C order.
    pub delta: &'a [f32],
    /// `σ²` per voxel (EM), C order; `None`: 1 everywhere (SSD).
    pub sigma: Option<&'a [f32]>,
    /// `g`, interleaved C order.
    pub grad: &'a [f32],
    /// The right-hand side (interleaved); `None`: `δ g`.
    pub target: Option<&'a [f32]>,
    pub lambda: f64,
}

/// One Gauss-Seidel sweep (`iterate_residual_displacement_field_ssd_2d/3d`) over `disp`
/// (interleaved C order), in place; returns the largest change of a voxel's displacement.
pub fn iterate(sys: &System<'_>, disp: &mut [f32]) -> f64 {
    if sys.shape.ndim == 2 {
        iterate_2d(sys, disp)
    } else {
        iterate_3d(sys, disp)
    }
}

fn iterate_2d(sys: &System<'_>, disp: &mut [f32]) -> f64 {
    let sh = &sys.shape;
    let lambda = sys.lambda;
    let mut nb = [0usize; 6];
    let mut max_d = 0.0f64;
    for r in 0..sh.n[0] {
        for c in 0..sh.n[1] {
            let i = r * sh.n[1] + c;
            let sigmasq = sys.sigma.map_or(1.0, |s| s[i] as f64);
            let (g0, g1) = (sys.grad[2 * i], sys.grad[2 * i + 1]);
            let b = match sys.target {
                None => [(sys.delta[i] * g0) as f64, (sys.delta[i] * g1) as f64],
                Some(t) => [t[2 * i] as f64, t[2 * i + 1] as f64],
            };
            let nn = neighbours(sh, [r, c, 0], &mut nb);
            let mut y = [0.0f64; 2];
            for &j in &nb[..nn] {
                y[0] += disp[2 * j] as f64;
                y[1] += disp[2 * j + 1] as f64;
            }
            if sigmasq.is_infinite() {
                let xx = disp[2 * i] as f64;
                let yy = disp[2 * i + 1] as f64;
                disp[2 * i] = (y[0] / nn as f64) as f32;
                disp[2 * i + 1] = (y[1] / nn as f64) as f32;
                let (xx, yy) = (xx - disp[2 * i] as f64, yy - disp[2 * i + 1] as f64);
                max_d = max_d.max(xx * xx + yy * yy);
                continue;
            }
            let a0 = (g0 * g0) as f64 + sigmasq * lambda * nn as f64;
            let a1 = (g0 * g1) as f64;
            let a2 = (g1 * g1) as f64 + sigmasq * lambda * nn as f64;
            let det = a0 * a2 - a1 * a1;
            if det < 1e-9 {
                let nrm2 = (g0 * g0 + g1 * g1) as f64;
                if nrm2 < 1e-9 {
                    disp[2 * i] = 0.0;
                    disp[2 * i + 1] = 0.0;
                } else {
                    disp[2 * i] = (b[0] / nrm2) as f32;
                    disp[2 * i + 1] = (b[1] / nrm2) as f32;
                }
            } else {
                let y0 = b[0] + sigmasq * lambda * y[0];
                let y1 = b[1] + sigmasq * lambda * y[1];
                let d1 = (a0 * y1 - a1 * y0) / det;
                let d0 = (y0 - a1 * d1) / a0;
                let xx = disp[2 * i] as f64 - d0;
                let yy = disp[2 * i + 1] as f64 - d1;
                disp[2 * i] = d0 as f32;
                disp[2 * i + 1] = d1 as f32;
                max_d = max_d.max(xx * xx + yy * yy);
            }
        }
    }
    max_d.sqrt()
}

/// What one voxel of a 3D sweep does, known before the sweep (it depends on `g`, `σ²`, `λ` and
/// the neighbour count only).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `σ²` infinite: the mean of the neighbours.
    Inf,
    /// `σ² < 1e-9`: `δ g / |g|²`.
    NoVariance,
    /// A singular system: DIPY keeps the previous voxel's solution.
    Singular,
    /// The regular solve.
    Solve,
}

#[inline(always)]
fn kind3(sys: &System<'_>, i: usize, nn: usize) -> Kind {
    let sigmasq = sys.sigma.map_or(1.0, |s| s[i] as f64);
    if sigmasq.is_infinite() {
        return Kind::Inf;
    }
    if sigmasq < 1e-9 {
        return Kind::NoVariance;
    }
    let g = [
        sys.grad[3 * i] as f64,
        sys.grad[3 * i + 1] as f64,
        sys.grad[3 * i + 2] as f64,
    ];
    match solve3(g, [0.0; 3], sigmasq * sys.lambda * nn as f64) {
        Some(_) => Kind::Solve,
        None => Kind::Singular,
    }
}

/// One voxel of DIPY's 3D sweep, in place; `d` is DIPY's solution buffer (kept across voxels).
/// Returns the squared change (0 where DIPY does not count it).
#[inline(always)]
fn voxel3(sys: &System<'_>, disp: &[AtomicU32], p: [usize; 3], d: &mut [f64; 3]) -> f64 {
    let sh = &sys.shape;
    let lambda = sys.lambda;
    let i = (p[0] * sh.n[1] + p[1]) * sh.n[2] + p[2];
    let g = [
        sys.grad[3 * i] as f64,
        sys.grad[3 * i + 1] as f64,
        sys.grad[3 * i + 2] as f64,
    ];
    let sigmasq = sys.sigma.map_or(1.0, |s| s[i] as f64);
    let b = match sys.target {
        None => {
            let dl = sys.delta[i] as f64;
            [dl * g[0], dl * g[1], dl * g[2]]
        }
        Some(t) => [t[3 * i] as f64, t[3 * i + 1] as f64, t[3 * i + 2] as f64],
    };
    let mut y = [0.0f64; 3];
    let nn = if p[0] > 0
        && p[0] + 1 < sh.n[0]
        && p[1] > 0
        && p[1] + 1 < sh.n[1]
        && p[2] > 0
        && p[2] + 1 < sh.n[2]
    {
        // inside: the six neighbours at fixed offsets, in DIPY's order
        let (row, sl) = (sh.n[2], sh.n[1] * sh.n[2]);
        for j in [i - sl, i - row, i + 1, i + row, i - 1, i + sl] {
            y[0] += ld(disp, 3 * j) as f64;
            y[1] += ld(disp, 3 * j + 1) as f64;
            y[2] += ld(disp, 3 * j + 2) as f64;
        }
        6
    } else {
        let mut nb = [0usize; 6];
        let nn = neighbours(sh, p, &mut nb);
        for &j in &nb[..nn] {
            for k in 0..3 {
                y[k] += ld(disp, 3 * j + k) as f64;
            }
        }
        nn
    };
    let here = 3 * i;
    if sigmasq.is_infinite() {
        let mut dd = [0.0f64; 3];
        for k in 0..3 {
            let old = ld(disp, here + k) as f64;
            let new = (y[k] / nn as f64) as f32;
            st(disp, here + k, new);
            dd[k] = old - new as f64;
        }
        return dd[0] * dd[0] + dd[1] * dd[1] + dd[2] * dd[2];
    }
    let by_norm = || -> [f32; 3] {
        let nrm2 = g[0] * g[0] + g[1] * g[1] + g[2] * g[2];
        std::array::from_fn(|k| {
            if nrm2 < 1e-9 {
                0.0
            } else {
                (b[k] / nrm2) as f32
            }
        })
    };
    if sigmasq < 1e-9 {
        let v = by_norm();
        for k in 0..3 {
            st(disp, here + k, v[k]);
        }
        return 0.0;
    }
    let tau = sigmasq * lambda * nn as f64;
    let yy: [f64; 3] = std::array::from_fn(|k| b[k] + sigmasq * lambda * y[k]);
    // the value the voxel holds before the solution is written: its own, or DIPY's δ g / |g|²
    // where the system is singular (then overwritten by the stale solution)
    let before: [f32; 3] = match solve3(g, yy, tau) {
        Some(sol) => {
            *d = sol;
            std::array::from_fn(|k| ld(disp, here + k))
        }
        None => by_norm(),
    };
    let dd: [f64; 3] = std::array::from_fn(|k| before[k] as f64 - d[k]);
    for k in 0..3 {
        st(disp, here + k, d[k] as f32);
    }
    dd[0] * dd[0] + dd[1] * dd[1] + dd[2] * dd[2]
}

#[inline(always)]
fn ld(a: &[AtomicU32], i: usize) -> f32 {
    f32::from_bits(a[i].load(Relaxed))
}

#[inline(always)]
fn st(a: &[AtomicU32], i: usize, v: f32) {
    a[i].store(v.to_bits(), Relaxed)
}

/// `disp` as atomics (the 3D sweep's threads share it; relaxed loads and stores are plain
/// moves, the order between threads comes from the progress counters).
fn atomics(disp: &mut [f32]) -> &[AtomicU32] {
    // SAFETY: AtomicU32 has the size and alignment of u32 (and f32), and the exclusive borrow
    // of `disp` is held for the lifetime of the returned slice.
    unsafe { std::slice::from_raw_parts(disp.as_mut_ptr() as *const AtomicU32, disp.len()) }
}

/// Whether the interleaved sweep is exact: no slice after the first meets a singular voxel
/// before its first regular one (DIPY's carried solution then never crosses a slice).
fn lanes_exact(sys: &System<'_>) -> bool {
    let sh = sys.shape;
    (1..sh.n[0]).all(|s| {
        let mut nb = [0usize; 6];
        for r in 0..sh.n[1] {
            for c in 0..sh.n[2] {
                let i = (s * sh.n[1] + r) * sh.n[2] + c;
                match kind3(sys, i, neighbours(&sh, [s, r, c], &mut nb)) {
                    Kind::Solve => return true,
                    Kind::Singular => return false,
                    _ => {}
                }
            }
        }
        true
    })
}

/// DIPY's 3D sweep in DIPY's order.
fn iterate_3d_in_order(sys: &System<'_>, disp: &mut [f32]) -> f64 {
    let sh = sys.shape;
    let disp = atomics(disp);
    let mut max_d = 0.0f64;
    let mut d = [0.0f64; 3];
    for s in 0..sh.n[0] {
        for r in 0..sh.n[1] {
            for c in 0..sh.n[2] {
                max_d = max_d.max(voxel3(sys, disp, [s, r, c], &mut d));
            }
        }
    }
    max_d.sqrt()
}

/// Grids from this many voxels sweep on several threads.
const PAR_SWEEP: usize = 1 << 15;

/// Slices swept together, each a row behind the previous one (see [`iterate_3d`]).
const LANES: usize = 4;

/// DIPY's 3D sweep. Voxel `(s, r, c)` reads the new values of `(s - 1, r, c)`, `(s, r - 1, c)`,
/// `(s, r, c - 1)` and the old ones of the other three neighbours, so slice `s + 1` can sweep
/// its row `r - 1` while slice `s` sweeps row `r`: [`LANES`] slices advance together, one row
/// apart, their voxels interleaved (independent chains of divisions that the CPU overlaps),
/// every voxel computing exactly what the sequential sweep computes. The one state DIPY carries
/// from voxel to voxel (the last solution, which a singular voxel keeps) stays exact as long as
/// no slice after the first meets a singular voxel before its first regular one (each lane then
/// carries its own); otherwise the sweep runs in DIPY's order. On grids of [`PAR_SWEEP`] voxels
/// or more, the groups of [`LANES`] slices are dealt to the pool's threads (scoped threads that
/// wait on each other's progress, row by row, as the dependencies above require): the same
/// values at any thread count.
fn iterate_3d(sys: &System<'_>, disp: &mut [f32]) -> f64 {
    let sh = sys.shape;
    let lanes_ok = lanes_exact(sys);
    if !lanes_ok {
        return iterate_3d_in_order(sys, disp);
    }
    let disp = atomics(disp);
    let (n0, n1) = (sh.n[0], sh.n[1]);
    let groups = n0.div_ceil(LANES);
    let lanes = |g: usize| LANES.min(n0 - g * LANES);
    let steps = |g: usize| n1 + lanes(g) - 1;
    // threads: groups of slices dealt round robin; group g may sweep its step t once group
    // g - 1 has swept step t + LANES - 1 (its last slice's row t: the slice below g's first)
    let threads = if sh.len() >= PAR_SWEEP && groups >= 2 {
        rayon::current_num_threads().min(groups)
    } else {
        1
    };
    let progress: Vec<AtomicUsize> = (0..groups).map(|_| AtomicUsize::new(0)).collect();
    let worker = |w: usize| -> f64 {
        let mut max_d = 0.0f64;
        let mut ds = [[0.0f64; 3]; LANES];
        for g in (w..groups).step_by(threads) {
            let s0 = g * LANES;
            for t in 0..steps(g) {
                if g > 0 && threads > 1 {
                    let need = (t + LANES).min(steps(g - 1));
                    let mut spins = 0u32;
                    while progress[g - 1].load(Acquire) < need {
                        spins += 1;
                        if spins < 64 {
                            std::hint::spin_loop();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                }
                // the lanes with a row at this step
                let lo = (t + 1).saturating_sub(n1);
                let hi = lanes(g).min(t + 1);
                for c in 0..sh.n[2] {
                    for (j, d) in ds.iter_mut().enumerate().take(hi).skip(lo) {
                        max_d = max_d.max(voxel3(sys, disp, [s0 + j, t - j, c], d));
                    }
                }
                progress[g].store(t + 1, Release);
            }
        }
        max_d
    };
    let max_d = if threads == 1 {
        worker(0)
    } else {
        std::thread::scope(|sc| {
            let hs: Vec<_> = (1..threads)
                .map(|w| {
                    let worker = &worker;
                    sc.spawn(move || worker(w))
                })
                .collect();
            let m0 = worker(0);
            hs.into_iter()
                .map(|h| h.join().unwrap_or(f64::NAN))
                .fold(m0, f64::max)
        })
    };
    max_d.sqrt()
}

/// `compute_residual_displacement_field_ssd_2d/3d`: `target - (g gᵀ d + σ² λ Σ (d - d_y))`
/// (`-λ Σ (d - d_y)` where `σ²` is infinite), interleaved C order.
pub fn residual(sys: &System<'_>, disp: &[f32]) -> Vec<f32> {
    let sh = sys.shape;
    let nd = sh.ndim;
    let mut out = vec![0.0f32; disp.len()];
    out.par_chunks_mut(nd)
        .with_min_len(GRAIN)
        .enumerate()
        .for_each(|(i, o)| {
            let p = [
                i / (sh.n[1] * sh.n[2]),
                (i / sh.n[2]) % sh.n[1],
                i % sh.n[2],
            ];
            let sigmasq = sys.sigma.map_or(1.0, |s| s[i] as f64);
            let g = &sys.grad[i * nd..(i + 1) * nd];
            let delta = sys.delta[i] as f64;
            let mut nb = [0usize; 6];
            let nn = neighbours(&sh, p, &mut nb);
            let mut y = [0.0f64; 3];
            for &j in &nb[..nn] {
                for k in 0..nd {
                    y[k] += (disp[i * nd + k] - disp[j * nd + k]) as f64;
                }
            }
            if sigmasq.is_infinite() {
                for k in 0..nd {
                    o[k] = (-sys.lambda * y[k]) as f32;
                }
                return;
            }
            let dv = &disp[i * nd..(i + 1) * nd];
            // float32 products summed in float32, as DIPY's `floating` expression
            let dot = if nd == 3 {
                g[0] * dv[0] + g[1] * dv[1] + g[2] * dv[2]
            } else {
                g[0] * dv[0] + g[1] * dv[1]
            } as f64;
            for k in 0..nd {
                let b = match sys.target {
                    None => delta * g[k] as f64,
                    Some(t) => t[i * nd + k] as f64,
                };
                o[k] = (b - (g[k] as f64 * dot + sigmasq * sys.lambda * y[k])) as f32;
            }
        });
    out
}

/// `downsample_scalar_field_2d/3d` (`nd == 1`) and `downsample_displacement_field_2d/3d`: the
/// mean of each 2x2(x2) block (partial blocks at odd ends), summed in float32 in C order.
pub fn downsample(v: &[f32], sh: &Shape, nd: usize) -> Vec<f32> {
    let h = sh.half();
    let mut out = vec![0.0f32; h.len() * nd];
    out.par_chunks_mut(nd * h.n[1] * h.n[2])
        .with_min_len(grain(4 * nd * h.n[1] * h.n[2]))
        .enumerate()
        .for_each(|(a, o)| {
            let mut cnt = vec![0u32; h.n[1] * h.n[2]];
            // the fine slices 2a, 2a + 1 in DIPY's order
            for s in 2 * a..(2 * a + 2).min(sh.n[0]) {
                for r in 0..sh.n[1] {
                    for c in 0..sh.n[2] {
                        let j = (r / 2) * h.n[2] + c / 2;
                        let i = (s * sh.n[1] + r) * sh.n[2] + c;
                        for k in 0..nd {
                            o[j * nd + k] += v[i * nd + k];
                        }
                        cnt[j] += 1;
                    }
                }
            }
            for (j, &n) in cnt.iter().enumerate() {
                if n > 0 {
                    for k in 0..nd {
                        o[j * nd + k] /= n as f32;
                    }
                }
            }
        });
    out
}

/// DIPY's `v_cycle_2d/3d(n, k, delta, sigma, grad, target, lambda, disp)`: `k` sweeps, the
/// residual solved on the half grid (`n - 1` levels below it, `λ / 4`), the correction
/// up-sampled (`resample_displacement_field` with factors 1/2) and added, `k` sweeps; returns
/// the energy `Σ δ²`.
pub fn v_cycle(n: usize, k: usize, sys: &System<'_>, disp: &mut [f32]) -> f64 {
    for _ in 0..k {
        iterate(sys, disp);
    }
    if n == 0 {
        return energy(sys.delta);
    }
    let sh = sys.shape;
    let nd = sh.ndim;
    let h = sh.half();
    let sub_res = downsample(&residual(sys, disp), &sh, nd);
    let sub_sigma = sys.sigma.map(|s| downsample(s, &sh, 1));
    let sub_delta = downsample(sys.delta, &sh, 1);
    let sub_grad = downsample(sys.grad, &sh, nd);
    let mut sub = vec![0.0f32; h.len() * nd];
    let sub_sys = System {
        shape: h,
        delta: &sub_delta,
        sigma: sub_sigma.as_deref(),
        grad: &sub_grad,
        target: Some(&sub_res),
        lambda: sys.lambda * 0.25,
    };
    v_cycle(n - 1, k, &sub_sys, &mut sub);
    drop((sub_res, sub_sigma, sub_delta, sub_grad));
    // up-sample in voxelkit's planar layout (the proven `resample`), then add in float32
    let hd = [h.n[0], h.n[1], h.n[2]];
    let fd = [sh.n[0], sh.n[1], sh.n[2]];
    let planar = vector_from_c(&sub, hd, nd);
    let up = super::resample(&planar, hd, [0.5; 3], fd, nd);
    let nf = sh.len();
    let planes: Vec<Vec<f32>> = (0..nd).map(|c| up[c * nf..(c + 1) * nf].to_vec()).collect();
    let up = vector_to_c(&planes, fd);
    disp.par_iter_mut()
        .with_min_len(GRAIN)
        .zip(&up)
        .for_each(|(d, u)| *d += *u);
    for _ in 0..k {
        iterate(sys, disp);
    }
    energy(sys.delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip() {
        let dims = [3, 4, 5];
        let v: Vec<f32> = (0..60).map(|i| i as f32).collect();
        let c = scalar_to_c(&v, dims);
        // voxel (x, y, z) = (1, 2, 3): voxelkit index 1 + 3 (2 + 4 * 3), C index (1 * 4 + 2) * 5 + 3
        assert_eq!(c[(4 + 2) * 5 + 3], v[1 + 3 * (2 + 4 * 3)]);
        assert_eq!(scalar_from_c(&c, dims), v);
        let planes = vec![v.clone(), v.iter().map(|x| -x).collect::<Vec<_>>()];
        let ic = vector_to_c(&planes, dims);
        let back = vector_from_c(&ic, dims, 2);
        assert_eq!(&back[..60], &v[..]);
        assert_eq!(back[61], -1.0);
    }

    #[test]
    fn interleaved_sweep_equals_dipys_order() {
        // 9 slices (lane groups of 4, 4, 1), borders, infinite / zero variances, and systems
        // with singular voxels (a tiny λ): where one opens a slice the sweep falls back to
        // DIPY's order, elsewhere the lanes must give the same bits
        // (the 41x30x27 grid sweeps on 3 threads)
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (dims, lambda, zero_grad_at, lanes) in [
            ([41, 30, 27], 0.7, usize::MAX, true),
            ([9, 7, 6], 0.7, usize::MAX, true),
            ([9, 7, 6], 1e-12, 7, false),
            ([5, 3, 11], 1e-12, 3 * 11, false),
            ([2, 5, 4], 0.3, 0, true),
        ] {
            let n = dims[0] * dims[1] * dims[2];
            let h = |i: usize, k: usize| ((i * 7919 + k * 104_729) % 1000) as f32 / 1000.0 - 0.5;
            let delta: Vec<f32> = (0..n).map(|i| h(i, 1)).collect();
            let mut grad: Vec<f32> = (0..3 * n).map(|i| h(i, 2)).collect();
            for (i, g) in grad.chunks_mut(3).enumerate() {
                if i % 13 == 5 || i == zero_grad_at {
                    g.fill(0.0);
                }
            }
            let sigma: Vec<f32> = (0..n)
                .map(|i| match i % 17 {
                    3 => f32::INFINITY,
                    9 => 0.0,
                    // singular systems inside the slices
                    12 => 2e-9,
                    _ => 0.05 + h(i, 3).abs(),
                })
                .collect();
            let sys = System {
                shape: Shape::new(dims, 3),
                delta: &delta,
                sigma: Some(&sigma),
                grad: &grad,
                target: None,
                lambda,
            };
            assert_eq!(lanes_exact(&sys), lanes, "{dims:?} {lambda}");
            let singular = (0..n)
                .filter(|&i| {
                    let p = [
                        i / (dims[1] * dims[2]),
                        (i / dims[2]) % dims[1],
                        i % dims[2],
                    ];
                    let mut nb = [0usize; 6];
                    kind3(&sys, i, neighbours(&sys.shape, p, &mut nb)) == Kind::Singular
                })
                .count();
            assert!(singular > 0, "{dims:?}: no singular voxel");
            let start: Vec<f32> = (0..3 * n).map(|i| 0.1 * h(i, 4)).collect();
            let (mut a, mut b) = (start.clone(), start);
            for _ in 0..3 {
                let ra = pool.install(|| iterate(&sys, &mut a));
                let rb = iterate_3d_in_order(&sys, &mut b);
                assert_eq!(ra.to_bits(), rb.to_bits(), "{dims:?} {lambda}");
            }
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{dims:?} {lambda}"
            );
        }
    }

    #[test]
    fn solve3_solves() {
        let g = [0.3, -1.2, 0.7];
        let y = [1.0, 2.0, -0.5];
        let tau = 0.4;
        let x = solve3(g, y, tau).unwrap();
        let gx = g[0] * x[0] + g[1] * x[1] + g[2] * x[2];
        for k in 0..3 {
            assert!((g[k] * gx + tau * x[k] - y[k]).abs() < 1e-12);
        }
        assert!(solve3([0.0; 3], y, 0.0).is_none());
    }
}
