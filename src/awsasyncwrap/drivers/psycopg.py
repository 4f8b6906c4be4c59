"""Driver dialect for psycopg 3 ``AsyncConnection``."""

from __future__ import annotations

import inspect
import os
import select
import socket
from collections.abc import Sequence
from functools import cache
from typing import Any, ClassVar

import anyio

from ._base import DriverDialect, TargetConnectFunc
from ._conninfo import parse_conninfo

__all__ = ["PsycopgDriverDialect"]

_PEEK_BYTES = 4096
#: SQLSTATE class 57P: the server ends the session (admin / crash shutdown, idle timeout, ...)
_ENDING = b"57P"

#: How long closing waits for a call in flight to end once its socket was shut down.
_BUSY_CLOSE_WAIT = 1.0
_CONNECT_KEYWORDS = frozenset({"autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory"})


@cache
def _libpq_keywords() -> frozenset[str]:
    from psycopg import pq

    return frozenset(opt.keyword.decode() for opt in pq.Conninfo.get_defaults())


class PsycopgDriverDialect(DriverDialect):
    """psycopg 3, asyncio (``psycopg.AsyncConnection.connect``)."""

    code = "psycopg"
    generic_names: ClassVar[dict[str, str]] = {
        "host": "host",
        "port": "port",
        "user": "user",
        "password": "password",
        "database": "dbname",
    }
    network_bound_methods = frozenset(
        {
            "Connection.commit",
            "Connection.rollback",
            "Connection.close",
            "Connection.set_autocommit",
            "Connection.set_read_only",
            "Connection.set_isolation_level",
            "Connection.set_deferrable",
            "Connection.transaction",
            "Connection.pipeline",
            "Connection.notifies",
            "Connection.tpc_begin",
            "Connection.tpc_prepare",
            "Connection.tpc_commit",
            "Connection.tpc_rollback",
            "Connection.tpc_recover",
            "Cursor.execute",
            "Cursor.executemany",
            "Cursor.stream",
            "Cursor.copy",
        }
    )

    @classmethod
    def matches(cls, target_driver_func: TargetConnectFunc) -> bool:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg not installed
            return False
        owner = getattr(target_driver_func, "__self__", target_driver_func)
        return inspect.isclass(owner) and issubclass(owner, psycopg.AsyncConnection)

    def driver_params(self) -> frozenset[str]:
        return _libpq_keywords() | _CONNECT_KEYWORDS

    def parse_conninfo(self, conninfo: str) -> dict[str, Any]:
        return parse_conninfo(conninfo)

    # --- state --------------------------------------------------------------------------------

    def is_closed(self, conn: Any) -> bool:
        return bool(conn.closed)

    def is_in_transaction(self, conn: Any) -> bool:
        from psycopg import pq

        return conn.info.transaction_status in (
            pq.TransactionStatus.INTRANS,
            pq.TransactionStatus.INERROR,
            pq.TransactionStatus.ACTIVE,
        )

    def get_autocommit(self, conn: Any) -> bool:
        return bool(conn.autocommit)

    async def set_autocommit(self, conn: Any, value: bool) -> None:
        await conn.set_autocommit(value)

    def get_read_only(self, conn: Any) -> bool | None:
        value = conn.read_only
        return None if value is None else bool(value)

    async def set_read_only(self, conn: Any, value: bool | None) -> None:
        await conn.set_read_only(value)

    def get_isolation_level(self, conn: Any) -> Any:
        return conn.isolation_level

    async def set_isolation_level(self, conn: Any, value: Any) -> None:
        await conn.set_isolation_level(value)

    # --- I/O helpers ----------------------------------------------------------------------------

    def open_cursor(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        return conn.cursor(*args, **kwargs)

    async def query(self, conn: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        from psycopg import pq
        from psycopg.rows import tuple_row

        was_idle = not conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.IDLE
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall() if cur.description is not None else []
        if was_idle:
            await conn.rollback()
        return rows

    async def close(self, conn: Any) -> None:
        lock = getattr(conn, "lock", None)
        if lock is not None and lock.locked() and not conn.closed:
            # a call in flight (another task): shut the socket down so that it ends now with the driver's
            # error, and let it end before the socket is freed (a wait on a freed socket never wakes up)
            self.abort(conn)
            with anyio.move_on_after(_BUSY_CLOSE_WAIT):
                async with lock:
                    pass
        await conn.close()

    def link_lost(self, conn: Any) -> bool:
        try:
            fd = conn.pgconn.socket
        except Exception:  # closed or broken: psycopg itself raises before sending anything
            return False
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(0):
            return False  # nothing pending: as alive as can be told
        # readable while idle: a notice, or the end of the session; peek without consuming
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            return True
        try:
            return _session_ending(sock.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True  # reset by the peer
        finally:
            sock.close()

    def _release_locally(self, conn: Any) -> None:
        conn.pgconn.finish()  # what AsyncConnection.close() does, without the await

    def socket_fd(self, conn: Any) -> int | None:
        try:
            fd = conn.pgconn.socket
        except Exception:  # closed or broken connection
            return None
        return int(fd)

    # --- errors ---------------------------------------------------------------------------------

    def error_code(self, exc: BaseException) -> str | None:
        code = getattr(exc, "sqlstate", None)
        return str(code) if code else None

    def is_driver_error(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.Error)

    def operational_error_class(self) -> type[Exception]:
        import psycopg

        return psycopg.OperationalError


def _session_ending(data: bytes) -> bool:
    """Whether what an idle connection received says the session is over: the end of the stream, an
    ErrorResponse (always fatal while idle), or a notice with a 57P SQLSTATE (the server ends the session)."""
    if not data:
        return True
    pos = 0
    while pos + 5 <= len(data):
        kind = data[pos : pos + 1]
        length = int.from_bytes(data[pos + 1 : pos + 5], "big")
        body = data[pos + 5 : pos + 1 + length]
        if kind == b"E":
            return True
        if kind == b"N":
            for field in body.split(b"\0"):
                if field[:1] == b"C" and field[1:].startswith(_ENDING):
                    return True
        pos += 1 + length
    return False
