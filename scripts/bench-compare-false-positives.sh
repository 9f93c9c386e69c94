#!/usr/bin/env bash
# Benchmark (not a test): how often `stackbench compare` calls a regression
# between two runs of the same thing. Starts one simulated vLLM, makes
# 2 x TRIALS runs (c=1 x 20 requests and c=4 x 40 requests each, fresh seeds),
# compares them in pairs and prints the false-positive rate.
#
# Usage: scripts/bench-compare-false-positives.sh [TRIALS]   (default 20)
# Needs: cargo build --release
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-20}"
bin=target/release/stackbench
[[ -x $bin ]] || { echo "build first: cargo build --release" >&2; exit 2; }
work="$(mktemp -d)"
"$bin" sim --profile vllm-nvfp4 --decode-tps 200 --tokens-per-event 1 > "$work/url" 2>/dev/null &
sim=$!
trap 'kill "$sim" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [[ -s "$work/url" ]] && break; sleep 0.1; done
url="$(head -1 "$work/url")"
run() {
  "$bin" run -q --base-url "$url" --out "$1/c1" -c 1 -n 20 --output-tokens 40 --prompt-tokens 16 --stack sim >/dev/null
  "$bin" run -q --base-url "$url" --out "$1/c4" -c 4 -n 40 --output-tokens 40 --prompt-tokens 16 --stack sim >/dev/null
}
fp=0
for t in $(seq "$trials"); do
  run "$work/$t-a"; run "$work/$t-b"
  # Flags (a client short of CPU on a busy box) are not the statistics measured here.
  if "$bin" compare "$work/$t-a" "$work/$t-b" --allow saturated --allow disagree > "$work/$t.md"; then
    echo "trial $t: no regression"
  else
    fp=$((fp + 1)); echo "trial $t: REGRESSED (false positive)"; grep -E "REGRESSED" "$work/$t.md" | head -3
  fi
done
echo "false positives: $fp of $trials trials ($(( 100 * fp / trials ))%)"
