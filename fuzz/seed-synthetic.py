#!/usr/bin/env python3
"""Synthetic seeds of the I/O fuzz targets (nifti_read, nifti_header, nrrd_read, bvals_bvecs),
built from nothing but this script, so that their minimised corpora can be kept in the
repository (the seeds of fuzz/seed.sh are fragments of ../shared/reference, which stays out).

    python3 fuzz/seed-synthetic.py OUT_DIR      # writes OUT_DIR/<target>/<name>

NIfTI-1 and NIfTI-2, both byte orders, every datatype code the standard defines (supported or
not), 1 to 7 axes, qform/sform codes and scaling, an extension block, a vox_offset past the
header, raw and gzip (.nii.gz), and a truncated body; NRRD with every type spelling, every
encoding the reader knows (raw, gzip, ascii, hex) and bzip2 (refused), both byte orders, 1 to 4
axes, spaces, space directions with `none`, origins, kinds, comments, key/value pairs and a
leading vector axis; bval/bvec text in rows and in columns, commas, tabs, scientific notation
and an N x 3 table with its b-values. Deterministic: same output on every run.
"""
import gzip
import os
import struct
import sys

out = sys.argv[1]
for t in ("nifti_read", "nifti_header", "nrrd_read", "bvals_bvecs"):
    os.makedirs(os.path.join(out, t), exist_ok=True)


def put(target, name, blob):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(blob)


# --- NIfTI ---------------------------------------------------------------------------------
# datatype code -> (bytes per element, struct format of one element or None)
DTYPES = {
    1: (1, None), 2: (1, "B"), 4: (2, "h"), 8: (4, "i"), 16: (4, "f"), 32: (8, "ff"),
    64: (8, "d"), 128: (3, "BBB"), 256: (1, "b"), 512: (2, "H"), 768: (4, "I"),
    1024: (8, "q"), 1280: (8, "Q"), 1536: (16, None), 1792: (16, "dd"), 2048: (32, None),
    2304: (4, "BBBB"),
}
SHAPES = [[2], [2, 3], [2, 3, 2], [2, 1, 2, 2], [1, 2, 1, 2, 1], [2, 1, 1, 1, 2, 1], [1, 1, 1, 1, 1, 1, 2]]


def elements(code, n, be):
    size, fmt = DTYPES[code]
    if fmt is None:
        return bytes((7 * i) % 256 for i in range(size * n))
    e = ">" if be else "<"
    vals = []
    for i in range(n):
        v = i - n // 2
        for c in fmt:
            if c in "BH IQ":
                vals.append(abs(v) * 3)
            elif c in "fd":
                vals.append(v * 0.5)
            else:
                vals.append(v)
    return struct.pack(e + fmt * n, *vals)


def nifti(version, be, code, shape, qcode=1, scode=1, slope=1.0, inter=0.0, extension=False, gap=0):
    e = ">" if be else "<"
    size = DTYPES[code][0]
    n = 1
    for s in shape:
        n *= s
    dim = [len(shape)] + shape + [1] * (7 - len(shape))
    pixdim = [1.0, 1.5, 2.0, 2.5, 1.0, 1.0, 1.0, 1.0]
    quat, qoff = [0.0, 0.0, 0.0], [-10.0, 5.0, 2.5]
    srow = [1.5, 0.0, 0.0, -10.0, 0.0, 2.0, 0.0, 5.0, 0.0, 0.0, 2.5, 2.5]
    ext = b""
    if extension:
        body = b"<xml>voxelkit</xml>"
        esize = (8 + len(body) + 15) // 16 * 16
        ext = struct.pack(e + "ii", esize, 4) + body.ljust(esize - 8, b"\0")
    if version == 1:
        h = bytearray(348)
        struct.pack_into(e + "i", h, 0, 348)
        struct.pack_into(e + "8h", h, 40, *dim)
        struct.pack_into(e + "hh", h, 70, code, 8 * size)
        struct.pack_into(e + "8f", h, 76, *pixdim)
        offset = 352 + len(ext) + gap
        struct.pack_into(e + "3f", h, 108, float(offset), slope, inter)
        h[123] = 10
        struct.pack_into(e + "hh", h, 252, qcode, scode)
        struct.pack_into(e + "18f", h, 256, *quat, *qoff, *srow)
        h[344:348] = b"n+1\0"
    else:
        h = bytearray(540)
        struct.pack_into(e + "i", h, 0, 540)
        h[4:12] = b"n+2\0\r\n\x1a\n"
        struct.pack_into(e + "hh", h, 12, code, 8 * size)
        struct.pack_into(e + "8q", h, 16, *dim)
        struct.pack_into(e + "8d", h, 104, *pixdim)
        offset = 544 + len(ext) + gap
        struct.pack_into(e + "q", h, 168, offset)
        struct.pack_into(e + "2d", h, 176, slope, inter)
        struct.pack_into(e + "ii", h, 344, qcode, scode)
        struct.pack_into(e + "18d", h, 352, *quat, *qoff, *srow)
        struct.pack_into(e + "i", h, 500, 10)
    flag = bytes([1, 0, 0, 0]) if extension else bytes(4)
    return bytes(h) + flag + ext + bytes(gap) + elements(code, n, be)


