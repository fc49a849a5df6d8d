//! Feature formulas of PyRadiomics' GLCM (24) and GLRLM (16) classes, for one normalised
//! matrix; the caller averages over matrices (directions, slices) ignoring NaN like `nanmean`.
//!
//! `eps` is `numpy.spacing(1)` (2^-52) wherever PyRadiomics adds it.

const EPS: f64 = f64::EPSILON;

/// GLCM feature names, in PyRadiomics' alphabetical key order.
pub const GLCM_NAMES: [&str; 24] = [
    "Autocorrelation",
    "ClusterProminence",
    "ClusterShade",
    "ClusterTendency",
    "Contrast",
    "Correlation",
    "DifferenceAverage",
    "DifferenceEntropy",
    "DifferenceVariance",
    "Id",
    "Idm",
    "Idmn",
    "Idn",
    "Imc1",
    "Imc2",
    "InverseVariance",
    "JointAverage",
    "JointEnergy",
    "JointEntropy",
    "MCC",
    "MaximumProbability",
    "SumAverage",
    "SumEntropy",
    "SumSquares",
];

/// GLRLM feature names, in PyRadiomics' alphabetical key order.
pub const GLRLM_NAMES: [&str; 16] = [
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "GrayLevelVariance",
    "HighGrayLevelRunEmphasis",
    "LongRunEmphasis",
    "LongRunHighGrayLevelEmphasis",
    "LongRunLowGrayLevelEmphasis",
    "LowGrayLevelRunEmphasis",
    "RunEntropy",
    "RunLengthNonUniformity",
    "RunLengthNonUniformityNormalized",
    "RunPercentage",
    "RunVariance",
    "ShortRunEmphasis",
    "ShortRunHighGrayLevelEmphasis",
    "ShortRunLowGrayLevelEmphasis",
];

/// Mean of the non-NaN values (`numpy.nanmean`); NaN when there are none.
pub fn nanmean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut k) = (0.0, 0usize);
    for x in v {
        if !x.is_nan() {
            s += x;
            k += 1;
        }
    }
    if k == 0 {
        f64::NAN
    } else {
        s / k as f64
    }
}

/// GLCM features of one normalised `n x n` matrix `p` (row-major, rows = first voxel's level)
/// whose axes hold the grey levels `g`; `ng` is the largest grey level of the ROI.
/// MCC is returned as the real part of the square root of the second-largest eigenvalue.
pub fn glcm_features(p: &[f64], g: &[f64], ng: f64) -> [f64; 24] {
    glcm_features_of(p, g, ng, g.len(), true)
}

