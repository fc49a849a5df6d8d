"""ANTs side of the SyN bench (run by benches/syn.mjs --pair brain, each call in its own process,
with the ANTs venv: benches/.venv-ants from benches/requirements-ants.txt).

    python ants_syn.py run --pair FILE.json --level-iters 10,10,5 --threads N \
        --samples 1 --warmup 0 --result out.json --dump-warped warped.f64 [--dump field.f64]

Registers the brain pair of `dipy_syn.py gen-brain` with antspyx's
`ants.registration(type_of_transform='SyNOnly')`, started from the same prealign (written as an
ITK affine transform: DIPY's RAS static-to-moving matrix conjugated to ITK's LPS), with settings
as close to DIPY's CC SyN as ANTs allows: CC metric of radius 4 (`syn_sampling`), the iterations
per level (antspyx makes three levels shrink 4x2x1 with smoothing sigmas 2x1x0 voxels; DIPY's
pyramid halves the grid per level too, smoothing by its own sigma rule), gradient step 0.25
(DIPY's `step_length`), update-field smoothing 2 voxels (DIPY's CC `sigma_diff`), no total-field
smoothing; ANTs' own convergence test ([iterations, 1e-7, 8]). Threads through
ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS. Dumps the warped moving image on the static grid (float64,
NIfTI order) for the quality check the runner makes for all contenders alike.

The MNI pair (syn.mjs --pair mni; NIfTI files of fixtures/dipy_syn/generate_mni.py --bench) has
an identity prealign: ANTs starts from its own identity, and --dump writes the SyN warp (the
static-to-moving displacement ANTs warps the moving image with; checked to be the whole forward
transform) in world mm, RAS, on the static grid, for the runner's Dice and field-error check.
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import contender_parser, finish, make_log, result_base, time_samples, write_f64  # noqa: E402

log = make_log("ants")


def main():
    ap = contender_parser(["run"], dmri=False)
    ap.add_argument("--pair", required=True)
    ap.add_argument("--level-iters", default="10,10,5")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dump-warped", required=True)
    a = ap.parse_args()
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(a.threads)
    import numpy as np
    import ants

    res = result_base("ANTs", [ants, np], ants_threads=a.threads)
    res["threads"] = a.threads
    with open(a.pair) as f:
        p = json.load(f)
    st = ants.image_read(p["static"], pixeltype="float")
    mv = ants.image_read(p["moving"], pixeltype="float")
    res["input_mib"] = (st.numpy().nbytes + mv.numpy().nbytes) / 2**20
    pre = np.array(p["prealign"], dtype=np.float64).reshape(4, 4)
    flip = np.diag([-1.0, -1.0, 1.0])
    tmp = tempfile.mkdtemp(prefix="ants-syn-")
    init = os.path.join(tmp, "prealign.mat")
    tx = ants.create_ants_transform(transform_type="AffineTransform", dimension=3,
                                    matrix=flip @ pre[:3, :3] @ flip, translation=flip @ pre[:3, 3])
    ants.write_transform(tx, init)
    # an identity prealign (the MNI pair) is ANTs' own default start: no initial transform file,
    # so the forward transform is the SyN warp alone
    initial = None if np.array_equal(pre, np.eye(4)) else [init]
    iters = tuple(int(k) for k in a.level_iters.split(","))

    def fn():
        return ants.registration(fixed=st, moving=mv, type_of_transform="SyNOnly", initial_transform=initial,
                                 syn_metric="CC", syn_sampling=4, reg_iterations=iters, grad_step=0.25,
                                 flow_sigma=2, total_sigma=0, outprefix=os.path.join(tmp, "r"), verbose=False)

    times, r = time_samples(a, fn, lambda t, kind, o: f"SyN {a.threads} thread(s) {kind} {t:.2f} s", log=log)
    res["output_mib"] = 0
    finish(a.result, res, times)
    write_f64(a.dump_warped, r["warpedmovout"].numpy())
    if a.dump:
        # the SyN warp, then ANTs' (identity) initial affine: the warp alone is the transform
        fwd = r["fwdtransforms"]
        ok = initial is None and fwd[0].endswith("Warp.nii.gz")
        for t in fwd[1:]:
            p = ants.read_transform(t).parameters
            ok = ok and t.endswith("GenericAffine.mat") and np.array_equal(p, [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
        if not ok:
            sys.exit(f"--dump needs the SyN warp alone (identity prealign), got {fwd}")
        w = ants.image_read(r["fwdtransforms"][0])
        if w.shape != st.shape or not np.allclose(w.origin, st.origin) or not np.allclose(w.direction, st.direction):
            sys.exit("the SyN warp is not on the static grid")
        # ITK's LPS vectors to RAS: x and y negated
        write_f64(a.dump, w.numpy() * np.array([-1.0, -1.0, 1.0]))


if __name__ == "__main__":
    main()
