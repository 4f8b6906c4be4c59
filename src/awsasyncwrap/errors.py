"""Errors raised by awsasyncwrap.

Every error the wrapper raises itself derives from :class:`AwsWrapperError`.
Driver errors pass through unchanged; where the wrapper reacts to one it
chains it with ``raise ... from exc`` so the SQLSTATE / MySQL code stays
reachable through ``__cause__``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AwsConnectError",
    "AwsWrapperError",
    "ConfigurationError",
    "ConnectionReplacedError",
    "FailoverError",
    "FailoverFailedError",
    "FailoverSuccessError",
    "TransactionResolutionUnknownError",
    "UnsupportedDriverError",
]


class AwsWrapperError(Exception):
    """Root of every error raised by the wrapper itself."""


class ConfigurationError(AwsWrapperError, ValueError):
    """A property, plugin code or argument has a bad name or value."""

    @classmethod
    def bad_choice(cls, what: str, value: object, valid: Iterable[str]) -> ConfigurationError:
        """Build an error that names ``value`` and lists the valid choices (closest first)."""
        choices = sorted(valid)
        close = difflib.get_close_matches(str(value), choices, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        return cls(f"Unknown {what} {value!r}.{hint} Valid values: {', '.join(choices)}.")


class UnsupportedDriverError(ConfigurationError):
    """The target connect function belongs to no supported driver."""


class AwsConnectError(AwsWrapperError):
    """The wrapper could not open a connection it needed (e.g. no host to connect to)."""


class ConnectionReplacedError(AwsWrapperError):
    """A cursor (or other object) of a connection that was replaced, e.g. by failover, was used."""


class FailoverError(AwsWrapperError):
    """The connection failed over (or tried to). Raised as a subclass that also derives from the
    driver's OperationalError (``psycopg.OperationalError``, ``pymysql.err.OperationalError``)."""


class FailoverSuccessError(FailoverError):
    """The connection now points at a healthy host; the failed statement was not run: run it again."""


class TransactionResolutionUnknownError(FailoverError):
    """The connection failed over during a transaction: its outcome is unknown; redo the whole transaction."""


class FailoverFailedError(FailoverError):
    """No healthy host could be reached within ``failover_timeout_sec``; the connection is unusable."""
