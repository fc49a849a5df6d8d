//! `LoG`: SimpleITK's `LaplacianRecursiveGaussianImageFilter` with `NormalizeAcrossScale` on, as
//! PyRadiomics' `getLoGImage` runs it.
//!
//! ITK approximates the Gaussian and its second derivative by Deriche's 4th-order recursive
//! filters (causal + anti-causal pass per line) with the coefficients of
//! `RecursiveGaussianImageFilter::SetUp` (sigma in voxels `sigma / spacing`; the second
//! derivative normalised by `sigma²` across scale) and edge-extension boundary coefficients. For
//! each axis `d` the second derivative along `d` is followed by smoothing along the two other
//! axes in increasing order; each pass filters a line in double and stores float32 (ITK's
//! `InternalRealType`); the three results are accumulated as
//! `float(acc + b * (1 / spacing_d²))`. The output is float32, so voxelkit reproduces it to a
//! few float32 rounding steps (see the fixtures' tolerance).

use super::Source;
use rayon::prelude::*;
use voxelkit_core::{Error, Result, Sample};

/// Coefficients of one recursive pass (ITK's `m_N*`, `m_D*`, `m_M*`, `m_BN*`, `m_BM*`).
#[derive(Debug, Clone, Copy)]
struct Coeffs {
    n: [f64; 4],
    d: [f64; 4],
    m: [f64; 4],
    bn: [f64; 4],
    bm: [f64; 4],
}

// Deriche's fitted parameters as ITK tabulates them (zero and second order).
const W1: f64 = 0.6681;
const L1: f64 = -1.3932;
const W2: f64 = 2.0787;
const L2: f64 = -1.3732;
const A1: [f64; 3] = [1.3530, -0.6724, -1.3563];
const B1: [f64; 3] = [1.8151, -3.4327, 5.2318];
const A2: [f64; 3] = [-0.3531, 0.6724, 0.3446];
const B2: [f64; 3] = [0.0902, 0.6100, -2.2355];

/// N coefficients and their moments SN, DN, EN for one (A1, B1, A2, B2) set.
fn n_coeffs(sd: f64, a1: f64, b1: f64, a2: f64, b2: f64) -> ([f64; 4], f64, f64, f64) {
    let (s1, s2) = ((W1 / sd).sin(), (W2 / sd).sin());
    let (c1, c2) = ((W1 / sd).cos(), (W2 / sd).cos());
    let (e1, e2) = ((L1 / sd).exp(), (L2 / sd).exp());
    let n0 = a1 + a2;
    let mut n1 = e2 * (b2 * s2 - (a2 + 2.0 * a1) * c2);
    n1 += e1 * (b1 * s1 - (a1 + 2.0 * a2) * c1);
    let mut n2 = (a1 + a2) * c2 * c1;
    n2 -= b1 * c2 * s1 + b2 * c1 * s2;
    n2 *= 2.0 * e1 * e2;
    n2 += a2 * e1 * e1 + a1 * e2 * e2;
    let mut n3 = e2 * e1 * e1 * (b2 * s2 - a2 * c2);
    n3 += e1 * e2 * e2 * (b1 * s1 - a1 * c1);
    let sn = n0 + n1 + n2 + n3;
    let dn = n1 + 2.0 * n2 + 3.0 * n3;
    let en = n1 + 4.0 * n2 + 9.0 * n3;
    ([n0, n1, n2, n3], sn, dn, en)
}

/// D coefficients and SD, DD, ED.
fn d_coeffs(sd: f64) -> ([f64; 4], f64, f64, f64) {
    let (c1, c2) = ((W1 / sd).cos(), (W2 / sd).cos());
    let (e1, e2) = ((L1 / sd).exp(), (L2 / sd).exp());
    let d4 = e1 * e1 * e2 * e2;
    let mut d3 = -2.0 * c1 * e1 * e2 * e2;
    d3 += -2.0 * c2 * e2 * e1 * e1;
    let mut d2 = 4.0 * c2 * c1 * e1 * e2;
    d2 += e1 * e1 + e2 * e2;
    let d1 = -2.0 * (e2 * c2 + e1 * c1);
    let s = 1.0 + d1 + d2 + d3 + d4;
    let dd = d1 + 2.0 * d2 + 3.0 * d3 + 4.0 * d4;
    let ed = d1 + 4.0 * d2 + 9.0 * d3 + 16.0 * d4;
    ([d1, d2, d3, d4], s, dd, ed)
}

