//! Quick kernel timing on a raw float64 field:
//! `cargo run --release --example time_fields -- d.bin nx ny nz threads [ops [reps]]`
//! (`ops`: a comma list of `invert`, `compose`, `warp`, default all; `reps` per op, default 3;
//! `invert,1` under callgrind profiles one inversion).
use std::time::Instant;

/// CPU time of all threads of the process in seconds (Linux), so that timings on a loaded
/// machine mean something.
fn cpu() -> f64 {
    let mut t = 0.0;
    for e in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some(ns) = std::fs::read_to_string(e.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        {
            t += ns * 1e-9;
        }
    }
    t
}
use voxelkit_core::Control;
use voxelkit_fields::{compose_fields, invert_field, warp_linear, Field, Grid, InvertOptions};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let b = std::fs::read(&a[1]).unwrap();
    let d: Vec<f64> = b
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let dims: Vec<usize> = a[2..5].iter().map(|s| s.parse().unwrap()).collect();
    let threads: usize = a[5].parse().unwrap();
    let ops = a.get(6).map_or("invert,compose,warp", |s| s.as_str());
    let reps: usize = a.get(7).map_or(3, |s| s.parse().unwrap());
    let run = |op: &str| {
        if ops.split(',').any(|o| o == op) {
            reps
        } else {
            0
        }
    };
    let id = [
        1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1.,
    ];
    let g = Grid::new(&dims, &id, "f").unwrap();
    let f = Field::new(&d, &g, "f").unwrap();
    let o = InvertOptions {
        threads: Some(threads),
        ..Default::default()
    };
    for _ in 0..run("invert") {
        let (t, c0) = (Instant::now(), cpu());
        let (p, st) = invert_field(f, None, &o, &Control::new()).unwrap();
        println!(
            "invert {:.4} s wall {:.4} s cpu {:?} {}",
            t.elapsed().as_secs_f64(),
            cpu() - c0,
            st,
            p[12345]
        );
    }
    for _ in 0..run("compose") {
        let (t, c0) = (Instant::now(), cpu());
        let (c, st) = compose_fields(f, f, 1.0, Some(threads), &Control::new()).unwrap();
        println!(
            "compose {:.4} s wall {:.4} s cpu {:?} {}",
            t.elapsed().as_secs_f64(),
            cpu() - c0,
            st.count,
            c[12345]
        );
    }
    let img: Vec<f64> = (0..g.nvox()).map(|i| (i % 977) as f64).collect();
    for _ in 0..run("warp") {
        let (t, c0) = (Instant::now(), cpu());
        let w = warp_linear(&img, &g, f, None, Some(threads), &Control::new()).unwrap();
        println!(
            "warp {:.4} s wall {:.4} s cpu {}",
            t.elapsed().as_secs_f64(),
            cpu() - c0,
            w[12345]
        );
    }
}
