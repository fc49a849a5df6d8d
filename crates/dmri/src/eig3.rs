//! Eigen-decomposition of symmetric 3x3 tensors, sorted by decreasing eigenvalue as DIPY's
//! `decompose_tensor` sorts them.
//!
//! Cyclic Jacobi rotations computed for [`L`] tensors at once (one per SIMD lane), sweeping
//! until every lane has converged. Every lane does exactly the same operations on its own data
//! and a converged lane is left bit for bit unchanged by further sweeps, so a tensor's result
//! does not depend on which tensors share its group; the scalar [`eigh_lower`] (all lanes the
//! same tensor) gives the same bits.

/// Tensors per group (SIMD lanes).
pub const L: usize = 4;
/// A value per lane.
pub type V = [f64; L];

/// At most this many sweeps; Jacobi converges quadratically and 3x3 tensors need 3 to 5.
const MAX_SWEEPS: usize = 12;

/// Index of the off-diagonal entry (p, q), p < q, in `[a01, a02, a12]`.
#[inline(always)]
fn off(p: usize, q: usize) -> usize {
    p + q - 1
}

/// Eigenvalues (unsorted) and eigenvector matrices (`v[row][col][lane]`, column k belongs to
/// eigenvalue k) of L tensors given by their lower triangles `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz]`.
///
/// Each lane is scaled by a power of two (exact) so that its largest entry is in [1, 2), which
/// keeps every intermediate far from overflow and underflow. An off-diagonal entry that is
/// negligible next to both diagonal entries it couples (Numerical Recipes' test) is set to
/// exactly zero and its rotation is the identity; once a lane's three off-diagonal entries are
/// zero, further sweeps leave it bit for bit unchanged. The group stops when every lane has
/// converged, so a lane's result never depends on the other lanes.
#[inline(always)]
pub fn jacobi_lanes(lt: &[V; 6]) -> ([V; 3], [[V; 3]; 3]) {
    jacobi_lanes_n(lt)
}

/// [`jacobi_lanes`] on `N` lanes (e.g. two groups at once, whose independent rotations the CPU
/// overlaps); every lane gets the same bits as in [`jacobi_lanes`].
#[inline(always)]
#[allow(clippy::type_complexity)]
pub fn jacobi_lanes_n<const N: usize>(lt: &[[f64; N]; 6]) -> ([[f64; N]; 3], [[[f64; N]; 3]; 3]) {
    let mut scale = [1.0; N];
    let mut inv = [1.0; N];
    for l in 0..N {
        let m = lt.iter().fold(0.0f64, |m, x| m.max(x[l].abs()));
        if m.is_finite() && m > 0.0 {
            // 2^-floor(log2 m), from the exponent bits (m is normal or subnormal)
            let e = ((m.to_bits() >> 52) & 0x7ff) as i32 - 1023;
            let e = e.max(-1022);
            scale[l] = pow2(-e);
            inv[l] = pow2(e);
            if !scale[l].is_finite() || scale[l] == 0.0 {
                scale[l] = 1.0;
                inv[l] = 1.0;
            }
        }
    }
    let sc = |k: usize| std::array::from_fn::<f64, N, _>(|l| lt[k][l] * scale[l]);
    let mut a = [sc(1), sc(3), sc(4)];
    let mut d = [sc(0), sc(2), sc(5)];
    let one = [1.0; N];
    let zero = [0.0; N];
    let mut v = [[one, zero, zero], [zero, one, zero], [zero, zero, one]];
    for _ in 0..MAX_SWEEPS {
        if a.iter().all(|x| x.iter().all(|&y| y == 0.0)) {
            break;
        }
        for (p, q) in [(0usize, 1usize), (0, 2), (1, 2)] {
            let r = 3 - p - q;
            let (ipq, ipr, iqr) = (off(p, q), off(p.min(r), p.max(r)), off(q.min(r), q.max(r)));
            // written as whole-lane array steps without short-circuits or branches, so that
            // LLVM vectorises them across lanes
            let (dp, dq) = (d[p], d[q]);
            let mut apq = a[ipq];
            for l in 0..N {
                let g = 100.0 * apq[l].abs();
                let negligible =
                    (dp[l].abs() + g == dp[l].abs()) & (dq[l].abs() + g == dq[l].abs());
                apq[l] = if negligible { 0.0 } else { apq[l] };
            }
            let mut t = [0.0; N];
            for l in 0..N {
                // t = tan(angle): the smaller root of t^2 + t h/apq - 1 = 0; t = 0 when apq = 0
                let h = dq[l] - dp[l];
                let den = h.abs() + (h * h + 4.0 * apq[l] * apq[l]).sqrt();
                let tl = 1.0f64.copysign(h) * (2.0 * apq[l]) / den;
                t[l] = if apq[l] == 0.0 { 0.0 } else { tl };
            }
            let mut s = [0.0; N];
            let mut tau = [0.0; N];
            let mut ta = [0.0; N];
            for l in 0..N {
                let rt = (1.0 + t[l] * t[l]).sqrt();
                s[l] = t[l] / rt;
                tau[l] = t[l] / (1.0 + rt);
                ta[l] = t[l] * apq[l];
            }
            for l in 0..N {
                d[p][l] -= ta[l];
                d[q][l] += ta[l];
                a[ipq][l] = 0.0;
                let (g, h) = (a[ipr][l], a[iqr][l]);
                a[ipr][l] = g - s[l] * (h + g * tau[l]);
                a[iqr][l] = h + s[l] * (g - h * tau[l]);
            }
            for row in v.iter_mut() {
                for l in 0..N {
                    let (g, h) = (row[p][l], row[q][l]);
                    row[p][l] = g - s[l] * (h + g * tau[l]);
                    row[q][l] = h + s[l] * (g - h * tau[l]);
                }
            }
        }
    }
    for dk in d.iter_mut() {
        for l in 0..N {
            dk[l] *= inv[l];
        }
    }
    (d, v)
}

