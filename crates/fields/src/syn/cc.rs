//! DIPY's cross-correlation metric (`dipy.align.crosscorr`, `dipy.align.metrics.CCMetric`):
//! the local sums of a `(2 radius + 1)`-wide window, the forward and backward steps and their
//! energy, with DIPY's arithmetic.
//!
//! Arrays use voxelkit's layout (first axis fastest); loops that carry state (the 3D running
//! window sums, the 2D line sums) visit voxels in DIPY's C order, so every sum is formed with
//! the same operations in the same order. The 3D running sums reproduce DIPY's two-slab
//! circular buffer exactly (including its reuse of rows and columns past the grid, whose
//! contributions cancel only up to rounding); the five factors' sums are independent, so two
//! scans (three and two factors) run side by side. Steps are per voxel; the energy is summed in C order
//! afterwards. Results do not depend on the thread count.

use crate::compose::{coords, step as step_coords};
use rayon::prelude::*;

const SI: usize = 0;
const SI2: usize = 1;
const SJ: usize = 2;
const SJ2: usize = 3;
const SIJ: usize = 4;

/// The five CC factors per voxel (DIPY's `factors[..., k]`), float32 as DIPY keeps them for
/// float32 images: `static - mean`, `moving - mean`, `sfm`, `sff`, `smm`.
pub struct Factors {
    pub f: [Vec<f32>; 5],
}

#[inline(always)]
fn idx(dims: [usize; 3], x: usize, y: usize, z: usize) -> usize {
    x + dims[0] * (y + dims[1] * z)
}

#[inline(always)]
fn channel(k: usize, s: f64, m: f64) -> f64 {
    match k {
        SI => s,
        SI2 => s * s,
        SJ => m,
        SJ2 => m * m,
        _ => s * m,
    }
}

/// `precompute_cc_factors_3d`'s running window sums of all five factors in one pass (DIPY's
/// loop, the five sums side by side as DIPY's `temp[..., it]`), each running value kept in a
/// register: the same operations in the same order (grids of 2+ voxels per axis, so no term
/// aliases the value being formed). Calls `emit(ss, rr, cc, sums)` once per voxel, in DIPY's
/// order. (With more than one thread the kernels run the channels in two groups of
/// [`scan3_group`] instead: the same sums.)
fn scan3_all(
    st: &[f32],
    mv: &[f32],
    dims: [usize; 3],
    radius: usize,
    emit: impl FnMut(usize, usize, usize, &[f64; 5]),
) {
    let vals = c_order_values(st, mv, dims, |s, m| [s, s * s, m, m * m, s * m]);
    scan3_group(&vals, dims, radius, emit)
}

/// Per voxel of the `dims` grid, in DIPY's C order (last axis fastest), the channel values
/// `f(static, moving)` (float64 of the float32 images).
fn c_order_values<const N: usize>(
    st: &[f32],
    mv: &[f32],
    dims: [usize; 3],
    f: impl Fn(f64, f64) -> [f64; N] + Sync,
) -> Vec<[f64; N]> {
    let (nr, nc) = (dims[1], dims[2]);
    let mut vals = vec![[0.0f64; N]; st.len()];
    vals.par_chunks_mut(nr * nc)
        .enumerate()
        .for_each(|(s, slab)| {
            let mut j = 0;
            for r in 0..nr {
                for c in 0..nc {
                    let i = idx(dims, s, r, c);
                    slab[j] = f(st[i] as f64, mv[i] as f64);
                    j += 1;
                }
            }
        });
    vals
}

