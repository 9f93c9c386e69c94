#!/usr/bin/env bash
# Records a real Ollama's responses (status line, headers, body) for the
# test fixtures: what the simulator's Ollama flavor and the parsers are held
# to. Every file is one exchange made with curl -si; the README written
# beside them says which request made each.
#
# Usage: scripts/capture-ollama.sh URL MODEL OUTDIR
#   e.g. scripts/capture-ollama.sh http://127.0.0.1:11500 stackbench-smollm2:135m-instruct-q4_1 \
#          crates/wire/tests/fixtures/ollama-0.17.4
# The server should be started with scripts/start-ollama.sh (its defaults:
# OLLAMA_NUM_PARALLEL=4, OLLAMA_CONTEXT_LENGTH=2048) and the model loaded.
set -euo pipefail
url="${1:?URL}"; model="${2:?MODEL}"; out="${3:?OUTDIR}"
mkdir -p "$out"
readme="$out/README.md"
version="$(curl -sf "$url/api/version")"
{
  echo "# Real Ollama responses"
  echo
  echo "Recorded by \`scripts/capture-ollama.sh\` on $(date -u +%Y-%m-%d) from Ollama $version"
  echo "(built from its Go module by \`scripts/install-ollama.sh\`, CPU, started by"
  echo "\`scripts/start-ollama.sh\`), serving the SmolLM2-135M-Instruct Q4_1 GGUF imported"
  echo "as \`$model\`. Each file is \`curl -si\` of one request: status line, headers"
  echo "(the Date header is as recorded), body. Greedy sampling (temperature 0, seed 1)."
  echo
  echo "| file | request |"
  echo "| --- | --- |"
} >"$readme"

# capture NAME METHOD PATH [BODY]
capture() {
  local name="$1" method="$2" path="$3" body="${4:-}"
  if [[ -n "$body" ]]; then
    curl -si -X "$method" "$url$path" -H 'Content-Type: application/json' -d "$body" >"$out/$name"
    echo "| \`$name\` | \`$method $path\` \`$body\` |" >>"$readme"
  else
    curl -si -X "$method" "$url$path" >"$out/$name"
    echo "| \`$name\` | \`$method $path\` |" >>"$readme"
  fi
}

opts='"options":{"num_predict":12,"temperature":0,"seed":1}'
capture generate-stream.http POST /api/generate "{\"model\":\"$model\",\"prompt\":\"Write a story about a dragon.\",$opts}"
capture generate-stop.http POST /api/generate "{\"model\":\"$model\",\"prompt\":\"Say only the word yes.\",\"options\":{\"num_predict\":64,\"temperature\":0,\"seed\":1}}"
capture generate-whole.http POST /api/generate "{\"model\":\"$model\",\"prompt\":\"Write a story about a dragon.\",\"stream\":false,$opts}"
capture chat-stream.http POST /api/chat "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a story about a dragon.\"}],$opts}"
capture v1-chat-stream.http POST /v1/chat/completions "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a story about a dragon.\"}],\"stream\":true,\"max_tokens\":12,\"temperature\":0,\"seed\":1,\"stream_options\":{\"include_usage\":true}}"
capture v1-completions-stream.http POST /v1/completions "{\"model\":\"$model\",\"prompt\":\"Write a story about a dragon.\",\"stream\":true,\"max_tokens\":12,\"temperature\":0,\"seed\":1,\"stream_options\":{\"include_usage\":true}}"
capture version.http GET /api/version
capture tags.http GET /api/tags
capture ps.http GET /api/ps
capture show.http POST /api/show "{\"model\":\"$model\"}"
capture v1-models.http GET /v1/models
capture root.http GET /
capture health.http GET /health
capture metrics.http GET /metrics
capture error-unknown-model-generate.http POST /api/generate '{"model":"no-such-model:1b","prompt":"hi"}'
capture error-unknown-model-chat.http POST /api/chat '{"model":"no-such-model:1b","messages":[{"role":"user","content":"hi"}]}'
capture error-unknown-model-v1-chat.http POST /v1/chat/completions '{"model":"no-such-model:1b","messages":[{"role":"user","content":"hi"}],"stream":true}'
capture error-bad-option.http POST /api/generate "{\"model\":\"$model\",\"prompt\":\"hi\",\"options\":{\"num_predict\":\"many\"}}"
capture error-bad-json.http POST /api/generate '{"model":'
capture error-pull-offline.http POST /api/pull '{"model":"no-such-model:1b"}'
capture unload.http POST /api/generate "{\"model\":\"$model\",\"keep_alive\":0}"
capture ps-after-unload.http GET /api/ps
capture generate-cold.http POST /api/generate "{\"model\":\"$model\",\"prompt\":\"Write a story about a dragon.\",$opts}"
echo "$out"
