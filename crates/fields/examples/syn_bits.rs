//! Bit-identity check for tuning the SyN and field kernels: registers every SyN fixture pair
//! (fixtures/dipy_syn, the brain pair read from ../shared where present, skipped with a message
//! where absent) and a synthetic N^3 pair with CC, SSD and EM, inverts, composes and warps a
//! smooth synthetic field (float32 and float64), each at 1 and 2 threads, and prints an FNV-1a
//! hash of every output (fields, energies, iteration counts, warped images, statistics) per
//! case. A tuning change must leave every line unchanged: run it before and after and `diff`.
//! (Not a test: the 3D runs take seconds in release mode.)
//!
//! `cargo run --release -p voxelkit-fields --example syn_bits -- [N=40] [--quick]`
//! (`--quick`: the synthetic pair and the field kernels only, at N given)

#[path = "../tests/common/mod.rs"]
mod common;

use common::{cases, f64s, floats, usizes};
use serde_json::Value;
use voxelkit_core::fnv::Fnv;
use voxelkit_core::Control;
use voxelkit_fields::syn::{register_syn, Image, Metric, StepType, SynOptions, SynResult};
use voxelkit_fields::{
    compose_fields, invert_field, warp_linear, Affine, Field, Grid, InvertOptions, Real,
};

const FIX: &str = "dipy_syn";

/// A field's values as f64 (float32 fields hash as the f64 of each value, as before).
fn reals<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn hash_result(r: &SynResult, image: &[f32], stat: &[f32]) -> u64 {
    let mut h = Fnv::new();
    h.f32s(&r.forward);
    h.f32s(&r.backward);
    for e in &r.energies {
        h.f64s(e);
    }
    for &k in &r.iterations {
        h.bytes(&(k as u64).to_le_bytes());
    }
    let c = Control::default();
    if let Ok(w) = r.transform(image, &r.geometry.domain, &c, Some(1)) {
        h.f32s(&w);
    }
    if let Ok(w) = r.transform_inverse(stat, &r.geometry.codomain, &c, Some(1)) {
        h.f32s(&w);
    }
    h.0
}

fn grid(shape: &Value, aff: &Value) -> Grid {
    Grid::new(&usizes(shape), &floats(aff), "grid").unwrap()
}

fn options(m: &Value, threads: usize) -> SynOptions {
    let mo = &m["metric_options"];
    SynOptions {
        metric: match m["metric"].as_str() {
            None => Metric::Cc,
            Some("SSD") => Metric::Ssd,
            Some("EM") => Metric::Em,
            Some(x) => panic!("metric {x}"),
        },
        level_iters: usizes(&m["level_iters"]),
        step_type: mo["step_type"].as_str().map(|t| match t {
            "demons" => StepType::Demons,
            _ => StepType::GaussNewton,
        }),
        q_levels: mo["q_levels"].as_u64().map(|q| q as usize),
        double_gradient: mo["double_gradient"].as_bool(),
        threads: Some(threads),
        ..SynOptions::default()
    }
}

fn run_case(name: &str, m: &Value, st: &[f32], mv: &[f32], sg: &Grid, mg: &Grid) {
    let pre = m["prealign"]
        .as_array()
        .map(|_| Affine::from_slice(&floats(&m["prealign"]), "prealign").unwrap());
    let pre = pre.map(|p| if sg.ndim == 2 { p.planar() } else { p });
    for t in [1, 2] {
        let r = register_syn(
            Image { data: st, grid: sg },
            Image { data: mv, grid: mg },
            pre.as_ref(),
            &options(m, t),
            None,
            &Control::default(),
        )
        .unwrap();
        println!("{name} t{t} {:016x}", hash_result(&r, mv, st));
    }
}

/// A brain image of the pair (`common::brain_image`) with its grid.
fn brain_image(file: &str, stride: usize) -> Option<(Vec<f32>, Grid)> {
    let (v, shape, aff) = common::brain_image(file, stride)?;
    Some((v, Grid::new(&shape, &aff, "brain").unwrap()))
}

fn field_kernels<T: Real>(n: usize, name: &str) {
    let dims = [n + 3, n, n - 2];
    let mut aff = Affine::IDENTITY;
    aff.m[0][0] = 1.5;
    aff.m[1][1] = 0.8;
    aff.m[0][1] = 0.1;
    aff.m[2][3] = -4.0;
    let g = Grid::new(&dims, &aff.to_vec(), "g").unwrap();
    let nv = g.nvox();
    let d: Vec<T> = (0..3 * nv)
        .map(|i| {
            let (c, v) = (i / nv, i % nv);
            let (x, y, z) = (
                (v % dims[0]) as f64,
                ((v / dims[0]) % dims[1]) as f64,
                (v / (dims[0] * dims[1])) as f64,
            );
            T::from_f64(
                1.7 * (0.21 * x + 0.5 * c as f64).sin() * (0.17 * y).cos()
                    + 0.9 * (0.13 * z + 0.3 * x).cos(),
            )
        })
        .collect();
    let f = Field::new(&d, &g, "f").unwrap();
    let img: Vec<f64> = (0..nv).map(|i| ((i * 7919) % 977) as f64 * 0.25).collect();
    for t in [1, 2] {
        let o = InvertOptions {
            threads: Some(t),
            ..Default::default()
        };
        let (p, st) = invert_field(f, None, &o, &Control::new()).unwrap();
        let mut h = Fnv::new();
        h.f64s(&reals(&p));
        h.f64s(&[st.error, st.iterations as f64]);
        let (c, cs) = compose_fields(f, f, 0.75, Some(t), &Control::new()).unwrap();
        h.f64s(&reals(&c));
        h.f64s(&[cs.max_norm, cs.mean_norm, cs.std_norm, cs.count as f64]);
        let w = warp_linear(&img, &g, f, None, Some(t), &Control::new()).unwrap();
        h.f64s(&w);
        println!("fields {name} n{n} t{t} {:016x}", h.0);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let n: usize = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map_or(40, |s| s.parse().unwrap());
    field_kernels::<f32>(n, "f32");
    field_kernels::<f64>(n, "f64");
    let (s, m) = common::synthetic_pair(n);
    let g = Grid::new(&[n, n, n], &Affine::IDENTITY.to_vec(), "g").unwrap();
    for metric in [Metric::Cc, Metric::Ssd, Metric::Em] {
        for t in [1, 2] {
            let o = SynOptions {
                metric,
                threads: Some(t),
                ..SynOptions::default()
            };
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
                "synthetic{n} {metric:?} t{t} {:016x}",
                hash_result(&r, &m, &s)
            );
        }
    }
    if quick {
        return;
    }
    for (name, m) in cases(FIX, "syn") {
        let st: Vec<f32> = f64s(FIX, &m, "static").iter().map(|&v| v as f32).collect();
        let mv: Vec<f32> = f64s(FIX, &m, "moving").iter().map(|&v| v as f32).collect();
        let sg = grid(&m["static_shape"], &m["static_affine"]);
        let mg = grid(&m["moving_shape"], &m["moving_affine"]);
        run_case(&name, &m, &st, &mv, &sg, &mg);
    }
    for (name, m) in cases(FIX, "syn_brain") {
        let stride = m["stride"].as_u64().unwrap() as usize;
        let Some((st, sg)) = brain_image(m["static"].as_str().unwrap(), stride) else {
            continue;
        };
        let Some((mv, mg)) = brain_image(m["moving"].as_str().unwrap(), stride) else {
            continue;
        };
        run_case(&name, &m, &st, &mv, &sg, &mg);
    }
}
