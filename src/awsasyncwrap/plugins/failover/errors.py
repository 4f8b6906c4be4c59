"""Failover errors that are also the driver's OperationalError.

``FailoverSuccessError`` and friends (in :mod:`awsasyncwrap.errors`) are raised as a per-driver
subclass that also derives from ``psycopg.OperationalError`` or ``pymysql.err.OperationalError``,
so pools and SQLAlchemy treat them as the connection-level errors they are. The classes are built
once, on first use, and live in this module under stable names (so they pickle).
"""

from __future__ import annotations

from typing import Any

from ...drivers import DriverDialect, registered_driver_dialects
from ...errors import (
    FailoverError,
    FailoverFailedError,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
)

__all__ = ["driver_error_class"]

_BASES: dict[str, type[FailoverError]] = {
    "FailoverSuccessError": FailoverSuccessError,
    "FailoverFailedError": FailoverFailedError,
    "TransactionResolutionUnknownError": TransactionResolutionUnknownError,
}
_made: dict[str, type[FailoverError]] = {}


def _driver_with_prefix(name: str) -> tuple[str, type[DriverDialect]] | None:
    """(prefix, driver dialect) whose error class prefix ``name`` starts with (``PsycopgFailover...``)."""
    for cls in registered_driver_dialects():
        prefix = cls.error_class_prefix
        if prefix and name.startswith(prefix):
            return prefix, cls
    return None


def _make(name: str) -> type[FailoverError]:
    cls = _made.get(name)
    if cls is not None:
        return cls
    found = _driver_with_prefix(name)
    base = None if found is None else _BASES.get(name[len(found[0]) :])
    if found is None or base is None:
        raise AttributeError(name)
    made = type(
        name, (base, found[1]().operational_error_class()), {"__module__": __name__, "__doc__": base.__doc__}
    )
    _made[name] = made
    return made


def driver_error_class(base: type[FailoverError], driver_code: str) -> type[FailoverError]:
    """The subclass of ``base`` that is also ``driver_code``'s OperationalError (``base`` if unknown)."""
    for cls in registered_driver_dialects():
        if cls.code == driver_code and cls.error_class_prefix:
            return _make(cls.error_class_prefix + base.__name__)
    return base


def __getattr__(name: str) -> Any:  # PsycopgFailoverSuccessError etc., built on first access
    return _make(name)
