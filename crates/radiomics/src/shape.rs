//! PyRadiomics' `shape` feature class (3D): marching cubes on the mask padded by one voxel, with
//! PyRadiomics' own tables, sign rule, vertex positions and summation order, so that the mesh
//! volume and surface area are bitwise PyRadiomics' (`cshape.c`); the maximum 3D and 2D
//! diameters are exactly PyRadiomics' O(V^2) maximum over the mesh vertices, computed from the
//! convex hulls of the vertices ([`diameters`]); the axis lengths come from the eigenvalues of
//! the voxel coordinates' covariance.
//!
//! Coordinates are in numpy order `(z, y, x)`; `mask` is the ROI cropped to its bounding box
//! (as PyRadiomics' `computeShape` crops it), index `(z * ny + y) * nx + x`.

use crate::hull;
use crate::preprocess::{is_label, Input, Roi};
use crate::settings::{FeatureClass, Settings};
use crate::shape2d::shape2d_features;
use nalgebra::{Matrix2, Matrix3, SymmetricEigen};
use rayon::prelude::*;
use voxelkit_core::{Control, Error, Result, Sample};

/// The features of PyRadiomics' `shape` class in its key order (`getFeatureNames()`, sorted),
/// with its deprecation flag: deprecated features are computed only when asked for by name.
pub const SHAPE_FEATURES: [(&str, bool); 17] = [
    ("Compactness1", true),
    ("Compactness2", true),
    ("Elongation", false),
    ("Flatness", false),
    ("LeastAxisLength", false),
    ("MajorAxisLength", false),
    ("Maximum2DDiameterColumn", false),
    ("Maximum2DDiameterRow", false),
    ("Maximum2DDiameterSlice", false),
    ("Maximum3DDiameter", false),
    ("MeshVolume", false),
    ("MinorAxisLength", false),
    ("SphericalDisproportion", true),
    ("Sphericity", false),
    ("SurfaceArea", false),
    ("SurfaceVolumeRatio", false),
    ("VoxelVolume", false),
];

