//! The neighbourhood scan shared by GLDM and NGTDM: for every ROI voxel, over PyRadiomics'
//! neighbourhood (every direction of `distances`, both ways, within the ROI's box, in-plane with
//! an in-plane [`Layout`]), the number of neighbours in the ROI, the sum of their grey levels
//! (bin indices) and the number within `alpha` grey levels of the voxel.
//!
//! The box is scanned row by row: for each offset the neighbours of a whole row are one
//! contiguous run of the box, so the counts are simple vectorisable loops. Fixed z-slabs run in
//! parallel and their integer accumulators are merged in slab order: bitwise identical results
//! at any thread count.

use crate::glszm::{z_slabs, Layout};
use crate::matrices::angles;
use crate::preprocess::Roi;
use crate::settings::Settings;
use rayon::prelude::*;
use voxelkit_core::{Control, Error, Result};

/// Offsets `(z, y, x)` of PyRadiomics' neighbourhood (its angles and their opposites).
pub fn offsets(roi: &Roi, s: &Settings, layout: Layout) -> Result<Vec<[i64; 3]>> {
    let a = angles(roi.size, &s.distances, layout.plane());
    if a.is_empty() {
        return Err(Error::setting(format!(
            "no direction at distances {:?} fits in the ROI's bounding box {:?} (z, y, x)",
            s.distances, roi.size
        )));
    }
    let mut out: Vec<[i64; 3]> = a
        .iter()
        .map(|o| [o[0] as i64, o[1] as i64, o[2] as i64])
        .collect();
    out.extend(a.iter().map(|o| [-o[0] as i64, -o[1] as i64, -o[2] as i64]));
    Ok(out)
}

/// What a row visit sees: the row `(z, y)` of grey levels and, per voxel of the row, the
/// neighbour statistics asked for (empty slices otherwise).
pub struct Row<'a> {
    pub z: usize,
    pub y: usize,
    pub grey: &'a [u32],
    /// Neighbours in the ROI.
    pub count: &'a [u32],
    /// Sum of the neighbours' grey levels.
    pub sum: &'a [u64],
    /// Neighbours in the ROI whose grey level differs by at most `alpha`.
    pub dep: &'a [u32],
}

