#!/usr/bin/env bash
# Hand benchmark (not CI): resampling brain1 to [2, 2, 2] mm, voxelkit's kernel against
# PyRadiomics' resampleImage on SimpleITK 2.5.7, side by side on this machine, same files.
#
#   bash benches/resample.sh [IMAGE MASK] [extra args: --spacing 2,2,2 --interpolator sitkLinear --samples 7]
#
# Runs each at 1 thread (SimpleITK: ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1, voxelkit --threads 1)
# and at all cores; prints a Markdown table; correctness rides along (the outputs' sums must agree:
# the kernels are checked voxel by voxel in crates/radiomics/tests/resample_fixtures.rs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REF="$ROOT/../shared/reference/pyradiomics"
IMAGE="${1:-$REF/brain1_image.nrrd}"
MASK="${2:-$REF/brain1_label.nrrd}"
shift $(( $# >= 2 ? 2 : $# )) || true
PY="$ROOT/fixtures/radiomics/.venv/bin/python"
[ -x "$PY" ] || bash "$ROOT/fixtures/radiomics/generate.sh" >/dev/null
cargo build --release -q -p voxelkit-radiomics --example resample_bench --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/examples/resample_bench"
CORES=$(nproc)
echo "machine: $(uname -m), $CORES cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| contender | threads | median | min | max | grid | image sum | mask sum |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
row() { python3 -c 'import json,sys; r=json.loads(sys.argv[2]); print("| %s | %s | %.2f ms | %.2f ms | %.2f ms | %s | %.10g | %.0f |" % (r["contender"], sys.argv[1], r["median"]*1e3, r["min"]*1e3, r["max"]*1e3, r["shape"], r["imageSum"], r["maskSum"]))' "$1" "$2"; }
for T in 1 "$CORES"; do
  row "$T" "$(ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=$T OMP_NUM_THREADS=$T "$PY" "$ROOT/benches/resample_sitk.py" "$IMAGE" "$MASK" "$@")"
  row "$T" "$("$BIN" "$IMAGE" "$MASK" --threads "$T" "$@")"
done