// PyRadiomics' marching-cubes tables (radiomics/src/cshape.c, BSD-3-Clause): the triangles of
// the 128 cube configurations whose corner 7 is outside (a configuration with corner 7 inside is
// complemented and its volume contribution negated), as edge indices; TRI_OFFSETS[i] is the
// first triangle of configuration i.
#[rustfmt::skip]
const TRI_OFFSETS: [u16; 129] = [
    0, 0, 1, 2, 4, 5, 7, 9, 12, 13, 15, 17, 20, 22, 25, 28, 30, 31, 33, 35, 38, 40, 43, 46, 50, 52,
    55, 58, 62, 65, 69, 73, 76, 77, 79, 81, 84, 86, 89, 92, 96, 98, 101, 104, 108, 111, 115, 119,
    122, 124, 127, 130, 132, 135, 139, 143, 146, 149, 153, 157, 160, 164, 169, 174, 176, 177, 179,
    181, 184, 186, 189, 192, 196, 198, 201, 204, 208, 211, 215, 219, 222, 224, 227, 230, 234, 237,
    241, 245, 250, 253, 257, 261, 266, 270, 275, 280, 284, 286, 289, 292, 296, 299, 303, 305, 308,
    311, 315, 319, 324, 328, 333, 336, 338, 341, 345, 349, 352, 356, 361, 364, 366, 370, 375, 380,
    384, 389, 391, 395, 396,
];
#[rustfmt::skip]
const TRIANGLES: [[u8; 3]; 396] = [
    [0, 8, 3], [1, 9, 0], [1, 8, 3], [1, 9, 8], [1, 2, 10], [0, 8, 3], [1, 2, 10], [9, 2, 10],
    [0, 2, 9], [2, 8, 3], [2, 10, 8], [10, 9, 8], [11, 2, 3], [11, 2, 0], [0, 8, 11], [1, 9, 0],
    [11, 2, 3], [11, 2, 1], [1, 9, 11], [9, 8, 11], [3, 10, 1], [11, 10, 3], [10, 1, 0],
    [0, 8, 10], [8, 11, 10], [9, 0, 3], [3, 11, 9], [11, 10, 9], [9, 8, 10], [11, 10, 8],
    [4, 7, 8], [0, 4, 3], [4, 7, 3], [1, 9, 0], [4, 7, 8], [1, 9, 4], [1, 4, 7], [1, 7, 3],
    [1, 2, 10], [4, 7, 8], [3, 4, 7], [3, 0, 4], [1, 2, 10], [9, 2, 10], [9, 0, 2], [4, 7, 8],
    [2, 10, 9], [2, 9, 7], [2, 7, 3], [4, 7, 9], [4, 7, 8], [11, 2, 3], [11, 4, 7], [11, 2, 4],
    [2, 0, 4], [1, 9, 0], [4, 7, 8], [11, 2, 3], [4, 7, 11], [9, 4, 11], [11, 2, 9], [1, 9, 2],
    [3, 10, 1], [11, 10, 3], [4, 7, 8], [11, 10, 1], [1, 4, 11], [1, 0, 4], [4, 7, 11], [4, 7, 8],
    [9, 0, 3], [3, 11, 9], [11, 10, 9], [4, 7, 11], [4, 11, 9], [9, 11, 10], [9, 5, 4], [9, 5, 4],
    [0, 8, 3], [0, 5, 4], [0, 1, 5], [8, 5, 4], [8, 3, 5], [3, 1, 5], [1, 2, 10], [9, 5, 4],
    [0, 8, 3], [1, 2, 10], [9, 5, 4], [2, 10, 5], [5, 4, 2], [2, 4, 0], [2, 10, 5], [3, 2, 5],
    [3, 5, 4], [8, 3, 4], [9, 5, 4], [11, 2, 3], [11, 2, 0], [0, 8, 11], [9, 5, 4], [0, 5, 4],
    [0, 1, 5], [11, 2, 3], [2, 1, 5], [2, 5, 8], [11, 2, 8], [5, 4, 8], [3, 10, 1], [11, 10, 3],
    [9, 5, 4], [5, 4, 9], [10, 1, 0], [0, 8, 10], [8, 11, 10], [5, 4, 0], [5, 0, 11], [10, 5, 11],
    [11, 0, 3], [5, 4, 8], [10, 5, 8], [11, 10, 8], [7, 8, 9], [5, 7, 9], [3, 0, 9], [5, 3, 9],
    [3, 5, 7], [7, 8, 0], [0, 1, 7], [7, 1, 5], [1, 5, 7], [1, 7, 3], [7, 8, 9], [5, 7, 9],
    [1, 2, 10], [1, 2, 10], [3, 0, 9], [3, 9, 5], [3, 5, 7], [0, 2, 8], [8, 2, 5], [8, 5, 7],
    [2, 10, 5], [2, 10, 5], [2, 5, 3], [3, 5, 7], [5, 7, 9], [7, 8, 9], [11, 2, 3], [5, 7, 9],
    [9, 7, 2], [2, 0, 9], [11, 2, 7], [11, 2, 3], [0, 1, 8], [1, 7, 8], [1, 5, 7], [2, 1, 11],
    [1, 7, 11], [1, 5, 7], [7, 8, 9], [5, 7, 9], [3, 10, 1], [11, 10, 3], [5, 7, 0], [5, 0, 9],
    [7, 11, 0], [10, 1, 0], [11, 10, 0], [11, 10, 0], [0, 3, 11], [10, 5, 0], [0, 7, 8], [5, 7, 0],
    [11, 10, 5], [5, 7, 11], [6, 5, 10], [0, 8, 3], [6, 5, 10], [1, 9, 0], [6, 5, 10], [1, 8, 3],
    [1, 9, 8], [6, 5, 10], [1, 6, 5], [1, 2, 6], [1, 6, 5], [1, 2, 6], [0, 8, 3], [9, 6, 5],
    [9, 0, 6], [0, 2, 6], [5, 9, 8], [5, 8, 2], [5, 2, 6], [8, 3, 2], [11, 2, 3], [6, 5, 10],
    [11, 2, 0], [0, 8, 11], [6, 5, 10], [1, 9, 0], [11, 2, 3], [6, 5, 10], [11, 2, 1], [1, 9, 11],
    [9, 8, 11], [6, 5, 10], [6, 3, 11], [6, 5, 3], [5, 1, 3], [0, 8, 11], [0, 11, 5], [0, 5, 1],
    [5, 11, 6], [6, 3, 11], [0, 3, 6], [0, 6, 5], [0, 5, 9], [6, 5, 9], [6, 9, 11], [11, 9, 8],
    [4, 7, 8], [6, 5, 10], [0, 4, 3], [4, 7, 3], [6, 5, 10], [1, 9, 0], [4, 7, 8], [6, 5, 10],
    [1, 9, 4], [1, 4, 7], [1, 7, 3], [6, 5, 10], [4, 7, 8], [1, 6, 5], [1, 2, 6], [0, 4, 3],
    [4, 7, 3], [1, 6, 5], [1, 2, 6], [4, 7, 8], [9, 6, 5], [9, 0, 6], [0, 2, 6], [7, 3, 9],
    [4, 7, 9], [3, 2, 9], [5, 9, 6], [2, 6, 9], [11, 2, 3], [4, 7, 8], [6, 5, 10], [11, 4, 7],
    [11, 2, 4], [2, 0, 4], [6, 5, 10], [1, 9, 0], [11, 2, 3], [4, 7, 8], [6, 5, 10], [4, 7, 11],
    [9, 4, 11], [11, 2, 9], [1, 9, 2], [6, 5, 10], [4, 7, 8], [6, 3, 11], [6, 5, 3], [5, 1, 3],
    [5, 1, 11], [5, 11, 6], [1, 0, 11], [4, 7, 11], [0, 4, 11], [4, 7, 8], [6, 3, 11], [0, 3, 6],
    [0, 6, 5], [0, 5, 9], [6, 5, 9], [6, 9, 11], [4, 7, 9], [7, 11, 9], [10, 4, 9], [6, 4, 10],
    [10, 4, 9], [6, 4, 10], [0, 8, 3], [0, 1, 10], [10, 6, 0], [6, 4, 0], [1, 8, 3], [1, 6, 8],
    [8, 6, 4], [6, 1, 10], [1, 4, 9], [1, 2, 4], [2, 6, 4], [1, 4, 9], [1, 2, 4], [2, 6, 4],
    [0, 8, 3], [0, 2, 4], [4, 2, 6], [8, 3, 2], [8, 2, 4], [4, 2, 6], [11, 2, 3], [10, 4, 9],
    [6, 4, 10], [11, 2, 0], [0, 8, 11], [10, 4, 9], [6, 4, 10], [11, 2, 3], [0, 1, 10], [10, 6, 0],
    [6, 4, 0], [6, 4, 1], [6, 1, 10], [1, 4, 8], [11, 2, 1], [1, 8, 11], [9, 6, 4], [3, 6, 9],
    [1, 3, 9], [11, 6, 3], [1, 8, 11], [0, 8, 1], [11, 6, 1], [1, 4, 9], [6, 4, 1], [6, 3, 11],
    [0, 3, 6], [6, 4, 0], [8, 6, 4], [6, 8, 11], [6, 7, 10], [7, 8, 10], [8, 9, 10], [6, 7, 10],
    [0, 10, 7], [0, 9, 10], [0, 7, 3], [6, 7, 10], [1, 10, 7], [1, 7, 8], [0, 1, 8], [6, 7, 10],
    [1, 10, 7], [1, 7, 3], [1, 2, 6], [1, 6, 8], [1, 8, 9], [6, 7, 8], [2, 6, 9], [1, 2, 9],
    [6, 7, 9], [3, 0, 9], [7, 3, 9], [0, 7, 8], [7, 0, 6], [6, 0, 2], [2, 7, 3], [2, 6, 7],
    [11, 2, 3], [6, 7, 10], [7, 8, 10], [8, 9, 10], [2, 0, 7], [11, 2, 7], [0, 9, 7], [6, 7, 10],
    [9, 10, 7], [6, 7, 10], [1, 10, 7], [1, 7, 8], [0, 1, 8], [11, 2, 3], [11, 2, 1], [1, 7, 11],
    [10, 6, 1], [1, 6, 7], [8, 9, 6], [6, 7, 8], [1, 6, 9], [11, 6, 3], [1, 3, 6], [0, 9, 1],
    [6, 7, 11], [0, 7, 8], [7, 0, 6], [0, 3, 11], [11, 6, 0], [6, 7, 11],
];

