//! The SyN registration's options (`registerSyN`'s `SynOptions`: metric, level iterations,
//! step, scale space, inversion, the CC / SSD / EM metric options, prealign, threads) checked
//! by `register_syn`, and a tiny registration with them: 2D images of 6 x 6 (the moving one
//! 6 x 6 or 5 x 7) on identity or fuzzed grids, at most 2 iterations in all, so that one
//! execution stays short (issue 19: >= 10,000 executions per CPU-second; the kernels' cost is
//! per voxel, and 8 x 8 images ran ~7,800. The public size limits and full-size registrations
//! are tested elsewhere: crates/fields' tests, __test__/syn*.spec.ts, scripts/fuzz-syn.mjs).
//! Built without libFuzzer's comparison tracing (`fuzz/run.sh` passes `--no-trace-compares`
//! for this target): the input is decoded through tables, and tracing every float comparison
//! of the kernels was half of the time. The one-thread registrations run on the fuzzer's own
//! thread (`par::adopt_calling_thread`): handing each one to the shared pool's worker and back
//! was a third of the time on a 2-core VM (6,600 -> 10,500 executions per second).
//!
//! Input, read byte by byte (missing bytes read as 0): the metric; a mask of the metric
//! options given; each option (numbers from a table of edge values, or 8 raw bytes); the
//! level iterations (1 to 17 levels; an entry is 0, 1, 2, or beyond the limit); the grids and
//! a prealign; the images' values (one byte each, some NaN).
//!
//! Invariants: no panic; errors are `ERR_SETTING`, `ERR_SHAPE` or `ERR_FORMAT` with a message;
//! on Ok the forward and backward fields hold `2 x` the static grid's voxels, all finite, one
//! energy list and one iteration count per level, iterations within the level's limit, and the
//! energies finite; the same registration with 2 threads is bit-identical (results do not
//! depend on the thread count).
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxelkit_core::{Code, Control};
use voxelkit_fields::syn::{
    register_syn, Image, Metric, StepType, SynOptions, MAX_INNER_ITER, MAX_LEVEL_ITERS,
    MAX_Q_LEVELS,
};
use voxelkit_fields::{Affine, Grid};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    /// An edge value from a table, or (selector >= 0x80) 8 raw bytes.
    fn f64(&mut self) -> f64 {
        const T: [f64; 24] = [
            0.0,
            -0.0,
            1.0,
            0.5,
            2.0,
            0.25,
            4.0,
            -1.0,
            1e-5,
            1e-3,
            1e-300,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            0.2,
            3.0,
            100.0,
            f64::MAX,
            -1e-9,
            1e9,
            0.1,
        ];
        let s = self.u8();
        if s >= 0x80 {
            let mut b = [0u8; 8];
            for x in &mut b {
                *x = self.u8();
            }
            f64::from_le_bytes(b)
        } else {
            T[s as usize % T.len()]
        }
    }
    /// An integer option: 0 to 7, or (255) just beyond the limit (refused). Values up to the
    /// limit (1000 inner iterations, 10^6 inversion iterations) are valid and only slow: they
    /// would make the fuzzer spend its time in long Gauss-Seidel sweeps and inversions.
    fn int(&mut self, limit: usize) -> usize {
        match self.u8() {
            255 => limit + 1,
            b => b as usize % 8,
        }
    }
}

fn grid(b: &mut Bytes<'_>, dims: &[usize]) -> Option<Grid> {
    let mut a = Affine::IDENTITY.to_vec();
    if b.u8() & 1 == 1 {
        // a fuzzed affine: diagonal and translation, or (odd selector) every entry
        if b.u8() & 1 == 1 {
            for x in a.iter_mut() {
                *x = b.f64();
            }
        } else {
            a[0] = b.f64();
            a[5] = b.f64();
            a[3] = b.f64();
            a[7] = b.f64();
        }
    }
    match Grid::new(dims, &a, "grid") {
        Ok(g) => Some(g),
        Err(e) => {
            assert!(
                matches!(e.code, Code::Shape | Code::Setting | Code::Format),
                "grid: {:?} {}",
                e.code,
                e.message
            );
            None
        }
    }
}

fuzz_target!(
    init: {
        // one-thread registrations run on the fuzzer's thread (see adopt_calling_thread)
        voxelkit_core::par::adopt_calling_thread().expect("adopt the fuzzer's thread");
    },
    |data: &[u8]| check(data)
);

