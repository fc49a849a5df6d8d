//! Composition of displacement fields, DIPY's `compose_vector_fields_3d` / `_2d`.
//!
//! For a voxel `i` of `d1`'s grid (voxel-to-world `R`), with `d2` on a grid with
//! voxel-to-world `S`:
//!
//! $$ \mathrm{comp}[i] = d_1[i] + t\, d_2\big(A i + B\, d_1[i]\big),\qquad A = S^{-1} R,\ B = S^{-1} $$
//!
//! (`B` applied to the displacement as a vector: no translation). `d2` is interpolated
//! trilinearly and only at interior points (all corners on the grid); elsewhere `comp[i] = 0`
//! and the voxel is left out of the statistics, as in DIPY. When both grids have the same
//! affine, `A` is the identity and the index is used as is (DIPY's `premult_index=None`).

use crate::affine::Affine;
use crate::chunks::{self, Planes};
use crate::interp::{vector2_full, vector3_full, Dims};
use crate::lanes::{avx2_or_baseline, compose4, has_avx2, lanes_ok, L};
use crate::{any_non_finite, Field, Real};
use voxelkit_core::{Control, Error, Result};

/// Statistics of the composed vectors' squared norms `nn = |comp[i]|²` over the voxels whose
/// target fell inside `d2`'s grid (DIPY's `stats`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComposeStats {
    /// `sqrt(max nn)`.
    pub max_norm: f64,
    /// `sqrt(mean nn)`: the root-mean-square norm.
    pub mean_norm: f64,
    /// `sqrt(mean nn² - (mean nn)²)` (DIPY's third statistic; NaN when rounding makes the
    /// radicand negative).
    pub std_norm: f64,
    /// Voxels that landed inside `d2`'s grid. When 0, `mean_norm` and `std_norm` are NaN as in
    /// DIPY 1.12 (a division by zero count).
    pub count: usize,
}

/// How a voxel of the first field is mapped into the second field's grid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Premult {
    /// `A`; `None` = identity.
    pub index: Option<Affine>,
    /// `B`, applied to the displacement vector.
    pub disp: Affine,
    pub t: f64,
}

/// One composed vector at voxel `(x, y, z)` whose first-field value is `a`; `None` when the
/// target is not interior to `d2`'s grid.
#[inline(always)]
pub(crate) fn compose_voxel<T: Real, const D: usize>(
    a: [T; D],
    xyz: [f64; 3],
    pm: &Premult,
    d2: &[&[T]; D],
    dims2: &Dims,
) -> Option<[T; D]> {
    if D == 3 {
        let af = [a[0].to_f64(), a[1].to_f64(), a[2].to_f64()];
        let dk = pm.disp.apply3(0, af, 0.0);
        let di = pm.disp.apply3(1, af, 0.0);
        let dj = pm.disp.apply3(2, af, 0.0);
        let (k, i, j) = match &pm.index {
            None => (xyz[0], xyz[1], xyz[2]),
            Some(m) => (
                m.apply3(0, xyz, 1.0),
                m.apply3(1, xyz, 1.0),
                m.apply3(2, xyz, 1.0),
            ),
        };
        let planes: &[&[T]; 3] = d2[..3].try_into().ok()?;
        let v = vector3_full(planes, dims2, k + dk, i + di, j + dj)?;
        let mut out = [T::default(); D];
        for c in 0..D {
            out[c] = T::from_f64(pm.t * v[c].to_f64() + a[c].to_f64());
        }
        Some(out)
    } else {
        let af = [a[0].to_f64(), a[1].to_f64()];
        let di = pm.disp.apply2(0, af, 0.0);
        let dj = pm.disp.apply2(1, af, 0.0);
        let (i, j) = match &pm.index {
            None => (xyz[0], xyz[1]),
            Some(m) => (
                m.apply2(0, [xyz[0], xyz[1]], 1.0),
                m.apply2(1, [xyz[0], xyz[1]], 1.0),
            ),
        };
        let planes: &[&[T]; 2] = d2[..2].try_into().ok()?;
        let v = vector2_full(planes, dims2, i + di, j + dj)?;
        let mut out = [T::default(); D];
        for c in 0..D {
            out[c] = T::from_f64(pm.t * v[c].to_f64() + a[c].to_f64());
        }
        Some(out)
    }
}

/// Voxel coordinates of linear index `v`.
#[inline(always)]
pub(crate) fn coords(v: usize, n: [usize; 3]) -> [usize; 3] {
    let x = v % n[0];
    let r = v / n[0];
    [x, r % n[1], r / n[1]]
}

/// Advances voxel coordinates by one along the first axis (with carries).
#[inline(always)]
pub(crate) fn step(c: &mut [usize; 3], n: [usize; 3]) {
    c[0] += 1;
    if c[0] == n[0] {
        c[0] = 0;
        c[1] += 1;
        if c[1] == n[1] {
            c[1] = 0;
            c[2] += 1;
        }
    }
}

