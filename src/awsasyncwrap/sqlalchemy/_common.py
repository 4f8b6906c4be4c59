"""What the two dialects share: reading the wrapper's errors, URL property aliases (pure logic)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "URL_ALIASES",
    "disconnect_verdict",
    "is_failover_recovered",
    "rename_url_properties",
    "require_async_engine",
]


def _classes(*names: str) -> tuple[type[BaseException], ...]:
    from .. import errors

    return tuple(cls for name in names if isinstance(cls := getattr(errors, name, None), type))


def is_failover_recovered(exc: BaseException) -> bool:
    """Whether ``exc`` says failover already moved the connection to a working host."""
    recovered = _classes("FailoverSuccessError", "TransactionResolutionUnknownError")
    return bool(recovered) and isinstance(exc, recovered)


def disconnect_verdict(exc: BaseException) -> bool | None:
    """Whether SQLAlchemy should treat ``exc`` as a disconnect; None: ask the base dialect.

    - ``FailoverSuccessError`` / ``TransactionResolutionUnknownError``: **not** a
      disconnect. The wrapped connection is already on the new writer; the
      transaction is gone, so SQLAlchemy raises and the application retries,
      but the pooled connection stays valid (invalidating it would close a
      fresh connection and, by default, every connection of the pool).
    - ``FailoverFailedError``: a disconnect; the connection is dead.
    - ``ConnectionReplacedError`` (a cursor outlived its connection): not a
      disconnect; the connection itself works.
    """
    if is_failover_recovered(exc):
        return False
    if isinstance(exc, _classes("FailoverFailedError")):
        return True
    from ..errors import ConnectionReplacedError

    if isinstance(exc, ConnectionReplacedError):
        return False
    return None


#: URL query names that stand for a wrapper property SQLAlchemy would otherwise take for itself.
URL_ALIASES = {"wrapper_plugins": "plugins"}


def rename_url_properties(opts: dict[str, Any]) -> dict[str, Any]:
    """Turn URL aliases into wrapper property names.

    SQLAlchemy removes ``plugin`` and ``plugins`` from every URL's query (they
    name SQLAlchemy's own engine plugins), so the wrapper's ``plugins``
    property is written ``wrapper_plugins=...`` in a URL (or passed in
    ``connect_args``).
    """
    for alias, name in URL_ALIASES.items():
        if alias in opts:
            opts[name] = opts.pop(alias)
    return opts


def require_async_engine() -> None:
    """Refuse a connect from SQLAlchemy's synchronous engine, saying what to use instead.

    Without this, ``create_engine(...)`` with one of our URLs fails at its first connect with SQLAlchemy's
    ``MissingGreenlet`` and a coroutine left un-awaited (aws-advanced-python-wrapper serves
    ``postgresql+aws_wrapper_psycopg://`` to both engines; we are asyncio only).
    """
    from sqlalchemy.util.concurrency import in_greenlet

    if not in_greenlet():
        from ..errors import ConfigurationError

        raise ConfigurationError(
            "awsasyncwrap's SQLAlchemy dialects are asyncio-only: create the engine with "
            "sqlalchemy.ext.asyncio.create_async_engine(...), not create_engine(...)."
        )
