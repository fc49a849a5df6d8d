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

Constrained methods (CLS, CWLS):
- --solver NAME passes cvxpy_solver=NAME to the model (DIPY's default is None: cvxpy picks,
  which for the SDPs is SCS with its default tolerances).
- --units ms gives DIPY the b-values in ms/µm² (b / 1000) instead of s/mm²: the SDPs are then
  well scaled for a generic solver. The dumped eigenvalues are converted back to mm²/s.
- After the clock, the unconstrained fit DIPY starts from (OLS for CLS, WLS for CWLS) is made
  too, and DIR/moved.f64 holds 1 where the constrained fit differs from it (the constraint moved
  the voxel), 0 elsewhere; the result JSON counts those voxels and the all-zero (failed) ones.

Threads are whatever the environment says (the runner sets OMP/OPENBLAS/MKL = 1).
Progress goes to stderr, the result JSON to --result.
"""

from common import (
    contender_parser,
    dump_f64,
    finish,
    input_facts,
    load_nifti,
    log,
    peak_rss_mib,
    result_base,
    rss_now_mib,
    time_samples,
)

MODES = ("all", "fit", "maps", "predict")


def main():
    ap = contender_parser(MODES, bvals_required=True)
    ap.add_argument("--units", choices=("s", "ms"), default="s")
    ap.add_argument("--solver")
    a = ap.parse_args()
    constrained = a.method.upper() in ("CLS", "CWLS")

    import dipy
    import nibabel
    import numpy as np
    import scipy
    from dipy.core.gradients import gradient_table
    from dipy.io import read_bvals_bvecs
    from dipy.reconst.dki import DiffusionKurtosisModel

    res = result_base("dipy", (dipy, np, scipy, nibabel), mode=a.mode, method=a.method, units=a.units, solver=a.solver)
    bvals, bvecs = read_bvals_bvecs(a.bval, a.bvec)
    unit = 1e-3 if a.units == "ms" else 1.0  # b in ms/µm²: diffusivities come out in µm²/ms
    gtab = gradient_table(bvals * unit, bvecs=bvecs)
    kw = {"cvxpy_solver": a.solver} if a.solver else {}
    img, data = load_nifti(a.data)
    res.update(input_facts(data))
    nvox = int(np.prod(data.shape[:-1]))

    def new_fit():
        return DiffusionKurtosisModel(gtab, fit_method=a.method, **kw).fit(data)

    def kurtosis_maps(fit):
        return [np.asarray(fit.mk()), np.asarray(fit.ak()), np.asarray(fit.rk()), np.asarray(fit.kfa)]

    base = None
    if a.mode in ("maps", "predict"):
        base = new_fit()  # the existing fit the timed region works on
        res["rss_after_fit_mib"] = rss_now_mib()

    def region():  # the fit it made or worked on, and what the timed region produced
        if a.mode == "all":
            fit = new_fit()
            return fit, [np.asarray(fit.fa), np.asarray(fit.md), *kurtosis_maps(fit)]
        if a.mode == "fit":
            return new_fit(), []
        if a.mode == "maps":
            return base, kurtosis_maps(base)
        return base, [np.asarray(base.predict(gtab))]

    times, (fit, out) = time_samples(
        a, region, lambda t, kind, _: f"{a.mode} {a.method} {kind}: {t:.3f} s ({t / nvox * 1e6:.2f} us/voxel)"
    )
    # outputs held by the user: model_params (evals 3 + evecs 9 + kt 15) + what the region made
    res["output_mib"] = (fit.model_params.nbytes + sum(m.nbytes for m in out)) / 2**20
    res["voxels"] = nvox
    res["peak_rss_mib"] = peak_rss_mib()  # before the unconstrained fit and the dump below

    if constrained:
        # which voxels the constraint moved: compare with the unconstrained fit DIPY starts from
        ls = DiffusionKurtosisModel(gtab, fit_method="OLS" if a.method.upper() == "CLS" else "WLS").fit(data)
        d_c, d_u = np.asarray(fit.lower_triangular()), np.asarray(ls.lower_triangular())
        k_c, k_u = np.asarray(fit.kt), np.asarray(ls.kt)
        scale_d = np.maximum(np.abs(d_u).max(axis=-1), 1e-300)
        moved = (np.abs(d_c - d_u).max(axis=-1) > 1e-6 * scale_d) | (
            np.abs(k_c - k_u).max(axis=-1) > 1e-6 * np.maximum(np.abs(k_u).max(axis=-1), 1.0)
        )
        failed = np.all(np.asarray(fit.model_params) == 0, axis=-1)
        res["moved_voxels"] = int(moved.sum())
        res["failed_voxels"] = int(failed.sum())
        log(f"{a.method}: the constraint moved {moved.sum()} of {nvox} voxels; {failed.sum()} all-zero (solver failed)")

    if a.dump:
        dump_f64(a.dump, "evals", np.asarray(fit.evals) * unit)
        dump_f64(a.dump, "fa", fit.fa)
        dump_f64(a.dump, "mk", out[2] if a.mode == "all" else out[0] if a.mode == "maps" else fit.mk())
        if a.mode == "predict":
            dump_f64(a.dump, "pred", out[0])
        if constrained:
            dump_f64(a.dump, "moved", moved.astype(float))

    finish(a.result, res, times)


if __name__ == "__main__":
    main()