def nifti_seed(name, blob, gz=True):
    put("nifti_read", name + ".nii", blob)
    put("nifti_header", name + ".nii", blob[:600])
    if gz:
        put("nifti_read", name + ".nii.gz", gzip.compress(blob, 6, mtime=0))


for v in (1, 2):
    for be in (False, True):
        tag = "v%d_%s" % (v, "be" if be else "le")
        for code in DTYPES:
            nifti_seed("%s_dt%d" % (tag, code), nifti(v, be, code, [2, 3, 2]), gz=code in (2, 4, 16))
        for shape in SHAPES:
            nifti_seed("%s_axes%d" % (tag, len(shape)), nifti(v, be, 4, shape), gz=False)
        for q, s in ((0, 0), (1, 0), (0, 2), (2, 4), (5, 1)):
            nifti_seed("%s_q%d_s%d" % (tag, q, s), nifti(v, be, 16, [2, 2, 2], q, s), gz=False)
        nifti_seed(tag + "_scaled", nifti(v, be, 4, [2, 3, 2], slope=0.5, inter=-3.0), gz=False)
        nifti_seed(tag + "_slope0", nifti(v, be, 512, [2, 2], slope=0.0, inter=1.0), gz=False)
        nifti_seed(tag + "_ext", nifti(v, be, 2, [2, 3, 2], extension=True))
        nifti_seed(tag + "_gap", nifti(v, be, 64, [2, 2, 1], gap=16), gz=False)
        blob = nifti(v, be, 16, [3, 3, 3])
        nifti_seed(tag + "_truncated", blob[: len(blob) - 20])
# two gzip members (the reader must join them)
blob = nifti(1, False, 16, [2, 3, 2])
put("nifti_read", "two_members.nii.gz", gzip.compress(blob[:200], mtime=0) + gzip.compress(blob[200:], mtime=0))
put("nifti_read", "pair_header.hdr", nifti(1, False, 2, [2, 2, 2])[:348][:344] + b"ni1\0")

# --- NRRD ----------------------------------------------------------------------------------
TYPES = [
    ("signed char", "b"), ("int8", "b"), ("uchar", "B"), ("uint8_t", "B"), ("short", "h"),
    ("int16", "h"), ("unsigned short", "H"), ("uint16", "H"), ("int", "i"), ("int32_t", "i"),
    ("uint", "I"), ("unsigned int", "I"), ("longlong", "q"), ("int64", "q"), ("ulonglong", "Q"),
    ("uint64", "Q"), ("float", "f"), ("double", "d"), ("block", None),
]


