"""A property's fallback written at a ``get_or`` call site never contradicts the default it declares.

``WrapperProperty.get_or(props, fallback)`` uses ``fallback`` only when the declared default is None; a
different literal next to a declared default is dead code that misleads the reader (it once said 1000 ms
where 500 ms applied).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import awsasyncwrap
from awsasyncwrap.properties import WrapperProperty

ROOT = Path(awsasyncwrap.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _get_or_calls() -> list[tuple[str, int, WrapperProperty[Any], Any]]:
    """(module, line, property, literal fallback) of every ``X.get_or(props, <literal>)`` in the package."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text())
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get_or"
            and len(node.args) == 2
        ]
        if not calls:
            continue
        module = importlib.import_module(_module_name(path))
        for call in calls:
            assert isinstance(call.func, ast.Attribute)
            try:
                fallback = ast.literal_eval(call.args[1])
            except ValueError:
                continue  # a named constant: checked where it is defined, not here
            prop = eval(ast.unparse(call.func.value), vars(module))  # the property object the call names
            if isinstance(prop, WrapperProperty):
                found.append((module.__name__, call.lineno, prop, fallback))
    return found


def test_get_or_fallbacks_agree_with_declared_defaults() -> None:
    calls = _get_or_calls()
    assert len(calls) > 40  # the scan sees the call sites
    wrong = [
        f"{module}:{line} {prop.name}: declared {prop.default!r}, written {fallback!r}"
        for module, line, prop, fallback in calls
        if prop.default is not None and prop.default != fallback
    ]
    assert wrong == []
