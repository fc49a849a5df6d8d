//! Eigen-decomposition of symmetric 3x3 tensors, sorted by decreasing eigenvalue as DIPY's
//! `decompose_tensor` sorts them.

/// Index of the off-diagonal entry (p, q), p < q, in `[a01, a02, a12]`.
#[inline(always)]
fn off(p: usize, q: usize) -> usize {
    p + q - 1
}

/// Eigenvalues (descending) and eigenvectors (`vecs[j]` is the unit eigenvector of `vals[j]`)
/// of the symmetric tensor given by its lower triangle `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz]`.
///
/// Cyclic Jacobi rotations (the classic `jacobi` of Numerical Recipes, with its accumulated
/// diagonal updates); accurate to a few ulps of the largest eigenvalue, no allocation.
#[inline]
pub fn eigh_lower(lt: &[f64; 6]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut a = [lt[1], lt[3], lt[4]]; // a01, a02, a12
    let mut d = [lt[0], lt[2], lt[5]];
    let mut b = d;
    let mut z = [0.0f64; 3];
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]; // v[row][col]
    for sweep in 1..=50 {
        let sm = a[0].abs() + a[1].abs() + a[2].abs();
        if sm == 0.0 || !sm.is_finite() {
            break;
        }
        let tresh = if sweep < 4 { 0.2 * sm / 9.0 } else { 0.0 };
        for (p, q) in [(0usize, 1usize), (0, 2), (1, 2)] {
            let apq = a[off(p, q)];
            let g = 100.0 * apq.abs();
            if sweep > 4 && d[p].abs() + g == d[p].abs() && d[q].abs() + g == d[q].abs() {
                a[off(p, q)] = 0.0;
            } else if apq.abs() > tresh {
                let h = d[q] - d[p];
                let t = if h.abs() + g == h.abs() {
                    apq / h
                } else {
                    let theta = 0.5 * h / apq;
                    let t = 1.0 / (theta.abs() + (1.0 + theta * theta).sqrt());
                    if theta < 0.0 {
                        -t
                    } else {
                        t
                    }
                };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                let tau = s / (1.0 + c);
                let h = t * apq;
                z[p] -= h;
                z[q] += h;
                d[p] -= h;
                d[q] += h;
                a[off(p, q)] = 0.0;
                let r = 3 - p - q; // the third index
                let (ip, iq) = (off(p.min(r), p.max(r)), off(q.min(r), q.max(r)));
                let (gp, gq) = (a[ip], a[iq]);
                a[ip] = gp - s * (gq + gp * tau);
                a[iq] = gq + s * (gp - gq * tau);
                for row in v.iter_mut() {
                    let (g, h) = (row[p], row[q]);
                    row[p] = g - s * (h + g * tau);
                    row[q] = h + s * (g - h * tau);
                }
            }
        }
        for i in 0..3 {
            b[i] += z[i];
            d[i] = b[i];
            z[i] = 0.0;
        }
    }
    let mut idx = [0usize, 1, 2];
    // descending; a stable sort keeps ties in a fixed order, so results are reproducible
    idx.sort_by(|&x, &y| d[y].total_cmp(&d[x]));
    let vals = idx.map(|k| d[k]);
    let vecs = idx.map(|k| [v[0][k], v[1][k], v[2][k]]);
    (vals, vecs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxelkit_core::rng::SplitMix64;

    #[test]
    fn reconstructs_random_tensors() {
        let mut r = SplitMix64::new(0);
        for _ in 0..20000 {
            let lt: [f64; 6] = std::array::from_fn(|_| r.normal() * 1e-3);
            let (vals, vecs) = eigh_lower(&lt);
            assert!(vals[0] >= vals[1] && vals[1] >= vals[2]);
            for j in 0..3 {
                let nrm: f64 = vecs[j].iter().map(|x| x * x).sum();
                assert!((nrm - 1.0).abs() < 4.0 * f64::EPSILON);
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
            let scale = vals.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for i in 0..3 {
                for j in 0..3 {
                    let err = (rec(i, j) - full[i][j]).abs();
                    assert!(
                        err <= 8.0 * f64::EPSILON * scale,
                        "err {err:e} scale {scale:e}"
                    );
                }
            }
        }
    }
}
