"""Failover on read-only errors: a write refused because the connection's server is a reader.

In ``strict_writer`` mode a connection left on a demoted writer (stale DNS, a pool outside the
wrapper, an instance endpoint) gets read-only errors (PostgreSQL SQLSTATE 25006; MySQL 1290 /
1836) where it used to write: that starts a writer failover, as in the AWS wrappers. Not when the
read-only state is the application's own: a connection read/write splitting put on a reader, one
the application made read-only, or one whose server is in fact the writer (``BEGIN READ ONLY``,
``SET default_transaction_read_only``): failing over would only land on the same writer again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...hostinfo import HostRole

if TYPE_CHECKING:
    from ...plugin_service import PluginService

__all__ = ["fails_over_on_read_only"]

#: MySQL 1792: a statement refused by the application's own READ ONLY transaction (not a server role)
_APPLICATION_READ_ONLY = frozenset({"1792"})


async def fails_over_on_read_only(service: PluginService, exc: BaseException, conn: Any) -> bool:
    """Whether the read-only error ``exc`` on ``conn`` means its server is no longer the writer."""
    if conn is None or not service.is_read_only_error(exc):
        return False
    driver = service.driver_dialect
    if driver.error_code(exc) in _APPLICATION_READ_ONLY:
        return False
    if driver.is_closed(conn) or driver.get_read_only(conn):
        return False  # read-only by the application's (or read/write splitting's) choice
    if any(getattr(plugin, "reader_connection", None) is conn for plugin in service.plugins):
        return False  # read/write splitting keeps it as its reader
    writer = await _is_writer(service, conn)
    return writer is not True  # unknown: fail over, as the AWS wrappers do


async def _is_writer(service: PluginService, conn: Any) -> bool | None:
    """Whether ``conn``'s server is a writer (None: cannot tell without disturbing the connection)."""
    driver = service.driver_dialect
    reported = driver.reported_writer(conn)  # no query needed
    if reported is not None:
        return reported
    if not driver.takes_queries(conn):
        return None
    try:
        role = await service.get_host_role(conn)
    except Exception as exc:
        if not driver.is_driver_error(exc):
            raise
        return None
    return None if role is HostRole.UNKNOWN else role is HostRole.WRITER
