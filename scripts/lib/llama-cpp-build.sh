# Shared by install-llama-server.sh and install-llama-bench.sh (sourced, not
# run): how both compile programs from llama.cpp's source
# (llama-cpp-source.sh), so that llama-bench measures the same code, built
# with the same CMake options, CPU flavor and $ORIGIN run path, as the
# llama-server the benchmarks drive. The caller defines say and die (its
# own message prefix).
#   llama_cpp_find_build_tools PYTHON CACHE   sets $cmake and $generator
#   llama_cpp_build SRC BUILD NAME TARGET...  configures SRC into the fresh
#       folder BUILD and builds the CMake targets (NAME: for the messages)
#   llama_cpp_install BUILD PREFIX            puts BUILD/bin into PREFIX
# Environment: CMAKE_ARGS (replaces the CMake options below),
# LLAMA_CPP_BUILD_JOBS (parallel compile jobs, default: the number of cores).

# The build targets x86-64-v3 (AVX2, FMA, F16C), not the build machine's
# own CPU (-march=native): on a VM that advertises AMX without enabling it
# (seen here: a Firecracker guest on a Sapphire Rapids host), a native build
# runs AMX `tilezero` and dies of SIGILL as soon as it loads a model, and a
# cached native build would also break on a machine with fewer features.
# The callers put the flavor in their folder names, so an older build in
# the cache is not reused.
BUILD_FLAVOR="x86-64-v3"
LLAMA_CPP_CMAKE_OPTIONS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

# CMake and Ninja from the system when present, else from PyPI into the
# cache (the sdist's own build takes CMake from PyPI too). Sets $cmake and
# $generator.
llama_cpp_find_build_tools() {
  local python="$1" tools="$2/build-tools"
  cmake="$(command -v cmake || true)"
  if [[ -z "$cmake" ]]; then
    if [[ ! -x "$tools/bin/cmake" ]]; then
      say "no cmake on PATH: installing cmake and ninja from PyPI into $tools"
      "$python" -m venv "$tools" && "$tools/bin/pip" install --quiet --disable-pip-version-check cmake ninja \
        || die "could not install cmake from PyPI (or install it: apt-get install cmake ninja-build)"
    fi
    cmake="$tools/bin/cmake"
    PATH="$tools/bin:$PATH"
  fi
  generator=()
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
}

# Configures as the sdist's setup.py does (its CMake options, the $ORIGIN
# run path) and builds only the given targets. Needs $cmake and $generator.
llama_cpp_build() {
  local src="$1" build="$2" name="$3"
  shift 3
  local -a options
  # shellcheck disable=SC2206 # CMAKE_ARGS is a list of options, as for pip.
  options=(${CMAKE_ARGS:-$LLAMA_CPP_CMAKE_OPTIONS})
  rm -rf "$build" && mkdir -p "$(dirname "$build")"
  "$cmake" -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "${options[@]}" \
    '-DCMAKE_INSTALL_RPATH=$ORIGIN' -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON -DCMAKE_INSTALL_RPATH_USE_LINK_PATH=OFF \
    >"$build.configure.log" 2>&1 \
    || { tail -n 30 "$build.configure.log" >&2; die "configuring llama.cpp failed (log: $build.configure.log)"; }
  "$cmake" --build "$build" --config Release --target "$@" \
      -j "${LLAMA_CPP_BUILD_JOBS:-$(nproc)}" >&2 \
    || die "building $name failed (see the build log above)"
}

# The programs and the shared libraries beside them ($ORIGIN), links kept;
# PREFIX is replaced whole, and only once the copy is complete.
llama_cpp_install() {
  local build="$1" prefix="$2"
  rm -rf "$prefix.part" && mkdir -p "$prefix.part"
  cp -a "$build/bin/." "$prefix.part/" || die "could not copy the build into $prefix"
  rm -rf "$prefix" && mv "$prefix.part" "$prefix"
  rm -rf "$build" "$build.configure.log"
}