/// Position of the mesh vertex on each cube edge, relative to the cube's origin corner, in
/// `(z, y, x)`: always the edge's midpoint.
const VERT: [[f64; 3]; 12] = [
    [0.0, 0.0, 0.5],
    [0.0, 0.5, 1.0],
    [0.0, 1.0, 0.5],
    [0.0, 0.5, 0.0],
    [1.0, 0.0, 0.5],
    [1.0, 0.5, 1.0],
    [1.0, 1.0, 0.5],
    [1.0, 0.5, 0.0],
    [0.5, 0.0, 0.0],
    [0.5, 0.0, 1.0],
    [0.5, 1.0, 1.0],
    [0.5, 1.0, 0.0],
];

/// A mesh vertex: its padded-grid position times 2 (`(z, y, x)`), so that edge midpoints are
/// integers.
pub type Vertex = [i32; 3];

/// Marching-cubes results.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// Signed-tetrahedron volume (mm^3).
    pub volume: f64,
    /// Sum of the triangle areas (mm^2).
    pub surface_area: f64,
    /// Every mesh vertex once (each is the midpoint of a grid edge whose ends differ).
    pub vertices: Vec<Vertex>,
}

/// The physical coordinate of a doubled grid position on axis `k`, computed as PyRadiomics
/// computes it (`(index + offset) * spacing`, the sum exact).
#[inline(always)]
pub fn coord(c: i32, sp: f64) -> f64 {
    (c as f64 * 0.5) * sp
}

/// The mask padded by one voxel on every side (PyRadiomics' `ConstantPadImageFilter`), as bytes.
fn padded(mask: &[bool], size: [usize; 3]) -> (Vec<u8>, [usize; 3]) {
    let p = [size[0] + 2, size[1] + 2, size[2] + 2];
    let mut pad = vec![0u8; p[0] * p[1] * p[2]];
    for z in 0..size[0] {
        for y in 0..size[1] {
            let src = &mask[(z * size[1] + y) * size[2]..][..size[2]];
            let dst = &mut pad[((z + 1) * p[1] + y + 1) * p[2] + 1..][..size[2]];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s as u8;
            }
        }
    }
    (pad, p)
}

struct Plane {
    vol: Vec<f64>,
    area: Vec<f64>,
    verts: Vec<Vertex>,
}

