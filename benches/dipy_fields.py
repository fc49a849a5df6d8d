"""DIPY side of the field bench (run by benches/fields.mjs, each call in its own process).

    python dipy_fields.py gen --out DIR NAME...        # inputs: field-128, field-256
    python dipy_fields.py run --op invert|compose|warp --input DIR/NAME \
        --samples 5 --warmup 1 --result out.json --dump out.f64

gen writes, per input NAME (deterministic seeds), raw float64 little-endian arrays in NIfTI
order (first axis fastest, component axis last), read by both contenders:
  NAME.d1.f64   a smooth random displacement field, at most 2 voxels (identity grid)
  NAME.d2.f64   a second one (composition)
  NAME.img.f64  a smooth random image (warping)
and prints a JSON manifest line. run times one DIPY 1.12 call per sample:
  invert:  invert_vector_field_fixed_point_3d(d1, I, ones(3), 20, 1e-3, None)
  compose: compose_vector_fields_3d(d1, d2, None, I, 1.0, None)
  warp:    warp_3d(img, d1, None, I, I, shape)
with DIPY's arrays in its own layout (C order, component last), converted once before
timing. The last sample's output is dumped in NIfTI order for the correctness check.
"""

import json
import os

from common import contender_parser, finish, log, peak_rss_mib, result_base, time_samples, write_f64

SHAPES = {"field-128": (128, 128, 96), "field-256": (256, 256, 192)}


def smooth(rng, shape, ncomp, sigma):
    import numpy as np
    import scipy.ndimage as ndi

    out = np.empty(tuple(shape) + (ncomp,), dtype=np.float64)
    for c in range(ncomp):
        out[..., c] = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return out


def gen(out, names):
    import numpy as np

    os.makedirs(out, exist_ok=True)
    manifest = {}
    for name in names:
        shape = SHAPES[name]
        paths = {k: os.path.join(out, f"{name}.{k}.f64") for k in ("d1", "d2", "img")}
        if not all(os.path.exists(p) for p in paths.values()):
            log(f"generating {name} {shape}")
            rng = np.random.default_rng(2026 + shape[0])
            for k in ("d1", "d2"):
                d = smooth(rng, shape, 3, 4.0)
                d *= 2.0 / np.sqrt((d**2).sum(-1)).max()  # at most 2 voxels of displacement
                write_f64(paths[k], d)
            img = smooth(rng, shape, 1, 2.0)[..., 0] * 100 + 500
            write_f64(paths["img"], img)
        n = shape[0] * shape[1] * shape[2]
        manifest[name] = {"shape": list(shape), "voxels": n, "field_mib": 3 * n * 8 / 2**20}
    print(json.dumps(manifest))


def load(path, shape, ncomp):
    import numpy as np

    a = np.fromfile(path, dtype="<f8")
    if ncomp == 1:
        return np.ascontiguousarray(a.reshape(shape, order="F"))
    return np.ascontiguousarray(a.reshape(tuple(shape) + (ncomp,), order="F"))


def run(a):
    import numpy as np
    import dipy
    import dipy.align.vector_fields as vf

    res = result_base("dipy", (dipy, np), op=a.op)
    name = os.path.basename(a.input)
    shape = SHAPES[name]
    d1 = load(a.input + ".d1.f64", shape, 3)
    eye = np.eye(4)
    if a.op == "invert":
        sp = np.ones(3)
        fn = lambda: vf.invert_vector_field_fixed_point_3d(d1, eye, sp, 20, 1e-3, None)
    elif a.op == "compose":
        d2 = load(a.input + ".d2.f64", shape, 3)
        fn = lambda: vf.compose_vector_fields_3d(d1, d2, None, eye, 1.0, None)[0]
    else:
        img = load(a.input + ".img.f64", shape, 1)
        out_shape = np.array(shape, dtype=np.int32)
        fn = lambda: vf.warp_3d(img, d1, None, eye, eye, out_shape)
    times, out = time_samples(a, fn, lambda t, kind, _: f"{a.op} {name} {kind} {t:.3f} s")
    res["peak_rss_mib"] = peak_rss_mib()  # before the dump, which copies
    write_f64(a.dump, out)
    finish(a.result, res, times)


def main():
    ap = contender_parser(dmri=False, result_required=False)
    ap.add_argument("mode", choices=["gen", "run"])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--out")
    ap.add_argument("--op", choices=["invert", "compose", "warp"])
    ap.add_argument("--input")
    a = ap.parse_intermixed_args()
    if a.mode == "gen":
        gen(a.out, a.names)
    else:
        run(a)


if __name__ == "__main__":
    main()
