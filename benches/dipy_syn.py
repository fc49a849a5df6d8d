"""DIPY side of the SyN bench (run by benches/syn.mjs, each call in its own process).

    python dipy_syn.py gen --out DIR --size N            # synthetic 3D pair, N^3 voxels
    python dipy_syn.py gen-brain --shared DIR --out FILE.json  # the brain pair and its prealign
    python dipy_syn.py run --input DIR/NAME --level-iters 10,10,5 \
        --samples 1 --warmup 0 --result out.json --dump out.f64
    python dipy_syn.py run --pair FILE.json ... --dump out.f64 --dump-warped warped.f64
        [--dump-map map.f64]
    python dipy_syn.py quality --pair mni-pair.json --fields none=,dipy=F.f64,...

gen writes NAME.static.f64 / NAME.moving.f64 (float64, NIfTI order, identity grids): a smooth
textured ball and the same ball warped by a known smooth field (DIPY's warp_3d), like the
fixtures of fixtures/dipy_syn but larger. run times
SymmetricDiffeomorphicRegistration(metric, level_iters).optimize(static, moving) (--metric CC,
SSD or EM with DIPY's defaults) and
dumps mapping.forward (float64, NIfTI order) for the correctness check.

quality: the MNI pair's Dice / field error / NCC per contender (see quality()).

gen-brain: PyRadiomics' brain1 (static) and brain2 (moving) MR images at full resolution
(256x256x25 and 256x256x23, read as fixtures/dipy_syn/generate_brain.py reads them), brain2
pre-aligned to brain1 by DIPY's affine_registration (center of mass, translation, rigid, affine);
writes FILE.json (the NRRD paths, grids, prealign) for the three contenders. run --pair registers
that pair with the prealign and also dumps the warped moving image on the static grid.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import contender_parser, finish, log, peak_rss_mib, result_base, time_samples, write_f64  # noqa: E402


def pair(n):
    import numpy as np
    import dipy.align.vector_fields as vfu

    g = np.meshgrid(*[np.arange(n, dtype=np.float64) for _ in range(3)], indexing="ij")
    c = (n - 1) / 2
    r = np.sqrt(sum((gi - c) ** 2 for gi in g))
    img = 1.0 / (1.0 + np.exp((r - 0.3 * n) * 0.5)) + 0.15 * np.cos(0.35 * g[0]) * np.sin(0.25 * g[1])
    rng = np.random.default_rng(7)
    d = np.zeros((n, n, n, 3))
    u = [gi / n for gi in g]
    for k in range(3):
        ph = rng.uniform(0, 2 * np.pi, size=3)
        d[..., k] = 0.04 * n * np.prod([np.sin(2 * np.pi * ui + p) for ui, p in zip(u, ph)], axis=0)
    mv = np.asarray(vfu.warp_3d(img, d))
    return img, mv


def main():
    if sys.argv[1] == "gen":
        import argparse

        ap = argparse.ArgumentParser()
        ap.add_argument("mode")
        ap.add_argument("--out", required=True)
        ap.add_argument("--size", type=int, required=True)
        a = ap.parse_args()
        st, mv = pair(a.size)
        name = f"syn-{a.size}"
        write_f64(os.path.join(a.out, f"{name}.static.f64"), st)
        write_f64(os.path.join(a.out, f"{name}.moving.f64"), mv)
        print(json.dumps({"name": name, "shape": list(st.shape)}))
        return
    if sys.argv[1] == "quality":
        quality()
        return
    if sys.argv[1] == "gen-brain":
        import argparse

        ap = argparse.ArgumentParser()
        ap.add_argument("mode")
        ap.add_argument("--shared", required=True)
        ap.add_argument("--out", required=True)
        a = ap.parse_args()
        gen_brain(a.shared, a.out)
        return
    ap = contender_parser(["run"], dmri=False)
    ap.add_argument("--input")
    ap.add_argument("--shape")
    ap.add_argument("--pair")
    ap.add_argument("--dump-warped")
    ap.add_argument("--dump-map", help="the field transform() warps with (static to moving, world mm)")
    ap.add_argument("--level-iters", default="10,10,5")
    ap.add_argument("--metric", default="CC", choices=["CC", "SSD", "EM"])
    a = ap.parse_args()
    import numpy as np
    import dipy
    from dipy.align.imwarp import SymmetricDiffeomorphicRegistration
    from dipy.align.metrics import CCMetric, EMMetric, SSDMetric

    res = result_base("DIPY", [dipy, np])
    grids = {}
    if a.pair:
        st, mv, grids = load_pair(a.pair)
    else:
        shape = tuple(int(s) for s in a.shape.split(","))
        load = lambda p: np.fromfile(p, dtype="<f8").reshape(shape, order="F")  # noqa: E731
        st, mv = load(f"{a.input}.static.f64"), load(f"{a.input}.moving.f64")
    res["input_mib"] = (st.nbytes + mv.nbytes) / 2**20
    iters = [int(k) for k in a.level_iters.split(",")]

    def fn():
        metric = {"CC": CCMetric, "SSD": SSDMetric, "EM": EMMetric}[a.metric](3)
        sdr = SymmetricDiffeomorphicRegistration(metric, level_iters=iters)
        sdr.verbosity = 0
        return sdr.optimize(st, mv, **grids)

    times, m = time_samples(a, fn, lambda t, kind, o: f"SyN {kind} {t:.2f} s")
    res["output_mib"] = 2 * m.forward.nbytes / 2**20
    finish(a.result, res, times)
    write_f64(a.dump, m.forward)
    if a.dump_warped:
        write_f64(a.dump_warped, m.transform(mv))
    if a.dump_map:
        # SyN's mapping is DIPY's inverse map: transform() warps with mapping.backward
        write_f64(a.dump_map, m.backward if m.is_inverse else m.forward)


def brain_reader():
    """read_nrrd of fixtures/dipy_syn/generate_brain.py (one reader for the fixture and the bench)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "fixtures", "dipy_syn"))
    from generate_brain import read_nrrd

    return read_nrrd