/// The cubes whose origin is in padded plane `iz`, in PyRadiomics' loop order (y, then x):
/// each triangle's volume term (sign applied, before the division by 6) and area, and the
/// vertices on the cube edges that end at corner 7 (every grid edge is such an edge of exactly
/// one cube, so each vertex is found once).
fn plane(pad: &[u8], p: [usize; 3], row_any: &[bool], iz: usize, sp: [f64; 3]) -> Plane {
    let (s0, s1) = (p[1] * p[2], p[2]);
    let mut out = Plane {
        vol: Vec::new(),
        area: Vec::new(),
        verts: Vec::new(),
    };
    for iy in 0..p[1] - 1 {
        let r = iz * p[1] + iy;
        if !(row_any[r] || row_any[r + 1] || row_any[r + p[1]] || row_any[r + p[1] + 1]) {
            continue; // all eight corners of every cube of this row are outside
        }
        let base = iz * s0 + iy * s1;
        // corners at x: 0 (0,0), 3 (0,1), 4 (1,0), 7 (1,1) in (dz, dy); at x + 1: 1, 2, 5, 6
        let at = |o: usize| -> u8 { pad[o] };
        let (mut c0, mut c3, mut c4, mut c7) =
            (at(base), at(base + s1), at(base + s0), at(base + s0 + s1));
        for ix in 0..p[2] - 1 {
            let o = base + ix + 1;
            let (c1, c2, c5, c6) = (at(o), at(o + s1), at(o + s0), at(o + s0 + s1));
            let mut idx = c0
                | (c1 << 1)
                | (c2 << 2)
                | (c3 << 3)
                | (c4 << 4)
                | (c5 << 5)
                | (c6 << 6)
                | (c7 << 7);
            (c0, c3, c4, c7) = (c1, c2, c5, c6);
            if idx == 0 || idx == 0xff {
                continue;
            }
            let sign = if idx & 0x80 != 0 {
                idx ^= 0xff;
                -1.0
            } else {
                1.0
            };
            let (z2, y2, x2) = (2 * iz as i32, 2 * iy as i32, 2 * ix as i32);
            if idx & (1 << 6) != 0 {
                out.verts.push([z2 + 2, y2 + 2, x2 + 1]); // edge 6
            }
            if idx & (1 << 4) != 0 {
                out.verts.push([z2 + 2, y2 + 1, x2]); // edge 7
            }
            if idx & (1 << 3) != 0 {
                out.verts.push([z2 + 1, y2 + 2, x2]); // edge 11
            }
            let origin = [iz as f64, iy as f64, ix as f64];
            let pos = |e: u8| -> [f64; 3] {
                let v = VERT[e as usize];
                [
                    (origin[0] + v[0]) * sp[0],
                    (origin[1] + v[1]) * sp[1],
                    (origin[2] + v[2]) * sp[2],
                ]
            };
            let i = idx as usize;
            for t in &TRIANGLES[TRI_OFFSETS[i] as usize..TRI_OFFSETS[i + 1] as usize] {
                let (mut a, mut b, c) = (pos(t[0]), pos(t[1]), pos(t[2]));
                let ab = [
                    a[1] * b[2] - b[1] * a[2],
                    a[2] * b[0] - b[2] * a[0],
                    a[0] * b[1] - b[0] * a[1],
                ];
                out.vol
                    .push(sign * (ab[0] * c[0] + ab[1] * c[1] + ab[2] * c[2]));
                for d in 0..3 {
                    a[d] -= c[d];
                    b[d] -= c[d];
                }
                let ab = [
                    a[1] * b[2] - b[1] * a[2],
                    a[2] * b[0] - b[2] * a[0],
                    a[0] * b[1] - b[0] * a[1],
                ];
                out.area
                    .push(0.5 * (ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2]).sqrt());
            }
        }
    }
    out
}

/// Marching cubes over the padded mask. Planes are meshed in parallel (in the caller's rayon
/// pool); the volume and area terms are then summed in PyRadiomics' loop order, so the sums do
/// not depend on the thread count and equal PyRadiomics' bit for bit.
pub fn mesh(mask: &[bool], size: [usize; 3], spacing: [f64; 3]) -> Mesh {
    let (pad, p) = padded(mask, size);
    let row_any: Vec<bool> = pad
        .chunks(p[2])
        .map(|r| r.iter().any(|&v| v != 0))
        .collect();
    let planes: Vec<Plane> = (0..p[0] - 1)
        .into_par_iter()
        .map(|iz| plane(&pad, p, &row_any, iz, spacing))
        .collect();
    let (mut volume, mut area) = (0.0f64, 0.0f64);
    let mut nv = 0;
    for pl in &planes {
        for &v in &pl.vol {
            volume += v;
        }
        for &a in &pl.area {
            area += a;
        }
        nv += pl.verts.len();
    }
    let mut vertices = Vec::with_capacity(nv);
    for pl in planes {
        vertices.extend(pl.verts);
    }
    Mesh {
        volume: volume / 6.0,
        surface_area: area,
        vertices,
    }
}

