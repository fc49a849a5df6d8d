//! PyRadiomics' `shape2D` feature class: marching squares on the mask padded by one pixel, with
//! PyRadiomics' line table, vertex positions and summation order (`cshape.c`), so that the mesh
//! surface and perimeter are bitwise PyRadiomics'; the maximum diameter is exactly its O(V^2)
//! maximum over the vertices, computed over their convex hull (see [`crate::shape::diameters`]
//! for why that is exact).
//!
//! Coordinates are the two numpy axes left after dropping `force2Ddimension`, in their order;
//! `mask` is the ROI's one-voxel-thick bounding-box crop, index `r * n1 + c`.

use crate::hull;
use crate::shape::{axis, covariance_eigen, py_div, ratio};

/// The features of PyRadiomics' `shape2D` class in its key order, with the deprecation flag.
pub const SHAPE2D_FEATURES: [(&str, bool); 10] = [
    ("Elongation", false),
    ("MajorAxisLength", false),
    ("MaximumDiameter", false),
    ("MeshSurface", false),
    ("MinorAxisLength", false),
    ("Perimeter", false),
    ("PerimeterSurfaceRatio", false),
    ("PixelSurface", false),
    ("SphericalDisproportion", true),
    ("Sphericity", false),
];

// PyRadiomics' marching-squares table (radiomics/src/cshape.c, BSD-3-Clause): the line segments
// of each square configuration (bit k: corner k inside; corners (0,0), (0,1), (1,1), (1,0)), as
// pairs of edge indices, -1 terminated.
const LINES: [[i8; 4]; 16] = [
    [-1, -1, -1, -1],
    [3, 0, -1, -1],
    [0, 1, -1, -1],
    [3, 1, -1, -1],
    [1, 2, -1, -1],
    [1, 2, 3, 0],
    [0, 2, -1, -1],
    [3, 2, -1, -1],
    [2, 3, -1, -1],
    [2, 0, -1, -1],
    [0, 1, 2, 3],
    [2, 1, -1, -1],
    [1, 3, -1, -1],
    [1, 0, -1, -1],
    [0, 3, -1, -1],
    [-1, -1, -1, -1],
];

/// Position of the vertex on each square edge relative to the square's origin, `(row, col)`.
const VERT: [[f64; 2]; 4] = [[0.0, 0.5], [0.5, 1.0], [1.0, 0.5], [0.5, 0.0]];

/// Marching-squares results: perimeter, surface and the vertices (doubled padded positions).
#[derive(Debug, Clone)]
pub struct Mesh2 {
    pub perimeter: f64,
    pub surface: f64,
    pub vertices: Vec<[i32; 2]>,
}

/// Marching squares over the padded mask, in PyRadiomics' loop order (sequential: the sums are
/// PyRadiomics' bit for bit).
pub fn mesh2(mask: &[bool], size: [usize; 2], sp: [f64; 2]) -> Mesh2 {
    let p = [size[0] + 2, size[1] + 2];
    let mut pad = vec![0u8; p[0] * p[1]];
    for r in 0..size[0] {
        for c in 0..size[1] {
            pad[(r + 1) * p[1] + c + 1] = mask[r * size[1] + c] as u8;
        }
    }
    let (mut perimeter, mut surface) = (0.0f64, 0.0f64);
    let mut vertices = Vec::new();
    for iy in 0..p[0] - 1 {
        for ix in 0..p[1] - 1 {
            let o = iy * p[1] + ix;
            let mut idx =
                pad[o] | (pad[o + 1] << 1) | (pad[o + p[1] + 1] << 2) | (pad[o + p[1]] << 3);
            if idx == 0 || idx == 0xf {
                continue;
            }
            let line = LINES[idx as usize];
            for t in 0..2 {
                if line[2 * t] < 0 {
                    break;
                }
                let (va, vb) = (VERT[line[2 * t] as usize], VERT[line[2 * t + 1] as usize]);
                let mut a = [(iy as f64 + va[0]) * sp[0], (ix as f64 + va[1]) * sp[1]];
                let b = [(iy as f64 + vb[0]) * sp[0], (ix as f64 + vb[1]) * sp[1]];
                surface += a[0] * b[1] - b[0] * a[1];
                for d in 0..2 {
                    a[d] -= b[d];
                    a[d] *= a[d];
                }
                perimeter += (a[0] + a[1]).sqrt();
            }
            // vertices on the edges that end at corner 3 (each grid edge once)
            if idx > 7 {
                idx ^= 0xf;
            }
            let (y2, x2) = (2 * iy as i32, 2 * ix as i32);
            if idx & 1 != 0 {
                vertices.push([y2 + 1, x2]); // edge 3
            }
            if idx & 4 != 0 {
                vertices.push([y2 + 2, x2 + 1]); // edge 2
            }
        }
    }
    Mesh2 {
        perimeter,
        surface: surface / 2.0,
        vertices,
    }
}

