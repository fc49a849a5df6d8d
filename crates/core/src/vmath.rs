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

/// `e^x` for every element to about 2 ulp (relative error below 5e-16 for |x| <= 708), for
/// quantities that must be accurate (the non-linear fits' model signal). |x| > 708 is clamped
/// like [`exp_approx_in_place`]; NaN stays NaN. Branch-free, so that it vectorises.
///
/// Cody–Waite reduction `x = k ln2 + r` with |r| <= ln2/2 (`k ln2_hi` is exact for |k| < 2^21),
/// the degree-12 Taylor polynomial of `e^r` (truncation below 2e-16 relative) by Estrin's
/// scheme, scaled by `2^k` through the exponent bits.
#[inline(always)]
pub fn exp_in_place(v: &mut [f64]) {
    for x in v.iter_mut() {
        *x = exp_accurate(*x);
    }
}

/// One value of [`exp_in_place`] (the same bits).
#[inline(always)]
pub fn exp_accurate(x: f64) -> f64 {
    let xc = x.clamp(-708.0, 708.0);
    let t = xc * std::f64::consts::LOG2_E + ROUNDER;
    let k = t - ROUNDER;
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    // 1/k! for k = 0..=12, paired for Estrin's scheme
    let a0 = 1.0 + r;
    let a1 = 0.5 + r * (1.0 / 6.0);
    let a2 = 1.0 / 24.0 + r * (1.0 / 120.0);
    let a3 = 1.0 / 720.0 + r * (1.0 / 5_040.0);
    let a4 = 1.0 / 40_320.0 + r * (1.0 / 362_880.0);
    let a5 = 1.0 / 3_628_800.0 + r * (1.0 / 39_916_800.0);
    let a6 = 1.0 / 479_001_600.0;
    let b0 = a0 + a1 * r2;
    let b1 = a2 + a3 * r2;
    let b2 = a4 + a5 * r2;
    let p = (b0 + b1 * r4) + (b2 + a6 * r4) * r8;
    let ki = (t.to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64);
    p * f64::from_bits(((ki + 1023) << 52) as u64)
}

/// `1/k!` for k = 0..=12: the Taylor polynomial of [`exp_fused`] and [`exp_fused_lanes`].
const TAYLOR12: [f64; 13] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
];

/// `e^x` to about 1.5 ulp like [`exp_accurate`], with fused multiply-adds (Horner's rule on
/// the degree-12 Taylor polynomial): fewer operations where the CPU fuses them (x86-64 with
/// FMA, aarch64); elsewhere `mul_add` is the C library's exact `fma`, so the bits are the same
/// on every target, but slower. |x| > 708 is clamped; NaN stays NaN.
#[inline(always)]
pub fn exp_fused(x: f64) -> f64 {
    let xc = x.clamp(-708.0, 708.0);
    let t = xc * std::f64::consts::LOG2_E + ROUNDER;
    let k = t - ROUNDER;
    let r = (-k).mul_add(LN2_LO, (-k).mul_add(LN2_HI, xc));
    let mut p = TAYLOR12[12];
    for &c in TAYLOR12[..12].iter().rev() {
        p = p.mul_add(r, c);
    }
    let ki = (t.to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64);
    p * f64::from_bits(((ki + 1023) << 52) as u64)
}

/// [`exp_fused`] of each of `N` values (the same bits; a NaN's sign, like [`exp_fused`]'s, is
/// whichever NaN operand the compiled instructions pass on), written as whole-array steps so that
/// the compiler keeps the array in vector registers (a loop of [`exp_fused`] over the rows of
/// a lane-major table is vectorised across rows instead, with a shuffle per row).
#[inline(always)]
pub fn exp_fused_lanes<const N: usize>(x: &[f64; N]) -> [f64; N] {
    let xc: [f64; N] = std::array::from_fn(|l| x[l].clamp(-708.0, 708.0));
    let t: [f64; N] = std::array::from_fn(|l| xc[l] * std::f64::consts::LOG2_E + ROUNDER);
    let k: [f64; N] = std::array::from_fn(|l| t[l] - ROUNDER);
    let r: [f64; N] =
        std::array::from_fn(|l| (-k[l]).mul_add(LN2_LO, (-k[l]).mul_add(LN2_HI, xc[l])));
    let mut p = [TAYLOR12[12]; N];
    for &c in TAYLOR12[..12].iter().rev() {
        for l in 0..N {
            p[l] = p[l].mul_add(r[l], c);
        }
    }
    std::array::from_fn(|l| {
        let ki = (t[l].to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64);
        p[l] * f64::from_bits(((ki + 1023) << 52) as u64)
    })
}

