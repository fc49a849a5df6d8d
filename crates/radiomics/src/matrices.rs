//! Directions and the raw co-occurrence / run-length counts of a discretised ROI.
//!
//! Counts are exact integers (held in f64 well below 2^53), so however the work is split
//! between threads the merged matrices are bitwise identical.

use crate::preprocess::Roi;
use rayon::prelude::*;
use voxelkit_core::{Control, Error, Result};

/// A direction as offsets in numpy order `(z, y, x)`.
pub type Angle = [i32; 3];

/// PyRadiomics' direction set: every offset whose infinity norm is one of `distances`, within
/// the box `size`, not moving along `force2d_dim`, one of each opposite pair, in PyRadiomics'
/// order (first axis offsets from +d down to -d, then the next axis, …).
pub fn angles(size: [usize; 3], distances: &[usize], force2d_dim: Option<usize>) -> Vec<Angle> {
    let maxd = *distances.iter().max().unwrap_or(&1) as i64;
    // how many angles PyRadiomics keeps: half of all valid offsets of the requested norms
    // (a repeated distance counts again, as in PyRadiomics' C `generate_angles`: `distances`
    // [1, 1] gives 26 angles there, both offsets of each pair)
    let mut count = 0i64;
    for &dist in distances {
        let d = dist as i64;
        let (mut na, mut nb) = (1i64, 1i64);
        for (k, &sz) in size.iter().enumerate() {
            if Some(k) == force2d_dim {
                continue;
            }
            let sz = sz as i64;
            if d < sz {
                na *= 2 * d + 1;
                nb *= 2 * d - 1;
            } else {
                na *= 2 * (sz - 1) + 1;
                nb *= 2 * (sz - 1) + 1;
            }
        }
        count += na - nb;
    }
    let count = (count / 2) as usize;
    // PyRadiomics' order: every offset of the cube [-maxd, maxd]^3, axis 0 slowest, each axis
    // from +maxd down to -maxd. Offsets of |o| >= the box's size along an axis (or non-zero on
    // the force2D axis) are never kept, so each axis runs over the kept range only: the same
    // offsets in the same order, in O(box) instead of O(maxd^3) steps (a `distances` of 160 took
    // 0.8 s on a 7x6x5 box, 65536 would never end; radiomics_settings fuzz finding).
    let lim = |k: usize| -> i64 {
        if Some(k) == force2d_dim {
            0
        } else {
            maxd.min(size[k] as i64 - 1)
        }
    };
    let (l0, l1, l2) = (lim(0), lim(1), lim(2));
    let mut out = Vec::with_capacity(count);
    'cube: for o0 in (-l0..=l0).rev() {
        for o1 in (-l1..=l1).rev() {
            for o2 in (-l2..=l2).rev() {
                if out.len() >= count {
                    break 'cube;
                }
                let norm = o0.abs().max(o1.abs()).max(o2.abs());
                if norm >= 1 && distances.iter().any(|&d| d as i64 == norm) {
                    out.push([o0 as i32, o1 as i32, o2 as i32]);
                }
            }
        }
    }
    out
}

/// A sub-box of the ROI box (inclusive bounds, numpy order).
#[derive(Debug, Clone, Copy)]
pub struct Region {
    pub lo: [usize; 3],
    pub hi: [usize; 3],
}

impl Region {
    pub fn whole(roi: &Roi) -> Self {
        Region {
            lo: [0; 3],
            hi: [roi.size[0] - 1, roi.size[1] - 1, roi.size[2] - 1],
        }
    }
    /// Slice `s` across axis `dim`.
    pub fn slice(roi: &Roi, dim: usize, s: usize) -> Self {
        let mut r = Self::whole(roi);
        r.lo[dim] = s;
        r.hi[dim] = s;
        r
    }
    #[inline(always)]
    fn contains(&self, p: [i64; 3]) -> bool {
        (0..3).all(|k| p[k] >= self.lo[k] as i64 && p[k] <= self.hi[k] as i64)
    }
}

