//! Small vector kernels written so that LLVM vectorises them: element-wise, no operation fused
//! or reassociated, so results are the same on every x86-64/aarch64 CPU and at every thread
//! count.

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// 1.5 * 2^52: adding it rounds a double in [-2^51, 2^51] to an integer in the low bits.
const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// `e^x` for every element to 5e-10 relative, for weights and other factors that do not need
/// full precision. |x| > 708 is clamped (results near 3e-308 or 1e308 instead of 0 or
/// infinity); NaN stays NaN. Branch-free, so that it vectorises.
///
/// Cody–Waite reduction `x = k ln2 + r` with |r| <= ln2/2, the degree-8 Taylor polynomial of
/// `e^r` by Estrin's scheme (truncation below 5e-10 relative), scaled by `2^k` through the
/// exponent bits.
#[inline(always)]
pub fn exp_approx_in_place(v: &mut [f64]) {
    for x in v.iter_mut() {
        let xc = x.clamp(-708.0, 708.0);
        let t = xc * std::f64::consts::LOG2_E + ROUNDER;
        let k = t - ROUNDER;
        let r = (xc - k * LN2_HI) - k * LN2_LO;
        let r2 = r * r;
        let r4 = r2 * r2;
        let q0 = 1.0 + r;
        let q1 = 0.5 + r * (1.0 / 6.0);
        let q2 = 1.0 / 24.0 + r * (1.0 / 120.0);
        let q3 = 1.0 / 720.0 + r * (1.0 / 5_040.0);
        let p = (q0 + q1 * r2) + (q2 + q3 * r2) * r4 + (1.0 / 40_320.0) * (r4 * r4);
        let ki = (t.to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64);
        *x = p * f64::from_bits(((ki + 1023) << 52) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn approximate_exp_is_within_its_bound() {
        let mut r = SplitMix64::new(3);
        let mut xs: Vec<f64> = (0..200_000).map(|_| (r.uniform() - 0.5) * 1400.0).collect();
        xs.extend([
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e-300,
            -707.9,
            707.9,
            0.34657359,
            -0.34657359,
        ]);
        let mut ys = xs.clone();
        exp_approx_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            assert!((y / x.exp() - 1.0).abs() < 5e-10, "exp({x}) = {y}");
        }
        let mut big = [-800.0, 800.0, f64::NAN];
        exp_approx_in_place(&mut big);
        assert!(big[0] > 0.0 && big[0] < 1e-300 && big[1].is_finite() && big[2].is_nan());
    }
}
