#!/usr/bin/env bash
# Starts the real Ollama built by scripts/install-ollama.sh on 127.0.0.1,
# serving the models folder that holds the imported SmolLM2-135M model.
# Runs in the foreground (exec): the caller's PID is the server's.
#
# Usage: scripts/start-ollama.sh [--port N]
# Ready when GET / answers 200 "Ollama is running" (models load on first
# use; stackbench preloads the model before measuring).
#
# Environment (each passed on to `ollama serve`; defaults in brackets):
#   OLLAMA_BIN, OLLAMA_MODELS   from install-ollama.sh (default: run it)
#   OLLAMA_NUM_PARALLEL         requests one loaded model serves at once [4]
#   OLLAMA_KEEP_ALIVE           how long an idle model stays loaded [30m]
#   OLLAMA_CONTEXT_LENGTH       context per request, tokens [2048]
#   OLLAMA_MAX_QUEUE            queued requests before 503 [512]
#   OLLAMA_FLASH_ATTENTION, OLLAMA_KV_CACHE_TYPE, OLLAMA_DEBUG  as Ollama documents
# Cloud features are off (OLLAMA_NO_CLOUD=1); this server build has no
# update check (that belongs to Ollama's desktop app).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ -z "${OLLAMA_BIN:-}" || -z "${OLLAMA_MODELS:-}" ]]; then
  eval "$(bash "$here/install-ollama.sh" | grep -E '^OLLAMA_(BIN|MODELS)=')"
fi
[[ -x "$OLLAMA_BIN" ]] || { echo "start-ollama: error: $OLLAMA_BIN is not executable; run scripts/install-ollama.sh" >&2; exit 2; }
port=11434
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --port=*) port="${1#--port=}"; shift ;;
    *) echo "start-ollama: error: unknown argument '$1' (settings are environment variables; see the top of this script)" >&2; exit 2 ;;
  esac
done
export OLLAMA_HOST="127.0.0.1:$port"
export OLLAMA_MODELS
export OLLAMA_NUM_PARALLEL="${OLLAMA_NUM_PARALLEL:-4}"
export OLLAMA_KEEP_ALIVE="${OLLAMA_KEEP_ALIVE:-30m}"
export OLLAMA_CONTEXT_LENGTH="${OLLAMA_CONTEXT_LENGTH:-2048}"
export OLLAMA_NO_CLOUD=1
exec "$OLLAMA_BIN" serve
