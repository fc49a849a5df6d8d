//! PyRadiomics' GLDM class (14 features; GrayLevelNonUniformityNormalized and
//! DependencePercentage are deprecated there and never returned): for each ROI voxel, the number
//! of its neighbours (every direction of `distances`, both ways) in the ROI whose grey level
//! differs by at most `gldm_a` (default 0), plus one; counts per (grey level, dependence).
//! Aggregation as GLSZM's ([`Layout`]): one matrix in 3D (default) or 2.5D (`force2D`,
//! `2.5D_*`), one per slice with `2D_*` (IBSI's NGLDM aggregations).

use crate::glszm::Layout;
use crate::matrices::level_index;
use crate::neighbours::{offsets, scan};
use crate::preprocess::{prepare, Input, Roi};
use crate::settings::Settings;
use crate::TextureMatrices;
use rayon::prelude::*;
use voxelkit_core::{par, Control, Result, Sample};

/// GLDM feature names, in PyRadiomics' key order (its two deprecated features omitted: they
/// raise in PyRadiomics and yield no value).
pub const GLDM_NAMES: [&str; 14] = [
    "DependenceEntropy",
    "DependenceNonUniformity",
    "DependenceNonUniformityNormalized",
    "DependenceVariance",
    "GrayLevelNonUniformity",
    "GrayLevelVariance",
    "HighGrayLevelEmphasis",
    "LargeDependenceEmphasis",
    "LargeDependenceHighGrayLevelEmphasis",
    "LargeDependenceLowGrayLevelEmphasis",
    "LowGrayLevelEmphasis",
    "SmallDependenceEmphasis",
    "SmallDependenceHighGrayLevelEmphasis",
    "SmallDependenceLowGrayLevelEmphasis",
];

/// The dependence counts of one group: `n_levels x cols` (row-major, rows the ROI's grey
/// levels), column `c` holding dependence `c + 1` (PyRadiomics' `j`), `cols = 2 Na + 1`.
pub struct DependenceMatrix {
    pub counts: Vec<u64>,
    pub cols: usize,
}

/// The GLDM of every group (index = group) of the ROI.
pub fn gldm_groups(roi: &Roi, s: &Settings, ctl: &Control) -> Result<Vec<DependenceMatrix>> {
    let layout = Layout::of(s);
    let offs = offsets(roi, s, layout)?;
    let cols = offs.len() + 1;
    let n = roi.grey_levels.len();
    let ng = layout.groups(roi.size);
    let lut = level_index(roi);
    let len = ng * n * cols;
    let parts = scan(
        roi,
        &offs,
        false,
        Some(s.gldm_a),
        len * 8,
        ctl,
        || vec![0u64; len],
        |acc, row| {
            for (x, (&g, &d)) in row.grey.iter().zip(row.dep).enumerate() {
                if g != 0 {
                    let grp = layout.group([row.z, row.y, x]);
                    acc[(grp * n + lut[g as usize] as usize) * cols + d as usize] += 1;
                }
            }
        },
    )?;
    let mut total = vec![0u64; len];
    for p in parts {
        total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
    }
    Ok(total
        .chunks(n * cols)
        .map(|c| DependenceMatrix {
            counts: c.to_vec(),
            cols,
        })
        .collect())
}

/// GLDM features of one matrix `p` (`n x m` row-major, rows = grey levels `g`, columns =
/// dependences `j`, only those that occur), as PyRadiomics computes them.
pub fn gldm_features(p: &[f64], g: &[f64], j: &[f64]) -> [f64; 14] {
    let s = crate::features::size_sums(p, g, j, 1.0);
    let nz = s.nt;
    [
        s.entropy,
        s.size_nu / nz,
        s.size_nu / (nz * nz),
        s.size_var,
        s.grey_nu / nz,
        s.grey_var,
        s.high_grey,
        s.large,
        s.large_high,
        s.large_low,
        s.low_grey,
        s.small,
        s.small_high,
        s.small_low,
    ]
}

/// The columns of `m` that hold counts, and the compact matrix over them (f64, row-major).
fn compact(m: &DependenceMatrix, n: usize, keep: &[usize]) -> Vec<f64> {
    let mut out = vec![0.0; n * keep.len()];
    for i in 0..n {
        for (k, &c) in keep.iter().enumerate() {
            out[i * keep.len() + k] = m.counts[i * m.cols + c] as f64;
        }
    }
    out
}

fn nonzero_cols(m: &DependenceMatrix, n: usize) -> Vec<usize> {
    (0..m.cols)
        .filter(|&c| (0..n).any(|i| m.counts[i * m.cols + c] != 0))
        .collect()
}

/// GLDM features of the ROI, averaged over the groups that hold voxels (one group unless 2D).
pub fn gldm_class(roi: &Roi, s: &Settings, ctl: &Control) -> Result<[f64; 14]> {
    let groups = gldm_groups(roi, s, ctl)?;
    let n = roi.grey_levels.len();
    let g: Vec<f64> = roi.grey_levels.iter().map(|&v| v as f64).collect();
    let per: Vec<[f64; 14]> = groups
        .par_iter()
        .filter_map(|m| {
            let keep = nonzero_cols(m, n);
            if keep.is_empty() {
                return None; // a slice without ROI voxels
            }
            let j: Vec<f64> = keep.iter().map(|&c| (c + 1) as f64).collect();
            Some(gldm_features(&compact(m, n, &keep), &g, &j))
        })
        .collect();
    Ok(std::array::from_fn(|k| {
        crate::features::nanmean(per.iter().map(|f| f[k]))
    }))
}

/// The GLDMs of `inp` as PyRadiomics' `P_gldm` after its processing: voxel counts, rows the grey
/// levels of the ROI, columns the dependences `j` that occur in some matrix (`run_lengths`
/// holds them); one matrix unless a 2D aggregation (one per slice that holds ROI voxels).
pub fn gldm_matrices<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<TextureMatrices> {
    if s.resampling.is_some() {
        return crate::resample::run(crate::resample::Job::Gldm, inp, s, threads, ctl)
            .map(|d| d.matrices());
    }
    let pool = par::pool(threads)?;
    let roi = prepare(inp, s, threads, ctl)?;
    let groups = pool.install(|| gldm_groups(&roi, s, ctl))?;
    let n = roi.grey_levels.len();
    let groups: Vec<&DependenceMatrix> = groups
        .iter()
        .filter(|m| m.counts.iter().any(|&v| v != 0))
        .collect();
    let cols = groups[0].cols;
    let keep: Vec<usize> = (0..cols)
        .filter(|&c| {
            groups
                .iter()
                .any(|m| (0..n).any(|i| m.counts[i * cols + c] != 0))
        })
        .collect();
    let mut data = Vec::with_capacity(n * keep.len() * groups.len());
    for m in &groups {
        for &c in &keep {
            for i in 0..n {
                data.push(m.counts[i * cols + c] as f64);
            }
        }
    }
    Ok(TextureMatrices {
        data,
        shape: [n, keep.len(), groups.len()],
        grey_levels: roi.grey_levels.clone(),
        run_lengths: keep.iter().map(|&c| c as u32 + 1).collect(),
        angles: vec![],
    })
}
