#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the real llama-server, vLLM
# (CPU build) and Ollama (built from its Go module) with their models into
# the cache (minutes on a fresh machine, seconds afterwards), podman and
# local llama-server and Ollama images, docker (Debian's docker.io, its
# daemon started here) with the same images,
# chromium for the report check, then
# format check, the house rules (scripts/house-rules.sh), lints and every
# test.
# Tests that need a real server fail, not skip, when it is missing: this
# script exports where they are and requires them.
set -euo pipefail
cd "$(dirname "$0")/.."

# A section header with the time of day: the log shows where the test
# command's minutes go.
step() {
  echo "== [$(date +%H:%M:%S)] $*"
}

# Waits for the background job PID, prints its log LOG and stops the script
# when the job (WHAT) failed.
await_job() {
  local pid="$1" log="$2" what="$3" rc=0
  wait "$pid" || rc=$?
  cat "$log"
  if [ "$rc" -ne 0 ]; then
    echo "error: $what failed (exit $rc)" >&2
    exit 1
  fi
}

# Debian packages the tests need, installed in one apt run in the
# background: downloads and unpacking overlap the CPU-bound llama-server
# and Ollama builds below (minutes on a fresh machine; nothing to do after).
debs=()
command -v podman >/dev/null || debs+=(podman runc catatonit)
{ command -v dockerd >/dev/null && command -v docker >/dev/null; } || debs+=(docker.io)
command -v chromium >/dev/null || debs+=(chromium)
apt_log="$(mktemp "${TMPDIR:-/tmp}/stackbench-apt.XXXXXX")"
apt_pid=""
if [ "${#debs[@]}" -gt 0 ]; then
  step "installing ${debs[*]} from Debian, in the background"
  # docker.io's postinst may fail to start the service (no init system);
  # scripts/start-docker.sh starts dockerd either way.
  ( apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${debs[@]}" ) >"$apt_log" 2>&1 &
  apt_pid=$!
fi

# vLLM's install is mostly downloads (wheels): it runs beside the
# llama-server build, which is mostly compiling, and its output follows.
step "installing vLLM 0.32.0 (CPU build) and its model folder, in the background"
vllm_log="$(mktemp "${TMPDIR:-/tmp}/stackbench-vllm-install.XXXXXX")"
bash scripts/install-vllm.sh >"$vllm_log" 2>&1 &
vllm_pid=$!

step "installing llama-server and the SmolLM2 model (cached in ${STACKBENCH_CACHE:-$HOME/.cache/stackbench})"
eval "$(bash scripts/install-llama-server.sh | grep -E '^LLAMA_SERVER_(BIN|MODEL)=')"
export LLAMA_SERVER_BIN LLAMA_SERVER_MODEL
export STACKBENCH_REQUIRE_LLAMA_SERVER=1

step "vLLM install (output of the background job)"
await_job "$vllm_pid" "$vllm_log" "scripts/install-vllm.sh"
eval "$(grep -E '^VLLM_(PYTHON|MODEL)=' "$vllm_log")"
rm -f "$vllm_log"
export VLLM_PYTHON VLLM_MODEL
export STACKBENCH_REQUIRE_VLLM=1

step "building Ollama 0.17.4 from its Go module and importing the SmolLM2 model"
eval "$(bash scripts/install-ollama.sh | grep -E '^OLLAMA_(BIN|MODELS|MODEL)=')"
export OLLAMA_BIN OLLAMA_MODELS OLLAMA_MODEL
export STACKBENCH_REQUIRE_OLLAMA=1

if [ -n "$apt_pid" ]; then
  step "Debian packages (output of the background job)"
  await_job "$apt_pid" "$apt_log" "apt-get install ${debs[*]}"
fi
rm -f "$apt_log"

step "podman and the local llama-server image"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/scripts/containers.conf}"
bash scripts/build-llama-image.sh
# The "bad upgrade" of the container-upgrade test: the model as F32 weights.
bash scripts/build-llama-image.sh localhost/stackbench-llama-server:f32 --model-type F32
bash scripts/build-ollama-image.sh >/dev/null
export STACKBENCH_REQUIRE_PODMAN=1

step "docker (its daemon started when not running) with the same images"
# DGX OS runs docker: the container tests run on both engines. The script
# loads podman's images into docker only when docker lacks them (cached:
# well under a second). A dockerd it starts keeps running after the tests,
# so the next run finds it answering (its PID and log are in the cache
# folder).
bash scripts/start-docker.sh
export STACKBENCH_REQUIRE_DOCKER=1

step "chromium: the HTML report is opened headless"
command -v chromium >/dev/null || { echo "error: chromium is missing" >&2; exit 1; }
export STACKBENCH_REQUIRE_CHROMIUM=1

step "cargo fmt --check"
cargo fmt --all --check

# No function over 80 lines, no unused dependency (cargo-shear, installed
# pinned on first use), every script executable: seconds, before the
# long builds.
step "house rules"
scripts/house-rules.sh

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Release mode: the timing tests compare against the simulator's schedule
# with millisecond tolerances, and unoptimized tokio/hyper add ~2 ms per
# request. The demo command builds the same release profile.
# --no-fail-fast: every test binary runs and every failure is listed, not
# only those of the first binary that fails.
# --test-threads 4 on 2 cores: the simulator tests mostly wait on simulated
# time (98 tests: 37 s of CPU in 163 s at 4 threads, 280 s at 2; they passed
# at 4 beside a 2-job C++ build too). The real-server tests take turns on a
# lock (tests/common/turn.rs) whatever the thread count.
# The cli tests' harness lists the JSON key paths of every result file the
# runs write (crates/cli/tests/common/schema_keys.rs); after the tests,
# scripts/schema-check.py fails unless they and docs/results-schema.md
# agree both ways. Only the whole suite (real servers included) writes
# every documented field, so the check runs here, not in cargo test.
STACKBENCH_SCHEMA_KEYS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/stackbench-schema-keys.XXXXXX")"
export STACKBENCH_SCHEMA_KEYS_DIR

# Each real-server test appends its wall time here (tests/common/turn.rs);
# the slowest are printed after the tests, pass or fail, so the test
# command's time stays in view test by test.
STACKBENCH_TEST_TIMES="$(mktemp "${TMPDIR:-/tmp}/stackbench-test-times.XXXXXX")"
export STACKBENCH_TEST_TIMES

step "cargo test (release)"
test_rc=0
cargo test --workspace --locked --release --no-fail-fast -- --test-threads 4 || test_rc=$?
step "the slowest real-server tests (seconds, of $(awk '{s+=$1} END {printf "%.0f", s}' "$STACKBENCH_TEST_TIMES") s in all)"
sort -rn "$STACKBENCH_TEST_TIMES" | head -n 12 || true
rm -f "$STACKBENCH_TEST_TIMES"
[ "$test_rc" -eq 0 ] || exit "$test_rc"

step "result files against docs/results-schema.md"
python3 scripts/schema-check.py "$STACKBENCH_SCHEMA_KEYS_DIR"
rm -rf "$STACKBENCH_SCHEMA_KEYS_DIR"
step "all passed"
