//! The set-up the kernel benches share.

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use voxelkit_dmri::phantom::Phantom;
use voxelkit_dmri::GradientTable;

/// For phantom `p` of `shape`: its voxel count, its gradient table, and the benchmark group
/// `name`, measured per voxel with 10 samples (each sample is a whole fit).
pub fn setup<'a>(
    c: &'a mut Criterion,
    name: &str,
    shape: [usize; 3],
    p: &Phantom,
) -> (usize, GradientTable, BenchmarkGroup<'a, WallTime>) {
    let nvox = shape.iter().product::<usize>();
    let gtab = GradientTable::new(&p.bvals, &p.bvecs, 50.0, 1e-2).unwrap();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(nvox as u64));
    g.sample_size(10);
    (nvox, gtab, g)
}
