//! Eigenvalues of a real symmetric matrix, bit for bit those of nalgebra 0.33's
//! `symmetric_eigenvalues` (which GLCM's MCC has always used), without its generic views:
//! the same scaling by the largest magnitude, the same Householder tridiagonalisation
//! (`SymmetricTridiagonal::new`: the reflection, the symmetric matrix-vector product and the
//! three symmetric rank-1 updates on the lower triangle, each dot product with nalgebra's
//! eight-accumulator unrolling) and the same implicit symmetric QR steps with Wilkinson shifts,
//! deflation and 2x2 blocks (`SymmetricEigen::do_decompose` without eigenvectors). Every
//! floating-point operation is nalgebra's, in nalgebra's order (the unit tests compare the bits
//! on thousands of matrices).

/// `f64::EPSILON`, nalgebra's `default_epsilon` (the deflation threshold).
const EPS: f64 = f64::EPSILON;

/// nalgebra's `dotx` over two equally long columns: eight accumulators over blocks of eight,
/// combined as `(a0 + a4) + (a1 + a5) + …` onto a zero, then the tail one by one.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    let b = &b[..n];
    let mut res = 0.0;
    let mut acc = [0.0f64; 8];
    let mut i = 0;
    while n - i >= 8 {
        for k in 0..8 {
            acc[k] += a[i + k] * b[i + k];
        }
        i += 8;
    }
    res += acc[0] + acc[4];
    res += acc[1] + acc[5];
    res += acc[2] + acc[6];
    res += acc[3] + acc[7];
    for k in i..n {
        res += a[k] * b[k];
    }
    res
}

/// `y[k] = a * x[k] + y[k]`: nalgebra's `axpy` with `b = 1` (`a * x * 1 + 1 * y`, the unit
/// factors exact).
#[inline]
fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// nalgebra's `reflection_axis_mut`: turns `v` into the Householder axis; returns the
/// off-diagonal value and whether a reflection is applied.
fn reflection_axis(v: &mut [f64]) -> (f64, bool) {
    let sq = 0.0 + dot(v, v);
    let norm = sq.sqrt();
    let (modulus, sign) = if v[0] >= 0.0 {
        (v[0], 1.0)
    } else {
        (-v[0], -1.0)
    };
    let signed_norm = sign * norm;
    let factor = (sq + modulus * norm) * 2.0;
    v[0] += signed_norm;
    if factor != 0.0 {
        let f = factor.sqrt();
        for e in v.iter_mut() {
            *e /= f;
        }
        let n = (0.0 + dot(v, v)).sqrt();
        for e in v.iter_mut() {
            *e /= n;
        }
        (-signed_norm, true)
    } else {
        (signed_norm, false)
    }
}

/// nalgebra's `wilkinson_shift`: the eigenvalue of `[[tmm, tmn], [tmn, tnn]]` nearer `tnn`.
fn wilkinson_shift(tmm: f64, tnn: f64, tmn: f64) -> f64 {
    let sq_tmn = tmn * tmn;
    if sq_tmn != 0.0 {
        let d = (tmm - tnn) * 0.5;
        tnn - sq_tmn / (d + d.signum() * (d * d + sq_tmn).sqrt())
    } else {
        tnn
    }
}

/// nalgebra's `delimit_subproblem`: the unreduced block ending at or before `end`.
fn delimit_subproblem(diag: &[f64], off: &mut [f64], end: usize) -> (usize, usize) {
    let mut n = end;
    while n > 0 {
        let m = n - 1;
        if off[m].abs() > EPS * (diag[n].abs() + diag[m].abs()) {
            break;
        }
        n -= 1;
    }
    if n == 0 {
        return (0, 0);
    }
    let mut new_start = n - 1;
    while new_start > 0 {
        let m = new_start - 1;
        if off[m] == 0.0 || off[m].abs() <= EPS * (diag[new_start].abs() + diag[m].abs()) {
            off[m] = 0.0;
            break;
        }
        new_start -= 1;
    }
    (new_start, n)
}

