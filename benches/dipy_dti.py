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

from common import contender_parser, dump_f64, finish, input_facts, load_nifti, result_base, time_samples


def main():
    a = contender_parser(("fit", "io")).parse_args()

    import dipy
    import nibabel
    import numpy as np
    import scipy

    res = result_base("dipy", (dipy, np, scipy, nibabel), mode=a.mode)

    if a.mode == "io":
        times, (img, data) = time_samples(a, lambda: load_nifti(a.data), lambda t, kind, _: f"io {kind}: {t:.3f} s")
        res.update(input_facts(data))
    else:
        from dipy.core.gradients import gradient_table
        from dipy.io import read_bvals_bvecs
        from dipy.reconst.dti import TensorModel

        bvals, bvecs = read_bvals_bvecs(a.bval, a.bvec)
        gtab = gradient_table(bvals, bvecs=bvecs)
        img, data = load_nifti(a.data)
        res.update(input_facts(data))
        nvox = int(np.prod(data.shape[:-1]))

        def fit_and_maps():
            fit = TensorModel(gtab, fit_method=a.method).fit(data)
            return fit, [np.asarray(fit.fa), np.asarray(fit.md), np.asarray(fit.ad), np.asarray(fit.rd)]

        times, (fit, maps) = time_samples(a, fit_and_maps, lambda t, kind, _: f"{a.method} {kind}: {t:.3f} s ({t / nvox * 1e6:.2f} us/voxel)")
        # outputs held by the user: model_params (evals 3 + evecs 9) + 4 maps, float64
        res["output_mib"] = (fit.model_params.nbytes + sum(m.nbytes for m in maps)) / 2**20
        res["voxels"] = nvox
    finish(a.result, res, times)  # before the dump, which copies
    if a.mode == "fit" and a.dump:
        dump_f64(a.dump, "fa", maps[0])
        dump_f64(a.dump, "evals", fit.evals)


if __name__ == "__main__":
    main()
