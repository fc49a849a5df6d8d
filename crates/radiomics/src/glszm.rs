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

const EPS: f64 = f64::EPSILON;

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

const NONE: u32 = u32::MAX;

/// Connected components of one slab `[z0, z1)`: per voxel of the slab its component (a local
/// root), and per root the size, grey level and group.
struct SlabZones {
    lab: Vec<u32>,
    size: Vec<u64>,
    level: Vec<u32>,
    group: Vec<u32>,
}

/// Zones of the ROI: `(group, grey level (bin), size)`, one entry per zone.
pub fn zones(roi: &Roi, layout: Layout, ctl: &Control) -> Result<Vec<(u32, u32, u64)>> {
    let [nz, ny, nx] = roi.size;
    let st = roi.strides();
    let lin = |o: &[i32; 3]| o[0] as i64 * st[0] as i64 + o[1] as i64 * st[1] as i64 + o[2] as i64;
    // the half of the neighbourhood that precedes a voxel in memory order
    let back: Vec<([i64; 3], i64)> = angles(roi.size, &[1], layout.plane())
        .iter()
        .map(|a| {
            let b = if lin(a) < 0 {
                *a
            } else {
                [-a[0], -a[1], -a[2]]
            };
            ([b[0] as i64, b[1] as i64, b[2] as i64], lin(&b))
        })
        .collect();
    let slabs = z_slabs(nz, 16);
    let grey = &roi.grey;
    let parts: Vec<SlabZones> = slabs
        .par_iter()
        .map(|&(z0, z1)| -> Result<SlabZones> {
            ctl.check()?;
            let base = z0 * st[0];
            let mut lab = vec![NONE; (z1 - z0) * st[0]];
            let mut dsu = Dsu(Vec::new());
            let (mut level, mut group) = (Vec::new(), Vec::new());
            for z in z0..z1 {
                for y in 0..ny {
                    for x in 0..nx {
                        let i = z * st[0] + y * st[1] + x;
                        let g = grey[i];
                        if g == 0 {
                            continue;
                        }
                        let inner = z > z0 && y > 0 && y + 1 < ny && x > 0 && x + 1 < nx;
                        let mut l = NONE;
                        for (o, d) in &back {
                            if !inner {
                                let (zz, yy, xx) =
                                    (z as i64 + o[0], y as i64 + o[1], x as i64 + o[2]);
                                if zz < z0 as i64
                                    || yy < 0
                                    || yy >= ny as i64
                                    || xx < 0
                                    || xx >= nx as i64
                                {
                                    continue;
                                }
                            }
                            let u = (i as i64 + d) as usize;
                            if grey[u] != g {
                                continue;
                            }
                            let lu = lab[u - base];
                            l = if l == NONE {
                                dsu.find(lu)
                            } else {
                                dsu.union(l, lu)
                            };
                        }
                        if l == NONE {
                            l = dsu.0.len() as u32;
                            dsu.0.push(l);
                            level.push(g);
                            group.push(layout.group([z, y, x]) as u32);
                        }
                        lab[i - base] = l;
                    }
                }
            }
            let mut size = vec![0u64; dsu.0.len()];
            for l in lab.iter_mut().filter(|l| **l != NONE) {
                let r = dsu.find(*l);
                *l = r;
                size[r as usize] += 1;
            }
            Ok(SlabZones {
                lab,
                size,
                level,
                group,
            })
        })
        .collect::<Result<_>>()?;
    ctl.check()?;
    // merge zones across slab boundaries
    let mut offs = Vec::with_capacity(parts.len());
    let mut total = 0u32;
    for p in &parts {
        offs.push(total);
        total += p.size.len() as u32;
    }
    let mut gdsu = Dsu((0..total).collect());
    let down: Vec<&([i64; 3], i64)> = back.iter().filter(|(o, _)| o[0] == -1).collect();
    for k in 1..slabs.len() {
        let z = slabs[k].0;
        let (base, pbase) = (slabs[k].0 * st[0], slabs[k - 1].0 * st[0]);
        for y in 0..ny {
            for x in 0..nx {
                let i = z * st[0] + y * st[1] + x;
                let g = grey[i];
                if g == 0 {
                    continue;
                }
                for (o, d) in &down {
                    let (yy, xx) = (y as i64 + o[1], x as i64 + o[2]);
                    if yy < 0 || yy >= ny as i64 || xx < 0 || xx >= nx as i64 {
                        continue;
                    }
                    let u = (i as i64 + d) as usize;
                    if grey[u] == g {
                        gdsu.union(
                            offs[k] + parts[k].lab[i - base],
                            offs[k - 1] + parts[k - 1].lab[u - pbase],
                        );
                    }
                }
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
                glevel[gr] = p.level[r];
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

/// The GLSZM of each group that holds zones, with its group index.
pub fn glszm_groups(
    roi: &Roi,
    layout: Layout,
    ctl: &Control,
) -> Result<Vec<(usize, SizeZoneMatrix)>> {
    let mut z = zones(roi, layout, ctl)?;
    let lut = level_index(roi);
    let n = roi.grey_levels.len();
    z.par_sort_unstable_by_key(|&(g, l, s)| (g, s, l));
    let mut out = Vec::new();
    let mut a = 0;
    while a < z.len() {
        let grp = z[a].0;
        let mut b = a;
        while b < z.len() && z[b].0 == grp {
            b += 1;
        }
        let zs = &z[a..b];
        let mut sizes: Vec<u64> = zs.iter().map(|&(_, _, s)| s).collect();
        sizes.dedup();
        let mut counts = vec![0.0; n * sizes.len()];
        let mut col = 0;
        for &(_, l, s) in zs {
            while sizes[col] != s {
                col += 1;
            }
            counts[lut[l as usize] as usize * sizes.len() + col] += 1.0;
        }
        out.push((grp as usize, SizeZoneMatrix { sizes, counts }));
        a = b;
    }
    Ok(out)
}

/// GLSZM features of one matrix of zone counts `p` (`n x m` row-major, rows = grey levels `g`,
/// columns = zone sizes `j`), as PyRadiomics computes them (`Nz`, `Np` replaced by 1 when 0).
pub fn glszm_features(p: &[f64], g: &[f64], j: &[f64]) -> [f64; 16] {
    let (n, m) = (g.len(), j.len());
    let mut ps = vec![0.0; m];
    let mut pg = vec![0.0; n];
    for i in 0..n {
        for c in 0..m {
            let v = p[i * m + c];
            ps[c] += v;
            pg[i] += v;
        }
    }
    let mut nz: f64 = pg.iter().sum();
    if nz == 0.0 {
        nz = 1.0;
    }
    let mut np: f64 = ps.iter().zip(j).map(|(v, s)| v * s).sum();
    if np == 0.0 {
        np = 1.0;
    }
    let (mut sae, mut lae, mut szn) = (0.0, 0.0, 0.0);
    for (c, &v) in ps.iter().enumerate() {
        sae += v / (j[c] * j[c]);
        lae += v * j[c] * j[c];
        szn += v * v;
    }
    let (mut gln, mut lgl, mut hgl) = (0.0, 0.0, 0.0);
    for (i, &v) in pg.iter().enumerate() {
        gln += v * v;
        lgl += v / (g[i] * g[i]);
        hgl += v * g[i] * g[i];
    }
    let (mut ui, mut uj) = (0.0, 0.0);
    for (i, &v) in pg.iter().enumerate() {
        ui += v / nz * g[i];
    }
    for (c, &v) in ps.iter().enumerate() {
        uj += v / nz * j[c];
    }
    let (mut glv, mut zv) = (0.0, 0.0);
    for (i, &v) in pg.iter().enumerate() {
        glv += v / nz * (g[i] - ui).powi(2);
    }
    for (c, &v) in ps.iter().enumerate() {
        zv += v / nz * (j[c] - uj).powi(2);
    }
    let (mut ze, mut salg, mut sahg, mut lalg, mut lahg) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let g2 = g[i] * g[i];
        for c in 0..m {
            let v = p[i * m + c];
            if v == 0.0 {
                continue;
            }
            let j2 = j[c] * j[c];
            let q = v / nz;
            ze -= q * (q + EPS).log2();
            salg += v / (g2 * j2);
            sahg += v * g2 / j2;
            lalg += v * j2 / g2;
            lahg += v * g2 * j2;
        }
    }
    [
        gln / nz,
        gln / (nz * nz),
        glv,
        hgl / nz,
        lae / nz,
        lahg / nz,
        lalg / nz,
        lgl / nz,
        szn / nz,
        szn / (nz * nz),
        sae / nz,
        sahg / nz,
        salg / nz,
        ze,
        nz / np,
        zv,
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
