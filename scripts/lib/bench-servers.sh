# Shared by the scripts that measure the three real servers of this machine
# (scripts/bench-depth.sh, scripts/bench-clean.sh). Sourced from the
# repository root with `out` set to a results folder that must not exist:
# builds the release binary, finds the installs, and defines
#   serve NAME COMMAND...   start a server in its own process group,
#                           logging to $out/NAME.server.log
#   stop                    stop it and everything it started (vLLM forks
#                           an engine core); also run on exit
[[ -e "$out" ]] && { echo "$(basename "$0"): $out exists; choose another" >&2; exit 2; }
mkdir -p "$out"
bin=target/release/stackbench
cargo build --release -q -p stackbench-cli
eval "$(bash scripts/install-llama-server.sh)"
eval "$(bash scripts/install-vllm.sh)"
eval "$(bash scripts/install-ollama.sh)"
export LLAMA_SERVER_BIN LLAMA_SERVER_MODEL VLLM_PYTHON VLLM_MODEL OLLAMA_BIN OLLAMA_MODELS

# Job control: each background job is its own process group, whose id is
# the job's first process id.
set -m
pid=""
stop() {
  if [[ -n "$pid" ]]; then
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=""
}
trap stop EXIT

serve() {
  local name=$1; shift
  "$@" >"$out/$name.server.log" 2>&1 &
  pid=$!
}
