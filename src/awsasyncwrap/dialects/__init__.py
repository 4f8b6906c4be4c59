"""Database dialects and their registry."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._base import DatabaseDialect
from .mysql import MariaDbDialect, MysqlDialect
from .pg import PgDialect

if TYPE_CHECKING:
    from ..drivers import DriverDialect

__all__ = [
    "DatabaseDialect",
    "MariaDbDialect",
    "MysqlDialect",
    "PgDialect",
    "detect_dialect",
    "get_dialect",
    "initial_dialect",
    "register_dialect",
]

logger = logging.getLogger(__name__)

_REGISTRY: dict[str, type[DatabaseDialect]] = {}
_instances: dict[str, DatabaseDialect] = {}


def register_dialect(cls: type[DatabaseDialect]) -> type[DatabaseDialect]:
    """Make a dialect known by its code (usable as a class decorator)."""
    _REGISTRY[cls.code] = cls
    _instances.pop(cls.code, None)
    return cls


for _cls in (PgDialect, MysqlDialect, MariaDbDialect):
    register_dialect(_cls)


def _load_builtin_dialects() -> None:
    """Import the modules that register the Aurora / RDS dialects (if present)."""
    import importlib

    for module in ("aurora", "global_aurora", "rds", "multi_az"):
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise


def get_dialect(code: str) -> DatabaseDialect:
    """The (shared, stateless) dialect instance for ``code``."""
    if code not in _REGISTRY:
        _load_builtin_dialects()
    cls = _REGISTRY.get(code)
    if cls is None:
        raise ConfigurationError.bad_choice("database dialect", code, _REGISTRY)
    instance = _instances.get(code)
    if instance is None:
        instance = _instances[code] = cls()
    return instance


def initial_dialect(driver: DriverDialect, forced: str | None) -> DatabaseDialect:
    """The dialect to start with: the forced one, else the driver's plain engine."""
    if forced:
        return get_dialect(forced)
    return get_dialect(driver.engine)


async def detect_dialect(current: DatabaseDialect, conn: Any, driver: DriverDialect) -> DatabaseDialect:
    """Refine ``current`` by asking the server which of its candidate dialects it is."""
    _load_builtin_dialects()
    for code in current.update_candidates:
        cls = _REGISTRY.get(code)
        if cls is None:
            continue
        candidate = get_dialect(code)
        if await candidate.is_dialect(conn, driver):
            logger.debug("dialect detected: %s", code)
            if candidate.update_candidates and candidate.update_candidates != current.update_candidates:
                return await detect_dialect(candidate, conn, driver)
            return candidate
    return current
