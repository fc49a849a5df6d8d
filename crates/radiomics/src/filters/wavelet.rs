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

use super::wavelet_table::{ORTHOGONAL, OTHER};
use super::Source;
use rayon::prelude::*;
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

/// A box of the (padded) grid given by a sorted set of coordinates per axis (`[x, y, z]`), its
/// values x fastest over the product of the sets.
struct Sparse {
    sets: [Vec<usize>; 3],
    data: Vec<f64>,
}

impl Sparse {
    /// The values on the product of `sets` (each a subset of the own), x fastest.
    fn crop(self, sets: &[Vec<usize>; 3]) -> Vec<f64> {
        if *sets == self.sets {
            return self.data;
        }
        let pos = |d: usize| -> Vec<usize> {
            sets[d]
                .iter()
                .map(|c| self.sets[d].binary_search(c).unwrap())
                .collect()
        };
        let (px, py, pz) = (pos(0), pos(1), pos(2));
        let (nx, ny) = (self.sets[0].len(), self.sets[1].len());
        let mut out = Vec::with_capacity(px.len() * py.len() * pz.len());
        for &z in &pz {
            for &y in &py {
                for &x in &px {
                    out.push(self.data[(z * ny + y) * nx + x]);
                }
            }
        }
        out
    }
}

/// The coordinates a level-1 transform along an axis of length `n` reads to produce `out`:
/// `(i + L/2 - j) mod n` for `i` in `out`, `j < L`.
fn window(out: &[usize], n: usize, l: usize) -> Vec<usize> {
    let mut hit = vec![false; n];
    for &i in out {
        for j in 0..l {
            hit[(i + l / 2 + n * l - j) % n] = true;
        }
    }
    (0..n).filter(|&m| hit[m]).collect()
}

/// One level-1 transform along `axis` (padded length `n`) of `g`, on the coordinates `out`
/// along `axis`: the low- and high-pass images. Each value is PyWavelets' periodic convolution
/// `Σ_j f[j] x[(i + L/2 - j) mod n]`, summed in `j` order from 0; lines run in parallel, so
/// the result does not depend on the thread count.
fn transform(
    g: &Sparse,
    axis: usize,
    n: usize,
    out: &[usize],
    lo: &[f64],
    hi: &[f64],
) -> [Sparse; 2] {
    let l = lo.len();
    let inset = &g.sets[axis];
    // where each coordinate along the axis sits in the line (absent ones are never read)
    let mut pos = vec![usize::MAX; n];
    for (k, &m) in inset.iter().enumerate() {
        pos[m] = k;
    }
    // for each output coordinate, the positions of its L inputs in the line, in j order
    let taps: Vec<usize> = out
        .iter()
        .flat_map(|&i| (0..l).map(move |j| (i + l / 2 + n * l - j) % n))
        .map(|m| pos[m])
        .collect();
    let dims = g.sets.clone().map(|v| v.len());
    let stride = [1, dims[0], dims[0] * dims[1]];
    let mut osets = g.sets.clone();
    osets[axis] = out.to_vec();
    let odims = osets.clone().map(|v| v.len());
    let ostride = [1, odims[0], odims[0] * odims[1]];
    let (t1, t2) = match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    let nin = dims[axis];
    let nout = out.len();
    // per coordinate along t2: both images' values, [t1][i]
    let parts: Vec<[Vec<f64>; 2]> = (0..dims[t2])
        .into_par_iter()
        .map(|j2| {
            let mut line = vec![0.0; nin];
            let mut part = [vec![0.0; dims[t1] * nout], vec![0.0; dims[t1] * nout]];
            for j1 in 0..dims[t1] {
                let base = j2 * stride[t2] + j1 * stride[t1];
                for (k, v) in line.iter_mut().enumerate() {
                    *v = g.data[base + k * stride[axis]];
                }
                for (f, dst) in [lo, hi].into_iter().zip(part.iter_mut()) {
                    let dst = &mut dst[j1 * nout..(j1 + 1) * nout];
                    for (o, t) in dst.iter_mut().zip(taps.chunks_exact(l)) {
                        let mut s = 0.0;
                        for (c, &k) in f.iter().zip(t) {
                            s += c * line[k];
                        }
                        *o = s;
                    }
                }
            }
            part
        })
        .collect();
    let total: usize = odims.iter().product();
    let mut res = [vec![0.0; total], vec![0.0; total]];
    for (j2, part) in parts.iter().enumerate() {
        for (r, p) in res.iter_mut().zip(part) {
            for j1 in 0..dims[t1] {
                let base = j2 * ostride[t2] + j1 * ostride[t1];
                for (i, &v) in p[j1 * nout..(j1 + 1) * nout].iter().enumerate() {
                    r[base + i * ostride[axis]] = v;
                }
            }
        }
    }
    let [a, d] = res;
    [
        Sparse {
            sets: osets.clone(),
            data: a,
        },
        Sparse {
            sets: osets,
            data: d,
        },
    ]
}