/// The running window sums of `N` channels (`vals` in C order), DIPY's loop: see
/// [`scan3_all`]. Every channel's sum takes the same operations whatever channels run beside it.
fn scan3_group<const N: usize>(
    vals: &[[f64; N]],
    dims: [usize; 3],
    radius: usize,
    mut emit: impl FnMut(usize, usize, usize, &[f64; N]),
) {
    let (ns, nr, nc) = (dims[0], dims[1], dims[2]);
    let rad = radius;
    let side = 2 * rad + 1;
    let wrap = |x: isize, m: usize| {
        if x < 0 {
            (x + m as isize) as usize
        } else {
            x as usize
        }
    };
    let mut temp = vec![[0.0f64; N]; 2 * nr * nc];
    let at = |s: usize, r: usize, c: usize| (s * nr + r) * nc + c;
    #[inline(always)]
    fn add<const N: usize>(t: &mut [f64; N], v: &[f64; N]) {
        for k in 0..N {
            t[k] += v[k];
        }
    }
    #[inline(always)]
    fn sub<const N: usize>(t: &mut [f64; N], v: &[f64; N]) {
        for k in 0..N {
            t[k] -= v[k];
        }
    }
    let mut sss = 1usize;
    for s in 0..ns + rad {
        let ss = wrap(s as isize - rad as isize, ns);
        sss = 1 - sss;
        let ps = 1 - sss;
        for r in 0..nr + rad {
            let rr = wrap(r as isize - rad as isize, nr);
            let pr = wrap(rr as isize - 1, nr);
            let cur_row = (sss * nr + rr) * nc;
            let ps_row = (ps * nr + rr) * nc;
            let pspr_row = (ps * nr + pr) * nc;
            let pr_row = (sss * nr + pr) * nc;
            let sr_in = s < ns && r < nr;
            for c in 0..nc + rad {
                let cc = wrap(c as isize - rad as isize, nc);
                let pc = wrap(cc as isize - 1, nc);
                let mut t = if sr_in && c < nc {
                    vals[at(s, r, c)]
                } else {
                    [0.0; N]
                };
                if s > 0 {
                    add(&mut t, &temp[ps_row + cc]);
                    if r > 0 {
                        sub(&mut t, &temp[pspr_row + cc]);
                        if c > 0 {
                            add(&mut t, &temp[pspr_row + pc]);
                        }
                    }
                    if c > 0 {
                        sub(&mut t, &temp[ps_row + pc]);
                    }
                }
                if r > 0 {
                    add(&mut t, &temp[pr_row + cc]);
                    if c > 0 {
                        sub(&mut t, &temp[pr_row + pc]);
                    }
                }
                if c > 0 {
                    add(&mut t, &temp[cur_row + pc]);
                }
                // the window's far faces (values past the grid are absent)
                let c_in = c < nc;
                let cs_in = c >= side && c - side < nc;
                if s >= side && s - side < ns {
                    let s2 = s - side;
                    if r < nr && c_in {
                        sub(&mut t, &vals[at(s2, r, c)]);
                    }
                    if r >= side {
                        if c_in {
                            add(&mut t, &vals[at(s2, r - side, c)]);
                        }
                        if cs_in {
                            sub(&mut t, &vals[at(s2, r - side, c - side)]);
                        }
                    }
                    if cs_in && r < nr {
                        add(&mut t, &vals[at(s2, r, c - side)]);
                    }
                }
                if s < ns && r >= side {
                    if c_in {
                        sub(&mut t, &vals[at(s, r - side, c)]);
                    }
                    if cs_in {
                        add(&mut t, &vals[at(s, r - side, c - side)]);
                    }
                }
                if sr_in && cs_in {
                    sub(&mut t, &vals[at(s, r, c - side)]);
                }
                temp[cur_row + cc] = t;
                if s >= rad && r >= rad && c >= rad {
                    emit(ss, rr, cc, &t);
                }
            }
        }
    }
}

