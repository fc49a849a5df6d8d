//! `Wavelet`: PyRadiomics' `getWaveletImage` / `_swt3`. The image (as float64) is wrap-padded by
//! one voxel along every odd-sized axis; `start_level` times the level-1 stationary transform
//! (PyWavelets' `swtn(level=1)`) replaces it by its approximation; then `level` times the
//! transform yields the 7 (3D; 3 with `force2D`) detail images and replaces the data by the
//! approximation, which is yielded last. Every image is cropped back to the input's size.
//!
//! One level-1 transform along an axis of (padded) length `N` with the decomposition filters
//! `lo`, `hi` of length `L` (periodic): `a[i] = Σ_j lo[j] x[(i - j + L/2) mod N]`, `d` likewise
//! with `hi`. The axes run x, y, z (numpy's last axis first, as PyRadiomics passes them), and a
//! band's name lists its filters in that order (`LLH`: low-pass along x and y, high-pass along z).

use super::grid::{pass, Grid};
use super::wavelet_table::{ORTHOGONAL, OTHER};
use super::Source;
use voxelkit_core::{Error, Result};

/// The decomposition filters (low, high) of PyWavelets' wavelet `name`.
pub fn filters(name: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    if let Some((_, lo)) = ORTHOGONAL.iter().find(|(n, _)| *n == name) {
        let l = lo.len();
        let hi = (0..l)
            .map(|k| {
                let v = lo[l - 1 - k];
                if k % 2 == 0 {
                    -v
                } else {
                    v
                }
            })
            .collect();
        return Ok((lo.to_vec(), hi));
    }
    if OTHER.contains(&name) {
        return Err(Error::unsupported(format!(
            "wavelet '{name}' is not supported yet (the orthogonal families haar, db1-db20, \
             sym2-sym20 and coif1-coif5 are)"
        )));
    }
    Err(Error::setting(format!(
        "unknown wavelet '{name}' (PyWavelets' discrete wavelets, e.g. coif1, db2, sym4, haar)"
    )))
}

/// One yielded wavelet image: its PyRadiomics name (`wavelet-LLH`, `wavelet2-HHL`, …) and the
/// bounding box's values.
pub struct Band {
    pub name: String,
    pub data: Vec<f64>,
}

/// `out[i] = Σ_j f[j] x[(i - j + L/2) mod N]` through the periodic extension
/// `e[m] = x[(m + L/2 - (L - 1)) mod N]`, so that `out[i] = Σ_j f[j] e[i + L - 1 - j]`.
fn conv(f: &[f64], e: &[f64], out: &mut [f64]) {
    let l = f.len();
    for (i, o) in out.iter_mut().enumerate() {
        let w = &e[i..i + l];
        let mut s = 0.0;
        for (j, &c) in f.iter().enumerate() {
            s += c * w[l - 1 - j];
        }
        *o = s;
    }
}

/// The periodic extension of `x` that [`conv`] reads (length `N + L - 1`).
fn extend(x: &[f64], l: usize) -> Vec<f64> {
    let n = x.len();
    let h = l / 2;
    // m + h - (l - 1), kept non-negative by adding a multiple of n
    let shift = n * l + h - (l - 1);
    (0..n + l - 1).map(|m| x[(m + shift) % n]).collect()
}

/// Runs the transform and calls `sink` with each image in PyRadiomics' order. `axes`: the
/// filtered axes in our order (x = 0), x first; `force2D` drops one.
pub fn wavelet_images(
    src: &Source<'_>,
    wavelet: &str,
    start_level: usize,
    level: usize,
    axes: &[usize],
    sink: &mut dyn FnMut(Band) -> Result<()>,
) -> Result<()> {
    let (lo_f, hi_f) = filters(wavelet)?;
    let n = src.shape;
    let padded = n.map(|v| v + v % 2);
    let values = src.values;
    let source = |p: [usize; 3]| {
        let q = [0, 1, 2].map(|d| if p[d] >= n[d] { 0 } else { p[d] });
        values((q[2] * n[1] + q[1]) * n[0] + q[0])
    };
    let kernel = |x: &[f64], outs: &mut [Vec<f64>]| {
        let e = extend(x, lo_f.len());
        conv(&lo_f, &e, &mut outs[0]);
        conv(&hi_f, &e, &mut outs[1]);
    };
    let crop = |g: &Grid<f64>| -> Vec<f64> {
        let (blo, bsz) = (src.box_origin, src.box_size);
        let mut out = Vec::with_capacity(bsz.iter().product());
        for z in 0..bsz[2] {
            for y in 0..bsz[1] {
                for x in 0..bsz[0] {
                    out.push(g.at([x + blo[0], y + blo[1], z + blo[2]]));
                }
            }
        }
        out
    };
    let full_lo = [0usize; 3];
    // the approximation of the previous level (None: the padded source)
    let mut data: Option<Grid<f64>> = None;
    let total = start_level + level;
    for lev in 0..total {
        let last = lev + 1 == total;
        let yields = lev >= start_level;
        // the last level needs its images on the box only; earlier ones the whole padded grid
        // (their approximation feeds the next level)
        let region = |done: &[usize]| -> ([usize; 3], [usize; 3]) {
            let mut lo = full_lo;
            let mut sz = padded;
            if last {
                for d in 0..3 {
                    if done.contains(&d) || !axes.contains(&d) {
                        lo[d] = src.box_origin[d];
                        sz[d] = src.box_size[d];
                    }
                }
            }
            (lo, sz)
        };
        // depth-first over the axes: bands in PyWavelets' order (aaa, aad, ada, …, ddd)
        let mut approx: Option<Grid<f64>> = None;
        let mut stack: Vec<(String, Grid<f64>)> = Vec::new();
        {
            let (lo, sz) = region(&axes[..1]);
            let mut g = match &data {
                None => pass(&source, padded[axes[0]], axes[0], lo, sz, 2, &kernel),
                Some(prev) => pass(
                    &|p| prev.at(p),
                    padded[axes[0]],
                    axes[0],
                    lo,
                    sz,
                    2,
                    &kernel,
                ),
            };
            let d = g.pop().unwrap();
            let a = g.pop().unwrap();
            stack.push(("d".into(), d));
            stack.push(("a".into(), a));
        }
        while let Some((name, g)) = stack.pop() {
            if name.len() == axes.len() {
                if name.bytes().all(|b| b == b'a') {
                    approx = Some(g);
                    continue;
                }
                if yields {
                    let label: String = name
                        .chars()
                        .map(|c| if c == 'a' { 'L' } else { 'H' })
                        .collect();
                    let idx = lev - start_level + 1;
                    let prefix = if idx == 1 {
                        "wavelet".to_string()
                    } else {
                        format!("wavelet{idx}")
                    };
                    sink(Band {
                        name: format!("{prefix}-{label}"),
                        data: crop(&g),
                    })?;
                }
                continue;
            }
            let ax = axes[name.len()];
            let (lo, sz) = region(&axes[..=name.len()]);
            let mut out = pass(&|p| g.at(p), padded[ax], ax, lo, sz, 2, &kernel);
            let d = out.pop().unwrap();
            let a = out.pop().unwrap();
            stack.push((format!("{name}d"), d));
            stack.push((format!("{name}a"), a));
        }
        data = approx;
    }
    let label = "L".repeat(axes.len());
    let name = if level == 1 {
        format!("wavelet-{label}")
    } else {
        format!("wavelet{level}-{label}")
    };
    sink(Band {
        name,
        data: crop(data.as_ref().unwrap()),
    })
}
