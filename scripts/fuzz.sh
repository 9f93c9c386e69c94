#!/usr/bin/env bash
# The coverage-guided fuzzing campaign (libFuzzer, via cargo-fuzz): runs
# every target of crates/fuzz/fuzz (one per stable smoke target in
# crates/fuzz/src/targets.rs) for SECONDS each, one process at a time, and
# prints per target the executions, exec/s, libFuzzer's coverage (cov: edges,
# ft: features) and the corpus. Not part of the test command (which runs the
# stable smoke fuzzer, crates/fuzz/tests/smoke.rs); see docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60, all)
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none (cargo fuzz --sanitizer)
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (10)
#
# cargo-fuzz passes nightly-only -Z flags to rustc; RUSTC_BOOTSTRAP=1 lets
# the stable toolchain accept them (docs/fuzzing.md says why that is
# acceptable here). Exit: 0 when no target crashed, 1 when one did (each
# crashing input is kept under crates/fuzz/fuzz/artifacts/TARGET/ and its
# path printed), 2 on a usage or build error.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
repo=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir=$repo/crates/fuzz/fuzz
secs=${1:-60}
if [ $# -gt 0 ]; then shift; fi
case $secs in
'' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
    ;;
esac
sanitizer=${FUZZ_SANITIZER:-address}
timeout=${FUZZ_TIMEOUT:-10}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION (crates.io)" >&2
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
fi

# Seeds and dictionaries come from targets.rs, as the smoke fuzzer's do.
rm -rf "$fuzz_dir/seeds"
cargo run -q -p stackbench-fuzz -- all --export "$fuzz_dir/seeds" >/dev/null

build=(--fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer")
echo "building the fuzz targets (sanitizer: $sanitizer)" >&2
cargo fuzz build "${build[@]}" || exit 2

mkdir -p "$fuzz_dir/logs"
crashes=()
printf '%-13s %12s %8s %7s %7s %13s %s\n' target executions exec/s cov ft corpus result
for t in "${targets[@]}"; do
    log=$fuzz_dir/logs/$t.log
    mkdir -p "$fuzz_dir/corpus/$t"
    set +e
    # --jobs 1: one fuzzing process (cargo fuzz turns other values into
    # -fork=N). The first corpus folder receives what libFuzzer finds; the
    # seeds folder is read only.
    cargo fuzz run "${build[@]}" --jobs 1 "$t" "$fuzz_dir/corpus/$t" "$fuzz_dir/seeds/$t" -- \
        -max_total_time="$secs" -timeout="$timeout" -print_final_stats=1 \
        -dict="$fuzz_dir/seeds/$t.dict" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        result="CRASH (rc $rc): ${artifact:-no artifact written; see $log}"
        crashes+=("$t: ${artifact:-$log}")
    fi
    printf '%-13s %12s %8s %7s %7s %13s %s\n' "$t" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
echo "logs: $fuzz_dir/logs/TARGET.log; corpus (units/bytes): $fuzz_dir/corpus/TARGET"
if [ ${#crashes[@]} -gt 0 ]; then
    echo "crashing inputs:" >&2
    printf '  %s\n' "${crashes[@]}" >&2
    exit 1
fi