/// The natural logarithm of an `f32` exactly as numpy 2.x computes `np.log` on float32 arrays
/// on x86-64 CPUs with AVX2+FMA3 or AVX-512F (its `simd_log_FLOAT` kernel, which is not
/// correctly rounded: up to ~3.8 ulp): exponent/mantissa split with the mantissa normalised to
/// [sqrt(1/2), sqrt(2)), a 5th/5th-order rational minimax approximation of log(1 + y) evaluated
/// with fused multiply-adds, plus `e ln 2`. Other CPUs' numpy uses the C library's `logf`.
///
/// `mul_add` is fused on every target (hardware FMA, or the C library's exact `fmaf`), so the
/// result is the same bits everywhere.
#[inline(always)]
pub fn numpy_simd_logf(x: f32) -> f32 {
    // numpy's constants (npy_simd_data.h / npy_math.h), as f32
    const P: [f32; 6] = [
        0.0,
        9.999_999_999_999_998_702_752e-1,
        2.112_677_543_073_053_063_722,
        1.480_000_633_576_506_585_156,
        3.808_837_741_388_407_920_751e-1,
        2.589_979_117_907_922_693_523e-2,
    ];
    const Q: [f32; 6] = [
        1.0,
        2.612_677_543_073_109_236_779,
        2.453_006_071_784_736_363_091,
        9.864_942_958_519_418_960_339e-1,
        1.546_476_374_983_906_719_538e-1,
        5.875_095_403_124_574_342_950e-3,
    ];
    const LN2: f32 = std::f32::consts::LN_2;
    const SQRT1_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    if x.is_nan() {
        return x;
    }
    if x < 0.0 {
        return -f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return f32::INFINITY;
    }
    // subnormals are scaled by 2^100 first, as numpy does
    let (xs, shift) = if x < f32::MIN_POSITIVE {
        (x * f32::from_bits(0x7180_0000), 100.0)
    } else {
        (x, 0.0)
    };
    let bits = xs.to_bits();
    let mut e = ((bits >> 23) as i32 - 126) as f32 - shift;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | (126 << 23)); // in [0.5, 1)
    if m <= SQRT1_2 {
        m = m + m;
        e -= 1.0;
    }
    let y = m - 1.0;
    e.mul_add(LN2, horner(&P, y) / horner(&Q, y))
}

/// `c[5] y^5 + ... + c[0]` by Horner's rule with a fused multiply-add per step (numpy's order).
#[inline(always)]
fn horner(c: &[f32; 6], y: f32) -> f32 {
    c[..5]
        .iter()
        .rev()
        .fold(c[5], |acc, &ck| acc.mul_add(y, ck))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Arguments for the exp tests: 200,000 uniform in [-700, 700], 100,000 in [-20, 20] (seeded)
    /// and the edge values (signed zeros, tiny, near the overflow limits, ln(2)/2).
    fn exp_inputs(seed: u64) -> Vec<f64> {
        let mut r = SplitMix64::new(seed);
        let mut xs: Vec<f64> = (0..200_000).map(|_| (r.uniform() - 0.5) * 1400.0).collect();
        xs.extend((0..100_000).map(|_| (r.uniform() - 0.5) * 40.0));
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
        xs
    }

    #[test]
    fn lane_exp_has_the_scalar_bits() {
        let mut xs = exp_inputs(5);
        xs.extend([
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            708.0,
            -708.0,
            709.5,
            -745.2,
            f64::MIN_POSITIVE,
            -5e-324,
        ]);
        xs.resize(xs.len().next_multiple_of(8), 0.5);
        for x in xs.chunks_exact(8) {
            let x: [f64; 8] = x.try_into().unwrap();
            let y = exp_fused_lanes(&x);
            for l in 0..8 {
                let e = exp_fused(x[l]);
                if e.is_nan() {
                    // which NaN operand an instruction passes on is the compiler's choice
                    assert!(y[l].is_nan(), "exp({})", x[l]);
                } else {
                    assert_eq!(y[l].to_bits(), e.to_bits(), "exp({})", x[l]);
                }
            }
        }
    }

    #[test]
    fn approximate_exp_is_within_its_bound() {
        let xs = exp_inputs(3);
        let mut ys = xs.clone();
        exp_approx_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            assert!((y / x.exp() - 1.0).abs() < 5e-10, "exp({x}) = {y}");
        }
        let mut big = [-800.0, 800.0, f64::NAN];
        exp_approx_in_place(&mut big);
        assert!(big[0] > 0.0 && big[0] < 1e-300 && big[1].is_finite() && big[2].is_nan());
    }

    #[test]
    fn accurate_exp_is_within_2_ulp() {
        let xs = exp_inputs(4);
        let mut ys = xs.clone();
        exp_in_place(&mut ys);
        let mut worst = 0.0f64;
        for (x, y) in xs.iter().zip(&ys) {
            let e = x.exp();
            worst = worst.max((y - e).abs() / e);
            assert_eq!(y.to_bits(), exp_accurate(*x).to_bits());
        }
        // 2 ulp of a value in [1, 2) is 4.4e-16
        assert!(worst < 5e-16, "worst relative error {worst:e}");
        let mut big = [-800.0, 800.0, f64::NAN];
        exp_in_place(&mut big);
        assert!(big[0] > 0.0 && big[0] < 1e-300 && big[1].is_finite() && big[2].is_nan());
    }

    #[test]
    fn fused_exp_is_within_2_ulp() {
        let xs = exp_inputs(5);
        let mut worst = 0.0f64;
        for x in &xs {
            let (y, e) = (exp_fused(*x), x.exp());
            worst = worst.max((y - e).abs() / e);
        }
        assert!(worst < 5e-16, "worst relative error {worst:e}");
        assert!(exp_fused(f64::NAN).is_nan());
        assert!(exp_fused(800.0).is_finite() && exp_fused(-800.0) > 0.0);
    }

    #[test]
    fn numpy_logf_matches_numpy_bit_for_bit() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/numpy/logf.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let xs = v["x_bits"].as_array().unwrap();
        let ys = v["log_bits"].as_array().unwrap();
        assert!(xs.len() > 4000);
        let mut bad = 0;
        for (x, y) in xs.iter().zip(ys) {
            let x = f32::from_bits(x.as_u64().unwrap() as u32);
            let want = y.as_u64().unwrap() as u32;
            let got = numpy_simd_logf(x).to_bits();
            if got != want {
                bad += 1;
                if bad < 5 {
                    eprintln!(
                        "log({x:e}): numpy {:e}, ours {:e}",
                        f32::from_bits(want),
                        f32::from_bits(got)
                    );
                }
            }
        }
        assert_eq!(bad, 0, "{bad} of {} values differ from numpy", xs.len());
    }
}
