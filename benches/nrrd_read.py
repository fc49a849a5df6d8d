"""pynrrd and SimpleITK side of the NRRD read benchmark (benches/nrrd_read.mjs drives it).

    python nrrd_read.py --data FILE.nrrd --samples 7 --warmup 1 --result out.json

Times reading the file into an array in memory, warm-up runs then timed samples, with
pynrrd (nrrd.read) and SimpleITK (ReadImage + GetArrayViewFromImage, one ITK thread). The result
JSON has both contenders' times and, for the correctness check, the sum of each one's voxels in
file order (numpy's cumulative sum, sequential like the runner's).
"""

from common import contender_parser, finish, make_log, result_base, time_samples


def main():
    ap = contender_parser(dmri=False)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()

    import nrrd
    import numpy as np
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    log = make_log("pynrrd/SimpleITK")
    res = result_base("pynrrd+SimpleITK", (nrrd, np, sitk))
    times, arr = time_samples(a, lambda: nrrd.read(a.data)[0], lambda t, kind, _: f"pynrrd {kind}: {t * 1e3:.1f} ms", log=log)
    res["pynrrd"] = {"times_s": times, "sum": float(np.asarray(arr, dtype=np.float64).flatten(order="F").cumsum()[-1])}
    arr = None

    def sitk_read():
        img = sitk.ReadImage(a.data)
        return img, sitk.GetArrayViewFromImage(img)  # the view lives as long as the image

    times, (img, view) = time_samples(a, sitk_read, lambda t, kind, _: f"SimpleITK {kind}: {t * 1e3:.1f} ms", log=log)
    res["simpleitk"] = {"times_s": times, "sum": float(np.asarray(view, dtype=np.float64).T.flatten(order="F").cumsum()[-1])}
    finish(a.result, res, [])


if __name__ == "__main__":
    main()