/// Voxel `p` (z, y, x) moved `by` steps along `off`.
#[inline(always)]
fn moved(p: [i64; 3], off: &Angle, by: i64) -> [i64; 3] {
    [
        p[0] + by * off[0] as i64,
        p[1] + by * off[1] as i64,
        p[2] + by * off[2] as i64,
    ]
}

/// Linear index of voxel `p` (z, y, x, on the grid) with strides `st`.
#[inline(always)]
fn at(st: &[usize; 3], p: [i64; 3]) -> usize {
    p[0] as usize * st[0] + p[1] as usize * st[1] + p[2] as usize
}

/// Index of each grey level in the compact (present levels only) matrix axis.
pub fn level_index(roi: &Roi) -> Vec<u32> {
    let mut lut = vec![u32::MAX; roi.ng as usize + 1];
    for (k, &g) in roi.grey_levels.iter().enumerate() {
        lut[g as usize] = k as u32;
    }
    lut
}

/// Splits the first axis of a region into slabs: up to 16, one per thread of the pool at most
/// (each slab zeroes and sums a matrix per angle; one thread needs no split). Every count is
/// an exact integer (`u64`, or `f64` far below 2^53), so the slabs' sum is the same whatever
/// the split: the matrices do not depend on the thread count.
fn slabs(r: &Region, per_task_bytes: usize) -> Vec<(usize, usize)> {
    let nz = r.hi[0] - r.lo[0] + 1;
    let budget = (64usize << 20) / per_task_bytes.max(1);
    let k = nz
        .clamp(1, 16)
        .min(budget.max(1))
        .min(rayon::current_num_threads().max(1));
    let step = nz.div_ceil(k);
    (0..k)
        .map(|c| {
            (
                r.lo[0] + c * step,
                (r.lo[0] + (c + 1) * step).min(r.hi[0] + 1),
            )
        })
        .filter(|(a, b)| a < b)
        .collect()
}

/// Co-occurrence counts of every (region, angle): `out[m][a]` is an `n x n` matrix (row =
/// centre voxel's level, column = neighbour's, compact levels), row-major.
pub fn glcm_counts(
    roi: &Roi,
    regions: &[Region],
    angles: &[Angle],
    ctl: &Control,
) -> Result<Vec<Vec<Vec<f64>>>> {
    let n = roi.grey_levels.len();
    let lut = level_index(roi);
    let st = roi.strides();
    let na = angles.len();
    let lin: Vec<i64> = angles
        .iter()
        .map(|o| o[0] as i64 * st[0] as i64 + o[1] as i64 * st[1] as i64 + o[2] as i64)
        .collect();
    let reach: [usize; 3] = [0, 1, 2].map(|k| {
        angles
            .iter()
            .map(|o| o[k].unsigned_abs() as usize)
            .max()
            .unwrap_or(0)
    });
    // each voxel's compact level, `n` outside the ROI: the counts go to an `(n + 1) x (n + 1)`
    // matrix whose last row and column (pairs with a voxel outside the ROI) are dropped, so the
    // interior loop has no branch
    let n1 = n + 1;
    let cidx: Vec<u32> = roi
        .grey
        .iter()
        .map(|&g| if g == 0 { n as u32 } else { lut[g as usize] })
        .collect();
    let nn1 = n1 * n1;
    regions
        .par_iter()
        .map(|r| {
            // the interior (every neighbour inside the region) per axis: `[lo + reach, hi - reach]`
            let inner = |k: usize, c: usize| c >= r.lo[k] + reach[k] && c + reach[k] <= r.hi[k];
            let tasks = slabs(r, na * nn1 * 8);
            let parts: Vec<Vec<u64>> = tasks
                .par_iter()
                .map(|&(z0, z1)| -> Result<Vec<u64>> {
                    ctl.check()?;
                    // exact integer counts, one `n1 x n1` matrix per angle
                    let mut m = vec![0u64; na * nn1];
                    for z in z0..z1 {
                        for y in r.lo[1]..r.hi[1] + 1 {
                            let row = z * st[0] + y * st[1];
                            let (xa, xb) = if inner(0, z) && inner(1, y) {
                                (r.lo[2] + reach[2], (r.hi[2] + 1).saturating_sub(reach[2]))
                            } else {
                                (r.lo[2], r.lo[2])
                            };
                            let xb = xb.max(xa);
                            if xa < xb {
                                // every neighbour of `xa..xb` is inside the region: one pass
                                // per angle over the row, no bounds test
                                let cs = &cidx[row + xa..row + xb];
                                for (a, &l) in lin.iter().enumerate() {
                                    let ma = &mut m[a * nn1..(a + 1) * nn1];
                                    let s = (row as i64 + xa as i64 + l) as usize;
                                    let cn = &cidx[s..s + cs.len()];
                                    for (&ci, &cj) in cs.iter().zip(cn) {
                                        ma[ci as usize * n1 + cj as usize] += 1;
                                    }
                                }
                            }
                            for x in (r.lo[2]..r.hi[2] + 1).filter(|&x| x < xa || x >= xb) {
                                let ci = cidx[row + x];
                                if ci as usize == n {
                                    continue;
                                }
                                let rw = ci as usize * n1;
                                for (a, off) in angles.iter().enumerate() {
                                    let p = moved([z as i64, y as i64, x as i64], off, 1);
                                    if !r.contains(p) {
                                        continue;
                                    }
                                    let cj = cidx[at(&st, p)];
                                    m[a * nn1 + rw + cj as usize] += 1;
                                }
                            }
                        }
                    }
                    Ok(m)
                })
                .collect::<Result<_>>()?;
            let mut total = vec![0u64; na * nn1];
            for p in parts {
                for (t, v) in total.iter_mut().zip(p) {
                    *t += v;
                }
            }
            // the ROI's `n x n` block of each angle's matrix
            Ok(total
                .chunks(nn1)
                .map(|c| {
                    c.chunks(n1)
                        .take(n)
                        .flat_map(|rw| rw[..n].iter().map(|&v| v as f64))
                        .collect()
                })
                .collect())
        })
        .collect()
}

