"""A property's default is declared once, where the property is.

``WrapperProperty.value(props)`` / ``.seconds(props)`` use the declared default; a call site on a property
that declares none would fail at connect, so the scan below catches it first. ``get_or(props, fallback)``
uses ``fallback`` only when the declared default is None; a different literal next to a declared default is
dead code that misleads the reader (it once said 1000 ms where 500 ms applied).
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


def _calls(method: str, nargs: int) -> list[tuple[str, int, WrapperProperty[Any], Any]]:
    """(module, line, property, literal last argument or None) of every ``X.<method>(...)`` on a property."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text())
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == method
            and len(node.args) == nargs
        ]
        if not calls:
            continue
        module = importlib.import_module(_module_name(path))
        for call in calls:
            assert isinstance(call.func, ast.Attribute)
            try:
                fallback = ast.literal_eval(call.args[1]) if nargs == 2 else None
            except ValueError:
                continue  # a named constant: checked where it is defined, not here
            try:
                prop = eval(ast.unparse(call.func.value), vars(module))  # the property object the call names
            except NameError:
                continue  # not a module-level name (a local ``value``/``seconds`` of something else)
            if isinstance(prop, WrapperProperty):
                found.append((module.__name__, call.lineno, prop, fallback))
    return found


def test_value_and_seconds_name_properties_with_a_declared_default() -> None:
    values = _calls("value", 1)
    seconds = _calls("seconds", 1)
    assert len(values) + len(seconds) > 40  # the scan sees the call sites
    named = values + seconds
    wrong = [f"{module}:{line} {prop.name}" for module, line, prop, _ in named if prop.default is None]
    assert wrong == []
    not_numbers = [
        f"{module}:{line} {prop.name}"
        for module, line, prop, _ in seconds
        if not isinstance(prop.default, (int, float))
    ]
    assert not_numbers == []


def test_get_or_fallbacks_agree_with_declared_defaults() -> None:
    calls = _calls("get_or", 2)
    wrong = [
        f"{module}:{line} {prop.name}: declared {prop.default!r}, written {fallback!r}"
        for module, line, prop, fallback in calls
        if prop.default is not None and prop.default != fallback
    ]
    assert wrong == []