/// [`glcm_features`] of a matrix that holds only some of the ROI's `n_levels` grey levels (the
/// others' rows and columns are zero: they add nothing to the sums, and `n_levels - g.len()`
/// zero eigenvalues to MCC's `Q`). Without `with_mcc`, MCC (an eigenvalue problem, most of the
/// cost on small matrices) is NaN.
pub fn glcm_features_of(
    p: &[f64],
    g: &[f64],
    ng: f64,
    n_levels: usize,
    with_mcc: bool,
) -> [f64; 24] {
    let n = g.len();
    let at = |i: usize, j: usize| p[i * n + j];
    let mut px = vec![0.0; n];
    let mut py = vec![0.0; n];
    let (mut ux, mut uy) = (0.0, 0.0);
    let ngi = ng as usize;
    let mut psum = vec![0.0; 2 * ngi + 1]; // index k = g_i + g_j
    let mut pdiff = vec![0.0; ngi]; // index k = |g_i - g_j|
    let (mut hxy, mut autoc, mut contrast, mut energy, mut maxp) = (0.0, 0.0, 0.0, 0.0, f64::NAN);
    for i in 0..n {
        for j in 0..n {
            let v = at(i, j);
            px[i] += v;
            py[j] += v;
            ux += g[i] * v;
            uy += g[j] * v;
            psum[(g[i] + g[j]) as usize] += v;
            pdiff[(g[i] - g[j]).abs() as usize] += v;
            hxy -= v * (v + EPS).log2();
            autoc += v * g[i] * g[j];
            contrast += v * (g[i] - g[j]).powi(2);
            energy += v * v;
            maxp = if maxp.is_nan() || v.is_nan() {
                v
            } else {
                maxp.max(v)
            };
        }
    }
    let (mut cp, mut cs, mut ct, mut sigx2, mut sigy2, mut corm, mut hxy1, mut hxy2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        for j in 0..n {
            let v = at(i, j);
            let t = g[i] + g[j] - ux - uy;
            cp += v * t.powi(4);
            cs += v * t.powi(3);
            ct += v * t * t;
            sigx2 += v * (g[i] - ux).powi(2);
            sigy2 += v * (g[j] - uy).powi(2);
            corm += v * (g[i] - ux) * (g[j] - uy);
            let q = px[i] * py[j];
            hxy1 -= v * (q + EPS).log2();
            hxy2 -= q * (q + EPS).log2();
        }
    }
    let (sigx, sigy) = (sigx2.sqrt(), sigy2.sqrt());
    let corr = if sigx * sigy == 0.0 {
        1.0
    } else {
        corm / (sigx * sigy + EPS)
    };
    let (mut davg, mut dent, mut idm, mut idmn, mut id, mut idn, mut ivar) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (k, &v) in pdiff.iter().enumerate() {
        let kf = k as f64;
        davg += kf * v;
        dent -= v * (v + EPS).log2();
        idm += v / (1.0 + kf * kf);
        idmn += v / (1.0 + kf * kf / (ng * ng));
        id += v / (1.0 + kf);
        idn += v / (1.0 + kf / ng);
        if k >= 1 {
            ivar += v / (kf * kf);
        }
    }
    let mut dvar = 0.0;
    for (k, &v) in pdiff.iter().enumerate() {
        dvar += v * (k as f64 - davg).powi(2);
    }
    let (mut savg, mut sent) = (0.0, 0.0);
    for (k, &v) in psum.iter().enumerate().skip(2) {
        savg += k as f64 * v;
        sent -= v * (v + EPS).log2();
    }
    let (mut hx, mut hy) = (0.0, 0.0);
    for i in 0..n {
        hx -= px[i] * (px[i] + EPS).log2();
        hy -= py[i] * (py[i] + EPS).log2();
    }
    let div = if hx.is_nan() {
        hy
    } else if hy.is_nan() {
        hx
    } else {
        hx.max(hy)
    };
    let imc1 = if div == 0.0 { 0.0 } else { (hxy - hxy1) / div };
    let imc2 = if hxy2 == hxy {
        0.0
    } else {
        let x = 1.0 - std::f64::consts::E.powf(-2.0 * (hxy2 - hxy));
        if x < 0.0 {
            f64::NAN
        } else {
            x.sqrt()
        }
    };
    let mcc = if with_mcc {
        mcc(p, &px, &py, n, n_levels)
    } else {
        f64::NAN
    };
    [
        autoc, cp, cs, ct, contrast, corr, davg, dent, dvar, id, idm, idmn, idn, imc1, imc2, ivar,
        ux, energy, hxy, mcc, maxp, savg, sent, sigx2,
    ]
}