/// One factor's running window sums as DIPY writes the loop, for any grid (the reference the fast loop is tested against).
fn scan3_ref(k: usize, st: &[f32], mv: &[f32], dims: [usize; 3], radius: usize) -> Vec<f64> {
    let (ns, nr, nc) = (dims[0] as isize, dims[1] as isize, dims[2] as isize);
    let rad = radius as isize;
    let side = 2 * rad + 1;
    let wrap = |x: isize, m: isize| if x < 0 { x + m } else { x };
    let mut temp = vec![0.0f64; 2 * (nr * nc) as usize];
    let t = |sl: isize, r: isize, c: isize| ((sl * nr + r) * nc + c) as usize;
    let mut out = vec![0.0f64; st.len()];
    // the channel's values in DIPY's C order (last axis fastest), read once
    let mut vals = vec![0.0f64; st.len()];
    for (j, v) in vals.iter_mut().enumerate() {
        let (c, r, s) = (
            j % dims[2],
            (j / dims[2]) % dims[1],
            j / (dims[1] * dims[2]),
        );
        let i = idx(dims, s, r, c);
        *v = channel(k, st[i] as f64, mv[i] as f64);
    }
    // value at raw (s, r, c); None past the grid
    let val = |s: isize, r: isize, c: isize| -> Option<f64> {
        if s >= ns || r >= nr || c >= nc {
            None
        } else {
            Some(vals[((s * nr + r) * nc + c) as usize])
        }
    };
    let mut sss: isize = 1;
    for s in 0..ns + rad {
        let ss = wrap(s - rad, ns);
        sss = 1 - sss;
        for r in 0..nr + rad {
            let rr = wrap(r - rad, nr);
            for c in 0..nc + rad {
                let cc = wrap(c - rad, nc);
                let cur = t(sss, rr, cc);
                temp[cur] = val(s, r, c).unwrap_or(0.0);
                if s > 0 {
                    let ps = 1 - sss;
                    temp[cur] += temp[t(ps, rr, cc)];
                    if r > 0 {
                        let pr = wrap(rr - 1, nr);
                        temp[cur] -= temp[t(ps, pr, cc)];
                        if c > 0 {
                            let pc = wrap(cc - 1, nc);
                            temp[cur] += temp[t(ps, pr, pc)];
                        }
                    }
                    if c > 0 {
                        let pc = wrap(cc - 1, nc);
                        temp[cur] -= temp[t(ps, rr, pc)];
                    }
                }
                if r > 0 {
                    let pr = wrap(rr - 1, nr);
                    temp[cur] += temp[t(sss, pr, cc)];
                    if c > 0 {
                        let pc = wrap(cc - 1, nc);
                        temp[cur] -= temp[t(sss, pr, pc)];
                    }
                }
                if c > 0 {
                    let pc = wrap(cc - 1, nc);
                    temp[cur] += temp[t(sss, rr, pc)];
                }
                let mut upd = |s: isize, r: isize, c: isize, sign: f64| {
                    if let Some(v) = val(s, r, c) {
                        if sign < 0.0 {
                            temp[cur] -= v;
                        } else {
                            temp[cur] += v;
                        }
                    }
                };
                if s >= side {
                    upd(s - side, r, c, -1.0);
                    if r >= side {
                        upd(s - side, r - side, c, 1.0);
                        if c >= side {
                            upd(s - side, r - side, c - side, -1.0);
                        }
                    }
                    if c >= side {
                        upd(s - side, r, c - side, 1.0);
                    }
                }
                if r >= side {
                    upd(s, r - side, c, -1.0);
                    if c >= side {
                        upd(s, r - side, c - side, 1.0);
                    }
                }
                if c >= side {
                    upd(s, r, c - side, -1.0);
                }
                if s >= rad && r >= rad && c >= rad {
                    out[idx(dims, ss as usize, rr as usize, cc as usize)] = temp[cur];
                }
            }
        }
    }
    out
}

#[inline(always)]
fn finish(sums: [f64; 5], cnt: f64, sv: f32, mv: f32) -> [f32; 5] {
    let imean = sums[SI] / cnt;
    let jmean = sums[SJ] / cnt;
    let ij = sums[SIJ] - jmean * sums[SI] - imean * sums[SJ] + cnt * jmean * imean;
    let isq = sums[SI2] - imean * sums[SI] - imean * sums[SI] + cnt * imean * imean;
    let jsq = sums[SJ2] - jmean * sums[SJ] - jmean * sums[SJ] + cnt * jmean * jmean;
    [
        (sv as f64 - imean) as f32,
        (mv as f64 - jmean) as f32,
        ij as f32,
        isq as f32,
        jsq as f32,
    ]
}

