//! PyRadiomics' NGTDM class (5 features): for each ROI voxel of grey level `i`, `|i - A|` with
//! `A` the mean grey level of its neighbours in the ROI (every direction of `distances`, both
//! ways); `n_i` counts the voxels and `s_i` sums `|i - A|`. PyRadiomics' neighbourhood rule is
//! kept: a voxel without a neighbour in the ROI still counts in `n_i`, with `|i - A| = 0`;
//! Coarseness is 10^6 when `sum p_i s_i` is 0. Aggregation as GLSZM's ([`Layout`]).
//!
//! `s_i` is accumulated exactly: per neighbour count `c`, the integers `|c i - sum|` are summed,
//! then `s_i = sum_c (that) / c` in a fixed order (PyRadiomics adds the rounded `|i - sum / c|`
//! voxel by voxel): the result does not depend on the thread count.

use crate::glszm::Layout;
use crate::matrices::level_index;
use crate::neighbours::{offsets, scan};
use crate::preprocess::{prepare, Input, Roi};
use crate::settings::Settings;
use crate::TextureMatrices;
use rayon::prelude::*;
use voxelkit_core::{par, Control, Result, Sample};

/// NGTDM feature names, in PyRadiomics' key order.
pub const NGTDM_NAMES: [&str; 5] = [
    "Busyness",
    "Coarseness",
    "Complexity",
    "Contrast",
    "Strength",
];

/// One group's NGTDM: per grey level of the ROI, `n_i` and `s_i`.
pub struct ToneMatrix {
    pub n: Vec<u64>,
    pub s: Vec<f64>,
}

/// The NGTDM of every group (index = group) of the ROI.
pub fn ngtdm_groups(roi: &Roi, s: &Settings, ctl: &Control) -> Result<Vec<ToneMatrix>> {
    let layout = Layout::of(s);
    let offs = offsets(roi, s, layout)?;
    let cols = offs.len() + 1; // neighbour counts 0 ..= 2 Na
    let nl = roi.grey_levels.len();
    let ng = layout.groups(roi.size);
    let lut = level_index(roi);
    let (ln, la) = (ng * nl, ng * nl * cols);
    let parts = scan(
        roi,
        &offs,
        true,
        None,
        ln * 8 + la * 16,
        ctl,
        || (vec![0u64; ln], vec![0u128; la]),
        |(n, a), row| {
            for (x, ((&g, &c), &sum)) in row.grey.iter().zip(row.count).zip(row.sum).enumerate() {
                if g != 0 {
                    let k = layout.group([row.z, row.y, x]) * nl + lut[g as usize] as usize;
                    n[k] += 1;
                    a[k * cols + c as usize] += (g as u64 * c as u64).abs_diff(sum) as u128;
                }
            }
        },
    )?;
    let (mut n, mut a) = (vec![0u64; ln], vec![0u128; la]);
    for (pn, pa) in parts {
        n.iter_mut().zip(pn).for_each(|(t, v)| *t += v);
        a.iter_mut().zip(pa).for_each(|(t, v)| *t += v);
    }
    Ok((0..ng)
        .map(|grp| {
            let s = (0..nl)
                .map(|l| {
                    let k = grp * nl + l;
                    // c = 0: no neighbour, |i - A| = 0
                    (1..cols).fold(0.0, |acc, c| acc + a[k * cols + c] as f64 / c as f64)
                })
                .collect();
            ToneMatrix {
                n: n[grp * nl..(grp + 1) * nl].to_vec(),
                s,
            }
        })
        .collect())
}

/// NGTDM features from `n_i`, `s_i` and grey levels `i` of the levels with `n_i > 0`, as
/// PyRadiomics computes them.
pub fn ngtdm_features(n: &[f64], s: &[f64], g: &[f64]) -> [f64; 5] {
    let k = g.len();
    let nvp: f64 = n.iter().sum();
    let p: Vec<f64> = n.iter().map(|&v| v / nvp).collect();
    let ngp = n.iter().filter(|&&v| v > 0.0).count() as f64;
    let sum_s: f64 = s.iter().sum();
    let ps: f64 = p.iter().zip(s).map(|(a, b)| a * b).sum();
    let coarseness = if ps != 0.0 { 1.0 / ps } else { 1e6 };
    let div = ngp * (ngp - 1.0);
    let (mut c2, mut absdiff, mut complexity, mut strength) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            let d = g[i] - g[j];
            c2 += p[i] * p[j] * d * d;
            absdiff += (g[i] * p[i] - g[j] * p[j]).abs();
            let den = p[i] + p[j];
            let den = if den == 0.0 { 1.0 } else { den };
            complexity += d.abs() * (p[i] * s[i] + p[j] * s[j]) / den;
            strength += (p[i] + p[j]) * d * d;
        }
    }
    let contrast = if div != 0.0 {
        c2 * sum_s / nvp / div
    } else {
        0.0
    };
    let busyness = if absdiff != 0.0 { ps / absdiff } else { 0.0 };
    let strength = if sum_s != 0.0 { strength / sum_s } else { 0.0 };
    [busyness, coarseness, complexity / nvp, contrast, strength]
}

/// Levels of a group with voxels: `(n, s, i)` per level present (PyRadiomics deletes the others).
fn present(m: &ToneMatrix, roi: &Roi) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (l, &c) in m.n.iter().enumerate() {
        if c > 0 {
            out.0.push(c as f64);
            out.1.push(m.s[l]);
            out.2.push(roi.grey_levels[l] as f64);
        }
    }
    out
}

/// NGTDM features of the ROI, averaged over the groups that hold voxels (one group unless 2D).
pub fn ngtdm_class(roi: &Roi, s: &Settings, ctl: &Control) -> Result<[f64; 5]> {
    let groups = ngtdm_groups(roi, s, ctl)?;
    let per: Vec<[f64; 5]> = groups
        .par_iter()
        .filter(|m| m.n.iter().any(|&v| v > 0))
        .map(|m| {
            let (n, sv, g) = present(m, roi);
            ngtdm_features(&n, &sv, &g)
        })
        .collect();
    Ok(std::array::from_fn(|k| {
        crate::features::nanmean(per.iter().map(|f| f[k]))
    }))
}

/// The NGTDMs of `inp` as PyRadiomics' `P_ngtdm`: rows the grey levels, columns `n_i`, `s_i`
/// and `i`; one matrix unless a 2D aggregation (one per slice that holds ROI voxels, rows the
/// ROI's grey levels, `n_i = 0` where a slice lacks a level).
pub fn ngtdm_matrices<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    threads: Option<usize>,
    ctl: &Control,
) -> Result<TextureMatrices> {
    if s.resampling.is_some() {
        return crate::resample::run(crate::resample::Job::Ngtdm, inp, s, threads, ctl)
            .map(|d| d.matrices());
    }
    let pool = par::pool(threads)?;
    let roi = prepare(inp, s, threads, ctl)?;
    let groups = pool.install(|| ngtdm_groups(&roi, s, ctl))?;
    let groups: Vec<&ToneMatrix> = groups
        .iter()
        .filter(|m| m.n.iter().any(|&v| v > 0))
        .collect();
    let nl = roi.grey_levels.len();
    let mut data = Vec::with_capacity(nl * 3 * groups.len());
    for m in &groups {
        data.extend(m.n.iter().map(|&v| v as f64));
        data.extend(&m.s);
        data.extend(roi.grey_levels.iter().map(|&v| v as f64));
    }
    Ok(TextureMatrices {
        data,
        shape: [nl, 3, groups.len()],
        grey_levels: roi.grey_levels.clone(),
        run_lengths: vec![],
        angles: vec![],
    })
}
