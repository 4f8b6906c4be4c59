"""The subpackages of awsasyncwrap import each other without cycles.

Counted: every import, at module level or inside a function (a lazy import is a dependency too, only a
later one); not those under ``if TYPE_CHECKING:``, which only the type checker runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import awsasyncwrap

ROOT = Path(awsasyncwrap.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not node.level:
        return [node.module or ""]
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    target = ".".join([*base, node.module] if node.module else base)
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def _runtime_imports(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import below ``node`` except those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            found.append(child)
        found += _runtime_imports(child)
    return found


def _package_graph() -> dict[str, set[str]]:
    """``awsasyncwrap.X`` -> the other ``awsasyncwrap.Y`` it imports (at any time)."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        module = _module_name(path)
        package = ".".join(module.split(".")[:2])
        for node in _runtime_imports(ast.parse(path.read_text())):
            for target in _imported(module, path.name == "__init__.py", node):
                if target.startswith("awsasyncwrap."):
                    other = ".".join(target.split(".")[:2])
                    if other != package:
                        graph.setdefault(package, set()).add(other)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a path), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_subpackages_import_each_other_without_cycles() -> None:
    graph = _package_graph()
    assert "awsasyncwrap.topology" in graph  # the scan sees the package
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
