#!/usr/bin/env bash
# Starts the real vLLM OpenAI-compatible server installed by
# scripts/install-vllm.sh, serving the SmolLM2-135M-shaped model with dummy
# weights as `smol`, on 127.0.0.1. Runs in the foreground (exec), so the
# caller's PID is the server's; vLLM forks an engine-core process, so stop
# the whole process group (kill -- -PGID) to leave nothing behind.
#
# Usage: scripts/start-vllm.sh [--port N] [--reset-cache] [any vLLM server flag ...]
#   --reset-cache  serve POST /reset_prefix_cache (VLLM_SERVER_DEV_MODE=1), so
#                  that `stackbench run --reset-cache` can empty the prefix
#                  cache; vLLM's other dev endpoints come with it.
#   e.g. scripts/start-vllm.sh --port 8000 --max-num-seqs 64
#        scripts/start-vllm.sh --port 8000 \
#          --speculative-config '{"method":"ngram","num_speculative_tokens":3,"prompt_lookup_max":4}'
# Ready when GET /health answers 200 (about 30-50 s on 2 cores; no port is
# bound before that).
#
# Environment:
#   VLLM_PYTHON, VLLM_MODEL   from install-vllm.sh (default: run it to find them)
#   STACKBENCH_CACHE          cache folder (default: ~/.cache/stackbench)
#   VLLM_CPU_KVCACHE_SPACE    KV cache, GiB (default here: 2)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${STACKBENCH_CACHE:-$HOME/.cache/stackbench}"

if [[ -z "${VLLM_PYTHON:-}" || -z "${VLLM_MODEL:-}" ]]; then
  eval "$(bash "$here/install-vllm.sh" | grep -E '^VLLM_(PYTHON|MODEL)=')"
fi
[[ -x "$VLLM_PYTHON" ]] || { echo "start-vllm: error: VLLM_PYTHON=$VLLM_PYTHON is not an interpreter; run scripts/install-vllm.sh" >&2; exit 2; }
[[ -f "$VLLM_MODEL/config.json" ]] || { echo "start-vllm: error: VLLM_MODEL=$VLLM_MODEL has no config.json; run scripts/install-vllm.sh" >&2; exit 2; }

python="$VLLM_PYTHON" model="$VLLM_MODEL"
# vLLM warns about any VLLM_* variable it does not know.
unset VLLM_PYTHON VLLM_MODEL

port=8000
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    --reset-cache) export VLLM_SERVER_DEV_MODE=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

# Offline: the model folder is local, and nothing may be fetched.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# The CPU build's KV cache (GiB); 2 is plenty for a 135M model.
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}"
# fork starts the engine core in seconds (spawn re-imports torch).
export VLLM_WORKER_MULTIPROC_METHOD="${VLLM_WORKER_MULTIPROC_METHOD:-fork}"
export VLLM_CACHE_ROOT="${VLLM_CACHE_ROOT:-$cache/vllm-cache}"
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1

# `vllm serve` fails on this build (it looks up the version of a
# distribution named `vllm`; this one is `vllm-cpu`): run the server module.
# --enforce-eager: otherwise every start spends ~100 s in torch.compile.
exec "$python" -m vllm.entrypoints.openai.api_server \
  --model "$model" --load-format dummy --served-model-name smol \
  --max-model-len 2048 --dtype bfloat16 --enforce-eager \
  --enable-prompt-tokens-details \
  --host 127.0.0.1 --port "$port" "${args[@]}"
