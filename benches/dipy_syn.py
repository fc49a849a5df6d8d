"""DIPY side of the SyN bench (run by benches/syn.mjs, each call in its own process).

    python dipy_syn.py gen --out DIR --size N            # synthetic 3D pair, N^3 voxels
    python dipy_syn.py gen-brain --shared DIR --out FILE.json  # the brain pair and its prealign
    python dipy_syn.py run --input DIR/NAME --level-iters 10,10,5 \
        --samples 1 --warmup 0 --result out.json --dump out.f64
    python dipy_syn.py run --pair FILE.json ... --dump out.f64 --dump-warped warped.f64

gen writes NAME.static.f64 / NAME.moving.f64 (float64, NIfTI order, identity grids): a smooth
textured ball and the same ball warped by a known smooth field (DIPY's warp_3d), like the
fixtures of fixtures/dipy_syn but larger. run times
SymmetricDiffeomorphicRegistration(metric, level_iters).optimize(static, moving) (--metric CC,
SSD or EM with DIPY's defaults) and
dumps mapping.forward (float64, NIfTI order) for the correctness check.

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


def load_pair(path):
    """The brain pair of gen-brain: static, moving (float64) and optimize's grid arguments."""
    from pathlib import Path

    import numpy as np

    with open(path) as f:
        p = json.load(f)
    read_nrrd = brain_reader()
    (st, sa), (mv, ma) = read_nrrd(Path(p["static"])), read_nrrd(Path(p["moving"]))
    m4 = lambda k: np.array(p[k], dtype=np.float64).reshape(4, 4)  # noqa: E731
    assert np.allclose(sa, m4("static_affine")) and np.allclose(ma, m4("moving_affine"))
    return st, mv, {"static_grid2world": sa, "moving_grid2world": ma, "prealign": m4("prealign")}


if __name__ == "__main__":
    main()
