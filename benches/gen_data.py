"""Generate the DTI bench inputs into benches/data/ (git-ignored), deterministically.

Each input is one of DIPY's small reference series from ../shared/reference/dipy, tiled
along the three spatial axes with np.tile (the same block repeated; no randomness), written
as an uncompressed NIfTI-1 .nii in the source's stored dtype, with its bval/bvec copied.

    python benches/gen_data.py --shared ../shared/reference/dipy --out benches/data [names...]

An input is regenerated only when its files or its manifest entry are missing or stale
(different source hash, tiling or generator version). Prints what it does on stderr and the
manifest (JSON) on stdout.
"""

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

GENERATOR_VERSION = 1

# name -> (source stem, source file, spatial tiling)
INPUTS = {
    "dti-64": ("small_64D", "small_64D.nii", (8, 8, 6)),
    "dti-101": ("small_101D", "small_101D.nii.gz", (10, 6, 4)),
    "dti-101x4": ("small_101D", "small_101D.nii.gz", (20, 12, 4)),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(msg):
    print(f"[gen_data] {msg}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    shared = Path(a.shared)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    names = a.names or list(INPUTS)
    for n in names:
        if n not in INPUTS:
            sys.exit(f"unknown input {n!r}; known: {', '.join(INPUTS)}")

    man_path = out / "manifest.json"
    try:
        manifest = json.loads(man_path.read_text())
    except (OSError, ValueError):
        manifest = {}

    for name in names:
        stem, src_file, reps = INPUTS[name]
        src = shared / src_file
        for p in (src, shared / f"{stem}.bval", shared / f"{stem}.bvec"):
            if not p.is_file():
                sys.exit(f"bench inputs need ../shared/reference/dipy: missing {p}")
        src_hash = sha256(src)
        nii = out / f"{name}.nii"
        bval = out / f"{name}.bval"
        bvec = out / f"{name}.bvec"
        old = manifest.get(name, {})
        if (
            nii.is_file()
            and bval.is_file()
            and bvec.is_file()
            and old.get("source_sha256") == src_hash
            and old.get("tiling") == list(reps)
            and old.get("generator_version") == GENERATOR_VERSION
            and old.get("bytes") == nii.stat().st_size
        ):
            log(f"{name}: up to date ({nii})")
            continue

        img = nib.load(str(src))
        stored = img.header.get_data_dtype()
        # the stored integers, unscaled (both sources have no scl_slope/scl_inter)
        data = np.asanyarray(img.dataobj.get_unscaled())
        if data.dtype != stored:
            data = data.astype(stored)
        tiled = np.tile(data, tuple(reps) + (1,))
        hdr = img.header.copy()
        hdr.set_data_dtype(stored)
        hdr.set_slope_inter(None, None)
        out_img = nib.Nifti1Image(tiled, img.affine, hdr)
        tmp = out / f"{name}.tmp.nii"  # written aside, then renamed: no half-written input
        nib.save(out_img, str(tmp))
        tmp.replace(nii)
        shutil.copyfile(shared / f"{stem}.bval", bval)
        shutil.copyfile(shared / f"{stem}.bvec", bvec)
        nvox = int(np.prod(tiled.shape[:3]))
        manifest[name] = {
            "source": f"../shared/reference/dipy/{src_file}",
            "source_sha256": src_hash,
            "source_shape": list(data.shape),
            "tiling": list(reps),
            "shape": list(tiled.shape),
            "dtype": str(np.dtype(stored)),
            "voxels": nvox,
            "volumes": int(tiled.shape[3]),
            "data_mib": tiled.nbytes / 2**20,
            "bytes": nii.stat().st_size,
            "sha256": sha256(nii),
            "generator_version": GENERATOR_VERSION,
        }
        log(
            f"{name}: wrote {nii} {list(tiled.shape)} {np.dtype(stored)} "
            f"({nvox} voxels, {tiled.nbytes / 2**20:.1f} MiB) = {src_file} tiled {'x'.join(map(str, reps))}"
        )
        man_path.write_text(json.dumps(manifest, indent=2) + "\n")

    print(json.dumps({n: manifest[n] for n in names}))


if __name__ == "__main__":
    main()