/// What the two run-length counters share: every (region, angle) counted in parallel over
/// z-slabs of the region by `slab(region, angle, z0, z1, pre, m)`, which adds the runs of slices
/// `z0..z1` to the `n x nr` matrix `m` (`n` grey levels) and says whether some line held more
/// than one ROI voxel (`pre`: `prep(region, z0, z1)`, computed once per slab for every angle);
/// the slabs' matrices summed in order; then, with `drop_flat`, a matrix zeroed when
/// `flat(region, angle, multi)` says that no line of the region held two ROI voxels.
#[allow(clippy::too_many_arguments)]
fn glrlm_frame<P: Send + Sync>(
    n: usize,
    regions: &[Region],
    angles: &[Angle],
    nr: usize,
    drop_flat: bool,
    ctl: &Control,
    prep: impl Fn(&Region, usize, usize) -> P + Sync,
    slab: impl Fn(&Region, &Angle, usize, usize, &P, &mut [f64]) -> Result<bool> + Sync,
    flat: impl Fn(&Region, &Angle, bool) -> bool + Sync,
) -> Result<Vec<Vec<Vec<f64>>>> {
    regions
        .par_iter()
        .map(|r| {
            let tasks = slabs(r, n * nr * 8);
            let pre: Vec<P> = tasks.par_iter().map(|&(z0, z1)| prep(r, z0, z1)).collect();
            angles
                .par_iter()
                .map(|off| {
                    let parts: Vec<(Vec<f64>, bool)> = tasks
                        .par_iter()
                        .zip(&pre)
                        .map(|(&(z0, z1), pre)| -> Result<(Vec<f64>, bool)> {
                            ctl.check()?;
                            let mut m = vec![0.0f64; n * nr];
                            let multi = slab(r, off, z0, z1, pre, &mut m)?;
                            Ok((m, multi))
                        })
                        .collect::<Result<_>>()?;
                    let mut total = vec![0.0f64; n * nr];
                    let mut multi = false;
                    for (p, mu) in parts {
                        multi |= mu;
                        for (t, v) in total.iter_mut().zip(p) {
                            *t += v;
                        }
                    }
                    if drop_flat && flat(r, off, multi) {
                        total.iter_mut().for_each(|v| *v = 0.0);
                    }
                    Ok(total)
                })
                .collect()
        })
        .collect()
}