/// Runs the transform and calls `sink` with each image in PyRadiomics' order. `axes`: the
/// filtered axes in our order (x = 0), x first; `force2D` drops one.
///
/// Every value depends only on a bounded periodic neighbourhood (`L` taps per axis and level),
/// so the images are computed on the bounding box only: each level's input is computed on the
/// coordinates its transforms read (the box widened by the filter's window, modulo the padded
/// size, once per level back to the source), with the same sums as over the whole image.
pub fn wavelet_images(
    src: &Source<'_>,
    wavelet: &str,
    start_level: usize,
    level: usize,
    axes: &[usize],
    sink: &mut dyn FnMut(Band) -> Result<()>,
) -> Result<()> {
    let (lo_f, hi_f) = filters(wavelet)?;
    let l = lo_f.len();
    let n = src.shape;
    let padded = n.map(|v| v + v % 2);
    let total = start_level + level;
    // needs[lev][a]: the coordinates along a on which level lev's images are needed
    let boxed: [Vec<usize>; 3] =
        [0, 1, 2].map(|d| (src.box_origin[d]..src.box_origin[d] + src.box_size[d]).collect());
    let mut needs = vec![boxed];
    for _ in 0..total {
        let last = needs.last().unwrap();
        let prev = [0, 1, 2].map(|d| {
            if axes.contains(&d) {
                window(&last[d], padded[d], l)
            } else {
                last[d].clone()
            }
        });
        needs.push(prev);
    }
    needs.reverse(); // needs[0]: the source's, needs[total]: the box
    let values = src.values;
    let source = {
        let sets = needs[0].clone();
        let dims = sets.clone().map(|v| v.len());
        let data: Vec<f64> = (0..dims.iter().product::<usize>())
            .into_par_iter()
            .map(|k| {
                let p = [
                    k % dims[0],
                    (k / dims[0]) % dims[1],
                    k / (dims[0] * dims[1]),
                ];
                // the wrap padding of an odd size: coordinate n reads 0
                let q = [0, 1, 2].map(|d| {
                    let c = sets[d][p[d]];
                    if c >= n[d] {
                        0
                    } else {
                        c
                    }
                });
                values((q[2] * n[1] + q[1]) * n[0] + q[0])
            })
            .collect();
        Sparse { sets, data }
    };
    let mut data = source;
    for lev in 0..total {
        let yields = lev >= start_level;
        let want = &needs[lev + 1];
        // depth-first over the axes: bands in PyWavelets' order (aaa, aad, ada, …, ddd)
        let mut approx: Option<Sparse> = None;
        let mut stack: Vec<(String, Sparse)> = vec![(String::new(), data)];
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
                        data: g.crop(&needs[total]),
                    })?;
                }
                continue;
            }
            let ax = axes[name.len()];
            let [a, d] = transform(&g, ax, padded[ax], &want[ax], &lo_f, &hi_f);
            drop(g);
            stack.push((format!("{name}d"), d));
            stack.push((format!("{name}a"), a));
        }
        data = approx.unwrap();
    }
    let label = "L".repeat(axes.len());
    let name = if level == 1 {
        format!("wavelet-{label}")
    } else {
        format!("wavelet{level}-{label}")
    };
    sink(Band {
        name,
        data: data.crop(&needs[total]),
    })
}
