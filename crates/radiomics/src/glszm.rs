//! PyRadiomics' GLSZM class (16 features): zones are connected sets of ROI voxels of one grey
//! level, 26-connected in 3D (any offset of infinity norm 1), 8-connected within slices with
//! `force2D` or an in-plane aggregation; PyRadiomics ignores `distances` here (always 1).
//!
//! Aggregation (the IBSI names, shared with GLDM and NGTDM, [`Layout`]): PyRadiomics' default
//! and `3D_*` give one 3D matrix; `force2D` and `2.5D_*` one matrix of the zones of every slice
//! (IBSI's 2.5D); `2D_averaged` and `2D_slice_merged` one matrix per slice, features averaged
//! over the slices that hold ROI voxels (IBSI's 2D; with no directions the two are the same).
//!
//! Zones are found by union-find over fixed slabs of the ROI box (in parallel), then merged across
//! slab boundaries: the zones, hence the counts, do not depend on the thread count.

use crate::matrices::{angles, level_index};
use crate::preprocess::{prepare, Input, Roi};
use crate::settings::{Aggregation, Settings};
use crate::TextureMatrices;
use rayon::prelude::*;
use voxelkit_core::{par, Control, Result, Sample};

/// GLSZM feature names, in PyRadiomics' key order.
pub const GLSZM_NAMES: [&str; 16] = [
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "GrayLevelVariance",
    "HighGrayLevelZoneEmphasis",
    "LargeAreaEmphasis",
    "LargeAreaHighGrayLevelEmphasis",
    "LargeAreaLowGrayLevelEmphasis",
    "LowGrayLevelZoneEmphasis",
    "SizeZoneNonUniformity",
    "SizeZoneNonUniformityNormalized",
    "SmallAreaEmphasis",
    "SmallAreaHighGrayLevelEmphasis",
    "SmallAreaLowGrayLevelEmphasis",
    "ZoneEntropy",
    "ZonePercentage",
    "ZoneVariance",
];

/// How the texture classes without directions (GLSZM, GLDM, NGTDM) see the ROI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// 3D neighbourhoods, one matrix (PyRadiomics' default; `3D_averaged`, `3D_merged`).
    ThreeD,
    /// In-plane neighbourhoods across the given numpy axis, one matrix for all slices
    /// (`force2D`; `2.5D_direction_merged`, `2.5D_merged`).
    Merged(usize),
    /// In-plane neighbourhoods, one matrix per slice across the given axis, features averaged
    /// (`2D_averaged`, `2D_slice_merged`).
    PerSlice(usize),
}

impl Layout {
    pub fn of(s: &Settings) -> Layout {
        let d = s.force2d_dimension;
        match s.effective_aggregation() {
            Aggregation::ThreeDAveraged | Aggregation::ThreeDMerged => Layout::ThreeD,
            Aggregation::TwoHalfDDirectionMerged | Aggregation::TwoHalfDMerged => Layout::Merged(d),
            Aggregation::TwoDAveraged | Aggregation::TwoDSliceMerged => Layout::PerSlice(d),
        }
    }
    /// The axis neighbourhoods stay across, if any.
    pub fn plane(self) -> Option<usize> {
        match self {
            Layout::ThreeD => None,
            Layout::Merged(d) | Layout::PerSlice(d) => Some(d),
        }
    }
    /// Number of matrices (groups) for a box of `size`.
    pub fn groups(self, size: [usize; 3]) -> usize {
        match self {
            Layout::PerSlice(d) => size[d],
            _ => 1,
        }
    }
    /// The group of voxel `(z, y, x)`.
    #[inline(always)]
    pub fn group(self, p: [usize; 3]) -> usize {
        match self {
            Layout::PerSlice(d) => p[d],
            _ => 0,
        }
    }
}

/// Fixed z-slabs of the box (at most 16; independent of the thread count).
pub(crate) fn z_slabs(nz: usize, max: usize) -> Vec<(usize, usize)> {
    let k = nz.clamp(1, max.max(1));
    let step = nz.div_ceil(k);
    (0..k)
        .map(|c| (c * step, ((c + 1) * step).min(nz)))
        .filter(|(a, b)| a < b)
        .collect()
}

struct Dsu(Vec<u32>);

impl Dsu {
    #[inline]
    fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let p = self.0[self.0[x as usize] as usize];
            self.0[x as usize] = p;
            x = p;
        }
        x
    }
    #[inline]
    fn union(&mut self, a: u32, b: u32) -> u32 {
        let (ra, rb) = (self.find(a), self.find(b));
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.0[hi as usize] = lo;
        lo
    }
}