/// Run-length counts of every (region, angle): `out[m][a]` is an `n x nr` matrix (row = compact
/// grey level, column = run length - 1), row-major. `nr` is the largest box dimension.
///
/// With `drop_flat` (PyRadiomics), a direction along which no line of the region holds more than
/// one ROI voxel counts nothing (PyRadiomics treats the segmentation as 2D for that direction).
///
/// Each row of the box (along x) is compared with its successors and predecessors along the
/// direction a few voxels at a time, into bit masks (see [`eq_bits`]); only the voxels that end
/// a run of two or more (a predecessor of the same level, no such successor) are visited, and
/// walk back to the run's start. The runs of length 1 are not visited: per grey level, they are
/// the slab's ROI voxels (counted once for every direction) less the voxels of the longer runs
/// that end in the slab. A slab's column 1 can go negative (a run that ends in it can start in
/// an earlier slab) but every count is an exact integer, so the sum over slabs is the count.
pub fn glrlm_counts(
    roi: &Roi,
    regions: &[Region],
    angles: &[Angle],
    nr: usize,
    drop_flat: bool,
    ctl: &Control,
) -> Result<Vec<Vec<Vec<f64>>>> {
    let lut = level_index(roi);
    let st = roi.strides();
    let n = roi.grey_levels.len();
    let grey = &roi.grey[..];
    // the ROI voxels of each compact grey level in slices `z0..z1` of the region
    let prep = |r: &Region, z0: usize, z1: usize| -> Vec<i64> {
        let mut h = vec![0i64; n];
        for z in z0..z1 {
            for y in r.lo[1]..r.hi[1] + 1 {
                let row = z * st[0] + y * st[1];
                for &g in &grey[row + r.lo[2]..row + r.hi[2] + 1] {
                    if g != 0 {
                        h[lut[g as usize] as usize] += 1;
                    }
                }
            }
        }
        h
    };
    let slab = |r: &Region,
                off: &Angle,
                z0: usize,
                z1: usize,
                hist: &Vec<i64>,
                m: &mut [f64]|
     -> Result<bool> {
        let lin = off[0] as i64 * st[0] as i64 + off[1] as i64 * st[1] as i64 + off[2] as i64;
        let o = off.map(|v| v as i64);
        let (lo, hi) = (r.lo.map(|v| v as i64), r.hi.map(|v| v as i64));
        // how many steps of `s * off` coordinate `c` can take along axis `k` inside the region:
        // `p + t * s * off` is in the region iff `t <= min_k room(k, p_k, s)` (instead of a
        // bounds test of every axis at every step)
        let room = |k: usize, c: i64, s: i64| -> i64 {
            let d = s * o[k];
            match d.cmp(&0) {
                std::cmp::Ordering::Greater => (hi[k] - c) / d,
                std::cmp::Ordering::Less => (c - lo[k]) / -d,
                std::cmp::Ordering::Equal => i64::MAX,
            }
        };
        let mut multi = false;
        // per compact level, the voxels of the runs of two or more that end in the slab
        let mut long = vec![0i64; n];
        // the x range `[a, b)` where `x + t * o[2]` stays in the region's x range
        let x_range = |t: i64| -> (usize, usize) {
            let a = (lo[2] - t * o[2]).max(lo[2]);
            let b = (hi[2] - t * o[2]).min(hi[2]) + 1;
            (a.max(0) as usize, b.max(a).max(0) as usize)
        };
        let (fxa, fxb) = x_range(1);
        let (bxa, bxb) = x_range(-1);
        let x0 = r.lo[2];
        let words = (r.hi[2] + 1 - x0).div_ceil(64);
        // bit `x - x0`: the voxel is in the ROI and its successor (`fw`) / predecessor (`bw`)
        // along the direction is in the region, with the same grey level
        let (mut fw, mut bw) = (vec![0u64; words], vec![0u64; words]);
        for z in z0..z1 {
            let (fz, bz) = (room(0, z as i64, 1), room(0, z as i64, -1));
            for y in r.lo[1]..r.hi[1] + 1 {
                let (fy, by) = (room(1, y as i64, 1).min(fz), room(1, y as i64, -1).min(bz));
                let row = z * st[0] + y * st[1];
                bw.iter_mut().for_each(|w| *w = 0);
                if by < 1 || bxa >= bxb {
                    continue; // no voxel of the row has a predecessor: runs of length 1 only
                }
                let (a, b) = (row + bxa, row + bxb);
                let (pa, pb) = ((a as i64 - lin) as usize, (b as i64 - lin) as usize);
                eq_bits(&grey[a..b], &grey[pa..pb], &mut bw, bxa - x0);
                fw.iter_mut().for_each(|w| *w = 0);
                if fy >= 1 && fxa < fxb {
                    let (a, b) = (row + fxa, row + fxb);
                    let (sa, sb) = ((a as i64 + lin) as usize, (b as i64 + lin) as usize);
                    eq_bits(&grey[a..b], &grey[sa..sb], &mut fw, fxa - x0);
                }
                for (w, (&f, &bk)) in fw.iter().zip(&bw).enumerate() {
                    // the ends of runs of two or more
                    let mut e = bk & !f;
                    while e != 0 {
                        let x = x0 + w * 64 + e.trailing_zeros() as usize;
                        e &= e - 1;
                        let i = row + x;
                        let g = grey[i];
                        // walk back to the run's start, `back` steps at most
                        let back = room(2, x as i64, -1).min(by);
                        let mut len = 2usize;
                        let mut j = i as i64 - 2 * lin;
                        while (len as i64) <= back && grey[j as usize] == g {
                            len += 1;
                            j -= lin;
                        }
                        if len > nr {
                            return Err(Error::internal("run longer than the box"));
                        }
                        multi = true;
                        let k = lut[g as usize] as usize;
                        m[k * nr + len - 1] += 1.0;
                        long[k] += len as i64;
                    }
                }
            }
        }
        for (k, (&h, &l)) in hist.iter().zip(&long).enumerate() {
            if h != l {
                m[k * nr] += (h - l) as f64;
            }
        }
        Ok(multi)
    };
    let flat = |r: &Region, off: &Angle, multi: bool| !multi && !line_with_two(roi, r, off);
    glrlm_frame(n, regions, angles, nr, drop_flat, ctl, prep, slab, flat)
}

