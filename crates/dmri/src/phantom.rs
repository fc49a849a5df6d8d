//! A synthetic DTI phantom: a head-like ellipsoid with grey matter, CSF ventricles and a ring of
//! white matter whose fibres run tangentially, sampled on a 6 b0 + 60 direction scheme at
//! b = 1000 s/mm² with Rician noise, stored as int16, and a kurtosis variant on three shells.
//! Deterministic for a given seed.

use crate::dti::design_matrix;
use crate::gradients::GradientTable;
use voxelkit_core::rng::SplitMix64;
use voxelkit_core::{Error, Result};

/// A generated phantom.
#[derive(Debug, Clone)]
pub struct Phantom {
    pub shape: [usize; 3],
    /// Volume-major int16 signal `n * nvox`.
    pub data: Vec<i16>,
    pub bvals: Vec<f64>,
    pub bvecs: Vec<[f64; 3]>,
    /// 1 inside the head.
    pub mask: Vec<u8>,
    /// Noise-free ground-truth FA.
    pub true_fa: Vec<f64>,
    /// Spacing in mm.
    pub spacing: [f64; 3],
}

/// Unit vectors spread over the half sphere (Fibonacci lattice), deterministic.
pub fn fibonacci_directions(n: usize) -> Vec<[f64; 3]> {
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    (0..n)
        .map(|i| {
            let z = 1.0 - (i as f64 + 0.5) / n as f64; // (0, 1]: upper half sphere
            let r = (1.0 - z * z).sqrt();
            let t = golden * i as f64;
            [r * t.cos(), r * t.sin(), z]
        })
        .collect()
}

/// The phantom's tissue at voxel (i, j, k) of `shape`: a head-like ellipsoid with CSF at the
/// centre, a ring of white matter whose fibres run tangentially in-plane, grey matter elsewhere.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tissue {
    Outside,
    Csf,
    /// White matter with its unit fibre direction.
    WhiteMatter([f64; 3]),
    GreyMatter,
}

fn tissue_at(shape: [usize; 3], i: usize, j: usize, k: usize) -> Tissue {
    let [nx, ny, nz] = shape;
    let (cx, cy, cz) = (
        (nx as f64 - 1.0) / 2.0,
        (ny as f64 - 1.0) / 2.0,
        (nz as f64 - 1.0) / 2.0,
    );
    let (dx, dy) = (
        (i as f64 - cx) / (nx as f64 / 2.0),
        (j as f64 - cy) / (ny as f64 / 2.0),
    );
    let dz = if nz > 1 {
        (k as f64 - cz) / (nz as f64 / 2.0)
    } else {
        0.0
    };
    let r = (dx * dx + dy * dy).sqrt();
    if dx * dx + dy * dy + 0.5 * dz * dz >= 0.85 {
        Tissue::Outside
    } else if r < 0.2 {
        Tissue::Csf
    } else if (0.4..0.6).contains(&r) {
        Tissue::WhiteMatter([-dy / r, dx / r, 0.0])
    } else {
        Tissue::GreyMatter
    }
}

/// Checks a phantom's shape and SNR.
fn check_args(shape: [usize; 3], snr: f64, max_voxels: usize) -> Result<()> {
    let [nx, ny, nz] = shape;
    if nx < 4 || ny < 4 || nz < 1 || nx * ny * nz > max_voxels {
        return Err(Error::setting(format!(
            "phantom shape must be at least 4x4x1 and at most {max_voxels} voxels, got {nx}x{ny}x{nz}"
        )));
    }
    if !(snr.is_finite() && snr > 0.0) {
        return Err(Error::setting(format!(
            "snr must be a finite number > 0, got {snr}"
        )));
    }
    Ok(())
}

/// Lower triangle of the axially symmetric tensor `l2 I + (l1 - l2) d d^T`.
fn axial(l1: f64, l2: f64, d: [f64; 3]) -> [f64; 6] {
    [
        l2 + (l1 - l2) * d[0] * d[0],
        (l1 - l2) * d[0] * d[1],
        l2 + (l1 - l2) * d[1] * d[1],
        (l1 - l2) * d[0] * d[2],
        (l1 - l2) * d[1] * d[2],
        l2 + (l1 - l2) * d[2] * d[2],
    ]
}

/// One voxel's ground truth: S0, Gaussian compartments `(volume fraction, tensor)`, and the
/// reference FA stored for voxels inside the head.
struct Truth {
    s0: f64,
    comps: Vec<(f64, [f64; 6])>,
    fa: f64,
}

/// Samples a phantom of `shape` on the scheme `(bvals, bvecs)`: voxel by voxel (first axis
/// fastest), the signal `S0 sum_c f_c exp(-b g' D_c g)` of `truth(tissue)` with Rician noise of
/// sigma `1000 / snr`, rounded to int16.
fn sample(
    shape: [usize; 3],
    snr: f64,
    seed: u64,
    max_voxels: usize,
    (bvals, bvecs): (Vec<f64>, Vec<[f64; 3]>),
    truth: impl Fn(Tissue) -> Truth,
) -> Result<Phantom> {
    check_args(shape, snr, max_voxels)?;
    let [nx, ny, nz] = shape;
    let gtab = GradientTable::new(&bvals, &bvecs, 50.0, 1e-2)?;
    let x = design_matrix(&gtab);
    let n = x.len();
    let nvox = nx * ny * nz;
    let sigma = 1000.0 / snr;
    let mut rng = SplitMix64::new(seed);
    let mut data = vec![0i16; n * nvox];
    let mut mask = vec![0u8; nvox];
    let mut true_fa = vec![0.0; nvox];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let v = i + nx * (j + ny * k);
                let tissue = tissue_at(shape, i, j, k);
                let t = truth(tissue);
                if tissue != Tissue::Outside {
                    mask[v] = 1;
                    true_fa[v] = t.fa;
                }
                for (kk, xr) in x.iter().enumerate() {
                    let s: f64 = t
                        .comps
                        .iter()
                        .map(|(f, d)| f * (0..6).map(|c| xr[c] * d[c]).sum::<f64>().exp())
                        .sum::<f64>()
                        * t.s0;
                    let re = s + sigma * rng.normal();
                    let im = sigma * rng.normal();
                    let m = (re * re + im * im).sqrt().round();
                    data[kk * nvox + v] = m.min(i16::MAX as f64) as i16;
                }
            }
        }
    }
    Ok(Phantom {
        shape,
        data,
        bvals,
        bvecs,
        mask,
        true_fa,
        spacing: [2.0, 2.0, 2.0],
    })
}