/// A run of ROI voxels of one grey level along x, `[x0, x1)` of one box row.
#[derive(Clone, Copy)]
struct Run {
    x0: u32,
    x1: u32,
    g: u32,
}

/// The runs of one slab `[z0, z1)` and their zones: `row[r]..row[r + 1]` are the runs of row
/// `r = (z - z0) ny + y`; `lab[i]` is the zone (a local root run index) of run `i`, with its size,
/// grey level and group at the root's index.
struct SlabZones {
    runs: Vec<Run>,
    row: Vec<u32>,
    lab: Vec<u32>,
    size: Vec<u64>,
    group: Vec<u32>,
}

/// A neighbouring row `(dz, dy)` of the half neighbourhood that precedes a voxel, with the x
/// offsets `dx0..=dx1` it reaches there.
#[derive(Clone, Copy)]
struct RowLink {
    dz: i64,
    dy: i64,
    dx0: i64,
    dx1: i64,
}

/// Calls `f(i, j)` for every run `i` of `a` and `j` of `b` (both sorted by x) of the same grey
/// level that touch through `link` (a voxel of run `i` at x reaches x + dx, dx in dx0..=dx1).
#[inline]
fn touching(a: &[Run], b: &[Run], link: &RowLink, mut f: impl FnMut(usize, usize)) {
    let mut j0 = 0;
    for (i, r) in a.iter().enumerate() {
        let lo = r.x0 as i64 + link.dx0; // reachable x range [lo, hi]
        let hi = r.x1 as i64 - 1 + link.dx1;
        while j0 < b.len() && (b[j0].x1 as i64 - 1) < lo {
            j0 += 1;
        }
        let mut j = j0;
        while j < b.len() && b[j].x0 as i64 <= hi {
            if b[j].g == r.g {
                f(i, j);
            }
            j += 1;
        }
    }
}

