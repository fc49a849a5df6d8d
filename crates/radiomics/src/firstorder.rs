//! PyRadiomics' first-order class (18 features and the deprecated StandardDeviation) on the
//! ROI's intensities, with numpy's arithmetic where it decides the last bits:
//!
//! - sums are numpy's pairwise summation (`np.sum`, `np.nanmean`, `np.nansum` over the ROI
//!   values in C order), so the mean, energy and variance are numpy's to the bit;
//! - percentiles are numpy's `linear` method (`(n - 1) q` virtual index, its two-sided lerp),
//!   the median the mean of the two middle values;
//! - variance is `nanstd(x) ** 2` (the square of the square root), kurtosis is not excess
//!   (a normal distribution gives 3), skewness and kurtosis are `m3 / m2^1.5`, `m4 / m2^2` with
//!   `m2` replaced by 1 when it is 0;
//! - entropy and uniformity use the texture classes' discretisation (PyRadiomics' bin edges, or
//!   IBSI's with `ibsi: true`) with `numpy.spacing(1)` inside the log;
//! - `voxelArrayShift` is added to the intensities in Energy, TotalEnergy and RootMeanSquared.
//!
//! Flat ROIs (every ROI value equal): PyRadiomics' central moments are then the rounding error
//! of numpy's mean (which is not the common value when that value times the voxel count does not
//! round exactly): it returns Skewness ±1 and Kurtosis 1 for a float ROI of, say, 0.1
//! everywhere, and 0 for an integer one. voxelkit returns what PyRadiomics documents for flat
//! regions whatever the value: Skewness = Kurtosis = 0, and Variance = StandardDeviation =
//! MeanAbsoluteDeviation = RobustMeanAbsoluteDeviation = 0, Mean = the value.
//!
//! numpy's `power(x, 3)`/`power(x, 4)` may use SIMD `pow` (SVML on AVX-512 machines); voxelkit
//! multiplies, so m3 and m4 can differ from numpy's in the last bit of each term.

use crate::preprocess::Roi;
use rayon::prelude::*;
use voxelkit_core::{Control, Result};

const EPS: f64 = f64::EPSILON;

/// First-order feature names in PyRadiomics' key order, and whether PyRadiomics marks the
/// feature deprecated (computed when asked for by name, not when the class is enabled whole).
pub const FIRSTORDER_NAMES: [(&str, bool); 19] = [
    ("10Percentile", false),
    ("90Percentile", false),
    ("Energy", false),
    ("Entropy", false),
    ("InterquartileRange", false),
    ("Kurtosis", false),
    ("Maximum", false),
    ("MeanAbsoluteDeviation", false),
    ("Mean", false),
    ("Median", false),
    ("Minimum", false),
    ("Range", false),
    ("RobustMeanAbsoluteDeviation", false),
    ("RootMeanSquared", false),
    ("Skewness", false),
    ("StandardDeviation", true),
    ("TotalEnergy", false),
    ("Uniformity", false),
    ("Variance", false),
];

/// Below this many terms a pairwise sum runs on one thread.
const PAR_SUM: usize = 1 << 16;

/// numpy's pairwise summation of `f(0), …, f(n - 1)` (`pairwise_sum_DOUBLE`: blocks of up to
/// 128 summed with 8 accumulators, larger ranges split in two at a multiple of 8), started from
/// numpy's reduction identity. The tree does not depend on threads; large halves run in parallel.
pub fn np_sum(n: usize, f: &(impl Fn(usize) -> f64 + Sync)) -> f64 {
    np_sums(n, &|i| [f(i)])[0]
}

/// [`np_sum`] of `K` sequences at once (one pass over the data; each component summed in
/// exactly numpy's order).
pub fn np_sums<const K: usize>(n: usize, f: &(impl Fn(usize) -> [f64; K] + Sync)) -> [f64; K] {
    let r = pairwise(0, n, f);
    r.map(|v| 0.0 + v)
}