/// Builds the phantom. `snr` is relative to an S0 of 1000.
pub fn dti_phantom(shape: [usize; 3], snr: f64, seed: u64) -> Result<Phantom> {
    let mut bvals = vec![0.0; 6];
    let mut bvecs = vec![[0.0; 3]; 6];
    for d in fibonacci_directions(60) {
        bvals.push(1000.0);
        bvecs.push(d);
    }
    sample(shape, snr, seed, 1 << 24, (bvals, bvecs), |tissue| {
        // (S0, eigenvalues, principal direction)
        let (s0, ev, dir): (f64, [f64; 3], [f64; 3]) = match tissue {
            Tissue::Outside => (0.0, [0.0; 3], [1.0, 0.0, 0.0]),
            Tissue::Csf => (1800.0, [3.0e-3; 3], [1.0, 0.0, 0.0]),
            Tissue::WhiteMatter(t) => (900.0, [1.7e-3, 0.3e-3, 0.3e-3], t),
            Tissue::GreyMatter => (1000.0, [0.8e-3, 0.7e-3, 0.65e-3], [0.0, 0.0, 1.0]),
        };
        // one compartment l2 I + (l1 - l2) d d^T (l3 only enters the reference FA)
        Truth {
            s0,
            comps: vec![(1.0, axial(ev[0], ev[1], dir))],
            fa: crate::maps::fa(ev),
        }
    })
}

/// A synthetic kurtosis phantom with the geometry of [`dti_phantom`]: tissues are mixtures of
/// Gaussian compartments (white matter: intra-axonal stick + hindered extra-axonal tensor along
/// the tangential fibre; grey matter: two isotropic pools; CSF: free water), so the signal has
/// non-zero kurtosis. One b=0 and 64 directions at each of b = 1000, 2000, 3000 s/mm²
/// (193 volumes), Rician noise, int16. `true_fa` holds the FA of the signal-weighted mean
/// tensor only as a rough reference.
pub fn dki_phantom(shape: [usize; 3], snr: f64, seed: u64) -> Result<Phantom> {
    let mut bvals = vec![0.0];
    let mut bvecs = vec![[0.0; 3]];
    for b in [1000.0, 2000.0, 3000.0] {
        for d in fibonacci_directions(64) {
            bvals.push(b);
            bvecs.push(d);
        }
    }
    sample(shape, snr, seed, 1 << 22, (bvals, bvecs), |tissue| {
        let z = [0.0, 0.0, 1.0];
        // (S0, [(fraction, tensor)])
        let (s0, comps): (f64, Vec<(f64, [f64; 6])>) = match tissue {
            Tissue::Outside => (0.0, vec![]),
            Tissue::Csf => (1800.0, vec![(1.0, axial(3.0e-3, 3.0e-3, z))]),
            Tissue::WhiteMatter(t) => (
                900.0,
                vec![
                    (0.45, axial(2.2e-3, 0.05e-3, t)),
                    (0.55, axial(1.8e-3, 0.6e-3, t)),
                ],
            ),
            Tissue::GreyMatter => (
                1000.0,
                vec![
                    (0.7, axial(0.7e-3, 0.65e-3, z)),
                    (0.3, axial(1.6e-3, 1.5e-3, z)),
                ],
            ),
        };
        let mut m = [0.0; 6];
        for (f, d) in &comps {
            for c in 0..6 {
                m[c] += f * d[c];
            }
        }
        Truth {
            s0,
            comps,
            fa: crate::maps::fa(crate::eig3::eigh_lower(&m).0),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dti::{fit_dti, DtiOptions};
    use crate::maps::{scalar_map, ScalarMap};
    use voxelkit_core::Control;

    #[test]
    fn phantom_fits_to_its_truth() {
        let p = dti_phantom([24, 24, 2], 40.0, 7).unwrap();
        let gtab = GradientTable::new(&p.bvals, &p.bvecs, 50.0, 1e-2).unwrap();
        let nvox = 24 * 24 * 2;
        let fit = fit_dti(
            &p.data,
            nvox,
            &gtab,
            Some(&p.mask),
            &DtiOptions::default(),
            &Control::new(),
        )
        .unwrap();
        let fa = scalar_map(ScalarMap::Fa, &fit.evals);
        let (mut err, mut cnt) = (0.0, 0);
        for v in 0..nvox {
            if p.mask[v] == 1 {
                err += (fa[v] - p.true_fa[v]).abs();
                cnt += 1;
            }
        }
        // SNR 40 with 60 directions: FA bias/noise of a few hundredths at most
        assert!(
            err / (cnt as f64) < 0.05,
            "mean |FA error| = {}",
            err / cnt as f64
        );
    }
}
