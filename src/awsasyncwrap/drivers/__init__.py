"""Driver dialects: how the wrapper talks to psycopg async and aiomysql."""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import ConfigurationError, UnsupportedDriverError
from ._base import DriverDialect, SessionState, TargetConnectFunc
from .aiomysql import AiomysqlDriverDialect
from .psycopg import PsycopgDriverDialect

__all__ = [
    "AiomysqlDriverDialect",
    "DriverDialect",
    "PsycopgDriverDialect",
    "SessionState",
    "driver_dialect_for",
    "registered_driver_dialects",
]

_DIALECTS: dict[str, type[DriverDialect]] = {
    PsycopgDriverDialect.code: PsycopgDriverDialect,
    AiomysqlDriverDialect.code: AiomysqlDriverDialect,
}


def register_driver_dialect(cls: type[DriverDialect]) -> type[DriverDialect]:
    """Make another driver usable (its ``matches()`` picks it by connect function)."""
    engine = getattr(cls, "engine", None)
    if engine not in _ENGINES:
        raise ConfigurationError(
            f"Driver dialect {cls.__name__} has engine={engine!r}; set the class attribute engine to one "
            f"of {', '.join(map(repr, _ENGINES))}."
        )
    _DIALECTS[cls.code] = cls
    _MATCHED.clear()
    return cls


def registered_driver_dialects() -> tuple[type[DriverDialect], ...]:
    """Every driver dialect class the wrapper knows (built-in and registered)."""
    return tuple(_DIALECTS.values())


#: the database engine families a driver dialect may speak to (plain database dialect codes)
_ENGINES = ("pg", "mysql")
#: connect functions already matched to their dialect class
_MATCHED: dict[Any, type[DriverDialect]] = {}
_MATCHED_MAX = 64


def driver_dialect_for(target_driver_func: TargetConnectFunc, forced: str | None = None) -> DriverDialect:
    """The driver dialect for ``target_driver_func`` (or the one named by ``forced``)."""
    if forced is not None:
        cls = _DIALECTS.get(forced)
        if cls is None:
            raise ConfigurationError.bad_choice("driver dialect", forced, _DIALECTS)
        return cls()
    try:
        known = _MATCHED.get(target_driver_func)
    except TypeError:  # unhashable
        known = None
    if known is not None:
        return known()
    for cls in _DIALECTS.values():
        if cls.matches(target_driver_func):
            if len(_MATCHED) < _MATCHED_MAX:  # a new partial per connect must not grow it forever
                with contextlib.suppress(TypeError):
                    _MATCHED[target_driver_func] = cls
            return cls()
    name = getattr(target_driver_func, "__qualname__", None) or repr(target_driver_func)
    module = getattr(target_driver_func, "__module__", "?")
    raise UnsupportedDriverError(
        f"Unsupported target connect function {module}.{name}. Supported: "
        "psycopg.AsyncConnection.connect (psycopg 3, async) and aiomysql.connect."
    )
