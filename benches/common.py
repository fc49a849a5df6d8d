"""What the Python contenders of the benches share (dipy_dti.py, dipy_dki.py, dipy_fields.py,
pyradiomics_bench.py, nrrd_read.py); the voxelkit side has the same in benches/contender.mjs.

- contender_parser: the contender command line (--samples --warmup --result --dump, and
  --data --bval --bvec --method for the dMRI contenders, a mode as the first positional)
- result_base: the start of the result JSON (versions, thread settings seen, RSS after imports)
- time_samples: warm-up + timed samples, the previous sample's outputs freed outside the clock
- rss_now_mib, peak_rss_mib: memory of this process
- load_nifti, input_facts: the dMRI input, read as the DIPY contenders read it
- write_f64, dump_f64: outputs as float64 little-endian in NIfTI order, for the comparison
- finish: times, peak RSS and the result JSON to --result
Only the standard library is imported at the top: each contender runs in its own venv.
"""

import argparse
import gc
import json
import os
import resource
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def make_log(who):
    def log(msg):
        print(f"    [{who}] {msg}", file=sys.stderr, flush=True)

    return log


log = make_log("dipy")


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


def contender_parser(modes=None, dmri=True, bvals_required=False, result_required=True):
    """argparse for a contender: MODE (one of `modes`) --samples --warmup --result --dump, and for
    the dMRI contenders --data --bval --bvec --method."""
    ap = argparse.ArgumentParser()
    if modes:
        ap.add_argument("mode", choices=modes)
    if dmri:
        ap.add_argument("--data", required=True)
        ap.add_argument("--bval", required=bvals_required)
        ap.add_argument("--bvec", required=bvals_required)
        ap.add_argument("--method", default="WLS")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--result", required=result_required)
    ap.add_argument("--dump")
    return ap


def result_base(contender, modules, **fields):
    """The start of the result JSON: who, `fields`, the versions of `modules` (imported modules)."""
    versions = {"python": sys.version.split()[0]}
    versions.update({m.__name__: getattr(m, "__version__", None) for m in modules})
    return {
        "contender": contender,
        **fields,
        "versions": versions,
        "env_threads": {k: os.environ.get(k) for k in THREAD_VARS},
        "threads": 1,
        "rss_after_imports_mib": rss_now_mib(),
    }


def time_samples(a, fn, describe=None, log=log):
    """a.warmup untimed then a.samples timed calls of fn(); before each, the previous call's
    outputs are dropped and the garbage collected, outside the clock. describe(t, kind, out)
    makes the progress line. Returns (times, the last call's output)."""
    times = []
    out = None
    for i in range(a.warmup + a.samples):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        t = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(t)
        if describe:
            log(describe(t, "warm-up" if i < a.warmup else f"sample {i - a.warmup + 1}/{a.samples}", out))
    return times, out


def load_nifti(path):
    """The image and its data in memory: nibabel.load(mmap=False) + np.asanyarray(dataobj)."""
    import nibabel as nib
    import numpy as np

    img = nib.load(path, mmap=False)
    return img, np.asanyarray(img.dataobj)


def input_facts(data):
    """Shape, type and size of the input read, and the RSS with it loaded."""
    return {"shape": list(data.shape), "dtype": str(data.dtype), "input_mib": data.nbytes / 2**20, "rss_after_load_mib": rss_now_mib()}


def write_f64(path, arr):
    """arr as float64 little-endian, first axis fastest (NIfTI order)."""
    import numpy as np

    with open(path, "wb") as f:
        f.write(np.asarray(arr, dtype="<f8").tobytes(order="F"))


def dump_f64(folder, name, arr):
    os.makedirs(folder, exist_ok=True)
    write_f64(os.path.join(folder, f"{name}.f64"), arr)


def finish(path, res, times):
    """Records times and the peak RSS (unless measured already) and writes the result JSON. Call
    it before dumping the outputs (a dump copies them): the runner reads both once the process
    has ended."""
    res["times_s"] = times
    res.setdefault("peak_rss_mib", peak_rss_mib())
    with open(path, "w") as f:
        json.dump(res, f)