/// Zones of the ROI: `(group, grey level (bin), size)`, one entry per zone.
///
/// Connected-component labelling over runs: each box row is cut into runs of one grey level
/// (single voxels when x-neighbours are not connected), runs are joined by union-find to the
/// runs they touch in the preceding rows of the neighbourhood, per fixed z-slab in parallel; the
/// slabs' zones are then joined across slab boundaries.
pub fn zones(roi: &Roi, layout: Layout, ctl: &Control) -> Result<Vec<(u32, u32, u64)>> {
    let [nz, ny, nx] = roi.size;
    let st = roi.strides();
    let lin = |o: &[i32; 3]| o[0] as i64 * st[0] as i64 + o[1] as i64 * st[1] as i64 + o[2] as i64;
    // the half of the neighbourhood that precedes a voxel in memory order
    let back: Vec<[i64; 3]> = angles(roi.size, &[1], layout.plane())
        .iter()
        .map(|a| {
            let b = if lin(a) < 0 {
                *a
            } else {
                [-a[0], -a[1], -a[2]]
            };
            [b[0] as i64, b[1] as i64, b[2] as i64]
        })
        .collect();
    let along_x = back.contains(&[0, 0, -1]);
    let mut links: Vec<RowLink> = Vec::new();
    for o in back.iter().filter(|o| o[0] != 0 || o[1] != 0) {
        match links.iter_mut().find(|l| l.dz == o[0] && l.dy == o[1]) {
            Some(l) => {
                l.dx0 = l.dx0.min(o[2]);
                l.dx1 = l.dx1.max(o[2]);
            }
            None => links.push(RowLink {
                dz: o[0],
                dy: o[1],
                dx0: o[2],
                dx1: o[2],
            }),
        }
    }
    let slabs = z_slabs(nz, 16);
    let grey = &roi.grey;
    let parts: Vec<SlabZones> = slabs
        .par_iter()
        .map(|&(z0, z1)| -> Result<SlabZones> {
            ctl.check()?;
            let mut runs = Vec::new();
            let mut row = vec![0u32];
            for z in z0..z1 {
                for y in 0..ny {
                    let r0 = z * st[0] + y * st[1];
                    let line = &grey[r0..r0 + nx];
                    let mut x = 0;
                    while x < nx {
                        let g = line[x];
                        if g == 0 {
                            x += 1;
                            continue;
                        }
                        let start = x;
                        x += 1;
                        if along_x {
                            while x < nx && line[x] == g {
                                x += 1;
                            }
                        }
                        runs.push(Run {
                            x0: start as u32,
                            x1: x as u32,
                            g,
                        });
                    }
                    row.push(runs.len() as u32);
                }
            }
            let mut dsu = Dsu((0..runs.len() as u32).collect());
            let rows = |r: usize| row[r] as usize..row[r + 1] as usize;
            for z in z0..z1 {
                for y in 0..ny {
                    let r = (z - z0) * ny + y;
                    let a = rows(r);
                    if a.is_empty() {
                        continue;
                    }
                    for l in &links {
                        let (zz, yy) = (z as i64 + l.dz, y as i64 + l.dy);
                        if zz < z0 as i64 || yy < 0 || yy >= ny as i64 {
                            continue;
                        }
                        let b = rows((zz as usize - z0) * ny + yy as usize);
                        let (a0, b0) = (a.start, b.start);
                        touching(&runs[a.clone()], &runs[b], l, |i, j| {
                            dsu.union((a0 + i) as u32, (b0 + j) as u32);
                        });
                    }
                }
            }
            let mut lab = vec![0u32; runs.len()];
            let mut size = vec![0u64; runs.len()];
            let mut group = vec![0u32; runs.len()];
            for z in z0..z1 {
                for y in 0..ny {
                    for i in rows((z - z0) * ny + y) {
                        let root = dsu.find(i as u32);
                        lab[i] = root;
                        size[root as usize] += (runs[i].x1 - runs[i].x0) as u64;
                        if root as usize == i {
                            group[i] = layout.group([z, y, runs[i].x0 as usize]) as u32;
                        }
                    }
                }
            }
            Ok(SlabZones {
                runs,
                row,
                lab,
                size,
                group,
            })
        })
        .collect::<Result<_>>()?;
    ctl.check()?;
    // join zones across slab boundaries
    let mut offs = Vec::with_capacity(parts.len());
    let mut total = 0u32;
    for p in &parts {
        offs.push(total);
        total += p.runs.len() as u32;
    }
    let mut gdsu = Dsu((0..total).collect());
    for k in 1..slabs.len() {
        let (cur, prev) = (&parts[k], &parts[k - 1]);
        let last = slabs[k - 1].1 - 1 - slabs[k - 1].0; // the previous slab's last plane
        for l in links.iter().filter(|l| l.dz == -1) {
            for y in 0..ny {
                let yy = y as i64 + l.dy;
                if yy < 0 || yy >= ny as i64 {
                    continue;
                }
                let a = cur.row[y] as usize..cur.row[y + 1] as usize;
                let pr = last * ny + yy as usize;
                let b = prev.row[pr] as usize..prev.row[pr + 1] as usize;
                let (a0, b0) = (a.start, b.start);
                touching(&cur.runs[a], &prev.runs[b], l, |i, j| {
                    gdsu.union(offs[k] + cur.lab[a0 + i], offs[k - 1] + prev.lab[b0 + j]);
                });
            }
        }
    }
    let mut gsize = vec![0u64; total as usize];
    let mut glevel = vec![0u32; total as usize];
    let mut ggroup = vec![0u32; total as usize];
    for (k, p) in parts.iter().enumerate() {
        for (r, &sz) in p.size.iter().enumerate() {
            if sz > 0 {
                let gr = gdsu.find(offs[k] + r as u32) as usize;
                gsize[gr] += sz;
                glevel[gr] = p.runs[r].g;
                ggroup[gr] = p.group[r];
            }
        }
    }
    Ok((0..total as usize)
        .filter(|&r| gsize[r] > 0)
        .map(|r| (ggroup[r], glevel[r], gsize[r]))
        .collect())
}

/// Zone counts of one group: the zone sizes that occur (ascending) and the matrix
/// `n_levels x sizes.len()` (row-major, rows = the ROI's grey levels).
pub struct SizeZoneMatrix {
    pub sizes: Vec<u64>,
    pub counts: Vec<f64>,
}

/// Zone sizes counted in a dense table (per group and level); larger ones are sorted.
const SMALL: usize = 64;

