#!/usr/bin/env bash
# Builds a local podman image of the CPU Ollama (no registry needed): the
# binary from scripts/install-ollama.sh, every shared library it loads (from
# ldd), the dynamic loader and the models folder holding the imported
# SmolLM2-135M model, in a FROM-scratch image. Rebuilt only when missing
# (podman keeps it).
#
# Usage: scripts/build-ollama-image.sh [TAG]
#   (default TAG localhost/stackbench-ollama:local)
# Prints IMAGE=<tag> and MODEL=<name>. Settings are environment variables
# of the container, e.g.
#   podman run --rm --pull never -p 11435:11434 -e OLLAMA_NUM_PARALLEL=4 IMAGE
# Environment: CONTAINERS_CONF (default: this repo's scripts/containers.conf,
# runc and ulimits that work on this kind of VM; see docs/containers.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tag="${1:-localhost/stackbench-ollama:local}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
command -v podman >/dev/null || { echo "build-ollama-image: error: podman is not installed (apt-get install podman runc)" >&2; exit 2; }
eval "$(bash "$here/install-ollama.sh" | grep -E '^OLLAMA_(BIN|MODELS|MODEL)=')"
if podman image exists "$tag"; then
  echo "IMAGE=$tag"
  echo "MODEL=$OLLAMA_MODEL"
  exit 0
fi
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/app" "$ctx/root/models" "$ctx/root/tmp" "$ctx/root/home"
cp -L "$OLLAMA_BIN" "$ctx/root/app/ollama"
ldd "$OLLAMA_BIN" | awk '/=> \// {print $3} /^[ \t]*\/lib/ {print $1}' | while read -r lib; do
  mkdir -p "$ctx/root$(dirname "$lib")"; cp -L "$lib" "$ctx/root$lib"
done
# Only the imported model: its manifest and the blobs it names.
cp -r "$OLLAMA_MODELS/." "$ctx/root/models/"
cat > "$ctx/Containerfile" <<'CF'
FROM scratch
COPY root/ /
# `ollama serve` writes its key pair under $HOME/.ollama at start.
ENV HOME=/home OLLAMA_HOST=0.0.0.0:11434 OLLAMA_MODELS=/models OLLAMA_NO_CLOUD=1 \
    OLLAMA_NUM_PARALLEL=4 OLLAMA_KEEP_ALIVE=30m OLLAMA_CONTEXT_LENGTH=2048
EXPOSE 11434
ENTRYPOINT ["/app/ollama", "serve"]
CF
podman build --quiet -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
echo "IMAGE=$tag"
echo "MODEL=$OLLAMA_MODEL"