/// ITK's `SetUp` for the zero order (`second == false`) or the second order with
/// normalisation across scale.
fn setup(sigma: f64, spacing: f64, second: bool) -> Coeffs {
    let sd = sigma / spacing;
    let (d, sdd, dd, ed) = d_coeffs(sd);
    let mut n;
    if !second {
        let (n0, sn, _, _) = n_coeffs(sd, A1[0], B1[0], A2[0], B2[0]);
        n = n0;
        let alpha0 = 2.0 * sn / sdd - n[0];
        for v in n.iter_mut() {
            *v *= 1.0 / alpha0;
        }
    } else {
        let norm = sigma * sigma;
        let (n0, sn0, dn0, en0) = n_coeffs(sd, A1[0], B1[0], A2[0], B2[0]);
        let (n2, sn2, dn2, en2) = n_coeffs(sd, A1[2], B1[2], A2[2], B2[2]);
        let beta = -(2.0 * sn2 - sdd * n2[0]) / (2.0 * sn0 - sdd * n0[0]);
        n = [0, 1, 2, 3].map(|k| n2[k] + beta * n0[k]);
        let sn = sn2 + beta * sn0;
        let dn = dn2 + beta * dn0;
        let en = en2 + beta * en0;
        let mut alpha2 = en * sdd * sdd - ed * sn * sdd - 2.0 * dn * dd * sdd + 2.0 * dd * dd * sn;
        alpha2 /= sdd * sdd * sdd;
        for v in n.iter_mut() {
            *v *= norm / alpha2;
        }
    }
    // symmetric kernels (orders 0 and 2)
    let m = [
        n[1] - d[0] * n[0],
        n[2] - d[1] * n[0],
        n[3] - d[2] * n[0],
        -d[3] * n[0],
    ];
    let sn = n[0] + n[1] + n[2] + n[3];
    let sm = m[0] + m[1] + m[2] + m[3];
    let s = 1.0 + d[0] + d[1] + d[2] + d[3];
    Coeffs {
        n,
        d,
        m,
        bn: d.map(|v| v * sn / s),
        bm: d.map(|v| v * sm / s),
    }
}

/// What a line filter computes on: one line (`f64`) or [`W`] lines in lockstep ([`Lanes`]), each
/// lane with the same operations in the same order as a single line, so bitwise the same.
trait Lane:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<f64, Output = Self>
    + std::ops::AddAssign
    + std::ops::SubAssign
{
}

impl Lane for f64 {}

/// Lines filtered together (independent recursions: the lanes fill the FPU's pipeline).
const W: usize = 8;

#[derive(Clone, Copy)]
struct Lanes([f64; W]);

impl std::ops::Add for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn add(self, b: Lanes) -> Lanes {
        Lanes(std::array::from_fn(|l| self.0[l] + b.0[l]))
    }
}

impl std::ops::Sub for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn sub(self, b: Lanes) -> Lanes {
        Lanes(std::array::from_fn(|l| self.0[l] - b.0[l]))
    }
}

impl std::ops::Mul<f64> for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn mul(self, b: f64) -> Lanes {
        Lanes(std::array::from_fn(|l| self.0[l] * b))
    }
}

impl std::ops::AddAssign for Lanes {
    #[inline(always)]
    fn add_assign(&mut self, b: Lanes) {
        *self = *self + b;
    }
}

impl std::ops::SubAssign for Lanes {
    #[inline(always)]
    fn sub_assign(&mut self, b: Lanes) {
        *self = *self - b;
    }
}

impl Lane for Lanes {}

#[inline(always)]
fn ema<X: Lane>(a: [X; 4], b: [f64; 4]) -> X {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]
}