/// The GLSZM of each group that holds zones, with its group index.
pub fn glszm_groups(
    roi: &Roi,
    layout: Layout,
    ctl: &Control,
) -> Result<Vec<(usize, SizeZoneMatrix)>> {
    let z = zones(roi, layout, ctl)?;
    let lut = level_index(roi);
    let n = roi.grey_levels.len();
    let ng = layout.groups(roi.size);
    // small zones (most of them) counted densely when the table is modest, the rest sorted
    let dense = ng * n * SMALL <= 1 << 22;
    let mut table = vec![0u64; if dense { ng * n * SMALL } else { 0 }];
    let mut rest: Vec<(u32, u64, u32)> = Vec::new();
    for &(g, l, sz) in &z {
        let li = lut[l as usize] as usize;
        if dense && (sz as usize) <= SMALL {
            table[(g as usize * n + li) * SMALL + sz as usize - 1] += 1;
        } else {
            rest.push((g, sz, li as u32));
        }
    }
    rest.par_sort_unstable();
    let mut out = Vec::new();
    let mut k = 0;
    for grp in 0..ng {
        let t = |li: usize, c: usize| {
            if dense {
                table[(grp * n + li) * SMALL + c]
            } else {
                0
            }
        };
        let mut sizes: Vec<u64> = (0..SMALL)
            .filter(|&c| (0..n).any(|li| t(li, c) != 0))
            .map(|c| c as u64 + 1)
            .collect();
        let k0 = k;
        while k < rest.len() && rest[k].0 as usize == grp {
            if sizes.last() != Some(&rest[k].1) {
                sizes.push(rest[k].1);
            }
            k += 1;
        }
        if sizes.is_empty() {
            continue;
        }
        let m = sizes.len();
        let mut counts = vec![0.0; n * m];
        for (col, &sz) in sizes.iter().enumerate() {
            if dense && sz as usize <= SMALL {
                for li in 0..n {
                    counts[li * m + col] = t(li, sz as usize - 1) as f64;
                }
            }
        }
        for &(_, sz, li) in &rest[k0..k] {
            let col = sizes.binary_search(&sz).unwrap();
            counts[li as usize * m + col] += 1.0;
        }
        out.push((grp, SizeZoneMatrix { sizes, counts }));
    }
    Ok(out)
}

/// GLSZM features of one matrix of zone counts `p` (`n x m` row-major, rows = grey levels `g`,
/// columns = zone sizes `j`), as PyRadiomics computes them (`Nz`, `Np` replaced by 1 when 0).
pub fn glszm_features(p: &[f64], g: &[f64], j: &[f64]) -> [f64; 16] {
    let s = crate::features::size_sums(p, g, j, 1.0);
    let (nz, np) = (s.nt, if s.np == 0.0 { 1.0 } else { s.np });
    [
        s.grey_nu / nz,
        s.grey_nu / (nz * nz),
        s.grey_var,
        s.high_grey,
        s.large,
        s.large_high,
        s.large_low,
        s.low_grey,
        s.size_nu / nz,
        s.size_nu / (nz * nz),
        s.small,
        s.small_high,
        s.small_low,
        s.entropy,
        nz / np,
        s.size_var,
    ]
}

/// GLSZM features of the ROI, averaged over groups ignoring NaN (one group unless 2D).
pub fn glszm_class(roi: &Roi, s: &Settings, ctl: &Control) -> Result<[f64; 16]> {
    let groups = glszm_groups(roi, Layout::of(s), ctl)?;
    let g: Vec<f64> = roi.grey_levels.iter().map(|&v| v as f64).collect();
    let per: Vec<[f64; 16]> = groups
        .par_iter()
        .map(|(_, m)| {
            let j: Vec<f64> = m.sizes.iter().map(|&v| v as f64).collect();
            glszm_features(&m.counts, &g, &j)
        })
        .collect();
    Ok(std::array::from_fn(|k| {
        crate::features::nanmean(per.iter().map(|f| f[k]))
    }))
}