/// The eigenvalues of the symmetric `m x m` matrix `a` (column-major; only the lower triangle
/// is read; `a` is overwritten), in nalgebra's (unsorted) order, bit for bit
/// `DMatrix::from_column_slice(m, m, a).symmetric_eigenvalues()`. Every entry must be finite
/// (like nalgebra's, the QR iteration has no cap).
pub fn symmetric_eigenvalues(a: &mut [f64], m: usize) -> Vec<f64> {
    assert!(m > 0 && a.len() == m * m);
    let amax = a.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    if amax != 0.0 {
        for e in a.iter_mut() {
            *e /= amax;
        }
    }
    // Householder tridiagonalisation (`SymmetricTridiagonal::new`) on the lower triangle
    let mut off = vec![0.0; m - 1];
    let mut p = vec![0.0; m - 1];
    let mut axis = vec![0.0; m];
    for i in 0..m - 1 {
        // the axis: column i below the diagonal; the block: rows and columns i + 1..
        let k = m - 1 - i;
        let ax = &mut axis[..k];
        ax.copy_from_slice(&a[i * m + i + 1..(i + 1) * m]);
        let (norm, not_zero) = reflection_axis(ax);
        a[i * m + i + 1..(i + 1) * m].copy_from_slice(ax);
        off[i] = norm;
        if !not_zero {
            continue;
        }
        let ax = &axis[..k];
        let pp = &mut p[i..];
        // block column c (0-based in the block), rows r..: a[(i + 1 + c) * m + i + 1 + r]
        let col = |c: usize| (i + 1 + c) * m + i + 1;
        // p = 2 * B * axis (nalgebra's `hegemv` with beta 0: column 0 whole, then per column
        // j the dot over rows j.. and the axpy over rows j + 1..)
        let c0 = &a[col(0)..col(0) + k];
        let s = 2.0 * ax[0];
        for (y, &x) in pp.iter_mut().zip(c0) {
            *y = s * x;
        }
        pp[0] += 2.0 * dot(&c0[1..], &ax[1..]);
        for j in 1..k {
            let cj = &a[col(j) + j..col(j) + k];
            let d = dot(cj, &ax[j..]);
            pp[j] += 2.0 * d;
            axpy(&mut pp[j + 1..], 2.0 * ax[j], &cj[1..]);
        }
        let dt = dot(ax, pp);
        // B += -p axis' - axis p' + 2 dot axis axis' (three `hegerc`, lower triangle, column
        // by column)
        for (x, y, alpha) in [(&*pp, ax, -1.0), (ax, &*pp, -1.0), (ax, ax, dt * 2.0)] {
            for j in 0..k {
                axpy(&mut a[col(j) + j..col(j) + k], alpha * y[j], &x[j..]);
            }
        }
    }
    let mut diag: Vec<f64> = (0..m).map(|i| a[i * m + i]).collect();
    for v in off.iter_mut() {
        *v = v.abs();
    }
    if m == 1 {
        return vec![diag[0] * amax];
    }
    // implicit symmetric QR (`SymmetricEigen::do_decompose`, no eigenvectors)
    let (mut start, mut end) = delimit_subproblem(&diag, &mut off, m - 1);
    while end != start {
        let subdim = end - start + 1;
        if subdim > 2 {
            let (mm, n) = (end - 1, end);
            let mut vx = diag[start] - wilkinson_shift(diag[mm], diag[n], off[mm]);
            let mut vy = off[start];
            for i in start..n {
                let j = i + 1;
                // `GivensRotation::cancel_y`
                if vy == 0.0 {
                    break;
                }
                let (mod0, sign0) = if vx >= 0.0 { (vx, 1.0) } else { (-vx, -1.0) };
                let denom = (mod0 * mod0 + vy * vy).sqrt();
                let c = mod0 / denom;
                let s = -vy / (sign0 * denom);
                let norm = sign0 * denom;
                if i > start {
                    off[i - 1] = norm;
                }
                let (mii, mjj, mij) = (diag[i], diag[j], off[i]);
                let cc = c * c;
                let ss = s * s;
                let cs = c * s;
                let b = cs * 2.0 * mij;
                diag[i] = (cc * mii + ss * mjj) - b;
                diag[j] = (ss * mii + cc * mjj) + b;
                off[i] = cs * (mii - mjj) + mij * (cc - ss);
                if i != n - 1 {
                    vx = off[i];
                    vy = -s * off[i + 1];
                    off[i + 1] *= c;
                }
            }
            if off[mm].abs() <= EPS * (diag[mm].abs() + diag[n].abs()) {
                end -= 1;
            }
        } else if subdim == 2 {
            // `Matrix2::eigenvalues` (Schur's 2x2 case)
            let (h00, h11, h10) = (diag[start], diag[start + 1], off[start]);
            let val = (h00 - h11) * 0.5;
            let discr = h10 * h10 + val * val;
            let sqrt_discr = discr.sqrt();
            let half_tra = (h00 + h11) * 0.5;
            diag[start] = half_tra + sqrt_discr;
            diag[start + 1] = half_tra - sqrt_discr;
            end -= 1;
        }
        (start, end) = delimit_subproblem(&diag, &mut off, end);
    }
    for v in diag.iter_mut() {
        *v *= amax;
    }
    diag
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn check(a: &[f64], m: usize) {
        let want = DMatrix::from_column_slice(m, m, a).symmetric_eigenvalues();
        let got = symmetric_eigenvalues(&mut a.to_vec(), m);
        let w: Vec<u64> = want.iter().map(|v| v.to_bits()).collect();
        let g: Vec<u64> = got.iter().map(|v| v.to_bits()).collect();
        assert_eq!(g, w, "m {m}: {a:?}");
    }

    /// Bit for bit nalgebra's eigenvalues on random symmetric matrices of every size up to 90
    /// (dense, sparse, with zero rows and columns, repeated and tiny values, low rank: the
    /// shapes GLCM's MCC hands it) and on special ones.
    #[test]
    fn equals_nalgebra_bitwise() {
        let mut r = voxelkit_core::rng::SplitMix64::new(21);
        let mut unit = move || (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        for trial in 0..1500 {
            let m = 1 + trial % 90;
            let kind = trial / 90 % 6;
            let mut a = vec![0.0; m * m];
            for c in 0..m {
                for rr in c..m {
                    let u = unit();
                    let v = match kind {
                        0 => u - 0.5,
                        1 => {
                            if u < 0.8 {
                                0.0
                            } else {
                                unit()
                            }
                        }
                        2 => (u * 4.0).floor() / 8.0,
                        3 => u * 1e-200,
                        4 => {
                            if c % 3 == 0 || rr % 3 == 0 {
                                0.0
                            } else {
                                u
                            }
                        }
                        _ => u * 1e3,
                    };
                    a[c * m + rr] = v;
                    a[rr * m + c] = v;
                }
            }
            check(&a, m);
            // low rank: v v' (+ w w')
            let v: Vec<f64> = (0..m).map(|_| unit()).collect();
            let w: Vec<f64> = (0..m).map(|_| unit() - 0.5).collect();
            let lr: Vec<f64> = (0..m * m)
                .map(|k| v[k / m] * v[k % m] + (kind as f64) * w[k / m] * w[k % m])
                .collect();
            check(&lr, m);
        }
        for m in 1..12 {
            check(&vec![0.0; m * m], m);
            let mut id = vec![0.0; m * m];
            for i in 0..m {
                id[i * m + i] = 1.0 + (i % 2) as f64;
            }
            check(&id, m);
            check(&vec![1.0; m * m], m);
        }
    }
}
