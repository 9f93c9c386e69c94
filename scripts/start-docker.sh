#!/usr/bin/env bash
# Docker for the test command: DGX OS runs docker, so stackbench's docker
# path is tested for real, not only podman's. Installs Debian's docker.io
# when dockerd is missing, starts dockerd when no daemon answers (no init
# system starts it on the development VMs; see docs/containers.md) and loads
# the locally built podman images into it, each only when docker lacks it or
# holds another image ID under that tag: a cached run costs a few
# `inspect`s.
#
# Usage: scripts/start-docker.sh [IMAGE...]
#   (default: the llama-server :local and :f32 images and the Ollama image
#   that scripts/build-llama-image.sh and scripts/build-ollama-image.sh
#   build)
# A dockerd started here keeps running after this script (and the tests)
# end, so the next run finds it answering; its PID is in
# $STACKBENCH_CACHE/dockerd.pid and its log in $STACKBENCH_CACHE/dockerd.log.
# Stop it with `kill "$(cat ~/.cache/stackbench/dockerd.pid)"`.
# Environment: STACKBENCH_CACHE (default ~/.cache/stackbench),
#   DOCKERD_WAIT_S (default 60): how long dockerd may take to answer,
#   CONTAINERS_CONF (default: this repo's scripts/containers.conf).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${STACKBENCH_CACHE:-$HOME/.cache/stackbench}"
wait_s="${DOCKERD_WAIT_S:-60}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
if [[ $# -eq 0 ]]; then
  set -- localhost/stackbench-llama-server:local localhost/stackbench-llama-server:f32 \
    localhost/stackbench-ollama:local
fi
say() { echo "start-docker: $*" >&2; }

if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
  say "installing Debian's docker.io"
  apt-get update -qq
  # The package's postinst may fail to start the service (no init system);
  # dockerd is started below either way.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  mkdir -p "$cache"
  log="$cache/dockerd.log"
  say "starting dockerd (log: $log)"
  # Its own session, so the test command's Ctrl-C does not reach it.
  setsid dockerd >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$cache/dockerd.pid"
  deadline=$((SECONDS + wait_s))
  until docker info >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "error: dockerd exited before answering; the end of $log:"
      tail -n 20 "$log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      say "error: dockerd (pid $pid) did not answer \`docker info\` within ${wait_s}s; the end of $log:"
      tail -n 20 "$log" >&2
      kill "$pid" 2>/dev/null || true
      exit 1
    fi
    sleep 0.5
  done
fi

for image in "$@"; do
  # The image ID is the sha256 of the image's config: podman save and
  # docker load keep it (docker prints it with a "sha256:" prefix).
  want="$(podman image inspect -f '{{.Id}}' "$image")" || {
    say "error: podman has no $image (scripts/build-llama-image.sh and scripts/build-ollama-image.sh build them)"
    exit 1
  }
  have="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  if [[ "${have#sha256:}" == "${want#sha256:}" ]]; then
    continue
  fi
  say "loading $image into docker"
  tmp="$(mktemp "${TMPDIR:-/tmp}/stackbench-image.XXXXXX.tar")"
  podman save -q "$image" -o "$tmp"
  docker load -q -i "$tmp" >/dev/null
  rm -f "$tmp"
  have="$(docker image inspect -f '{{.Id}}' "$image")"
  if [[ "${have#sha256:}" != "${want#sha256:}" ]]; then
    say "error: docker holds $image as $have after loading podman's ${want}"
    exit 1
  fi
done
echo "DOCKER=$(docker version -f '{{.Server.Version}}')"