/// The GLSZMs of `inp` as PyRadiomics' `P_glszm` after its processing: rows the grey levels
/// of the ROI, columns the zone sizes that occur (`run_lengths` holds them), one matrix per
/// group (one unless a 2D aggregation), zone counts.
pub fn glszm_matrices<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<TextureMatrices> {
    if s.resampling.is_some() {
        return crate::resample::run(crate::resample::Job::Glszm, inp, s, threads, ctl)
            .map(|d| d.matrices());
    }
    let pool = par::pool(threads)?;
    let roi = prepare(inp, s, threads, ctl)?;
    let groups = pool.install(|| glszm_groups(&roi, Layout::of(s), ctl))?;
    let mut sizes: Vec<u64> = groups
        .iter()
        .flat_map(|(_, m)| m.sizes.iter().copied())
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let n = roi.grey_levels.len();
    let mut data = vec![0.0; n * sizes.len() * groups.len()];
    for (k, (_, m)) in groups.iter().enumerate() {
        for (c, sz) in m.sizes.iter().enumerate() {
            let col = sizes.binary_search(sz).unwrap();
            for i in 0..n {
                data[i + n * (col + sizes.len() * k)] = m.counts[i * m.sizes.len() + c];
            }
        }
    }
    Ok(TextureMatrices {
        data,
        shape: [n, sizes.len(), groups.len()],
        grey_levels: roi.grey_levels.clone(),
        run_lengths: sizes.iter().map(|&v| v as u32).collect(),
        angles: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roi(size: [usize; 3], grey: Vec<u32>) -> Roi {
        let mut lv: Vec<u32> = grey.iter().copied().filter(|&g| g > 0).collect();
        lv.sort();
        lv.dedup();
        Roi {
            size,
            count: grey.iter().filter(|&&g| g > 0).count(),
            values: vec![],
            origin: [0; 3],
            ng: *lv.last().unwrap(),
            grey_levels: lv,
            grey,
            spacing: [1.0; 3],
        }
    }

    /// Flood fill (the straightforward algorithm) as the reference for the slab union-find.
    fn flood(r: &Roi, layout: Layout) -> Vec<(u32, u32, u64)> {
        let [nz, ny, nx] = r.size;
        let mut seen = vec![false; r.grey.len()];
        let mut out = Vec::new();
        for s in 0..r.grey.len() {
            if r.grey[s] == 0 || seen[s] {
                continue;
            }
            let g = r.grey[s];
            let p0 = [s / (ny * nx), s / nx % ny, s % nx];
            let mut stack = vec![s];
            seen[s] = true;
            let mut size = 0;
            while let Some(v) = stack.pop() {
                size += 1;
                let p = [v / (ny * nx), v / nx % ny, v % nx];
                for dz in -1i64..=1 {
                    for dy in -1i64..=1 {
                        for dx in -1i64..=1 {
                            let o = [dz, dy, dx];
                            if let Some(d) = layout.plane() {
                                if o[d] != 0 {
                                    continue;
                                }
                            }
                            let q = [p[0] as i64 + dz, p[1] as i64 + dy, p[2] as i64 + dx];
                            if q.iter()
                                .zip([nz, ny, nx])
                                .any(|(&c, n)| c < 0 || c >= n as i64)
                            {
                                continue;
                            }
                            let u = (q[0] as usize * ny + q[1] as usize) * nx + q[2] as usize;
                            if !seen[u] && r.grey[u] == g {
                                seen[u] = true;
                                stack.push(u);
                            }
                        }
                    }
                }
            }
            out.push((layout.group(p0) as u32, g, size));
        }
        out.sort();
        out
    }

    #[test]
    fn slab_union_find_equals_flood_fill() {
        let mut seed = 11u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for case in 0..60 {
            let size = [
                1 + rnd() as usize % 40,
                1 + rnd() as usize % 9,
                1 + rnd() as usize % 9,
            ];
            let levels = 1 + rnd() % 3;
            let grey: Vec<u32> = (0..size.iter().product())
                .map(|_| {
                    if rnd() % 5 == 0 {
                        0
                    } else {
                        1 + rnd() % levels
                    }
                })
                .collect();
            if grey.iter().all(|&g| g == 0) {
                continue;
            }
            let r = roi(size, grey);
            for layout in [
                Layout::ThreeD,
                Layout::Merged(0),
                Layout::Merged(1),
                Layout::Merged(2),
                Layout::PerSlice(2),
            ] {
                let mut got = zones(&r, layout, &Control::default()).unwrap();
                got.sort();
                assert_eq!(got, flood(&r, layout), "case {case} {size:?} {layout:?}");
            }
        }
    }

    #[test]
    fn pyradiomics_docstring_example() {
        // PyRadiomics' GLSZM docstring: a 5x5 image with 5 grey levels, 8-connected zones
        let img = [
            5, 2, 5, 4, 4, 3, 3, 3, 1, 3, 2, 1, 1, 1, 3, 4, 2, 2, 2, 3, 3, 5, 3, 3, 2,
        ];
        let r = roi([1, 5, 5], img.to_vec());
        let g = glszm_groups(&r, Layout::ThreeD, &Control::default()).unwrap();
        let m = &g[0].1;
        assert_eq!(m.sizes, vec![1, 2, 3, 4, 5]);
        // rows: grey levels 1..5; columns: zone sizes 1..5
        #[rustfmt::skip]
        let want = [
            0., 0., 0., 1., 0.,
            1., 0., 0., 0., 1.,
            1., 0., 1., 0., 1.,
            1., 1., 0., 0., 0.,
            3., 0., 0., 0., 0.,
        ];
        assert_eq!(m.counts, want);
    }
}
