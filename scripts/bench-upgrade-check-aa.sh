#!/usr/bin/env bash
# Benchmark (not a test): the upgrade gate's false-alarm rate on this box.
# Runs `stackbench upgrade-check` on the real podman llama-server of
# configs/suites/upgrade-check.toml with the candidate the same image as the
# baseline (A/A), TRIALS times, each in 2 alternating rounds, and prints each
# exit code (0 no change, 1 regressed or a flag), the flags raised and the
# widest decode interval. Then, once, the F32 image as the candidate
# (expected: exit 1, decode regressed).
#
# Usage: scripts/bench-upgrade-check-aa.sh [TRIALS] [OUT]   (default 5, a temp folder)
# Needs: cargo build --release; podman with the images of scripts/build-llama-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-5}"
out="${2:-$(mktemp -d)}"
bin=target/release/stackbench
[[ -x $bin ]] || { echo "build first: cargo build --release" >&2; exit 2; }
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/scripts/containers.conf}"
image=localhost/stackbench-llama-server:local
check() {  # NAME IMAGE
  local rc=0
  "$bin" upgrade-check configs/suites/upgrade-check.toml --stack llama-server-podman \
    --candidate "launch.image=$2" --repeat 2 -q --out "$out/$1" > "$out/$1.md" 2> "$out/$1.err" || rc=$?
  local flags decode
  flags="$(grep -o 'flag `[a-z]*`' "$out/$1.md" | sort | uniq -c | tr -s ' ' | paste -sd, - || true)"
  decode="$(grep '^| decode tok/s p50' "$out/$1.md" | awk -F'|' '{gsub(/ /,"",$6); gsub(/ /,"",$8); print $6 " " $8}' | paste -sd';' -)"
  echo "$1: exit $rc; flags: ${flags:-none}; decode CI and verdict per scenario: $decode"
}
alarms=0
for t in $(seq "$trials"); do
  check "aa-$t" "$image"
  grep -q '^gate passed' "$out/aa-$t.err" || alarms=$((alarms + 1))
done
echo "A/A: $alarms of $trials gates failed"
check ab-f32 localhost/stackbench-llama-server:f32
echo "results: $out"
