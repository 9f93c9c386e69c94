#!/usr/bin/env bash
# Client vs server on the real vLLM (CPU build, SmolLM2-135M-shaped model
# with dummy weights): starts vLLM once with per-request metrics, runs
# stackbench at c=1, 8 and 32 through chat and completions, and prints the
# client's figures beside vLLM's own: token counts against the
# generation_tokens_total delta, decode rates per request against the
# per-request `metrics` (same interval, first to last token), the pooled
# decode rate against the /metrics decode-time histogram, and totals.
# Results go to $1 (default: a temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
eval "$(bash scripts/install-vllm.sh | grep -E '^VLLM_(PYTHON|MODEL)=')"
export VLLM_PYTHON VLLM_MODEL
cargo build --release -q -p stackbench-cli
bin=target/release/stackbench
port=18200

# Job control puts the server in a process group of its own (start-vllm.sh
# execs vLLM, so its PID is the group's ID): one kill stops the API server
# and the engine-core and worker processes it forks.
set -m
bash scripts/start-vllm.sh --port "$port" --enable-per-request-metrics \
  >"$out/vllm-server.log" 2>&1 &
server_pid=$!
set +m
stop() { kill -KILL -- "-$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.5
done

for spec in "1 10" "8 32" "32 128"; do
  read -r c n <<<"$spec"
  for api in chat completions; do
    dir="$out/c$c-$api"
    "$bin" run --quiet --base-url "http://127.0.0.1:$port" --api "$api" -c "$c" -n "$n" \
      --output-tokens 128 --prompt-tokens 64 --out "$dir" >/dev/null
    python3 - "$dir/run.json" "$dir/requests.jsonl" "$c" "$api" <<'PY'
import json, statistics as st, sys
run = json.load(open(sys.argv[1]))
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
recs = [r for r in recs if not r["warmup"] and r["status"] == "ok"]
s, m = run["summary"], run["server_metrics"]
client = [r["decode_tok_s"] for r in recs]
server = [(r["output_tokens"] - 1) / (r["server_timings"]["decode_ms"] / 1e3) for r in recs]
per_req = st.median((a - b) / b * 100 for a, b in zip(client, server))
# Medians of the records on both sides (run.json's p50 comes from the HDR
# histogram, 3 significant digits).
p50, pooled, srv = st.median(client), s["decode_tok_s_pooled"], m["per_stream_decode_tok_s"]
print(f"c={sys.argv[3]:>2} {sys.argv[4]:<11} ok={s['requests']['ok']:>3} failed={s['requests']['failed']} "
      f"tokens client {s['output_tokens']} server {m['tokens']:.0f} | decode per request: median client {p50:6.2f}, "
      f"vLLM {st.median(server):6.2f}, median diff {per_req:+.3f}% | pooled client {pooled:6.2f} vs /metrics {srv:6.2f} "
      f"({m['decode_diff_pct']:+.3f}%) | client median vs /metrics pooled {(p50 - srv) / srv * 100:+.2f}% "
      f"| total client {s['output_tok_s_wall']:7.1f} server {m['tok_s_wall']:7.1f} tok/s ({m['tok_s_diff_pct']:+.2f}%) "
      f"| max running {m.get('max_running')}")
PY
  done
done
echo "results: $out"