#[inline(always)]
fn dist2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// PyRadiomics' diameters by its own O(V^2) loop: the largest squared distance between two
/// vertices with the same z, the same y, the same x, and overall; square roots. For tests and
/// for the (never seen) case where [`diameters`] cannot prove its shortcut exact.
pub fn diameters_brute(verts: &[Vertex], sp: [f64; 3]) -> [f64; 4] {
    let pts: Vec<[f64; 3]> = verts.iter().map(|v| phys(*v, sp)).collect();
    let per: Vec<[f64; 4]> = (0..pts.len())
        .into_par_iter()
        .map(|i| {
            let mut d = [0.0f64; 4];
            let a = pts[i];
            for b in &pts[..i] {
                let dd = dist2(a, *b);
                for k in 0..3 {
                    if a[k] == b[k] && dd > d[k] {
                        d[k] = dd;
                    }
                }
                if dd > d[3] {
                    d[3] = dd;
                }
            }
            d
        })
        .collect();
    let mut d = [0.0f64; 4];
    for q in per {
        for k in 0..4 {
            d[k] = d[k].max(q[k]);
        }
    }
    d.map(f64::sqrt)
}

#[inline(always)]
fn phys(v: Vertex, sp: [f64; 3]) -> [f64; 3] {
    [coord(v[0], sp[0]), coord(v[1], sp[1]), coord(v[2], sp[2])]
}

/// Largest `dist2` over the pairs of `set` (indices into `pts`). The points are gathered into
/// one array per axis so that the inner loop vectorises; each distance is still
/// `((dz * dz) + (dy * dy)) + (dx * dx)`, and the maximum does not depend on the order.
fn max_pair(pts: &[[f64; 3]], set: &[usize]) -> f64 {
    let z: Vec<f64> = set.iter().map(|&i| pts[i][0]).collect();
    let y: Vec<f64> = set.iter().map(|&i| pts[i][1]).collect();
    let x: Vec<f64> = set.iter().map(|&i| pts[i][2]).collect();
    let one = |k: usize| -> f64 {
        let (az, ay, ax) = (z[k], y[k], x[k]);
        // eight independent running maxima (lanes), merged at the end
        let mut acc = [0.0f64; 8];
        let (zc, yc, xc) = (
            z[..k].chunks_exact(8),
            y[..k].chunks_exact(8),
            x[..k].chunks_exact(8),
        );
        let (zr, yr, xr) = (zc.remainder(), yc.remainder(), xc.remainder());
        for ((bz, by), bx) in zc.zip(yc).zip(xc) {
            for l in 0..8 {
                let (dz, dy, dx) = (az - bz[l], ay - by[l], ax - bx[l]);
                let d = dz * dz + dy * dy + dx * dx;
                acc[l] = if d > acc[l] { d } else { acc[l] };
            }
        }
        for ((&bz, &by), &bx) in zr.iter().zip(yr).zip(xr) {
            let (dz, dy, dx) = (az - bz, ay - by, ax - bx);
            let d = dz * dz + dy * dy + dx * dx;
            acc[0] = if d > acc[0] { d } else { acc[0] };
        }
        acc.iter().fold(0.0f64, |m, &v| if v > m { v } else { m })
    };
    if set.len() > 512 {
        (0..set.len())
            .into_par_iter()
            .with_min_len(64)
            .map(one)
            .reduce(|| 0.0, f64::max)
    } else {
        (0..set.len()).map(one).fold(0.0, f64::max)
    }
}

/// A bound of the rounding error of a squared distance as PyRadiomics computes it (from rounded
/// coordinates, three rounded differences, squares and sums) against the exact one:
/// 64 eps C^2, C the largest coordinate norm (a generous bound).
fn rounding_bound(verts: &[Vertex], sp: [f64; 3]) -> f64 {
    let mut c2 = 0.0f64;
    for k in 0..3 {
        let m = verts.iter().map(|v| v[k]).max().unwrap_or(0) as f64 * 0.5 * sp[k];
        c2 += m * m;
    }
    64.0 * f64::EPSILON * c2
}

/// Whether the hull shortcut is provably exact for these vertices (see [`diameters`]): the exact
/// squared distances of pairs with a non-hull vertex fall short by at least (min_sp / 2)^2,
/// which must exceed twice the rounding bound.
fn shortcut_exact(verts: &[Vertex], sp: [f64; 3]) -> bool {
    let min_sp = sp[0].min(sp[1]).min(sp[2]);
    2.0 * rounding_bound(verts, sp) < 0.25 * min_sp * min_sp
}

