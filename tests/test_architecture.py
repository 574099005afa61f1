"""The dependency rule, read from the code: ``training -> translate <- serving``, and no import circles.

Every ``.py`` file under translate/, training/ and serving/ is parsed with ``ast``. An import is
anything that names a first-party module: ``import x`` / ``from x import y`` anywhere in the
file (module level or inside a function: a lazy import is still a dependency), and string
constants that are dotted first-party module paths (``"serving.client"``,
``"training.cli:main"``), the way plugin tables and ``importlib`` name modules. Edges are
between modules; ``from pkg import name`` is an edge to ``pkg.name`` when that is a module,
else to ``pkg`` itself. The rules:

- ``translate`` imports neither ``serving`` nor ``training`` (the library is the bottom layer;
  the trainer and the server plug in through entry points);
- ``serving`` and ``training`` do not import each other;
- no circle among first-party modules (a package ``__init__`` may import its submodules, as
  long as none of them imports the ``__init__`` back).

Failures name the file and line of every offending import.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("translate", "training", "serving")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+(:[A-Za-z_][\w.]*)?$")


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target``, at ``file:line``."""

    source: str
    target: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.source} -> {self.target}"


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every first-party module."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """The absolute module named by a (possibly relative) ``from ... import``."""
    if node.level == 0:
        return node.module
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _string_target(text: str, modules: dict[str, Path]) -> str | None:
    """The module a string constant names, if it is a dotted first-party module path."""
    if not _DOTTED.match(text) or text.split(".")[0] not in PACKAGES:
        return None
    path, _, attr = text.partition(":")
    if path in modules:
        return path
    parts = path.split(".")
    for k in range(len(parts) - 1, 1, -1):  # "pkg.mod.attr": the longest module prefix below the top level
        if ".".join(parts[:k]) in modules:
            return ".".join(parts[:k])
    return None


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every first-party import of every first-party module (static imports and import strings), once each."""
    edges: dict[Edge, None] = {}  # ordered and without repeats (``from m import a, b`` is one edge per line)
    for module, path in modules.items():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve_from(node, module, path.name == "__init__.py")
                if base:
                    targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                target = _string_target(node.value, modules)
                targets = [target] if target else []
            for target in targets:
                if target.split(".")[0] in PACKAGES and target != module:
                    edges[Edge(module, target, rel, node.lineno)] = None
    return list(edges)


def _top(module: str) -> str:
    return module.split(".")[0]


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the import chain length (tens)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_the_scan_sees_imports_of_every_kind():
    """Guards the reader itself: a lazy import, a from-import of a submodule and an import string."""
    modules = module_files()
    edges = {(e.source, e.target) for e in import_edges(modules)}
    assert ("translate.cli", "translate.commands.run") in edges  # import string in the COMMANDS table
    assert ("translate.backends", "translate.backends.onnxruntime") in edges  # lazy import inside load_backend
    assert ("serving.engine", "translate.images") in edges  # `from translate import images`: the submodule
    assert ("translate.export", "translate.nets.batchnorm") in edges
    assert _string_target("training.cli:main", {"training.cli": Path()}) == "training.cli"
    assert _string_target("translate", modules) is None  # a task name, not a module path
    assert _string_target("translate.v1.TranslateService", modules) is None  # a gRPC service name


def test_translate_imports_neither_serving_nor_training():
    bad = [str(e) for e in import_edges(module_files())
           if _top(e.source) == "translate" and _top(e.target) != "translate"]
    assert not bad, "the library imports upward (use an entry point in translate.plugins instead):\n" + "\n".join(bad)


def test_serving_and_training_do_not_import_each_other():
    bad = [str(e) for e in import_edges(module_files())
           if {_top(e.source), _top(e.target)} == {"serving", "training"}]
    assert not bad, "serving and training import each other:\n" + "\n".join(bad)


def test_no_import_circles():
    edges = import_edges(module_files())
    problems = []
    for component in _cycles(edges):
        members = set(component)
        inside = [str(e) for e in edges if e.source in members and e.target in members]
        problems.append("circle among " + ", ".join(component) + ":\n  " + "\n  ".join(sorted(inside)))
    assert not problems, "\n".join(problems)


def test_command_modules_are_shells_nobody_imports():
    """`translate/commands/*` parse arguments and call the library; the server, the trainer and the
    library itself take what they need from the library modules, never from a command module."""
    shells = ("translate.commands", "translate.cli")
    bad = [str(e) for e in import_edges(module_files())
           if e.target.startswith(shells[0] + ".") and not e.source.startswith(shells)]
    assert not bad, "imports of a command module (move the shared piece into the library):\n" + "\n".join(bad)
