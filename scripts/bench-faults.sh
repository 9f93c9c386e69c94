#!/usr/bin/env bash
# The fault matrix (a benchmark, not a test): every simulator fault kind
# on every 10th request (connection, for `refuse`), c=32 × 1,000 requests,
# the simulator in its own process. One row per kind: requests sent, ok,
# failed, cancelled (ok + failed + cancelled must equal sent), the failure
# classes from run.json's summary.failures, unreconciled OK requests, the
# run's wall time (stalls end at the 5 s first-byte / idle timeouts), the
# client's peak memory (a 12 MB line must not become a 12 MB allocation
# per stream) and its exit status. Any row that does not add up, or a
# client that crashed, makes the script exit 1.
# Usage: scripts/bench-faults.sh [requests=1000] [concurrency=32] [every=10]
set -euo pipefail
n="${1:-1000}"
c="${2:-32}"
every="${3:-10}"
source "$(dirname "$0")/lib/bench.sh"
kinds=(http500 http429 http503 reset malformed stream-error no-done invalid-utf8
  huge-line stall stall-headers refuse no-usage wrong-content-type)
bad=0
printf '%-19s %5s %5s %6s %9s %-28s %7s %7s %8s %4s\n' fault sent ok failed cancelled classes unrecon wall_s rss_mb exit
for kind in "${kinds[@]}"; do
  start_sim --flavor vllm --max-slots 256 --decode-tps 2000 --ttft-ms 5 --fault "$kind:$every"
  set +e
  /usr/bin/time -f "%e %M" -o "$out/time" "$bin" run --quiet --no-metrics --base-url "$url" \
    --out "$out/$kind" -c "$c" -n "$n" --output-tokens 16 --prompt-tokens 32 \
    --warmup-requests 0 --seed 1 --first-byte-timeout 5s --idle-timeout 5s \
    --request-timeout 60s >/dev/null 2>"$out/$kind.err"
  rc=$?
  set -e
  stop_sim
  python3 - "$kind" "$n" "$rc" "$out/$kind" "$out/time" <<'PY' || bad=1
import json, sys
kind, n, rc, d, tf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
wall, rss_kb = (float(x) for x in open(tf).read().split()[-2:])
try:
    s = json.load(open(f"{d}/run.json"))["summary"]
except OSError:
    print(f"{kind:<19} no run.json (exit {rc})")
    sys.exit(1)
r = s["requests"]
sent = sum(1 for l in open(f"{d}/requests.jsonl") if '"warmup":false' in l)
classes = ",".join(f"{k}:{v}" for k, v in sorted(s["failures"].items())) or "-"
print(f"{kind:<19} {sent:5} {r['ok']:5} {r['failed']:6} {r['cancelled']:9} {classes:<28} "
      f"{r['unreconciled']:7} {wall:7.1f} {rss_kb / 1024:8.1f} {rc:4}")
ok = rc == 0 and sent == n and r["ok"] + r["failed"] + r["cancelled"] == sent \
    and sum(s["failures"].values()) == r["failed"]
sys.exit(0 if ok else 1)
PY
done
exit "$bad"
