#!/usr/bin/env python3
"""Layer check for src/: fails (exit 1) on a cycle between modules or a core module importing
a shell one. Run by .ci/run before the cargo steps; `--edges` prints the graph.

The rule (README "Architecture", src/lib.rs): the pure core never touches files, network,
environment, clock or randomness; the shell does the I/O around it. So a core module may use
only core modules, and no two modules may depend on each other, directly or through others:
shared vocabulary moves down to a module both sides can use.

A module is a top-level module of src/ (its first path component). `oci` is mixed, so it
is split one level further (`oci::config`, `oci::client`, ...). An edge is a `crate::` path,
a `use crate::{...}` tree, or a `super::` path that leaves its top-level module, in code
outside items marked `#[cfg(test)]` and outside `//` comment lines; files named `tests.rs`
are tests, and so is every file of a module declared `#[cfg(test)] mod name;`.
Every module must be listed below: a new module is placed in a layer on purpose.
"""

import os
import re
import sys

# The module lists, in one place. Keep src/lib.rs's module map and the README in step.
CORE = {
    "model", "limits", "hex", "keys", "recipient", "rules",
    "manifest", "snapshot", "plan", "render", "drift",
    "oci::config", "oci::sign", "oci::wire",
}
SHELL = {
    "cli", "backend", "apply", "journal", "deliver", "emulator", "keygen", "durable", "files",
    "oci::client",
}
# Modules whose submodules sit in different layers; each submodule is listed above. The
# module's own file (its `mod.rs`) only declares them and counts as core.
MIXED = {"oci"}
ROOT = {"lib", "main"}  # the crate root and the binary: they see everything


def node(path):
    """The module a path (list of names below the crate root) belongs to."""
    if not path:
        return None
    if path[0] in MIXED and len(path) > 1 and f"{path[0]}::{path[1]}" in CORE | SHELL:
        return f"{path[0]}::{path[1]}"
    return path[0]


def module_path(rel):
    parts = rel[: -len(".rs")].split("/")
    if parts[-1] == "mod":
        parts.pop()
    return parts


def use_paths(tree, prefix):
    """Expands a `use` tree (`a::{b, c::{self, d}}`) into paths."""
    out, depth, start, items = [], 0, 0, []
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        return [prefix + [p for p in tree.split("::") if p.strip()]]
    head = [p for p in tree[:brace].split("::") if p.strip()]
    body = tree[brace + 1 : tree.rfind("}")]
    for i, c in enumerate(body):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    for item in items:
        item = re.sub(r"\s+as\s+\w+$", "", item.strip())
        if item in ("", "self"):
            out.append(prefix + head)
        elif item:
            out.extend(use_paths(item, prefix + head))
    return out


def resolve(words, here):
    """An absolute module path for `crate::...` / `super::...` words, from module `here`."""
    if words[0] == "crate":
        return words[1:]
    base = list(here)
    while words and words[0] == "super":
        base.pop() if base else None
        words = words[1:]
    return base + words


def strip_tests(text):
    """`text` without each item marked `#[cfg(test)]` (a `mod tests;` line or a whole
    `mod tests { ... }`), skipping string and char literals while matching braces."""
    out, pos = [], 0
    literal = re.compile(r'r(#*)"(?:.|\n)*?"\1|b?"(?:\\.|[^"\\])*"|b?\'(?:\\.|[^\\\'])\'', re.S)
    while True:
        at = text.find("#[cfg(test)]", pos)
        if at < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:at])
        i, depth = at + len("#[cfg(test)]"), 0
        while i < len(text):
            m = literal.match(text, i)
            if m:
                i = m.end()
                continue
            c = text[i]
            i += 1
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            elif c == ";" and depth == 0:
                break
        pos = i


def test_modules(src="src"):
    """Module paths declared `#[cfg(test)] mod name;`: their files are tests."""
    found = set()
    decl = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src).replace(os.sep, "/")
            here = module_path(rel)
            if here and here[-1] in ROOT:
                here = here[:-1]
            text = open(os.path.join(root, f), errors="replace").read()
            for m in decl.finditer(text):
                found.add(tuple(here + [m.group(1)]))
    return found


def edges_of(src="src"):
    edges = {}
    tests = test_modules(src)
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith(".rs") or f.endswith("tests.rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src).replace(os.sep, "/")
            here = module_path(rel)
            if any(tuple(here[: len(t)]) == t for t in tests):
                continue
            a = node(here)
            if a in ROOT:
                continue
            text = open(os.path.join(root, f), errors="replace").read()
            text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
            text = strip_tests(text)
            paths = []
            uses = r"\buse\s+((?:crate|super)(?:::super)*::[^;]*);"
            for m in re.finditer(uses, text):
                paths.extend(resolve(p, here) for p in use_paths(m.group(1), []) if p)
            text = re.sub(uses, "", text)
            for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
                paths.append(resolve(m.group(1).split("::"), here))
            out = edges.setdefault(a, set())
            for p in paths:
                b = node(p)
                if b and b != a and b not in ROOT:
                    out.add(b)
    return edges


def top(n):
    return n.split("::")[0]


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    edges = edges_of()
    if "--edges" in sys.argv:
        for a in sorted(edges):
            print(f"{a} -> {' '.join(sorted(edges[a]))}")
    problems = []
    layered = CORE | SHELL
    for name in sorted(os.listdir("src")):
        m = name.removesuffix(".rs")
        if m in ROOT or not (name.endswith(".rs") or os.path.isdir(os.path.join("src", name))):
            continue
        if m in MIXED:
            subs = {s.removesuffix(".rs") for s in os.listdir(f"src/{m}") if s != "mod.rs"
                    and (s.endswith(".rs") or os.path.isdir(f"src/{m}/{s}"))}
            problems += [f"module {m}::{s} is in no layer: add it to CORE or SHELL in .ci/layers.py"
                         for s in sorted(subs) if f"{m}::{s}" not in layered]
        elif m not in layered:
            problems.append(f"module {m} is in no layer: add it to CORE or SHELL in .ci/layers.py")
    for a in sorted(edges):
        if a in CORE or (a in MIXED):
            for b in sorted(edges[a]):
                if b in SHELL:
                    problems.append(f"core module {a} imports shell module {b}")
    collapsed = {}
    for a, bs in edges.items():
        collapsed.setdefault(top(a), set()).update(top(b) for b in bs if top(b) != top(a))
    seen = set()
    for graph in (edges, collapsed):
        for comp in cycles(graph):
            key = tuple(comp)
            if key not in seen:
                seen.add(key)
                problems.append("modules depend on each other: " + ", ".join(comp))
    for p in problems:
        print(f"layers: {p}", file=sys.stderr)
    if problems:
        print("layers: see the rule at the top of .ci/layers.py", file=sys.stderr)
        return 1
    print(f"layers: ok ({len(edges)} modules, {sum(map(len, edges.values()))} edges, no cycles, "
          "no core module importing a shell one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
