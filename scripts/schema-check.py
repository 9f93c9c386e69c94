#!/usr/bin/env python3
"""docs/results-schema.md and the result files the tests wrote agree both ways.

Usage: scripts/schema-check.py KEYS_DIR [DOC]

KEYS_DIR holds the key paths the cli test harness listed with
STACKBENCH_SCHEMA_KEYS_DIR set (crates/cli/tests/common/schema_keys.rs):
lines like `run.json:load.dataset.sha256`. DOC (default
docs/results-schema.md) is read by the rule stated at its top. Fails, listing
them, on (a) written fields the doc does not document and (b) documented
fields no test wrote. Standard library only.
"""

import os
import re
import sys
from collections import defaultdict

# What `summary` distributions hold (the doc: "Each distribution has ...").
DISTRIBUTION = {"count", "mean", "min", "p10", "p50", "p90", "p99", "max"}
IDENT = re.compile(r"^[a-z_][a-z0-9_]*(\[\])?$")


def norm(path):
    """Arrays are transparent when matching: `a[].b` is `a.b`."""
    return path.replace("[]", "")


def section_kind(heading):
    """The result file a heading's first backticked name stands for."""
    m = re.search(r"`([^`]+)`", heading)
    if not m:
        return None
    name = m.group(1)
    if name.endswith((".json", ".jsonl")):
        return name
    cmd = re.fullmatch(r"stackbench (\w+) --json", name)
    return f"{cmd.group(1)}.json" if cmd else name


def cells(row):
    """The cells of a Markdown table row (`\\|` is not a separator)."""
    parts = re.split(r"(?<!\\)\|", row.strip())
    return [c.strip() for c in parts[1:-1]]


def split_top(text, sep=","):
    """`text` split at `sep` outside braces."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur]


def expand(item):
    """`a.{b,c}` -> [`a.b`, `a.c`]."""
    m = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", item)
    if not m:
        return [item]
    return [f"{m.group(1)}{p.strip()}{m.group(3)}" for p in m.group(2).split(",")]


def field_paths(cell, prefix, arrays):
    """The paths a first-column cell names: backticked, comma-separated;
    `.x` is a sibling of the item before; `points[].x` after a row
    `groups[].points[]` means `groups[].points[].x`."""
    paths = []
    for raw in split_top(cell):
        raw = raw.strip()
        if not raw.startswith("`"):
            continue
        item = raw.strip("`")
        if item.startswith(".") and paths:
            item = paths[-1].rsplit(".", 1)[0] + item
        else:
            head = item.split(".", 1)[0]
            if head in arrays:
                item = arrays[head] + item[len(head):]
            elif prefix:
                item = prefix + item
        for p in expand(item):
            paths.append(p)
            last = p.rsplit(".", 1)[-1]
            if "." in p and last.endswith("[]"):
                arrays[last] = p
    return paths


def depth0_names(meaning):
    """Backticked identifiers of `meaning` outside parentheses."""
    names, depth = [], 0
    for i, part in enumerate(re.split(r"`", meaning)):
        if i % 2:
            if depth == 0 and IDENT.match(part):
                names.append(part)
        else:
            depth = max(0, depth + part.count("(") - part.count(")"))
    return names


def row_children(ty, meaning, single):
    """(children, covers): the fields a row lists below its own, and
    whether it stands for everything under it when it lists none."""
    ty = ty.strip("`")
    if re.search(r"\{[^}]*:", ty):
        return [], True  # a map keyed by data
    braces = re.search(r"\{([^}]*)\}", ty)
    if braces:
        names = [n.strip().strip("`").rstrip("?") for n in braces.group(1).split(",")]
        return [n for n in names if n], False
    if ty.startswith("object") or (ty == "" and single):
        return (depth0_names(meaning) if single else []), True
    return [], False


def read_doc(path):
    """{kind: {path: covers}} of the documented fields."""
    doc = defaultdict(dict)
    kind, prefix, arrays, header = None, "", {}, None
    for line in open(path, encoding="utf-8"):
        if line.startswith("## "):
            kind, prefix, arrays = section_kind(line), "", {}
        elif line.startswith("### ") and kind:
            prefix = (section_kind(line) or "") + "."
        elif line.startswith("|") and kind:
            row = cells(line)
            if row and row[0] == "field":
                header = row
                continue
            if not row or set(row[0]) <= set("-: ") or header is None:
                continue
            get = dict(zip(header, row))
            paths = field_paths(row[0], prefix, arrays)
            children, covers = row_children(get.get("type", ""), get.get("meaning", ""), len(paths) == 1)
            for p in paths:
                doc[kind][norm(p)] = covers
                for c in children:
                    doc[kind][norm(f"{p}.{c}")] = True
        elif not line.startswith("|"):
            header = None if not line.strip() else header
    return doc


def read_keys(folder):
    """{kind: set(path)} of the written fields, distributions collapsed."""
    written = defaultdict(set)
    for name in sorted(os.listdir(folder)):
        for line in open(os.path.join(folder, name), encoding="utf-8"):
            kind, _, path = line.strip().partition(":")
            if path:
                written[kind].add(norm(path))
    for paths in written.values():
        children = defaultdict(set)
        for p in paths:
            parent, _, last = p.rpartition(".")
            children[parent].add(last)
        for parent, names in children.items():
            if parent and names <= DISTRIBUTION and {"p50", "count"} <= names:
                paths.difference_update(f"{parent}.{n}" for n in names)
    return written


def documented(path, fields):
    """Whether `path` is a documented field, lies above one, or lies under
    one that stands for everything under it."""
    if path in fields or any(d.startswith(path + ".") for d in fields):
        return True
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        above = ".".join(parts[:i])
        if above in fields:
            below = any(d.startswith(above + ".") for d in fields)
            return fields[above] and not below
    return False


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    doc = read_doc(sys.argv[2] if len(sys.argv) == 3 else "docs/results-schema.md")
    written = read_keys(sys.argv[1])
    if not written:
        sys.exit(f"schema-check: no key paths in {sys.argv[1]}")
    undocumented = sorted(
        f"{k}:{p}" for k, ps in written.items() for p in ps if not documented(p, doc.get(k, {}))
    )
    unwritten = sorted(f"{k}:{p}" for k, fs in doc.items() for p in fs if p not in written.get(k, set()))
    for title, items in [
        ("written but not documented in the doc", undocumented),
        ("documented but written by no test that ran", unwritten),
    ]:
        if items:
            print(f"schema-check: {len(items)} field(s) {title}:")
            print("".join(f"  {i}\n" for i in items), end="")
    if undocumented or unwritten:
        sys.exit(1)
    total = sum(len(p) for p in written.values())
    print(f"schema-check: {total} written paths and the doc agree")


if __name__ == "__main__":
    main()