/// PyRadiomics' four mesh diameters (same z = "Slice", same y = "Column", same x = "Row", 3D),
/// equal to [`diameters_brute`] bit for bit, in about O(V log V).
///
/// Why this is exact: the squared distance `|p - q|^2` is convex in each point, so over the
/// vertices of one plane (or all vertices) it is maximised at two vertices of their convex hull.
/// More strongly, a vertex `p` that is not a hull vertex is a convex combination `sum l_i v_i`
/// of hull vertices, all distinct lattice points (coordinates: multiples of half a voxel), so
/// `|p - q|^2 = sum l_i |v_i - q|^2 - sum l_i |v_i - p|^2 <= max_i |v_i - q|^2 - (min_sp / 2)^2`:
/// in exact arithmetic every pair involving a non-hull vertex falls short of the hull pairs'
/// maximum by at least `(min_sp / 2)^2`. PyRadiomics' float distance differs from the exact one
/// by far less (checked: `shortcut_exact`), so the float maximum over all pairs is the float
/// maximum over hull-vertex pairs, which is computed with the same operations on the same
/// coordinates (ties resolve identically: the maximum of equal values is that value).
///
/// Per plane family, each plane's vertices go through an exact 2D hull ([`hull::hull2`]); a 3D
/// hull vertex is a hull vertex within each of its three planes, so only the vertices that are
/// hull vertices in all three families enter the exact 3D hull ([`hull::hull3`]).
pub fn diameters(verts: &[Vertex], sp: [f64; 3]) -> [f64; 4] {
    if verts.is_empty() {
        return [0.0; 4];
    }
    if !shortcut_exact(verts, sp) {
        return diameters_brute(verts, sp);
    }
    let pts: Vec<[f64; 3]> = verts.iter().map(|v| phys(*v, sp)).collect();
    let (planes, in_hulls) = plane_hulls(verts, &pts, sp);
    let set = candidates_3d(verts, &in_hulls);
    let d3 = max_pair(&pts, &set);
    [planes[0], planes[1], planes[2], d3].map(f64::sqrt)
}

