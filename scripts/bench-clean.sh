#!/usr/bin/env bash
# Clean and warm on the three real servers of this machine, as the committed
# results/committed/<date>-clean-warm-cpu-smollm2/ hold it. Each server is
# started fresh by its own start script (as users start it), then:
#   1. warm-up auto on the fresh (cold) server, then again (warm);
#   2. the same run three times: once, again (served from the cache:
#      flagged), and with --reset-cache (proven, or not, by the server's own
#      cached counts; Ollama reports none);
#   3. vLLM only: a sweep (-c 1,2,4, --seed) twice, and compare's gate on
#      the pair, failing on the flag and passing with --allow cache.
# llama-server runs twice: as it ships (its RAM prompt cache on) and with
# --cache-ram 0; both with --slot-save-path, which slot erases need.
# Needs the installs (scripts/install-*.sh) and ~10 minutes on 2 cores.
#   scripts/bench-clean.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/bench-clean.sh OUT_DIR}"
source scripts/lib/bench-servers.sh
model="${OLLAMA_MODEL:-stackbench-smollm2:135m-instruct-q4_1}"

run() { # URL DIR EXTRA... (a run that may exit 1 or 2 is the caller's to judge)
  local url=$1 dir=$2; shift 2
  mkdir -p "$(dirname "$dir")"
  "$bin" run --base-url "$url" --quiet --out "$dir" --ready-timeout 10m "$@" >"$dir.txt" 2>&1
}

warm() { # URL DIR EXTRA...: warm-up auto, cold then warm
  local url=$1 dir=$2 w; shift 2
  mkdir -p "$dir"
  for w in cold warm; do
    run "$url" "$dir/warmup-$w" -c 1 -n 4 --warmup-requests auto --output-tokens 64 "$@"
  done
}

three() { # URL DIR EXTRA...: once, again, with --reset-cache
  local url=$1 dir=$2; shift 2
  local load=(-c 2 -n 8 --warmup-requests 0 --prompt-tokens 128 --output-tokens 32 --seed 4242)
  run "$url" "$dir/1-first" "${load[@]}" "$@"
  run "$url" "$dir/2-again" "${load[@]}" "$@"
  run "$url" "$dir/3-reset" "${load[@]}" --reset-cache "$@"
}

saves="$(mktemp -d)"
echo "== llama-server (RAM prompt cache on, as it ships)" >&2
serve llama-server bash scripts/start-llama-server.sh --port 18491 -np 2 -c 8192 --slot-save-path "$saves/"
warm http://127.0.0.1:18491 "$out/llama-server" --stack llama-server
three http://127.0.0.1:18491 "$out/llama-server" --stack llama-server
stop

echo "== llama-server --cache-ram 0" >&2
serve llama-server-no-ram bash scripts/start-llama-server.sh --port 18492 -np 2 -c 8192 \
  --slot-save-path "$saves/" --cache-ram 0
three http://127.0.0.1:18492 "$out/llama-server-no-ram" --stack llama-server
stop

echo "== vLLM (dev mode)" >&2
serve vllm bash scripts/start-vllm.sh --port 18493 --reset-cache --block-size 32
warm http://127.0.0.1:18493 "$out/vllm" --stack vLLM
three http://127.0.0.1:18493 "$out/vllm" --stack vLLM
sweep=(-c 1,2,4 -n 8 --warmup-requests 1 --prompt-tokens 128 --output-tokens 32 --seed 99 --stack vLLM)
"$bin" run --base-url http://127.0.0.1:18493 --quiet --out "$out/vllm/sweep-1" "${sweep[@]}" >"$out/vllm/sweep-1.txt" 2>&1
"$bin" run --base-url http://127.0.0.1:18493 --quiet --out "$out/vllm/sweep-2" "${sweep[@]}" >"$out/vllm/sweep-2.txt" 2>&1
set +e
"$bin" compare "$out/vllm/sweep-1" "$out/vllm/sweep-2" --junit "$out/vllm/gate.xml" >"$out/vllm/gate.md" 2>&1
echo "exit $?" >>"$out/vllm/gate.md"
"$bin" compare "$out/vllm/sweep-1" "$out/vllm/sweep-2" --allow cache --junit "$out/vllm/gate-allowed.xml" \
  >"$out/vllm/gate-allowed.md" 2>&1
echo "exit $?" >>"$out/vllm/gate-allowed.md"
set -e
stop

echo "== Ollama" >&2
serve ollama bash scripts/start-ollama.sh --port 18494
warm http://127.0.0.1:18494 "$out/ollama" --api ollama-chat --model "$model" --stack Ollama
three http://127.0.0.1:18494 "$out/ollama" --api ollama-chat --model "$model" --stack Ollama
stop
rm -rf "$saves"
echo "results: $out" >&2