fn pairwise<const K: usize>(
    lo: usize,
    n: usize,
    f: &(impl Fn(usize) -> [f64; K] + Sync),
) -> [f64; K] {
    if n < 8 {
        let mut r = [0.0; K];
        for i in lo..lo + n {
            let v = f(i);
            for k in 0..K {
                r[k] += v[k];
            }
        }
        r
    } else if n <= 128 {
        let mut r = [[0.0f64; K]; 8];
        for (j, v) in r.iter_mut().enumerate() {
            *v = f(lo + j);
        }
        let mut i = 8;
        while i < n - n % 8 {
            for (j, acc) in r.iter_mut().enumerate() {
                let v = f(lo + i + j);
                for k in 0..K {
                    acc[k] += v[k];
                }
            }
            i += 8;
        }
        let mut res: [f64; K] = std::array::from_fn(|k| {
            ((r[0][k] + r[1][k]) + (r[2][k] + r[3][k]))
                + ((r[4][k] + r[5][k]) + (r[6][k] + r[7][k]))
        });
        while i < n {
            let v = f(lo + i);
            for k in 0..K {
                res[k] += v[k];
            }
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        let (a, b) = if n >= PAR_SUM {
            rayon::join(|| pairwise(lo, n2, f), || pairwise(lo + n2, n - n2, f))
        } else {
            (pairwise(lo, n2, f), pairwise(lo + n2, n - n2, f))
        };
        std::array::from_fn(|k| a[k] + b[k])
    }
}

/// numpy's `_lerp(a, b, t)`.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// Order statistics of `v` at the given ascending ranks (partial selection; `v` is reordered).
fn select_ranks(v: &mut [f64], ranks: &[usize], offset: usize, out: &mut Vec<(usize, f64)>) {
    if ranks.is_empty() || v.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let r = ranks[mid] - offset;
    let (left, x, right) = v.select_nth_unstable_by(r, f64::total_cmp);
    out.push((ranks[mid], *x));
    select_ranks(left, &ranks[..mid], offset, out);
    select_ranks(right, &ranks[mid + 1..], offset + r + 1, out);
}

/// Percentiles of the ROI values as numpy's `nanpercentile(x, q)` (`linear`), and the median.
struct Quantiles {
    p10: f64,
    p25: f64,
    p75: f64,
    p90: f64,
    median: f64,
}

fn quantiles(x: &[f64]) -> Quantiles {
    let n = x.len();
    // virtual index (n - 1) * (q / 100), its floor and fraction, as numpy
    let vi = |q: f64| -> (usize, f64, bool) {
        let v = (n - 1) as f64 * (q / 100.0);
        let above = v >= (n - 1) as f64;
        let p = v.floor();
        (p as usize, v - p, above)
    };
    let qs = [10.0, 25.0, 75.0, 90.0];
    let mut ranks: Vec<usize> = vec![(n - 1) / 2, n / 2];
    for &q in &qs {
        let (p, _, above) = vi(q);
        if above {
            ranks.push(n - 1);
        } else {
            ranks.extend([p, p + 1]);
        }
    }
    ranks.sort_unstable();
    ranks.dedup();
    let mut v = x.to_vec();
    let mut got = Vec::with_capacity(ranks.len());
    select_ranks(&mut v, &ranks, 0, &mut got);
    let at = |r: usize| got.iter().find(|(k, _)| *k == r).unwrap().1;
    let pct = |q: f64| {
        let (p, g, above) = vi(q);
        if above {
            at(n - 1)
        } else {
            lerp(at(p), at(p + 1), g)
        }
    };
    let median = if n % 2 == 1 {
        at(n / 2)
    } else {
        (at(n / 2 - 1) + at(n / 2)) / 2.0
    };
    Quantiles {
        p10: pct(10.0),
        p25: pct(25.0),
        p75: pct(75.0),
        p90: pct(90.0),
        median,
    }
}

/// The ROI's values in numpy's C order (z, y, x), gathered per slab in parallel.
fn roi_values(roi: &Roi) -> Vec<f64> {
    let plane = roi.size[1] * roi.size[2];
    let per: Vec<Vec<f64>> = (0..roi.size[0])
        .into_par_iter()
        .map(|z| {
            let r = z * plane..(z + 1) * plane;
            roi.grey[r.clone()]
                .iter()
                .zip(&roi.values[r])
                .filter(|(&g, _)| g != 0)
                .map(|(_, &v)| v)
                .collect()
        })
        .collect();
    per.concat()
}

/// First-order features in [`FIRSTORDER_NAMES`] order.
pub fn firstorder_features(roi: &Roi, shift: f64, ctl: &Control) -> Result<[f64; 19]> {
    let x = roi_values(roi);
    ctl.check()?;
    let vol = roi.spacing[2] * roi.spacing[1] * roi.spacing[0];
    let counts = level_counts(roi);
    ctl.check()?;
    Ok(firstorder_of(&x, &counts, vol, shift))
}

/// First-order features in [`FIRSTORDER_NAMES`] order of the values `x` (in numpy's order; at
/// least one), whose discretised histogram is `counts` (one count per grey level; levels with no
/// voxel may be included: they add nothing), `vol` the voxel volume (mm³).
pub fn firstorder_of(x: &[f64], counts: &[u64], vol: f64, shift: f64) -> [f64; 19] {
    let n = x.len();
    let nf = n as f64;
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in x {
        min = min.min(v);
        max = max.max(v);
    }
    let flat = min == max;
    let [sum, energy] = np_sums(n, &|i| {
        let s = x[i] + shift;
        [x[i], s * s]
    });
    let mut mean = sum / nf;
    // energy: nansum((x + c) ** 2); RMS: sqrt(that / N)
    let total_energy = energy * vol;
    let rms = (energy / nf).sqrt();
    // moments about numpy's mean, and the mean absolute deviation
    let [s2, s3, s4, sa] = np_sums(n, &|i| {
        let d = x[i] - mean;
        let d2 = d * d;
        [d2, d2 * d, d2 * d2, d.abs()]
    });
    let (m2, m3, m4) = (s2 / nf, s3 / nf, s4 / nf);
    let mut mad = sa / nf;
    let std = m2.sqrt();
    let mut variance = std * std;
    let mut stdev = std;
    let d2 = if m2 == 0.0 { 1.0 } else { m2 };
    let mut skewness = m3 / d2.powf(1.5);
    let mut kurtosis = m4 / (d2 * d2);

    let q = quantiles(x);
    // robust MAD: the values in [p10, p90], NaN (0 in numpy's sums) elsewhere
    let keep = |v: f64| !((v - q.p10) < 0.0 || (v - q.p90) > 0.0);
    let [rsum, kept] = np_sums(n, &|i| if keep(x[i]) { [x[i], 1.0] } else { [0.0, 0.0] });
    let rmean = rsum / kept;
    let mut rmad = np_sum(n, &|i| {
        if keep(x[i]) {
            (x[i] - rmean).abs()
        } else {
            0.0
        }
    }) / kept;

    // histogram of the discretised ROI: entropy and uniformity
    let p: Vec<f64> = counts.iter().map(|&c| c as f64 / nf).collect();
    // PyRadiomics' -1.0 * sum: negation, the same bits
    let entropy = -np_sum(p.len(), &|i| p[i] * (p[i] + EPS).log2());
    let uniformity = np_sum(p.len(), &|i| p[i] * p[i]);

    if flat {
        mean = min;
        variance = 0.0;
        stdev = 0.0;
        mad = 0.0;
        rmad = 0.0;
        skewness = 0.0;
        kurtosis = 0.0;
    }
    [
        q.p10,
        q.p90,
        energy,
        entropy,
        q.p75 - q.p25,
        kurtosis,
        max,
        mad,
        mean,
        q.median,
        min,
        max - min,
        rmad,
        rms,
        skewness,
        stdev,
        total_energy,
        uniformity,
        variance,
    ]
}

/// Voxel count of each grey level present in the ROI (ascending levels).
fn level_counts(roi: &Roi) -> Vec<u64> {
    let lut = crate::matrices::level_index(roi);
    let nl = roi.grey_levels.len();
    let plane = roi.size[1] * roi.size[2];
    (0..roi.size[0])
        .into_par_iter()
        .map(|z| {
            let mut c = vec![0u64; nl];
            for &g in &roi.grey[z * plane..(z + 1) * plane] {
                if g != 0 {
                    c[lut[g as usize] as usize] += 1;
                }
            }
            c
        })
        .reduce(
            || vec![0u64; nl],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_percentiles() {
        // numpy.percentile([1, 2, 3, 4], [10, 25, 75, 90]) = 1.3, 1.75, 3.25, 3.7; median 2.5
        let q = quantiles(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(q.p10, lerp(1.0, 2.0, 3.0 * 0.1));
        assert_eq!(q.p25, 1.75);
        assert_eq!(q.p75, 3.25);
        assert!((q.p90 - 3.7).abs() < 1e-15);
        assert_eq!(q.median, 2.5);
        let one = quantiles(&[7.0]);
        assert_eq!((one.p10, one.p90, one.median), (7.0, 7.0, 7.0));
    }

    #[test]
    fn pairwise_sum_is_numpys_tree() {
        // below 8 terms: left to right; exact on integers either way
        assert_eq!(np_sum(5, &|i| i as f64), 10.0);
        let v: Vec<f64> = (0..1000).map(|i| 0.1 * i as f64).collect();
        let s = np_sum(v.len(), &|i| v[i]);
        assert!((s - 49950.0).abs() < 1e-9);
    }
}