/// Per plane family k (vertices with equal coordinate k): the largest squared distance within a
/// plane, over the plane's exact 2D hull vertices; and per vertex, bit k set when it is a hull
/// vertex of its k-plane. Planes are visited from the largest bounding box down and the visit
/// stops once no remaining plane can reach the maximum found.
fn plane_hulls(verts: &[Vertex], pts: &[[f64; 3]], sp: [f64; 3]) -> ([f64; 3], Vec<u8>) {
    let err = rounding_bound(verts, sp);
    let mut out = [0.0f64; 3];
    let mut in_hulls = vec![0u8; verts.len()];
    for k in 0..3 {
        let (a, b) = match k {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        // bucket the vertices by their coordinate on axis k (counting sort)
        let top = verts.iter().map(|v| v[k]).max().unwrap() as usize + 1;
        let mut start = vec![0usize; top + 1];
        for v in verts {
            start[v[k] as usize + 1] += 1;
        }
        for c in 0..top {
            start[c + 1] += start[c];
        }
        let mut fill = start.clone();
        let mut order = vec![0usize; verts.len()];
        for (i, v) in verts.iter().enumerate() {
            order[fill[v[k] as usize]] = i;
            fill[v[k] as usize] += 1;
        }
        // each plane's hull vertices and an upper bound of its squared diameter (its box diagonal)
        let mut res: Vec<(f64, Vec<usize>)> = (0..top)
            .into_par_iter()
            .filter(|&c| start[c + 1] > start[c])
            .map(|c| {
                let ids = &order[start[c]..start[c + 1]];
                let p2: Vec<hull::P2> = ids
                    .iter()
                    .map(|&i| [verts[i][a] as i64, verts[i][b] as i64])
                    .collect();
                let h: Vec<usize> = hull::hull2(&p2).into_iter().map(|j| ids[j]).collect();
                let ext = |ax: usize| {
                    let (lo, hi) = h.iter().fold((i32::MAX, i32::MIN), |(lo, hi), &i| {
                        (lo.min(verts[i][ax]), hi.max(verts[i][ax]))
                    });
                    (hi - lo) as f64 * 0.5 * sp[ax]
                };
                let (ea, eb) = (ext(a), ext(b));
                (ea * ea + eb * eb, h)
            })
            .collect();
        for (_, h) in &res {
            for &i in h {
                in_hulls[i] |= 1 << k;
            }
        }
        // the largest planes first; a plane whose bound (widened by the rounding of both the bound
        // and the computed distances) cannot reach the maximum so far cannot hold the maximum
        res.sort_by(|p, q| q.0.total_cmp(&p.0));
        for (bound, h) in &res {
            if bound * (1.0 + 1e-12) + err < out[k] {
                break;
            }
            out[k] = out[k].max(max_pair(pts, h));
        }
    }
    (out, in_hulls)
}

/// Candidate sets above this size go through the exact 3D hull before the pairwise maximum.
pub const HULL3_ABOVE: usize = 256;

/// The vertices that can end the 3D diameter: hull vertices of their z, y and x planes
/// (`in_hulls == 7`), reduced to the vertices of an exact 3D hull when they are many.
fn candidates_3d(verts: &[Vertex], in_hulls: &[u8]) -> Vec<usize> {
    let cand: Vec<usize> = (0..verts.len()).filter(|&i| in_hulls[i] == 7).collect();
    if cand.len() <= HULL3_ABOVE {
        return cand;
    }
    let p3: Vec<hull::P3> = cand
        .iter()
        .map(|&i| [verts[i][0] as i64, verts[i][1] as i64, verts[i][2] as i64])
        .collect();
    hull::hull3(&p3).into_iter().map(|j| cand[j]).collect()
}

/// How many vertices reach the 3D stage: (hull vertices of all three of their planes, those
/// left for the pairwise maximum). For tests.
#[doc(hidden)]
pub fn candidate_counts(verts: &[Vertex], sp: [f64; 3]) -> (usize, usize) {
    let pts: Vec<[f64; 3]> = verts.iter().map(|v| phys(*v, sp)).collect();
    let (_, in_hulls) = plane_hulls(verts, &pts, sp);
    let c = in_hulls.iter().filter(|&&b| b == 7).count();
    (c, candidates_3d(verts, &in_hulls).len())
}

/// Eigenvalues of the covariance of the ROI's voxel positions (physical, `(z, y, x)` or
/// `(y, x)`), as PyRadiomics takes them: small negatives (> -1e-10) zeroed, sorted ascending.
/// The covariance is formed from exact integer moments (one rounding per element), so it is at
/// least as accurate as numpy's; the eigenvalues of the symmetric matrix come from nalgebra.
pub(crate) fn covariance_eigen<const D: usize>(
    sums: &[i128],
    count: u64,
    sp: [f64; D],
) -> [f64; D] {
    // sums: [S_k (D)] then [S_kl, k <= l] (D (D + 1) / 2)
    let n = count as i128;
    let nf = count as f64;
    let mut cov = [[0.0f64; D]; D];
    let mut q = D;
    for k in 0..D {
        for l in k..D {
            let num = n * sums[q] - sums[k] * sums[l];
            let v = (num as f64) * sp[k] * sp[l] / (nf * nf);
            cov[k][l] = v;
            cov[l][k] = v;
            q += 1;
        }
    }
    let mut ev = [0.0f64; D];
    if D == 3 {
        let m = Matrix3::from_fn(|i, j| cov[i][j]);
        let e = SymmetricEigen::new(m).eigenvalues;
        for k in 0..D {
            ev[k] = e[k];
        }
    } else {
        let m = Matrix2::from_fn(|i, j| cov[i][j]);
        let e = SymmetricEigen::new(m).eigenvalues;
        for k in 0..D {
            ev[k] = e[k];
        }
    }
    for v in ev.iter_mut() {
        if *v < 0.0 && *v > -1e-10 {
            *v = 0.0;
        }
    }
    ev.sort_by(f64::total_cmp);
    ev
}

/// Voxel count and exact integer moments (sums of coordinates and of their products) of a mask.
fn moments3(mask: &[bool], size: [usize; 3]) -> (u64, [i128; 9]) {
    let per: Vec<(u64, [i128; 9])> = (0..size[0])
        .into_par_iter()
        .map(|z| {
            let mut s = [0i128; 9];
            let mut n = 0u64;
            for y in 0..size[1] {
                let row = &mask[(z * size[1] + y) * size[2]..][..size[2]];
                let (mut c, mut sx, mut sxx) = (0i128, 0i128, 0i128);
                for (x, &m) in row.iter().enumerate() {
                    if m {
                        let x = x as i128;
                        c += 1;
                        sx += x;
                        sxx += x * x;
                    }
                }
                if c == 0 {
                    continue;
                }
                let (zi, yi) = (z as i128, y as i128);
                n += c as u64;
                s[0] += zi * c;
                s[1] += yi * c;
                s[2] += sx;
                s[3] += zi * zi * c; // zz
                s[4] += zi * yi * c; // zy
                s[5] += zi * sx; // zx
                s[6] += yi * yi * c; // yy
                s[7] += yi * sx; // yx
                s[8] += sxx; // xx
            }
            (n, s)
        })
        .collect();
    let mut s = [0i128; 9];
    let mut n = 0u64;
    for (c, q) in per {
        n += c;
        for k in 0..9 {
            s[k] += q[k];
        }
    }
    (n, s)
}

pub(crate) fn axis(ev: f64) -> f64 {
    if ev < 0.0 {
        f64::NAN
    } else {
        ev.sqrt() * 4.0
    }
}

pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if a < 0.0 || b < 0.0 {
        f64::NAN
    } else {
        (a / b).sqrt()
    }
}

/// Python's float division: ZeroDivisionError, which PyRadiomics turns into NaN.
pub(crate) fn py_div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// Every feature of PyRadiomics' `shape` class, in [`SHAPE_FEATURES`] order, for the binary
/// `mask` (the ROI's bounding-box crop, `size = [nz, ny, nx]`) and `spacing` `(z, y, x)` in mm.
/// Runs in the caller's rayon pool; the result does not depend on its thread count.
pub fn shape_features(mask: &[bool], size: [usize; 3], spacing: [f64; 3]) -> [f64; 17] {
    let m = mesh(mask, size, spacing);
    let d = diameters(&m.vertices, spacing);
    let (np, sums) = moments3(mask, size);
    let ev = covariance_eigen::<3>(&sums, np, spacing);
    let (v, a) = (m.volume, m.surface_area);
    let pi = std::f64::consts::PI;
    let sph_root = (36.0 * pi * v.powf(2.0)).powf(1.0 / 3.0);
    let [z, y, x] = spacing;
    [
        py_div(v, a.powf(3.0 / 2.0) * pi.sqrt()),     // Compactness1
        py_div(36.0 * pi * v.powf(2.0), a.powf(3.0)), // Compactness2
        ratio(ev[1], ev[2]),                          // Elongation
        ratio(ev[0], ev[2]),                          // Flatness
        axis(ev[0]),                                  // LeastAxisLength
        axis(ev[2]),                                  // MajorAxisLength
        d[1],                                         // Maximum2DDiameterColumn
        d[2],                                         // Maximum2DDiameterRow
        d[0],                                         // Maximum2DDiameterSlice
        d[3],                                         // Maximum3DDiameter
        v,                                            // MeshVolume
        axis(ev[1]),                                  // MinorAxisLength
        py_div(a, sph_root),                          // SphericalDisproportion
        py_div(sph_root, a),                          // Sphericity
        a,                                            // SurfaceArea
        py_div(a, v),                                 // SurfaceVolumeRatio
        np as f64 * (z * x * y),                      // VoxelVolume
    ]
}