/// 2^e for e in [-1022, 1023], exactly.
#[inline(always)]
fn pow2(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// Sorts lane `l` of a [`jacobi_lanes`] result: eigenvalues descending, eigenvectors with them.
#[inline(always)]
pub fn sorted_lane<const N: usize>(
    d: &[[f64; N]; 3],
    v: &[[[f64; N]; 3]; 3],
    l: usize,
) -> ([f64; 3], [[f64; 3]; 3]) {
    let vals = [d[0][l], d[1][l], d[2][l]];
    let mut idx = [0usize, 1, 2];
    // descending; the stable sort keeps ties in a fixed order
    idx.sort_by(|&x, &y| vals[y].total_cmp(&vals[x]));
    (
        idx.map(|k| vals[k]),
        idx.map(|k| [v[0][k][l], v[1][k][l], v[2][k][l]]),
    )
}

/// Eigenvalues (descending) and eigenvectors (`vecs[j]` is the unit eigenvector of `vals[j]`)
/// of one tensor given by its lower triangle `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz]`.
pub fn eigh_lower(lt: &[f64; 6]) -> ([f64; 3], [[f64; 3]; 3]) {
    let lanes: [V; 6] = lt.map(|x| [x; L]);
    let (d, v) = jacobi_lanes(&lanes);
    sorted_lane(&d, &v, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxelkit_core::rng::SplitMix64;

    fn check(lt: &[f64; 6]) {
        let (vals, vecs) = eigh_lower(lt);
        assert!(vals[0] >= vals[1] && vals[1] >= vals[2], "{vals:?}");
        for j in 0..3 {
            let nrm: f64 = vecs[j].iter().map(|x| x * x).sum();
            assert!((nrm - 1.0).abs() < 8.0 * f64::EPSILON, "norm {nrm}");
        }
        // V diag(vals) V^T == D
        let rec = |i: usize, j: usize| {
            (0..3)
                .map(|k| vecs[k][i] * vals[k] * vecs[k][j])
                .sum::<f64>()
        };
        let full = [
            [lt[0], lt[1], lt[3]],
            [lt[1], lt[2], lt[4]],
            [lt[3], lt[4], lt[5]],
        ];
        let scale = full.iter().flatten().fold(0.0f64, |a, v| a.max(v.abs()));
        for i in 0..3 {
            for j in 0..3 {
                let err = (rec(i, j) - full[i][j]).abs();
                assert!(
                    err <= 16.0 * f64::EPSILON * scale,
                    "err {err:e} scale {scale:e} for {lt:?}"
                );
            }
        }
    }

    #[test]
    fn reconstructs_random_and_near_degenerate_tensors() {
        let mut r = SplitMix64::new(0);
        for _ in 0..20000 {
            check(&std::array::from_fn(|_| r.normal() * 1e-3));
        }
        // prolate / oblate / isotropic up to tiny perturbations, in random orientations
        for k in 0..20000 {
            let eps = [0.0, 1e-15, 1e-12, 1e-9, 1e-6][k % 5];
            let ev = match k % 3 {
                0 => [1.7e-3, 0.3e-3, 0.3e-3 + eps * 1e-3],
                1 => [1.2e-3, 1.2e-3 + eps * 1e-3, 0.2e-3],
                _ => [0.8e-3, 0.8e-3 + eps * 1e-3, 0.8e-3 - eps * 1e-3],
            };
            // random rotation from a normalised quaternion
            let (a, b, c, d) = (r.normal(), r.normal(), r.normal(), r.normal());
            let n = (a * a + b * b + c * c + d * d).sqrt();
            let (a, b, c, d) = (a / n, b / n, c / n, d / n);
            let m = [
                [
                    a * a + b * b - c * c - d * d,
                    2.0 * (b * c - a * d),
                    2.0 * (b * d + a * c),
                ],
                [
                    2.0 * (b * c + a * d),
                    a * a - b * b + c * c - d * d,
                    2.0 * (c * d - a * b),
                ],
                [
                    2.0 * (b * d - a * c),
                    2.0 * (c * d + a * b),
                    a * a - b * b - c * c + d * d,
                ],
            ];
            let q = |i: usize, j: usize| (0..3).map(|k| m[i][k] * ev[k] * m[j][k]).sum::<f64>();
            check(&[q(0, 0), q(1, 0), q(1, 1), q(2, 0), q(2, 1), q(2, 2)]);
        }
        check(&[0.0; 6]);
        check(&[1e-3, 0.0, 1e-3, 0.0, 0.0, 1e-3]);
        check(&[-1e-3, 2e-4, 5e-4, 0.0, -3e-4, 2e-3]);
    }

    #[test]
    fn lanes_are_independent() {
        let mut r = SplitMix64::new(5);
        let lts: Vec<[f64; 6]> = (0..L)
            .map(|_| std::array::from_fn(|_| r.normal()))
            .collect();
        let lanes: [V; 6] = std::array::from_fn(|k| std::array::from_fn(|l| lts[l][k]));
        let (d, v) = jacobi_lanes(&lanes);
        for l in 0..L {
            let (a, av) = sorted_lane(&d, &v, l);
            let (b, bv) = eigh_lower(&lts[l]);
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
            assert_eq!(av, bv);
        }
        // two groups at once (as the fit driver runs them): every lane as alone, including
        // a converged (diagonal) tensor next to ones that need more sweeps
        let mut lts2: Vec<[f64; 6]> = (0..2 * L)
            .map(|_| std::array::from_fn(|_| r.normal()))
            .collect();
        lts2[3] = [2.0, 0.0, 1.0, 0.0, 0.0, 3.0];
        let lanes2: [[f64; 2 * L]; 6] =
            std::array::from_fn(|k| std::array::from_fn(|l| lts2[l][k]));
        let (d, v) = jacobi_lanes_n(&lanes2);
        for l in 0..2 * L {
            let (a, av) = sorted_lane(&d, &v, l);
            let (b, bv) = eigh_lower(&lts2[l]);
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
            assert_eq!(
                av.map(|x| x.map(f64::to_bits)),
                bv.map(|x| x.map(f64::to_bits))
            );
        }
    }
}