def nrrd_data(fmt, n, enc, be):
    if fmt is None:
        raw = bytes(range(n))
    else:
        vals = [(i * 3 if fmt.isupper() else i - n // 2) for i in range(n)]
        if fmt in "fd":
            vals = [x * 0.25 for x in vals]
        raw = struct.pack(("<>"[be]) + fmt * n, *vals)
    if enc == "raw":
        return raw
    if enc in ("gzip", "gz"):
        return gzip.compress(raw, 1, mtime=0)
    if enc == "hex":
        return (raw.hex() + "\n").encode()
    if enc == "bzip2":
        return b"BZh91AY&SY" + raw
    if fmt is None:
        return raw
    vals = struct.unpack(("<>"[be]) + fmt * n, raw)
    return (" ".join(repr(x) for x in vals) + "\n").encode()


def nrrd(lines, fmt, n, enc="raw", be=False, magic="NRRD0004"):
    hdr = "\n".join([magic] + lines + ["encoding: " + enc, "endian: " + ("big" if be else "little")])
    return (hdr + "\n\n").encode() + nrrd_data(fmt, n, enc, be)


SPATIAL = [
    "space: left-posterior-superior", "space directions: (1.5,0,0) (0,2,0) (0,0,2.5)",
    "space origin: (-10,5,2.5)",
]
for name, fmt in TYPES:
    extra = ["block size: 2"] if fmt is None else []
    put("nrrd_read", "type_%s.nrrd" % name.replace(" ", "_"),
        nrrd(["type: " + name, "dimension: 3", "sizes: 2 3 2"] + extra + SPATIAL, fmt, 12))
for enc in ("raw", "gzip", "ascii", "hex", "txt", "text", "gz", "bzip2"):
    for be in (False, True):
        put("nrrd_read", "enc_%s_%s.nrrd" % (enc, "be" if be else "le"),
            nrrd(["type: short", "dimension: 3", "sizes: 2 3 2"] + SPATIAL, "h", 12, enc, be))
put("nrrd_read", "dim1.nrrd", nrrd(["type: float", "dimension: 1", "sizes: 5", "spacings: 0.5"], "f", 5))
put("nrrd_read", "dim2.nrrd", nrrd(["type: uchar", "dimension: 2", "sizes: 3 2", "spacings: 1 2",
                                     "axis mins: 0 0", "units: mm mm"], "B", 6))
put("nrrd_read", "dim4_vector.nrrd", nrrd([
    "type: double", "dimension: 4", "sizes: 3 2 2 2", "space: RAS",
    "space directions: none (1,0,0) (0,1,0) (0,0,1)", "kinds: vector domain domain domain",
    "space origin: (0,0,0)", "measurement frame: (1,0,0) (0,1,0) (0,0,1)"], "d", 24))
put("nrrd_read", "dim4_time.nrrd", nrrd([
    "type: float", "dimension: 4", "sizes: 2 2 2 3", "space: scanner-xyz",
    "space directions: (1,0,0) (0,1,0) (0,0,1) none", "kinds: space space space list",
    "space origin: (1,2,3)"], "f", 24))
put("nrrd_read", "comments_keys.nrrd", nrrd([
    "# a comment", "type: int", "dimension: 3", "sizes: 2 2 2", "content: synthetic",
    "modality:=DWMRI", "DWMRI_b-value:=1000", "DWMRI_gradient_0000:=0 0 0", "line skip: 0",
    "byte skip: 0", "space dimension: 3", "space directions: (1,0,0) (0,1,0) (0,0,1)",
    "space origin: (0,0,0)", "spacings: nan nan nan"], "i", 8))
put("nrrd_read", "byte_skip_minus1.nrrd", nrrd([
    "type: short", "dimension: 3", "sizes: 2 2 2", "byte skip: -1"] + SPATIAL, "h", 8))
put("nrrd_read", "old_magic.nrrd", nrrd(["type: short", "dimension: 3", "sizes: 2 2 2"], "h", 8, magic="NRRD0001"))
put("nrrd_read", "oblique.nrrd", nrrd([
    "type: float", "dimension: 3", "sizes: 2 2 2", "space: left-anterior-superior",
    "space directions: (0.7071,0.7071,0) (-0.7071,0.7071,0) (0,0,3)", "space origin: (1,2,3)",
    "centerings: cell cell cell"], "f", 8))
put("nrrd_read", "detached_ref.nrrd", b"NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\n"
    b"encoding: raw\nendian: little\ndata file: other.raw\n\n")

# --- bval / bvec ---------------------------------------------------------------------------
BV = [0, 1000, 1000, 2000, 0, 1000]
VEC = [(0, 0, 0), (1, 0, 0), (0, 0.7071, 0.7071), (0, 0, 1), (0, 0, 0), (-0.57735, 0.57735, 0.57735)]


def bv_seed(name, bval, bvec):
    put("bvals_bvecs", name, bval.encode() + b"\0" + bvec.encode())


rows = "\n".join(" ".join(repr(float(v[i])) for v in VEC) for i in range(3)) + "\n"
cols = "".join("%g %g %g\n" % v for v in VEC)
bv_seed("rows", " ".join(str(b) for b in BV) + "\n", rows)
bv_seed("columns", "\n".join(str(b) for b in BV) + "\n", cols)
bv_seed("commas", ",".join(str(b) for b in BV), "".join("%g,%g,%g\n" % v for v in VEC))
bv_seed("tabs_sci", "\t".join("%e" % b for b in BV) + "\r\n", rows.replace(" ", "\t").replace("\n", "\r\n"))
bv_seed("table", "\n".join(str(b) for b in BV), "".join("%g, %g, %g\n" % v for v in VEC))
bv_seed("short_bvec", "0 1000 1000", "1 0 0\n0 1 0\n")
bv_seed("unnormalised", "0 1000", "0 2\n0 0\n0 0\n")
bv_seed("nan", "0 nan", "0 1\n0 0\n0 inf\n")