/// Maximal correlation coefficient: square root of the second-largest eigenvalue of
/// `Q_ij = sum_k p_ik p_jk / (px_i py_k + eps)` (PyRadiomics takes numpy's `eigvals` of Q, sorts
/// them and keeps the real part of the square root).
///
/// Rows of Q with `px_i = 0` are zero and contribute eigenvalues 0. On the other rows,
/// `S = D^1/2 Q D^-1/2` (`D = diag(px)`) has Q's eigenvalues and differs from a symmetric matrix
/// only through `eps` (relative size <= eps / (px_i py_k)); the eigenvalues of its symmetric part
/// differ from S's by the square of that antisymmetric part (first-order terms `v^T E v` vanish
/// for antisymmetric E), far below the test tolerance, so a symmetric solver is used.
fn mcc(p: &[f64], px: &[f64], py: &[f64], n: usize, n_levels: usize) -> f64 {
    if n_levels < 2 {
        return 1.0;
    }
    if p.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let rows: Vec<usize> = (0..n).filter(|&i| px[i] > 0.0).collect();
    let m = rows.len();
    // each row's non-zero columns as a bit set: a term with a zero factor is +0.0 (p >= 0, the
    // divisor > 0), and adding +0.0 to a sum that starts at +0.0 and only grows leaves every
    // bit, so the sum over the columns where both rows are non-zero, in increasing k, is the
    // full sum bitwise; `Q_ij` and `Q_ji` share those columns and their products
    // `p_ik p_jk = p_jk p_ik`, so one walk gives both
    let words = n.div_ceil(64);
    let mut nz = vec![0u64; n * words];
    for i in 0..n {
        for k in 0..n {
            if p[i * n + k] != 0.0 {
                nz[i * words + k / 64] |= 1 << (k % 64);
            }
        }
    }
    // the divisors `px_i py_k + eps` of the ROI rows
    let den: Vec<f64> = rows
        .iter()
        .flat_map(|&i| (0..n).map(move |k| px[i] * py[k] + EPS))
        .collect();
    // (Q_ij, Q_ji) for rows[a], rows[b]
    let q2 = |a: usize, b: usize| -> (f64, f64) {
        let (i, j) = (rows[a], rows[b]);
        let (pi, pj) = (&p[i * n..(i + 1) * n], &p[j * n..(j + 1) * n]);
        let (di, dj) = (&den[a * n..(a + 1) * n], &den[b * n..(b + 1) * n]);
        let (mut sij, mut sji) = (0.0, 0.0);
        for w in 0..words {
            let mut x = nz[i * words + w] & nz[j * words + w];
            while x != 0 {
                let k = w * 64 + x.trailing_zeros() as usize;
                x &= x - 1;
                let t = pi[k] * pj[k];
                sij += t / di[k];
                sji += t / dj[k];
            }
        }
        (sij, sji)
    };
    let mut ev: Vec<f64> = vec![0.0; n_levels - m];
    if m > 0 {
        let sq: Vec<f64> = rows.iter().map(|&i| px[i].sqrt()).collect();
        // column-major (symmetric: the same as row-major)
        let mut sm = vec![0.0; m * m];
        for a in 0..m {
            for b in a..m {
                let (qab, qba) = q2(a, b);
                let sab = qab * sq[a] / sq[b];
                let sba = qba * sq[b] / sq[a];
                let v = 0.5 * (sab + sba);
                sm[a * m + b] = v;
                sm[b * m + a] = v;
            }
        }
        // eigenvalues only: `symeig` runs nalgebra's eigenvalue-only path (the
        // tridiagonalisation and implicit QR steps of `SymmetricEigen::try_new`, without
        // accumulating eigenvectors) operation for operation, so every eigenvalue is bitwise
        // nalgebra's; it has no iteration cap (QR converges in a few steps per eigenvalue on a
        // finite matrix; a NaN would never pass its convergence test, so it is not let in)
        if sm.iter().any(|v| !v.is_finite()) {
            return f64::NAN;
        }
        ev.extend(crate::symeig::symmetric_eigenvalues(&mut sm, m));
    }
    ev.sort_by(f64::total_cmp);
    let second = ev[n_levels - 2];
    // real part of the principal square root (0 for a negative number)
    if second > 0.0 {
        second.sqrt()
    } else {
        0.0
    }
}

/// The sums that PyRadiomics' size-matrix classes (GLRLM, GLSZM, GLDM) share, over one matrix
/// `p` (`n x m` row-major, rows = grey levels `g`, columns = sizes `j`: run lengths, zone sizes
/// or dependences), each already divided by the total `nt` where PyRadiomics divides it.
pub(crate) struct SizeSums {
    /// Total count (the caller's replacement where the matrix is empty).
    pub nt: f64,
    /// Sum over columns of count x size (`Np` of GLRLM and GLSZM).
    pub np: f64,
    /// Small / large size emphasis: sum p/j², sum p·j² over nt.
    pub small: f64,
    pub large: f64,
    /// Size non-uniformity: sum over columns of (column sum)² (not divided).
    pub size_nu: f64,
    /// Grey-level non-uniformity: sum over rows of (row sum)² (not divided).
    pub grey_nu: f64,
    /// Low / high grey-level emphasis over nt.
    pub low_grey: f64,
    pub high_grey: f64,
    /// Grey-level and size variance (with p/nt as weights).
    pub grey_var: f64,
    pub size_var: f64,
    /// Entropy -sum q log2(q + eps), q = p/nt.
    pub entropy: f64,
    /// Small/large size with low/high grey-level emphasis over nt.
    pub small_low: f64,
    pub small_high: f64,
    pub large_low: f64,
    pub large_high: f64,
}

