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
    let n = 2 * maxd + 1;
    let mut out = Vec::with_capacity(count);
    let mut idx = 0i64;
    let total = n * n * n;
    while out.len() < count && idx < total {
        let digits = [idx / (n * n) % n, idx / n % n, idx % n];
        idx += 1;
        let mut a = [0i32; 3];
        let mut norm = 0i64;
        let mut valid = true;
        for k in 0..3 {
            let off = maxd - digits[k];
            if (Some(k) == force2d_dim && off != 0)
                || off >= size[k] as i64
                || off <= -(size[k] as i64)
            {
                valid = false;
                break;
            }
            a[k] = off as i32;
            norm = norm.max(off.abs());
        }
        if valid && norm >= 1 && distances.iter().any(|&d| d as i64 == norm) {
            out.push(a);
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

/// Index of each grey level in the compact (present levels only) matrix axis.
pub fn level_index(roi: &Roi) -> Vec<u32> {
    let mut lut = vec![u32::MAX; roi.ng as usize + 1];
    for (k, &g) in roi.grey_levels.iter().enumerate() {
        lut[g as usize] = k as u32;
    }
    lut
}

/// Splits the first axis of a region into fixed chunks of slabs (independent of threads).
fn slabs(r: &Region, per_task_bytes: usize) -> Vec<(usize, usize)> {
    let nz = r.hi[0] - r.lo[0] + 1;
    let budget = (64usize << 20) / per_task_bytes.max(1);
    let k = nz.clamp(1, 16).min(budget.max(1));
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
    regions
        .par_iter()
        .map(|r| {
            let tasks = slabs(r, na * n * n * 8);
            let parts: Vec<Vec<f64>> = tasks
                .par_iter()
                .map(|&(z0, z1)| -> Result<Vec<f64>> {
                    ctl.check()?;
                    let mut m = vec![0.0f64; na * n * n];
                    for z in z0..z1 {
                        for y in r.lo[1]..=r.hi[1] {
                            for x in r.lo[2]..=r.hi[2] {
                                let i = z * st[0] + y * st[1] + x;
                                let gi = roi.grey[i];
                                if gi == 0 {
                                    continue;
                                }
                                let row = lut[gi as usize] as usize * n;
                                for (a, off) in angles.iter().enumerate() {
                                    let p = [
                                        z as i64 + off[0] as i64,
                                        y as i64 + off[1] as i64,
                                        x as i64 + off[2] as i64,
                                    ];
                                    if !r.contains(p) {
                                        continue;
                                    }
                                    let j = p[0] as usize * st[0]
                                        + p[1] as usize * st[1]
                                        + p[2] as usize;
                                    let gj = roi.grey[j];
                                    if gj != 0 {
                                        m[a * n * n + row + lut[gj as usize] as usize] += 1.0;
                                    }
                                }
                            }
                        }
                    }
                    Ok(m)
                })
                .collect::<Result<_>>()?;
            let mut total = vec![0.0f64; na * n * n];
            for p in parts {
                for (t, v) in total.iter_mut().zip(p) {
                    *t += v;
                }
            }
            Ok(total.chunks(n * n).map(|c| c.to_vec()).collect())
        })
        .collect()
}

/// Run-length counts of every (region, angle): `out[m][a]` is an `n x nr` matrix (row = compact
/// grey level, column = run length - 1), row-major. `nr` is the largest box dimension.
///
/// With `drop_flat` (PyRadiomics), a direction along which no line of the region holds more than
/// one ROI voxel counts nothing (PyRadiomics treats the segmentation as 2D for that direction).
pub fn glrlm_counts(
    roi: &Roi,
    regions: &[Region],
    angles: &[Angle],
    nr: usize,
    drop_flat: bool,
    ctl: &Control,
) -> Result<Vec<Vec<Vec<f64>>>> {
    let n = roi.grey_levels.len();
    let lut = level_index(roi);
    let st = roi.strides();
    regions
        .par_iter()
        .map(|r| {
            angles
                .par_iter()
                .map(|off| {
                    let tasks = slabs(r, n * nr * 8);
                    let parts: Vec<(Vec<f64>, bool)> = tasks
                        .par_iter()
                        .map(|&(z0, z1)| -> Result<(Vec<f64>, bool)> {
                            ctl.check()?;
                            let mut multi = false;
                            let mut m = vec![0.0f64; n * nr];
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
                                        let prev = [
                                            start[0] - off[0] as i64,
                                            start[1] - off[1] as i64,
                                            start[2] - off[2] as i64,
                                        ];
                                        if r.contains(prev) {
                                            continue; // not the first voxel of its line
                                        }
                                        let (mut g, mut len, mut elements) = (0u32, 0usize, 0usize);
                                        let mut p = start;
                                        while r.contains(p) {
                                            let v = roi.grey[p[0] as usize * st[0]
                                                + p[1] as usize * st[1]
                                                + p[2] as usize];
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
                                            for k in 0..3 {
                                                p[k] += off[k] as i64;
                                            }
                                        }
                                        if g != 0 {
                                            emit(g, len)?;
                                        }
                                        multi |= elements > 1;
                                    }
                                }
                            }
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
                    if drop_flat && !multi {
                        total.iter_mut().for_each(|v| *v = 0.0);
                    }
                    Ok(total)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