/// `precompute_cc_factors_3d(static, moving, radius)` (float32 images; every axis at least
/// `2 radius + 1` long, as DIPY's CC metric requires).
pub fn factors_3d(st: &[f32], mv: &[f32], dims: [usize; 3], radius: usize) -> Factors {
    let n = st.len();
    let f: [Vec<f32>; 5];
    let mut flat = vec![0.0f32; 5 * n];
    let side = |p: usize, n: usize| {
        let first = p.saturating_sub(radius);
        let last = (p + radius).min(n - 1);
        (last - first + 1) as isize
    };
    let emit = |x: usize, y: usize, z: usize, s: &[f64; 5], f: &mut [Vec<f32>; 5]| {
        let i = idx(dims, x, y, z);
        let cnt = (side(x, dims[0]) * side(y, dims[1]) * side(z, dims[2])) as f64;
        let v = finish(*s, cnt, st[i], mv[i]);
        for k in 0..5 {
            f[k][i] = v[k];
        }
    };
    if dims.iter().all(|&d| d >= 2) && rayon::current_num_threads() == 1 {
        // one thread: the five sums in one scan, the factors as they come
        let mut g: [Vec<f32>; 5] = std::array::from_fn(|_| vec![0.0f32; n]);
        scan3_all(st, mv, dims, radius, |x, y, z, s| emit(x, y, z, s, &mut g));
        f = g;
    } else if dims.iter().all(|&d| d >= 2) {
        // two independent scans side by side (a fixed split of the channels: the same sums at
        // any thread count), then the factors per voxel
        fn sums_of<const N: usize>(
            vals: Vec<[f64; N]>,
            dims: [usize; 3],
            radius: usize,
        ) -> Vec<[f64; N]> {
            let mut sums = vec![[0.0f64; N]; vals.len()];
            scan3_group(&vals, dims, radius, |x, y, z, s| {
                sums[idx(dims, x, y, z)] = *s
            });
            sums
        }
        let (a, b) = rayon::join(
            || {
                sums_of(
                    c_order_values(st, mv, dims, |s, m| [s, s * s, m]),
                    dims,
                    radius,
                )
            },
            || {
                sums_of(
                    c_order_values(st, mv, dims, |s, m| [m * m, s * m]),
                    dims,
                    radius,
                )
            },
        );
        let planes = crate::chunks::Planes::<f32, 5>::new(&mut flat, n);
        (0..n.div_ceil(TASK)).into_par_iter().for_each(|t| {
            let r = t * TASK..((t + 1) * TASK).min(n);
            planes.check(&r);
            let mut xyz = coords(r.start, dims);
            for i in r {
                let [x, y, z] = xyz;
                step_coords(&mut xyz, dims);
                let cnt = (side(x, dims[0]) * side(y, dims[1]) * side(z, dims[2])) as f64;
                let (p, q) = (a[i], b[i]);
                let v = finish([p[0], p[1], p[2], q[0], q[1]], cnt, st[i], mv[i]);
                for (k, vk) in v.iter().enumerate() {
                    // SAFETY: i lies in this task's range (checked above)
                    unsafe { planes.set(k, i, *vk) };
                }
            }
        });
        let mut it = flat.chunks_exact(n.max(1)).map(|c| c.to_vec());
        f = std::array::from_fn(|_| it.next().unwrap_or_default());
    } else {
        let mut g: [Vec<f32>; 5] = std::array::from_fn(|_| vec![0.0f32; n]);
        let sums: Vec<Vec<f64>> = (0..5).map(|k| scan3_ref(k, st, mv, dims, radius)).collect();
        for i in 0..n {
            let (x, y, z) = (
                i % dims[0],
                (i / dims[0]) % dims[1],
                i / (dims[0] * dims[1]),
            );
            let s = [sums[0][i], sums[1][i], sums[2][i], sums[3][i], sums[4][i]];
            emit(x, y, z, &s, &mut g);
        }
        f = g;
    }
    Factors { f }
}

