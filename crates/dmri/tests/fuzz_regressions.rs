//! Inputs found by the fuzzers (scripts/fuzz-options.mjs) that once misbehaved in the fits.

use voxelkit_core::par::Control;
use voxelkit_dmri::dki::{fit_dki, DkiMethod, DkiOptions};
use voxelkit_dmri::dti::{fit_dti, DtiMethod, DtiOptions};
use voxelkit_dmri::fit::FitStatus;
use voxelkit_dmri::gradients::GradientTable;
use voxelkit_dmri::phantom::dki_phantom;

/// Every voxel is either fitted with finite outputs or flagged `NonFinite` with zero outputs:
/// no silent NaN.
fn finite_or_flagged(what: &str, status: &[u8], evals: &[f64], nvox: usize) {
    for v in 0..nvox {
        let e = [evals[v], evals[nvox + v], evals[2 * nvox + v]];
        if status[v] == FitStatus::NonFinite as u8 {
            assert_eq!(e, [0.0; 3], "{what}: voxel {v} flagged but not zeroed");
        } else {
            assert!(
                e.iter().all(|x| x.is_finite()),
                "{what}: voxel {v} status {} evals {e:?}",
                status[v]
            );
        }
    }
}

/// `minSignal` 1e308 clipped every signal to 1e308: the WLS weights overflowed to infinity and
/// nalgebra's SVD (no iteration limit) never returned on the weighted design, so `fitDki` hung
/// (found by scripts/fuzz-options.mjs, seed 13). Now the pseudo-inverse refuses a non-finite
/// matrix and caps its iterations, and the fits finish with every voxel fitted or flagged.
#[test]
fn huge_min_signal_finishes_with_flagged_voxels() {
    // the fits run on a thread of their own, so that a hang fails the test instead of the run
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        huge_min_signal_fits();
        let _ = tx.send(());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(120)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the fits did not finish in 120 s")
        }
        Err(e) => panic!("the fits panicked: {e}"),
    }
}

fn huge_min_signal_fits() {
    let p = dki_phantom([4, 4, 1], 30.0, 1).unwrap();
    let nvox = 16;
    let g = GradientTable::new(&p.bvals, &p.bvecs, 50.0, 1e-2).unwrap();
    for ms in [1e308, 1e300, 1e200, f64::MAX] {
        for method in [DkiMethod::Wls, DkiMethod::Ols] {
            let opts = DkiOptions {
                method,
                min_signal: Some(ms),
                ..Default::default()
            };
            let f = fit_dki(&p.data, nvox, &g, None, &opts, &Control::new()).unwrap();
            finite_or_flagged(&format!("DKI {method:?} {ms:e}"), &f.status, &f.evals, nvox);
        }
        for method in [DtiMethod::Wls, DtiMethod::Ols] {
            let opts = DtiOptions {
                method,
                min_signal: Some(ms),
                ..Default::default()
            };
            let f = fit_dti(&p.data, nvox, &g, None, &opts, &Control::new()).unwrap();
            finite_or_flagged(&format!("DTI {method:?} {ms:e}"), &f.status, &f.evals, nvox);
        }
    }
}