def gen_brain(shared, out):
    from pathlib import Path

    import numpy as np
    from dipy.align import affine_registration

    read_nrrd = brain_reader()
    paths = [os.path.abspath(os.path.join(shared, f)) for f in ("brain1_image.nrrd", "brain2_image.nrrd")]
    (st, sa), (mv, ma) = read_nrrd(Path(paths[0])), read_nrrd(Path(paths[1]))
    _, pre = affine_registration(mv, st, moving_affine=ma, static_affine=sa,
                                 pipeline=["center_of_mass", "translation", "rigid", "affine"],
                                 level_iters=[1000, 100, 10])
    rows = lambda x: [float(v) for v in np.asarray(x).ravel()]  # noqa: E731
    with open(out, "w") as f:
        json.dump({"static": paths[0], "moving": paths[1], "static_shape": list(st.shape),
                   "moving_shape": list(mv.shape), "static_affine": rows(sa), "moving_affine": rows(ma),
                   "prealign": rows(pre)}, f, indent=1)
    print(json.dumps({"name": "brain", "shape": list(st.shape)}))


def read_nifti(path):
    """A NIfTI image (the MNI pair of fixtures/dipy_syn/generate_mni.py --bench) as float64 and
    its RAS+ affine."""
    import nibabel as nib
    import numpy as np

    img = nib.load(path)
    return np.asarray(img.get_fdata(), dtype=np.float64), np.asarray(img.affine, dtype=np.float64)


def load_pair(path):
    """The pair of gen-brain (NRRD) or of generate_mni.py --bench (NIfTI): static, moving
    (float64) and optimize's grid arguments."""
    from pathlib import Path

    import numpy as np

    with open(path) as f:
        p = json.load(f)
    read = read_nifti if p["static"].endswith((".nii", ".nii.gz")) else lambda q: brain_reader()(Path(q))
    (st, sa), (mv, ma) = read(p["static"]), read(p["moving"])
    m4 = lambda k: np.array(p[k], dtype=np.float64).reshape(4, 4)  # noqa: E731
    assert np.allclose(sa, m4("static_affine")) and np.allclose(ma, m4("moving_affine"))
    return st, mv, {"static_grid2world": sa, "moving_grid2world": ma, "prealign": m4("prealign")}


def quality():
    """quality --pair mni-pair.json --fields NAME=FILE.f64,... : the MNI pair's quality of each
    contender's transform, from the displacement it warps the moving image with (world mm, RAS,
    on the static grid, first axis fastest; x -> x + f(x) maps static points to moving points:
    DIPY's and voxelkit's `mapping.backward`, SyN's mapping being DIPY's inverse map, and ANTs'
    forward warp). Prints JSON per name:

    - dice_gm / dice_wm: the static GM / WM masks were carried through the known deformation to
      the moving grid (generate_mni.py); the moving masks are mapped back by the contender's
      transform (linear interpolation at x + f(x), > 0.5) and compared with the static masks;
    - error_mm mean / max over the static brain mask: the known deformation says moving(y) =
      static(y + d(y)), so x maps back to x + f(x) + d(x + f(x)); its distance from x (d
      linearly interpolated) is the field error against the true deformation;
    - ncc: the moving image warped by f (linear) against the static image over the static grid,
      a check that the dumped field is the transform the contender's own warped image used.
    A name `none` with no file is the identity (the unregistered pair).
    """
    import argparse

    import numpy as np
    from scipy.ndimage import map_coordinates

    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("--pair", required=True)
    ap.add_argument("--fields", required=True)
    a = ap.parse_args()
    with open(a.pair) as f:
        p = json.load(f)
    files = p["files"]
    st, aff = read_nifti(files["static"])
    mv, maff = read_nifti(files["moving"])
    assert np.array_equal(aff, maff), "one grid"
    shape = st.shape
    inv = np.linalg.inv(aff)
    d = np.fromfile(files["displacement"], dtype="<f8").reshape(shape + (3,), order="F")
    idx = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij"), -1)
    world = idx @ aff[:3, :3].T + aff[:3, 3]
    brain = read_nifti(files["brain_static"])[0] > 0.5
    masks = {t: (read_nifti(files[f"{t}_static"])[0] > 0.5, read_nifti(files[f"{t}_moving"])[0])
             for t in ("gm", "wm")}

    def at(vol, pts_world):
        v = (pts_world @ inv[:3, :3].T + inv[:3, 3]).reshape(-1, 3).T
        return map_coordinates(vol, v, order=1, mode="constant", cval=0.0).reshape(shape)

    def ncc(x, y):
        x = x - x.mean()
        y = y - y.mean()
        return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))

    out = {}
    for item in a.fields.split(","):
        name, _, fn = item.partition("=")
        f = np.zeros(shape + (3,)) if not fn else np.fromfile(fn, dtype="<f8").reshape(shape + (3,), order="F")
        y = world + f
        back = y + np.stack([at(d[..., c], y) for c in range(3)], -1)
        err = np.sqrt(((back - world) ** 2).sum(-1))[brain]
        r = {"error_mm_mean": float(err.mean()), "error_mm_max": float(err.max()), "ncc": ncc(st, at(mv, y))}
        for t, (ms, mm) in masks.items():
            w = at(mm, y) > 0.5
            r[f"dice_{t}"] = float(2 * (w & ms).sum() / (w.sum() + ms.sum()))
        out[name] = r
    print(json.dumps(out))


if __name__ == "__main__":
    main()