/// `precompute_cc_factors_2d(static, moving, radius)` (float32 images, `dims[2] == 1`).
pub fn factors_2d(st: &[f32], mv: &[f32], dims: [usize; 3], radius: usize) -> Factors {
    let (nr, nc) = (dims[0], dims[1]);
    let side = 2 * radius + 1;
    let cols: Vec<Vec<[f32; 5]>> = (0..nc)
        .into_par_iter()
        .map(|c| {
            let mut col = vec![[0.0f32; 5]; nr];
            let firstc = c.saturating_sub(radius);
            let lastc = (c + radius).min(nc - 1);
            let mut lines = [[0.0f64; 6]; 64];
            let mut lines_v = vec![[0.0f64; 6]; side];
            let lines: &mut [[f64; 6]] = if side <= 64 {
                &mut lines[..side]
            } else {
                &mut lines_v[..]
            };
            let mut sums = [0.0f64; 6];
            let emit = |sums: &[f64; 6], r: usize, col: &mut Vec<[f32; 5]>| {
                let i = r + nr * c;
                col[r] = finish(
                    [sums[0], sums[1], sums[2], sums[3], sums[4]],
                    sums[5],
                    st[i],
                    mv[i],
                );
            };
            for i in 0..nr {
                let q = i % side;
                lines[q] = [0.0; 6];
                for j in firstc..=lastc {
                    let s = st[i + nr * j];
                    let m = mv[i + nr * j];
                    // DIPY's 2D line sums multiply in the image type (float32 here)
                    lines[q][SI] += s as f64;
                    lines[q][SI2] += (s * s) as f64;
                    lines[q][SJ] += m as f64;
                    lines[q][SJ2] += (m * m) as f64;
                    lines[q][SIJ] += (s * m) as f64;
                    lines[q][5] += 1.0;
                }
                for t in 0..6 {
                    sums[t] = 0.0;
                    for l in lines.iter() {
                        sums[t] += l[t];
                    }
                }
                if i >= radius {
                    emit(&sums, i - radius, &mut col);
                }
            }
            for r in nr.saturating_sub(radius)..nr {
                let q = (r + radius) % side;
                for t in 0..6 {
                    sums[t] -= lines[q][t];
                }
                emit(&sums, r, &mut col);
            }
            col
        })
        .collect();
    let n = nr * nc;
    let mut f: [Vec<f32>; 5] = std::array::from_fn(|_| vec![0.0f32; n]);
    for (c, col) in cols.iter().enumerate() {
        for (r, v) in col.iter().enumerate() {
            for k in 0..5 {
                f[k][r + nr * c] = v[k];
            }
        }
    }
    Factors { f }
}

/// Voxels per parallel task of the per-voxel passes (fixed: the same tasks at any thread count).
const TASK: usize = 4096;

