#!/usr/bin/env bash
# The house rules that a machine can check (docs/development.md), run by
# scripts/test.sh right after the format check and runnable alone. Each
# rule prints what breaks it; the script exits 1 when any rule is broken,
# after running all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-shear, pinned: a newer release may judge differently, so CI and a
# laptop agree only on one version. Installed (from crates.io, --locked)
# when missing or of another version.
SHEAR_VERSION="1.9.1"

failed=()

# Rule 1: no function in crates/*/src over 80 lines (attributes and doc
# comments excluded; test modules skipped). A limit kept only in prose was
# broken within one issue.
echo "== functions over 80 lines"
python3 scripts/long-functions.py 80 || failed+=("long functions")

# Rule 2: no unused dependency, and none in the wrong section (a crate used
# only by integration tests or benches belongs in [dev-dependencies]).
# cargo-shear reads every crate's sources and manifests (also the
# workspace's [workspace.dependencies]); it builds nothing. Unused cargo
# features are not machine-checked: docs/development.md says how to check
# one by hand.
echo "== unused dependencies (cargo-shear $SHEAR_VERSION)"
# (`cargo shear --version` says "dev" for a crates.io build: ask cargo.)
if ! cargo install --list | grep -qx "cargo-shear v$SHEAR_VERSION:"; then
  cargo install --locked "cargo-shear@$SHEAR_VERSION"
fi
cargo shear || failed+=("unused dependencies")

# Rule 3: every script in scripts/ is run directly, so each *.sh and *.py
# is committed executable (git mode 100755, which is what a fresh clone
# gets) and names its interpreter on its first line. scripts/lib/ holds
# files that are sourced, not run.
echo "== executable scripts"
scripts_ok=1
while read -r mode _ _ path; do
  if [ "$mode" != 100755 ]; then
    echo "$path: git mode $mode, not 100755 (git update-index --chmod=+x $path)"
    scripts_ok=0
  fi
  if [ "$(head -c 2 "$path")" != "#!" ]; then
    echo "$path: no #! line"
    scripts_ok=0
  fi
done < <(git ls-files -s -- ':(glob)scripts/*.sh' ':(glob)scripts/*.py')
[ "$scripts_ok" = 1 ] || failed+=("executable scripts")

# Rule 4: library crates return typed errors (thiserror), so a caller can
# tell one failure from another: no public function of a library crate
# returns `Result<_, String>` (the cli binary adds context with anyhow and
# is exempt). A signature split over lines is read whole.
echo "== public functions returning Result<_, String>"
if python3 - <<'PY'
import pathlib, re, sys
sig = re.compile(r"^\s*pub\s+(?:async\s+)?fn\s+\w+[^{;]*?->\s*Result<[^{;]*,\s*String>", re.M | re.S)
bad = []
for f in sorted(pathlib.Path("crates").glob("*/src/**/*.rs")):
    if f.parts[1] == "cli":
        continue
    text = f.read_text(encoding="utf-8")
    for m in sig.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        bad.append(f"{f}:{line}: {m.group(0).strip().splitlines()[0]}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
then :; else failed+=("public String errors"); fi

# Rule 5: generated configs are what their generator makes from their
# sources today: a DGX Spark stack edited without its long-context copy
# would leave the long-context suite running an older stack.
echo "== generated configs up to date"
python3 scripts/gen-long-context-stacks.py --check || failed+=("stale generated configs")

if [ "${#failed[@]}" -gt 0 ]; then
  echo "error: house rules broken: $(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')" >&2
  exit 1
fi
echo "house rules: all kept"
