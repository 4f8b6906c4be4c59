"""Failover errors that are also the driver's OperationalError.

``FailoverSuccessError`` and friends (in :mod:`awsasyncwrap.errors`) are raised as a per-driver
subclass that also derives from ``psycopg.OperationalError`` or ``pymysql.err.OperationalError``,
so pools and SQLAlchemy treat them as the connection-level errors they are. The classes are built
once, on first use, and live in this module under stable names (so they pickle).
"""

from __future__ import annotations

from typing import Any

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
_DRIVERS = {"Psycopg": "psycopg", "Mysql": "aiomysql"}
_made: dict[str, type[FailoverError]] = {}


def _operational_error(driver_code: str) -> type[Exception]:
    if driver_code == "psycopg":
        import psycopg

        return psycopg.OperationalError
    import pymysql

    cls: type[Exception] = pymysql.err.OperationalError
    return cls


def _make(name: str) -> type[FailoverError]:
    cls = _made.get(name)
    if cls is not None:
        return cls
    for prefix, driver_code in _DRIVERS.items():
        base_name = name[len(prefix) :]
        if name.startswith(prefix) and base_name in _BASES:
            base = _BASES[base_name]
            made = type(
                name,
                (base, _operational_error(driver_code)),
                {"__module__": __name__, "__doc__": base.__doc__},
            )
            _made[name] = made
            return made
    raise AttributeError(name)


def driver_error_class(base: type[FailoverError], driver_code: str) -> type[FailoverError]:
    """The subclass of ``base`` that is also ``driver_code``'s OperationalError (``base`` if unknown)."""
    for prefix, code in _DRIVERS.items():
        if code == driver_code:
            return _make(prefix + base.__name__)
    return base


def __getattr__(name: str) -> Any:  # PsycopgFailoverSuccessError etc., built on first access
    return _make(name)
