#!/usr/bin/env python3
"""Synthetic seeds of the nrrd_detached fuzz target (see fuzz/fuzz_targets/nrrd_detached.rs):
a .nhdr header, a 0 byte, then each data file as a little-endian u16 length and its bytes.
Every encoding (raw, gzip, ascii, hex), both byte orders, one file, LIST, %d patterns,
sub-dimensions, byte/line skips, and names that escape the header's directory.

    python3 fuzz/seed-detached.py OUT_DIR
"""
import gzip
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
VALS = list(range(-3, 9))  # sizes 2 3 2


def data(enc, be, fmt="h", vals=VALS):
    raw = b"".join(struct.pack(("<>"[be]) + fmt, v) for v in vals)
    if enc == "raw":
        return raw
    if enc == "gzip":
        return gzip.compress(raw, 1, mtime=0)
    if enc == "ascii":
        return (" ".join(str(v) for v in vals) + "\n").encode()
    return (raw.hex() + "\n").encode()


def seed(name, header_lines, files):
    blob = ("\n".join(header_lines) + "\n").encode() + b"\0"
    for f in files:
        blob += struct.pack("<H", len(f)) + f
    with open(os.path.join(out, name), "wb") as fh:
        fh.write(blob)


base = ["NRRD0004", "type: short", "dimension: 3", "sizes: 2 3 2", "space: left-posterior-superior",
        "space directions: (1,0,0) (0,1,0) (0,0,2)", "space origin: (0,0,0)"]
for enc in ("raw", "gzip", "ascii", "hex"):
    for be in (False, True):
        tag = f"{enc}_{'be' if be else 'le'}"
        hdr = base + [f"encoding: {enc}", f"endian: {'big' if be else 'little'}"]
        seed(f"one_{tag}", hdr + ["data file: vol.raw"], [data(enc, be)])
        half = 6
        a = data(enc, be, vals=VALS[:half])
        b = data(enc, be, vals=VALS[half:])
        seed(f"list_{tag}", hdr + ["data file: LIST 3", "s0.raw", "s1.raw"], [a, b])
        seed(f"pattern_{tag}", hdr + ["data file: slice%03d.raw 1 2 1 3"], [a, b])
seed("datafile_alias", base + ["encoding: raw", "endian: little", "datafile: ./sub/vol.raw"], [data("raw", False)])
seed("byte_skip", base + ["encoding: raw", "endian: little", "byte skip: 4", "data file: v.raw"], [b"HDR!" + data("raw", False)])
seed("byte_skip_end", base + ["encoding: raw", "endian: little", "byte skip: -1", "data file: v.raw"], [b"junk" + data("raw", False)])
seed("line_skip", base + ["encoding: ascii", "line skip: 1", "data file: v.txt"], [b"# a comment\n" + data("ascii", False)])
seed("gzip_byte_skip", base + ["encoding: gzip", "endian: little", "byte skip: 2", "data file: v.raw.gz"],
     [gzip.compress(b"XX" + data("raw", False), 1, mtime=0)])
seed("float_vector", ["NRRD0005", "type: float", "dimension: 4", "sizes: 3 2 1 1", "kinds: vector domain domain domain",
                      "space: RAS", "space directions: none (1,0,0) (0,1,0) (0,0,1)", "encoding: raw", "endian: little",
                      "data file: f.raw"], [struct.pack("<6f", *range(6))])
seed("missing_file", base + ["encoding: raw", "endian: little", "data file: LIST", "a.raw", "b.raw"], [data("raw", False, vals=VALS[:6])])
seed("attached_nhdr", base + ["encoding: raw", "endian: little", ""], [])
for i, bad in enumerate(["../vol.raw", "/etc/passwd", "a/../../b.raw", "sub/../../x", "..", "C:\\x.raw"]):
    seed(f"escape_{i}", base + ["encoding: raw", "endian: little", f"data file: {bad}"], [data("raw", False)])
seed("escape_list", base + ["encoding: raw", "endian: little", "data file: LIST", "ok.raw", "../no.raw"], [b"", b""])
seed("escape_pattern", base + ["encoding: raw", "endian: little", "data file: ../s%d.raw 0 1 1"], [b"", b""])
print(len(os.listdir(out)), "seeds in", out)
