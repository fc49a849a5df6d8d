//! Small vector kernels written so that LLVM vectorises them without reassociating anything:
//! every reduction uses a fixed number of independent accumulators combined in a fixed order,
//! so results are the same on every x86-64/aarch64 CPU and at every thread count.

/// Dot product with four fixed accumulators: `((s0 + s1) + (s2 + s3)) + tail`.
#[inline(always)]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..4 {
            s[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + tail
}

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// 1.5 * 2^52: adding it rounds a double in [-2^51, 2^51] to an integer in the low bits.
const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// `e^x` for every element, accurate to a few ulps for |x| < 708 (0 below -708, +inf above
/// 709.78, NaN stays NaN), branch-free so that it vectorises.
///
/// Cody–Waite reduction `x = k ln2 + r`, |r| <= ln2/2, and the degree-12 Taylor polynomial of
/// `e^r` (truncation error < 2e-16 relative), scaled by `2^k` through the exponent bits.
#[inline(always)]
pub fn exp_in_place(v: &mut [f64]) {
    let mut chunks = v.chunks_exact_mut(4);
    for c in &mut chunks {
        let x = [c[0], c[1], c[2], c[3]];
        let y = exp4(x);
        c.copy_from_slice(&y);
    }
    for x in chunks.into_remainder() {
        *x = exp4([*x; 4])[0];
    }
}

/// Four exponentials at once, lane by lane (the same operations in every lane, so a value's
/// result does not depend on its neighbours).
#[inline(always)]
fn exp4(x: [f64; 4]) -> [f64; 4] {
    let mut out = [0.0; 4];
    for l in 0..4 {
        let xl = x[l];
        let xc = xl.clamp(-708.0, 709.7);
        let t = xc * LOG2E + ROUNDER;
        let k = t - ROUNDER;
        let r = (xc - k * LN2_HI) - k * LN2_LO;
        // 1 + r + r^2/2! + ... + r^12/12! by Estrin's scheme (short dependency chains)
        let r2 = r * r;
        let r4 = r2 * r2;
        let r8 = r4 * r4;
        let q0 = 1.0 + r;
        let q1 = 0.5 + r * (1.0 / 6.0);
        let q2 = 1.0 / 24.0 + r * (1.0 / 120.0);
        let q3 = 1.0 / 720.0 + r * (1.0 / 5_040.0);
        let q4 = 1.0 / 40_320.0 + r * (1.0 / 362_880.0);
        let q5 = 1.0 / 3_628_800.0 + r * (1.0 / 39_916_800.0);
        let q6 = 1.0 / 479_001_600.0;
        let s0 = q0 + q1 * r2;
        let s1 = q2 + q3 * r2;
        let s2 = q4 + q5 * r2;
        let u0 = s0 + s1 * r4;
        let u1 = s2 + q6 * r4;
        let p = u0 + u1 * r8;
        // 2^k from the integer in t's low mantissa bits
        let ki = (t.to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64);
        let scale = f64::from_bits(((ki + 1023) << 52) as u64);
        let y = p * scale;
        // outside the clamp: exact limits (NaN propagates through the clamp)
        let y = if xl < -708.0 { 0.0 } else { y };
        out[l] = if xl > 709.7 { f64::INFINITY } else { y };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn exp_is_accurate() {
        let mut r = SplitMix64::new(1);
        let mut xs: Vec<f64> = (0..100_000).map(|_| (r.uniform() - 0.5) * 1400.0).collect();
        xs.extend([
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e-300,
            -707.9,
            709.0,
            0.34657359,
            -0.34657359,
        ]);
        let mut ys = xs.clone();
        exp_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            let e = x.exp();
            assert!(
                (y - e).abs() <= 4.0 * f64::EPSILON * e,
                "exp({x}) = {y}, libm {e}"
            );
        }
        let mut special = [f64::NAN, -1000.0, 1000.0, f64::NEG_INFINITY, f64::INFINITY];
        exp_in_place(&mut special);
        assert!(special[0].is_nan());
        assert_eq!(&special[1..], &[0.0, f64::INFINITY, 0.0, f64::INFINITY]);
    }

    #[test]
    fn dot_matches_naive_sum_to_rounding() {
        let mut r = SplitMix64::new(2);
        for n in [0, 1, 3, 4, 5, 17, 65, 193] {
            let a: Vec<f64> = (0..n).map(|_| r.normal()).collect();
            let b: Vec<f64> = (0..n).map(|_| r.normal()).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let scale: f64 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            assert!((dot(&a, &b) - naive).abs() <= 4.0 * n as f64 * f64::EPSILON * scale);
        }
    }
}