/// [`SizeSums`] of `p`; `empty` is the total used when `p` holds no count (PyRadiomics uses 1
/// for GLSZM/GLDM; GLRLM's features are NaN there, which its caller handles).
pub(crate) fn size_sums(p: &[f64], g: &[f64], j: &[f64], empty: f64) -> SizeSums {
    let (n, m) = (g.len(), j.len());
    let mut total = 0.0;
    let mut pj = vec![0.0; m];
    let mut pg = vec![0.0; n];
    for i in 0..n {
        for c in 0..m {
            let v = p[i * m + c];
            total += v;
            pj[c] += v;
            pg[i] += v;
        }
    }
    let nt = if total == 0.0 { empty } else { total };
    let (mut small, mut large, mut size_nu, mut np) = (0.0, 0.0, 0.0, 0.0);
    for (c, &v) in pj.iter().enumerate() {
        small += v / (j[c] * j[c]);
        large += v * j[c] * j[c];
        size_nu += v * v;
        np += v * j[c];
    }
    let (mut grey_nu, mut low_grey, mut high_grey) = (0.0, 0.0, 0.0);
    for (i, &v) in pg.iter().enumerate() {
        grey_nu += v * v;
        low_grey += v / (g[i] * g[i]);
        high_grey += v * g[i] * g[i];
    }
    let (mut ui, mut uj) = (0.0, 0.0);
    for (i, &v) in pg.iter().enumerate() {
        ui += v / nt * g[i];
    }
    for (c, &v) in pj.iter().enumerate() {
        uj += v / nt * j[c];
    }
    let (mut grey_var, mut size_var) = (0.0, 0.0);
    for (i, &v) in pg.iter().enumerate() {
        grey_var += v / nt * (g[i] - ui).powi(2);
    }
    for (c, &v) in pj.iter().enumerate() {
        size_var += v / nt * (j[c] - uj).powi(2);
    }
    let (mut entropy, mut sl, mut sh, mut ll, mut lh) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        let g2 = g[i] * g[i];
        for c in 0..m {
            let v = p[i * m + c];
            if v == 0.0 {
                continue; // adds +0 to every sum below (g, j >= 1, nt finite)
            }
            let j2 = j[c] * j[c];
            let q = v / nt;
            entropy -= q * (q + EPS).log2();
            sl += v / (g2 * j2);
            sh += v * g2 / j2;
            ll += v * j2 / g2;
            lh += v * j2 * g2;
        }
    }
    SizeSums {
        nt,
        np,
        small: small / nt,
        large: large / nt,
        size_nu,
        grey_nu,
        low_grey: low_grey / nt,
        high_grey: high_grey / nt,
        grey_var,
        size_var,
        entropy,
        small_low: sl / nt,
        small_high: sh / nt,
        large_low: ll / nt,
        large_high: lh / nt,
    }
}

/// GLRLM features of one matrix of (possibly weighted) run counts `p` (`n x nr`, row-major,
/// rows = grey levels `g`, column c = run length c + 1); all NaN for an empty matrix, as
/// PyRadiomics (it divides by a zero total).
pub fn glrlm_features(p: &[f64], g: &[f64], nr: usize) -> [f64; 16] {
    let j: Vec<f64> = (1..=nr).map(|v| v as f64).collect();
    let s = size_sums(p, g, &j, f64::NAN);
    if s.nt.is_nan() {
        return [f64::NAN; 16];
    }
    let nt = s.nt;
    [
        s.grey_nu / nt,
        s.grey_nu / (nt * nt),
        s.grey_var,
        s.high_grey,
        s.large,
        s.large_high,
        s.large_low,
        s.low_grey,
        s.entropy,
        s.size_nu / nt,
        s.size_nu / (nt * nt),
        nt / s.np,
        s.size_var,
        s.small,
        s.small_high,
        s.small_low,
    ]
}
