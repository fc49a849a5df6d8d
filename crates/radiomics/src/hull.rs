//! Exact convex hulls of integer points, for the shape classes' maximum diameters.
//!
//! Every predicate is an integer determinant evaluated in `i128`, so the hulls are exact for any
//! coordinates below 2^40 (mesh vertices are voxel indices times 2). Collinear and coplanar
//! inputs, duplicates and one or two points are handled.
//!
//! [`hull2`] returns exactly the vertices (extreme points) of the 2D hull. [`hull3`] returns
//! the vertices of a triangulated 3D hull: every extreme point, possibly with some points that lie
//! on a hull face or edge (quickhull keeps a point it added when a later point makes it coplanar
//! with its neighbours); callers only need a subset of the points that holds every extreme point.

use std::collections::HashMap;

pub type P2 = [i64; 2];
pub type P3 = [i64; 3];

#[inline(always)]
fn cross2(o: P2, a: P2, b: P2) -> i128 {
    (a[0] - o[0]) as i128 * (b[1] - o[1]) as i128 - (a[1] - o[1]) as i128 * (b[0] - o[0]) as i128
}

/// Indices of the vertices of the convex hull of `pts` (Andrew's monotone chain; points on hull
/// edges and duplicates dropped), counter-clockwise from the lexicographically smallest point.
/// One distinct point gives one index, collinear points the two ends.
pub fn hull2(pts: &[P2]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..pts.len()).collect();
    idx.sort_unstable_by_key(|&i| pts[i]);
    idx.dedup_by_key(|i| pts[*i]);
    if idx.len() <= 2 {
        return idx;
    }
    let mut h: Vec<usize> = Vec::with_capacity(idx.len() + 1);
    for pass in 0..2 {
        let start = h.len();
        let it: Box<dyn Iterator<Item = &usize>> = if pass == 0 {
            Box::new(idx.iter())
        } else {
            Box::new(idx.iter().rev())
        };
        for &i in it {
            while h.len() >= start + 2
                && cross2(pts[h[h.len() - 2]], pts[h[h.len() - 1]], pts[i]) <= 0
            {
                h.pop();
            }
            h.push(i);
        }
        h.pop(); // the last point of each chain starts the other
    }
    if h.len() == 2 && pts[h[0]] == pts[h[1]] {
        h.truncate(1);
    }
    h
}

#[inline(always)]
fn sub3(a: P3, b: P3) -> [i128; 3] {
    [
        (a[0] - b[0]) as i128,
        (a[1] - b[1]) as i128,
        (a[2] - b[2]) as i128,
    ]
}

#[inline(always)]
fn cross3(u: [i128; 3], v: [i128; 3]) -> [i128; 3] {
    [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ]
}

#[inline(always)]
fn dot3(u: [i128; 3], v: [i128; 3]) -> i128 {
    u[0] * v[0] + u[1] * v[1] + u[2] * v[2]
}

#[inline(always)]
fn wide(p: P3) -> [i128; 3] {
    [p[0] as i128, p[1] as i128, p[2] as i128]
}

struct Face {
    v: [u32; 3],
    /// outward normal `(b - a) x (c - a)` and offset `n . a`
    n: [i128; 3],
    d: i128,
    outside: Vec<u32>,
    alive: bool,
}

impl Face {
    #[inline(always)]
    fn above(&self, p: P3) -> i128 {
        dot3(self.n, wide(p)) - self.d
    }
}

#[inline(always)]
fn key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

