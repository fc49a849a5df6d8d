//! Separable line passes over a region of a 3D grid (x fastest), parallel over lines.

use rayon::prelude::*;

/// A box of a 3D image in global voxel coordinates `[x, y, z]`, x fastest.
pub(crate) struct Grid<T> {
    pub lo: [usize; 3],
    pub size: [usize; 3],
    pub data: Vec<T>,
}

impl<T: Cell> Grid<T> {
    #[inline(always)]
    pub fn at(&self, p: [usize; 3]) -> f64 {
        let i = ((p[2] - self.lo[2]) * self.size[1] + p[1] - self.lo[1]) * self.size[0] + p[0]
            - self.lo[0];
        self.data[i].get()
    }
}

/// How a pass stores its results: float32 (ITK's images between passes) or float64.
pub(crate) trait Cell: Copy + Send + Sync + 'static {
    fn get(self) -> f64;
    fn put(v: f64) -> Self;
}

impl Cell for f32 {
    #[inline(always)]
    fn get(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn put(v: f64) -> Self {
        v as f32
    }
}

impl Cell for f64 {
    #[inline(always)]
    fn get(self) -> f64 {
        self
    }
    #[inline(always)]
    fn put(v: f64) -> Self {
        v
    }
}

/// A line kernel: fills the output lines from one input line.
pub(crate) type LineKernel<'a> = &'a (dyn Fn(&[f64], &mut [Vec<f64>]) + Sync);

/// Filters the lines along `axis` (length `n`, read through `input` at global coordinates) whose
/// other coordinates lie in the region `lo`/`size`, and stores the part of each of the `k`
/// output lines inside the region. `kernel(line, outs)` fills `k` full-length output lines.
/// Every line is independent, so the result does not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pass<T: Cell>(
    input: &(dyn Fn([usize; 3]) -> f64 + Sync),
    n: usize,
    axis: usize,
    lo: [usize; 3],
    size: [usize; 3],
    k: usize,
    kernel: LineKernel<'_>,
) -> Vec<Grid<T>> {
    let (t1, t2) = match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    let len = size[axis];
    // per outer transverse coordinate: the region's part of every line, line-major
    let parts: Vec<Vec<Vec<T>>> = (0..size[t2])
        .into_par_iter()
        .map(|j2| {
            let mut line = vec![0.0; n];
            let mut outs = vec![vec![0.0; n]; k];
            let mut buf: Vec<Vec<T>> = (0..k).map(|_| Vec::with_capacity(size[t1] * len)).collect();
            let mut p = [0usize; 3];
            p[t2] = lo[t2] + j2;
            for j1 in 0..size[t1] {
                p[t1] = lo[t1] + j1;
                for (i, v) in line.iter_mut().enumerate() {
                    p[axis] = i;
                    *v = input(p);
                }
                kernel(&line, &mut outs);
                for (b, o) in buf.iter_mut().zip(&outs) {
                    b.extend(o[lo[axis]..lo[axis] + len].iter().map(|&v| T::put(v)));
                }
            }
            buf
        })
        .collect();
    let total: usize = size.iter().product();
    let mut grids: Vec<Grid<T>> = (0..k)
        .map(|_| Grid {
            lo,
            size,
            data: vec![T::put(0.0); total],
        })
        .collect();
    let stride = [1, size[0], size[0] * size[1]];
    for (j2, part) in parts.into_iter().enumerate() {
        for (g, b) in grids.iter_mut().zip(part) {
            for j1 in 0..size[t1] {
                let base = j2 * stride[t2] + j1 * stride[t1];
                for i in 0..len {
                    g.data[base + i * stride[axis]] = b[j1 * len + i];
                }
            }
        }
    }
    grids
}
