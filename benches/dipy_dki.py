"""DIPY contender of the DKI bench (run by benches/run_dki.mjs in its own process).

    python dipy_dki.py MODE --data X.nii --bval X.bval --bvec X.bvec --method WLS \
        --samples 5 --warmup 1 --result out.json --dump DIR

Timed region per MODE (no mask; model and gradient table built as a user would, the input
read once before with nibabel.load(mmap=False) + np.asanyarray(dataobj)):
- all:     DiffusionKurtosisModel(gtab, fit_method=M).fit(data), then fit.fa, fit.md, fit.mk(),
           fit.ak(), fit.rk(), fit.kfa (forced with np.asarray)
- fit:     DiffusionKurtosisModel(gtab, fit_method=M).fit(data)
- maps:    fit.mk(), fit.ak(), fit.rk(), fit.kfa on a fit made before the clock
- predict: fit.predict(gtab) (S0 = 1, DIPY's default) on a fit made before the clock
After the last sample, DIR/evals.f64, fa.f64 and mk.f64 (and pred.f64 for predict) hold the
outputs as float64 little-endian, first axis fastest (NIfTI order), for the comparison.

Threads are whatever the environment says (the runner sets OMP/OPENBLAS/MKL = 1).
Progress goes to stderr, the result JSON to --result.
"""

import argparse
import gc
import json
import os
import sys
import time

from dipy_dti import load, log, peak_rss_mib, rss_now_mib

MODES = ("all", "fit", "maps", "predict")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=MODES)
    ap.add_argument("--data", required=True)
    ap.add_argument("--bval", required=True)
    ap.add_argument("--bvec", required=True)
    ap.add_argument("--method", default="WLS")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--result", required=True)
    ap.add_argument("--dump")
    a = ap.parse_args()

    import dipy
    import nibabel
    import numpy as np
    import scipy
    from dipy.core.gradients import gradient_table
    from dipy.io import read_bvals_bvecs
    from dipy.reconst.dki import DiffusionKurtosisModel

    res = {
        "contender": "dipy",
        "mode": a.mode,
        "method": a.method,
        "versions": {
            "python": sys.version.split()[0],
            "dipy": dipy.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "nibabel": nibabel.__version__,
        },
        "env_threads": {
            k: os.environ.get(k)
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
        },
        "threads": 1,
        "rss_after_imports_mib": rss_now_mib(),
    }
    bvals, bvecs = read_bvals_bvecs(a.bval, a.bvec)
    gtab = gradient_table(bvals, bvecs=bvecs)
    img, data = load(a.data)
    res["shape"] = list(data.shape)
    res["dtype"] = str(data.dtype)
    res["input_mib"] = data.nbytes / 2**20
    res["rss_after_load_mib"] = rss_now_mib()
    nvox = int(np.prod(data.shape[:-1]))

    def new_fit():
        return DiffusionKurtosisModel(gtab, fit_method=a.method).fit(data)

    def kurtosis_maps(fit):
        return [np.asarray(fit.mk()), np.asarray(fit.ak()), np.asarray(fit.rk()), np.asarray(fit.kfa)]

    base = None
    if a.mode in ("maps", "predict"):
        base = new_fit()  # the existing fit the timed region works on
        res["rss_after_fit_mib"] = rss_now_mib()

    times = []
    fit = out = None
    for i in range(a.warmup + a.samples):
        fit = out = None  # drop the previous sample's outputs before the next run
        gc.collect()
        t0 = time.perf_counter()
        if a.mode == "all":
            fit = new_fit()
            out = [np.asarray(fit.fa), np.asarray(fit.md), *kurtosis_maps(fit)]
        elif a.mode == "fit":
            fit = new_fit()
            out = []
        elif a.mode == "maps":
            fit = base
            out = kurtosis_maps(fit)
        else:
            fit = base
            out = [np.asarray(fit.predict(gtab))]
        t = time.perf_counter() - t0
        kind = "warm-up" if i < a.warmup else f"sample {i - a.warmup + 1}/{a.samples}"
        log(f"{a.mode} {a.method} {kind}: {t:.3f} s ({t / nvox * 1e6:.2f} us/voxel)")
        if i >= a.warmup:
            times.append(t)
    # outputs held by the user: model_params (evals 3 + evecs 9 + kt 15) + what the region made
    res["output_mib"] = (fit.model_params.nbytes + sum(m.nbytes for m in out)) / 2**20
    res["voxels"] = nvox
    res["times_s"] = times
    res["peak_rss_mib"] = peak_rss_mib()  # before the dump, which computes more maps

    if a.dump:
        os.makedirs(a.dump, exist_ok=True)

        def dump(name, arr):
            with open(os.path.join(a.dump, f"{name}.f64"), "wb") as f:
                f.write(np.asarray(arr, dtype="<f8").tobytes(order="F"))

        dump("evals", fit.evals)
        dump("fa", fit.fa)
        dump("mk", out[2] if a.mode == "all" else out[0] if a.mode == "maps" else fit.mk())
        if a.mode == "predict":
            dump("pred", out[0])

    with open(a.result, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