/// Points of `pts` that include every vertex of their convex hull (see the module notes), as
/// indices. Exact; degenerate inputs (one point, collinear, coplanar) give their 0D/1D/2D hull.
pub fn hull3(pts: &[P3]) -> Vec<usize> {
    let n = pts.len();
    if n == 0 {
        return vec![];
    }
    // initial simplex: lexicographic extremes, then the point farthest from their line, then the
    // point farthest from that plane
    let i0 = (0..n).min_by_key(|&i| pts[i]).unwrap();
    let i1 = (0..n).max_by_key(|&i| pts[i]).unwrap();
    if pts[i0] == pts[i1] {
        return vec![i0];
    }
    let u = sub3(pts[i1], pts[i0]);
    let (mut i2, mut best) = (usize::MAX, 0i128);
    for i in 0..n {
        let c = cross3(u, sub3(pts[i], pts[i0]));
        let m = dot3(c, c);
        if m > best {
            best = m;
            i2 = i;
        }
    }
    if i2 == usize::MAX {
        return vec![i0, i1]; // collinear: the lexicographic extremes are the ends
    }
    let nrm = cross3(u, sub3(pts[i2], pts[i0]));
    let (mut i3, mut best) = (usize::MAX, 0i128);
    for i in 0..n {
        let o = dot3(nrm, sub3(pts[i], pts[i0])).abs();
        if o > best {
            best = o;
            i3 = i;
        }
    }
    if i3 == usize::MAX {
        // coplanar: drop the coordinate with the largest normal component (an affine bijection
        // of the plane onto a coordinate plane keeps the extreme points)
        let k = (0..3).max_by_key(|&k| nrm[k].abs()).unwrap();
        let (a, b) = match k {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        let p2: Vec<P2> = pts.iter().map(|p| [p[a], p[b]]).collect();
        return hull2(&p2);
    }
    // a point strictly inside the hull, scaled by 4 to stay integral
    let inner: [i128; 3] = {
        let mut s = [0i128; 3];
        for &i in &[i0, i1, i2, i3] {
            for k in 0..3 {
                s[k] += pts[i][k] as i128;
            }
        }
        s
    };
    let mut faces: Vec<Face> = Vec::new();
    let mut edges: HashMap<u64, u32> = HashMap::new();
    let make = |a: u32, b: u32, c: u32| -> Face {
        let (pa, pb, pc) = (pts[a as usize], pts[b as usize], pts[c as usize]);
        let mut v = [a, b, c];
        let mut nn = cross3(sub3(pb, pa), sub3(pc, pa));
        let mut d = dot3(nn, wide(pa));
        if dot3(nn, inner) - 4 * d > 0 {
            v = [a, c, b];
            nn = [-nn[0], -nn[1], -nn[2]];
            d = -d;
        }
        Face {
            v,
            n: nn,
            d,
            outside: Vec::new(),
            alive: true,
        }
    };
    let add = |f: Face, faces: &mut Vec<Face>, edges: &mut HashMap<u64, u32>| -> u32 {
        let id = faces.len() as u32;
        for e in 0..3 {
            let prev = edges.insert(key(f.v[e], f.v[(e + 1) % 3]), id);
            debug_assert!(prev.is_none(), "hull3: an edge used twice");
        }
        faces.push(f);
        id
    };
    let s = [i0 as u32, i1 as u32, i2 as u32, i3 as u32];
    for (a, b, c) in [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)] {
        let f = make(s[a], s[b], s[c]);
        add(f, &mut faces, &mut edges);
    }
    for i in 0..n {
        if s.contains(&(i as u32)) {
            continue;
        }
        for f in faces.iter_mut() {
            if f.above(pts[i]) > 0 {
                f.outside.push(i as u32);
                break;
            }
        }
    }
    let mut stack: Vec<u32> = (0..faces.len() as u32)
        .filter(|&f| !faces[f as usize].outside.is_empty())
        .collect();
    // visibility marks: 0 unknown, epoch visible, !epoch... kept per face with an epoch counter
    let mut mark: Vec<(u32, bool)> = vec![(0, false); faces.len()];
    let mut epoch = 0u32;
    let mut visible: Vec<u32> = Vec::new();
    let mut horizon: Vec<(u32, u32)> = Vec::new();
    let mut todo: Vec<u32> = Vec::new();
    while let Some(fi) = stack.pop() {
        let f = &faces[fi as usize];
        if !f.alive || f.outside.is_empty() {
            continue;
        }
        let p = *f
            .outside
            .iter()
            .max_by_key(|&&q| f.above(pts[q as usize]))
            .unwrap();
        let pp = pts[p as usize];
        epoch += 1;
        mark.resize(faces.len(), (0, false));
        visible.clear();
        horizon.clear();
        todo.clear();
        todo.push(fi);
        mark[fi as usize] = (epoch, true);
        while let Some(g) = todo.pop() {
            visible.push(g);
            let v = faces[g as usize].v;
            for e in 0..3 {
                let (a, b) = (v[e], v[(e + 1) % 3]);
                let t = edges[&key(b, a)];
                let (ep, vis) = mark[t as usize];
                let vis = if ep == epoch {
                    vis
                } else {
                    let vis = faces[t as usize].above(pp) > 0;
                    mark[t as usize] = (epoch, vis);
                    if vis {
                        todo.push(t);
                    }
                    vis
                };
                if !vis {
                    horizon.push((a, b));
                }
            }
        }
        let mut pool: Vec<u32> = Vec::new();
        for &g in &visible {
            let f = &mut faces[g as usize];
            f.alive = false;
            pool.append(&mut f.outside);
            let v = f.v;
            for e in 0..3 {
                edges.remove(&key(v[e], v[(e + 1) % 3]));
            }
        }
        let first = faces.len() as u32;
        for &(a, b) in &horizon {
            let nf = make(a, b, p);
            add(nf, &mut faces, &mut edges);
        }
        for q in pool {
            if q == p {
                continue;
            }
            let pq = pts[q as usize];
            for nf in faces[first as usize..].iter_mut() {
                if nf.above(pq) > 0 {
                    nf.outside.push(q);
                    break;
                }
            }
        }
        for id in first..faces.len() as u32 {
            if !faces[id as usize].outside.is_empty() {
                stack.push(id);
            }
        }
    }
    let mut used = vec![false; n];
    for f in faces.iter().filter(|f| f.alive) {
        for &v in &f.v {
            used[v as usize] = true;
        }
    }
    (0..n).filter(|&i| used[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(s: &mut u64) -> u64 {
        *s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *s >> 33
    }

    /// The largest squared distance between two points of `set`.
    fn farthest(pts: &[P3], set: &[usize]) -> i128 {
        let mut best = 0;
        for (k, &i) in set.iter().enumerate() {
            for &j in &set[..k] {
                let d = sub3(pts[i], pts[j]);
                best = best.max(dot3(d, d));
            }
        }
        best
    }

    #[test]
    fn hull2_basics() {
        assert_eq!(hull2(&[]), Vec::<usize>::new());
        assert_eq!(hull2(&[[1, 1]]), vec![0]);
        assert_eq!(hull2(&[[1, 1], [1, 1]]).len(), 1);
        let line = [[0, 0], [1, 1], [2, 2], [3, 3]];
        let mut h = hull2(&line);
        h.sort();
        assert_eq!(h, vec![0, 3]);
        let sq = [[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [1, 0], [2, 1]];
        let mut h = hull2(&sq);
        h.sort();
        assert_eq!(h, vec![0, 1, 2, 3]);
    }

    #[test]
    fn hull3_degenerate_and_random() {
        assert_eq!(hull3(&[[1, 2, 3]]), vec![0]);
        assert_eq!(hull3(&[[1, 2, 3], [1, 2, 3]]).len(), 1);
        let line: Vec<P3> = (0..10).map(|k| [k, 2 * k, -k]).collect();
        let mut h = hull3(&line);
        h.sort();
        assert_eq!(h, vec![0, 9]);
        let plane: Vec<P3> = (0..50).map(|k| [k % 7, k / 7, 3]).collect();
        let h = hull3(&plane);
        // rows y = 0..6 full (x = 0..6) and (0, 7): corners (0,0), (6,0), (6,6), (0,7)
        assert_eq!(h.len(), 4);
        let mut s = 7u64;
        for round in 0..200 {
            let n = 1 + (lcg(&mut s) % 300) as usize;
            let r = 1 + (lcg(&mut s) % 12) as i64;
            let pts: Vec<P3> = (0..n)
                .map(|_| {
                    let mut p = [0i64; 3];
                    for c in p.iter_mut() {
                        *c = (lcg(&mut s) % (2 * r as u64 + 1)) as i64 - r;
                    }
                    if round % 3 == 0 {
                        p[2] = p[0] + p[1]; // coplanar
                    }
                    p
                })
                .collect();
            let h = hull3(&pts);
            let all: Vec<usize> = (0..n).collect();
            assert_eq!(farthest(&pts, &h), farthest(&pts, &all), "round {round}");
            // every point lies inside or on the hull spanned by the kept points: each kept-point
            // functional maximum equals the all-point maximum along random directions
            for _ in 0..20 {
                let d: [i128; 3] = [
                    (lcg(&mut s) % 21) as i128 - 10,
                    (lcg(&mut s) % 21) as i128 - 10,
                    (lcg(&mut s) % 21) as i128 - 10,
                ];
                let m_all = all.iter().map(|&i| dot3(d, wide(pts[i]))).max().unwrap();
                let m_h = h.iter().map(|&i| dot3(d, wide(pts[i]))).max().unwrap();
                assert_eq!(m_all, m_h, "round {round}");
            }
        }
    }
}
