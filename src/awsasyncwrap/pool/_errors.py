"""Errors of the connection pool."""

from __future__ import annotations

from ..errors import AwsWrapperError

__all__ = ["PoolClosed", "PoolError", "PoolTimeout", "TooManyRequests"]


class PoolError(AwsWrapperError):
    """Root of the pool's own errors."""


class PoolTimeout(PoolError, TimeoutError):
    """No connection could be handed out within the acquire timeout."""


class PoolClosed(PoolError):
    """The pool is closed (or was never opened)."""


class TooManyRequests(PoolError):
    """Too many tasks are already waiting for a connection (``max_waiting``)."""
