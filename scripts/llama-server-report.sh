#!/usr/bin/env bash
# Client vs server on the real llama-server (SmolLM2-135M, CPU): runs
# stackbench at c=1, c=8 and c=32 against llama-server started with as many
# slots, and prints the client's figures beside the server's own (per-request
# timings and /metrics counters). Results go to $1 (default: a temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)}"
eval "$(bash scripts/install-llama-server.sh | grep -E '^LLAMA_SERVER_(BIN|MODEL)=')"
cargo build --release -q -p stackbench-cli
bin=target/release/stackbench
port=18181
server_pid=""
stop() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
trap stop EXIT

for spec in "1 10 128" "8 48 128" "32 96 64"; do
  read -r c n tokens <<<"$spec"
  "$LLAMA_SERVER_BIN" -m "$LLAMA_SERVER_MODEL" --host 127.0.0.1 --port "$port" \
    -np "$c" -c "$((c * 512))" -t 2 --metrics >/dev/null 2>&1 &
  server_pid=$!
  for api in chat native; do
    dir="$out/c$c-$api"
    "$bin" run --quiet --base-url "http://127.0.0.1:$port" --api "$api" -c "$c" -n "$n" \
      --output-tokens "$tokens" --prompt-tokens 64 --out "$dir" >/dev/null
    python3 - "$dir/run.json" "$dir/requests.jsonl" "$c" "$api" <<'PY'
import json, statistics, sys
run = json.load(open(sys.argv[1]))
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
recs = [r for r in recs if not r["warmup"] and r["status"] == "ok"]
s, m = run["summary"], run.get("server_metrics") or {}
srv_rate = statistics.median(r["server_timings"]["predicted_per_second"] for r in recs)
cli_rate = s["decode_tok_s"]["p50"]
exact = sum(r["output_tokens"] == r["server_timings"]["predicted_n"] for r in recs)
print(f"c={sys.argv[3]:>2} {sys.argv[4]:<6} ok={s['requests']['ok']:>3} failed={s['requests']['failed']} "
      f"counts==predicted_n {exact}/{len(recs)} | decode p50 client {cli_rate:6.1f} server {srv_rate:6.1f} ({(cli_rate-srv_rate)/srv_rate*100:+.2f}%) "
      f"| total client {s['output_tok_s_wall']:6.1f} server {m.get('tok_s_wall', float('nan')):6.1f} tok/s ({m.get('tok_s_diff_pct', float('nan')):+.2f}%), "
      f"tokens client {s['output_tokens']} server {m.get('tokens')} | TTFT p50 {s['ttft_ms']['p50']:.0f} ms")
PY
  done
  stop
done
echo "results: $out"