/// DIPY's `compute_cc_forward_step_*` (`forward = true`, with the static image's gradient) or
/// `compute_cc_backward_step_*` (with the moving image's): the step (float32, `ndim` planes)
/// and the energy.
pub fn step(
    grad: &[Vec<f32>],
    fac: &Factors,
    dims: [usize; 3],
    ndim: usize,
    radius: usize,
    forward: bool,
) -> (Vec<f32>, f64) {
    let n = dims[0] * dims[1] * dims[2];
    let mut out = vec![0.0f32; ndim * n];
    // per voxel: the energy term (0 where DIPY adds none: subtracting +0 leaves the sum's bits)
    let mut terms = vec![0.0f64; n];
    let inner = |p: usize, m: usize| p >= radius && p + radius < m;
    let planes = crate::chunks::Planes::<f32, 3>::new_padded(&mut out, n, ndim);
    terms.par_chunks_mut(TASK).enumerate().for_each(|(t, tc)| {
        let start = t * TASK;
        planes.check(&(start..start + tc.len()));
        let mut xyz = coords(start, dims);
        for (j, term) in tc.iter_mut().enumerate() {
            let i = start + j;
            let [x, y, z] = xyz;
            step_coords(&mut xyz, dims);
            if !(inner(x, dims[0]) && inner(y, dims[1]) && (ndim == 2 || inner(z, dims[2]))) {
                continue;
            }
            let ii = fac.f[0][i] as f64;
            let ji = fac.f[1][i] as f64;
            let sfm = fac.f[2][i] as f64;
            let sff = fac.f[3][i] as f64;
            let smm = fac.f[4][i] as f64;
            if sff == 0.0 || smm == 0.0 {
                continue;
            }
            let mut lc = 0.0;
            if sff * smm > 1e-5 {
                lc = sfm * sfm / (sff * smm);
            }
            if lc < 1.0 {
                *term = lc;
            }
            let temp = if forward {
                2.0 * sfm / (sff * smm) * (ji - sfm / sff * ii)
            } else {
                2.0 * sfm / (sff * smm) * (ii - sfm / smm * ji)
            };
            for (c, g) in grad.iter().enumerate().take(ndim) {
                // SAFETY: i lies in this task's range (checked above), c < ndim planes
                unsafe { planes.set(c, i, (0.0 - temp * g[i] as f64) as f32) };
            }
        }
    });
    // energy in DIPY's C order (last axis fastest)
    let mut energy = 0.0f64;
    let (nx, ny, nz) = (dims[0], dims[1], dims[2]);
    for x in 0..nx {
        for y in 0..ny {
            for z in 0..nz {
                energy -= terms[idx(dims, x, y, z)];
            }
        }
    }
    (out, energy)
}

/// `numpy.gradient`'s value at voxel `i` along an axis of `stride` and length `m`, `p` the
/// voxel's coordinate on that axis (float32 arithmetic: central differences halved inside,
/// one-sided differences at the ends).
#[inline(always)]
pub(crate) fn gradient_at(img: &[f32], i: usize, stride: usize, p: usize, m: usize) -> f32 {
    if p == 0 {
        img[i + stride] - img[i]
    } else if p == m - 1 {
        img[i] - img[i - stride]
    } else {
        (img[i + stride] - img[i - stride]) / 2.0
    }
}

/// `numpy.gradient` of a float32 array along each of its `ndim` axes (float32 arithmetic:
/// central differences halved inside, one-sided differences at the ends).
pub fn gradient(img: &[f32], dims: [usize; 3], ndim: usize) -> Vec<Vec<f32>> {
    (0..ndim)
        .map(|axis| {
            let stride = [1, dims[0], dims[0] * dims[1]][axis];
            let m = dims[axis];
            let mut g = vec![0.0f32; img.len()];
            g.par_chunks_mut(TASK).enumerate().for_each(|(t, gc)| {
                let start = t * TASK;
                let mut xyz = coords(start, dims);
                for (j, o) in gc.iter_mut().enumerate() {
                    *o = gradient_at(img, start + j, stride, xyz[axis], m);
                    step_coords(&mut xyz, dims);
                }
            });
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_scan_equals_dipys_loop_bitwise() {
        for (dims, radius) in [
            ([7, 9, 8], 2),
            ([12, 11, 10], 4),
            ([5, 6, 5], 2),
            ([9, 9, 9], 1),
            ([9, 10, 11], 4),
        ] {
            let n = dims[0] * dims[1] * dims[2];
            let st: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 * 0.013).sin())
                .collect();
            let mv: Vec<f32> = (0..n)
                .map(|i| ((i * 53 % 97) as f32 * 0.021).cos())
                .collect();
            let n = st.len();
            let mut a = vec![[0.0f64; 5]; n];
            scan3_all(&st, &mv, dims, radius, |x, y, z, s| {
                a[idx(dims, x, y, z)] = *s
            });
            for k in 0..5 {
                let b = scan3_ref(k, &st, &mv, dims, radius);
                assert!(
                    a.iter().zip(&b).all(|(x, y)| x[k].to_bits() == y.to_bits()),
                    "{dims:?} r {radius} k {k}"
                );
            }
        }
    }
}
