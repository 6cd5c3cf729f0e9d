"""The shape of the code (issue 12): data flows one way, the core never imports the layers around it, there
are no import cycles, and the engine knows no provider and no provider header.

Imports are read from the source (every ``import`` / ``from ... import``, function-local ones included;
those under ``if TYPE_CHECKING:`` are not imports at run time and are left out).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "volley"
#: The layers around the core: they may import the core, never the other way round.
OUTER = (
    "volley.jobs", "volley.commands", "volley.batch_api", "volley.testing", "volley.cli", "volley.tables",
    "volley.report", "volley.ray", "volley.shared",
)  # fmt: skip


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_name(p) for p in ROOT.rglob("*.py")}

    def known(target: str) -> str:
        while target and target not in modules:
            target = target.rsplit(".", 1)[0] if "." in target else ""
        return target

    graph: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        mod = _name(path)
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        typing_only = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
            for sub in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [f"{prefix}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("volley"):
                    found = known(t)
                    if found and found != mod:
                        graph[mod].add(found)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in list(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _upward(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Core modules that import an outer layer, and what they import from it."""
    out = {}
    for m, targets in graph.items():
        if m != "volley" and not m.startswith(OUTER):
            bad = sorted(t for t in targets if t.startswith(OUTER))
            if bad:
                out[m] = bad
    return out


def test_the_checks_below_can_fail():
    """The cycle finder and the layer rule find what they look for; the graph is read from the code."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    assert _upward({"volley.send": {"volley.jobs.journal"}, "volley.jobs.run": {"volley.send"}}) == {
        "volley.send": ["volley.jobs.journal"]
    }
    graph = _graph()
    assert any(t.startswith("volley.engine") for t in graph["volley.send"])
    assert "volley.send" in graph["volley.jobs.run"] or "volley.api" in graph["volley.jobs.run"]


def test_the_core_never_imports_the_layers_around_it():
    assert _upward(_graph()) == {}


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_engine_names_no_provider_and_no_header():
    names = ("openai", "anthropic", "cohere", "gemini", "bedrock", "azure", "vertex", "groq", "mistral")
    headers = re.compile(r"x-ratelimit|anthropic-ratelimit|retry-after|x-api-key|authorization", re.I)
    found = []
    for path in (ROOT / "engine").rglob("*.py"):
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())  # comments may explain
        code = re.sub(r'""".*?"""', "", code, flags=re.S)  # so may docstrings
        found += [f"{path.name}: {n}" for n in names if re.search(rf"\b{n}\b", code, re.I)]
        found += [f"{path.name}: {m.group(0)}" for m in headers.finditer(code)]
    assert found == []
