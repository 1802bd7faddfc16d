"""The package's layout is its architecture: stages as subpackages, imports in one direction.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a cycle
that only type checkers see is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mailproc"

# The pure stages: functions of their inputs, testable without a server.
PURE = ("mail", "rules", "decision")
# What a pure stage must never reach: our own I/O packages, and the libraries that do I/O.
IO_PACKAGES = ("sources", "storage", "outgoing", "tickets", "service")
IO_LIBRARIES = (
    "sqlalchemy",
    "alembic",
    "psycopg",
    "imapclient",
    "imaplib",
    "smtplib",
    "socket",
    "jinja2",
    "apscheduler",
    "prometheus_client",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, anywhere in the file, as absolute dotted names."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import of {node.module}"
            yield node.module
            # `from mailproc.storage import models` imports the module mailproc.storage.models
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {target for target in imports_of(path) if target in modules and target != name}
        for name, path in modules.items()
    }


def unit(module: str) -> str:
    """The subpackage a module belongs to, or the top-level module itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_in_a_cycle() -> None:
    assert cycles(graph()) == []


def test_no_two_packages_import_each_other() -> None:
    between: dict[str, set[str]] = {}
    for source, targets in graph().items():
        for target in targets:
            if unit(source) != unit(target):
                between.setdefault(unit(source), set()).add(unit(target))
    assert cycles(between) == []


@pytest.mark.parametrize("package", PURE)
def test_pure_stages_reach_no_storage_and_no_network(package: str) -> None:
    offending = []
    for path in (PACKAGE / package).rglob("*.py"):
        for target in imports_of(path):
            root = target.split(".")[0]
            if root in IO_LIBRARIES or (root == "mailproc" and unit(target) in IO_PACKAGES):
                offending.append(f"{module_name(path)} imports {target}")
    assert offending == []


def test_cycle_finder_sees_a_cycle() -> None:
    """The checks above would pass vacuously if the finder missed cycles."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "mailproc.storage.store" in edges["mailproc.tickets.pipeline"]
    assert "mailproc.storage.models" in edges["mailproc.outgoing.notice"]
