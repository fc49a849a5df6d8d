#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the shared reference data (read in place, never copied into
# the repository; fuzz/corpus/ is git-ignored), the committed corpora (fuzz/corpus-min,
# fuzz/corpus-synthetic) and the synthetic seeds of fuzz/seed-synthetic.py. Re-running replaces
# the seeds.
#
#   bash fuzz/seed.sh [REFERENCE_DIR]     (default: ../shared/reference beside the repository)
#
# nifti_read:   every reference NIfTI decompressed and truncated to its first 64 KiB, the small
#               .nii.gz files as they are (<= 64 KiB), and, when python3 is present, small
#               *valid* files rebuilt from each reference header: NIfTI-1 and NIfTI-2, little-
#               and big-endian, raw and gzip (a 2x3x2 volume of the file's own first voxels).
# nifti_header: the first 600 bytes of every nifti_read seed that is not gzip.
# bvals_bvecs:  each .bval and its .bvec joined by one 0 byte (plus gtab_3shell.txt as an
#               N x 3 comma-separated bvec table with a column of b-values).
# nrrd_read:    every reference .nrrd truncated to its first 64 KiB, the attached files of
#               fixtures/nrrd/files (in the repository), and, when python3 is present, small
#               valid files rebuilt from each reference header (sizes 2 3 2) in raw, gzip, ascii
#               and hex, little- and big-endian, with and without a leading vector axis.
set -euo pipefail

REF=${1:-$(cd "$(dirname "$0")/../.." && pwd)/shared/reference}
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=$HERE/corpus
MAX=65536

TARGETS="nifti_read nifti_header bvals_bvecs nrrd_read nrrd_detached radiomics_settings syn_options"
for t in $TARGETS; do
    rm -rf "${CORPUS:?}/$t"
    mkdir -p "$CORPUS/$t"
    # the minimised corpus kept in the repository (fuzz/corpus-min, written by fuzz/run.sh)
    if [ -d "$HERE/corpus-min/$t" ]; then
        cp "$HERE/corpus-min/$t/"* "$CORPUS/$t/" 2>/dev/null || true
    fi
    # the I/O targets' minimised corpora grown from synthetic seeds only (committed)
    if [ -d "$HERE/corpus-synthetic/$t" ]; then
        cp "$HERE/corpus-synthetic/$t/"* "$CORPUS/$t/" 2>/dev/null || true
    fi
done
# synthetic seeds of the I/O targets (no reference data): every NIfTI/NRRD layout and type
if command -v python3 >/dev/null 2>&1; then
    python3 "$HERE/seed-synthetic.py" "$CORPUS"
fi

# --- radiomics settings (JSON objects as extractFeatures and parameter files give them) -----
i=0
for j in '{}' 'null' '{"binWidth": 25}' '{"binCount": 16}' '{"binWidth": 0.5, "classes": ["glcm"]}' \
    '{"classes": ["glrlm"], "force2D": true, "force2Ddimension": 0}' \
    '{"distances": [1, 2, 3], "symmetricalGLCM": false, "weightingNorm": "euclidean"}' \
    '{"weightingNorm": "manhattan", "classes": ["glcm", "glrlm"]}' \
    '{"resegmentRange": [10, 100], "resegmentMode": "absolute"}' \
    '{"resegmentRange": [-2, 2], "resegmentMode": "sigma"}' \
    '{"normalize": true, "normalizeScale": 100, "removeOutliers": 3}' \
    '{"ibsi": true, "aggregation": "3D_merged"}' '{"ibsi": true, "aggregation": "2D_slice_merged"}' \
    '{"aggregation": "2D_averaged", "force2D": true}' '{"aggregation": "3D_averaged"}' \
    '{"minimumROIDimensions": 1, "minimumROISize": 1}' '{"label": 1, "additionalInfo": false}' \
    '{"resampledPixelSpacing": null, "interpolator": "sitkBSpline", "padDistance": 5}' \
    '{"preCrop": true, "correctMask": false, "geometryTolerance": 1e-6}' \
    '{"classes": ["firstorder", "shape", "glszm", "gldm", "ngtdm"], "voxelArrayShift": 2000, "gldm_a": 0}'; do
    printf '%s' "$j" > "$CORPUS/radiomics_settings/seed_$i.json"
    i=$((i + 1))
done