/// Sets bit `at + k` of `out` (which has room for it) when `a[k] == b[k] != 0`.
#[inline]
fn eq_bits(a: &[u32], b: &[u32], out: &mut [u64], at: usize) {
    let b = &b[..a.len()];
    let mut put = |p: usize, bits: u64| {
        // bits `p..p + 64` of `out`: they may straddle two words
        let (w, s) = (p / 64, p % 64);
        out[w] |= bits << s;
        if s > 0 {
            let hi = bits >> (64 - s);
            if hi != 0 {
                out[w + 1] |= hi;
            }
        }
    };
    let mut k = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SSE2 (part of x86_64): lanes `k..k + 8` as two four-lane compares
        let eight = |k: usize| -> u64 {
            assert!(k + 8 <= a.len());
            // SAFETY: `k + 8 <= a.len() == b.len()`: the unaligned loads stay in the slices
            unsafe {
                let zero = _mm_setzero_si128();
                let pa = a.as_ptr().add(k) as *const __m128i;
                let pb = b.as_ptr().add(k) as *const __m128i;
                let (va0, va1) = (_mm_loadu_si128(pa), _mm_loadu_si128(pa.add(1)));
                let (vb0, vb1) = (_mm_loadu_si128(pb), _mm_loadu_si128(pb.add(1)));
                let e0 = _mm_andnot_si128(_mm_cmpeq_epi32(va0, zero), _mm_cmpeq_epi32(va0, vb0));
                let e1 = _mm_andnot_si128(_mm_cmpeq_epi32(va1, zero), _mm_cmpeq_epi32(va1, vb1));
                let m0 = _mm_movemask_ps(_mm_castsi128_ps(e0)) as u64;
                let m1 = _mm_movemask_ps(_mm_castsi128_ps(e1)) as u64;
                m0 | (m1 << 4)
            }
        };
        // 64 lanes into one word, then 8 at a time
        while k + 64 <= a.len() {
            let mut bits = 0u64;
            for q in 0..8 {
                bits |= eight(k + 8 * q) << (8 * q);
            }
            if bits != 0 {
                put(at + k, bits);
            }
            k += 64;
        }
        while k + 8 <= a.len() {
            let bits = eight(k);
            if bits != 0 {
                put(at + k, bits);
            }
            k += 8;
        }
    }
    while k < a.len() {
        let n = (a.len() - k).min(8);
        let mut bits = 0u64;
        for t in 0..n {
            bits |= u64::from(a[k + t] == b[k + t] && a[k + t] != 0) << t;
        }
        if bits != 0 {
            put(at + k, bits);
        }
        k += n;
    }
}

