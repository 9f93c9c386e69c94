#!/usr/bin/env bash
# Client cost benchmarks (not tests): the simulator runs in its own process,
# `stackbench run` in another, and /usr/bin/time measures the client only.
#   1. memory over many short requests (peak RSS at 10k and at 100k requests:
#      it must stay flat; nothing keeps per-request samples);
#   2. CPU per streamed token at c=256: (user + sys) / tokens received.
# Usage: scripts/bench-client.sh [requests=100000]
set -euo pipefail
n="${1:-100000}"
source "$(dirname "$0")/lib/bench.sh"

measure() { # label, args...
  local label="$1"; shift
  /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$bin" run --quiet --no-metrics --out "$out/$label" "$@" >/dev/null
  read -r wall user sys rss_kb <"$out/time"
  tokens=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['summary']; print(s['output_tokens'], s['requests']['ok'], s['requests']['failed'])" "$out/$label/run.json")
  read -r tok ok failed <<<"$tokens"
  python3 - "$label" "$wall" "$user" "$sys" "$rss_kb" "$tok" "$ok" "$failed" <<'PY'
import sys
label, wall, user, sys_, rss, tok, ok, failed = sys.argv[1:]
cpu = float(user) + float(sys_)
t = max(int(tok), 1)
print(f"{label}: {ok} ok / {failed} failed, {tok} tokens in {float(wall):.1f} s; "
      f"client CPU {cpu:.2f} s (user {user} + sys {sys_}) = {cpu / t * 1e6:.2f} us/token "
      f"(user {float(user) / t * 1e6:.2f}, sys {float(sys_) / t * 1e6:.2f}); peak RSS {int(rss) / 1024:.1f} MiB")
PY
}

start_sim --flavor vllm --max-slots 1024 --decode-tps 20000 --ttft-ms 0
measure "short-10k" --base-url "$url" -c 64 -n 10000 --output-tokens 4 --prompt-tokens 16 --warmup-requests 0
measure "short-${n}" --base-url "$url" -c 64 -n "$n" --output-tokens 4 --prompt-tokens 16 --warmup-requests 0
stop_sim

# Perfect batching (no curve), 50 tok/s per stream: 12,800 tok/s at c=256,
# one token per event, each event its own write on the server side.
cat >"$out/flat.toml" <<'TOML'
flavor = "vllm"
stack = "bench"
quantization = "none"
model = "bench"
[latency]
ttft-ms = 20.0
prefill-tps = 100000.0
decode-tps = 50.0
max-slots = 1024
TOML
start_sim --flavor vllm --max-slots 1024 --profile "$out/flat.toml"
measure "c256" --base-url "$url" -c 256 -n 1024 --output-tokens 256 --prompt-tokens 64 --warmup-requests 0
