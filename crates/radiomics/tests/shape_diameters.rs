//! The hull-based diameters equal PyRadiomics' O(V^2) maximum over the mesh vertices bit for bit
//! ([`shape::diameters`] vs [`shape::diameters_brute`], a port of `calculate_meshDiameter`), on
//! random masks and on the degenerate ones: one voxel, lines, planes, a diagonal chain, separate
//! voxels, boxes and spheres (many tied maximal pairs), checkerboards; anisotropic and
//! full-precision spacings. Likewise for shape2D's maximum diameter.

use voxelkit_radiomics::shape::{self, Vertex};
use voxelkit_radiomics::shape2d;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn int(&mut self, n: usize) -> usize {
        (self.next() * n as f64) as usize % n
    }
}

const SPACINGS: [[f64; 3]; 6] = [
    [1.0, 1.0, 1.0],
    [6.499999999999998, 0.7812499999999999, 0.7812499999999999],
    [2.1, 0.664062, 0.664062],
    [0.3, 3.7, 1.1],
    [0.123456789012345, 0.987654321098765, 0.5555555555555556],
    [1e-3, 1e-3, 2e-3],
];

fn check3(mask: &[bool], size: [usize; 3], what: &str) -> usize {
    let mut nv = 0;
    for sp in SPACINGS {
        let m = shape::mesh(mask, size, sp);
        let fast = shape::diameters(&m.vertices, sp);
        let brute = shape::diameters_brute(&m.vertices, sp);
        for k in 0..4 {
            assert_eq!(
                fast[k].to_bits(),
                brute[k].to_bits(),
                "{what} spacing {sp:?}: diameter {k} {} vs brute force {}",
                fast[k],
                brute[k]
            );
        }
        nv = m.vertices.len();
    }
    nv
}

fn check2(mask: &[bool], size: [usize; 2], what: &str) {
    for sp in SPACINGS {
        let sp = [sp[0], sp[1]];
        let m = shape2d::mesh2(mask, size, sp);
        let fast = shape2d::diameter(&m.vertices, sp);
        let brute = shape2d::diameter_brute(&m.vertices, sp);
        assert_eq!(fast.to_bits(), brute.to_bits(), "{what} spacing {sp:?}");
    }
}

fn from_fn(size: [usize; 3], f: impl Fn(usize, usize, usize) -> bool) -> Vec<bool> {
    let mut m = vec![false; size[0] * size[1] * size[2]];
    for z in 0..size[0] {
        for y in 0..size[1] {
            for x in 0..size[2] {
                m[(z * size[1] + y) * size[2] + x] = f(z, y, x);
            }
        }
    }
    m
}

#[test]
fn degenerate_masks() {
    // one voxel, one-voxel lines along each axis and a diagonal, two voxels apart
    check3(&[true], [1, 1, 1], "single voxel");
    for (k, size) in [[7, 1, 1], [1, 7, 1], [1, 1, 7]].into_iter().enumerate() {
        check3(&[true; 7], size, &format!("line {k}"));
    }
    check3(
        &from_fn([6, 6, 6], |z, y, x| z == y && y == x),
        [6, 6, 6],
        "diagonal",
    );
    check3(
        &from_fn([1, 1, 9], |_, _, x| x == 0 || x == 8),
        [1, 1, 9],
        "two voxels apart",
    );
    check3(
        &from_fn([3, 5, 4], |z, _, x| z == 1 && x == 2),
        [3, 5, 4],
        "line in a box",
    );
    // planes in each orientation, full and ragged
    for (k, size) in [[1, 8, 9], [8, 1, 9], [8, 9, 1]].into_iter().enumerate() {
        check3(&[true; 72], size, &format!("full plane {k}"));
        check3(
            &from_fn(size, |z, y, x| (z + 2 * y + 3 * x) % 5 != 0),
            size,
            &format!("ragged plane {k}"),
        );
    }
    // boxes and spheres: many tied maximal pairs, in 3D and within planes
    check3(&[true; 5 * 4 * 3], [5, 4, 3], "full box");
    check3(&[true; 8], [2, 2, 2], "2x2x2");
    for r in [1.5, 3.2, 6.0] {
        let n = (2.0 * r) as usize + 1;
        let c = (n - 1) as f64 / 2.0;
        let sq = |a: usize| (a as f64 - c).powi(2);
        check3(
            &from_fn([n, n, n], |z, y, x| sq(z) + sq(y) + sq(x) <= r * r),
            [n, n, n],
            "sphere",
        );
    }
    check3(
        &from_fn([6, 5, 7], |z, y, x| (z + y + x) % 2 == 0),
        [6, 5, 7],
        "checkerboard",
    );
}

