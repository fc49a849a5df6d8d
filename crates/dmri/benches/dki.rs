//! Kernel-level DKI benches for tuning the inner loops (the cross-language runner in
//! `benches/` makes the claims). Input: a two-compartment kurtosis phantom, 3 shells
//! (b = 1000/2000/3000, 64 directions each, one b=0), float64.
//!
//! `cargo bench -p voxelkit-dmri --bench dki`

mod common;
#[path = "../tests/common/mod.rs"]
mod fixtures;

use criterion::{criterion_group, criterion_main, Criterion};
use fixtures::kurtosis;
use voxelkit_core::Control;
use voxelkit_dmri::dki_maps::KurtosisMap;
use voxelkit_dmri::dki_predict::predict_dki;
use voxelkit_dmri::phantom::dki_phantom;
use voxelkit_dmri::predict::S0;
use voxelkit_dmri::{fit_dki, DkiMethod, DkiOptions};

fn bench(c: &mut Criterion) {
    let shape = [40, 25, 20];
    let p = dki_phantom(shape, 30.0, 1).unwrap();
    let (nvox, gtab, mut g) = common::setup(c, "dki", shape, &p);
    for (name, method) in [("wls", DkiMethod::Wls), ("ols", DkiMethod::Ols)] {
        let opts = DkiOptions {
            method,
            threads: Some(1),
            ..Default::default()
        };
        g.bench_function(format!("{name}_fit_1t"), |b| {
            b.iter(|| fit_dki(&p.data, nvox, &gtab, None, &opts, &Control::new()).unwrap())
        });
    }
    let fit = fit_dki(
        &p.data,
        nvox,
        &gtab,
        None,
        &DkiOptions::default(),
        &Control::new(),
    )
    .unwrap();
    voxelkit_core::par::set_default_threads(1).unwrap();
    g.bench_function("maps_mk_ak_rk_kfa_1t", |b| {
        b.iter(|| {
            for m in [
                KurtosisMap::Mk,
                KurtosisMap::Ak,
                KurtosisMap::Rk,
                KurtosisMap::Kfa,
            ] {
                std::hint::black_box(kurtosis(&fit, m, true));
            }
        })
    });
    g.bench_function("predict_1t", |b| {
        b.iter(|| {
            predict_dki(
                &fit.evals,
                &fit.evecs,
                &fit.kt,
                &gtab,
                S0::Scalar(1.0),
                Some(1),
                &Control::new(),
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