/// [`filter_line`] on [`W`] lines in lockstep, with the CPU's widest plain vector registers:
/// AVX-512 (one register holds the [`W`] lanes, and 32 registers hold both recursions' state, so
/// the causal and anti-causal recursions run interleaved: [`filter_line_interleaved`]) or AVX
/// where the CPU has it. The same IEEE operations in the same order, only more lanes per
/// instruction: no fused multiply-add, so every bit is the baseline's.
fn filter_lanes(
    c: &Coeffs,
    x: &[Lanes],
    keep: (usize, usize),
    out: &mut [Lanes],
    scr: &mut [Lanes],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            unsafe { filter_lanes_avx512(c, x, keep, out, scr) };
            return;
        }
        if std::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX (checked just above).
            unsafe { filter_lanes_avx(c, x, keep, out, scr) };
            return;
        }
    }
    filter_line(c, x, keep, out, scr);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn filter_lanes_avx(
    c: &Coeffs,
    x: &[Lanes],
    keep: (usize, usize),
    out: &mut [Lanes],
    scr: &mut [Lanes],
) {
    filter_line(c, x, keep, out, scr);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn filter_lanes_avx512(
    c: &Coeffs,
    x: &[Lanes],
    keep: (usize, usize),
    out: &mut [Lanes],
    scr: &mut [Lanes],
) {
    filter_line_interleaved(c, x, keep, out, scr);
}

/// The causal recursion's first four outputs (edge extension by `x[0]`).
#[inline(always)]
fn causal_start<X: Lane>(c: &Coeffs, x: &[X]) -> [X; 4] {
    let v1 = x[0];
    let mut o0 = ema([v1, v1, v1, v1], c.n);
    let mut o1 = ema([x[1], v1, v1, v1], c.n);
    let mut o2 = ema([x[2], x[1], v1, v1], c.n);
    let mut o3 = ema([x[3], x[2], x[1], v1], c.n);
    o0 -= ema([v1, v1, v1, v1], c.bn);
    o1 -= ema([o0, v1, v1, v1], [c.d[0], c.bn[1], c.bn[2], c.bn[3]]);
    o2 -= ema([o1, o0, v1, v1], [c.d[0], c.d[1], c.bn[2], c.bn[3]]);
    o3 -= ema([o2, o1, o0, v1], [c.d[0], c.d[1], c.d[2], c.bn[3]]);
    [o0, o1, o2, o3]
}

/// The anti-causal recursion's last four outputs `[ln-1, ln-2, ln-3, ln-4]` (edge extension by
/// `x[ln - 1]`).
#[inline(always)]
fn anticausal_start<X: Lane>(c: &Coeffs, x: &[X]) -> [X; 4] {
    let ln = x.len();
    let v2 = x[ln - 1];
    let mut s1 = ema([v2, v2, v2, v2], c.m);
    let mut s2 = ema([x[ln - 1], v2, v2, v2], c.m);
    let mut s3 = ema([x[ln - 2], x[ln - 1], v2, v2], c.m);
    let mut s4 = ema([x[ln - 3], x[ln - 2], x[ln - 1], v2], c.m);
    s1 -= ema([v2, v2, v2, v2], c.bm);
    s2 -= ema([s1, v2, v2, v2], [c.d[0], c.bm[1], c.bm[2], c.bm[3]]);
    s3 -= ema([s2, s1, v2, v2], [c.d[0], c.d[1], c.bm[2], c.bm[3]]);
    s4 -= ema([s3, s2, s1, v2], [c.d[0], c.d[1], c.d[2], c.bm[3]]);
    [s1, s2, s3, s4]
}

/// One step of a recursion: the new output from the four newest inputs `xs` (newest first) and
/// the four previous outputs `ps` (newest first), which both shift by one.
#[inline(always)]
fn step<X: Lane>(xi: X, xs: &mut [X; 3], ps: &mut [X; 4], n: [f64; 4], d: [f64; 4]) -> X {
    let mut o = ema([xi, xs[0], xs[1], xs[2]], n);
    o -= ema([ps[0], ps[1], ps[2], ps[3]], d);
    *ps = [o, ps[0], ps[1], ps[2]];
    *xs = [xi, xs[0], xs[1]];
    o
}

/// ITK's `FilterDataArray`: causal and anti-causal passes with edge extension (`ln >= 4`),
/// its outputs kept on `[lo, hi)` only (`out[lo..hi]`; the rest is scratch). Each output is
/// the causal value (which depends on the line before it) plus the anti-causal one (on the line
/// after it): the causal recursion runs up to `hi`, the anti-causal one down to `lo`, each kept
/// value computed exactly as on the whole line. The recursions' state stays in registers
/// (values, not re-read from `out`: the same operations, without a store-to-load wait in each
/// step's dependency chain).
#[inline(always)]
fn filter_line<X: Lane>(c: &Coeffs, x: &[X], keep: (usize, usize), out: &mut [X], scr: &mut [X]) {
    let ln = x.len();
    let (lo, hi) = keep;
    let o = causal_start(c, x);
    out[..4].copy_from_slice(&o);
    let mut ps = [o[3], o[2], o[1], o[0]];
    let mut xs = [x[3], x[2], x[1]];
    for i in 4..hi {
        out[i] = step(x[i], &mut xs, &mut ps, c.n, c.d);
    }
    let s = anticausal_start(c, x);
    scr[ln - 4..].copy_from_slice(&[s[3], s[2], s[1], s[0]]);
    let mut qs = s;
    qs.reverse();
    let mut ys = [x[ln - 3], x[ln - 2], x[ln - 1]];
    for i in (lo + 1..=ln - 4).rev() {
        scr[i - 1] = step(x[i], &mut ys, &mut qs, c.m, c.d);
    }
    for (o, s) in out[lo..hi].iter_mut().zip(&scr[lo..hi]) {
        *o += *s;
    }
}

/// [`filter_line`] with the causal and anti-causal recursions advancing together (two
/// independent dependency chains in flight), each with exactly its own operations. (Used by
/// the AVX-512 build; elsewhere only by the tests, which check it on every target.)
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn filter_line_interleaved<X: Lane>(
    c: &Coeffs,
    x: &[X],
    keep: (usize, usize),
    out: &mut [X],
    scr: &mut [X],
) {
    let ln = x.len();
    let (lo, hi) = keep;
    let o = causal_start(c, x);
    out[..4].copy_from_slice(&o);
    let mut ps = [o[3], o[2], o[1], o[0]];
    let mut xs = [x[3], x[2], x[1]];
    let s = anticausal_start(c, x);
    scr[ln - 4..].copy_from_slice(&[s[3], s[2], s[1], s[0]]);
    let mut qs = s;
    qs.reverse();
    let mut ys = [x[ln - 3], x[ln - 2], x[ln - 1]];
    // causal steps i = 4.., anti-causal steps i = ln - 4 down to lo + 1 (writing scr[i - 1])
    let both = hi.saturating_sub(4).min((ln - 4).saturating_sub(lo));
    for k in 0..both {
        let i = 4 + k;
        out[i] = step(x[i], &mut xs, &mut ps, c.n, c.d);
        let j = ln - 4 - k;
        scr[j - 1] = step(x[j], &mut ys, &mut qs, c.m, c.d);
    }
    for i in 4 + both..hi {
        out[i] = step(x[i], &mut xs, &mut ps, c.n, c.d);
    }
    for i in (lo + 1..=ln - 4 - both).rev() {
        scr[i - 1] = step(x[i], &mut ys, &mut qs, c.m, c.d);
    }
    for (o, s) in out[lo..hi].iter_mut().zip(&scr[lo..hi]) {
        *o += *s;
    }
}

/// PyRadiomics' checks: every size >= 4, and `size >= ceil(sigma / spacing) + 1` per axis.
pub fn check_sizes(shape: [usize; 3], spacing: [f64; 3], sigma: f64) -> Result<()> {
    if shape.iter().any(|&n| n < 4) {
        return Err(Error::setting(format!(
            "image type LoG needs an image of at least 4 voxels along every axis, got {shape:?} \
             (PyRadiomics computes no LoG image then)"
        )));
    }
    if !(sigma > 0.0) {
        return Err(Error::setting(format!(
            "LoG sigma must be > 0, got {sigma}"
        )));
    }
    for d in 0..3 {
        if (shape[d] as f64) < (sigma / spacing[d]).ceil() + 1.0 {
            return Err(Error::setting(format!(
                "LoG sigma {sigma} mm is too large for the image: sigma / spacing + 1 must not \
                 exceed the size along every axis (size {shape:?}, spacing {spacing:?}; \
                 PyRadiomics skips this sigma)"
            )));
        }
    }
    Ok(())
}

/// One recursive pass along `axis` over every line of `input` (dimensions `dims`, x fastest;
/// full length along `axis`), keeping `[lo, lo + len)` along `axis`, stored float32. Lines are
/// filtered [`W`] at a time (neighbours along x, or along y for the x pass), in parallel over the
/// remaining axis; each line's arithmetic is the single-line recursion's, so the result does not
/// depend on the batching or the thread count. The x and y passes write each output z-plane in
/// place; the z pass, whose lines cross every plane, keeps each y-row's outputs batch by batch
/// and the planes gather them.
fn pass_lines<S: Sample>(
    input: &[S],
    dims: [usize; 3],
    axis: usize,
    lo: usize,
    len: usize,
    c: &Coeffs,
) -> Vec<f32> {
    let stride = [1, dims[0], dims[0] * dims[1]];
    let lane = if axis == 0 { 1 } else { 0 };
    let rest = 3 - axis - lane;
    let mut odims = dims;
    odims[axis] = len;
    let plane = odims[0] * odims[1];
    let (n, nl) = (dims[axis], dims[lane]);
    let scratch = || {
        let zero = Lanes([0.0; W]);
        (vec![zero; n], vec![zero; n], vec![zero; n])
    };
    // filters the W lines from lane `q` at `r` along `rest` into `out[lo..lo + len]`; lanes
    // past the last line repeat it (their outputs are dropped)
    let batch = |r: usize, q: usize, x: &mut [Lanes], out: &mut [Lanes], scr: &mut [Lanes]| {
        if axis == 0 {
            // the x pass: each lane's line is contiguous, read it as such
            for l in 0..W {
                let start = r * stride[rest] + (q + l).min(nl - 1) * stride[lane];
                for (xi, v) in x.iter_mut().zip(&input[start..start + n]) {
                    xi.0[l] = v.to_f64();
                }
            }
        } else if q + W <= nl {
            // the lanes are neighbours along x: W contiguous samples per position
            for (i, xi) in x.iter_mut().enumerate() {
                let base = r * stride[rest] + i * stride[axis] + q;
                let v = &input[base..base + W];
                *xi = Lanes(std::array::from_fn(|l| v[l].to_f64()));
            }
        } else {
            for (i, xi) in x.iter_mut().enumerate() {
                let base = r * stride[rest] + i * stride[axis];
                *xi = Lanes(std::array::from_fn(|l| {
                    input[base + (q + l).min(nl - 1) * stride[lane]].to_f64()
                }));
            }
        }
        filter_lanes(c, x, (lo, lo + len), out, scr);
    };
    let total = plane * odims[2];
    let mut res: Vec<f32> = Vec::with_capacity(total);
    let planes = res.spare_capacity_mut()[..total].par_chunks_mut(plane);
    if rest == 2 {
        // the x and y passes: z-plane r of the output comes from the lines at r
        planes
            .enumerate()
            .for_each_init(scratch, |(x, out, scr), (r, o)| {
                for q in (0..nl).step_by(W) {
                    batch(r, q, x, out, scr);
                    let w = W.min(nl - q);
                    let kept = &out[lo..lo + len];
                    if axis == 0 {
                        // lane l is row q + l, i along x
                        for l in 0..w {
                            let row = &mut o[(q + l) * len..(q + l + 1) * len];
                            for (v, k) in row.iter_mut().zip(kept) {
                                v.write(k.0[l] as f32);
                            }
                        }
                    } else {
                        // row i, lane l at x = q + l
                        for (i, k) in kept.iter().enumerate() {
                            let row = &mut o[i * nl + q..i * nl + q + w];
                            for (v, &kl) in row.iter_mut().zip(&k.0) {
                                v.write(kl as f32);
                            }
                        }
                    }
                }
            });
    } else {
        // the z pass: per y-row r, batch by batch, `[i][lane]` within a batch (the batch from
        // lane q starts at q * len)
        let rows: Vec<Vec<f32>> = (0..dims[1])
            .into_par_iter()
            .map_init(scratch, |(x, out, scr), r| {
                let mut row = Vec::with_capacity(len * nl);
                for q in (0..nl).step_by(W) {
                    batch(r, q, x, out, scr);
                    let w = W.min(nl - q);
                    for k in &out[lo..lo + len] {
                        row.extend(k.0[..w].iter().map(|&v| v as f32));
                    }
                }
                row
            })
            .collect();
        planes.enumerate().for_each(|(i, o)| {
            for (r, row) in rows.iter().enumerate() {
                for q in (0..nl).step_by(W) {
                    let w = W.min(nl - q);
                    let src = &row[q * len + i * w..q * len + (i + 1) * w];
                    for (v, &s) in o[r * nl + q..r * nl + q + w].iter_mut().zip(src) {
                        v.write(s);
                    }
                }
            }
        });
    }
    // SAFETY: the planes above wrote every one of the first `total` elements: each plane's
    // task writes every (row, column) of its plane (the x pass: rows q + l for every lane of
    // every batch, columns 0..len; the y pass: rows 0..len, columns q..q + w of every batch;
    // the z pass: rows 0..ny, columns q..q + w of every batch)
    unsafe { res.set_len(total) };
    res
}

/// The whole image as float64 (what every sigma's first passes read), x fastest.
pub fn source_image(src: &Source<'_>) -> Vec<f64> {
    (0..src.len()).into_par_iter().map(src.values).collect()
}

/// The LoG image on the bounding box, float32 (call [`check_sizes`] first).
pub fn laplacian_of_gaussian(src: &Source<'_>, sigma: f64) -> Vec<f32> {
    laplacian_of_gaussian_of(&source_image(src), src, sigma)
}

/// [`laplacian_of_gaussian`] of `image`: `src`'s values, x fastest, in any sample type that
/// holds them exactly (the input image itself where it is not normalised, else
/// [`source_image`]`(src)`, computed once for all sigmas): the first passes read it directly.
pub fn laplacian_of_gaussian_of<S: Sample>(image: &[S], src: &Source<'_>, sigma: f64) -> Vec<f32> {
    let n = src.shape;
    let (blo, bsz) = (src.box_origin, src.box_size);
    let mut acc: Option<Vec<f32>> = None;
    for d in 0..3 {
        // derivative along d over every line, kept on the box along d; then smoothing along the
        // two other axes in increasing order over the lines that cross the part kept so far
        let mut dims = n;
        let mut cur = pass_lines(
            image,
            dims,
            d,
            blo[d],
            bsz[d],
            &setup(sigma, src.spacing[d], true),
        );
        dims[d] = bsz[d];
        for a in (0..3).filter(|&a| a != d) {
            let smooth = setup(sigma, src.spacing[a], false);
            cur = pass_lines(&cur, dims, a, blo[a], bsz[a], &smooth);
            dims[a] = bsz[a];
        }
        let inv = 1.0 / (src.spacing[d] * src.spacing[d]);
        acc = Some(match acc {
            None => cur.iter().map(|&b| (0.0 + b as f64 * inv) as f32).collect(),
            Some(a) => a
                .iter()
                .zip(&cur)
                .map(|(&s, &b)| (s as f64 + b as f64 * inv) as f32)
                .collect(),
        });
    }
    acc.unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ITK's `FilterDataArray` as written there (outputs re-read from the arrays): the
    /// reference [`filter_line`] and [`filter_line_interleaved`] must equal bit for bit.
    fn reference_line(c: &Coeffs, x: &[f64], out: &mut [f64]) {
        let ln = x.len();
        let mut scr = vec![0.0; ln];
        let v1 = x[0];
        out[0] = ema([v1, v1, v1, v1], c.n);
        out[1] = ema([x[1], v1, v1, v1], c.n);
        out[2] = ema([x[2], x[1], v1, v1], c.n);
        out[3] = ema([x[3], x[2], x[1], v1], c.n);
        out[0] -= ema([v1, v1, v1, v1], c.bn);
        out[1] -= ema([out[0], v1, v1, v1], [c.d[0], c.bn[1], c.bn[2], c.bn[3]]);
        out[2] -= ema([out[1], out[0], v1, v1], [c.d[0], c.d[1], c.bn[2], c.bn[3]]);
        out[3] -= ema(
            [out[2], out[1], out[0], v1],
            [c.d[0], c.d[1], c.d[2], c.bn[3]],
        );
        for i in 4..ln {
            out[i] = ema([x[i], x[i - 1], x[i - 2], x[i - 3]], c.n);
            out[i] -= ema([out[i - 1], out[i - 2], out[i - 3], out[i - 4]], c.d);
        }
        let v2 = x[ln - 1];
        scr[ln - 1] = ema([v2, v2, v2, v2], c.m);
        scr[ln - 2] = ema([x[ln - 1], v2, v2, v2], c.m);
        scr[ln - 3] = ema([x[ln - 2], x[ln - 1], v2, v2], c.m);
        scr[ln - 4] = ema([x[ln - 3], x[ln - 2], x[ln - 1], v2], c.m);
        scr[ln - 1] -= ema([v2, v2, v2, v2], c.bm);
        scr[ln - 2] -= ema(
            [scr[ln - 1], v2, v2, v2],
            [c.d[0], c.bm[1], c.bm[2], c.bm[3]],
        );
        scr[ln - 3] -= ema(
            [scr[ln - 2], scr[ln - 1], v2, v2],
            [c.d[0], c.d[1], c.bm[2], c.bm[3]],
        );
        scr[ln - 4] -= ema(
            [scr[ln - 3], scr[ln - 2], scr[ln - 1], v2],
            [c.d[0], c.d[1], c.d[2], c.bm[3]],
        );
        for i in (1..=ln - 4).rev() {
            scr[i - 1] = ema([x[i], x[i + 1], x[i + 2], x[i + 3]], c.m);
            scr[i - 1] -= ema([scr[i], scr[i + 1], scr[i + 2], scr[i + 3]], c.d);
        }
        for (o, s) in out.iter_mut().zip(&scr) {
            *o += *s;
        }
    }

    /// The kept range's values are the whole line's, bit for bit, for every range (ranges
    /// shorter than the edge initialisations included), sequential and interleaved.
    #[test]
    fn kept_range_equals_whole_line() {
        let mut r = voxelkit_core::rng::SplitMix64::new(7);
        for ln in [4usize, 5, 6, 9, 17, 40] {
            let x: Vec<f64> = (0..ln)
                .map(|_| (r.next_u64() % 2001) as f64 / 7.0 - 100.0)
                .collect();
            for (sigma, second) in [(1.0, true), (3.0, false), (2.5, true)] {
                let c = setup(sigma, 0.8, second);
                let mut whole = vec![0.0; ln];
                reference_line(&c, &x, &mut whole);
                for lo in 0..ln {
                    for hi in lo + 1..=ln {
                        let (mut out, mut scr) = (vec![0.0; ln], vec![0.0; ln]);
                        filter_line(&c, &x, (lo, hi), &mut out, &mut scr);
                        let (mut out2, mut scr2) = (vec![0.0; ln], vec![0.0; ln]);
                        filter_line_interleaved(&c, &x, (lo, hi), &mut out2, &mut scr2);
                        for i in lo..hi {
                            assert_eq!(out[i].to_bits(), whole[i].to_bits(), "{ln} {lo} {hi} {i}");
                            assert_eq!(out2[i].to_bits(), whole[i].to_bits(), "{ln} {lo} {hi} {i}");
                        }
                    }
                }
            }
        }
    }
}