/// PyRadiomics' rule for `shape2D` on a 3D mask (`computeShape` and `RadiomicsShape2D`):
/// without `force2D` the class is skipped (no keys); it then reads the bounding box size at
/// index `force2Ddimension` in SimpleITK's `(x, y, z)` order and skips the class when that is 1,
/// while the class itself squeezes numpy axis `force2Ddimension` `(z, y, x)` and raises when that
/// is thicker than one voxel. So dimension 0 computes a ROI one slice thick in z (and more than
/// one voxel wide in x), 2 one voxel thick in x (and more than one slice in z), and 1 never.
/// Returns the numpy axis to drop, `None` to skip, or PyRadiomics' error.
pub fn shape2d_axis(size_zyx: [usize; 3], s: &Settings) -> Result<Option<usize>> {
    if !s.force2d {
        return Ok(None);
    }
    let d = s.force2d_dimension;
    let size_xyz = [size_zyx[2], size_zyx[1], size_zyx[0]];
    if size_xyz[d] <= 1 {
        return Ok(None);
    }
    if size_zyx[d] > 1 {
        return Err(Error::shape(format!(
            "shape2D: the ROI is {} voxels thick along force2Ddimension {d} (numpy axis, z y x); \
             PyRadiomics computes shape2D only for a ROI one voxel thick there (and first skips \
             the class when the ROI is one voxel wide along axis {d} in x y z order)",
            size_zyx[d]
        )));
    }
    Ok(Some(d))
}

/// The binary mask the shape classes see, on the ROI's bounding box (`roi.size`): the label
/// (not the resegmented ROI unless `resegmentShape`), cropped to the bounding box of the
/// resegmented ROI, as PyRadiomics' `execute` passes them to `computeShape`.
fn shape_mask<T: Sample, M: Sample>(inp: &Input<'_, T, M>, s: &Settings, roi: &Roi) -> Vec<bool> {
    if s.resegment_range.is_none() || s.resegment_shape {
        return roi.grey.par_iter().map(|&g| g != 0).collect();
    }
    let [nx, ny, _] = inp.shape;
    let [bz, by, bx] = roi.size;
    let o = roi.origin;
    let mut m = vec![false; bz * by * bx];
    m.par_chunks_mut(bx).enumerate().for_each(|(row, dst)| {
        let (y, z) = (row % by + o[1], row / by + o[2]);
        let src = &inp.mask[(z * ny + y) * nx + o[0]..][..bx];
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = is_label(v, s.label);
        }
    });
    m
}

/// Features of the enabled shape classes (`shape`, then `shape2D`, as PyRadiomics' `computeShape`
/// orders them), PyRadiomics' keys, non-deprecated features only (as PyRadiomics enables a
/// class). Runs in the caller's rayon pool.
pub fn shape_class_features<T: Sample, M: Sample>(
    inp: &Input<'_, T, M>,
    s: &Settings,
    roi: &Roi,
    ctl: &Control,
) -> Result<Vec<(String, f64)>> {
    let want3 = s.classes.contains(&FeatureClass::Shape);
    let axis2 = if s.classes.contains(&FeatureClass::Shape2D) {
        shape2d_axis(roi.size, s)?
    } else {
        None
    };
    let mut out = Vec::new();
    if !want3 && axis2.is_none() {
        return Ok(out);
    }
    let mask = shape_mask(inp, s, roi);
    ctl.check()?;
    if want3 {
        let f = shape_features(&mask, roi.size, roi.spacing);
        crate::keyed(s, FeatureClass::Shape, "original", &f, &mut out);
        ctl.check()?;
    }
    if let Some(d) = axis2 {
        // the dropped axis is one voxel thick: the 3D crop's memory is the 2D mask's
        let keep: Vec<usize> = (0..3).filter(|&k| k != d).collect();
        let size = [roi.size[keep[0]], roi.size[keep[1]]];
        let sp = [roi.spacing[keep[0]], roi.spacing[keep[1]]];
        let f = shape2d_features(&mask, size, sp);
        crate::keyed(s, FeatureClass::Shape2D, "original", &f, &mut out);
    }
    Ok(out)
}
