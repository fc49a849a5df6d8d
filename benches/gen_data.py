"""Generate the bench inputs into benches/data/ (git-ignored), deterministically.

DTI inputs (`dti-*`): one of DIPY's small reference series from ../shared/reference/dipy,
tiled along the three spatial axes with np.tile (the same block repeated; no randomness),
written as an uncompressed NIfTI-1 .nii in the source's stored dtype, with its bval/bvec
copied.

DKI input (`dki-3shell`): a multi-compartment kurtosis phantom simulated on the gradient
table ../shared/reference/dipy/gtab_3shell.txt (one `bx,by,bz` row per volume: the unit
direction scaled by the b-value), with Rician noise, stored as int16, with FSL .bval/.bvec
written from the table; numpy default_rng with a fixed seed (see PHANTOMS and dki_phantom).
`dki-3shell-cls` is the same phantom on a 13x10x10 grid (another seed) for the constrained fits.

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
    # NLLS / RESTORE: DIPY costs ~0.1 ms (NLLS) and ~1 ms (RESTORE) per voxel, so a smaller tiling
    "dti-101-outliers": ("small_101D", "small_101D.nii.gz", (5, 3, 2)),
}

# Inputs with outliers added after tiling: name -> settings. In every voxel, `fraction` of the
# diffusion-weighted volumes (rounded, at least one) chosen at random are corrupted: half of them
# (rounded down) are dropouts (signal x 0.1), the others spikes (signal x 3, clipped to the dtype).
# numpy default_rng(seed); recorded in the manifest.
OUTLIERS = {
    "dti-101-outliers": {"fraction": 0.03, "seed": 20261206},
}

# Simulated inputs: name -> settings (all of them are recorded in the manifest; a change of
# any of them, of the gradient table or of PHANTOM_VERSION regenerates the input).
PHANTOM_VERSION = 1
PHANTOMS = {
    "dki-3shell": {
        "gtab": "gtab_3shell.txt",
        "shape": [40, 25, 20],
        "seed": 20261123,
        "s0": 1000.0,
        "snr": 30.0,
        "voxel_mm": 2.0,
    },
    # the constrained fits (CLS/CWLS) cost milliseconds per voxel on both sides: the same
    # phantom on a smaller grid (1,300 voxels)
    "dki-3shell-cls": {
        "gtab": "gtab_3shell.txt",
        "shape": [13, 10, 10],
        "seed": 20261124,
        "s0": 1000.0,
        "snr": 30.0,
        "voxel_mm": 2.0,
    },
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(msg):
    print(f"[gen_data] {msg}", file=sys.stderr, flush=True)


def up_to_date(name, out, manifest, **expect):
    """NAME's .nii, .bval and .bvec exist, the .nii has the size the manifest says and the
    manifest entry has the values of `expect` (source hash, settings, generator version...)."""
    nii = out / f"{name}.nii"
    old = manifest.get(name, {})
    fresh = (
        all((out / f"{name}.{ext}").is_file() for ext in ("nii", "bval", "bvec"))
        and all(old.get(k) == v for k, v in expect.items())
        and old.get("bytes") == nii.stat().st_size
    )
    if fresh:
        log(f"{name}: up to date ({nii})")
    return fresh


def add_outliers(data, bvals, spec):
    """A copy of DATA [x, y, z, nvol] with, in every voxel, round(fraction * n_dw) (at least one)
    diffusion-weighted volumes corrupted: the first half (rounded down) of the chosen volumes
    dropped to 10 %, the others spiked x 3, clipped to the dtype's range."""
    rng = np.random.default_rng(spec["seed"])
    dw = np.flatnonzero(np.asarray(bvals).ravel() > 50)
    k = max(1, int(round(spec["fraction"] * dw.size)))
    flat = data.reshape(-1, data.shape[-1]).astype(np.float64)
    for v in range(flat.shape[0]):
        pick = rng.choice(dw, size=k, replace=False)
        flat[v, pick[: k // 2]] *= 0.1
        flat[v, pick[k // 2 :]] *= 3.0
    info = np.iinfo(data.dtype)
    out = np.clip(np.rint(flat), info.min, info.max).astype(data.dtype)
    return out.reshape(data.shape)


def save_nii(img, nii):
    """Writes the image aside, then renames it: no half-written input."""
    tmp = nii.with_suffix(".tmp.nii")
    nib.save(img, str(tmp))
    tmp.replace(nii)


def file_facts(nii, data, version):
    """The manifest fields every input has, after its own."""
    return {
        "shape": list(data.shape),
        "dtype": str(data.dtype),
        "voxels": int(np.prod(data.shape[:3])),
        "volumes": int(data.shape[3]),
        "data_mib": data.nbytes / 2**20,
        "bytes": nii.stat().st_size,
        "sha256": sha256(nii),
        "generator_version": version,
    }


def read_gtab(path):
    """bvals, unit bvecs [nvol, 3] of a `bx,by,bz`-per-row table (b = row norm; b=0 rows zero)."""
    g = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    if g.ndim != 2 or g.shape[1] != 3:
        sys.exit(f"{path}: expected one `bx,by,bz` row per gradient, got shape {g.shape}")
    bvals = np.linalg.norm(g, axis=1)
    bvecs = np.zeros_like(g)
    nz = bvals > 0
    bvecs[nz] = g[nz] / bvals[nz, None]
    return bvals, bvecs


def dki_phantom(bvals, bvecs, shape, seed, s0, snr):
    """A multi-compartment kurtosis phantom, [*shape, nvol] float64 before noise and int16 after.

    Every voxel mixes three tissues with smooth partial-volume fractions:
    - white-matter-like: an intra-axonal stick (fraction ~0.45, [2.2, 0.05, 0.05] um^2/ms) plus a
      hindered extra-axonal zero-mean tensor ([1.8, 0.6, 0.6] um^2/ms) sharing a smoothly
      varying direction (+ a little per-voxel jitter); where z is high a second, orthogonal
      bundle crosses it (up to half of the white matter);
    - grey-matter-like: two isotropic pools (~60 % at 1.1 um^2/ms, ~40 % at 0.25 um^2/ms);
    - CSF: free water, 3.0 um^2/ms, in a ventricle-like ellipsoid with a partial-volume rim.
    S0 ~ s0 with a smooth +-10 % field; Rician noise of sigma = s0 / snr; rounded to int16.
    """
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    x, y, z = np.meshgrid(
        (np.arange(nx) + 0.5) / nx, (np.arange(ny) + 0.5) / ny, (np.arange(nz) + 0.5) / nz, indexing="ij"
    )
    # flatten in NIfTI order (first axis fastest), so that reshape(order="F") undoes it
    x, y, z = (a.ravel(order="F") for a in (x, y, z))
    n = x.size

    # tissue fractions
    r = np.sqrt(((x - 0.5) / 0.15) ** 2 + ((y - 0.5) / 0.3) ** 2 + ((z - 0.5) / 0.3) ** 2)
    f_csf = np.clip((1.2 - r) / 0.4, 0.0, 1.0)
    field = np.sin(2 * np.pi * 1.3 * x) + np.cos(2 * np.pi * 0.9 * y + 1.0) + 0.5 * np.sin(2 * np.pi * 0.7 * z)
    w = 1.0 / (1.0 + np.exp(-3.0 * field))
    f_wm = (1.0 - f_csf) * w
    f_gm = (1.0 - f_csf) * (1.0 - w)

    # white matter: principal direction field + jitter, optional crossing bundle
    theta = np.pi / 2 * (0.3 + 0.7 * y) + 0.2 * np.sin(3 * z) + rng.normal(0.0, 0.1, n)
    phi = 2 * np.pi * 0.8 * x + 0.5 * np.cos(2 * np.pi * z) + rng.normal(0.0, 0.1, n)
    u1 = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1)
    u2 = np.cross(u1, np.array([0.3, -0.4, 0.866]))
    u2 /= np.linalg.norm(u2, axis=1, keepdims=True)
    cross = 0.5 * np.clip((z - 0.6) / 0.2, 0.0, 1.0)
    f_ia = np.clip(rng.normal(0.45, 0.05, n), 0.3, 0.6)

    def bundle(u):
        c2 = (u @ bvecs.T) ** 2  # cos^2 of the angle to each gradient, [n, nvol]
        stick = np.exp(-bvals * (0.05e-3 + (2.2e-3 - 0.05e-3) * c2))
        hindered = np.exp(-bvals * (0.6e-3 + (1.8e-3 - 0.6e-3) * c2))
        return f_ia[:, None] * stick + (1.0 - f_ia[:, None]) * hindered

    wm = (1.0 - cross[:, None]) * bundle(u1) + cross[:, None] * bundle(u2)
    p_fast = np.clip(rng.normal(0.6, 0.05, n), 0.45, 0.75)[:, None]
    gm = p_fast * np.exp(-bvals * 1.1e-3) + (1.0 - p_fast) * np.exp(-bvals * 0.25e-3)
    csf = np.exp(-bvals * 3.0e-3)[None, :]
    s0_map = s0 * (1.0 + 0.1 * np.sin(2 * np.pi * (x + 0.5 * y)) * np.cos(2 * np.pi * z))
    clean = s0_map[:, None] * (f_wm[:, None] * wm + f_gm[:, None] * gm + f_csf[:, None] * csf)

    sigma = s0 / snr
    noisy = np.hypot(clean + rng.normal(0.0, sigma, clean.shape), rng.normal(0.0, sigma, clean.shape))
    info = np.iinfo(np.int16)
    clipped = int(np.count_nonzero(noisy > info.max))
    data = np.clip(np.rint(noisy), 0, info.max).astype(np.int16)
    tissue = {
        "wm_voxels (f_wm > 0.5)": int(np.count_nonzero(f_wm > 0.5)),
        "gm_voxels (f_gm > 0.5)": int(np.count_nonzero(f_gm > 0.5)),
        "csf_voxels (f_csf > 0.5)": int(np.count_nonzero(f_csf > 0.5)),
        "crossing_voxels (second bundle > 10 % of wm, f_wm > 0.5)": int(np.count_nonzero((cross > 0.1) & (f_wm > 0.5))),
        "sigma": sigma,
        "clipped_to_int16_max": clipped,
    }
    return data.reshape(tuple(shape) + (bvals.size,), order="F"), tissue


def write_phantom(name, spec, shared, out, manifest):
    gpath = shared / spec["gtab"]
    if not gpath.is_file():
        sys.exit(f"bench inputs need ../shared/reference/dipy: missing {gpath}")
    src_hash = sha256(gpath)
    nii = out / f"{name}.nii"
    if up_to_date(name, out, manifest, source_sha256=src_hash, settings=spec, generator_version=PHANTOM_VERSION):
        return
    bvals, bvecs = read_gtab(gpath)
    data, tissue = dki_phantom(bvals, bvecs, spec["shape"], spec["seed"], spec["s0"], spec["snr"])
    vox = spec["voxel_mm"]
    affine = np.diag([vox, vox, vox, 1.0])
    affine[:3, 3] = -vox * (np.asarray(spec["shape"]) - 1) / 2
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(np.int16)
    img.header.set_xyzt_units("mm", "sec")
    save_nii(img, nii)
    # FSL: one line of b-values, three lines (x, y, z) of unit vectors; b=0 columns are zero
    (out / f"{name}.bval").write_text(" ".join(f"{b:.10g}" for b in bvals) + "\n")
    (out / f"{name}.bvec").write_text("\n".join(" ".join(f"{c:.10g}" for c in row) for row in bvecs.T) + "\n")
    manifest[name] = {
        "source": f"../shared/reference/dipy/{spec['gtab']}",
        "source_sha256": src_hash,
        "kind": "dki phantom (see benches/gen_data.py dki_phantom)",
        "settings": spec,
        "shells": {str(int(round(b, -2))): int(c) for b, c in zip(*np.unique(np.round(bvals, -2), return_counts=True))},
        "tissue": tissue,
        **file_facts(nii, data, PHANTOM_VERSION),
    }
    nvox = manifest[name]["voxels"]
    log(
        f"{name}: wrote {nii} {list(data.shape)} int16 ({nvox} voxels, {data.nbytes / 2**20:.1f} MiB), "
        f"phantom on {spec['gtab']}: {tissue}"
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


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
        if n not in INPUTS and n not in PHANTOMS:
            sys.exit(f"unknown input {n!r}; known: {', '.join([*INPUTS, *PHANTOMS])}")

    man_path = out / "manifest.json"
    try:
        manifest = json.loads(man_path.read_text())
    except (OSError, ValueError):
        manifest = {}

    for name in names:
        if name in PHANTOMS:
            write_phantom(name, PHANTOMS[name], shared, out, manifest)
            continue
        stem, src_file, reps = INPUTS[name]
        src = shared / src_file
        for p in (src, shared / f"{stem}.bval", shared / f"{stem}.bvec"):
            if not p.is_file():
                sys.exit(f"bench inputs need ../shared/reference/dipy: missing {p}")
        src_hash = sha256(src)
        nii = out / f"{name}.nii"
        spoil = OUTLIERS.get(name)
        extra = {"outliers": spoil} if spoil else {}
        if up_to_date(name, out, manifest, source_sha256=src_hash, tiling=list(reps), generator_version=GENERATOR_VERSION, **extra):
            continue

        img = nib.load(str(src))
        stored = img.header.get_data_dtype()
        # the stored integers, unscaled (both sources have no scl_slope/scl_inter)
        data = np.asanyarray(img.dataobj.get_unscaled())
        if data.dtype != stored:
            data = data.astype(stored)
        tiled = np.tile(data, tuple(reps) + (1,))
        if spoil:
            tiled = add_outliers(tiled, np.loadtxt(shared / f"{stem}.bval"), spoil)
        hdr = img.header.copy()
        hdr.set_data_dtype(stored)
        hdr.set_slope_inter(None, None)
        out_img = nib.Nifti1Image(tiled, img.affine, hdr)
        save_nii(out_img, nii)
        shutil.copyfile(shared / f"{stem}.bval", out / f"{name}.bval")
        shutil.copyfile(shared / f"{stem}.bvec", out / f"{name}.bvec")
        manifest[name] = {
            "source": f"../shared/reference/dipy/{src_file}",
            "source_sha256": src_hash,
            "source_shape": list(data.shape),
            "tiling": list(reps),
            **extra,
            **file_facts(nii, tiled, GENERATOR_VERSION),
        }
        nvox = manifest[name]["voxels"]
        log(
            f"{name}: wrote {nii} {list(tiled.shape)} {np.dtype(stored)} "
            f"({nvox} voxels, {tiled.nbytes / 2**20:.1f} MiB) = {src_file} tiled {'x'.join(map(str, reps))}"
        )
        man_path.write_text(json.dumps(manifest, indent=2) + "\n")

    print(json.dumps({n: manifest[n] for n in names}))


if __name__ == "__main__":
    main()
