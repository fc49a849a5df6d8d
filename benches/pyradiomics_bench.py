#!/usr/bin/env python3
"""PyRadiomics side of the radiomics benchmark (benches/radiomics.mjs drives it).

  python pyradiomics_bench.py prepare DATA_DIR SHARED_PYRADIOMICS_DIR
      writes DATA_DIR/<case>_{image,mask}.nii.gz for brain1, brain2, breast1 (the NRRD test
      cases, voxel data unchanged) and the synthetic case 'synthetic-128' (a 144x144x144 int16
      volume of smooth random texture with a 128^3-voxel box ROI), so that
      both contenders read the same files.
  python pyradiomics_bench.py run DATA_DIR CASE SAMPLES WARMUP OUT_JSON
      loads the case's image and mask (not timed), then times
      RadiomicsFeatureExtractor(glcm + glrlm, default settings).execute(image, mask) SAMPLES
      times after WARMUP untimed runs; writes times (s) and the features to OUT_JSON.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

import radiomics
from radiomics import featureextractor

radiomics.setVerbosity(60)
CASES = ["brain1", "brain2", "breast1"]


def prepare(data, shared):
    data.mkdir(parents=True, exist_ok=True)
    for c in CASES:
        for src, dst in (("image", "image"), ("label", "mask")):
            out = data / f"{c}_{dst}.nii.gz"
            if not out.exists():
                sitk.WriteImage(sitk.ReadImage(str(shared / f"{c}_{src}.nrrd")), str(out))
    img_p = data / "synthetic-128_image.nii.gz"
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
        sitk.WriteImage(msk, str(data / "synthetic-128_mask.nii.gz"))


def run(data, case, samples, warmup, out):
    img = sitk.ReadImage(str(data / f"{case}_image.nii.gz"))
    msk = sitk.ReadImage(str(data / f"{case}_mask.nii.gz"))
    ext = featureextractor.RadiomicsFeatureExtractor()
    ext.disableAllFeatures()
    ext.enableFeatureClassByName("glcm")
    ext.enableFeatureClassByName("glrlm")
    res = None
    for _ in range(warmup):
        res = ext.execute(img, msk)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        res = ext.execute(img, msk)
        times.append(time.perf_counter() - t0)
    feats = {k: float(v) for k, v in res.items() if k.startswith("original_gl")}
    Path(out).write_text(json.dumps({"times": times, "features": feats, "version": radiomics.__version__}))


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        run(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
