"""The package's shape: no import circles, only public modules at the top level.

The graph is read from the source (every ``import``, including those inside
functions and under ``TYPE_CHECKING``), so a circle fails here before it can
fail at some import order in the field.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import pkgutil
import sys

import pytest

import oslo_threading_backend

PACKAGE = "oslo_threading_backend"
ROOT = pathlib.Path(oslo_threading_backend.__file__).parent

# What users import or run; everything else lives in a private subpackage.
PUBLIC = {
    "service",
    "threadgroup",
    "loopingcall",
    "periodic_task",
    "systemd",
    "fixture",
    "backend",
    "executors",
    "scatter_gather",
    "pool_statistics",
    "process_stats",
    "thread_dump",
    "rpc",
    "opts",
    "oslo_service_compat",
    "runner",
    "exec_command",
    "__main__",
    "__init__",
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(name: str, known: dict[str, pathlib.Path]) -> str | None:
    """The package module ``name`` is, or the nearest package above it."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports."""
    known = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = graph.setdefault(name, set())
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                # "from pkg import module" names a module; "from mod import Name" a name.
                targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
            for target in targets:
                found = _resolve(target, known)
                # A module's own package __init__ is imported first anyway: not an edge.
                if found and found != name and not name.startswith(found + "."):
                    edges.add(found)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_circle_in_the_package():
    assert find_cycles(import_graph()) == []


def test_the_checker_sees_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_the_checker_reads_imports_inside_functions(tmp_path, monkeypatch):
    pkg = tmp_path / "circ"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "one.py").write_text("from circ import two\n")
    (pkg / "two.py").write_text("def f():\n    from circ.one import x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    assert find_cycles(import_graph()) == [["circ.one", "circ.two"]]


def test_top_level_holds_only_public_modules():
    top = {info.name for info in pkgutil.iter_modules([str(ROOT)])}
    top |= {"__init__"}
    private_modules = {name for name in top if name.startswith("_") and not (ROOT / name).is_dir()}
    assert private_modules <= {"__main__", "__init__"}
    packages = {name for name in top if (ROOT / name).is_dir()}
    assert {name for name in top - packages} <= PUBLIC
    # Subpackages are private (underscore), but for the demo, which users run.
    assert {name for name in packages if not name.startswith("_")} <= {"demo"}


@pytest.mark.parametrize("module", sorted(PUBLIC - {"__init__", "__main__", "rpc"}))
def test_public_classes_name_a_public_module(module):
    """Tracebacks and pickles name where users import a class from, not where it lives."""
    mod = importlib.import_module(f"{PACKAGE}.{module}")
    for attr in getattr(mod, "__all__", ()):
        value = getattr(mod, attr)
        owner = getattr(value, "__module__", None)
        if not isinstance(value, type) or not owner or not owner.startswith(PACKAGE):
            continue
        assert "._" not in owner, f"{module}.{attr}.__module__ is {owner}"
        assert getattr(importlib.import_module(owner), value.__qualname__) is value
