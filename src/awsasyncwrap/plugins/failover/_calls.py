"""What a failed call tells the failover plugin: was a transaction open, did the statement reach the server.

Plain functions over the driver connection, read on every call (``execute``) or once it failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...drivers._base import ABORTS

if TYPE_CHECKING:
    from ...drivers import DriverDialect

__all__ = [
    "SENDS_NOTHING",
    "in_transaction",
    "never_sent",
]

#: methods whose calls carry no statement: whatever they were waiting for, running them again is safe
SENDS_NOTHING = frozenset({"Connection.notifies"})


def never_sent(driver: DriverDialect, exc: Exception, conn: Any, link: Any, aborts: int) -> bool:
    """Whether a failed call surely never reached the server (so running it again is safe).

    ``link``: what the call saw before it started (falsy: the driver knew the link was gone);
    ``aborts``: :attr:`ABORTS.seq` then. Anything else that failed may have been executed.
    Ask after ``await driver.failure_settled(link)``.
    """
    if not link or (conn is not None and ABORTS.aborted_by(conn, aborts)):
        return True
    return driver.unsent(exc, link)


def in_transaction(driver: DriverDialect, conn: Any) -> bool:
    """Whether a transaction is open (a call in flight in autocommit is not one)."""
    in_tx: bool = driver.call_state(conn)[0]
    return in_tx
