"""What a failed call tells the failover plugin: was a transaction open, did the statement reach the server.

Plain functions over the driver connection, read on every call (``execute``) or once it failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...drivers._base import ABORTS

if TYPE_CHECKING:
    from ...drivers import DriverDialect

__all__ = [
    "PQTRANS_ACTIVE",
    "PQTRANS_INERROR",
    "PQTRANS_INTRANS",
    "PQTRANS_UNKNOWN",
    "SENDS_NOTHING",
    "in_transaction",
    "never_sent",
]

#: libpq's PGTransactionStatusType values (psycopg.pq.TransactionStatus) as ints: ``execute`` reads
#: ``conn.pgconn.transaction_status`` before every call (a broken connection reports UNKNOWN, so it
#: cannot be asked after the failure), and ``conn.info.transaction_status`` builds an object and an
#: enum each time (about 1 µs).
PQTRANS_ACTIVE, PQTRANS_INTRANS, PQTRANS_INERROR, PQTRANS_UNKNOWN = 1, 2, 3, 4


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
    """Whether a transaction is open; psycopg's ACTIVE in autocommit is just another call in flight."""
    if not driver.is_in_transaction(conn):
        return False
    if driver.code == "psycopg" and driver.get_autocommit(conn):
        from psycopg import pq

        return bool(conn.info.transaction_status != pq.TransactionStatus.ACTIVE)
    return True
