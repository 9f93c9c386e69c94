#!/usr/bin/env python3
"""Lists Rust functions longer than a limit (default 80 lines) under crates/*/src.

How it counts: a function runs from its `fn` line (attributes and doc
comments excluded) to the line of its closing brace, inclusive, found by
matching braces with string, char and comment contents skipped. Nested
functions and closures count inside their parent; test modules
(`#[cfg(test)]` files' `mod tests`) are skipped, since the limit is for
`src/` code that ships. Exit status 1 when any function is over the limit.

Usage: scripts/long-functions.py [LIMIT] [ROOT]
"""
import pathlib
import re
import sys

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")


def strip(text):
    """The source with comments, strings and chars blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j): depth += 1; j += 2
                elif text.startswith("*/", j): depth -= 1; j += 2
                else: j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i-1].isalnum() or text[i-1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c == "'" :
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0))); i += len(m.group(0))
            else:
                out.append(c); i += 1
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(path):
    lines = strip(path.read_text()).split("\n")
    found, skip_depth, depth = [], None, 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if skip_depth is None and re.match(r"^\s*mod tests\s*\{", line):
            skip_depth = depth
        m = FN.match(line) if skip_depth is None else None
        if m:
            # find the opening brace (or a `;` for a declaration)
            d, j, opened = 0, i, False
            while j < len(lines):
                for ch in lines[j]:
                    if ch == "{": d += 1; opened = True
                    elif ch == "}": d -= 1
                    elif ch == ";" and not opened and d == 0: break
                if opened and d == 0: break
                if not opened and ";" in lines[j] and d == 0: break
                j += 1
            if opened:
                found.append((m.group(7), i + 1, j - i + 1))
        for ch in line:
            if ch == "{": depth += 1
            elif ch == "}":
                depth -= 1
                if skip_depth is not None and depth == skip_depth:
                    skip_depth = None
        i += 1
    return found


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 80
    root = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else ".")
    over, total = [], 0
    for path in sorted(root.glob("crates/*/src/**/*.rs")):
        for name, line, length in functions(path):
            total += 1
            if length > limit:
                over.append((length, f"{path}:{line}", name))
    for length, where, name in sorted(over, reverse=True):
        print(f"{length:5}  {where}  {name}")
    print(f"{len(over)} of {total} functions in crates/*/src over {limit} lines", file=sys.stderr)
    sys.exit(1 if over else 0)


main()
