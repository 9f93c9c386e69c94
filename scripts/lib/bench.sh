# Shared by the scripts/bench-*.sh benchmarks (sourced, not run): builds the
# release binary, makes a scratch folder removed on exit, and starts and
# stops the simulator in its own process, so the client's cost is measured
# apart from the server's.
#   $bin      the release stackbench binary
#   $out      scratch folder
#   start_sim ARGS...   `stackbench sim ARGS`; sets $url and $sim_pid
#   stop_sim
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cargo build --release -q -p stackbench-cli
bin=target/release/stackbench
out="$(mktemp -d)"
sim_pid=""
url=""
stop_sim() {
  if [[ -n "$sim_pid" ]]; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  sim_pid=""
}
trap 'stop_sim; rm -rf "$out"' EXIT
start_sim() {
  rm -f "$out/sim.url"
  "$bin" sim "$@" >"$out/sim.url" 2>"$out/sim.err" &
  sim_pid=$!
  for _ in $(seq 100); do [[ -s "$out/sim.url" ]] && break; sleep 0.1; done
  url=$(head -n 1 "$out/sim.url")
  if [[ -z "$url" ]]; then
    echo "the simulator did not start:" >&2
    cat "$out/sim.err" >&2
    exit 2
  fi
}
# CPU seconds (user + system) a process has used so far.
cpu_s() {
  awk '{ sub(/^.*\) /, ""); print ($12 + $13) / 100 }' "/proc/$1/stat"
}
