"""DIPY side of the SyN bench (run by benches/syn.mjs, each call in its own process).

    python dipy_syn.py gen --out DIR --size N            # synthetic 3D pair, N^3 voxels
    python dipy_syn.py run --input DIR/NAME --level-iters 10,10,5 \
        --samples 1 --warmup 0 --result out.json --dump out.f64

gen writes NAME.static.f64 / NAME.moving.f64 (float64, NIfTI order, identity grids): a smooth
textured ball and the same ball warped by a known smooth field (DIPY's warp_3d), like the
fixtures of fixtures/dipy_syn but larger. run times
SymmetricDiffeomorphicRegistration(metric, level_iters).optimize(static, moving) (--metric CC,
SSD or EM with DIPY's defaults) and
dumps mapping.forward (float64, NIfTI order) for the correctness check.
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
    ap = contender_parser(["run"], dmri=False)
    ap.add_argument("--input", required=True)
    ap.add_argument("--shape", required=True)
    ap.add_argument("--level-iters", default="10,10,5")
    ap.add_argument("--metric", default="CC", choices=["CC", "SSD", "EM"])
    a = ap.parse_args()
    import numpy as np
    import dipy
    from dipy.align.imwarp import SymmetricDiffeomorphicRegistration
    from dipy.align.metrics import CCMetric, EMMetric, SSDMetric

    res = result_base("DIPY", [dipy, np])
    shape = tuple(int(s) for s in a.shape.split(","))
    load = lambda p: np.fromfile(p, dtype="<f8").reshape(shape, order="F")  # noqa: E731
    st, mv = load(f"{a.input}.static.f64"), load(f"{a.input}.moving.f64")
    res["input_mib"] = (st.nbytes + mv.nbytes) / 2**20
    iters = [int(k) for k in a.level_iters.split(",")]

    def fn():
        metric = {"CC": CCMetric, "SSD": SSDMetric, "EM": EMMetric}[a.metric](3)
        sdr = SymmetricDiffeomorphicRegistration(metric, level_iters=iters)
        sdr.verbosity = 0
        return sdr.optimize(st, mv)

    times, m = time_samples(a, fn, lambda t, kind, o: f"SyN {kind} {t:.2f} s")
    res["output_mib"] = 2 * m.forward.nbytes / 2**20
    finish(a.result, res, times)
    write_f64(a.dump, m.forward)


if __name__ == "__main__":
    main()
