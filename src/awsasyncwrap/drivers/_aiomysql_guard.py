"""aiomysql connections that refuse a second task's command while another task's is in flight.

aiomysql has no lock: a task that sends a command while another task waits for the answer to its own
makes both read each other's answers (wrong rows, or a hang). psycopg serialises such calls with its
lock; here the second call fails at once with a clear error instead, and the first one is untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

__all__ = ["CONCURRENT_USE_MESSAGE", "guarded_connection_class"]

CONCURRENT_USE_MESSAGE = (
    "another task is using this aiomysql connection (its command is still waiting for the server's answer); "
    "aiomysql connections cannot run calls concurrently: await the other call first, or use one "
    "connection per task (e.g. a pool)"
)

#: aiomysql.Connection's other methods that send a command and read its whole answer (``query``, the
#: hot one, is written out in full below, without an extra frame).
_COMMANDS = (
    "begin",
    "commit",
    "rollback",
    "select_db",
    "show_warnings",
    "kill",
    "ping",
    "set_charset",
    "_send_autocommit_mode",
)
_COM_QUERY = 3
_BUSY = object()  # owner while ``query`` runs (cheaper than asking for the current task)


def _guarded(name: str, base: Callable[..., Awaitable[Any]], error: type[Exception]) -> Any:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        owner = self._awsasyncwrap_owner
        if owner is task:  # within this task's own command (ping reconnects and pings again)
            return await base(self, *args, **kwargs)
        reader = self._reader
        # another task's command, or another task reading (e.g. an unbuffered result's rows)
        if owner is not None or (reader is not None and reader._waiter is not None):
            raise error(CONCURRENT_USE_MESSAGE)
        self._awsasyncwrap_owner = task
        try:
            return await base(self, *args, **kwargs)
        finally:
            self._awsasyncwrap_owner = None

    method.__name__ = method.__qualname__ = name
    method.__doc__ = base.__doc__
    return method


def _reader_guarded(base: Callable[..., Awaitable[Any]], error: type[Exception]) -> Any:
    async def next_result(self: Any) -> Any:
        reader = self._reader  # called within a command of this task too: only another reader counts
        if reader is not None and reader._waiter is not None:
            raise error(CONCURRENT_USE_MESSAGE)
        return await base(self)

    next_result.__doc__ = base.__doc__
    return next_result


@cache
def guarded_connection_class() -> type[Any]:
    """``aiomysql.Connection`` with the concurrent-use check (built on first use)."""
    import aiomysql
    import pymysql

    error = pymysql.err.InterfaceError

    class GuardedConnection(aiomysql.Connection):  # type: ignore[misc]
        """aiomysql's connection; a command while another task's is in flight raises
        ``pymysql.err.InterfaceError`` (nothing is sent)."""

        _awsasyncwrap_owner: Any = None

        async def query(self, sql: Any, unbuffered: bool = False) -> Any:
            reader = self._reader
            if self._awsasyncwrap_owner is not None or (reader is not None and reader._waiter is not None):
                raise error(CONCURRENT_USE_MESSAGE)
            self._awsasyncwrap_owner = _BUSY
            try:  # aiomysql's own steps: send COM_QUERY, read the whole answer
                if isinstance(sql, str):
                    sql = sql.encode(self.encoding, "surrogateescape")
                await self._execute_command(_COM_QUERY, sql)
                await self._read_query_result(unbuffered=unbuffered)
                return self._affected_rows
            finally:
                self._awsasyncwrap_owner = None

    for name in _COMMANDS:
        setattr(GuardedConnection, name, _guarded(name, getattr(aiomysql.Connection, name), error))
    GuardedConnection.next_result = _reader_guarded(aiomysql.Connection.next_result, error)
    return GuardedConnection
