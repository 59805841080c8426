#!/usr/bin/env python3
"""Finds import circles between the modules of each crate (crates/*/src): module A uses B (`crate::B`, or
`use crate::{B, ...}`) and B, directly or through others, uses A. Data flows one way inside a crate too, so
`just lint` fails on any circle and names it. A module is a file under src/ (a folder's mod.rs is the folder);
lib.rs and main.rs, which only declare and re-export, are left out."""

import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent


def module_of(src: pathlib.Path, path: pathlib.Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts[0] if parts else ""


def uses(text: str) -> set[str]:
    text = re.sub(r"//[^\n]*", "", text)
    # Unit tests may use what they test from anywhere in the crate: their modules are left out.
    while (m := re.search(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text)):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: m.start()] + text[i:]
    found = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text))
    for group in re.findall(r"\buse crate::\{([^;]*)\};", text, re.S):
        found |= set(re.findall(r"(?:^|[,{\s])([a-z_][a-z0-9_]*)\s*(?:::|,|}|$)", group))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    out, seen = [], set()
    def walk(node, stack):
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cyc = stack[stack.index(nxt):]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    out.append(cyc + [nxt])
            elif len(stack) < 12:
                walk(nxt, stack + [nxt])
    for n in sorted(graph):
        walk(n, [n])
    return out


found = 0
for src in sorted(root.glob("crates/*/src")):
    modules = {module_of(src, p) for p in src.rglob("*.rs")} - {"lib", "main", ""}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for p in src.rglob("*.rs"):
        m = module_of(src, p)
        if m in modules:
            graph[m] |= {u for u in uses(p.read_text()) if u in modules and u != m}
    for cyc in cycles(graph):
        found += 1
        print(f"{src.parent.name}: {' -> '.join(cyc)}")
if found:
    print(f"{found} import circle(s) inside crates: data flows one way; move the shared part down", file=sys.stderr)
    sys.exit(1)
print("no import circles inside any crate")
