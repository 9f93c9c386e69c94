#!/usr/bin/env bash
# Builds a local podman image of the CPU llama-server (no registry needed):
# the binary from scripts/install-llama-server.sh, every shared library it
# loads (from ldd), the dynamic loader and the SmolLM2-135M model, in a
# FROM-scratch image. Rebuilt only when missing (podman keeps it).
#
# Usage: scripts/build-llama-image.sh [TAG [--model-type TYPE] [SERVER FLAG...]]
#   (default TAG localhost/stackbench-llama-server:local)
# With more arguments, builds TAG on top of the default image as a stand-in
# for a changed upstream image: --model-type TYPE swaps the model for the
# same weights converted to TYPE (llama-quantize --allow-requantize), server
# flags are baked into its entry point, e.g.
#   scripts/build-llama-image.sh localhost/stackbench-llama-server:f32 --model-type F32
# (the "bad upgrade" of the container-upgrade recipe: F32 weights, 5.6x the
# bytes read per token; single-threaded decode is ~55 % slower, busy box or
# not).
# Prints IMAGE=<tag>. Extra server flags are the container's arguments, e.g.
#   podman run --rm --pull never -p 18081:8080 IMAGE -np 4
# Environment: CONTAINERS_CONF (default: this repo's scripts/containers.conf,
# runc and ulimits that work on this kind of VM; see docs/containers.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
base_tag="localhost/stackbench-llama-server:local"
tag="${1:-$base_tag}"
shift $(( $# > 0 ? 1 : 0 ))
model_type=""
if [[ "${1:-}" == "--model-type" ]]; then
  model_type="${2:?--model-type needs a type, e.g. F16}"
  shift 2
fi
variant_flags=("$@")
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
command -v podman >/dev/null || { echo "build-llama-image: error: podman is not installed (apt-get install podman runc)" >&2; exit 2; }
if podman image exists "$tag"; then
  echo "IMAGE=$tag"
  exit 0
fi
if [[ ${#variant_flags[@]} -gt 0 || -n "$model_type" ]]; then
  bash "$here/build-llama-image.sh" "$base_tag" >/dev/null
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  entry='"/app/llama-server", "-m", "/models/model.gguf", "--host", "0.0.0.0", "--port", "8080", "--metrics"'
  for f in "${variant_flags[@]}"; do entry+=", \"$f\""; done
  printf 'FROM %s\n' "$base_tag" > "$ctx/Containerfile"
  if [[ -n "$model_type" ]]; then
    eval "$(bash "$here/install-llama-server.sh" | grep -E '^LLAMA_SERVER_(BIN|MODEL)=')"
    "$(dirname "$LLAMA_SERVER_BIN")/llama-quantize" --allow-requantize \
      "$LLAMA_SERVER_MODEL" "$ctx/model.gguf" "$model_type" >"$ctx/quantize.log" 2>&1 \
      || { cat "$ctx/quantize.log" >&2; echo "build-llama-image: error: llama-quantize to $model_type failed" >&2; exit 2; }
    printf 'COPY model.gguf /models/model.gguf\n' >> "$ctx/Containerfile"
  fi
  printf 'ENTRYPOINT [%s]\n' "$entry" >> "$ctx/Containerfile"
  podman build --quiet --pull=never -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
  echo "IMAGE=$tag"
  exit 0
fi
eval "$(bash "$here/install-llama-server.sh" | grep -E '^LLAMA_SERVER_(BIN|MODEL)=')"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/app" "$ctx/root/models" "$ctx/root/tmp"
# The binary finds its own libraries next to it (RUNPATH $ORIGIN); system
# libraries and the loader keep their absolute paths.
bindir="$(dirname "$LLAMA_SERVER_BIN")"
cp -L "$LLAMA_SERVER_BIN" "$ctx/root/app/llama-server"
ldd "$LLAMA_SERVER_BIN" | awk '/=> \// {print $3} /^[ \t]*\/lib/ {print $1}' | while read -r lib; do
  case "$lib" in
    "$bindir"/*) cp -L "$lib" "$ctx/root/app/" ;;
    *) mkdir -p "$ctx/root$(dirname "$lib")"; cp -L "$lib" "$ctx/root$lib" ;;
  esac
done
cp "$LLAMA_SERVER_MODEL" "$ctx/root/models/model.gguf"
cat > "$ctx/Containerfile" <<'CF'
FROM scratch
COPY root/ /
EXPOSE 8080
ENTRYPOINT ["/app/llama-server", "-m", "/models/model.gguf", "--host", "0.0.0.0", "--port", "8080", "--metrics"]
CF
podman build --quiet -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
echo "IMAGE=$tag"
