#!/usr/bin/env bash
# Open-loop pacing benchmark (not a test): can the client keep a schedule
# of 1,000 requests/s? The simulator runs in its own process (short
# requests: 2 output tokens, no TTFT), `stackbench run --request-rate 1000`
# in another. Reports, per arrival process:
#   - achieved rate: requests sent / span (run.json summary.open_loop);
#   - per-second send counts over the run (from the actual send times:
#     planned + schedule_lag_us): min and max, as % of the rate, and the
#     largest difference from the schedule's own count in that second
#     (Poisson counts vary by ~±sqrt(rate) per second by design; the
#     difference from the plan is the pacing error);
#   - schedule lag p50 / p99 / max;
#   - client CPU.
# Usage: scripts/bench-pacing.sh [rate=1000] [seconds=20]
set -euo pipefail
rate="${1:-1000}"
secs="${2:-20}"
source "$(dirname "$0")/lib/bench.sh"
start_sim --flavor vllm --max-slots 4096 --decode-tps 20000 --ttft-ms 0
for arrival in constant poisson; do
  /usr/bin/time -f "%e %U %S" -o "$out/time" "$bin" run --quiet --no-metrics --base-url "$url" \
    --out "$out/$arrival" --request-rate "$rate" --arrival "$arrival" --duration "${secs}s" \
    --output-tokens 2 --prompt-tokens 16 --warmup-requests 0 --seed 1 >/dev/null
  python3 - "$arrival" "$rate" "$out/$arrival" "$out/time" <<'PY'
import json, sys, collections
arrival, rate, d, tf = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
s = json.load(open(f"{d}/run.json"))["summary"]
o = s["open_loop"]
recs = [json.loads(l) for l in open(f"{d}/requests.jsonl")]
start = s["measured_start_us"]
sent = sorted((r["start_offset_us"] + r["schedule_lag_us"] - start) / 1e6 for r in recs if not r["warmup"])
per_s = collections.Counter(int(t) for t in sent)
planned = collections.Counter(int((r["start_offset_us"] - start) / 1e6) for r in recs if not r["warmup"])
seconds = range(1, int(sent[-1]))  # whole seconds, first and last left out
whole = [per_s.get(k, 0) for k in seconds]
off_plan = max(abs(per_s.get(k, 0) - planned.get(k, 0)) for k in seconds)
wall, user, sys_ = (float(x) for x in open(tf).read().split())
lag = o["schedule_lag_ms"]
print(f"{arrival}: {o['sent']} sent, achieved {o['achieved_rate_per_s']:.2f} req/s "
      f"({(o['achieved_rate_per_s'] / rate - 1) * 100:+.2f}%); per-second sends "
      f"min {min(whole)} ({(min(whole) / rate - 1) * 100:+.1f}%) max {max(whole)} ({(max(whole) / rate - 1) * 100:+.1f}%), "
      f"at most {off_plan} ({off_plan / rate * 100:.1f}% of the rate) off the plan's count; "
      f"lag p50 {lag['p50']:.2f} ms p99 {lag['p99']:.2f} ms max {lag['max']:.1f} ms; "
      f"{s['requests']['ok']} ok {s['requests']['failed']} failed; "
      f"client CPU {user + sys_:.2f} s over {wall:.1f} s; limited_by {o.get('limited_by')}")
PY
done
