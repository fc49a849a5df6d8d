//! Kernel-level DTI benches for tuning the inner loops (the cross-language runner in
//! `benches/` makes the claims). Input: the deterministic phantom, 66 volumes, int16.
//!
//! `cargo bench -p voxelkit-dmri --bench dti`

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use voxelkit_core::Control;
use voxelkit_dmri::maps::{scalar_map, ScalarMap};
use voxelkit_dmri::phantom::dti_phantom;
use voxelkit_dmri::{fit_dti, DtiMethod, DtiOptions};

fn bench(c: &mut Criterion) {
    let shape = [64, 64, 16];
    let p = dti_phantom(shape, 30.0, 1).unwrap();
    let (nvox, gtab, mut g) = common::setup(c, "dti", shape, &p);
    for (name, method) in [("wls", DtiMethod::Wls), ("ols", DtiMethod::Ols)] {
        for threads in [1usize, voxelkit_core::par::available_threads()] {
            let opts = DtiOptions {
                method,
                threads: Some(threads),
                ..Default::default()
            };
            g.bench_function(format!("{name}_fit_maps_{threads}t"), |b| {
                b.iter(|| {
                    let fit = fit_dti(&p.data, nvox, &gtab, None, &opts, &Control::new()).unwrap();
                    for m in [ScalarMap::Fa, ScalarMap::Md, ScalarMap::Ad, ScalarMap::Rd] {
                        std::hint::black_box(scalar_map(m, &fit.evals));
                    }
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