/// Whether some line of the region along `off` holds two ROI voxels (only asked when every run
/// has length 1, which is rare).
fn line_with_two(roi: &Roi, r: &Region, off: &Angle) -> bool {
    let st = roi.strides();
    for z in r.lo[0]..=r.hi[0] {
        for y in r.lo[1]..=r.hi[1] {
            for x in r.lo[2]..=r.hi[2] {
                if roi.grey[z * st[0] + y * st[1] + x] == 0 {
                    continue;
                }
                let mut q = [z as i64, y as i64, x as i64];
                loop {
                    q = moved(q, off, 1);
                    if !r.contains(q) {
                        break;
                    }
                    if roi.grey[at(&st, q)] != 0 {
                        return true;
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain O(maxd^3) enumeration of the whole offset cube (PyRadiomics' loop), as the
    /// reference for [`angles`]' bounded loops.
    fn angles_cube(
        size: [usize; 3],
        distances: &[usize],
        force2d_dim: Option<usize>,
        count: usize,
    ) -> Vec<Angle> {
        let maxd = *distances.iter().max().unwrap() as i64;
        let n = 2 * maxd + 1;
        let mut out = Vec::new();
        for idx in 0..n * n * n {
            if out.len() >= count {
                break;
            }
            let digits = [idx / (n * n) % n, idx / n % n, idx % n];
            let off = digits.map(|d| maxd - d);
            let valid = (0..3).all(|k| {
                !(Some(k) == force2d_dim && off[k] != 0)
                    && off[k] < size[k] as i64
                    && off[k] > -(size[k] as i64)
            });
            let norm = off.iter().map(|o| o.abs()).max().unwrap();
            if valid && norm >= 1 && distances.iter().any(|&d| d as i64 == norm) {
                out.push(off.map(|o| o as i32));
            }
        }
        out
    }

    #[test]
    fn bounded_angle_loops_give_the_cube_enumeration() {
        let mut r = voxelkit_core::rng::SplitMix64::new(9);
        for _ in 0..300 {
            let size = [0, 1, 2].map(|_| 1 + (r.next_u64() % 6) as usize);
            let nd = 1 + (r.next_u64() % 3) as usize;
            let distances: Vec<usize> = (0..nd).map(|_| 1 + (r.next_u64() % 9) as usize).collect();
            let f2 = match r.next_u64() % 4 {
                3 => None,
                k => Some(k as usize),
            };
            let a = angles(size, &distances, f2);
            assert_eq!(
                a,
                angles_cube(size, &distances, f2, a.len()),
                "{size:?} {distances:?} {f2:?}"
            );
            // distinct distances: one of each opposite pair, half of the cube's valid offsets
            let mut u = distances.clone();
            u.sort_unstable();
            u.dedup();
            if u.len() == distances.len() {
                let all = angles_cube(size, &distances, f2, usize::MAX).len();
                assert_eq!(2 * a.len(), all, "{size:?} {distances:?} {f2:?}");
            }
        }
        // a huge distance on a small box (the cube loop took O(maxd^3) = 2.3e15 steps): the
        // offsets of norm 3 and those up to the box
        let a = angles([7, 6, 5], &[65536, 3], None);
        assert_eq!(a, angles([7, 6, 5], &[7, 3], None));
        // PyRadiomics' counts (its C generate_angles on a [7, 6, 5] box): 13, 26, 111, 62
        for (d, n) in [
            (&[1][..], 13),
            (&[1, 1], 26),
            (&[2, 1, 2], 111),
            (&[1, 2], 62),
        ] {
            assert_eq!(angles([7, 6, 5], d, None).len(), n, "{d:?}");
        }
    }

    type Counts = Vec<Vec<Vec<f64>>>;

    /// [`glrlm_counts`] by walking every line from its first voxel: the straightforward algorithm,
    /// the reference the faster one is tested against.
    fn by_lines(roi: &Roi, regions: &[Region], angles: &[Angle], nr: usize, drop: bool) -> Counts {
        let lut = level_index(roi);
        let st = roi.strides();
        let slab = |r: &Region, off: &Angle, z0: usize, z1: usize, _: &(), m: &mut [f64]| {
            let mut multi = false;
            let mut emit = |g: u32, len: usize| {
                if len > nr {
                    return Err(Error::internal("run longer than the box"));
                }
                m[lut[g as usize] as usize * nr + len - 1] += 1.0;
                Ok(())
            };
            for z in z0..z1 {
                for y in r.lo[1]..=r.hi[1] {
                    for x in r.lo[2]..=r.hi[2] {
                        let start = [z as i64, y as i64, x as i64];
                        if r.contains(moved(start, off, -1)) {
                            continue; // not the first voxel of its line
                        }
                        let (mut g, mut len, mut elements) = (0u32, 0usize, 0usize);
                        let mut p = start;
                        while r.contains(p) {
                            let v = roi.grey[at(&st, p)];
                            elements += usize::from(v != 0);
                            if v != 0 && v == g {
                                len += 1;
                            } else {
                                if g != 0 {
                                    emit(g, len)?;
                                }
                                g = v;
                                len = usize::from(v != 0);
                            }
                            p = moved(p, off, 1);
                        }
                        if g != 0 {
                            emit(g, len)?;
                        }
                        multi |= elements > 1;
                    }
                }
            }
            Ok(multi)
        };
        let ctl = Control::default();
        glrlm_frame(
            roi.grey_levels.len(),
            regions,
            angles,
            nr,
            drop,
            &ctl,
            |_, _, _| (),
            slab,
            |_, _, multi| !multi,
        )
        .unwrap()
    }

    #[test]
    fn eq_bits_equals_lane_by_lane() {
        let mut r = voxelkit_core::rng::SplitMix64::new(15);
        for _ in 0..2000 {
            let len = (r.next_u64() % 300) as usize;
            let at = (r.next_u64() % 70) as usize;
            let a: Vec<u32> = (0..len).map(|_| (r.next_u64() % 3) as u32).collect();
            let b: Vec<u32> = (0..len + 3).map(|_| (r.next_u64() % 3) as u32).collect();
            let words = (at + len).div_ceil(64);
            let mut got = vec![0u64; words];
            eq_bits(&a, &b, &mut got, at);
            let mut want = vec![0u64; words];
            for k in 0..len {
                if a[k] == b[k] && a[k] != 0 {
                    want[(at + k) / 64] |= 1 << ((at + k) % 64);
                }
            }
            assert_eq!(got, want, "len {len} at {at}");
        }
    }

    #[test]
    fn thirteen_3d_and_four_2d_directions() {
        let a = angles([5, 5, 5], &[1], None);
        assert_eq!(a.len(), 13);
        assert_eq!(a[0], [1, 1, 1]);
        assert_eq!(a[12], [0, 0, 1]);
        let b = angles([5, 5, 5], &[1], Some(0));
        assert_eq!(b, vec![[0, 1, 1], [0, 1, 0], [0, 1, -1], [0, 0, 1]]);
        // a single slice has only in-plane directions
        assert_eq!(angles([1, 5, 5], &[1], None).len(), 4);
        // distance 2 in 3D: (5^3 - 3^3) / 2
        assert_eq!(angles([9, 9, 9], &[2], None).len(), 49);
        assert_eq!(angles([9, 9, 9], &[1, 2], None).len(), 62);
    }

    #[test]
    fn run_end_scan_equals_line_walks() {
        use crate::preprocess::Roi;
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for case in 0..40 {
            let size = [
                1 + rnd() as usize % 6,
                1 + rnd() as usize % 7,
                1 + rnd() as usize % 8,
            ];
            let len = size[0] * size[1] * size[2];
            let levels = 1 + rnd() % 3;
            let sparse = case % 3 == 0;
            let grey: Vec<u32> = (0..len)
                .map(|_| {
                    if rnd() % if sparse { 5 } else { 4 } == 0 {
                        0
                    } else {
                        1 + rnd() % levels
                    }
                })
                .collect();
            let mut present: Vec<u32> = grey.iter().copied().filter(|&g| g > 0).collect();
            present.sort();
            present.dedup();
            if present.is_empty() {
                continue;
            }
            let roi = Roi {
                size,
                grey,
                ng: *present.last().unwrap(),
                grey_levels: present,
                spacing: [1.0; 3],
                count: 0,
                origin: [0; 3],
                values: vec![],
            };
            // distance 1, and longer offsets (distances [1, 2], [3]) that step over voxels;
            // the whole box and the slices across a random axis (force2D's regions)
            let dists: &[usize] = match case % 3 {
                0 => &[1],
                1 => &[1, 2],
                _ => &[3],
            };
            let f2 = (case / 3) % 3;
            for plane in [None, Some(f2)] {
                let a = angles(size, dists, plane);
                if a.is_empty() {
                    continue;
                }
                let nr = *size.iter().max().unwrap();
                let regions: Vec<Region> = std::iter::once(Region::whole(&roi))
                    .chain((0..size[f2]).map(|k| Region::slice(&roi, f2, k)))
                    .collect();
                let ctl = Control::default();
                for drop in [false, true] {
                    let x = glrlm_counts(&roi, &regions, &a, nr, drop, &ctl).unwrap();
                    let y = by_lines(&roi, &regions, &a, nr, drop);
                    assert_eq!(
                        x, y,
                        "case {case}, size {size:?}, {dists:?}, drop_flat {drop}"
                    );
                }
                let x = glcm_counts(&roi, &regions, &a, &ctl).unwrap();
                let y = pairs(&roi, &regions, &a);
                assert_eq!(x, y, "case {case}, size {size:?}, {dists:?}, {plane:?}");
            }
        }
    }

    /// Co-occurrence counts the direct way: every ROI voxel of the region and its neighbour at
    /// each offset, when that neighbour is in the region and the ROI.
    fn pairs(roi: &Roi, regions: &[Region], angles: &[Angle]) -> Counts {
        let n = roi.grey_levels.len();
        let lut = level_index(roi);
        let st = roi.strides();
        regions
            .iter()
            .map(|r| {
                angles
                    .iter()
                    .map(|off| {
                        let mut m = vec![0.0; n * n];
                        for z in r.lo[0]..=r.hi[0] {
                            for y in r.lo[1]..=r.hi[1] {
                                for x in r.lo[2]..=r.hi[2] {
                                    let p = [z as i64, y as i64, x as i64];
                                    let g = roi.grey[at(&st, p)];
                                    let q = moved(p, off, 1);
                                    if g == 0 || !r.contains(q) || roi.grey[at(&st, q)] == 0 {
                                        continue;
                                    }
                                    let h = roi.grey[at(&st, q)];
                                    m[lut[g as usize] as usize * n + lut[h as usize] as usize] +=
                                        1.0;
                                }
                            }
                        }
                        m
                    })
                    .collect()
            })
            .collect()
    }
}
