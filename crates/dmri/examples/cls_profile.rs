//! Profiling driver for the constrained DKI fits (not a benchmark claim):
//! `cargo run --release -p voxelkit-dmri --example cls_profile -- [CLS|CWLS] [reps]`
use std::time::Instant;
use voxelkit_core::Control;
use voxelkit_dmri::phantom::dki_phantom;
use voxelkit_dmri::{fit_dki, DkiMethod, DkiOptions, GradientTable};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let method = match args.get(1).map(String::as_str) {
        Some("CWLS") => DkiMethod::Cwls,
        _ => DkiMethod::Cls,
    };
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let shape = [10, 10, 10];
    let p = dki_phantom(shape, 30.0, 1).unwrap();
    let nvox = shape.iter().product::<usize>();
    let gtab = GradientTable::new(&p.bvals, &p.bvecs, 50.0, 1e-2).unwrap();
    let opts = DkiOptions {
        method,
        threads: Some(1),
        ..Default::default()
    };
    for _ in 0..reps {
        let t = Instant::now();
        let fit = fit_dki(&p.data, nvox, &gtab, None, &opts, &Control::new()).unwrap();
        let moved = fit.status.iter().filter(|&&s| s == 4).count();
        // a digest of every output bit, to compare builds
        let mut h: u64 = 0xcbf29ce484222325;
        for v in fit.evals.iter().chain(&fit.evecs).chain(&fit.kt) {
            h = (h ^ v.to_bits()).wrapping_mul(0x100000001b3);
        }
        println!("digest {h:016x}");
        let el = t.elapsed().as_secs_f64();
        println!(
            "{method:?}: {nvox} voxels, {moved} constrained, {:.3} s ({:.0} us/voxel)",
            el,
            el / nvox as f64 * 1e6
        );
    }
}