#[inline(always)]
fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (x, y) = (a[0] - b[0], a[1] - b[1]);
    x * x + y * y
}

fn phys(v: [i32; 2], sp: [f64; 2]) -> [f64; 2] {
    [(v[0] as f64 * 0.5) * sp[0], (v[1] as f64 * 0.5) * sp[1]]
}

/// PyRadiomics' O(V^2) maximum diameter (tests; fallback).
pub fn diameter_brute(verts: &[[i32; 2]], sp: [f64; 2]) -> f64 {
    let pts: Vec<[f64; 2]> = verts.iter().map(|&v| phys(v, sp)).collect();
    let mut m = 0.0f64;
    for i in 0..pts.len() {
        for j in 0..i {
            let d = dist2(pts[i], pts[j]);
            if d > m {
                m = d;
            }
        }
    }
    m.sqrt()
}

/// PyRadiomics' maximum diameter over the vertices, exactly, from their convex hull.
pub fn diameter(verts: &[[i32; 2]], sp: [f64; 2]) -> f64 {
    let mut c2 = 0.0f64;
    for k in 0..2 {
        let m = verts.iter().map(|v| v[k]).max().unwrap_or(0) as f64 * 0.5 * sp[k];
        c2 += m * m;
    }
    let min_sp = sp[0].min(sp[1]);
    if !(2.0 * 64.0 * f64::EPSILON * c2 < 0.25 * min_sp * min_sp) {
        return diameter_brute(verts, sp);
    }
    let p2: Vec<hull::P2> = verts.iter().map(|v| [v[0] as i64, v[1] as i64]).collect();
    let h = hull::hull2(&p2);
    let pts: Vec<[f64; 2]> = h.iter().map(|&i| phys(verts[i], sp)).collect();
    let mut m = 0.0f64;
    for i in 0..pts.len() {
        for j in 0..i {
            let d = dist2(pts[i], pts[j]);
            if d > m {
                m = d;
            }
        }
    }
    m.sqrt()
}

/// Every feature of PyRadiomics' `shape2D` class, in [`SHAPE2D_FEATURES`] order, for the binary
/// 2D `mask` (`size = [n0, n1]`) with pixel spacing `sp` (mm, same axis order).
pub fn shape2d_features(mask: &[bool], size: [usize; 2], sp: [f64; 2]) -> [f64; 10] {
    let m = mesh2(mask, size, sp);
    let diam = diameter(&m.vertices, sp);
    let (mut n, mut s) = (0u64, [0i128; 5]);
    for r in 0..size[0] {
        for c in 0..size[1] {
            if mask[r * size[1] + c] {
                let (ri, ci) = (r as i128, c as i128);
                n += 1;
                s[0] += ri;
                s[1] += ci;
                s[2] += ri * ri;
                s[3] += ri * ci;
                s[4] += ci * ci;
            }
        }
    }
    let ev = covariance_eigen::<2>(&s, n, sp);
    let (p, a) = (m.perimeter, m.surface);
    let sphericity = py_div(2.0 * (std::f64::consts::PI * a).sqrt(), p);
    let [y, x] = sp;
    [
        ratio(ev[0], ev[1]),     // Elongation
        axis(ev[1]),             // MajorAxisLength
        diam,                    // MaximumDiameter
        a,                       // MeshSurface
        axis(ev[0]),             // MinorAxisLength
        p,                       // Perimeter
        py_div(p, a),            // PerimeterSurfaceRatio
        n as f64 * (x * y),      // PixelSurface
        py_div(1.0, sphericity), // SphericalDisproportion
        sphericity,              // Sphericity
    ]
}
