"""What an error raised while a connection was checked out says about that connection.

Pure logic: the pool asks :func:`classify` whether a connection that saw
``exc`` can go back to the pool.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["Outcome", "classify", "failover_error_classes"]


class Outcome(enum.Enum):
    """What to do with a connection after its user is done with it."""

    KEEP = "keep"  # reusable; roll back what may be open
    DISCARD = "discard"  # close it, it is dead or in an unknown state


def failover_error_classes() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(errors after which the connection works again, errors after which it is dead).

    Looked up lazily so the pool works whether or not the failover plugin exists.
    """
    from .. import errors

    usable = tuple(
        cls
        for name in ("FailoverSuccessError", "TransactionResolutionUnknownError")
        if isinstance(cls := getattr(errors, name, None), type)
    )
    dead = tuple(
        cls for name in ("FailoverFailedError",) if isinstance(cls := getattr(errors, name, None), type)
    )
    return usable, dead


def classify(exc: BaseException | None, conn: Any) -> Outcome:
    """Whether ``conn`` (a wrapped connection) can be reused after its user raised ``exc``.

    Cancellation and other non-``Exception`` errors may have interrupted a call
    half way: the connection's protocol state is unknown, so it is discarded
    (never treated as a database failure). A failover that succeeded leaves the
    connection on a new, working host; one that failed leaves it dead.
    """
    if exc is not None and not isinstance(exc, Exception):
        return Outcome.DISCARD
    if conn.closed:
        return Outcome.DISCARD
    if exc is None:
        return Outcome.KEEP
    usable, dead = failover_error_classes()
    if usable and isinstance(exc, usable):
        return Outcome.KEEP
    if dead and isinstance(exc, dead):
        return Outcome.DISCARD
    service = conn.plugin_service
    if service.is_network_error(exc, conn.target_connection):
        return Outcome.DISCARD
    return Outcome.KEEP