/// The coordinates of the next [`L`] voxels from `c` (as f64, `[axis][lane]`), advancing `c`.
#[inline(always)]
pub(crate) fn lane_coords(c: &mut [usize; 3], n: [usize; 3]) -> [[f64; L]; 3] {
    let mut xyz = [[0.0f64; L]; 3];
    if c[0] + L < n[0] {
        // the L voxels lie on one row and the next one too: x, x + 1, ... (whole numbers
        // below 2^53, so the sums are exact and equal the converted indices)
        let f = |v: usize| v as i64 as f64;
        let x = f(c[0]);
        for l in 0..L {
            xyz[0][l] = x + l as f64;
            xyz[1][l] = f(c[1]);
            xyz[2][l] = f(c[2]);
        }
        c[0] += L;
        return xyz;
    }
    for l in 0..L {
        for k in 0..3 {
            xyz[k][l] = c[k] as f64;
        }
        step(c, n);
    }
    xyz
}

pub(crate) fn planes_of<'a, T: Real, const D: usize>(f: &Field<'a, T>) -> [&'a [T]; D] {
    std::array::from_fn(|c| f.plane(c))
}

/// Composes `d1` with `d2` scaled by `time_scaling`: `x -> d1(x) + t d2(x + d1(x))`, on
/// `d1`'s grid. Returns the composed field (same layout and type as `d1`) and DIPY's statistics.
pub fn compose_fields<T: Real>(
    d1: Field<'_, T>,
    d2: Field<'_, T>,
    time_scaling: f64,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<(Vec<T>, ComposeStats)> {
    if d1.grid.ndim != d2.grid.ndim {
        return Err(Error::shape(format!(
            "cannot compose a {}D field with a {}D field",
            d1.grid.ndim, d2.grid.ndim
        )));
    }
    if !time_scaling.is_finite() {
        return Err(Error::setting(format!(
            "timeScaling must be a finite number, got {time_scaling}"
        )));
    }
    let sinv = d2.grid.affine.inverse("d2")?;
    let pm = Premult {
        index: (d1.grid.affine != d2.grid.affine).then(|| sinv.mul(&d1.grid.affine)),
        disp: sinv,
        t: time_scaling,
    };
    let pool = chunks::pool(threads)?;
    // the finiteness checks ride along with the composition's pass (each chunk scans its own
    // voxels of d1, and of d2 when both grids have as many voxels; otherwise d2 is scanned
    // first); where a chunk saw a NaN or an infinity, the full scans name the first one, d1's
    // before d2's, as separate scans would
    let fused_d2 = d1.grid.nvox() == d2.grid.nvox();
    if !fused_d2 {
        pool.install(|| d2.check_finite("d2"))?;
    }
    let (out, stats, bad) = if d1.grid.ndim == 3 {
        compose_impl::<T, 3>(&d1, &d2, &pm, fused_d2, &pool, ctl)?
    } else {
        compose_impl::<T, 2>(&d1, &d2, &pm, fused_d2, &pool, ctl)?
    };
    if bad {
        pool.install(|| {
            d1.check_finite("d1")?;
            d2.check_finite("d2")
        })?;
    }
    // finite inputs whose composition overflows the storage type (`d1 + t d2` is computed in
    // f64 and rounded to T): DIPY returns infinities there; voxelkit refuses. An output
    // component beyond T's range makes its voxel's squared norm at least its square (or
    // infinite), so the statistics tell when to look; the scan names the first such voxel.
    if !(stats.sum_nn.is_finite() && stats.max_nn < T::MAX * T::MAX) {
        if let Some(i) = pool.install(|| crate::first_non_finite(&out)) {
            let n = d1.grid.nvox();
            let (c, v) = (i / n, i % n);
            let [nx, ny, _] = d1.grid.dims;
            return Err(Error::setting(format!(
                "the composed field overflows {} at voxel ({}, {}, {}), component {c}: d1 + \
                 timeScaling x d2 is not finite there (timeScaling {time_scaling:e})",
                T::NAME,
                v % nx,
                (v / nx) % ny,
                v / (nx * ny)
            )));
        }
    }
    Ok((out, stats.stats))
}

/// DIPY's statistics with the raw sum and maximum of the squared norms they come from.
struct Sums {
    stats: ComposeStats,
    sum_nn: f64,
    max_nn: f64,
}

/// Per-chunk statistics: (count, Σ nn, Σ nn², max nn), and whether the chunk's input voxels
/// held a non-finite value.
type Part = (usize, f64, f64, f64, bool);

#[inline(always)]
fn add_nn(p: &mut Part, nn: f64) {
    p.0 += 1;
    p.1 += nn;
    p.2 += nn * nn;
    if p.3 < nn {
        p.3 = nn;
    }
}

struct Ctx<'a, T, const D: usize> {
    dims1: [usize; 3],
    dims2: Dims,
    a: [&'a [T]; D],
    b: [&'a [T]; D],
    pm: Premult,
    o: Planes<T, D>,
    /// Whether each chunk scans its voxels of `b` too (same voxel count as `a`).
    scan_b: bool,
}

#[inline(always)]
fn chunk<T: Real, const D: usize, const AVX: bool>(
    x: &Ctx<'_, T, D>,
    r: std::ops::Range<usize>,
) -> Part {
    x.o.check(&r);
    let mut c = coords(r.start, x.dims1);
    let mut bad = false;
    for k in 0..D {
        bad |= any_non_finite(&x.a[k][r.clone()]);
        if x.scan_b {
            bad |= any_non_finite(&x.b[k][r.clone()]);
        }
    }
    let mut part: Part = (0, 0.0, 0.0, 0.0, bad);
    let mut v = r.start;
    if D == 3 && lanes_ok(&x.dims2) {
        let a3: &[&[T]; 3] = x.a[..3].try_into().expect("3 planes");
        let b3: &[&[T]; 3] = x.b[..3].try_into().expect("3 planes");
        for k in 0..3 {
            assert!(r.end <= a3[k].len(), "chunk outside d1");
        }
        while v + L <= r.end {
            let xyz = lane_coords(&mut c, x.dims1);
            let mut av = [[0.0f64; L]; 3];
            for k in 0..3 {
                for l in 0..L {
                    // SAFETY: v + l < r.end <= the plane's length (checked above)
                    av[k][l] = unsafe { *a3[k].get_unchecked(v + l) }.to_f64();
                }
            }
            let (w, inside) = compose4::<T, AVX>(&av, &xyz, &x.pm, b3, &x.dims2);
            // every lane is stored and summed, branch-free: a lane that is not inside holds
            // +0.0 (the value `out` starts with) and its nn is +0.0, which leaves the
            // non-negative sums and the maximum unchanged bit for bit
            for k in 0..3 {
                for l in 0..L {
                    // SAFETY: v + l lies in this chunk's range (checked above)
                    unsafe { x.o.set(k, v + l, T::from_f64(w[k][l])) };
                }
            }
            for l in 0..L {
                let mut nn = 0.0;
                for k in 0..3 {
                    nn += w[k][l] * w[k][l];
                }
                part.0 += inside[l] as usize;
                part.1 += nn;
                part.2 += nn * nn;
                if part.3 < nn {
                    part.3 = nn;
                }
            }
            v += L;
        }
    }
    while v < r.end {
        let av: [T; D] = std::array::from_fn(|k| x.a[k][v]);
        let xyz = [c[0] as f64, c[1] as f64, c[2] as f64];
        if let Some(w) = compose_voxel(av, xyz, &x.pm, &x.b, &x.dims2) {
            let mut nn = 0.0;
            for k in 0..D {
                let y = w[k].to_f64();
                nn += y * y;
                // SAFETY: v is in this chunk's range (checked above)
                unsafe { x.o.set(k, v, w[k]) };
            }
            add_nn(&mut part, nn);
        }
        // else: `out` starts at zero
        step(&mut c, x.dims1);
        v += 1;
    }
    part
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn chunk_avx2<T: Real, const D: usize>(
    x: &Ctx<'_, T, D>,
    r: std::ops::Range<usize>,
) -> Part {
    chunk::<T, D, true>(x, r)
}

fn run_chunk<T: Real, const D: usize>(
    avx2: bool,
    x: &Ctx<'_, T, D>,
    r: std::ops::Range<usize>,
) -> Part {
    avx2_or_baseline!(avx2, chunk_avx2(x, r), chunk::<T, D, false>(x, r))
}

fn compose_impl<T: Real, const D: usize>(
    d1: &Field<'_, T>,
    d2: &Field<'_, T>,
    pm: &Premult,
    scan_b: bool,
    pool: &rayon::ThreadPool,
    ctl: &Control,
) -> Result<(Vec<T>, Sums, bool)> {
    let n = d1.grid.nvox();
    let mut out = chunks::zeroed::<T>(D * n);
    let x = Ctx {
        dims1: d1.grid.dims,
        dims2: Dims::new(d2.grid.dims),
        a: planes_of(d1),
        b: planes_of(d2),
        pm: *pm,
        o: Planes::<T, D>::new(&mut out, n),
        scan_b,
    };
    let avx2 = has_avx2();
    ctl.set_total(n as u64);
    let parts = chunks::run(pool, n, ctl, |r| Ok(run_chunk(avx2, &x, r)))?;
    let (mut cnt, mut s1, mut s2, mut mx) = (0usize, 0.0f64, 0.0f64, 0.0f64);
    let mut bad = false;
    for (c, a, b, m, nf) in parts {
        bad |= nf;
        cnt += c;
        s1 += a;
        s2 += b;
        if mx < m {
            mx = m;
        }
    }
    let mean = s1 / cnt as f64;
    let stats = ComposeStats {
        max_norm: mx.sqrt(),
        mean_norm: mean.sqrt(),
        std_norm: (s2 / cnt as f64 - mean * mean).sqrt(),
        count: cnt,
    };
    let sums = Sums {
        stats,
        sum_nn: s1,
        max_nn: mx,
    };
    Ok((out, sums, bad))
}
