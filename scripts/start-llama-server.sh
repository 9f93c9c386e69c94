#!/usr/bin/env bash
# Starts the real CPU llama-server installed by scripts/install-llama-server.sh
# with the SmolLM2-135M model, on 127.0.0.1, with /metrics. Runs in the
# foreground (exec): the caller's PID is the server's.
#
# Usage: scripts/start-llama-server.sh [--port N] [any llama-server flag ...]
#   e.g. scripts/start-llama-server.sh --port 18080 -np 32 -c 16384
# Ready when GET /health answers 200 (503 "Loading model" before that).
#
# Environment:
#   LLAMA_SERVER_BIN, LLAMA_SERVER_MODEL  from install-llama-server.sh
#                                         (default: run it to find them)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ -z "${LLAMA_SERVER_BIN:-}" || -z "${LLAMA_SERVER_MODEL:-}" ]]; then
  eval "$(bash "$here/install-llama-server.sh" | grep -E '^LLAMA_SERVER_(BIN|MODEL)=')"
fi
[[ -x "$LLAMA_SERVER_BIN" ]] || { echo "start-llama-server: error: $LLAMA_SERVER_BIN is not executable; run scripts/install-llama-server.sh" >&2; exit 2; }
port=8080
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
exec "$LLAMA_SERVER_BIN" -m "$LLAMA_SERVER_MODEL" --host 127.0.0.1 --port "$port" --metrics "${args[@]}"
