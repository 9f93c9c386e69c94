#!/usr/bin/env bash
# Client vs server on the real Ollama (0.17.4 built by install-ollama.sh,
# SmolLM2-135M Q4_1, CPU): runs stackbench at c=1, 4 and 8 against one
# Ollama with 4 slots (OLLAMA_NUM_PARALLEL=4), through the native /api/chat
# and the OpenAI-compatible /v1/chat/completions, and prints the client's
# figures beside Ollama's own per-request counts and durations. Results go
# to $1 (default: a temp folder).
#
# Ollama's figures, and what they cover (see crates/cli/tests/real/ollama.rs):
#   sent     eval_count, less the unsent stop token of a `stop` stream
#   eval     (eval_count - 1) / eval_duration: decode calls only, no sampling
#   wall     (eval_count - 1) / (total - load - prompt_eval): the same steps
#            on Ollama's wall clock, from the first token to the final object
#            (c=1 only: at c > slots, total_duration also holds the wait for
#            a slot, which no other duration does)
#   client   (eval_count - 1) / (end of stream - first token) as stackbench saw it
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)}"
eval "$(bash scripts/install-ollama.sh | grep -E '^OLLAMA_(BIN|MODELS|MODEL)=')"
cargo build --release -q -p stackbench-cli
bin=target/release/stackbench
port=18434
OLLAMA_BIN="$OLLAMA_BIN" OLLAMA_MODELS="$OLLAMA_MODELS" OLLAMA_NUM_PARALLEL=4 \
  bash scripts/start-ollama.sh --port "$port" >/dev/null 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done

for spec in "1 12" "4 24" "8 32"; do
  read -r c n <<<"$spec"
  for api in ollama-chat chat; do
    dir="$out/c$c-$api"
    "$bin" run --quiet --base-url "http://127.0.0.1:$port" --model "$OLLAMA_MODEL" --api "$api" \
      -c "$c" -n "$n" --output-tokens 96 --prompt-tokens 64 --seed 7 --out "$dir" >/dev/null 2>&1
    python3 - "$dir/run.json" "$dir/requests.jsonl" "$c" "$api" <<'PY'
import json, statistics, sys
run = json.load(open(sys.argv[1]))
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
recs = [r for r in recs if not r["warmup"] and r["status"] == "ok"]
s = run["summary"]
med = lambda xs: statistics.median(xs) if xs else float("nan")
line = (f"c={sys.argv[3]} {sys.argv[4]:<11} ok={s['requests']['ok']:>2} failed={s['requests']['failed']} "
        f"reconciled {sum(r['count']['reconciled'] for r in recs)}/{len(recs)} "
        f"short {sum(bool(r.get('short')) for r in recs)} | tokens client {s['output_tokens']}")
t = [r.get("server_timings") for r in recs]
if all(t):
    sent = sum(x["predicted_n"] - (r["finish_reason"] == "stop") for x, r in zip(t, recs))
    steps = [x["predicted_n"] - 1 for x in t]
    client = [n / ((r["stream_end_us"] - r["ttft_us"]) / 1e6) for n, r in zip(steps, recs)]
    wall = [n / ((x["total_ms"] - x["load_ms"] - x["prompt_ms"]) / 1e3) for n, x in zip(steps, t)]
    ev = [n / (x["predicted_ms"] / 1e3) for n, x in zip(steps, t)]
    queued = [r["ttft_us"] / 1e3 - x["load_ms"] - x["prompt_ms"] for x, r in zip(t, recs)]
    wall_txt = (f"wall {med(wall):6.1f} ({(med(client)/med(wall)-1)*100:+.2f}%) " if sys.argv[3] == "1"
                else "wall n/a (holds the slot wait) ")
    line += (f" server {sent} | steps/s p50 client {med(client):6.1f} {wall_txt}"
             f"eval {med(ev):6.1f} ({(med(client)/med(ev)-1)*100:+.2f}%) "
             f"| TTFT p50 {s['ttft_ms']['p50']:.0f} ms, beyond load+prompt p50 {med(queued):.0f} max {max(queued):.0f} ms")
else:
    line += f" server (usage) {sum(r['count']['server'] for r in recs)} | TTFT p50 {s['ttft_ms']['p50']:.0f} ms"
line += f" | total {s['output_tok_s_wall']:.1f} tok/s, decode p50 {s['decode_tok_s']['p50']:.1f}"
print(line)
PY
  done
done
echo "results: $out"