fn check(data: &[u8]) {
    let mut b = Bytes(data);
    let metric = match b.u8() % 3 {
        0 => Metric::Cc,
        1 => Metric::Ssd,
        _ => Metric::Em,
    };
    let given = b.u16();
    let has = |bit: u16| given & (1 << bit) != 0;
    let mut o = SynOptions {
        metric,
        threads: Some(1),
        ..SynOptions::default()
    };
    if has(0) {
        o.sigma_diff = Some(b.f64());
    }
    if has(1) {
        o.radius = Some(match b.u8() {
            255 => 1001,
            254 => 1000,
            0 => 0,
            r => r as usize % 6 + 1,
        });
    }
    if has(2) {
        o.smooth = Some(b.f64());
    }
    if has(3) {
        o.inner_iter = Some(b.int(MAX_INNER_ITER));
    }
    if has(4) {
        o.step_type = Some(if b.u8() & 1 == 0 {
            StepType::Demons
        } else {
            StepType::GaussNewton
        });
    }
    if has(5) {
        o.q_levels = Some(match b.u8() {
            255 => MAX_Q_LEVELS + 1,
            254 => 65536,
            b => b as usize,
        });
    }
    if has(6) {
        o.double_gradient = Some(b.u8() & 1 == 1);
    }
    if has(7) {
        o.step_length = b.f64();
    }
    if has(8) {
        o.ss_sigma_factor = b.f64();
    }
    if has(9) {
        o.opt_tol = b.f64();
    }
    if has(10) {
        o.inv_iter = b.int(voxelkit_fields::invert::MAX_ITER);
    }
    if has(11) {
        o.inv_tol = b.f64();
    }
    // levels: 1..=3 mostly, 0 and 17 (refused) sometimes; entries 0..=2 or beyond the limit
    let nlev = match b.u8() {
        255 => 17,
        254 => 0,
        253 => 16,
        n => n as usize % 3 + 1,
    };
    // at most 2 iterations in all (each one is a few sub-kernels: steps, smoothing, two field
    // inversions), whatever the number of levels
    let mut left = 2usize;
    o.level_iters = (0..nlev)
        .map(|_| match b.u8() {
            255 => MAX_LEVEL_ITERS + 1,
            k => {
                let k = (k as usize % 3).min(left);
                left -= k;
                k
            }
        })
        .collect();
    let mdims: &[usize] = if has(12) { &[5, 7] } else { &[6, 6] };
    let Some(sg) = grid(&mut b, &[6, 6]) else {
        return;
    };
    let Some(mg) = grid(&mut b, mdims) else {
        return;
    };
    // the matrix as given (not through Affine::from_slice, which refuses non-finite entries):
    // register_syn's own checks see it
    let prealign = if has(13) {
        let mut m = [[0.0; 4]; 4];
        for row in &mut m {
            for x in row.iter_mut() {
                *x = b.f64();
            }
        }
        Some(Affine { m }.planar())
    } else {
        None
    };
    let nan = has(14);
    let mut img = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| match b.u8() {
                255 if nan => f32::NAN,
                v => v as f32,
            })
            .collect()
    };
    let sd = img(sg.nvox());
    let md = img(mg.nvox());
    let stat = Image {
        data: &sd,
        grid: &sg,
    };
    let moving = Image {
        data: &md,
        grid: &mg,
    };
    let r = register_syn(
        stat,
        moving,
        prealign.as_ref(),
        &o,
        None,
        &Control::default(),
    );
    match r {
        Err(e) => assert!(
            matches!(e.code, Code::Setting | Code::Shape | Code::Format) && !e.message.is_empty(),
            "unexpected error {:?}: {}",
            e.code,
            e.message
        ),
        Ok(res) => {
            let n = res.geometry.disp_grid.nvox() * 2;
            assert_eq!(res.forward.len(), n, "forward length");
            assert_eq!(res.backward.len(), n, "backward length");
            assert!(
                res.forward.iter().all(|x| x.is_finite()),
                "non-finite forward field"
            );
            assert!(
                res.backward.iter().all(|x| x.is_finite()),
                "non-finite backward field"
            );
            assert_eq!(
                res.energies.len(),
                o.level_iters.len(),
                "energies per level"
            );
            assert_eq!(
                res.iterations.len(),
                o.level_iters.len(),
                "iterations per level"
            );
            for (k, (&it, &lim)) in res.iterations.iter().zip(&o.level_iters).enumerate() {
                assert!(it <= lim, "level {k}: {it} iterations, limit {lim}");
            }
            assert!(
                res.energies.iter().flatten().all(|e| e.is_finite()),
                "non-finite energy {:?}",
                res.energies
            );
            // 1 input in 16: the thread count does not change the result. A two-thread run of
            // a 6 x 6 registration costs several one-thread executions (its second worker
            // wakes and spins for every parallel loop), so at 1 in 8 these checks were ~40 %
            // of the CPU time (a replay of the corpus: 89-102 CPU-s at 1 in 8, 78 at 1 in 16,
            // 45-56 with none).
            if data.iter().fold(0u8, |a, &x| a.wrapping_add(x)) & 15 == 3 {
                let o2 = SynOptions {
                    threads: Some(2),
                    ..o.clone()
                };
                let r2 = register_syn(
                    stat,
                    moving,
                    prealign.as_ref(),
                    &o2,
                    None,
                    &Control::default(),
                )
                .expect("the same registration with 2 threads");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&r2.forward), bits(&res.forward), "threads: forward");
                assert_eq!(bits(&r2.backward), bits(&res.backward), "threads: backward");
            }
        }
    }
}
