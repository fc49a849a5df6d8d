#!/usr/bin/env python3
"""PyRadiomics contender of the radiomics benchmark (benches/radiomics.mjs drives it).

  python pyradiomics_bench.py prepare --data DATA_DIR --shared SHARED_PYRADIOMICS_DIR
      writes DATA_DIR/<case>_{image,mask}.nii.gz for brain1, brain2, breast1 (the NRRD test
      cases, voxel data unchanged) and the synthetic case 'synthetic-128' (a 144x144x144 int16
      volume of smooth random texture with a 128^3-voxel box ROI), so that both contenders
      read the same files; prints the cases and their files as one JSON line.
  python pyradiomics_bench.py run --data DATA_DIR --case CASE [--classes glcm,glrlm]
                                 [--settings JSON] --samples N --warmup N --result OUT_JSON
      loads the case's image and mask (not timed), then times
      RadiomicsFeatureExtractor(those classes, default settings updated with --settings, e.g.
      '{"resampledPixelSpacing": [2, 2, 2]}').execute(image, mask) N times
      after the warm-up runs; writes times (s), peak RSS and the features to OUT_JSON.
      --voxel-based: execute(image, mask, voxelBased=True) (PyRadiomics' default kernelRadius 1,
      maskedKernel, initValue, one batch); the features are the maps' values at the ROI's
      voxels, in numpy's C order (z, y, x) over the map's box (NaN as null).

Case 'brain1-sub' (voxel-based benchmark): brain1's image with its label restricted to a box of
5 x 13 x 13 voxels (z, y, x) around the ROI's median voxel (636 ROI voxels): PyRadiomics'
voxel-based GLCM takes about a minute there, hours on the whole ROI.
"""

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

import radiomics
from common import contender_parser, finish, make_log, result_base, time_samples
from radiomics import featureextractor

radiomics.setVerbosity(60)
CASES = ["brain1", "brain2", "breast1"]
SYNTHETIC = "synthetic-128"
SUB = "brain1-sub"
log = make_log("pyradiomics")


def files(data, case):
    image = "brain1" if case == SUB else case
    return {"image": str(data / f"{image}_image.nii.gz"), "mask": str(data / f"{case}_mask.nii.gz")}


def prepare(data, shared):
    data.mkdir(parents=True, exist_ok=True)
    for c in CASES:
        for src, dst in (("image", "image"), ("label", "mask")):
            out = data / f"{c}_{dst}.nii.gz"
            if not out.exists():
                sitk.WriteImage(sitk.ReadImage(str(shared / f"{c}_{src}.nrrd")), str(out))
    img_p = data / f"{SYNTHETIC}_image.nii.gz"
    if not img_p.exists():
        rng = np.random.default_rng(128)
        n = 144
        a = rng.normal(size=(n, n, n))
        for ax in range(3):
            a = a + 0.8 * np.roll(a, 1, axis=ax) + 0.5 * np.roll(a, 2, axis=ax)
        a = (a - a.mean()) / a.std()
        vol = np.round(400 + 120 * a).astype(np.int16)
        m = np.zeros((n, n, n), dtype=np.uint8)
        m[8:136, 8:136, 8:136] = 1  # 128^3 voxels
        img = sitk.GetImageFromArray(vol)
        img.SetSpacing((0.8, 0.8, 1.0))
        msk = sitk.GetImageFromArray(m)
        msk.CopyInformation(img)
        sitk.WriteImage(img, str(img_p))
        sitk.WriteImage(msk, str(data / f"{SYNTHETIC}_mask.nii.gz"))
    sub_p = data / f"{SUB}_mask.nii.gz"
    if not sub_p.exists():
        msk = sitk.ReadImage(str(shared / "brain1_label.nrrd"))
        m = sitk.GetArrayFromImage(msk) == 1
        c = [int(np.median(v)) for v in np.where(m)]
        box = np.zeros_like(m)
        box[c[0] - 2:c[0] + 3, c[1] - 6:c[1] + 7, c[2] - 6:c[2] + 7] = True
        sub = sitk.GetImageFromArray((m & box).astype(np.uint8))
        sub.CopyInformation(msk)
        sitk.WriteImage(sub, str(sub_p))
    print(json.dumps({c: files(data, c) for c in [*CASES, SYNTHETIC, SUB]}))


def roi_values(maps, mask, r):
    """Each map's values at the ROI's voxels, C order over the map's box (the ROI's bounding box
    grown by r and clipped to the image, as PyRadiomics crops)."""
    m = sitk.GetArrayFromImage(mask) == 1
    idx = np.where(m)
    lo = [max(int(v.min()) - r, 0) for v in idx]
    hi = [min(int(v.max()) + r, n - 1) for v, n in zip(idx, m.shape)]
    sub = m[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1]
    # NaN (JSON has none) as null
    return {k: [None if np.isnan(x) else float(x) for x in sitk.GetArrayFromImage(v)[sub]]
            for k, v in maps.items() if not k.startswith("diagnostics_")}


def run(a):
    res = result_base("pyradiomics", (radiomics, np, sitk), case=a.case)
    f = files(Path(a.data), a.case)
    img = sitk.ReadImage(f["image"])
    msk = sitk.ReadImage(f["mask"])
    ext = featureextractor.RadiomicsFeatureExtractor(**json.loads(a.settings))
    ext.disableAllFeatures()
    for c in a.classes.split(","):
        ext.enableFeatureClassByName(c)
    if a.image_types:
        ext.disableAllImageTypes()
        for k, v in json.loads(a.image_types).items():
            if "sigma" in v:  # voxelkit's spelled floats ("1.0") as Python floats
                v = {**v, "sigma": [float(x) for x in v["sigma"]]}
            ext.enableImageTypeByName(k, customArgs=v)
    vb = bool(a.voxel_based)
    times, out = time_samples(a, lambda: ext.execute(img, msk, voxelBased=vb), lambda t, kind, _: f"{a.case} {a.classes} {kind}: {t:.3f} s", log=log)
    if vb:
        res["features"] = roi_values(out, msk, int(json.loads(a.settings).get("kernelRadius", 1)))
    else:
        res["features"] = {k: float(v) for k, v in out.items() if not k.startswith("diagnostics_")}
    finish(a.result, res, times)


def main():
    ap = contender_parser(("prepare", "run"), dmri=False, result_required=False)
    ap.add_argument("--data", required=True)
    ap.add_argument("--shared")
    ap.add_argument("--case")
    ap.add_argument("--classes", default="glcm,glrlm")
    ap.add_argument("--settings", default="{}")
    ap.add_argument("--image-types", help="JSON imageType block (default: Original only)")
    ap.add_argument("--voxel-based", action="store_true", help="voxel-based extraction (maps)")
    a = ap.parse_args()
    if a.mode == "prepare":
        prepare(Path(a.data), Path(a.shared))
    else:
        run(a)


if __name__ == "__main__":
    main()