#[test]
fn random_masks() {
    let mut r = Rng(2024);
    for round in 0..120 {
        let size = [1 + r.int(12), 1 + r.int(12), 1 + r.int(12)];
        let p = [0.05, 0.3, 0.6, 0.95][round % 4];
        let mut m: Vec<bool> = (0..size[0] * size[1] * size[2])
            .map(|_| r.next() < p)
            .collect();
        if !m.iter().any(|&v| v) {
            m[0] = true;
        }
        check3(&m, size, &format!("random round {round} size {size:?}"));
    }
}

#[test]
fn large_rough_ellipsoid_uses_the_3d_hull() {
    let size = [26, 30, 34];
    let m = from_fn(size, |z, y, x| {
        let d = ((z as f64 - 12.4) / 11.5).powi(2)
            + ((y as f64 - 14.7) / 13.8).powi(2)
            + ((x as f64 - 16.2) / 15.9).powi(2);
        d + 0.1 * (r_hash(z, y, x) - 0.5) < 1.0
    });
    check3(&m, size, "large ellipsoid");
    let v = shape::mesh(&m, size, [1.0, 1.0, 1.0]).vertices;
    let (planes, hull) = shape::candidate_counts(&v, [1.0, 1.0, 1.0]);
    assert!(
        planes > shape::HULL3_ABOVE,
        "{planes} candidates: the 3D hull is not exercised"
    );
    eprintln!(
        "{} vertices, {planes} plane-hull candidates, {hull} after the 3D hull",
        v.len()
    );
}

fn r_hash(z: usize, y: usize, x: usize) -> f64 {
    let mut h = ((z as u64) * 73856093) ^ ((y as u64) * 19349663) ^ ((x as u64) * 83492791);
    h = h.wrapping_mul(0x9E3779B97F4A7C15);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[test]
fn shape2d_diameter_exact() {
    check2(&[true], [1, 1], "single pixel");
    check2(&[true; 6], [1, 6], "row");
    check2(&[true; 6], [6, 1], "column");
    let mut r = Rng(5);
    for round in 0..200 {
        let size = [1 + r.int(20), 1 + r.int(20)];
        let p = [0.1, 0.5, 0.9][round % 3];
        let mut m: Vec<bool> = (0..size[0] * size[1]).map(|_| r.next() < p).collect();
        if !m.iter().any(|&v| v) {
            m[0] = true;
        }
        check2(&m, size, &format!("random 2D round {round}"));
    }
    let n = 41;
    let disc: Vec<bool> = (0..n * n)
        .map(|i| {
            let (a, b) = ((i / n) as f64 - 20.0, (i % n) as f64 - 20.0);
            a * a + b * b <= 400.0
        })
        .collect();
    check2(&disc, [n, n], "disc (ties)");
}

#[test]
fn vertices_are_the_crossing_edges_once() {
    // one voxel: the six grid edges from it to its neighbours cross the surface
    let m = shape::mesh(&[true], [1, 1, 1], [1.0, 1.0, 1.0]);
    let mut v: Vec<Vertex> = m.vertices.clone();
    v.sort();
    v.dedup();
    assert_eq!(v.len(), m.vertices.len(), "a vertex found twice");
    assert_eq!(m.vertices.len(), 6);
    assert_eq!(m.volume, 1.0 / 6.0); // the octahedron of the six face centres
}
