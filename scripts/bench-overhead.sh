#!/usr/bin/env bash
# Client overhead benchmark (not a test). The simulator serves, in its own
# process, a perfectly batched model: TTFT 10 ms, then one token every ITL
# ms, one token per event; `stackbench run` drives it at each level for a
# fixed time. Levels are `CONCURRENCY:ITL_MS`; the default runs c = 256,
# 1,024 and 4,096 at ITL 2 ms (what the simulator can keep up with is part
# of the answer) and c = 1,024 at ITL 10 ms (about 100k tok/s offered, a
# schedule the simulator keeps on two cores). Per level, a Markdown row:
#   - tokens received and the rate, against what the schedule offers
#     (c x 256 tokens per 10 ms + 255 x ITL);
#   - client CPU per token: (user + sys of the client process) / tokens;
#   - client peak RSS, and RSS per in-flight stream: (peak - the peak of a
#     c=1 run) / c;
#   - measured ITL p50 / p99 against the schedule's ITL;
#   - the client's own verdict (run.json summary.client: runtime busy %,
#     wake-up lag p99, saturated);
#   - simulator CPU, % of one core: the simulator serves on one thread, so
#     near 100 % it, not the client, is the limit (its tokens go out late
#     and in bursts: the rate falls short of the schedule and ITL p50
#     drops towards 0, several events arriving in one read).
# Usage: scripts/bench-overhead.sh [seconds=20] [levels="256:2 1024:2 4096:2 1024:10"] [threads=1]
# SIM_THREADS=N serves the simulator on N threads (`sim --threads`).
# Prints the table; set OVERHEAD_MD=FILE to also write it, with the
# machine and the command, to FILE.
set -euo pipefail
secs="${1:-20}"
levels="${2:-256:2 1024:2 4096:2 1024:10}"
threads="${3:-1}"
sim_threads="${SIM_THREADS:-1}"
source "$(dirname "$0")/lib/bench.sh"

run_level() { # concurrency, itl_ms, threads
  local c="$1" itl="$2" t="$3" sim_before sim_after
  cat >"$out/flat.toml" <<TOML
flavor = "vllm"
stack = "bench"
quantization = "none"
model = "bench"
[latency]
ttft-ms = 10.0
prefill-tps = 10000000.0
decode-tps = $(python3 -c "print(1000 / $itl)")
max-slots = 16384
TOML
  start_sim --threads "$sim_threads" --profile "$out/flat.toml"
  sim_before=$(cpu_s "$sim_pid")
  /usr/bin/time -f "%e %U %S %M" -o "$out/time-$c-$itl-$t" "$bin" run --quiet --no-metrics \
    --base-url "$url" --out "$out/c$c-$itl-t$t" -c "$c" --threads "$t" --duration "${secs}s" \
    --output-tokens 256 --prompt-tokens 32 --warmup-requests 0 --seed 1 >/dev/null
  sim_after=$(cpu_s "$sim_pid")
  stop_sim
  echo "$sim_before $sim_after" >"$out/sim-$c-$itl-$t"
}

run_level 1 2 1
for level in $levels; do
  run_level "${level%%:*}" "${level##*:}" "$threads"
done

table=$(python3 - "$out" "$threads" $levels <<'PY'
import json, sys
out, threads, levels = sys.argv[1], sys.argv[2], sys.argv[3:]
def load(c, itl, t):
    s = json.load(open(f"{out}/c{c}-{itl}-t{t}/run.json"))["summary"]
    wall, user, sys_, rss_kb = (float(x) for x in open(f"{out}/time-{c}-{itl}-{t}").read().split())
    a, b = (float(x) for x in open(f"{out}/sim-{c}-{itl}-{t}").read().split())
    return s, wall, user + sys_, rss_kb / 1024, (b - a) / wall * 100
_, _, _, base_rss, _ = load(1, 2, 1)
f = lambda x, d: "-" if x is None else f"{x:.{d}f}"
print("| c | ITL ms | threads | tokens | tok/s | schedule tok/s | client µs/token | peak RSS MiB | KiB per stream | ITL p50 ms | ITL p99 ms | runtime busy | wake lag p99 ms | saturated | simulator CPU |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for level in levels:
    c, itl = level.split(":")
    s, wall, cpu, rss, sim = load(c, itl, threads)
    tok = s["output_tokens"]
    cl = s.get("client") or {}
    i = s["itl_ms"]
    per_stream = (rss - base_rss) * 1024 / int(c)
    schedule = int(c) * 256 / (0.010 + 255 * float(itl) / 1000)
    lag = (cl.get("wake_lag_ms") or {}).get("p99")
    print(f"| {c} | {itl} | {threads} | {tok} | {s['output_tok_s']:.0f} | {schedule:.0f} | {cpu / max(tok, 1) * 1e6:.2f} | {rss:.1f} | {per_stream:.1f} "
          f"| {f(i['p50'], 3)} | {f(i['p99'], 3)} | {f(cl.get('runtime_busy_pct'), 0)}% | {f(lag, 2)} | {'yes' if cl.get('saturated') else 'no'} | {sim:.0f}% |")
PY
)
echo "$table"
if [[ -n "${OVERHEAD_MD:-}" ]]; then
  {
    echo "# Client overhead, $(date -u +%Y-%m-%d)"
    echo
    echo "Command: \`scripts/bench-overhead.sh $secs \"$levels\" $threads\` at $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')."
    echo "Simulator threads: $sim_threads."
    echo "Machine: $(nproc) vCPUs ($(lscpu | sed -n 's/^Model name: *//p')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)."
    echo
    echo "$table"
  } >"$OVERHEAD_MD"
fi
