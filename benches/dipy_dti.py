"""DIPY contender of the DTI bench (run by benches/run.mjs in its own process).

    python dipy_dti.py fit --data X.nii --bval X.bval --bvec X.bvec --method WLS \
        --samples 5 --warmup 1 --result out.json --dump DIR
    python dipy_dti.py io  --data X.nii --samples 5 --warmup 1 --result out.json

fit: times `TensorModel(gtab, fit_method=M).fit(data)` followed by `.fa .md .ad .rd` (no
mask), warm-up runs then timed samples; the input is read once, before, with
nibabel.load(mmap=False) + np.asanyarray(dataobj). The FA and evals of the last sample go to
DIR/fa.f64 and DIR/evals.f64: float64 little-endian, first axis fastest (NIfTI order).
io: times nibabel.load(path, mmap=False) + np.asanyarray(img.dataobj).

Threads are whatever the environment says (the runner sets OMP/OPENBLAS/MKL = 1).
Progress goes to stderr, the result JSON to --result.
"""

import argparse
import gc
import json
import os
import resource
import sys
import time


def rss_now_mib():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return None


def peak_rss_mib():
    # VmHWM where there is one (Linux): ru_maxrss there carries the parent's high-water mark
    # across fork + exec, so a process started by a big runner would report the runner's peak
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux, in bytes on macOS
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024


def log(msg):
    print(f"    [dipy] {msg}", file=sys.stderr, flush=True)


def load(path):
    import nibabel as nib
    import numpy as np

    img = nib.load(path, mmap=False)
    return img, np.asanyarray(img.dataobj)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["fit", "io"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--bval")
    ap.add_argument("--bvec")
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

    rss_start = rss_now_mib()
    res = {
        "contender": "dipy",
        "mode": a.mode,
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
        "rss_after_imports_mib": rss_start,
    }
    times = []

    if a.mode == "io":
        for i in range(a.warmup + a.samples):
            t0 = time.perf_counter()
            img, data = load(a.data)
            t = time.perf_counter() - t0
            if i >= a.warmup:
                times.append(t)
            res["shape"] = list(data.shape)
            res["dtype"] = str(data.dtype)
            res["input_mib"] = data.nbytes / 2**20
            del img, data
            gc.collect()
        log(f"io: {' '.join(f'{t:.3f}' for t in times)} s")
    else:
        from dipy.core.gradients import gradient_table
        from dipy.io import read_bvals_bvecs
        from dipy.reconst.dti import TensorModel

        bvals, bvecs = read_bvals_bvecs(a.bval, a.bvec)
        gtab = gradient_table(bvals, bvecs=bvecs)
        img, data = load(a.data)
        res["shape"] = list(data.shape)
        res["dtype"] = str(data.dtype)
        res["input_mib"] = data.nbytes / 2**20
        res["rss_after_load_mib"] = rss_now_mib()
        nvox = int(np.prod(data.shape[:-1]))
        fit = maps = None
        for i in range(a.warmup + a.samples):
            fit = maps = None  # drop the previous sample's outputs before the next run
            gc.collect()
            t0 = time.perf_counter()
            fit = TensorModel(gtab, fit_method=a.method).fit(data)
            maps = [np.asarray(fit.fa), np.asarray(fit.md), np.asarray(fit.ad), np.asarray(fit.rd)]
            t = time.perf_counter() - t0
            kind = "warm-up" if i < a.warmup else f"sample {i - a.warmup + 1}/{a.samples}"
            log(f"{a.method} {kind}: {t:.3f} s ({t / nvox * 1e6:.2f} us/voxel)")
            if i >= a.warmup:
                times.append(t)
        # outputs held by the user: model_params (evals 3 + evecs 9) + 4 maps, float64
        res["output_mib"] = (fit.model_params.nbytes + sum(m.nbytes for m in maps)) / 2**20
        res["voxels"] = nvox
        if a.dump:
            os.makedirs(a.dump, exist_ok=True)
            with open(os.path.join(a.dump, "fa.f64"), "wb") as f:
                f.write(np.asarray(maps[0], dtype="<f8").tobytes(order="F"))
            with open(os.path.join(a.dump, "evals.f64"), "wb") as f:
                f.write(np.asarray(fit.evals, dtype="<f8").tobytes(order="F"))

    res["times_s"] = times
    res["peak_rss_mib"] = peak_rss_mib()
    with open(a.result, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
