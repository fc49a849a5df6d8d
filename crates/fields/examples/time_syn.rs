//! Times SyN and its pieces on a synthetic N^3 pair (hand-run profiling aid):
//! `cargo run --release -p voxelkit-fields --example time_syn -- 80 1 CC`  (size, threads,
//! metric CC | SSD | EM; a fourth argument `--syn-only` times the registration alone, e.g. under
//! `valgrind --tool=callgrind`)
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;
use voxelkit_core::Control;
use voxelkit_fields::syn::{cc, gauss, register_syn, Image, Metric, SynOptions};
use voxelkit_fields::{Affine, Grid};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(80, |s| s.parse().unwrap());
    let threads: usize = args.get(2).map_or(1, |s| s.parse().unwrap());
    let (s, m) = common::synthetic_pair(n);
    let g = Grid::new(&[n, n, n], &Affine::IDENTITY.to_vec(), "g").unwrap();
    let pieces = args.get(4).is_none_or(|a| a != "--syn-only");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        if !pieces {
            return;
        }
        let dims = [n, n, n];
        let t = Instant::now();
        let f = cc::factors_3d(&s, &m, dims, 4);
        println!("factors_3d      {:8.3} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let gr = cc::gradient(&s, dims, 3);
        println!("gradient        {:8.3} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let (st, _) = cc::step(&gr, &f, dims, 3, 4, true);
        println!("step            {:8.3} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut p = st[..n * n * n].to_vec();
        gauss::gaussian_filter(&mut p, dims, 3, &[2.0; 3]);
        println!("gaussian (1 c.) {:8.3} s", t.elapsed().as_secs_f64());
    });
    if pieces {
        // one Gauss-Seidel sweep of the SSD/EM system on an n^3 grid
        use voxelkit_fields::syn::ssd;
        let nv = n * n * n;
        let h = |i: usize, k: u64| {
            ((i as u64).wrapping_mul(2654435761).wrapping_add(k) % 1000) as f32 / 1000.0
        };
        let delta: Vec<f32> = (0..nv).map(|i| h(i, 1) - 0.5).collect();
        let grad: Vec<f32> = (0..3 * nv).map(|i| h(i, 2) - 0.5).collect();
        let sigma: Vec<f32> = (0..nv).map(|i| 0.01 + 0.2 * h(i, 3)).collect();
        let sys = ssd::System {
            shape: ssd::Shape::new([n, n, n], 3),
            delta: &delta,
            sigma: Some(&sigma),
            grad: &grad,
            target: None,
            lambda: 1.0,
        };
        let mut d = vec![0.0f32; 3 * nv];
        let t = Instant::now();
        pool.install(|| {
            for _ in 0..20 {
                ssd::iterate(&sys, &mut d);
            }
        });
        println!(
            "GS sweep        {:8.3} ms",
            t.elapsed().as_secs_f64() / 20.0 * 1e3
        );
    }
    let metric = match args.get(3).map_or("CC", |s| s.as_str()) {
        "SSD" => Metric::Ssd,
        "EM" => Metric::Em,
        _ => Metric::Cc,
    };
    let o = SynOptions {
        metric,
        threads: Some(threads),
        ..SynOptions::default()
    };
    let t = Instant::now();
    let r = register_syn(
        Image { data: &s, grid: &g },
        Image { data: &m, grid: &g },
        None,
        &o,
        None,
        &Control::default(),
    )
    .unwrap();
    println!(
        "register_syn    {:8.3} s  iterations {:?}",
        t.elapsed().as_secs_f64(),
        r.iterations
    );
}
