#!/usr/bin/env bash
# Runs the fuzz targets one after another and prints a results table (markdown).
#
#   bash fuzz/run.sh [--runs N | --seconds S] [--sanitizer none|address] [--max-len L] [--merge] [TARGET...]
#
# Defaults: --runs 10000000 (the project's goal per target), --sanitizer none (Rust's own
# bounds and overflow checks and the targets' debug assertions stay on; AddressSanitizer costs
# ~4x, so use it for shorter runs), --max-len 4096, every target. Needs nightly and cargo-fuzz
# (see fuzz/README.md). Seeds come from fuzz/seed.sh (../shared/reference plus the minimised
# corpus in fuzz/corpus-min); with --merge, each target's corpus is minimised afterwards
# (libFuzzer -merge=1) into fuzz/corpus-min/<target>, inputs of at most 4 KiB, to be committed.
# A crash leaves its input in fuzz/artifacts/<target>/ and stops the script (non-zero exit).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
RUNS=10000000
SECONDS_=""
SAN=none
MAXLEN=4096
MERGE=0
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --seconds) SECONDS_=$2; shift 2 ;;
        --sanitizer) SAN=$2; shift 2 ;;
        --max-len) MAXLEN=$2; shift 2 ;;
        --merge) MERGE=1; shift ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(nifti_read nifti_header nrrd_read nrrd_detached bvals_bvecs radiomics_settings syn_options)
TC=${FUZZ_TOOLCHAIN:-+nightly}

[ -d corpus ] || bash seed.sh
# syn_options is built without libFuzzer's comparison tracing (half of its time went to
# tracing the kernels' float comparisons; its input is decoded through tables), in a target
# directory of its own so that the two flag sets do not rebuild each other's dependencies.
bin_dir() {
    if [ "$1" = syn_options ]; then echo target-notc/x86_64-unknown-linux-gnu/release; else echo target/x86_64-unknown-linux-gnu/release; fi
}
for t in "${TARGETS[@]}"; do
    if [ "$t" = syn_options ]; then
        cargo $TC fuzz build -O -s "$SAN" --no-trace-compares --target-dir target-notc "$t" >&2
    else
        cargo $TC fuzz build -O -s "$SAN" "$t" >&2
    fi
done
mkdir -p logs
echo "| target | sanitizer | max_len | executions | seconds | exec/s (wall) | exec per CPU-second | cov / ft | corpus | findings |"
echo "|---|---|---:|---:|---:|---:|---:|---|---|---|"
for t in "${TARGETS[@]}"; do
    mkdir -p "artifacts/$t" "corpus/$t"
    dict=()
    [ -f "dict/$t.dict" ] && dict=(-dict="dict/$t.dict")
    limit=(-runs="$RUNS")
    [ -n "$SECONDS_" ] && limit=(-max_total_time="$SECONDS_")
    log=logs/$t.log
    start=$(date +%s)
    rc=0
    BIN=$(bin_dir "$t")
    /usr/bin/time -f "%U %S" -o "logs/$t.time" "$BIN/$t" "corpus/$t" "${limit[@]}" "${dict[@]}" \
        -max_len="$MAXLEN" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || rc=$?
    secs=$(( $(date +%s) - start ))
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    done_line=$(grep -E "DONE|^#[0-9]+" "$log" | tail -1)
    cov=$(echo "$done_line" | sed -nE 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1 \/ \2/p')
    corp=$(echo "$done_line" | sed -nE 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]+).*/\1/p')
    # the last line: time writes "Command exited with non-zero status N" first when the fuzzer stops
    cpu=$(tail -n 1 "logs/$t.time" 2>/dev/null | awk '{print $1 + $2}')
    cpu=${cpu:-0}
    percpu=$(awk -v e="${execs:-0}" -v c="$cpu" 'BEGIN { if (c > 0) printf "%d", e / c; else print "-" }')
    wall=$(awk -v e="${execs:-0}" -v s="$secs" 'BEGIN { if (s > 0) printf "%d", e / s; else print "-" }')
    findings=$(ls "artifacts/$t" | wc -l)
    echo "| \`$t\` | $SAN | $MAXLEN | ${execs:-?} | $secs | $wall | $percpu | $cov | $corp | $findings |"
    if [ "$rc" -ne 0 ]; then
        echo "$t failed (exit $rc); see fuzz/$log and fuzz/artifacts/$t/" >&2
        exit 1
    fi
    if [ "$MERGE" = 1 ]; then
        rm -rf "corpus-min/$t.new"
        mkdir -p "corpus-min/$t.new"
        "$BIN/$t" -merge=1 -max_len=4096 "corpus-min/$t.new" "corpus/$t" >"logs/$t.merge.log" 2>&1
        rm -rf "corpus-min/$t"
        mv "corpus-min/$t.new" "corpus-min/$t"
    fi
done