/// Scans the ROI: `visit(acc, row)` for every box row holding ROI voxels, one accumulator per
/// slab (`init()`), returned in slab order. `count_sum`: fill `count` and `sum`; `alpha`: fill
/// `dep`. `acc_bytes`: the size of one accumulator (at most 64 MiB of them at once).
#[allow(clippy::too_many_arguments)]
pub fn scan<A: Send>(
    roi: &Roi,
    offs: &[[i64; 3]],
    count_sum: bool,
    alpha: Option<u32>,
    acc_bytes: usize,
    ctl: &Control,
    init: impl Fn() -> A + Sync,
    visit: impl Fn(&mut A, &Row<'_>) + Sync,
) -> Result<Vec<A>> {
    let [nz, ny, nx] = roi.size;
    let st = roi.strides();
    let budget = ((64usize << 20) / acc_bytes.max(1)).max(1);
    let slabs = z_slabs(nz, budget.min(16));
    let grey = &roi.grey;
    slabs
        .par_iter()
        .map(|&(z0, z1)| -> Result<A> {
            ctl.check()?;
            let mut acc = init();
            let mut count = vec![0u32; if count_sum { nx } else { 0 }];
            let mut sum = vec![0u64; if count_sum { nx } else { 0 }];
            let mut dep = vec![0u32; if alpha.is_some() { nx } else { 0 }];
            for z in z0..z1 {
                for y in 0..ny {
                    let r0 = z * st[0] + y * st[1];
                    let row = &grey[r0..r0 + nx];
                    if row.iter().all(|&g| g == 0) {
                        continue;
                    }
                    count.iter_mut().for_each(|v| *v = 0);
                    sum.iter_mut().for_each(|v| *v = 0);
                    dep.iter_mut().for_each(|v| *v = 0);
                    for o in offs {
                        let (zz, yy) = (z as i64 + o[0], y as i64 + o[1]);
                        if zz < 0 || zz >= nz as i64 || yy < 0 || yy >= ny as i64 {
                            continue;
                        }
                        let dx = o[2];
                        let x0 = (-dx).max(0) as usize;
                        let x1 = (nx as i64 - dx.max(0)).max(x0 as i64) as usize;
                        if x0 >= x1 {
                            continue;
                        }
                        let n0 = (zz as usize * st[0] + yy as usize * st[1]) as i64 + dx;
                        let nb = &grey[(n0 + x0 as i64) as usize..(n0 + x1 as i64) as usize];
                        if count_sum {
                            add_counts(&mut count[x0..x1], &mut sum[x0..x1], nb);
                        }
                        if let Some(a) = alpha {
                            add_dependence(&mut dep[x0..x1], &row[x0..x1], nb, a);
                        }
                    }
                    visit(
                        &mut acc,
                        &Row {
                            z,
                            y,
                            grey: row,
                            count: &count,
                            sum: &sum,
                            dep: &dep,
                        },
                    );
                }
            }
            Ok(acc)
        })
        .collect()
}

/// Whether the CPU has AVX2 (the integer loops below then run on 8 lanes instead of 4: integer
/// arithmetic, so the same numbers).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// Per voxel of a row: one more neighbour in the ROI (`v != 0`) and its grey level summed.
#[inline(always)]
fn add_counts_plain(count: &mut [u32], sum: &mut [u64], nb: &[u32]) {
    for ((c, s), &v) in count.iter_mut().zip(sum.iter_mut()).zip(nb) {
        *c += u32::from(v != 0);
        *s += v as u64;
    }
}

/// Per voxel of a row: one more dependent neighbour (in the ROI, within `a` grey levels).
#[inline(always)]
fn add_dependence_plain(dep: &mut [u32], row: &[u32], nb: &[u32], a: u32) {
    for ((d, &g), &v) in dep.iter_mut().zip(row).zip(nb) {
        *d += u32::from(v != 0 && v.abs_diff(g) <= a);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_counts_avx2(count: &mut [u32], sum: &mut [u64], nb: &[u32]) {
    add_counts_plain(count, sum, nb);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_dependence_avx2(dep: &mut [u32], row: &[u32], nb: &[u32], a: u32) {
    add_dependence_plain(dep, row, nb, a);
}

fn add_counts(count: &mut [u32], sum: &mut [u64], nb: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { add_counts_avx2(count, sum, nb) };
        return;
    }
    add_counts_plain(count, sum, nb);
}

fn add_dependence(dep: &mut [u32], row: &[u32], nb: &[u32], a: u32) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { add_dependence_avx2(dep, row, nb, a) };
        return;
    }
    add_dependence_plain(dep, row, nb, a);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn row_scan_equals_direct_neighbour_loops() {
        let mut seed = 3u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for case in 0..30 {
            let size = [
                1 + rnd() as usize % 30,
                2 + rnd() as usize % 7,
                2 + rnd() as usize % 9,
            ];
            let grey: Vec<u32> = (0..size.iter().product())
                .map(|_| if rnd() % 4 == 0 { 0 } else { 1 + rnd() % 5 })
                .collect();
            let mut lv: Vec<u32> = grey.iter().copied().filter(|&g| g > 0).collect();
            lv.sort();
            lv.dedup();
            if lv.is_empty() {
                continue;
            }
            let roi = Roi {
                size,
                count: 0,
                values: vec![],
                origin: [0; 3],
                ng: *lv.last().unwrap(),
                grey_levels: lv,
                grey,
                spacing: [1.0; 3],
            };
            let s = Settings::from_json(&json!({"distances": [1, 2]})).unwrap();
            for layout in [Layout::ThreeD, Layout::Merged(1)] {
                let Ok(offs) = offsets(&roi, &s, layout) else {
                    continue;
                };
                // (index, count, sum, dep) for every ROI voxel, by the scan and directly
                let rows = scan(
                    &roi,
                    &offs,
                    true,
                    Some(1),
                    0,
                    &Control::default(),
                    Vec::new,
                    |acc, row| {
                        for x in 0..row.grey.len() {
                            if row.grey[x] != 0 {
                                let i = (row.z * size[1] + row.y) * size[2] + x;
                                acc.push((i, row.count[x], row.sum[x], row.dep[x]));
                            }
                        }
                    },
                )
                .unwrap()
                .concat();
                for (i, c, sm, d) in rows {
                    let p = [i / (size[1] * size[2]), i / size[2] % size[1], i % size[2]];
                    let (mut c2, mut s2, mut d2) = (0u32, 0u64, 0u32);
                    for o in &offs {
                        let q: Vec<i64> = (0..3).map(|k| p[k] as i64 + o[k]).collect();
                        if (0..3).any(|k| q[k] < 0 || q[k] >= size[k] as i64) {
                            continue;
                        }
                        let v = roi.grey
                            [(q[0] as usize * size[1] + q[1] as usize) * size[2] + q[2] as usize];
                        if v != 0 {
                            c2 += 1;
                            s2 += v as u64;
                            d2 += u32::from(v.abs_diff(roi.grey[i]) <= 1);
                        }
                    }
                    assert_eq!(
                        (c, sm, d),
                        (c2, s2, d2),
                        "case {case} {layout:?} voxel {p:?}"
                    );
                }
            }
        }
    }
}
