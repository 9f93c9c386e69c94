#!/usr/bin/env bash
# The long-context curve of the three real servers on this machine, as the
# committed results/committed/<date>-depth-cpu-smollm2/ hold it: each server
# started by its own start script (as users start it), then
#   1. pp512/tg128 at depths 0, 1024 and 4096, one user (llama-server through
#      /v1/completions, no chat template, with llama-bench's batch, ubatch,
#      threads and KV type: the side by side with
#      results/bench/llama-bench-depth/; vLLM and Ollama through chat);
#   2. pp128/tg16 at depth 2048 for two users, the depth cache on and off
#      (llama-server and vLLM): the prefill seconds the cache saves, from
#      the servers' own cached-token counts.
# Needs the installs (scripts/install-*.sh) and ~25 minutes on 2 cores.
#   scripts/bench-depth.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/bench-depth.sh OUT_DIR}"
source scripts/lib/bench-servers.sh

series() { # URL DIR EXTRA...
  local url=$1 dir=$2; shift 2
  "$bin" run --base-url "$url" --quiet --out "$dir" -c 1 -n 3 --warmup-requests 1 \
    --prompt-tokens 512 --output-tokens 128 --depth 0,1024,4096 --ready-timeout 10m "$@"
}

cache_pair() { # URL DIR EXTRA...
  local url=$1 dir=$2 c; shift 2
  for c in on off; do
    "$bin" run --base-url "$url" --quiet --out "$dir/cache-$c" -c 2 -n 4 --warmup-requests 0 \
      --prompt-tokens 128 --output-tokens 16 --depth 2048 --depth-cache "$c" "$@"
  done
}

echo "== llama-server" >&2
serve llama-server bash scripts/start-llama-server.sh --port 18481 -t 2 -np 2 -c 16384 -b 2048 -ub 512 -fa auto
series http://127.0.0.1:18481 "$out/llama-server" --api completions --stack llama-server --quantization Q4_1 \
  > "$out/llama-server.tables.md"
cache_pair http://127.0.0.1:18481 "$out/llama-server" --stack llama-server --quantization Q4_1
stop

echo "== vLLM" >&2
serve vllm bash scripts/start-vllm.sh --port 18482 --max-model-len 8192 --block-size 32
series http://127.0.0.1:18482 "$out/vllm" --stack vLLM --quantization BF16-dummy > "$out/vllm.tables.md"
cache_pair http://127.0.0.1:18482 "$out/vllm" --stack vLLM --quantization BF16-dummy
stop

echo "== Ollama" >&2
OLLAMA_NUM_PARALLEL=1 OLLAMA_CONTEXT_LENGTH=8192 serve ollama bash scripts/start-ollama.sh --port 18483
series http://127.0.0.1:18483 "$out/ollama" --api ollama-chat --model "${OLLAMA_MODEL:-stackbench-smollm2:135m-instruct-q4_1}" \
  --stack Ollama --quantization Q4_1 > "$out/ollama.tables.md"
stop
echo "results: $out" >&2