if [ ! -d "$REF" ]; then
    echo "reference data absent ($REF): seeds are fuzz/corpus-min and the settings seeds only"
    for t in $TARGETS; do echo "$t: $(ls "$CORPUS/$t" | wc -l) seeds"; done
    exit 0
fi

# --- NIfTI ---------------------------------------------------------------------------------
nii=()
for f in "$REF"/dipy/*.nii "$REF"/dipy/*.nii.gz "$REF"/ibsi1/*/image.nii.gz "$REF"/ibsi1/*/mask.nii.gz; do
    [ -f "$f" ] && nii+=("$f")
done
if [ ${#nii[@]} -eq 0 ]; then
    echo "no NIfTI files under $REF" >&2
    exit 1
fi
for f in "${nii[@]}"; do
    # Name after the path below REF: dipy_small_25, ibsi1_ct_phantom_mask, ...
    name=$(echo "${f#"$REF"/}" | sed -e 's/\.nii\(\.gz\)\{0,1\}$//' -e 's#/#_#g')
    # gzip -dc -f passes uncompressed files through; head closes the pipe early (SIGPIPE).
    { gzip -dc -f "$f" || true; } | head -c $MAX > "$CORPUS/nifti_read/$name.nii"
    if [[ $f == *.gz ]] && [ "$(stat -c %s "$f")" -le $MAX ]; then
        cp "$f" "$CORPUS/nifti_read/$name.nii.gz"
        chmod u+w "$CORPUS/nifti_read/$name.nii.gz"
    fi
done

if command -v python3 >/dev/null 2>&1; then
    python3 - "$CORPUS/nifti_read" <<'PY'
import glob, gzip, os, struct, sys

out = sys.argv[1]
SIZES = {2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8}
for path in sorted(glob.glob(os.path.join(out, "*.nii"))):
    b = open(path, "rb").read()
    if len(b) < 352 or struct.unpack("<i", b[:4])[0] != 348:
        continue
    dt = struct.unpack("<h", b[70:72])[0]
    if dt not in SIZES:
        continue
    f32 = lambda off, n: list(struct.unpack("<%df" % n, b[off:off + 4 * n]))
    pixdim, vox = f32(76, 8), int(struct.unpack("<f", b[108:112])[0])
    slope, inter = f32(112, 2)
    qcode, scode = struct.unpack("<hh", b[252:256])
    quat, qoff, srow = f32(256, 3), f32(268, 3), f32(280, 12)
    dim = [3, 2, 3, 2, 1, 1, 1, 1]
    nbytes = 12 * SIZES[dt]
    data = b[vox:vox + nbytes].ljust(nbytes, b"\0")
    base = os.path.basename(path)[:-4]
    for be in (False, True):
        e = ">" if be else "<"
        # Element bytes in the file's order.
        sz = SIZES[dt]
        d = b"".join(data[i:i + sz][::-1] for i in range(0, nbytes, sz)) if be else data
        h1 = bytearray(352)
        struct.pack_into(e + "i", h1, 0, 348)
        struct.pack_into(e + "8h", h1, 40, *dim)
        struct.pack_into(e + "hh", h1, 70, dt, 8 * sz)
        struct.pack_into(e + "8f", h1, 76, *pixdim)
        struct.pack_into(e + "3f", h1, 108, 352.0, slope, inter)
        h1[123] = 2
        struct.pack_into(e + "hh", h1, 252, qcode, scode)
        struct.pack_into(e + "18f", h1, 256, *quat, *qoff, *srow)
        h1[344:348] = b"n+1\0"
        h2 = bytearray(544)
        struct.pack_into(e + "i", h2, 0, 540)
        h2[4:12] = b"n+2\0\r\n\x1a\n"
        struct.pack_into(e + "hh", h2, 12, dt, 8 * sz)
        struct.pack_into(e + "8q", h2, 16, *dim)
        struct.pack_into(e + "8d", h2, 104, *pixdim)
        struct.pack_into(e + "q", h2, 168, 544)
        struct.pack_into(e + "2d", h2, 176, slope, inter)
        struct.pack_into(e + "ii", h2, 344, qcode, scode)
        struct.pack_into(e + "18d", h2, 352, *quat, *qoff, *srow)
        struct.pack_into(e + "i", h2, 500, 2)
        for v, h in ((1, h1), (2, h2)):
            tag = "%s_v%d_%s" % (base, v, "be" if be else "le")
            blob = bytes(h) + d
            open(os.path.join(out, tag + "_small.nii"), "wb").write(blob)
            open(os.path.join(out, tag + "_small.nii.gz"), "wb").write(gzip.compress(blob, 1))
PY
else
    echo "python3 not found: skipping the small rebuilt seeds" >&2
fi

for f in "$CORPUS"/nifti_read/*; do
    if [ "$(head -c 2 "$f" | od -An -tx1 | tr -d ' ')" != "1f8b" ]; then
        head -c 600 "$f" > "$CORPUS/nifti_header/$(basename "$f")"
    fi
done

# --- bval / bvec -----------------------------------------------------------------------------
for bval in "$REF"/dipy/*.bval; do
    bvec=${bval%.bval}.bvec
    [ -f "$bvec" ] || continue
    { cat "$bval"; printf '\0'; cat "$bvec"; } > "$CORPUS/bvals_bvecs/$(basename "${bval%.bval}")"
done
if [ -f "$REF/dipy/gtab_3shell.txt" ]; then
    n=$(grep -c . "$REF/dipy/gtab_3shell.txt")
    { for _ in $(seq "$n"); do echo 1000; done; printf '\0'; cat "$REF/dipy/gtab_3shell.txt"; } \
        > "$CORPUS/bvals_bvecs/gtab_3shell"
fi

# --- NRRD ------------------------------------------------------------------------------------
for f in "$REF"/pyradiomics/*.nrrd; do
    [ -f "$f" ] || continue
    head -c $MAX "$f" > "$CORPUS/nrrd_read/ref_$(basename "$f")"
done
for f in "$HERE"/../fixtures/nrrd/files/*.nrrd; do
    [ -f "$f" ] && cp "$f" "$CORPUS/nrrd_read/fixture_$(basename "$f")" && chmod u+w "$CORPUS/nrrd_read/fixture_$(basename "$f")"
done
if command -v python3 >/dev/null 2>&1; then
    python3 - "$CORPUS/nrrd_read" <<'PY'
import glob, gzip, os, struct, sys

out = sys.argv[1]
SIZE = {"short": 2, "int": 4, "unsigned short": 2, "unsigned char": 1, "float": 4, "double": 8}
for path in sorted(glob.glob(os.path.join(out, "ref_*.nrrd"))):
    b = open(path, "rb").read()
    head = b[: b.index(b"\n\n")].decode()
    lines = [l for l in head.split("\n") if not l.startswith(("sizes:", "encoding:", "endian:"))]
    t = [l for l in lines if l.startswith("type:")][0].split(": ")[1]
    sz = SIZE.get(t, 2)
    vals = list(range(-3, 9))
    base = os.path.basename(path)[4:-5]
    for enc in ("raw", "gzip", "ascii", "hex"):
        for be in (False, True):
            le = "<>"[be]
            fmt = {1: "b", 2: "h", 4: "i", 8: "q"}[sz] if t not in ("float", "double") else {4: "f", 8: "d"}[sz]
            if t.startswith("unsigned"):
                fmt = fmt.upper()
                vv = [abs(v) for v in vals]
            else:
                vv = vals
            raw = b"".join(struct.pack(le + fmt, v) for v in vv)
            if enc == "raw":
                data = raw
            elif enc == "gzip":
                data = gzip.compress(raw, 1, mtime=0)
            elif enc == "ascii":
                data = " ".join(str(v) for v in vv).encode() + b"\n"
            else:
                data = raw.hex().encode() + b"\n"
            extra = ["sizes: 2 3 2", "encoding: " + enc, "endian: " + ("big" if be else "little")]
            hdr = ("\n".join(lines + extra) + "\n\n").encode()
            open(os.path.join(out, "%s_%s_%s.nrrd" % (base, enc, "be" if be else "le")), "wb").write(hdr + data)
    # a leading vector axis
    vec = [l for l in lines if not l.startswith(("dimension:", "space directions:", "kinds:"))]
    vec += ["dimension: 4", "sizes: 3 2 2 1", "space directions: none (1,0,0) (0,1,0) (0,0,1)",
            "kinds: vector domain domain domain", "encoding: raw", "endian: little"]
    raw = bytes(12 * sz)
    open(os.path.join(out, "%s_vector.nrrd" % base), "wb").write(("\n".join(vec) + "\n\n").encode() + raw)
PY
fi

for t in $TARGETS; do
    echo "$t: $(ls "$CORPUS/$t" | wc -l) seeds, $(du -sk "$CORPUS/$t" | cut -f1) KiB"
done
