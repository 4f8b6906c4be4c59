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

#: aiomysql.Connection's methods that send a command and read its whole answer (``next_result`` reads
#: the next answer of a multi-statement command).
_COMMANDS = (
    "query",
    "next_result",
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


def _guarded(name: str, base: Callable[..., Awaitable[Any]], error: type[Exception]) -> Any:
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        owner = self._awsasyncwrap_owner
        if owner is task:  # a command within this task's own command (e.g. query -> next_result)
            return await base(self, *args, **kwargs)
        reader = self._reader
        # another task's command, or another task reading (an unbuffered result's rows)
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


@cache
def guarded_connection_class() -> type[Any]:
    """``aiomysql.Connection`` with the concurrent-use check (built on first use)."""
    import aiomysql
    import pymysql

    namespace: dict[str, Any] = {
        "__doc__": "aiomysql's connection; a command while another task's is in flight raises "
        "``pymysql.err.InterfaceError`` (nothing is sent).",
        "__module__": __name__,
        "_awsasyncwrap_owner": None,
    }
    for name in _COMMANDS:
        namespace[name] = _guarded(name, getattr(aiomysql.Connection, name), pymysql.err.InterfaceError)
    return type("GuardedConnection", (aiomysql.Connection,), namespace)
