#!/usr/bin/env python3
"""SimpleITK contender of benches/resample.sh: PyRadiomics' imageoperations.resampleImage (the
grid rule, then SimpleITK's ResampleImageFilter for the image and the mask) on IMAGE and MASK,
timed as crates/radiomics/examples/resample_bench.rs times voxelkit (one warm-up, median of N).

  python resample_sitk.py IMAGE MASK [--spacing 2,2,2] [--interpolator sitkBSpline] [--samples 7]
"""
import argparse
import json
import time

import numpy as np
import SimpleITK as sitk

import radiomics
from radiomics import imageoperations

radiomics.setVerbosity(60)
ap = argparse.ArgumentParser()
ap.add_argument("image")
ap.add_argument("mask")
ap.add_argument("--spacing", default="2,2,2")
ap.add_argument("--interpolator", default="sitkBSpline")
ap.add_argument("--samples", type=int, default=7)
a = ap.parse_args()
img = sitk.ReadImage(a.image)
msk = sitk.Cast(sitk.ReadImage(a.mask), sitk.sitkUInt32)
kw = {"resampledPixelSpacing": [float(v) for v in a.spacing.split(",")], "interpolator": a.interpolator, "label": 1}
times = []
for k in range(a.samples + 1):
    t = time.perf_counter()
    ri, rm = imageoperations.resampleImage(img, msk, **kw)
    dt = time.perf_counter() - t
    if k > 0:
        times.append(dt)
times.sort()
ia, ma = sitk.GetArrayFromImage(ri), sitk.GetArrayFromImage(rm)
print(json.dumps({"contender": "SimpleITK", "version": sitk.Version.VersionString(), "threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
                  "median": times[len(times) // 2], "min": times[0], "max": times[-1], "samples": len(times),
                  "shape": list(ri.GetSize()), "imageSum": float(ia.astype(np.float64).sum()), "maskSum": float(ma.astype(np.float64).sum())}))
